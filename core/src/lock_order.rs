//! The engine's one lock order, made executable.
//!
//! Every engine lock has a [`Rank`]; a thread may take a lock only while
//! every lock it already holds ranks lower (see the crate docs, "Threads
//! and locks", for the order and the nestings that use it). Locks of one
//! kind that are taken together — the shards of a room or socket table —
//! carry their index as a sub-rank and are taken in ascending order.
//!
//! In debug builds (the ones `cargo test` runs, stress tests included) the
//! wrappers here keep each thread's held locks in a thread-local list and
//! panic, naming both locks, on an acquisition out of order; that turns a
//! potential deadlock into a test failure the first time the two
//! acquisitions happen on one thread, whatever the timing. In release
//! builds the wrappers are the `parking_lot` locks and nothing else.

use std::ops::{Deref, DerefMut};

/// A lock's place in the order, outermost first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[allow(dead_code)] // some ranks exist only in debug-build checks
pub(crate) enum Rank {
    /// `EngineInner::parents`: the dynamic parents.
    Parents,
    /// `EngineInner::namespaces`: the namespace map.
    Namespaces,
    /// `Recovery::state`: a namespace's recovery log and kept sockets
    /// (held across the fan-out of a logged emit and across a resume).
    Recovery,
    /// `ConnInner::sockets`: a connection's sockets.
    ConnSockets,
    /// `SocketInner::state`: a socket's status, rooms and pending acks.
    SocketState,
    /// `NsInner::removed`: held (read) while a socket enters a namespace,
    /// (write) while an empty dynamic namespace is removed.
    NsRemoved,
    /// A shard of a namespace's room table (sub-rank: the shard index).
    RoomShard,
    /// A shard of a namespace's socket table (sub-rank: the shard index).
    SocketShard,
    /// `NsInner::acks`: the namespace's pending ack emits.
    NsAcks,
    /// `AckState::inner`: one ack emit's replies.
    AckState,
    /// `NsInner::hooks`: handlers and middleware (taken alone).
    Hooks,
    /// `ParentInfo::children`: a dynamic parent's children (taken alone).
    Children,
    /// `ParentInfo::predicate` (taken alone; the predicate runs unlocked).
    Predicate,
    /// The ack timer's heap (taken alone).
    Timer,
    /// `Queue::notify`: an outbox's notify callback (taken alone).
    OutboxNotify,
    /// `Queue::sleep`: blocked receivers of an outbox.
    OutboxSleep,
    /// `Queue::state`: the outbox spin lock, innermost of all.
    OutboxState,
}

#[cfg(all(debug_assertions, not(loom)))]
mod check {
    use super::Rank;
    use std::cell::RefCell;

    thread_local! {
        /// The ranked locks this thread holds, in acquisition order.
        static HELD: RefCell<Vec<(Rank, u32)>> = const { RefCell::new(Vec::new()) };
    }

    /// A record of one held lock; removed when dropped.
    pub(crate) struct Held((Rank, u32));

    /// Checks that `(rank, sub)` may be taken now and records it.
    #[track_caller]
    pub(crate) fn enter(rank: Rank, sub: u32) -> Held {
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            if let Some(&(r, s)) = h.iter().find(|&&held| held >= (rank, sub)) {
                panic!(
                    "lock order violated: taking {rank:?}[{sub}] while holding {r:?}[{s}] \
                     (see the crate docs, \"Threads and locks\")"
                );
            }
            h.push((rank, sub));
        });
        Held((rank, sub))
    }

    impl Drop for Held {
        fn drop(&mut self) {
            // `try_with`: a guard dropped during thread teardown has nothing
            // left to update.
            let _ = HELD.try_with(|h| {
                let mut h = h.borrow_mut();
                if let Some(i) = h.iter().rposition(|&e| e == self.0) {
                    h.remove(i);
                }
            });
        }
    }
}

#[cfg(not(all(debug_assertions, not(loom))))]
mod check {
    use super::Rank;

    /// Release builds: nothing recorded.
    pub(crate) struct Held;

    impl Drop for Held {
        // Empty, so that code releasing a record explicitly reads the same
        // in every build.
        #[inline(always)]
        fn drop(&mut self) {}
    }

    #[inline(always)]
    pub(crate) fn enter(_rank: Rank, _sub: u32) -> Held {
        Held
    }
}

pub(crate) use check::{enter, Held};

/// A guard of a ranked lock: the lock's own guard, then the record of it
/// (dropped in that order, so the record outlives the lock it describes).
pub(crate) struct Guard<G> {
    guard: G,
    _held: Held,
}

impl<G> Guard<G> {
    /// The underlying guard, for a condition variable's wait.
    pub(crate) fn inner_mut(&mut self) -> &mut G {
        &mut self.guard
    }
}

impl<G: Deref> Deref for Guard<G> {
    type Target = G::Target;
    #[inline(always)]
    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

impl<G: DerefMut> DerefMut for Guard<G> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.guard
    }
}

/// A `parking_lot::Mutex` with a rank.
pub(crate) struct Mutex<T> {
    #[cfg(debug_assertions)]
    rank: Rank,
    inner: parking_lot::Mutex<T>,
}

impl<T> Mutex<T> {
    pub(crate) fn new(rank: Rank, value: T) -> Mutex<T> {
        let _ = rank;
        Mutex {
            #[cfg(debug_assertions)]
            rank,
            inner: parking_lot::Mutex::new(value),
        }
    }

    #[inline]
    #[track_caller]
    pub(crate) fn lock(&self) -> Guard<parking_lot::MutexGuard<'_, T>> {
        #[cfg(debug_assertions)]
        let held = enter(self.rank, 0);
        #[cfg(not(debug_assertions))]
        let held = enter(Rank::Parents, 0);
        Guard { guard: self.inner.lock(), _held: held }
    }

    /// The data, through exclusive access (no locking).
    #[allow(dead_code)]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

/// A `parking_lot::RwLock` with a rank (and a sub-rank for shards).
pub(crate) struct RwLock<T> {
    #[cfg(debug_assertions)]
    rank: (Rank, u32),
    inner: parking_lot::RwLock<T>,
}

impl<T> RwLock<T> {
    pub(crate) fn new(rank: Rank, value: T) -> RwLock<T> {
        RwLock::with_sub(rank, 0, value)
    }

    /// One of several locks of `rank` taken together, in ascending `sub`.
    pub(crate) fn with_sub(rank: Rank, sub: u32, value: T) -> RwLock<T> {
        let _ = (rank, sub);
        RwLock {
            #[cfg(debug_assertions)]
            rank: (rank, sub),
            inner: parking_lot::RwLock::new(value),
        }
    }

    /// The data, through exclusive access (no locking).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    #[inline(always)]
    #[track_caller]
    fn held(&self) -> Held {
        #[cfg(debug_assertions)]
        return enter(self.rank.0, self.rank.1);
        #[cfg(not(debug_assertions))]
        enter(Rank::Parents, 0)
    }

    #[inline]
    #[track_caller]
    pub(crate) fn read(&self) -> Guard<parking_lot::RwLockReadGuard<'_, T>> {
        let held = self.held();
        Guard { guard: self.inner.read(), _held: held }
    }

    #[inline]
    #[track_caller]
    pub(crate) fn write(&self) -> Guard<parking_lot::RwLockWriteGuard<'_, T>> {
        let held = self.held();
        Guard { guard: self.inner.write(), _held: held }
    }
}

#[cfg(all(test, debug_assertions, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn in_order_acquisitions_pass() {
        let a = Mutex::new(Rank::SocketState, ());
        let shards: Vec<RwLock<()>> = (0..4).map(|i| RwLock::with_sub(Rank::RoomShard, i, ())).collect();
        let s = Mutex::new(Rank::OutboxState, ());
        let _a = a.lock();
        let all: Vec<_> = shards.iter().map(RwLock::read).collect();
        let inner = s.lock();
        drop(inner);
        drop(all);
        // Released locks are forgotten: the same shard again is fine.
        let _again = shards[0].write();
    }

    #[test]
    #[should_panic(expected = "lock order violated: taking SocketState[0] while holding RoomShard[2]")]
    fn an_outer_lock_under_an_inner_one_panics() {
        let a = Mutex::new(Rank::SocketState, ());
        let shard = RwLock::with_sub(Rank::RoomShard, 2, ());
        let _g = shard.read();
        let _a = a.lock();
    }

    #[test]
    #[should_panic(expected = "lock order violated: taking RoomShard[1] while holding RoomShard[3]")]
    fn shards_out_of_order_panic() {
        let shards: Vec<RwLock<()>> = (0..4).map(|i| RwLock::with_sub(Rank::RoomShard, i, ())).collect();
        let _three = shards[3].read();
        let _one = shards[1].read();
    }

    #[test]
    #[should_panic(expected = "lock order violated: taking NsAcks[0] while holding NsAcks[0]")]
    fn the_same_lock_twice_panics() {
        let a = Mutex::new(Rank::NsAcks, ());
        let _g = a.lock();
        let _again = a.lock();
    }
}
