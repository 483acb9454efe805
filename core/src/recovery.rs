//! Connection state recovery: a socket whose connection ends unexpectedly
//! is kept for a while, and a reconnect that presents its session id gets
//! it back — same id, rooms and data — with every event it missed.
//!
//! # Semantics
//!
//! Recovery is on for a namespace when it has a [`RecoveryConfig`]
//! ([`ConfigBuilder::connection_state_recovery`](crate::ConfigBuilder::connection_state_recovery)
//! for every namespace, [`Namespace::set_recovery`](crate::Namespace::set_recovery)
//! for one). Then:
//!
//! * Each socket gets a private **session id** ([`Socket::session_id`]),
//!   a random bearer secret the transport hands to its client only.
//! * Each event emitted in the namespace without an ack id and not
//!   volatile gets an **offset** ([`Message::offset`]): 1, 2, 3, ... per
//!   namespace, in the order every connection receives them (the
//!   namespace's log lock is held from numbering to the last outbox push,
//!   so two emitters cannot interleave differently on two connections).
//!   The event is also appended to the namespace's **log**. Acks, ack
//!   replies and volatile emits get no offset and are not kept.
//! * When a connection ends with a recoverable reason
//!   ([`DisconnectReason::is_recoverable`]: `transport close`,
//!   `transport error`, `ping timeout`), each of its sockets in such a
//!   namespace is **kept**: `disconnecting` and `disconnect` run with that
//!   reason while [`Socket::is_awaiting_recovery`] is true; the socket
//!   stays in its rooms (room sizes, `fetch_sockets`, `ns.socket(id)` and
//!   room lifetimes count it; no `left`/`deleted` room events), its pending
//!   acks fail with `Disconnected`, and deliveries to it are refused by its
//!   closed outbox (counted as dropped; the log keeps them).
//! * [`Connection::resume_namespace`](crate::Connection::resume_namespace)
//!   with the session id and the last offset the client saw (or none, if
//!   it saw no event) gets the kept socket back on the new connection:
//!   same id, key, rooms and data, [`Socket::recovered`] true; middleware
//!   does not run again (the session id is the credential); the missed
//!   events — every kept event after that offset the socket's rooms
//!   selected — are queued in order before the new socket enters the
//!   tables, all under the log lock, so nothing newer overtakes them; then
//!   the `connection` handlers run.
//! * Otherwise — unknown session, too late, offset no longer kept, a
//!   replay larger than the new outbox could hold, or another node — the
//!   join is an ordinary one: a fresh socket with a new id and
//!   `recovered()` false. Never a partial replay presented as complete.
//! * A kept socket that is not resumed within `max_disconnection_duration`
//!   is disconnected for good with reason `recovery expired`
//!   (`disconnecting`/`disconnect` run again, now with
//!   `is_awaiting_recovery()` false, then it leaves its rooms). So is one a
//!   server-side disconnect reaches meanwhile, with that reason.
//!
//! Only [`Connection::close`](crate::Connection::close) with a recoverable
//! reason keeps sockets: dropping a connection's [`Outbox`](crate::Outbox)
//! (C: `roomcast_conn_free`, Python: the connection object) while it is
//! open ends them for good — a transport that lost its client closes first.
//! A kept socket holds its engine alive until it ends (resume, expiry,
//! a server-side disconnect, or [`Engine::shutdown`](crate::Engine::shutdown),
//! which ends every kept socket).
//!
//! Expiry needs no timer thread: the log and the session table are swept
//! on every logged emit and every connect, and a transport may call
//! [`Engine::sweep_recovery`](crate::Engine::sweep_recovery) periodically
//! (the Socket.IO server does, every second) so an idle namespace releases
//! its kept sockets on time.
//!
//! # Bounds and cost
//!
//! The log keeps at most `max_events` events and `max_bytes` of payload
//! (payload plus event name, as the outbox counts them), none older than
//! `max_disconnection_duration`; whichever limit is hit first trims the
//! oldest. A log entry is 48 bytes: the shared message reference (the
//! payload itself is shared with every live recipient, not copied), its
//! time, the sender's key, and one boxed string of the target's room names
//! (absent for a namespace-wide emit; a single-room emit adds one
//! allocation of name length + 4 bytes per room). The log grows by an
//! eighth at a time, so its spare room stays under 12.5%: measured by the
//! benchmark (`roomcast-bench --only recovery`), 55 bytes per kept room
//! emit beyond the message itself. Offsets are contiguous, so finding an
//! offset is index arithmetic (`offset - first kept`), not a scan; a
//! replay reads only the entries after it.
//!
//! # Clusters
//!
//! The log and the sessions live in the node that kept the socket. A
//! reconnect that lands on another node finds no session there and gets a
//! fresh socket (`recovered` false); the kept socket expires on its node.
//! A durable cluster log would plug in where `Recovery` is consulted
//! (`resume` and `log`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::config::RecoveryConfig;
use crate::lock_order::{Guard, Mutex, Rank};
use crate::message::Message;
use crate::selection::Selection;
use crate::socket::Socket;
use crate::sync::{AtomicU64, Ordering};

/// What a namespace keeps for recovery on this node
/// ([`Namespace::recovery_stats`](crate::Namespace::recovery_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Sockets kept for a resume (expired ones leave at the next sweep).
    pub kept_sockets: usize,
    /// Events in the log.
    pub kept_events: usize,
    /// Their payload and event-name bytes (shared with live recipients).
    pub kept_bytes: usize,
    /// The offset the next kept event will get.
    pub next_offset: u64,
}

/// One kept event: 48 bytes (checked by a unit test).
struct Entry {
    msg: Message,
    /// Milliseconds since `Recovery::epoch` when it was logged.
    at: u64,
    /// The sender excluded by `broadcast`/`socket.to` (0: none; keys start at 1).
    except_key: u64,
    /// How many of `names` are target rooms (the rest are except rooms).
    n_rooms: u32,
    /// The target's room names then its except names, each as a 4-byte
    /// little-endian length and the bytes; `None` for the whole namespace.
    names: Option<Box<[u8]>>,
}

impl Entry {
    fn names(&self) -> impl Iterator<Item = (usize, &str)> {
        let mut rest: &[u8] = self.names.as_deref().unwrap_or(&[]);
        let mut i = 0;
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            let (name, tail) = tail.split_at(len.min(tail.len()));
            rest = tail;
            i += 1;
            // Written from `&str` by `pack`.
            Some((i - 1, std::str::from_utf8(name).unwrap_or_default()))
        })
    }

    /// Whether the target selected a socket with key `key` in `rooms`.
    fn selects(&self, key: u64, rooms: &[&str]) -> bool {
        if self.except_key == key {
            return false;
        }
        let mut any_room = self.n_rooms == 0;
        for (i, name) in self.names() {
            let member = rooms.contains(&name);
            if (i as u32) < self.n_rooms {
                any_room |= member;
            } else if member {
                return false;
            }
        }
        any_room
    }
}

fn pack(sel: &Selection<'_>) -> Option<Box<[u8]>> {
    if sel.rooms.is_empty() && sel.except.is_empty() {
        return None;
    }
    let len = sel.rooms.iter().chain(sel.except).map(|r| r.len() + 4).sum();
    let mut out = Vec::with_capacity(len);
    for r in sel.rooms.iter().chain(sel.except) {
        out.extend_from_slice(&(r.len() as u32).to_le_bytes());
        out.extend_from_slice(r.as_bytes());
    }
    Some(out.into_boxed_slice())
}

/// A kept socket.
struct Kept {
    socket: Socket,
    /// When it was kept (ms since the epoch).
    since: u64,
    /// Which keeping this is (`State::keepings` then): tells the current
    /// `deadlines` entry of a session from a stale one.
    keeping: u64,
}

/// The log and the kept sockets; guarded by `Recovery::state`.
pub(crate) struct State {
    /// Offset of `entries[0]` (of the next event when empty). Offsets start at 1.
    base: u64,
    entries: VecDeque<Entry>,
    /// Sum of the kept messages' costs.
    bytes: usize,
    /// Kept sockets by session id.
    sessions: FxHashMap<Arc<str>, Kept>,
    /// (deadline, keeping, session id) in keeping order, so deadlines ascend.
    deadlines: VecDeque<(u64, u64, Arc<str>)>,
    /// Sockets kept so far (numbers each keeping).
    keepings: u64,
}

/// Why a resume gets a fresh socket instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    /// No kept socket under that session id (never, expired, resumed, other node).
    Unknown,
    /// Events after the presented offset are no longer all kept, or the
    /// offset is one this namespace never gave.
    OffsetGone,
    /// The replay would not fit in the new connection's outbox.
    TooLarge,
}

/// A namespace's recovery state.
pub(crate) struct Recovery {
    pub(crate) cfg: RecoveryConfig,
    epoch: Instant,
    /// Mirror of the next offset (`base + entries.len()`), read without the
    /// lock when a socket registers.
    next: AtomicU64,
    /// Rank `Recovery`: taken before any connection, socket, room or
    /// outbox lock (the fan-out of a logged emit runs under it); never held
    /// across user code.
    state: Mutex<State>,
}

/// The log held for one logged emit: the fan-out runs while it is held.
pub(crate) type LogGuard<'a> = Guard<parking_lot::MutexGuard<'a, State>>;

impl Recovery {
    pub(crate) fn new(cfg: RecoveryConfig) -> Recovery {
        Recovery {
            cfg,
            epoch: Instant::now(),
            next: AtomicU64::new(1),
            state: Mutex::new(
                Rank::Recovery,
                State {
                    base: 1,
                    entries: VecDeque::new(),
                    bytes: 0,
                    sessions: FxHashMap::default(),
                    deadlines: VecDeque::new(),
                    keepings: 0,
                },
            ),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn window(&self) -> u64 {
        self.cfg.max_disconnection_duration_value().as_millis() as u64
    }

    /// The offset the next kept event will get.
    pub(crate) fn next_offset(&self) -> u64 {
        // Relaxed: a hint for a socket's first possible offset; see `Kept`.
        self.next.load(Ordering::Relaxed)
    }

    /// Numbers `msg` and appends it to the log; returns the held log (the
    /// caller fans out under it, then calls `release`). A message already
    /// numbered is not appended again.
    pub(crate) fn log(&self, msg: &Message, sel: &Selection<'_>) -> (LogGuard<'_>, Vec<Socket>) {
        let mut st = self.state.lock();
        let now = self.now();
        let offset = st.base + st.entries.len() as u64;
        if msg.set_offset(offset) {
            st.bytes += msg.cost();
            let len = st.entries.len();
            if len == st.entries.capacity() {
                // Grown by an eighth (not doubled): the log's slack, part
                // of each entry's cost, stays under 12.5%.
                let limit = self.cfg.max_events_value().saturating_add(1);
                st.entries.reserve_exact((len / 8).max(64).min(limit.saturating_sub(len).max(1)));
            }
            st.entries.push_back(Entry {
                msg: msg.clone(),
                at: now,
                except_key: sel.except_key.unwrap_or(0),
                n_rooms: sel.rooms.len() as u32,
                names: pack(sel),
            });
            // Relaxed: see `next_offset`.
            self.next.store(offset + 1, Ordering::Relaxed);
        }
        let expired = self.sweep_locked(&mut st, now);
        (st, expired)
    }

    /// Keeps `socket` under its session id.
    pub(crate) fn keep(&self, pid: Arc<str>, socket: Socket) -> Vec<Socket> {
        let mut st = self.state.lock();
        let now = self.now();
        self.insert_kept(&mut st, pid, socket, now);
        let mut ended = self.sweep_locked(&mut st, now);
        // Over `max_sockets`: the longest-kept sockets end. `deadlines` is
        // in keeping order; an entry whose session was resumed (or kept
        // again later) is stale and only dropped.
        while st.sessions.len() > self.cfg.max_sockets_value() {
            let Some((_, keeping, pid)) = st.deadlines.pop_front() else { break };
            if st.sessions.get(&pid).is_some_and(|k| k.keeping == keeping) {
                if let Some(k) = st.sessions.remove(&pid) {
                    ended.push(k.socket);
                }
            }
        }
        ended
    }

    /// Trims the log and takes the expired sessions out (the caller ends
    /// them once the lock is released).
    pub(crate) fn sweep(&self) -> Vec<Socket> {
        let mut st = self.state.lock();
        let now = self.now();
        self.sweep_locked(&mut st, now)
    }

    fn sweep_locked(&self, st: &mut State, now: u64) -> Vec<Socket> {
        let window = self.window();
        while let Some(front) = st.entries.front() {
            let too_old = front.at + window < now;
            if !(too_old || st.entries.len() > self.cfg.max_events_value() || st.bytes > self.cfg.max_bytes_value()) {
                break;
            }
            if let Some(e) = st.entries.pop_front() {
                st.bytes -= e.msg.cost();
                st.base += 1;
            }
        }
        if st.entries.capacity() > 256 && st.entries.len() < st.entries.capacity() / 4 {
            // A burst is over: give back most of its room.
            let keep = st.entries.len() * 2;
            st.entries.shrink_to(keep);
        }
        let mut expired = Vec::new();
        while st.deadlines.front().is_some_and(|(deadline, _, _)| *deadline < now) {
            let Some((_, keeping, pid)) = st.deadlines.pop_front() else { break };
            // Still the keeping that deadline was set for (not resumed and kept again).
            if st.sessions.get(&pid).is_some_and(|k| k.keeping == keeping) {
                if let Some(k) = st.sessions.remove(&pid) {
                    expired.push(k.socket);
                }
            }
        }
        expired
    }

    /// Takes every kept socket out (to be ended: engine shutdown).
    pub(crate) fn take_all(&self) -> Vec<Socket> {
        let mut st = self.state.lock();
        st.deadlines.clear();
        st.sessions.drain().map(|(_, k)| k.socket).collect()
    }

    /// Holds the log for a resume.
    pub(crate) fn lock(&self) -> LogGuard<'_> {
        self.state.lock()
    }

    /// Takes the kept socket of session `pid` and the events it missed
    /// after `offset` (`None`: it saw none), if it can be resumed whole.
    /// `fits` says whether `(count, bytes)` fit the new outbox. On a miss
    /// the kept socket (if any) is returned to be ended.
    pub(crate) fn take(
        &self,
        st: &mut State,
        pid: &str,
        offset: Option<u64>,
        fits: impl Fn(usize, usize) -> bool,
    ) -> Result<(Socket, Vec<Message>), (Miss, Option<Socket>)> {
        let now = self.now();
        let Some(kept) = st.sessions.remove(pid) else { return Err((Miss::Unknown, None)) };
        if kept.since + self.window() < now {
            return Err((Miss::Unknown, Some(kept.socket)));
        }
        let socket = kept.socket;
        if !socket.claim_kept(true) {
            return Err((Miss::Unknown, None));
        }
        let next = st.base + st.entries.len() as u64;
        let first = socket.first_offset();
        // The events it could have missed start after what it saw, and not
        // before the socket existed.
        let from = offset.map_or(first, |o| o.saturating_add(1).max(first));
        if from < st.base || offset.is_some_and(|o| o >= next) {
            socket.claim_kept(false);
            return Err((Miss::OffsetGone, Some(socket)));
        }
        let (key, rooms) = (socket.inner.key, socket.rooms());
        let rooms: Vec<&str> = rooms.iter().map(String::as_str).collect();
        let start = (from.min(next) - st.base) as usize;
        let missed: Vec<Message> =
            st.entries.range(start..).filter(|e| e.selects(key, &rooms)).map(|e| e.msg.clone()).collect();
        let bytes = missed.iter().map(Message::cost).sum();
        if !fits(missed.len(), bytes) {
            socket.claim_kept(false);
            return Err((Miss::TooLarge, Some(socket)));
        }
        Ok((socket, missed))
    }

    /// Puts a taken socket back (the resume could not complete).
    pub(crate) fn put_back(&self, st: &mut State, pid: Arc<str>, socket: Socket) {
        socket.claim_kept(false);
        let now = self.now();
        self.insert_kept(st, pid, socket, now);
    }

    /// Keeps `socket` under `pid` from `now`, as a new keeping.
    fn insert_kept(&self, st: &mut State, pid: Arc<str>, socket: Socket, now: u64) {
        st.keepings += 1;
        let keeping = st.keepings;
        st.deadlines.push_back((now + self.window(), keeping, pid.clone()));
        st.sessions.insert(pid, Kept { socket, since: now, keeping });
    }

    pub(crate) fn stats(&self) -> RecoveryStats {
        let st = self.state.lock();
        RecoveryStats {
            kept_sockets: st.sessions.len(),
            kept_events: st.entries.len(),
            kept_bytes: st.bytes,
            next_offset: st.base + st.entries.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_entry_is_48_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 48);
    }

    #[test]
    fn entry_selection_matches_rooms_except_and_sender() {
        use std::borrow::Cow;
        let rooms = [Cow::Borrowed("a"), Cow::Borrowed("b")];
        let except = [Cow::Borrowed("x")];
        let sel = Selection { rooms: &rooms, except: &except, except_key: Some(7) };
        let msg = Message::event(Arc::from("/"), "ev", crate::Payload::text("t"), None);
        let e = Entry { msg, at: 0, except_key: 7, n_rooms: 2, names: pack(&sel) };
        assert!(e.selects(1, &["id1", "b"]));
        assert!(!e.selects(1, &["id1", "c"]), "in no target room");
        assert!(!e.selects(1, &["id1", "a", "x"]), "in an except room");
        assert!(!e.selects(7, &["id7", "a"]), "the sender");
        let all = Entry { names: None, n_rooms: 0, except_key: 0, ..e };
        assert!(all.selects(7, &["id7"]));
    }
}
