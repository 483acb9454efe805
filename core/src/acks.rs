//! Acknowledgements: emits that expect one reply per recipient.
//!
//! An ack emit allocates one id in its namespace, registers an [`AckState`]
//! under it, and sends one shared message carrying the id to every
//! recipient (Socket.IO uses one id per broadcast, too). The transport
//! reports each client reply with [`Socket::receive_ack`]; the state records
//! it. Recipients whose outbox refused the message resolve at once with
//! [`AckError::NotDelivered`], recipients that disconnect resolve with
//! [`AckError::Disconnected`], and the engine's timer thread resolves the
//! rest with [`AckError::Timeout`] at the deadline, whether or not anyone
//! is polling and whether or not a tokio runtime exists.
//!
//! Replies for an unknown, finished or already-answered id are ignored and
//! counted in [`Stats::acks_ignored`](crate::Stats).

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, VecDeque};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::lock_order::{Mutex, Rank};
use atomic_waker::AtomicWaker;
use parking_lot::Condvar;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::error::AckError;
use crate::payload::Payload;

/// A namespace's pending ack emits by id (its lock has rank `NsAcks`). An
/// [`AckState`] removes itself when it completes.
pub(crate) type AckTable = Mutex<FxHashMap<u64, Arc<AckState>>>;

/// One recipient's answer to an ack emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckReply {
    /// The recipient socket's id.
    pub socket_id: String,
    /// Its reply, or why there is none.
    pub result: Result<Payload, AckError>,
}

/// Guarded by `AckState::inner`.
struct AckInner {
    /// True until the recipients are known; replies arriving meanwhile wait
    /// in `early`.
    building: bool,
    early: SmallVec<[(u64, Payload); 1]>,
    /// Recipients still expected to answer: socket key -> socket id.
    pending: FxHashMap<u64, Arc<str>>,
    /// Results not yet taken by the consumer, in arrival order.
    ready: VecDeque<AckReply>,
    /// Number of recipients (known once `building` is false).
    expected: usize,
    /// Results handed to the consumer so far.
    taken: usize,
}

pub(crate) struct AckState {
    id: u64,
    table: Weak<AckTable>,
    inner: Mutex<AckInner>,
    /// Signalled whenever a result arrives, for blocking consumers.
    cond: Condvar,
    /// Woken whenever a result arrives, for the async consumer.
    waker: AtomicWaker,
}

/// What a state change did, so the caller can update the registry and the
/// counters after releasing the state's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) accepted: bool,
    pub(crate) complete: bool,
}

impl AckState {
    pub(crate) fn new(id: u64, table: Weak<AckTable>) -> AckState {
        AckState {
            id,
            table,
            inner: Mutex::new(
                Rank::AckState,
                AckInner {
                    building: true,
                    early: SmallVec::new(),
                    pending: FxHashMap::default(),
                    ready: VecDeque::new(),
                    expected: 0,
                    taken: 0,
                },
            ),
            cond: Condvar::new(),
            waker: AtomicWaker::new(),
        }
    }

    fn wake(&self) {
        self.cond.notify_all();
        self.waker.wake();
    }

    fn complete(st: &AckInner) -> bool {
        !st.building && st.pending.is_empty()
    }

    /// Records the recipients: `(key, id, queued)`. Replies that arrived
    /// early are matched now; a recipient whose outbox refused the message
    /// resolves with `NotDelivered`. Returns how many early replies were
    /// ignored, and whether the state is complete.
    pub(crate) fn finalize(&self, recipients: Vec<(u64, Arc<str>, Result<(), AckError>)>) -> (u64, bool) {
        let mut st = self.inner.lock();
        st.building = false;
        st.expected = recipients.len();
        for (key, id, status) in recipients {
            match status {
                Ok(()) => {
                    st.pending.insert(key, id);
                }
                Err(e) => st.ready.push_back(AckReply { socket_id: id.to_string(), result: Err(e) }),
            }
        }
        let mut ignored = 0;
        for (key, payload) in std::mem::take(&mut st.early) {
            match st.pending.remove(&key) {
                Some(id) => st.ready.push_back(AckReply { socket_id: id.to_string(), result: Ok(payload) }),
                None => ignored += 1,
            }
        }
        let complete = Self::complete(&st);
        drop(st);
        self.wake();
        (ignored, complete)
    }

    /// A reply from socket `key`.
    pub(crate) fn reply(&self, key: u64, payload: Payload) -> Change {
        let mut st = self.inner.lock();
        if st.building {
            st.early.push((key, payload));
            return Change { accepted: true, complete: false };
        }
        let Some(id) = st.pending.remove(&key) else {
            return Change { accepted: false, complete: Self::complete(&st) };
        };
        st.ready.push_back(AckReply { socket_id: id.to_string(), result: Ok(payload) });
        let complete = Self::complete(&st);
        drop(st);
        self.wake();
        Change { accepted: true, complete }
    }

    /// Resolves socket `key` with an error (it disconnected).
    pub(crate) fn fail(&self, key: u64, err: AckError) -> Change {
        let mut st = self.inner.lock();
        if st.building {
            // Not a recipient yet: `finalize` will see the socket gone.
            return Change { accepted: false, complete: false };
        }
        let Some(id) = st.pending.remove(&key) else {
            return Change { accepted: false, complete: Self::complete(&st) };
        };
        st.ready.push_back(AckReply { socket_id: id.to_string(), result: Err(err) });
        let complete = Self::complete(&st);
        drop(st);
        self.wake();
        Change { accepted: true, complete }
    }

    /// The deadline passed: every pending recipient times out.
    fn expire(&self) {
        let mut st = self.inner.lock();
        let pending = std::mem::take(&mut st.pending);
        st.building = false;
        for (_, id) in pending {
            st.ready.push_back(AckReply { socket_id: id.to_string(), result: Err(AckError::Timeout) });
        }
        drop(st);
        self.wake();
        self.unregister();
    }

    /// Removes this state from its namespace's registry.
    pub(crate) fn unregister(&self) {
        if let Some(table) = self.table.upgrade() {
            let mut acks = table.lock();
            if acks.get(&self.id).is_some_and(|s| std::ptr::eq(Arc::as_ptr(s), self)) {
                acks.remove(&self.id);
            }
        }
    }

    fn take(&self, st: &mut AckInner) -> Option<Option<AckReply>> {
        if let Some(r) = st.ready.pop_front() {
            st.taken += 1;
            return Some(Some(r));
        }
        if !st.building && st.taken >= st.expected {
            return Some(None);
        }
        None
    }
}

/// The replies to an ack emit: one [`AckReply`] per recipient, in arrival
/// order. Use it as a [`Stream`](futures_core::Stream), `.await` it for all
/// replies, or block with [`wait`](Self::wait).
///
/// ```
/// use std::time::Duration;
/// use roomcast::{Engine, Config, Handshake, AckError};
/// let engine = Engine::new(Config::default());
/// let (conn, outbox) = engine.connect();
/// let socket = conn.join_namespace("/", Handshake::new())?;
/// let acks = engine.of("/")?.timeout(Duration::from_millis(50)).emit_with_ack("ping", "?")?;
/// assert_eq!(acks.expected(), 1);
/// // The transport would relay the client's reply:
/// let id = outbox.try_recv()?.ack_id().unwrap();
/// socket.receive_ack(id, "pong")?;
/// let replies = acks.wait();
/// assert_eq!(replies[0].result.as_ref().unwrap().as_str(), Some("pong"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AckStream {
    state: Arc<AckState>,
    expected: usize,
}

impl AckStream {
    pub(crate) fn new(state: Arc<AckState>, expected: usize) -> AckStream {
        AckStream { state, expected }
    }

    /// How many replies to expect (one per recipient), known at once.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// The ack id carried by the emitted message.
    pub fn ack_id(&self) -> u64 {
        self.state.id
    }

    /// The next reply if one is ready; `Ok(None)` when every reply was taken.
    pub fn try_next(&self) -> Result<Option<AckReply>, AckPending> {
        let mut st = self.state.inner.lock();
        self.state.take(&mut st).ok_or(AckPending)
    }

    /// Blocks for the next reply; `None` when every reply was taken.
    pub fn next_blocking(&self) -> Option<AckReply> {
        let mut st = self.state.inner.lock();
        loop {
            if let Some(r) = self.state.take(&mut st) {
                return r;
            }
            self.state.cond.wait(st.inner_mut());
        }
    }

    /// Blocks for the next reply at most `timeout`.
    pub fn next_timeout(&self, timeout: Duration) -> Result<Option<AckReply>, AckPending> {
        let Some(deadline) = crate::queue::deadline(timeout) else {
            return Ok(self.next_blocking());
        };
        let mut st = self.state.inner.lock();
        loop {
            if let Some(r) = self.state.take(&mut st) {
                return Ok(r);
            }
            if self.state.cond.wait_until(st.inner_mut(), deadline).timed_out() {
                return self.state.take(&mut st).ok_or(AckPending);
            }
        }
    }

    /// Blocks until every recipient has answered, failed or timed out;
    /// returns the replies not taken yet, in arrival order.
    pub fn wait(self) -> Vec<AckReply> {
        let mut out = Vec::with_capacity(self.expected);
        while let Some(r) = self.next_blocking() {
            out.push(r);
        }
        out
    }

    /// Blocks for the first reply: the natural call for a single-socket
    /// ack. `Err(NoRecipients)` when the emit selected nobody.
    pub fn wait_one(self) -> Result<Payload, AckError> {
        self.next_blocking().map_or(Err(AckError::NoRecipients), |r| r.result)
    }

    /// Awaits the first reply (see [`wait_one`](Self::wait_one)).
    pub async fn one(self) -> Result<Payload, AckError> {
        let mut this = self;
        match std::future::poll_fn(|cx| this.poll_reply(cx)).await {
            Some(r) => r.result,
            None => Err(AckError::NoRecipients),
        }
    }

    fn poll_reply(&mut self, cx: &mut Context<'_>) -> Poll<Option<AckReply>> {
        {
            let mut st = self.state.inner.lock();
            if let Some(r) = self.state.take(&mut st) {
                return Poll::Ready(r);
            }
        }
        self.state.waker.register(cx.waker());
        let mut st = self.state.inner.lock();
        match self.state.take(&mut st) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

impl Drop for AckStream {
    /// Nobody will read the replies: stop tracking them (later replies are
    /// ignored and counted).
    fn drop(&mut self) {
        self.state.unregister();
    }
}

impl std::fmt::Debug for AckStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckStream").field("id", &self.state.id).field("expected", &self.expected).finish()
    }
}

/// No reply is ready yet (from [`AckStream::try_next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no ack reply is ready yet")]
pub struct AckPending;

impl futures_core::Stream for AckStream {
    type Item = AckReply;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AckReply>> {
        self.get_mut().poll_reply(cx)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let st = self.state.inner.lock();
        let left = st.expected.saturating_sub(st.taken);
        (st.ready.len(), Some(left))
    }
}

/// Future of `ack_stream.await`: every reply.
#[must_use = "futures do nothing unless polled"]
pub struct AckCollect {
    stream: AckStream,
    out: Vec<AckReply>,
}

impl Future for AckCollect {
    type Output = Vec<AckReply>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<AckReply>> {
        let this = self.get_mut();
        loop {
            match this.stream.poll_reply(cx) {
                Poll::Ready(Some(r)) => this.out.push(r),
                Poll::Ready(None) => return Poll::Ready(std::mem::take(&mut this.out)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl IntoFuture for AckStream {
    type Output = Vec<AckReply>;
    type IntoFuture = AckCollect;
    fn into_future(self) -> AckCollect {
        let cap = self.expected;
        AckCollect { stream: self, out: Vec::with_capacity(cap) }
    }
}

// ---------------------------------------------------------------------------
// Timer

struct Entry {
    at: Instant,
    seq: u64,
    ack: Weak<AckState>,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.seq == o.seq
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Reversed, so the `BinaryHeap` pops the earliest deadline first.
    fn cmp(&self, o: &Self) -> CmpOrdering {
        o.at.cmp(&self.at).then(o.seq.cmp(&self.seq))
    }
}

struct TimerState {
    heap: BinaryHeap<Entry>,
    seq: u64,
    shutdown: bool,
}

/// One thread per engine (started on the first ack emit) that resolves ack
/// emits at their deadline. Holds only weak references to ack states.
pub(crate) struct Timer {
    state: Mutex<TimerState>,
    cond: Condvar,
}

/// The name of the timer's thread (tests look for it).
pub(crate) const TIMER_THREAD_NAME: &str = "roomcast-ack-timer";

/// A running timer and its thread, owned by the engine's `Shared`.
pub(crate) struct TimerThread {
    pub(crate) timer: Arc<Timer>,
    thread: std::thread::JoinHandle<()>,
}

impl TimerThread {
    /// Stops the timer and waits for its thread to end.
    ///
    /// The last engine handle can drop on the timer thread itself: an
    /// expiring ack briefly holds its namespace (`AckState::unregister`),
    /// which holds the engine. A thread cannot join itself, so there the
    /// handle is dropped instead; the thread is already on its way out (it
    /// returns as soon as the expiry it is running returns and it sees the
    /// shutdown flag). Everywhere else this waits, and the wait is short:
    /// the thread holds no lock the caller could hold (an engine drop runs
    /// with no engine lock held) and runs no user code but ack wake-ups.
    pub(crate) fn stop(self) {
        self.timer.shutdown();
        if self.thread.thread().id() != std::thread::current().id() {
            // Err only if the thread panicked; there is nothing left to stop.
            let _ = self.thread.join();
        }
    }
}

impl Timer {
    pub(crate) fn start() -> std::io::Result<TimerThread> {
        let timer = Arc::new(Timer {
            state: Mutex::new(Rank::Timer, TimerState { heap: BinaryHeap::new(), seq: 0, shutdown: false }),
            cond: Condvar::new(),
        });
        let t = timer.clone();
        let thread = std::thread::Builder::new().name(TIMER_THREAD_NAME.into()).spawn(move || t.run())?;
        Ok(TimerThread { timer, thread })
    }

    pub(crate) fn schedule(&self, at: Instant, ack: &Arc<AckState>) {
        let mut st = self.state.lock();
        st.seq += 1;
        let seq = st.seq;
        let earliest = st.heap.peek().is_none_or(|e| at < e.at);
        st.heap.push(Entry { at, seq, ack: Arc::downgrade(ack) });
        drop(st);
        if earliest {
            self.cond.notify_one();
        }
    }

    pub(crate) fn shutdown(&self) {
        self.state.lock().shutdown = true;
        self.cond.notify_one();
    }

    fn run(&self) {
        let mut st = self.state.lock();
        loop {
            if st.shutdown {
                return;
            }
            let now = Instant::now();
            match st.heap.peek() {
                None => self.cond.wait(st.inner_mut()),
                Some(e) if e.at <= now => {
                    let Some(e) = st.heap.pop() else { continue };
                    drop(st);
                    if let Some(ack) = e.ack.upgrade() {
                        ack.expire();
                    }
                    st = self.state.lock();
                }
                Some(e) => {
                    let at = e.at;
                    self.cond.wait_until(st.inner_mut(), at);
                }
            }
        }
    }
}
