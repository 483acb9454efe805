//! A namespace's membership tables, lock-sharded.
//!
//! # Layout
//!
//! * `rooms`: [`SHARDS`] shards, each a `RwLock` over `room name -> MemberSet`.
//!   A room lives in the shard chosen by its name's hash; join/leave write-lock
//!   that one shard.
//! * `sockets`: [`SHARDS`] shards over every socket of the namespace, chosen by
//!   the socket's key: the `MemberSet` walked by namespace-wide emits, plus
//!   the `Socket` handles for look-ups.
//!
//! A [`MemberSet`] keeps its members in a `Vec` of 16-byte entries (socket key
//! and connection handle), so a fan-out is a walk over contiguous memory with
//! no hashing or allocation per recipient. Sets larger than [`SMALL`] also keep
//! a `key -> position` index so membership tests and removal stay O(1)
//! (removal is a `swap_remove` that patches the moved entry's position).
//!
//! # Lock order
//!
//! Writers (join, leave, connect, disconnect) hold at most one shard at a
//! time, under their socket's state lock. Readers that need several
//! (multi-room and except emits) take room shards in ascending index
//! order, then socket shards in ascending order; the fan-out takes outbox
//! locks under them. This is part of the engine's one order, written and
//! checked in one place (the crate docs, "The lock order", and
//! `lock_order`).

use std::hash::BuildHasher;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::lock_order::{Guard, Rank, RwLock};
use parking_lot::RwLockReadGuard;
use rustc_hash::{FxBuildHasher, FxHashMap};
use smallvec::SmallVec;

use crate::queue::Queue;
use crate::selection::Selection;

/// What a room entry points at: the owner of an outbox (a connection).
/// The tables know nothing else of it, so membership sits below sockets
/// and connections: the sockets layer instantiates them with its own
/// connection and socket types.
pub(crate) trait Link {
    /// The outbox queue a fan-out pushes into.
    fn queue(&self) -> &Queue;
}

/// Number of shards per table (a power of two).
pub(crate) const SHARDS: usize = 16;
/// Sets up to this size are searched linearly and carry no index (a scan
/// of up to 64 contiguous 16-byte entries costs less than keeping a hash
/// index in step on every join and leave).
const SMALL: usize = 64;

/// How many members ahead a fan-out prefetches the recipient's queue
/// header, and (half as far) the slot its push will write.
const PREFETCH_AHEAD: usize = 16;

/// Asks the CPU to start loading the cache line at `p`.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and never reads
    // memory into the program, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p.cast::<i8>(), core::arch::x86_64::_MM_HINT_T0)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Prefetches the fields of `m`'s queue a push touches (two lines at most,
/// one when they share a line).
#[inline(always)]
fn prefetch_queue<C: Link>(m: &Member<C>) {
    let q = m.conn.get().queue();
    prefetch(q.hot_ptr());
    prefetch(q.hot_end());
}

/// What a walk does with each selected member. A trait rather than a
/// closure so that the fan-out's push (`Fanout`, one layer up, implements
/// it with `#[inline(always)]`) is compiled into the walk's loop instead of
/// being called once per recipient.
pub(crate) trait Visit<C> {
    fn visit(&mut self, m: &Member<C>);
}

impl<C, F: FnMut(&Member<C>)> Visit<C> for F {
    #[inline(always)]
    fn visit(&mut self, m: &Member<C>) {
        self(m)
    }
}

/// Visits each member whose key `skip` does not reject, prefetching the
/// queue of the member `PREFETCH_AHEAD` places further on, so the cache
/// misses of successive recipients overlap instead of queueing behind each
/// push's atomics.
#[inline(always)]
fn walk<C: Link>(members: &[Member<C>], skip: impl Fn(u64) -> bool, v: &mut impl Visit<C>) {
    // The loop prefetches members `i + PREFETCH_AHEAD`; start the first
    // ones here, or a small room (the common case) walks mostly cold.
    for m in members.iter().take(PREFETCH_AHEAD) {
        prefetch_queue(m);
    }
    for (i, m) in members.iter().enumerate() {
        if let Some(ahead) = members.get(i + PREFETCH_AHEAD) {
            prefetch_queue(ahead);
        }
        if let Some(near) = members.get(i + PREFETCH_AHEAD / 2) {
            // The header line arrived by now; it names the slot to write
            // when that is a heap buffer (inline slots came with the header).
            let slot = near.conn.get().queue().slot_hint();
            if !slot.is_null() {
                prefetch(slot);
            }
        }
        if !skip(m.key) {
            v.visit(m);
        }
    }
}

/// One entry of a room: who, and where to deliver.
///
/// Not `Clone`: a member is created by its socket ([`ConnPin::member_ref`])
/// and lives only inside the tables of this module, which is what makes its
/// non-owning connection pointer sound (see [`ConnRef`]).
pub(crate) struct Member<C> {
    /// The socket's engine-wide key.
    pub(crate) key: u64,
    /// Its connection (owner of the outbox), not reference-counted.
    pub(crate) conn: ConnRef<C>,
}

/// One strong reference to a connection, held by a socket as a raw pointer
/// for as long as the socket exists, so that the socket's room entries can
/// point at the connection without a reference count of their own.
pub(crate) struct ConnPin<C>(NonNull<C>);

// SAFETY: a `ConnPin` is an `Arc<C>` in raw form (it owns one strong count
// and only hands out shared access); `Arc<C>` is Send + Sync when `C` is.
unsafe impl<C: Send + Sync> Send for ConnPin<C> {}
// SAFETY: as above.
unsafe impl<C: Send + Sync> Sync for ConnPin<C> {}

impl<C> ConnPin<C> {
    pub(crate) fn new(conn: Arc<C>) -> ConnPin<C> {
        // SAFETY: `Arc::into_raw` never returns null.
        ConnPin(unsafe { NonNull::new_unchecked(Arc::into_raw(conn).cast_mut()) })
    }

    /// A room entry for socket `key` pointing at this connection.
    pub(crate) fn member_ref(&self, key: u64) -> Member<C> {
        Member { key, conn: ConnRef(self.0) }
    }
}

impl<C> Drop for ConnPin<C> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Arc::into_raw` in `ConnPin::new` and
        // this is the only place its strong count is given back.
        drop(unsafe { Arc::from_raw(self.0.as_ptr().cast_const()) });
    }
}

/// A room entry's pointer to its connection: no reference count, so a join
/// or leave does not write the connection's cache line.
///
/// # Why it never dangles
///
/// A `ConnRef` is only ever stored in a [`Member`], and a `Member` only in
/// the [`RoomStore`] sets of the namespace of socket `key` (neither type is
/// `Clone`/`Copy`; the fan-out receives `&Member` borrowed from a set). So:
///
/// 1. Room sets: a socket's entries are added only after `add_socket` put
///    the `Socket` in its socket shard (`Socket::register`, then joins, which
///    refuse unless the status is `Connected`), and all of them are removed
///    before `remove_socket` takes it out (`Socket::disconnect_with`); the
///    socket's state mutex is held across each of these steps, so a join
///    cannot slip in after the removals. Socket-shard set: the entry and the
///    `Socket` go in and out together under the same write lock.
/// 2. While the `Socket` is in its shard, its `SocketInner` is alive, and
///    with it its [`ConnPin`], which holds a strong count of the connection.
/// 3. Every read of a member's `conn` happens under a read (or write) lock
///    of the shard whose set holds the entry ([`RoomStore::for_each_selected`]
///    and the fan-out it drives). Removing the entry needs that shard's write
///    lock, so while the reader holds its lock the entry is present, hence
///    (1) the socket is registered, hence (2) the connection is alive.
///    A pointer that must outlive the lock (a fan-out's follow-up) is turned
///    into an owned `Arc` with [`ConnRef::to_arc`] while the lock is held.
///
/// The engine drops a namespace's tables only when nothing can read them
/// any more; dropping a `ConnRef` does nothing. `stress.rs`
/// (`connections_die_while_their_rooms_are_emitted_to`) races connection
/// teardown against emits to the rooms they were in, with exact counts.
pub(crate) struct ConnRef<C>(NonNull<C>);

// SAFETY: only shared access is given out (`get`), and the connection type
// is Sync; see the type docs for why the pointee outlives every access.
unsafe impl<C: Send + Sync> Send for ConnRef<C> {}
// SAFETY: as above.
unsafe impl<C: Send + Sync> Sync for ConnRef<C> {}

impl<C> ConnRef<C> {
    /// The connection. Call only while holding a lock of the shard whose set
    /// holds this entry (all callers borrow the `Member` from such a set).
    #[inline(always)]
    pub(crate) fn get(&self) -> &C {
        // SAFETY: see the type docs: the entry is in a set under a lock the
        // caller holds, so the socket's `ConnPin` keeps the connection alive
        // for at least as long as the borrow of `self`.
        unsafe { self.0.as_ref() }
    }

    /// An owned handle, for use after the shard lock is released.
    pub(crate) fn to_arc(&self) -> Arc<C> {
        let p = self.0.as_ptr().cast_const();
        // SAFETY: `p` came from `Arc::into_raw` (`ConnPin::new`) and the
        // connection is alive (type docs), so its strong count is >= 1; the
        // new count is owned by the returned `Arc`.
        unsafe {
            Arc::increment_strong_count(p);
            Arc::from_raw(p)
        }
    }
}

/// Members of one room (or of one socket shard).
pub(crate) struct MemberSet<C> {
    members: Vec<Member<C>>,
    /// `key -> position in members`, present once the set outgrows `SMALL`
    /// (boxed: most rooms are small, and an idle socket's own-id room
    /// should cost 8 bytes here, not a whole map header).
    index: Option<Box<FxHashMap<u64, u32>>>,
}

impl<C> Default for MemberSet<C> {
    fn default() -> Self {
        MemberSet { members: Vec::new(), index: None }
    }
}

impl<C> MemberSet<C> {
    fn position(&self, key: u64) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(&key).map(|&i| i as usize),
            // From the back: a member that leaves soon after joining (the
            // churn pattern) sits at or near the end.
            None => self.members.iter().rposition(|m| m.key == key),
        }
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        self.position(key).is_some()
    }

    /// Adds a member that is not in the set. The caller knows: a socket's
    /// own room list (kept under its state mutex, which every join and
    /// leave holds while it updates a room) says whether it is a member, so
    /// the set does not search itself again.
    fn insert(&mut self, m: Member<C>) {
        debug_assert!(!self.contains(m.key), "socket {} added to a room twice", m.key);
        let pos = self.members.len();
        if let Some(ix) = &mut self.index {
            ix.insert(m.key, pos as u32);
        }
        self.members.push(m);
        if self.index.is_none() && self.members.len() > SMALL {
            let ix = self.members.iter().enumerate().map(|(i, m)| (m.key, i as u32)).collect();
            self.index = Some(Box::new(ix));
        }
    }

    /// Removes a member; false if it was not there.
    fn remove(&mut self, key: u64) -> bool {
        let Some(pos) = self.position(key) else { return false };
        self.members.swap_remove(pos);
        if let Some(ix) = &mut self.index {
            ix.remove(&key);
            if let Some(moved) = self.members.get(pos) {
                ix.insert(moved.key, pos as u32);
            }
            if self.members.len() <= SMALL / 2 {
                self.index = None;
            }
        }
        if self.members.capacity() > 64 && self.members.len() < self.members.capacity() / 4 {
            self.members.shrink_to(self.members.len() * 2);
        }
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    pub(crate) fn as_slice(&self) -> &[Member<C>] {
        &self.members
    }
}

struct RoomShard<C> {
    /// `(name, members)` keyed by [`room_hash`] of the name. A raw table so
    /// the hash a socket keeps with each room name is reused (no rehash on
    /// join, leave or lookup) and a join finds the room and the shared name
    /// to keep in the socket's list in one probe.
    rooms: hashbrown::HashTable<(Arc<str>, MemberSet<C>)>,
}

impl<C> Default for RoomShard<C> {
    fn default() -> Self {
        RoomShard { rooms: hashbrown::HashTable::new() }
    }
}

impl<C> RoomShard<C> {
    fn get(&self, hash: u64, name: &str) -> Option<&MemberSet<C>> {
        self.rooms.find(hash, |(k, _)| **k == *name).map(|(_, set)| set)
    }
}

/// Rehash function of [`RoomShard::rooms`] (used when the table grows).
fn entry_hash<C>(e: &(Arc<str>, MemberSet<C>)) -> u64 {
    room_hash(&e.0)
}

/// A room name with its hash, as a socket keeps it: membership checks
/// compare hashes first and read the name's bytes (another cache line)
/// only on a hash match.
///
/// The name is not reference-counted: it points at the room table's own
/// key, so a join and a leave do not write the name's cache line (with
/// two threads churning the same rooms, a count would bounce it between
/// their cores on every operation).
///
/// # Why it never dangles
///
/// A `RoomName` is created only by [`RoomStore::add`], for the socket it
/// adds, and is kept only in that socket's room list (`SocketState::rooms`,
/// under the socket's state lock). The room's table entry, which owns the
/// name, is deleted only when its member set empties; this socket's entry
/// leaves that set only through [`RoomStore::remove`], called by the
/// socket itself under its state lock, after it took the `RoomName` out of
/// its list. So while a `RoomName` is in the list, the socket is a member,
/// the room exists and the name is alive. Code that still needs the name
/// after `RoomStore::remove` copies it first (`Socket::disconnect_with`).
/// Not `Clone`, so no copy can outlive its list entry.
pub(crate) struct RoomName {
    pub(crate) hash: u64,
    name: NonNull<str>,
}

// SAFETY: a `RoomName` only gives shared access to an immutable `str` owned
// by an `Arc<str>` in the room table (type docs: alive while the
// `RoomName` is used), and `Arc<str>` is Send + Sync.
unsafe impl Send for RoomName {}
// SAFETY: as above.
unsafe impl Sync for RoomName {}

impl RoomName {
    fn new(hash: u64, name: &Arc<str>) -> RoomName {
        RoomName { hash, name: NonNull::from(&**name) }
    }

    /// The room's name.
    #[inline]
    pub(crate) fn name(&self) -> &str {
        // SAFETY: the table entry owning the name outlives this `RoomName`'s
        // uses (type docs).
        unsafe { self.name.as_ref() }
    }

    #[inline]
    pub(crate) fn is(&self, hash: u64, name: &str) -> bool {
        self.hash == hash && self.name() == name
    }
}

/// The hash used for room names (shard choice and socket-side checks).
#[inline]
pub(crate) fn room_hash(name: &str) -> u64 {
    FxBuildHasher.hash_one(name)
}

/// The namespace-wide table: the member set walked by whole-namespace
/// emits, and the socket handles (`S`) for look-ups.
struct SocketShard<C, S> {
    members: MemberSet<C>,
    sockets: FxHashMap<u64, S>,
}

impl<C, S> Default for SocketShard<C, S> {
    fn default() -> Self {
        SocketShard { members: MemberSet::default(), sockets: FxHashMap::default() }
    }
}

/// Result of adding a socket to a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Added {
    pub(crate) created: bool,
}

/// Result of removing a socket from a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Removed {
    pub(crate) removed: bool,
    pub(crate) deleted: bool,
}

/// A shard on a cache line of its own: join/leave on one shard and an
/// emit reading its neighbour do not bounce a shared line between cores.
#[repr(align(64))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The sharded tables of one namespace: members point at connections of
/// type `C`; the socket table keeps handles of type `S`.
pub(crate) struct RoomStore<C, S> {
    rooms: Box<[Locked<RoomShard<C>>]>,
    sockets: Box<[Locked<SocketShard<C, S>>]>,
}

/// One shard: padded, behind its ranked lock.
type Locked<T> = Padded<RwLock<T>>;
/// A shard held for reading during a walk.
type ReadShard<'a, T> = Guard<RwLockReadGuard<'a, T>>;

fn shard_of_hash(h: u64) -> usize {
    // Bits 32.. pick the shard; the map inside uses the low and top bits.
    ((h >> 32) as usize) & (SHARDS - 1)
}

fn socket_shard(key: u64) -> usize {
    (key as usize) & (SHARDS - 1)
}

impl<C: Link, S: Clone> RoomStore<C, S> {
    pub(crate) fn new() -> Self {
        RoomStore {
            rooms: (0..SHARDS)
                .map(|i| Padded(RwLock::with_sub(Rank::RoomShard, i as u32, RoomShard::default())))
                .collect(),
            sockets: (0..SHARDS)
                .map(|i| Padded(RwLock::with_sub(Rank::SocketShard, i as u32, SocketShard::default())))
                .collect(),
        }
    }

    /// Starts loading the shard that a join or leave of the room with this
    /// hash locks, so that miss overlaps the caller's own (the socket's
    /// state) instead of following it.
    #[inline(always)]
    pub(crate) fn prefetch_shard(&self, hash: u64) {
        prefetch(std::ptr::from_ref(&*self.rooms[shard_of_hash(hash)]));
    }

    /// Adds `member` to `room` (whose `room_hash` is `hash`); the caller
    /// holds the socket's state mutex and has checked it is not a member
    /// (see [`MemberSet::insert`]). Returns the
    /// room name to keep in the socket's own list: the table's key, shared,
    /// or `name` (the own-id room reuses the socket id's allocation) when
    /// the room is new.
    pub(crate) fn add(&self, room: &str, hash: u64, name: Option<&Arc<str>>, member: Member<C>) -> (Added, RoomName) {
        let mut shard = self.rooms[shard_of_hash(hash)].write();
        if let Some((key, set)) = shard.rooms.find_mut(hash, |(k, _)| **k == *room) {
            set.insert(member);
            return (Added { created: false }, RoomName::new(hash, key));
        }
        let name: Arc<str> = name.cloned().unwrap_or_else(|| Arc::from(room));
        // Exactly one slot: many rooms (every own-id room) never grow.
        let mut set = MemberSet { members: Vec::with_capacity(1), index: None };
        set.insert(member);
        let room_name = RoomName::new(hash, &name);
        shard.rooms.insert_unique(hash, (name, set), entry_hash);
        (Added { created: true }, room_name)
    }

    /// Removes socket `key` from `room`, deleting the room when it empties.
    pub(crate) fn remove(&self, room: &RoomName, key: u64) -> Removed {
        let mut shard = self.rooms[shard_of_hash(room.hash)].write();
        // The socket keeps a pointer to the table's own key: pointer
        // equality settles the comparison without reading the name's bytes.
        let Ok(mut entry) =
            shard.rooms.find_entry(room.hash, |(k, _)| std::ptr::addr_eq(Arc::as_ptr(k), room.name.as_ptr()))
        else {
            return Removed { removed: false, deleted: false };
        };
        let set = &mut entry.get_mut().1;
        let removed = set.remove(key);
        let deleted = set.len() == 0;
        if deleted {
            entry.remove();
        }
        Removed { removed, deleted }
    }

    /// Registers a socket in the namespace-wide table.
    pub(crate) fn add_socket(&self, socket: S, member: Member<C>) {
        let mut shard = self.sockets[socket_shard(member.key)].write();
        shard.sockets.insert(member.key, socket);
        shard.members.insert(member);
    }

    /// Removes a socket from the namespace-wide table.
    pub(crate) fn remove_socket(&self, key: u64) -> bool {
        let mut shard = self.sockets[socket_shard(key)].write();
        shard.members.remove(key);
        shard.sockets.remove(&key).is_some()
    }

    /// The socket with this key, if registered.
    pub(crate) fn socket(&self, key: u64) -> Option<S> {
        self.sockets[socket_shard(key)].read().sockets.get(&key).cloned()
    }

    /// Sockets in the namespace.
    pub(crate) fn socket_count(&self) -> usize {
        self.sockets.iter().map(|s| s.read().members.len()).sum()
    }

    /// Members in `room` (0 when it does not exist).
    pub(crate) fn room_size(&self, room: &str) -> usize {
        let hash = room_hash(room);
        self.rooms[shard_of_hash(hash)].read().get(hash, room).map_or(0, MemberSet::len)
    }

    /// Every room name (own-id rooms included), in no particular order.
    pub(crate) fn room_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for shard in self.rooms.iter() {
            out.extend(shard.read().rooms.iter().map(|(k, _)| k.to_string()));
        }
        out
    }

    /// Number of rooms.
    pub(crate) fn room_count(&self) -> usize {
        self.rooms.iter().map(|s| s.read().rooms.len()).sum()
    }

    /// Visits every member `sel` selects once, holding the needed shard
    /// read locks (see the module docs for the order). `v` must not call
    /// user code or take engine locks other than an outbox's.
    ///
    /// A member of several targeted rooms is visited once: while walking
    /// room *i*, members of rooms *0..i* are skipped.
    pub(crate) fn for_each_selected(&self, sel: &Selection<'_>, v: &mut impl Visit<C>) {
        if let ([room], []) = (sel.rooms, sel.except) {
            // One room, no except rooms (`to(room)`, `socket.to(room)`): one
            // shard, no lists to build.
            let hash = room_hash(room);
            let shard = self.rooms[shard_of_hash(hash)].read();
            if let Some(set) = shard.get(hash, room) {
                walk(set.as_slice(), |key| sel.except_key == Some(key), v);
            }
            return;
        }
        let rooms_h: SmallVec<[u64; 4]> = sel.rooms.iter().map(|r| room_hash(r)).collect();
        let except_h: SmallVec<[u64; 4]> = sel.except.iter().map(|r| room_hash(r)).collect();
        let mut ids: SmallVec<[usize; 8]> = rooms_h.iter().chain(except_h.iter()).map(|&h| shard_of_hash(h)).collect();
        ids.sort_unstable();
        ids.dedup();
        let guards: SmallVec<[(usize, ReadShard<'_, RoomShard<C>>); 8]> =
            ids.iter().map(|&i| (i, self.rooms[i].read())).collect();
        let lookup = |hash: u64, name: &str| -> Option<&MemberSet<C>> {
            let s = shard_of_hash(hash);
            guards.iter().find(|(i, _)| *i == s).and_then(|(_, g)| g.get(hash, name))
        };
        let except: SmallVec<[&MemberSet<C>; 4]> =
            sel.except.iter().zip(&except_h).filter_map(|(r, &h)| lookup(h, r)).collect();
        let excluded = |key: u64| sel.except_key == Some(key) || except.iter().any(|s| s.contains(key));

        if sel.rooms.is_empty() {
            // Every socket shard stays read-locked for the whole walk, so the
            // emit sees one snapshot: a connection that swaps its socket in
            // this namespace meanwhile (disconnect, then join again) gets the
            // message on the old socket or the new one, never on both.
            let shards: SmallVec<[ReadShard<'_, SocketShard<C, S>>; SHARDS]> =
                self.sockets.iter().map(|s| s.read()).collect();
            for g in &shards {
                walk(g.members.as_slice(), excluded, v);
            }
            return;
        }
        let targets: SmallVec<[Option<&MemberSet<C>>; 4]> =
            sel.rooms.iter().zip(&rooms_h).map(|(r, &h)| lookup(h, r)).collect();
        for (i, set) in targets.iter().enumerate() {
            let Some(set) = set else { continue };
            let earlier = &targets[..i];
            let skip = |key: u64| excluded(key) || earlier.iter().any(|e| e.is_some_and(|e| e.contains(key)));
            walk(set.as_slice(), skip, v);
        }
    }

    /// Keys of the selected sockets (collected under the locks, so the
    /// caller can act on them after releasing).
    pub(crate) fn selected_keys(&self, sel: &Selection<'_>) -> Vec<u64> {
        let mut keys = Vec::new();
        self.for_each_selected(sel, &mut |m: &Member<C>| keys.push(m.key));
        keys
    }

    /// Every socket of the namespace.
    pub(crate) fn all_sockets(&self) -> Vec<S> {
        let mut out = Vec::new();
        for shard in self.sockets.iter() {
            out.extend(shard.read().sockets.values().cloned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_set_index_survives_growth_and_swap_remove() {
        // The set only stores the connection pointer; any pointee will do.
        let pin = ConnPin::new(Arc::new(()));
        let mut set = MemberSet::<()>::default();
        for k in 0..100u64 {
            set.insert(pin.member_ref(k));
        }
        assert!(set.index.is_some());
        for k in (0..100u64).step_by(3) {
            assert!(set.remove(k));
            assert!(!set.remove(k));
        }
        for k in 0..100u64 {
            assert_eq!(set.contains(k), k % 3 != 0, "key {k}");
        }
        let mut keys: Vec<u64> = set.as_slice().iter().map(|m| m.key).collect();
        keys.sort_unstable();
        assert_eq!(keys, (0..100).filter(|k| k % 3 != 0).collect::<Vec<_>>());
        // Shrinks back to the index-free form and stays consistent.
        for k in 0..97u64 {
            set.remove(k);
        }
        assert!(set.index.is_none());
        assert_eq!(set.as_slice().iter().map(|m| m.key).collect::<Vec<_>>().len(), set.len());
        for k in 97..100 {
            assert_eq!(set.contains(k), k % 3 != 0);
        }
    }
}
