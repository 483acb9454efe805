//! The per-connection outbox: one bounded FIFO shared by every namespace the
//! connection has joined.
//!
//! # Design
//!
//! Producers (any emitting thread) push under the queue's spin lock; the
//! critical section is a ring push (the first four slots live inside the
//! queue, so a connection that rarely has more than that queued never
//! touches a separate buffer) and two counter updates. Consumers are woken
//! only on the empty to non-empty transition: a blocked `recv` through the
//! condvar (and only when someone is actually waiting), an async task
//! through an [`AtomicWaker`] (only once one has registered), an event-loop
//! host through its notify callback.
//! The callback is user code, so it is never called by `push` itself: the
//! push reports that a notification is due and the emit path fires it after
//! it has released every engine lock.
//!
//! Bounds are in messages and bytes (payload plus event name); an empty
//! outbox always accepts one message, so the byte bound cannot starve a
//! connection. When a message does not fit, the connection's
//! [`OverflowPolicy`] applies; `volatile` messages are simply dropped.
//! Control messages (ack replies, disconnect notices) bypass the bounds and
//! are never evicted: the client must learn them. `drop_oldest` evicts from the front and
//! remembers how many were lost; the next receive returns a
//! [`Lagged`](crate::MessageKind::Lagged) notice at exactly the point where
//! messages went missing.
//!
//! Closing keeps what is queued: receivers drain it, then get `Closed`.
//!
//! The non-blocking receives first read a flag kept next to the lock
//! (`Queue::ready`): on an empty, open outbox they return without taking
//! the lock, so polling idle outboxes writes none of their cache lines.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::spin::SpinMutex;

use crate::config::OverflowPolicy;
use crate::connection::ConnInner;
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::message::{DisconnectReason, Message, Prepaid};
use crate::ring::Ring;

type NotifyFn = Arc<dyn Fn() + Send + Sync>;

/// Everything guarded by the queue mutex.
struct State {
    /// Queued messages, oldest first.
    items: Ring,
    /// Sum of `cost()` over `items`.
    bytes: usize,
    /// Messages evicted by `drop_oldest` since the last receive; reported
    /// as a lagged notice before the next queued message.
    lost: u64,
    /// No more pushes are accepted (closed, or overflowed under `disconnect`).
    sealed: bool,
    /// The connection is closed: once drained, receivers get `Closed`.
    closed: bool,
    /// Why the connection closed.
    reason: Option<DisconnectReason>,
    /// Threads blocked in `recv*`; a push signals the condvar only if non-zero.
    waiting: u32,
}

impl State {
    fn is_empty(&self) -> bool {
        self.items.is_empty() && self.lost == 0
    }

    fn pop(&mut self) -> Option<Message> {
        if self.lost > 0 {
            let n = std::mem::take(&mut self.lost);
            return Some(Message::lagged(n));
        }
        let m = self.items.pop_front()?;
        self.bytes -= m.cost();
        Some(m)
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; `evicted` older messages were dropped to make room.
    Queued { evicted: u32 },
    /// Not queued (full, volatile, or the connection is closed).
    Dropped,
    /// Not queued and the `disconnect` policy fired: the caller must close
    /// the connection (after releasing its locks).
    Overflow,
}

/// Result of a push, with the follow-up the caller owes once unlocked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PushOutcome {
    pub(crate) pushed: Pushed,
    /// The notify callback must be fired.
    pub(crate) notify: bool,
}

/// The queue itself, owned by the connection.
///
/// `repr(C)`: the fields every push reads or writes come first, in one run
/// of memory that [`Queue::hot_ptr`] names and a fan-out prefetches; the
/// alignment makes that run exactly two cache lines (the lock, the ring
/// with its inline slots, the bounds). The rarely used fields (wakers,
/// blocking receivers, the notify callback) follow.
#[repr(C, align(64))]
pub(crate) struct Queue {
    state: SpinMutex<State>,
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
    /// read-modify-write. A receiver sets it before the re-check that takes
    /// the queue lock; a push reads it after releasing that lock, so a push
    /// ordered after the re-check always sees it.
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
    /// channel) makes the store visible.
    ready: AtomicBool,
    policy: OverflowPolicy,
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

impl Queue {
    pub(crate) fn new(max_len: usize, max_bytes: usize, policy: OverflowPolicy) -> Queue {
        Queue {
            state: SpinMutex::new(State {
                items: Ring::new(),
                bytes: 0,
                lost: 0,
                sealed: false,
                closed: false,
                reason: None,
                waiting: 0,
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

    /// The address of the data a push touches first (the lock and the
    /// deque header), for prefetching.
    #[inline(always)]
    pub(crate) fn hot_ptr(&self) -> *const u8 {
        std::ptr::from_ref(&self.state).cast()
    }

    /// The end of the fields a push touches (see the struct docs): with
    /// `hot_ptr`, the span a fan-out prefetches.
    #[inline(always)]
    pub(crate) fn hot_end(&self) -> *const u8 {
        std::ptr::from_ref(&self.policy).cast::<u8>().wrapping_add(std::mem::size_of::<OverflowPolicy>() - 1)
    }

    /// Where the next push will write, as last published (a hint).
    #[inline(always)]
    pub(crate) fn slot_hint(&self) -> *const u8 {
        self.slot_hint.load(Ordering::Relaxed) as *const u8
    }

    /// Pushes one message. `volatile` messages are dropped when full and
    /// never trigger the policy; `control` messages (disconnect notices,
    /// ack replies) bypass the bounds so the client always learns them.
    #[inline(always)]
    pub(crate) fn push(&self, refs: &mut Prepaid<'_>, volatile: bool, control: bool) -> PushOutcome {
        let cost = refs.message().cost();
        let mut st = self.state.lock();
        let was_empty = st.is_empty();
        let mut evicted = 0u32;
        if st.sealed || (!control && self.full(&st, cost)) {
            match self.make_room(&mut st, volatile, cost) {
                Ok(n) => evicted = n,
                Err(pushed) => return PushOutcome { pushed, notify: false },
            }
        }
        let next_slot = st.items.push_back(refs.take());
        st.bytes += cost;
        self.ready.store(true, Ordering::Relaxed);
        self.slot_hint.store(next_slot as usize, Ordering::Relaxed);
        let wake_blocked = st.waiting > 0;
        drop(st);
        if wake_blocked {
            self.wake_one_blocked();
        }
        let mut notify = false;
        if was_empty {
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

    /// The rare part of a push: a sealed outbox, or a data message that
    /// does not fit. Either frees room (`drop_oldest`: how many messages it
    /// evicted) or says what became of the message.
    #[cold]
    #[inline(never)]
    fn make_room(&self, st: &mut State, volatile: bool, cost: usize) -> Result<u32, Pushed> {
        if st.sealed || volatile {
            return Err(Pushed::Dropped);
        }
        match self.policy {
            OverflowPolicy::DropNewest => Err(Pushed::Dropped),
            OverflowPolicy::Disconnect => {
                st.sealed = true;
                Err(Pushed::Overflow)
            }
            OverflowPolicy::DropOldest => {
                // Evict the oldest *data* messages: control messages (ack
                // replies, disconnect notices) are never lost.
                let mut evicted = 0u32;
                while self.full(st, cost) {
                    let Some(i) = (0..st.items.len()).find(|&i| st.items.get(i).is_some_and(|m| !m.is_control()))
                    else {
                        break;
                    };
                    let Some(old) = st.items.remove(i) else { break };
                    st.bytes -= old.cost();
                    st.lost += 1;
                    evicted += 1;
                }
                Ok(evicted)
            }
        }
    }

    /// Wakes one thread blocked in a receive (a push saw one waiting).
    #[cold]
    #[inline(never)]
    fn wake_one_blocked(&self) {
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

    pub(crate) fn len(&self) -> usize {
        // As in the non-blocking receives: an outbox last seen empty and
        // open answers without its lock.
        if !self.ready.load(Ordering::Relaxed) {
            return 0;
        }
        let st = self.state.lock();
        st.items.len() + usize::from(st.lost > 0)
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

    fn set_notify(&self, cb: Option<NotifyFn>) {
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

    fn try_recv(&self) -> Result<Message, TryRecvError> {
        if !self.ready.load(Ordering::Relaxed) {
            return Err(TryRecvError::Empty);
        }
        let mut st = self.state.lock();
        let m = st.pop();
        self.settle(&st);
        match m {
            Some(m) => Ok(m),
            None if st.closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Blocks until `take` yields something, the queue closes (and `take`
    /// found nothing), or the deadline passes.
    fn wait_for<T>(
        &self,
        deadline: Option<Instant>,
        mut take: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<T, RecvTimeoutError> {
        loop {
            {
                let mut st = self.state.lock();
                if let Some(v) = take(&mut st) {
                    return Ok(v);
                }
                if st.closed {
                    return Err(RecvTimeoutError::Closed);
                }
                st.waiting += 1;
            }
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
            let mut st = self.state.lock();
            st.waiting -= 1;
            if let Some(v) = take(&mut st) {
                return Ok(v);
            }
            if st.closed {
                return Err(RecvTimeoutError::Closed);
            }
            if timed_out {
                return Err(RecvTimeoutError::Timeout);
            }
        }
    }

    fn recv_deadline(&self, deadline: Option<Instant>) -> Result<Message, RecvTimeoutError> {
        self.wait_for(deadline, State::pop)
    }

    /// Moves up to `max` messages into `buf` without blocking: a pending
    /// lagged notice first (as `pop` would), then queued messages in one
    /// bulk move.
    fn drain_into(st: &mut State, buf: &mut Vec<Message>, max: usize) -> usize {
        let mut n = 0;
        if max > 0 && st.lost > 0 {
            buf.extend(st.pop());
            n = 1;
        }
        let k = (max - n).min(st.items.len());
        if k == st.items.len() {
            // Everything goes: no need to read each message's cost.
            st.bytes = 0;
        } else {
            for i in 0..k {
                st.bytes -= st.items.get(i).map_or(0, Message::cost);
            }
        }
        st.items.move_front_into(buf, k);
        n + k
    }

    fn recv_many_deadline(
        &self,
        buf: &mut Vec<Message>,
        max: usize,
        deadline: Option<Instant>,
    ) -> Result<usize, RecvTimeoutError> {
        if max == 0 {
            return Ok(0);
        }
        self.wait_for(deadline, |st| match Self::drain_into(st, buf, max) {
            0 => None,
            n => Some(n),
        })
    }

    /// Registers the task to wake on the next empty -> non-empty push (the
    /// caller re-checks the queue afterwards).
    fn register_waker(&self, cx: &Context<'_>) {
        self.has_waker.store(true, Ordering::Relaxed);
        self.waker.register(cx.waker());
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Message, RecvError>> {
        match self.try_recv() {
            Ok(m) => return Poll::Ready(Ok(m)),
            Err(TryRecvError::Closed) => return Poll::Ready(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => {}
        }
        self.register_waker(cx);
        // Re-check after registering: a push between the first check and the
        // registration saw an empty queue and woke the previous waker.
        match self.try_recv() {
            Ok(m) => Poll::Ready(Ok(m)),
            Err(TryRecvError::Closed) => Poll::Ready(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => Poll::Pending,
        }
    }

    fn poll_recv_many(
        &self,
        cx: &mut Context<'_>,
        buf: &mut Vec<Message>,
        max: usize,
    ) -> Poll<Result<usize, RecvError>> {
        for attempt in 0..2 {
            {
                let mut st = self.state.lock();
                let n = Self::drain_into(&mut st, buf, max);
                if n > 0 || max == 0 {
                    return Poll::Ready(Ok(n));
                }
                if st.closed {
                    return Poll::Ready(Err(RecvError::Closed));
                }
            }
            if attempt == 0 {
                self.register_waker(cx);
            }
        }
        Poll::Pending
    }
}

/// `now + timeout`, or no deadline at all when that is past what `Instant`
/// can represent (`Duration::MAX` means "wait forever").
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// The receiving end of a connection: what the host drains and writes to
/// the wire. One per connection, created by [`Engine::connect`](crate::Engine::connect).
///
/// All receive methods take `&self` and may be called from any thread;
/// async receiving (`recv_async`, the `Stream` impl) supports one task at a
/// time. Dropping the `Outbox` closes the connection with reason
/// `transport close`: nobody could read what it would receive.
///
/// ```
/// use roomcast::{Engine, Config, Handshake, TryRecvError};
/// let engine = Engine::new(Config::default());
/// let (conn, outbox) = engine.connect();
/// let socket = conn.join_namespace("/", Handshake::new())?;
/// socket.emit("hello", "world")?;
/// let msg = outbox.try_recv().unwrap();
/// assert_eq!(msg.event_name(), Some("hello"));
/// assert_eq!(outbox.try_recv().unwrap_err(), TryRecvError::Empty);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Outbox {
    pub(crate) conn: Arc<ConnInner>,
}

impl Outbox {
    fn q(&self) -> &Queue {
        &self.conn.queue
    }

    /// Blocks until a message is available; `Err(Closed)` once the
    /// connection is closed and drained.
    pub fn recv(&self) -> Result<Message, RecvError> {
        self.q().recv_deadline(None).map_err(|_| RecvError::Closed)
    }

    /// Returns a message if one is queued.
    pub fn try_recv(&self) -> Result<Message, TryRecvError> {
        self.q().try_recv()
    }

    /// Blocks for at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, RecvTimeoutError> {
        self.q().recv_deadline(deadline(timeout))
    }

    /// Blocks until at least one message is queued, then moves up to `max`
    /// into `buf` (appending) and returns how many. Lets one transport write
    /// carry many messages.
    pub fn recv_many(&self, buf: &mut Vec<Message>, max: usize) -> Result<usize, RecvError> {
        self.q().recv_many_deadline(buf, max, None).map_err(|_| RecvError::Closed)
    }

    /// Like [`recv_many`](Self::recv_many) but waits at most `timeout`.
    pub fn recv_many_timeout(
        &self,
        buf: &mut Vec<Message>,
        max: usize,
        timeout: Duration,
    ) -> Result<usize, RecvTimeoutError> {
        self.q().recv_many_deadline(buf, max, deadline(timeout))
    }

    /// Moves up to `max` queued messages into `buf` without blocking;
    /// `Ok(0)` when empty, `Err(Closed)` when closed and drained.
    pub fn try_recv_many(&self, buf: &mut Vec<Message>, max: usize) -> Result<usize, TryRecvError> {
        let q = self.q();
        if !q.ready.load(Ordering::Relaxed) {
            return Ok(0);
        }
        let mut st = q.state.lock();
        let n = Queue::drain_into(&mut st, buf, max);
        q.settle(&st);
        if n == 0 && st.closed && max > 0 {
            return Err(TryRecvError::Closed);
        }
        Ok(n)
    }

    /// Waits for the next message without blocking the thread.
    pub fn recv_async(&self) -> RecvFuture<'_> {
        RecvFuture { outbox: self }
    }

    /// Waits for at least one message, then moves up to `max` into `buf`.
    pub fn recv_many_async<'a>(&'a self, buf: &'a mut Vec<Message>, max: usize) -> RecvManyFuture<'a> {
        RecvManyFuture { outbox: self, buf, max }
    }

    /// Installs the callback fired when the outbox goes from empty to
    /// non-empty, and when it closes — the hook for event-loop hosts (write
    /// to an eventfd or pipe, then drain with `try_recv_many`).
    ///
    /// It runs on the thread that made the transition (an emitter, or the
    /// closer), after every engine lock is released, so it may call into the
    /// engine; it should be quick. If messages are already waiting, it fires
    /// once right away, on this thread.
    pub fn set_notify(&self, callback: impl Fn() + Send + Sync + 'static) {
        self.q().set_notify(Some(Arc::new(callback)));
    }

    /// Removes the notify callback.
    pub fn clear_notify(&self) {
        self.q().set_notify(None);
    }

    /// Messages currently queued (a pending lagged notice counts as one).
    pub fn len(&self) -> usize {
        self.q().len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the connection is closed (messages may still be queued).
    pub fn is_closed(&self) -> bool {
        self.q().is_closed()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<DisconnectReason> {
        self.q().close_reason()
    }

    /// The connection this outbox belongs to.
    pub fn connection(&self) -> crate::Connection {
        crate::Connection { inner: self.conn.clone() }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        crate::connection::close_conn(&self.conn, DisconnectReason::TransportClose);
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("connection", &self.conn.id).field("len", &self.len()).finish()
    }
}

impl futures_core::Stream for Outbox {
    type Item = Message;

    /// Yields messages until the connection is closed and drained.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.q().poll_recv(cx).map(Result::ok)
    }
}

/// Future of [`Outbox::recv_async`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct RecvFuture<'a> {
    outbox: &'a Outbox,
}

impl Future for RecvFuture<'_> {
    type Output = Result<Message, RecvError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.outbox.q().poll_recv(cx)
    }
}

/// Future of [`Outbox::recv_many_async`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct RecvManyFuture<'a> {
    outbox: &'a Outbox,
    buf: &'a mut Vec<Message>,
    max: usize,
}

impl Future for RecvManyFuture<'_> {
    type Output = Result<usize, RecvError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.outbox.q().poll_recv_many(cx, this.buf, this.max)
    }
}

#[cfg(test)]
mod layout {
    use super::*;

    #[test]
    fn a_push_touches_two_cache_lines() {
        let q = Queue::new(8, 1024, OverflowPolicy::DropOldest);
        let base = std::ptr::from_ref(&q) as usize;
        assert_eq!(base % 64, 0, "the queue starts a cache line");
        assert!(q.hot_end() as usize - base < 128, "the fields a push touches fit two lines");
    }
}
