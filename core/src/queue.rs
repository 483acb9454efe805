//! The per-connection queue behind an [`Outbox`](crate::Outbox): one
//! bounded FIFO shared by every namespace the connection has joined. (The
//! public receiving handle, which knows its connection, is in `outbox`.)
//!
//! # Design
//!
//! Producers (any emitting thread) push under the queue's spin lock; the
//! critical section is a ring push (the first four slots live inside the
//! queue, so a connection that rarely has more than that queued never
//! touches a separate buffer) and two counter updates. Consumers are woken
//! only on the empty to non-empty transition: a blocked `recv` through the
//! condvar (and only when someone is actually waiting), an async task
//! through an atomic waker (only once one has registered), an event-loop
//! host through its notify callback.
//! The callback is user code, so it is never called by `push` itself: the
//! push reports that a notification is due and the emit path fires it after
//! it has released every engine lock.
//!
//! The spin lock's contract (see `spin`) holds in every critical section
//! here: nothing is allocated or freed under it. A ring or control queue
//! that must grow gets its bigger buffer allocated with the lock released,
//! installed under the lock, and the old one freed after; evicted messages
//! are dropped after the unlock; a receiver's buffer is grown before the
//! lock is taken, and a lagged notice is built after it is released.
//!
//! # Bounds and overflow
//!
//! Data messages (events) are bounded in messages (`max_queue`) and bytes
//! (payload plus event name, `max_queue_bytes`); an empty outbox always
//! accepts one, so the byte bound cannot starve a connection. When one
//! does not fit, the connection's [`OverflowPolicy`] applies; `volatile`
//! messages are simply dropped. `drop_oldest` evicts the oldest data
//! message, in O(1), and remembers how many were lost; the next receive
//! returns a [`Lagged`](crate::MessageKind::Lagged) notice before anything
//! else.
//!
//! Control messages (ack replies, disconnect notices) must reach the
//! client, so no policy ever drops or evicts one. They wait in a queue of
//! their own, each stamped with the number of data messages queued before
//! it, and go out exactly in push order among the data messages; keeping
//! them apart is what makes a data eviction O(1) however many control
//! messages are queued. They have a bound of their own, equal to the data
//! bounds (`max_queue` messages, `max_queue_bytes` bytes): a control
//! message over it closes the connection with
//! [`QueueOverflow`](crate::DisconnectReason::QueueOverflow) under every
//! policy — never a silent drop. An outbox therefore holds at most twice
//! its configured bounds.
//!
//! Closing keeps what is queued: receivers drain it, then get `Closed`.
//!
//! # Fast paths
//!
//! The non-blocking receives first read a flag kept next to the lock
//! (`Queue::ready`): on an empty, open outbox they return without taking
//! the lock, so polling idle outboxes writes none of their cache lines.
//! Async receivers re-check under the lock after registering their waker
//! (see `Queue::has_waker` for why that re-check may not use the flag).

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::lock_order::{self, Rank};
use crate::spin::{SpinGuard, SpinMutex};
use crate::sync::{AtomicBool, AtomicUsize, AtomicWaker, Condvar, Mutex, Ordering, RwLock};

use crate::config::OverflowPolicy;
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::message::{DisconnectReason, Message, Prepaid};
use crate::ring::{Ring, Spare};

type NotifyFn = Arc<dyn Fn() + Send + Sync>;

/// Messages `drop_oldest` evicts per lock hold before it lets go to drop
/// them (a big message under the byte bound may need many evictions).
const EVICT_BATCH: usize = 8;

/// A control message and its place among the data messages.
struct Ctl {
    /// It goes out once this many data messages have left the ring
    /// (`CtlQueue::taken`): those queued before it.
    after: u64,
    msg: Message,
}

/// The control messages of an outbox (allocated on the first one).
struct CtlQueue {
    /// Oldest first.
    q: VecDeque<Ctl>,
    /// Sum of `cost()` over `q`.
    bytes: usize,
    /// Data messages that left the ring (received or evicted) since this
    /// queue was created.
    taken: u64,
}

impl CtlQueue {
    /// An empty queue with room for `cap` messages.
    fn with_capacity(cap: usize) -> Box<CtlQueue> {
        Box::new(CtlQueue { q: VecDeque::with_capacity(cap), bytes: 0, taken: 0 })
    }

    /// Whether the front message is due (every data message queued before
    /// it has left).
    fn front_due(&self) -> bool {
        self.q.front().is_some_and(|c| c.after <= self.taken)
    }
}

/// Everything guarded by the queue lock. `repr(C)`: the fields a data push
/// touches come first (see `Queue`).
#[repr(C)]
struct State {
    /// Queued data messages, oldest first.
    items: Ring,
    /// Sum of `cost()` over `items`.
    bytes: usize,
    /// Messages evicted by `drop_oldest` since the last receive; reported
    /// as a lagged notice before the next queued message.
    lost: u64,
    /// Threads blocked in `recv*`; a push signals the condvar only if non-zero.
    waiting: u32,
    /// No more pushes are accepted (closed, or overflowed).
    sealed: bool,
    /// The connection is closed: once drained, receivers get `Closed`.
    closed: bool,
    /// Why the connection closed.
    reason: Option<DisconnectReason>,
    /// Control messages, once there has been one.
    ctl: Option<Box<CtlQueue>>,
}

/// What a receive took: a message, or the count of a lagged notice (the
/// notice itself is built after the lock is released).
enum Popped {
    Msg(Message),
    Lagged(u64),
}

impl Popped {
    fn into_message(self) -> Message {
        match self {
            Popped::Msg(m) => m,
            Popped::Lagged(n) => Message::lagged(n),
        }
    }
}

impl State {
    fn ctl_len(&self) -> usize {
        self.ctl.as_ref().map_or(0, |c| c.q.len())
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty() && self.lost == 0 && self.ctl_len() == 0
    }

    /// Messages a receive could take now, a lagged notice excluded.
    fn queued(&self) -> usize {
        self.items.len() + self.ctl_len()
    }

    /// Counts `k` data messages leaving the ring.
    #[inline]
    fn note_taken(&mut self, k: usize) {
        if let Some(c) = self.ctl.as_deref_mut() {
            c.taken += k as u64;
        }
    }

    fn pop(&mut self) -> Option<Popped> {
        if self.lost > 0 {
            return Some(Popped::Lagged(std::mem::take(&mut self.lost)));
        }
        if let Some(c) = self.ctl.as_deref_mut() {
            if c.front_due() {
                let Ctl { msg, .. } = c.q.pop_front()?;
                c.bytes -= msg.cost();
                return Some(Popped::Msg(msg));
            }
        }
        // A control message that is not due has data messages before it,
        // so the ring is empty only when no control message is queued.
        let m = self.items.pop_front()?;
        self.bytes -= m.cost();
        self.note_taken(1);
        Some(Popped::Msg(m))
    }

    /// Moves the `k` oldest data messages to `buf`.
    fn take_data(&mut self, buf: &mut Vec<Message>, k: usize) {
        if k == self.items.len() {
            // Everything goes: no need to read each message's cost.
            self.bytes = 0;
        } else {
            for i in 0..k {
                self.bytes -= self.items.get(i).map_or(0, Message::cost);
            }
        }
        self.items.move_front_into(buf, k);
        self.note_taken(k);
    }

    /// Moves up to `max` messages into `buf` in queue order, a pending
    /// lagged notice counting as one (returned as its count, to be put in
    /// front of them once unlocked). `buf` must have room for
    /// `min(max, queued())` more messages: nothing here allocates.
    fn drain_into(&mut self, buf: &mut Vec<Message>, max: usize) -> (usize, u64) {
        let lagged = if max > 0 { std::mem::take(&mut self.lost) } else { 0 };
        let mut n = usize::from(lagged > 0);
        while n < max {
            let before_ctl = match self.ctl.as_deref_mut() {
                Some(c) if c.front_due() => {
                    let Some(Ctl { msg, .. }) = c.q.pop_front() else { break };
                    c.bytes -= msg.cost();
                    buf.push(msg);
                    n += 1;
                    continue;
                }
                Some(c) => c.q.front().map_or(usize::MAX, |f| (f.after - c.taken) as usize),
                None => usize::MAX,
            };
            let k = (max - n).min(before_ctl).min(self.items.len());
            if k == 0 {
                break;
            }
            self.take_data(buf, k);
            n += k;
        }
        (n, lagged)
    }
}

/// Puts the lagged notice a drain reported in front of the messages it
/// moved (after the lock is released: building it allocates).
fn insert_lagged(buf: &mut Vec<Message>, start: usize, lagged: u64) {
    if lagged > 0 {
        buf.insert(start, Message::lagged(lagged));
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; `evicted` older messages were dropped to make room.
    Queued { evicted: u32 },
    /// Not queued (full, volatile, or the connection is closed).
    Dropped,
    /// Not queued and the connection must close with `queue overflow`
    /// (the `disconnect` policy, or a control message over its bound): the
    /// caller closes it after releasing its locks.
    Overflow,
}

/// Result of a push, with the follow-up the caller owes once unlocked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PushOutcome {
    pub(crate) pushed: Pushed,
    /// The notify callback must be fired.
    pub(crate) notify: bool,
}

/// What a slow push holds between attempts and releases unlocked: messages
/// it evicted, buffers it allocated or replaced.
#[derive(Default)]
struct Unlocked {
    evicted: [Option<Message>; EVICT_BATCH],
    n_evicted: usize,
    /// A bigger ring buffer, allocated for the next attempt; or one to free.
    ring: Option<Spare>,
    /// A control queue (new or bigger), allocated for the next attempt; or
    /// one to free.
    ctl: Option<Box<CtlQueue>>,
    freed_ctl: Option<VecDeque<Ctl>>,
}

/// The queue itself, owned by the connection.
///
/// `repr(C)`: the fields every push reads or writes come first, in one run
/// of memory that [`Queue::hot_ptr`] names and a fan-out prefetches: the
/// bounds and flags, then the lock and the start of its `State` (the ring
/// with its inline slots, the byte count, the waiter count, the flags).
/// The alignment makes that run exactly two cache lines (checked by the
/// `layout` test). The rarely used fields (control queue, wakers, blocking
/// receivers, the notify callback) follow.
#[repr(C, align(64))]
pub(crate) struct Queue {
    /// Address of the heap slot the next push writes (or 0), refreshed
    /// under the lock after every push. Only ever used as a prefetch hint,
    /// so a stale value is harmless; Relaxed for the same reason.
    slot_hint: AtomicUsize,
    max_len: usize,
    max_bytes: usize,
    /// Mirrors `notify.is_some()` so producers skip the lock when unset.
    has_notify: AtomicBool,
    /// Set (for good) before an async receiver first registers a waker, so
    /// pushes to outboxes nobody awaits skip the waker's atomic
    /// read-modify-write.
    ///
    /// Why a push never misses a registered receiver: the receiver stores
    /// `has_waker` and registers *before* a re-check that takes the queue
    /// lock (`poll_recv`, `poll_recv_many`); a push reads `has_waker` *after*
    /// releasing that lock. The two critical sections are ordered. If the
    /// receiver's came first, its unlock (Release) synchronises with the
    /// push's lock (Acquire), so the store and the registration happen
    /// before the push's load, which therefore reads `true` (Relaxed is
    /// enough: a load ordered after a store by happens-before cannot read an
    /// older value) and wakes the registered task. If the push's came
    /// first, the re-check finds the message. The re-check must not use the
    /// lock-free `ready` flag instead: nothing would then order the
    /// receiver's store of `has_waker` before the push's load of it (store
    /// buffering), both could read `false`, and the task would sleep until
    /// the connection closed. `queue::loom_tests::push_racing_poll_recv` checks it.
    has_waker: AtomicBool,
    /// False only when the queue was last seen empty and open: the
    /// non-blocking receives (and `len`) return at once on `false`,
    /// reading the line instead of taking the lock, so a host polling many
    /// idle outboxes (or a receiver racing an emitter through them) does
    /// not write each queue's cache line. Written under the lock: `true` by every push
    /// and by `close`, recomputed by the non-blocking receives (other
    /// receives leave it `true`, which only costs a later lock). Relaxed:
    /// a receive that misses a concurrent push's `true` is ordered before
    /// that push, as if it had taken the lock first; anything that
    /// happened after the push (its notify callback, an `await`, a
    /// channel) makes the store visible. Never used to decide whether to
    /// sleep: see `has_waker`.
    ready: AtomicBool,
    policy: OverflowPolicy,
    state: SpinMutex<State>,
    /// Woken on every empty -> non-empty push, once `has_waker` is set.
    waker: AtomicWaker,
    /// Blocked receivers sleep here. Lock order: `sleep`, then `state`.
    /// A receiver registers in `State::waiting` (under `state`), takes
    /// `sleep`, re-checks the queue, then waits; a pusher that saw a waiter
    /// takes `sleep` before notifying, so the wake-up cannot be lost.
    sleep: Mutex<()>,
    cond: Condvar,
    /// The host's notify callback. Read on the wake-up path only.
    notify: RwLock<Option<NotifyFn>>,
}

/// The result of one receive attempt under the lock.
enum Attempt<'a, T> {
    /// Got something (the lock is released).
    Done(T),
    /// Nothing to take: the lock, still held, for the caller to wait with.
    Empty(SpinGuard<'a, State>),
}

impl Queue {
    pub(crate) fn new(max_len: usize, max_bytes: usize, policy: OverflowPolicy) -> Queue {
        Queue {
            state: SpinMutex::new(State {
                items: Ring::new(),
                bytes: 0,
                lost: 0,
                waiting: 0,
                sealed: false,
                closed: false,
                reason: None,
                ctl: None,
            }),
            slot_hint: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            cond: Condvar::new(),
            waker: AtomicWaker::new(),
            notify: RwLock::new(None),
            has_notify: AtomicBool::new(false),
            has_waker: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            max_len,
            max_bytes,
            policy,
        }
    }

    /// The address of the data a push touches first, for prefetching.
    #[inline(always)]
    pub(crate) fn hot_ptr(&self) -> *const u8 {
        std::ptr::from_ref(self).cast()
    }

    /// The last byte of the fields a push touches (see the struct docs):
    /// with `hot_ptr`, the span a fan-out prefetches.
    #[inline(always)]
    pub(crate) fn hot_end(&self) -> *const u8 {
        self.hot_ptr().wrapping_add(HOT_BYTES - 1)
    }

    /// Where the next push will write, as last published (a hint).
    #[inline(always)]
    pub(crate) fn slot_hint(&self) -> *const u8 {
        self.slot_hint.load(Ordering::Relaxed) as *const u8
    }

    /// Pushes one message. `volatile` messages are dropped when full and
    /// never trigger the policy; `control` messages (disconnect notices,
    /// ack replies) are never dropped by a policy (see the module docs).
    #[inline(always)]
    pub(crate) fn push(&self, refs: &mut Prepaid<'_>, volatile: bool, control: bool) -> PushOutcome {
        debug_assert_eq!(control, refs.message().is_control(), "only ack replies and notices are control");
        let cost = refs.message().cost();
        let mut st = self.state.lock();
        if control || st.sealed || self.full(&st, cost) || st.items.is_full() {
            return self.push_slow(st, refs, volatile, control, cost);
        }
        let was_empty = st.is_empty();
        // SAFETY: not full, checked above.
        let next_slot = unsafe { st.items.push_back(refs.take()) };
        st.bytes += cost;
        self.ready.store(true, Ordering::Relaxed);
        self.slot_hint.store(next_slot as usize, Ordering::Relaxed);
        let wake_blocked = st.waiting > 0;
        drop(st);
        self.pushed(was_empty, wake_blocked, 0)
    }

    /// The wake-ups a push owes once unlocked.
    #[inline(always)]
    fn pushed(&self, was_empty: bool, wake_blocked: bool, evicted: u32) -> PushOutcome {
        if wake_blocked {
            self.wake_one_blocked();
        }
        let mut notify = false;
        if was_empty {
            // Relaxed: see the field's docs.
            if self.has_waker.load(Ordering::Relaxed) {
                self.waker.wake();
            }
            // Relaxed: a stale `false` only means a callback installed
            // concurrently with this push misses this one transition, which
            // `set_notify` covers by firing once if the queue is non-empty.
            notify = self.has_notify.load(Ordering::Relaxed);
        }
        PushOutcome { pushed: Pushed::Queued { evicted }, notify }
    }

    /// Whether a data message of `cost` bytes finds no room. An empty
    /// outbox always takes one message, so the byte bound can never starve
    /// a connection.
    #[inline(always)]
    fn full(&self, st: &State, cost: usize) -> bool {
        !st.items.is_empty() && (st.items.len() >= self.max_len || st.bytes + cost > self.max_bytes)
    }

    /// Whether a control message of `cost` bytes is over the control bound.
    fn ctl_full(&self, c: &CtlQueue, cost: usize) -> bool {
        !c.q.is_empty() && (c.q.len() >= self.max_len || c.bytes + cost > self.max_bytes)
    }

    /// The rare part of a push: a sealed outbox, a control message, a data
    /// message that does not fit, or a ring that must grow. Each attempt
    /// runs under the lock; whatever needs allocating or freeing happens
    /// between attempts, unlocked.
    #[cold]
    #[inline(never)]
    fn push_slow(
        &self,
        st: SpinGuard<'_, State>,
        refs: &mut Prepaid<'_>,
        volatile: bool,
        control: bool,
        cost: usize,
    ) -> PushOutcome {
        let mut held = Unlocked::default();
        let mut evicted = 0u32;
        let mut guard = Some(st);
        loop {
            let mut st = guard.take().unwrap_or_else(|| self.state.lock());
            let step = if control {
                self.try_push_ctl(&mut st, refs, cost, &mut held)
            } else {
                self.try_push_data(&mut st, refs, volatile, cost, &mut held, &mut evicted)
            };
            match step {
                Step::Retry => {
                    drop(st);
                    held.release();
                    held.allocate(self, control);
                }
                Step::Done(pushed) => {
                    let queued = matches!(pushed, Pushed::Queued { .. });
                    let was_empty = queued && st.queued() == 1 && st.lost == 0;
                    let wake_blocked = queued && st.waiting > 0;
                    if queued {
                        self.ready.store(true, Ordering::Relaxed);
                    }
                    drop(st);
                    drop(held);
                    return match pushed {
                        Pushed::Queued { .. } => self.pushed(was_empty, wake_blocked, evicted),
                        other => PushOutcome { pushed: other, notify: false },
                    };
                }
            }
        }
    }

    /// One attempt at a data push (see `push_slow`).
    fn try_push_data(
        &self,
        st: &mut State,
        refs: &mut Prepaid<'_>,
        volatile: bool,
        cost: usize,
        held: &mut Unlocked,
        evicted: &mut u32,
    ) -> Step {
        if st.sealed {
            return Step::Done(Pushed::Dropped);
        }
        if self.full(st, cost) {
            if volatile {
                return Step::Done(Pushed::Dropped);
            }
            match self.policy {
                OverflowPolicy::DropNewest => return Step::Done(Pushed::Dropped),
                OverflowPolicy::Disconnect => {
                    st.sealed = true;
                    return Step::Done(Pushed::Overflow);
                }
                OverflowPolicy::DropOldest => {
                    // O(1) each: the oldest data message is the ring's front
                    // (control messages wait in their own queue).
                    while self.full(st, cost) && held.n_evicted < EVICT_BATCH {
                        let Some(old) = st.items.pop_front() else { break };
                        st.bytes -= old.cost();
                        st.note_taken(1);
                        st.lost += 1;
                        *evicted += 1;
                        held.evicted[held.n_evicted] = Some(old);
                        held.n_evicted += 1;
                    }
                    if self.full(st, cost) {
                        // Let go to drop this batch, then carry on.
                        return Step::Retry;
                    }
                }
            }
        }
        if st.items.is_full() {
            match held.ring.take() {
                Some(spare) => held.ring = st.items.grow_into(spare),
                None => return Step::Retry,
            }
            if st.items.is_full() {
                return Step::Retry;
            }
        }
        // SAFETY: not full, checked (or grown) just above.
        let next_slot = unsafe { st.items.push_back(refs.take()) };
        st.bytes += cost;
        self.slot_hint.store(next_slot as usize, Ordering::Relaxed);
        Step::Done(Pushed::Queued { evicted: 0 })
    }

    /// One attempt at a control push (see `push_slow`).
    fn try_push_ctl(&self, st: &mut State, refs: &mut Prepaid<'_>, cost: usize, held: &mut Unlocked) -> Step {
        if st.sealed {
            return Step::Done(Pushed::Dropped);
        }
        let queued_data = st.items.len() as u64;
        let Some(c) = st.ctl.as_deref_mut() else {
            match held.ctl.take() {
                Some(new) => st.ctl = Some(new),
                None => return Step::Retry,
            }
            return self.try_push_ctl(st, refs, cost, held);
        };
        if self.ctl_full(c, cost) {
            st.sealed = true;
            return Step::Done(Pushed::Overflow);
        }
        if c.q.len() == c.q.capacity() {
            match held.ctl.take() {
                Some(mut bigger) if bigger.q.capacity() > c.q.len() => {
                    // Moves the entries into capacity reserved unlocked.
                    bigger.q.extend(c.q.drain(..));
                    held.freed_ctl = Some(std::mem::replace(&mut c.q, std::mem::take(&mut bigger.q)));
                    held.ctl = Some(bigger);
                }
                other => {
                    held.ctl = other;
                    return Step::Retry;
                }
            }
        }
        c.q.push_back(Ctl { after: c.taken + queued_data, msg: refs.take() });
        c.bytes += cost;
        Step::Done(Pushed::Queued { evicted: 0 })
    }

    /// Wakes one thread blocked in a receive (a push saw one waiting).
    #[cold]
    #[inline(never)]
    fn wake_one_blocked(&self) {
        let _rank = lock_order::enter(Rank::OutboxSleep, 0);
        let _sleep = self.sleep.lock();
        self.cond.notify_one();
    }

    /// Stops accepting pushes (overflow under `disconnect`) without closing.
    pub(crate) fn seal(&self) {
        self.state.lock().sealed = true;
    }

    /// Closes the queue; returns false if it was already closed. The caller
    /// fires the notify callback afterwards.
    pub(crate) fn close(&self, reason: DisconnectReason) -> bool {
        let mut st = self.state.lock();
        if st.closed {
            return false;
        }
        st.closed = true;
        st.sealed = true;
        st.reason = Some(reason);
        self.ready.store(true, Ordering::Relaxed);
        drop(st);
        {
            let _rank = lock_order::enter(Rank::OutboxSleep, 0);
            let _sleep = self.sleep.lock();
            self.cond.notify_all();
        }
        self.waker.wake();
        true
    }

    pub(crate) fn close_reason(&self) -> Option<DisconnectReason> {
        self.state.lock().reason
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Messages and bytes this outbox can still take within its bounds.
    pub(crate) fn room_left(&self) -> (usize, usize) {
        let st = self.state.lock();
        (self.max_len.saturating_sub(st.queued()), self.max_bytes.saturating_sub(st.bytes))
    }

    pub(crate) fn len(&self) -> usize {
        // As in the non-blocking receives: an outbox last seen empty and
        // open answers without its lock.
        if !self.ready.load(Ordering::Relaxed) {
            return 0;
        }
        let st = self.state.lock();
        st.queued() + usize::from(st.lost > 0)
    }

    /// Calls the notify callback, if any. Never called under an engine lock.
    pub(crate) fn fire_notify(&self) {
        let cb = self.notify.read().clone();
        if let Some(cb) = cb {
            cb();
        }
    }

    /// After the close: fires the callback one last time and releases it,
    /// so whatever it captured (often the connection itself) is freed.
    pub(crate) fn fire_final_notify(&self) {
        let cb = self.notify.write().take();
        self.has_notify.store(false, Ordering::Relaxed);
        if let Some(cb) = cb {
            cb();
        }
    }

    pub(crate) fn set_notify(&self, cb: Option<NotifyFn>) {
        if self.is_closed() {
            // Closed already: tell the host once, keep nothing.
            if let Some(cb) = cb {
                cb();
            }
            return;
        }
        let on = cb.is_some();
        let old = std::mem::replace(&mut *self.notify.write(), cb);
        self.has_notify.store(on, Ordering::Relaxed);
        // Released after the lock: dropping a callback may run host code
        // (a C userdata free function) that touches this outbox again.
        drop(old);
        // A host that installs its callback after messages arrived would
        // otherwise never hear about them.
        let (pending, closed) = {
            let st = self.state.lock();
            (!st.is_empty(), st.closed)
        };
        if closed {
            // The close raced this call and may have released the previous
            // callback already: fire this one once and release it too.
            self.fire_final_notify();
        } else if on && pending {
            self.fire_notify();
        }
    }

    /// Recomputes `ready` after a receive, before the lock is released.
    #[inline(always)]
    fn settle(&self, st: &State) {
        self.ready.store(!st.is_empty() || st.closed, Ordering::Relaxed);
    }

    /// One locked receive of a single message, without the `ready` fast
    /// path. `Ok(None)`: empty and open.
    fn pop_locked(&self) -> Result<Option<Message>, TryRecvError> {
        let mut st = self.state.lock();
        let p = st.pop();
        self.settle(&st);
        let closed = st.closed;
        drop(st);
        match p {
            Some(p) => Ok(Some(p.into_message())),
            None if closed => Err(TryRecvError::Closed),
            None => Ok(None),
        }
    }

    pub(crate) fn try_recv(&self) -> Result<Message, TryRecvError> {
        if !self.ready.load(Ordering::Relaxed) {
            return Err(TryRecvError::Empty);
        }
        self.pop_locked()?.ok_or(TryRecvError::Empty)
    }

    /// Blocks until `attempt` yields something, the queue closes (and
    /// `attempt` found nothing), or the deadline passes. `attempt` gets the
    /// locked state and either returns what it took (having released the
    /// lock) or hands the lock back.
    fn wait_for<'a, T>(
        &'a self,
        deadline: Option<Instant>,
        mut attempt: impl FnMut(SpinGuard<'a, State>) -> Attempt<'a, T>,
    ) -> Result<T, RecvTimeoutError> {
        let mut st = match attempt(self.state.lock()) {
            Attempt::Done(v) => return Ok(v),
            Attempt::Empty(st) => st,
        };
        loop {
            if st.closed {
                return Err(RecvTimeoutError::Closed);
            }
            st.waiting += 1;
            drop(st);
            let rank = lock_order::enter(Rank::OutboxSleep, 0);
            let mut sleep = self.sleep.lock();
            let ready = {
                let st = self.state.lock();
                !st.is_empty() || st.closed
            };
            let timed_out = match (ready, deadline) {
                (true, _) => false,
                (false, Some(d)) => self.cond.wait_until(&mut sleep, d).timed_out(),
                (false, None) => {
                    self.cond.wait(&mut sleep);
                    false
                }
            };
            drop(sleep);
            drop(rank);
            let mut locked = self.state.lock();
            locked.waiting -= 1;
            st = match attempt(locked) {
                Attempt::Done(v) => return Ok(v),
                Attempt::Empty(st) => st,
            };
            if timed_out && !st.closed {
                return Err(RecvTimeoutError::Timeout);
            }
        }
    }

    pub(crate) fn recv_deadline(&self, deadline: Option<Instant>) -> Result<Message, RecvTimeoutError> {
        self.wait_for(deadline, |mut st| match st.pop() {
            Some(p) => {
                drop(st);
                Attempt::Done(p.into_message())
            }
            None => Attempt::Empty(st),
        })
    }

    /// Takes the lock once `buf` has room for whatever a drain of up to
    /// `max` messages could move (growing it unlocked).
    fn lock_with_room(&self, buf: &mut Vec<Message>, max: usize) -> SpinGuard<'_, State> {
        let mut st = self.state.lock();
        loop {
            let need = max.min(st.queued());
            if buf.capacity() - buf.len() >= need {
                return st;
            }
            drop(st);
            buf.reserve(need);
            st = self.state.lock();
        }
    }

    /// A drain of up to `max` messages under `st`, which it releases when
    /// it took something; `buf` has room (see `lock_with_room`).
    fn drain_locked<'a>(&self, mut st: SpinGuard<'a, State>, buf: &mut Vec<Message>, max: usize) -> Attempt<'a, usize> {
        let start = buf.len();
        let (n, lagged) = st.drain_into(buf, max);
        if n == 0 {
            return Attempt::Empty(st);
        }
        drop(st);
        insert_lagged(buf, start, lagged);
        Attempt::Done(n)
    }

    pub(crate) fn recv_many_deadline(
        &self,
        buf: &mut Vec<Message>,
        max: usize,
        deadline: Option<Instant>,
    ) -> Result<usize, RecvTimeoutError> {
        if max == 0 {
            return Ok(0);
        }
        self.wait_for(deadline, |st| {
            // The lock handed in was taken without looking at `buf`: take it
            // again, with room, when the drain could need more.
            let st = if buf.capacity() - buf.len() < max.min(st.queued()) {
                drop(st);
                self.lock_with_room(buf, max)
            } else {
                st
            };
            self.drain_locked(st, buf, max)
        })
    }

    pub(crate) fn try_recv_many(&self, buf: &mut Vec<Message>, max: usize) -> Result<usize, TryRecvError> {
        if !self.ready.load(Ordering::Relaxed) {
            return Ok(0);
        }
        let mut st = self.lock_with_room(buf, max);
        let start = buf.len();
        let (n, lagged) = st.drain_into(buf, max);
        self.settle(&st);
        let closed = st.closed;
        drop(st);
        insert_lagged(buf, start, lagged);
        if n == 0 && closed && max > 0 {
            return Err(TryRecvError::Closed);
        }
        Ok(n)
    }

    /// Registers the task to wake on the next empty -> non-empty push. The
    /// caller must re-check the queue under its lock afterwards (see
    /// `has_waker`).
    fn register_waker(&self, cx: &Context<'_>) {
        self.has_waker.store(true, Ordering::Relaxed);
        self.waker.register(cx.waker());
    }

    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Message, RecvError>> {
        match self.try_recv() {
            Ok(m) => return Poll::Ready(Ok(m)),
            Err(TryRecvError::Closed) => return Poll::Ready(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => {}
        }
        self.register_waker(cx);
        // Re-check after registering, under the lock (see `has_waker`): a
        // push between the first check and the registration may have seen
        // no waker.
        match self.pop_locked() {
            Ok(Some(m)) => Poll::Ready(Ok(m)),
            Ok(None) => Poll::Pending,
            Err(_) => Poll::Ready(Err(RecvError::Closed)),
        }
    }

    pub(crate) fn poll_recv_many(
        &self,
        cx: &mut Context<'_>,
        buf: &mut Vec<Message>,
        max: usize,
    ) -> Poll<Result<usize, RecvError>> {
        if max == 0 {
            return Poll::Ready(Ok(0));
        }
        for attempt in 0..2 {
            // Locked both times: the second is the re-check after
            // registering (see `has_waker`).
            let st = self.lock_with_room(buf, max);
            match self.drain_locked(st, buf, max) {
                Attempt::Done(n) => return Poll::Ready(Ok(n)),
                Attempt::Empty(st) if st.closed => return Poll::Ready(Err(RecvError::Closed)),
                Attempt::Empty(_) => {}
            }
            if attempt == 0 {
                self.register_waker(cx);
            }
        }
        Poll::Pending
    }
}

/// The bytes from the start of a `Queue` that a push touches (the `layout`
/// test checks the fields against it).
const HOT_BYTES: usize = 128;

/// What one attempt of a slow push came to.
enum Step {
    /// Finished, with this outcome.
    Done(Pushed),
    /// Let go of the lock, release or allocate what `Unlocked` says, and
    /// try again.
    Retry,
}

impl Unlocked {
    /// Drops the evicted messages and frees the replaced buffers (the
    /// caller has released the lock).
    fn release(&mut self) {
        for m in &mut self.evicted[..self.n_evicted] {
            drop(m.take());
        }
        self.n_evicted = 0;
        self.freed_ctl = None;
    }

    /// Allocates what the next attempt may need: a bigger ring buffer or
    /// control queue (the caller has released the lock).
    fn allocate(&mut self, q: &Queue, control: bool) {
        let (ring_cap, ctl_len) = {
            let st = q.state.lock();
            (st.items.is_full().then(|| st.items.capacity()), st.ctl.as_ref().map(|c| c.q.len()))
        };
        if control {
            if self.ctl.as_ref().is_none_or(|c| c.q.capacity() <= ctl_len.unwrap_or(0)) {
                self.ctl = Some(CtlQueue::with_capacity(ctl_len.map_or(8, |n| (n * 2).max(8))));
            }
        } else if let Some(cap) = ring_cap {
            let want = Spare::next_capacity(cap);
            if self.ring.as_ref().is_none_or(|s| s.capacity() < want) {
                self.ring = Some(Spare::new(want));
            }
        }
    }
}

/// `now + timeout`, or no deadline at all when that is past what `Instant`
/// can represent (`Duration::MAX` means "wait forever").
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

#[cfg(all(test, not(loom)))]
mod layout {
    use super::*;

    #[test]
    fn a_push_touches_two_cache_lines() {
        let q = Queue::new(8, 1024, OverflowPolicy::DropOldest);
        let base = std::ptr::from_ref(&q) as usize;
        assert_eq!(base % 64, 0, "the queue starts a cache line");
        assert_eq!(q.hot_end() as usize - base, HOT_BYTES - 1);
        let st = q.state.lock();
        let end = |p: *const u8, size: usize| p as usize + size - base;
        let touched = [
            end(std::ptr::from_ref(&q.state).cast(), 1),
            end(std::ptr::from_ref(&st.items).cast(), std::mem::size_of::<Ring>()),
            end(std::ptr::from_ref(&st.bytes).cast(), 8),
            end(std::ptr::from_ref(&st.lost).cast(), 8),
            end(std::ptr::from_ref(&st.waiting).cast(), 4),
            end(std::ptr::from_ref(&st.sealed).cast(), 1),
            end(std::ptr::from_ref(&q.policy).cast(), 1),
        ];
        for (i, e) in touched.into_iter().enumerate() {
            assert!(e <= HOT_BYTES, "field {i} of a push ends at byte {e}, past the two prefetched lines");
        }
    }
}

/// Models of the outbox's concurrency, explored by loom (`scripts/loom.sh`).
/// Each is small enough that loom tries every interleaving the memory model
/// allows within its preemption bound.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::Payload;
    use loom::sync::Arc;

    fn data(i: u64) -> Message {
        Message::event("/".into(), "e", Payload::empty(), Some(i))
    }

    fn push(q: &Queue, m: &Message, control: bool) -> Pushed {
        let mut refs = Prepaid::new(m);
        q.push(&mut refs, false, control).pushed
    }

    /// Ids of received data messages, or `L<n>` for a lagged notice, `A<n>`
    /// for an ack reply.
    fn label(m: &Message) -> String {
        match (m.lagged_count(), m.event_name(), m.ack_id()) {
            (Some(n), ..) => format!("L{n}"),
            (None, Some(_), Some(i)) => format!("{i}"),
            (None, None, Some(i)) => format!("A{i}"),
            _ => "?".into(),
        }
    }

    /// Defect 1: an async receiver racing a push. The receiver polls an
    /// empty outbox, registers its waker and re-checks; the push queues a
    /// message and wakes whoever registered. If the re-check and the push's
    /// look at `has_waker` could both miss (the store-buffering outcome),
    /// `block_on` would park forever and loom reports the deadlock.
    #[test]
    fn push_racing_poll_recv() {
        loom::model(|| {
            let q = Arc::new(Queue::new(4, 1 << 20, OverflowPolicy::DropOldest));
            let pusher = {
                let q = q.clone();
                loom::thread::spawn(move || {
                    assert!(matches!(push(&q, &data(1), false), Pushed::Queued { .. }));
                })
            };
            let got = loom::future::block_on(std::future::poll_fn(|cx| q.poll_recv(cx)));
            assert_eq!(got.map(|m| label(&m)), Ok("1".to_string()));
            pusher.join().unwrap();
        });
    }

    /// The batch twin of the above (`recv_many_async`).
    #[test]
    fn push_racing_poll_recv_many() {
        loom::model(|| {
            let q = Arc::new(Queue::new(4, 1 << 20, OverflowPolicy::DropOldest));
            let pusher = {
                let q = q.clone();
                loom::thread::spawn(move || {
                    push(&q, &data(1), false);
                })
            };
            let mut buf = Vec::new();
            let n = loom::future::block_on(std::future::poll_fn(|cx| q.poll_recv_many(cx, &mut buf, 8)));
            assert_eq!(n, Ok(1));
            pusher.join().unwrap();
        });
    }

    /// A blocked `recv` racing a push and then a close: it gets the
    /// message, then `Closed`; it never sleeps through either wake-up.
    #[test]
    fn push_then_close_racing_a_blocked_recv() {
        loom::model(|| {
            let q = Arc::new(Queue::new(4, 1 << 20, OverflowPolicy::DropOldest));
            let other = {
                let q = q.clone();
                loom::thread::spawn(move || {
                    assert!(matches!(push(&q, &data(1), false), Pushed::Queued { .. }));
                    assert!(q.close(DisconnectReason::TransportClose));
                })
            };
            assert_eq!(q.recv_deadline(None).map(|m| label(&m)), Ok("1".to_string()));
            assert_eq!(q.recv_deadline(None).map(|m| label(&m)), Err(RecvTimeoutError::Closed));
            other.join().unwrap();
        });
    }

    /// `drop_oldest` evictions racing a batch receive, with an ack reply
    /// among the data: whatever the interleaving, the receiver sees every
    /// message at most once, in push order, a lagged notice counting
    /// exactly the evicted ones, and the ack reply (never evicted) after the
    /// data pushed before it and before the data pushed after it.
    #[test]
    fn drop_oldest_racing_a_batch_receive() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let q = Arc::new(Queue::new(2, 1 << 20, OverflowPolicy::DropOldest));
            let pusher = {
                let q = q.clone();
                loom::thread::spawn(move || {
                    for i in 1..=3 {
                        assert!(matches!(push(&q, &data(i), false), Pushed::Queued { .. }));
                        if i == 2 {
                            let ack = Message::ack("/".into(), 9, Payload::empty());
                            assert!(matches!(push(&q, &ack, true), Pushed::Queued { .. }));
                        }
                    }
                })
            };
            let mut buf = Vec::new();
            q.try_recv_many(&mut buf, 8).unwrap();
            pusher.join().unwrap();
            q.try_recv_many(&mut buf, 8).unwrap();
            assert!(q.state.lock().is_empty());
            let got: Vec<String> = buf.iter().map(label).collect();
            let lost: u64 = buf.iter().filter_map(Message::lagged_count).sum();
            let data: Vec<&String> = got.iter().filter(|l| !l.starts_with('L') && !l.starts_with('A')).collect();
            assert_eq!(lost as usize + data.len(), 3, "{got:?}");
            assert!(data.windows(2).all(|w| w[0] < w[1]), "{got:?}");
            let ack = got.iter().position(|l| l == "A9").expect("the ack reply is never lost");
            for (i, l) in got.iter().enumerate() {
                if l == "1" || l == "2" {
                    assert!(i < ack, "{got:?}");
                }
                if l == "3" {
                    assert!(i > ack, "{got:?}");
                }
            }
        });
    }
}
