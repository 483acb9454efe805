//! One Engine.IO session: one roomcast [`Connection`], its sockets in every
//! namespace the client joined, the transport (long-polling, WebSocket, or
//! polling upgraded to WebSocket), the heartbeat and the session task.
//!
//! A session is **one task** (`run`). It owns the [`Outbox`]: it drains it
//! with `recv_many`, turns messages into frames (encoded once per message,
//! see `wire`), merges the session's own packets (CONNECT replies, pings,
//! probes) and writes everything gathered in one flush: WebSocket frames,
//! or the polling buffer the next GET takes. On WebSocket the same task
//! reads the socket (see `ws`), decodes packets and calls the engine:
//! `join_namespace`, `dispatch`, `receive_ack`, `disconnect_with` (over
//! polling each POST does that). It also runs the session's timers (one
//! `Sleep`, re-armed): the **heartbeat** sends a ping every
//! `ping_interval` and closes the session with `ping timeout` when no pong
//! came within `ping_timeout`; the **connect timeout** closes a session
//! that joined no namespace.
//!
//! An idle WebSocket session is one task and a few small allocations: the
//! read buffer is on the stack of the poll that reads, the write buffer
//! exists only during a flush, and commands to the task wait in a plain
//! vector that is empty when idle.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use roomcast::{Connection, DisconnectReason, Engine, Handshake, Message, Outbox};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::eio::{self, Frame};
use crate::server::Shared;
use crate::ws::{self, Event};

/// The layer on top of the Engine.IO session: it gives the session its
/// roomcast connection (whose outbox the session drains), takes the
/// session's messages (`4` packets and binary ones) and turns outbox
/// messages into frames. The Socket.IO layer is one (`crate::socketio`),
/// the public Engine.IO layer another (`crate::engineio`). Every method is
/// static: the session task is compiled once per layer, with no dynamic
/// call on its path from outbox to socket.
pub(crate) trait Layer: Send + Sync + Sized + 'static {
    /// Per-session state of the layer.
    type State: Send + Sync;
    /// State kept by the session task between rounds (e.g. messages held back).
    type Task: Default + Send;
    /// Commands from the layer to the session task.
    type Cmd: Send;
    /// Whether a session must do something (`Layer::connected`) within
    /// the server's `connect_timeout`.
    const CONNECT_TIMEOUT: bool;

    /// The engine sessions get their connection (and outbox) from.
    fn engine(&self) -> &Engine;
    /// The state of a new session.
    fn state(&self) -> Self::State;
    /// The session is registered and its task about to start.
    fn on_open(_sess: &Arc<Session<Self>>) {}
    /// A message from the client (`Packet::Message` or `Packet::Binary`).
    /// `Err` carries the reason the session must close for
    /// (`transport error` only for a message over the size limit).
    fn on_message(sess: &Session<Self>, packet: eio::Packet) -> Result<(), DisconnectReason>;
    /// Appends the frames of `msgs` (drained) to `out`.
    fn frames(sess: &Session<Self>, task: &mut Self::Task, msgs: std::vec::Drain<'_, Message>, out: &mut Vec<Frame>);
    /// Acts on a command of the layer, in the session task.
    fn on_cmd(sess: &Session<Self>, task: &mut Self::Task, cmd: Self::Cmd, out: &mut Vec<Frame>);
    /// When the layer's pending input must be complete (past it the
    /// session closes with `parse error`).
    fn deadline(_sess: &Session<Self>) -> Option<Instant> {
        None
    }
    /// Whether the session did what the connect timeout asks for.
    fn connected(_sess: &Session<Self>) -> bool {
        true
    }
    /// The session moved to WebSocket.
    fn on_upgrade(_sess: &Session<Self>) {}
    /// The session is over (its task is ending), with the reason of its
    /// first close.
    fn on_close(_sess: &Session<Self>, _reason: DisconnectReason) {}
}

/// Messages taken from the outbox per round of the session task (more
/// when the round dispatched more inbound events, see `run`).
const BATCH: usize = 256;

/// Back-pressure on inbound events, from the outbox's bound `max_queue`
/// (which also bounds its ack replies): the session dispatches at most
/// `max_queue / 4` events per round and reads nothing more while events
/// are pending or its outbox holds `max_queue / 2` messages or more, so
/// ack replies stay under their bound and the client's writes wait in TCP
/// until the session has written what it owes.
fn inbound_limits(max_queue: usize) -> (usize, usize) {
    ((max_queue / 4).max(1), (max_queue / 2).max(1))
}

/// Frames a polling session may have waiting for a GET before the task
/// stops draining the outbox.
const POLL_BACKLOG: usize = 1024;

/// A batch keeps at most this capacity between rounds (a larger
/// one, grown by a burst, is freed).
const KEEP_BATCH_CAPACITY: usize = 16;

/// Commands to the session task.
pub(crate) enum Ctrl<L: Layer> {
    /// A command of the layer.
    Layer(L::Cmd),
    /// The upgrade completed: use this WebSocket from now on, starting
    /// with the events read after the upgrade packet.
    Upgrade(ws::Conn, Vec<Event>),
}

/// What the polling side of a session holds; guarded by `Session::poll`.
#[derive(Default)]
pub(crate) struct PollState {
    /// Frames waiting for the next GET.
    pub(crate) frames: Vec<Frame>,
    /// A GET is waiting right now.
    pub(crate) get_active: bool,
    /// A POST is being handled right now.
    pub(crate) post_active: bool,
    /// The session moved to WebSocket: polling requests are refused.
    pub(crate) upgraded: bool,
    /// The session is over: a GET finding no frames gets a noop when the
    /// client closed it (`ended_by` is `transport close`), else a close packet.
    pub(crate) closed: bool,
    /// Send a close packet to the client when closing.
    pub(crate) close_packet: bool,
    /// The reason of the first close.
    pub(crate) ended_by: Option<DisconnectReason>,
}

pub(crate) struct Session<L: Layer> {
    pub(crate) sid: String,
    pub(crate) shared: Arc<Shared<L>>,
    pub(crate) conn: Connection,
    /// Commands waiting for the session task (`None`: it has ended).
    ctrl: Mutex<Option<Vec<Ctrl<L>>>>,
    /// Wakes the session task: a command or a pong arrived, or a GET took
    /// the polling backlog (a slow poller's messages wait in the outbox,
    /// where its bounds and overflow policy apply, until then).
    pub(crate) wake: Notify,
    /// Polling buffer and flags.
    pub(crate) poll: Mutex<PollState>,
    /// Woken (all waiters: the pending GET and an upgrade in progress)
    /// when `poll` gets frames or the session closes.
    pub(crate) poll_notify: Notify,
    /// Pongs received so far.
    pongs: AtomicU64,
    /// An upgrade is in progress or done.
    pub(crate) upgrading: AtomicBool,
    /// The handshake of the opening request (headers, query, address),
    /// built once (bounded by `max_handshake_bytes`).
    pub(crate) base: Box<Handshake>,
    /// The layer's state.
    pub(crate) layer: L::State,
}

impl<L: Layer> Session<L> {
    /// The Engine.IO open packet for this session: `upgrades` offers the
    /// WebSocket upgrade (a polling start), with the server's timings.
    fn open_packet(&self, upgrades: bool) -> eio::Frame {
        let o = &self.shared.opts;
        eio::open_packet(&self.sid, upgrades, o.ping_interval.as_millis(), o.ping_timeout.as_millis(), o.max_payload)
    }

    /// Creates a polling session and spawns its task.
    pub(crate) fn start_polling(shared: Arc<Shared<L>>, base: Box<Handshake>) -> Arc<Session<L>> {
        let (sess, outbox) = Session::create(shared, base, false);
        L::on_open(&sess);
        tokio::spawn(run(sess.clone(), outbox, None));
        sess
    }

    /// Runs a session opened directly over WebSocket, in the calling task,
    /// until it ends.
    pub(crate) async fn run_websocket(shared: Arc<Shared<L>>, base: Box<Handshake>, conn: ws::Conn) {
        let (sess, outbox) = Session::create(shared, base, true);
        L::on_open(&sess);
        run(sess, outbox, Some(conn)).await;
    }

    pub(crate) fn create(shared: Arc<Shared<L>>, base: Box<Handshake>, websocket: bool) -> (Arc<Session<L>>, Outbox) {
        let (conn, outbox) = shared.layer.engine().connect();
        // A session id is a bearer credential: core's generator, which
        // fails rather than make a guessable id. Without OS randomness no
        // session can be opened safely, so this task stops here.
        let sid =
            roomcast::random_id().expect("roomcast: the OS random source failed; refusing a guessable session id");
        let sess = Arc::new(Session {
            sid: sid.clone(),
            shared: shared.clone(),
            conn,
            ctrl: Mutex::new(Some(Vec::new())),
            wake: Notify::new(),
            // A WebSocket session never polls.
            poll: Mutex::new(PollState { upgraded: websocket, ..PollState::default() }),
            poll_notify: Notify::new(),
            pongs: AtomicU64::new(0),
            upgrading: AtomicBool::new(websocket),
            base,
            layer: shared.layer.state(),
        });
        shared.sessions.lock().insert(sid, sess.clone());
        if !websocket {
            sess.poll.lock().frames.push(sess.open_packet(true));
        }
        (sess, outbox)
    }

    /// Hands a command of the layer to the session task.
    pub(crate) fn command(&self, c: L::Cmd) {
        self.send(Ctrl::Layer(c));
    }

    /// Wakes the session task (it re-arms its timer for a new `Layer::deadline`).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    fn send(&self, c: Ctrl<L>) {
        let mut guard = self.ctrl.lock();
        // After the task has ended a command has nobody to act on it.
        if let Some(q) = guard.as_mut() {
            q.push(c);
            drop(guard);
            self.wake.notify_one();
        }
    }

    /// The commands waiting for the task (their vector goes with them, so
    /// an idle session holds none).
    fn take_ctrl(&self) -> Vec<Ctrl<L>> {
        self.ctrl.lock().as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Closes the session: every socket disconnects with `reason`; the
    /// task sends what is queued (and a close packet for server-side
    /// reasons), then ends the transport.
    pub(crate) fn close(&self, reason: DisconnectReason) {
        let keep = {
            let mut p = self.poll.lock();
            p.close_packet |= reason.sends_close_packet();
            p.ended_by.get_or_insert(reason);
            // A polling client learns of a server-side close from its next
            // GET: the sid stays known until then (see `end_transport`).
            p.close_packet && !p.upgraded
        };
        if !keep {
            // Unknown from now on: a request with this sid gets error 1
            // even before the task has finished.
            self.shared.sessions.lock().remove(&self.sid);
        }
        self.conn.close(reason);
        // The task may not be waiting on the outbox (a full polling
        // backlog): wake it so it sees the close and ends. An upgrade in
        // progress ends with the session.
        self.wake.notify_one();
        self.poll_notify.notify_waiters();
    }

    /// Whether the session is over (closed, or its task has ended).
    pub(crate) fn is_over(&self) -> bool {
        self.conn.is_closed() || self.poll.lock().closed
    }

    /// Handles one inbound Engine.IO packet. `Err` carries the reason the
    /// session must close for.
    pub(crate) fn on_packet(&self, p: eio::Packet) -> Result<(), DisconnectReason> {
        match p {
            eio::Packet::Close => Err(DisconnectReason::TransportClose),
            // In v4 only the server pings (a client's probe ping belongs to
            // the upgrade, handled there). Not answering also keeps a client
            // that pings without reading from growing the task's queue.
            eio::Packet::Ping(_) => Ok(()),
            eio::Packet::Pong(_) => {
                self.pongs.fetch_add(1, Ordering::AcqRel);
                self.wake.notify_one();
                Ok(())
            }
            eio::Packet::Noop => Ok(()),
            // An upgrade packet outside an upgrade.
            eio::Packet::Upgrade => Err(DisconnectReason::ParseError),
            p @ (eio::Packet::Message(_) | eio::Packet::Binary(_)) => L::on_message(self, p),
        }
    }

    /// Frames waiting for the next GET.
    fn poll_backlog(&self) -> usize {
        self.poll.lock().frames.len()
    }

    /// Queues a noop so a GET pending during an upgrade returns.
    pub(crate) fn push_noop(&self) {
        let mut p = self.poll.lock();
        if !p.upgraded {
            p.frames.push(Frame::text_static("6"));
            drop(p);
            self.poll_notify.notify_waiters();
        }
    }

    /// Completes an upgrade: the session task moves to the WebSocket.
    pub(crate) fn upgrade(&self, conn: ws::Conn, rest: Vec<Event>) {
        self.send(Ctrl::Upgrade(conn, rest));
    }
}

/// Writes `raw` (control frames) then `frames` in one flush.
async fn write_ws(conn: &mut ws::Conn, raw: &mut Vec<u8>, frames: Vec<Frame>) -> bool {
    let size: usize = frames.iter().map(|f| f.len() + 10).sum();
    // Allocated for this flush only: an idle session holds no write buffer.
    let mut out = std::mem::take(raw);
    out.reserve_exact(size);
    for f in &frames {
        match f {
            Frame::Text(t) => ws::text_frame(&mut out, t),
            Frame::Binary(b) => ws::binary_frame(&mut out, b),
        }
    }
    drop(frames);
    conn.write_all(&out).await.is_ok()
}

/// How reading the WebSocket ended the session.
struct ReadEnd {
    reason: DisconnectReason,
    /// The close frame to send (`None`: an empty one).
    code: Option<u16>,
}

/// How long one turn of a task may spend dispatching a client's inbound
/// packets before it lets other tasks run. A client that floods events
/// whose handlers are costly (an ack-requesting event that lists every
/// room, say) would otherwise hold a runtime worker for as long as one
/// read's worth of its events takes, and every other session on that
/// worker, and the I/O driver, would wait behind it.
pub(crate) const TURN: std::time::Duration = std::time::Duration::from_micros(500);

/// Packets dispatched between two looks at the clock; a batch of at most
/// this many never reads the clock (interactive traffic pays nothing).
pub(crate) const TURN_CHECK: usize = 16;

/// Tells a dispatch loop when its turn is over (see [`TURN`]).
pub(crate) struct Turn {
    start: Option<std::time::Instant>,
    done: usize,
}

impl Turn {
    /// A turn for a batch of `len` packets.
    pub(crate) fn new(len: usize) -> Turn {
        Turn { start: (len > TURN_CHECK).then(std::time::Instant::now), done: 0 }
    }

    /// Counts one dispatched packet; true when the turn is used up.
    pub(crate) fn over(&mut self) -> bool {
        self.done += 1;
        self.done % TURN_CHECK == 0 && self.start.is_some_and(|s| s.elapsed() >= TURN)
    }
}

/// Acts on events read from the WebSocket, in order: packets to the
/// session, pongs into `raw`. With `sliced`, stops when the turn is used
/// up and returns the events not yet done (to be done first next turn).
/// Also returns how the session ends when it does.
fn on_events<L: Layer>(
    sess: &Session<L>,
    events: Vec<Event>,
    raw: &mut Vec<u8>,
    sliced: bool,
) -> (Option<ReadEnd>, Vec<Event>) {
    let mut turn = Turn::new(if sliced { events.len() } else { 0 });
    let mut events = events.into_iter();
    while let Some(ev) = events.next() {
        let packet = match ev {
            Event::Text(t) => match eio::decode_text(&t) {
                Ok(p) => p,
                Err(_) => {
                    return (
                        Some(ReadEnd { reason: DisconnectReason::ParseError, code: Some(ws::CLOSE_NORMAL) }),
                        Vec::new(),
                    )
                }
            },
            Event::Binary(b) => eio::Packet::Binary(b),
            Event::Ping(p) => {
                ws::pong_frame(raw, &p);
                continue;
            }
            // The close handshake: echo the client's code.
            Event::Close(code) => {
                return (Some(ReadEnd { reason: DisconnectReason::TransportClose, code }), Vec::new())
            }
        };
        if let Err(reason) = sess.on_packet(packet) {
            // `on_packet` fails with `transport error` only for a packet over the limit.
            let code = if reason == DisconnectReason::TransportError { ws::CLOSE_TOO_BIG } else { ws::CLOSE_NORMAL };
            return (Some(ReadEnd { reason, code: Some(code) }), Vec::new());
        }
        if sess.conn.is_closed() {
            return (None, Vec::new());
        }
        if turn.over() {
            return (None, events.collect());
        }
    }
    (None, Vec::new())
}

/// How late a timer may fire and still count from when it was due (tokio's
/// timer has a 1 ms tick and rounds deadlines up to it).
const TIMER_SLACK: std::time::Duration = std::time::Duration::from_millis(2);

/// The session's timers: the heartbeat and the connect timeout, driven by
/// one `Sleep` in the session task.
struct Timers {
    /// When the next ping goes out (while no pong is awaited).
    next_ping: Instant,
    /// The ping in flight: its deadline and the pong count before it.
    awaiting: Option<(Instant, u64)>,
    /// The connect timeout, until a namespace is joined or it fired.
    connect: Option<Instant>,
    /// The heartbeat gave up (the session is closing).
    stopped: bool,
}

impl Timers {
    fn new<L: Layer>(sess: &Session<L>) -> Timers {
        let now = Instant::now();
        let o = &sess.shared.opts;
        Timers {
            next_ping: now + o.ping_interval,
            awaiting: None,
            connect: L::CONNECT_TIMEOUT.then(|| now + o.connect_timeout),
            stopped: false,
        }
    }

    /// The earliest instant something is due.
    fn deadline(&self) -> Instant {
        let beat = match (self.stopped, self.awaiting) {
            // Far enough never to fire while the session closes.
            (true, _) => self.next_ping + std::time::Duration::from_secs(86_400 * 365),
            (false, Some((d, _))) => d,
            (false, None) => self.next_ping,
        };
        self.connect.map_or(beat, |c| c.min(beat))
    }

    /// A pong counted since the ping: the next ping goes `ping_interval`
    /// after it, as the client expects. Returns whether anything changed.
    fn on_pong<L: Layer>(&mut self, sess: &Session<L>) -> bool {
        match self.awaiting {
            Some((_, before)) if sess.pongs.load(Ordering::Acquire) != before => {
                self.awaiting = None;
                self.next_ping = Instant::now() + sess.shared.opts.ping_interval;
                true
            }
            _ => false,
        }
    }

    /// Acts on what is due: queues a ping into `out`, or closes the session.
    fn fire<L: Layer>(&mut self, sess: &Session<L>, out: &mut Vec<Frame>) {
        let now = Instant::now();
        if self.connect.is_some_and(|c| c <= now) {
            self.connect = None;
            if !L::connected(sess) && !sess.conn.is_closed() {
                sess.close(DisconnectReason::ForcedServerClose);
            }
        }
        if self.stopped || self.on_pong(sess) {
            return;
        }
        match self.awaiting {
            Some((deadline, _)) if deadline <= now => {
                self.stopped = true;
                if !sess.conn.is_closed() {
                    sess.close(DisconnectReason::PingTimeout);
                }
            }
            Some(_) => {}
            None if self.next_ping <= now => {
                // A pong counted before this ping does not count.
                let before = sess.pongs.load(Ordering::Acquire);
                out.push(Frame::text_static("2"));
                // The timeout counts from when the ping was due: a timer
                // fires up to a tick (1 ms) late, and counting from `now`
                // would add that lateness twice to the drop of a silent
                // client. A ping sent much later than due (a busy task)
                // still gives the client its whole timeout.
                let due = self.next_ping.max(now - TIMER_SLACK);
                self.awaiting = Some((due + sess.shared.opts.ping_timeout, before));
            }
            None => {}
        }
    }
}

/// Ends the transport of a closed session (boxed: the task does not carry
/// this state while the session runs). A live WebSocket gets its closing
/// frame and is shut; a polling session closed by the server keeps its sid
/// until a GET has taken the close packet (the reference server answers
/// the next GET with it rather than with `Session ID unknown`), at most
/// `ping_timeout`, unless its client stopped fetching (`abandoned`).
fn end_transport<L: Layer>(
    sess: Arc<Session<L>>,
    ws: Option<ws::Conn>,
    dead: bool,
    code: Option<u16>,
    abandoned: bool,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let limit = sess.shared.opts.ping_timeout;
        match ws {
            Some(mut conn) if !dead => {
                let _ = tokio::time::timeout(limit, conn.close(code)).await;
            }
            Some(_) => {}
            None if abandoned || !sess.poll.lock().close_packet => {}
            None => {
                let until = Instant::now() + limit;
                loop {
                    // A GET that takes the frames wakes the task.
                    let woken = sess.wake.notified();
                    if sess.poll.lock().frames.is_empty() {
                        break;
                    }
                    if tokio::time::timeout_at(until, woken).await.is_err() {
                        break;
                    }
                }
            }
        }
    })
}

/// The session task: see the module doc.
/// (Not an `async fn`: its arguments would be stored twice in the task,
/// once as arguments and once as locals.)
#[allow(clippy::manual_async_fn)]
pub(crate) fn run<L: Layer>(
    sess: Arc<Session<L>>,
    outbox: Outbox,
    mut ws: Option<ws::Conn>,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        // Allocated when messages come and freed after a burst: an idle
        // session holds no batch buffer.
        let mut buf: Vec<Message> = Vec::new();
        let mut out: Vec<Frame> = Vec::new();
        let mut task = L::Task::default();
        // Control frames (pongs) for the next flush.
        let mut raw: Vec<u8> = Vec::new();
        // Events read during an upgrade, after its upgrade packet.
        let mut events: Vec<Event> = Vec::new();
        let mut timers = Timers::new(&sess);
        let (budget, pause) = inbound_limits(sess.shared.layer.engine().config().max_queue());
        let timer = tokio::time::sleep_until(timers.deadline());
        tokio::pin!(timer);
        if let Some(conn) = ws.as_mut() {
            let open = sess.open_packet(false);
            if !Box::pin(write_ws(conn, &mut raw, vec![open])).await {
                sess.close(DisconnectReason::TransportError);
            }
        }
        let mut open = true;
        // The stream failed or ended: nothing more is written to it.
        let mut dead = false;
        // The WebSocket is still read (until the client closes or errs).
        let mut reading = true;
        // The code of the closing WebSocket frame (`None`: an empty one).
        let mut close_code: Option<u16> = None;
        // The outbox's notify hook wakes the task while it does not wait on
        // the outbox (a full polling backlog), so a close still ends it.
        let mut watching = false;
        // A polling client stopped fetching: its close packet is not kept for it.
        let mut abandoned = false;
        while open {
            if !events.is_empty() {
                // The last turn ended with events still to do (see `TURN`),
                // or they wait for room in the outbox: other tasks run first.
                tokio::task::yield_now().await;
            }
            let mut fired = false;
            let mut read = None;
            let has_ws = ws.is_some();
            // Back-pressure: read while the outbox is short, and always while
            // a pong is due (the heartbeat must see it).
            let queued = if has_ws { outbox.len() } else { 0 };
            // Read while nothing waits and the outbox is short, and always
            // while a pong is due (the heartbeat must see it).
            let may_read = has_ws && reading && events.is_empty() && (timers.awaiting.is_some() || queued < pause);
            // Events read earlier wait for room in the outbox.
            let pending = !events.is_empty() && queued < pause;
            let drain = has_ws || sess.poll_backlog() < POLL_BACKLOG;
            watch_close(&sess, &outbox, !drain, &mut watching);
            tokio::select! {
                biased;
                _ = sess.wake.notified() => {}
                // Reads come before the outbox so a busy outbox cannot starve
                // them; the outbox is drained every round below anyway.
                r = std::future::poll_fn(|cx| match ws.as_mut() {
                    Some(c) => c.poll_read(cx),
                    None => std::task::Poll::Pending,
                }), if may_read => read = Some(r),
                r = outbox.recv_many_async(&mut buf, BATCH), if drain => {
                    if r.is_err() {
                        open = false;
                        // Closed by the server side (shutdown, overflow, forced):
                        // tell the client with a close packet.
                        if outbox.close_reason().is_some_and(DisconnectReason::sends_close_packet) {
                            sess.poll.lock().close_packet = true;
                        }
                    }
                }
                () = &mut timer => fired = true,
                () = std::future::ready(()), if pending => {}
            }
            // Take whatever else is ready without waiting: one flush for all.
            for c in sess.take_ctrl() {
                handle_ctrl(&sess, c, &mut out, &mut task, &mut ws, &mut events);
            }
            let mut end = None;
            let evs = match read {
                Some(ws::ReadOutcome::Events(e)) if events.is_empty() && e.len() <= budget => e,
                Some(ws::ReadOutcome::Events(e)) => {
                    events.extend(e);
                    take_events(&mut events, budget)
                }
                Some(ws::ReadOutcome::Eof) => {
                    dead = true;
                    end = Some(ReadEnd { reason: DisconnectReason::TransportClose, code: None });
                    std::mem::take(&mut events)
                }
                Some(ws::ReadOutcome::Failed) => {
                    dead = true;
                    end = Some(ReadEnd { reason: DisconnectReason::TransportError, code: None });
                    std::mem::take(&mut events)
                }
                Some(ws::ReadOutcome::Violation(code)) => {
                    end = Some(ReadEnd { reason: DisconnectReason::TransportError, code: Some(code) });
                    std::mem::take(&mut events)
                }
                None if queued < pause => take_events(&mut events, budget),
                None => Vec::new(),
            };
            // Each inbound event may queue a reply (an ack): the round drains
            // at least as many messages as it read events.
            let want = BATCH.max(evs.len());
            if !evs.is_empty() {
                let (e, mut rest) = on_events(&sess, evs, &mut raw, end.is_none());
                if e.is_some() {
                    end = e;
                }
                if !rest.is_empty() {
                    rest.append(&mut events);
                    events = rest;
                }
            }
            if let Some(e) = end {
                reading = false;
                close_code = e.code;
                sess.close(e.reason);
            }
            let rearm = if fired {
                timers.fire(&sess, &mut out);
                true
            } else {
                timers.on_pong(&sess)
            };
            // A binary packet still waiting for attachments past its deadline.
            let partial = L::deadline(&sess);
            if partial.is_some_and(|d| d <= Instant::now()) && !sess.conn.is_closed() {
                sess.close(DisconnectReason::ParseError);
            }
            let due = partial.map_or(timers.deadline(), |d| d.min(timers.deadline()));
            if rearm || due != timer.deadline() {
                timer.as_mut().reset(due);
            }
            if open && ws.is_none() && outbox.is_closed() && sess.poll_backlog() >= POLL_BACKLOG {
                // Closed while nobody takes the backlog (a poller that went
                // away): end now, dropping what it never fetched.
                open = false;
                abandoned = true;
            }
            if open && buf.len() < want && (ws.is_some() || sess.poll_backlog() < POLL_BACKLOG) {
                let room = want - buf.len();
                let _ = outbox.try_recv_many(&mut buf, room);
            }
            if !buf.is_empty() {
                L::frames(&sess, &mut task, buf.drain(..), &mut out);
            }
            if buf.capacity() > KEEP_BATCH_CAPACITY {
                buf = Vec::new();
            }
            if !open && sess.poll.lock().close_packet {
                out.push(Frame::text_static("1"));
            }
            if out.is_empty() && raw.is_empty() {
                continue;
            }
            let frames = std::mem::take(&mut out);
            match ws.as_mut() {
                Some(_) if dead => {}
                Some(conn) => {
                    // A client that stops reading blocks the write; past a
                    // heartbeat period it is as dead as one that stops answering.
                    let limit = sess.shared.opts.ping_interval + sess.shared.opts.ping_timeout;
                    // Boxed: the write's state exists only while it runs, not in
                    // every idle session's task.
                    let write = Box::pin(tokio::time::timeout(limit, write_ws(conn, &mut raw, frames)));
                    if !matches!(write.await, Ok(true)) {
                        sess.close(DisconnectReason::TransportError);
                        dead = true;
                        break;
                    }
                }
                None => {
                    sess.poll.lock().frames.extend(frames);
                    sess.poll_notify.notify_waiters();
                }
            }
        }
        if watching {
            outbox.clear_notify();
        }
        // No command is taken from now on; a WebSocket waiting among them closes.
        drop(sess.ctrl.lock().take());
        // The connection is closed: end the transport and forget the session.
        sess.close(DisconnectReason::TransportClose);
        let reason = sess.poll.lock().ended_by.unwrap_or(DisconnectReason::TransportClose);
        L::on_close(&sess, reason);
        end_transport(sess.clone(), ws.take(), dead, close_code, abandoned).await;
        sess.poll.lock().closed = true;
        sess.poll_notify.notify_waiters();
        sess.shared.sessions.lock().remove(&sess.sid);
    }
}

/// Installs (`on`) or removes the outbox notify hook that wakes the task
/// when its outbox closes while the task is not receiving from it. The hook
/// holds the session weakly: it never keeps a session alive.
fn watch_close<L: Layer>(sess: &Arc<Session<L>>, outbox: &Outbox, on: bool, watching: &mut bool) {
    if on == *watching {
        return;
    }
    *watching = on;
    if on {
        let weak = Arc::downgrade(sess);
        outbox.set_notify(move || {
            if let Some(s) = weak.upgrade() {
                s.wake.notify_one();
            }
        });
        // A close before the hook was in place fires nothing: check once.
        if outbox.is_closed() {
            sess.wake.notify_one();
        }
    } else {
        outbox.clear_notify();
    }
}

/// Up to `n` events from the front of `events` (all of them when `n` allows).
fn take_events(events: &mut Vec<Event>, n: usize) -> Vec<Event> {
    if events.len() <= n {
        std::mem::take(events)
    } else {
        events.drain(..n).collect()
    }
}

fn handle_ctrl<L: Layer>(
    sess: &Session<L>,
    c: Ctrl<L>,
    out: &mut Vec<Frame>,
    task: &mut L::Task,
    ws: &mut Option<ws::Conn>,
    events: &mut Vec<Event>,
) {
    match c {
        Ctrl::Layer(cmd) => L::on_cmd(sess, task, cmd, out),
        Ctrl::Upgrade(conn, rest) => {
            // Frames no GET has taken go out first, over the WebSocket.
            let mut p = sess.poll.lock();
            p.upgraded = true;
            let mut pending = std::mem::take(&mut p.frames);
            drop(p);
            sess.poll_notify.notify_waiters();
            pending.retain(|f| f != &Frame::text_static("6"));
            pending.append(out);
            *out = pending;
            *ws = Some(conn);
            *events = rest;
            L::on_upgrade(sess);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CONNECT copies the session's handshake, built once from the
    /// opening request, instead of rebuilding it from the request's headers.
    /// Prints both costs for a handshake at the default size bound.
    #[test]
    fn connect_copies_the_handshake_built_once() {
        let headers: Vec<(String, String)> = (0..50).map(|i| (format!("x-filler-{i}"), "v".repeat(300))).collect();
        let build = || {
            let mut hs = Handshake::new();
            for (k, v) in &headers {
                hs = hs.header(k.as_str(), v.as_str());
            }
            hs.query("EIO", "4").address("127.0.0.1:1")
        };
        let base = Box::new(build());
        const N: u32 = 2_000;
        let t = std::time::Instant::now();
        for _ in 0..N {
            std::hint::black_box(build());
        }
        let rebuilt = t.elapsed() / N;
        let t = std::time::Instant::now();
        for _ in 0..N {
            std::hint::black_box(Handshake::clone(&base));
        }
        let copied = t.elapsed() / N;
        eprintln!("handshake per CONNECT (50 x 300 B headers): rebuilt {rebuilt:?}, copied {copied:?}");
        assert_eq!(Handshake::clone(&base), build());
    }

    /// Item 8 of the reference behaviour (crate docs): the ping timeout
    /// counts from when the ping was due, so a ping timer that fires late
    /// (by its tick) does not push the drop of a silent client later.
    #[test]
    fn exact_8_ping_timeout_counts_from_when_the_ping_was_due() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        rt.block_on(async {
            let engine = roomcast::Engine::new(roomcast::Config::default());
            let shared = crate::server::test_shared(engine);
            let (interval, timeout) = (shared.opts.ping_interval, shared.opts.ping_timeout);
            let (sess, _outbox) = Session::create(shared, Box::default(), true);
            let start = Instant::now();
            let mut timers = Timers::new(&sess);
            let mut out = Vec::new();
            // The ping timer fires 1.5 ms late.
            tokio::time::advance(interval + std::time::Duration::from_micros(1500)).await;
            timers.fire(&sess, &mut out);
            assert_eq!(out, vec![Frame::text_static("2")]);
            assert_eq!(timers.deadline(), start + interval + timeout);
            // No pong by the deadline: closed at it.
            tokio::time::advance(timeout - std::time::Duration::from_micros(1500)).await;
            assert_eq!(Instant::now(), start + interval + timeout);
            timers.fire(&sess, &mut out);
            assert!(sess.conn.is_closed(), "not closed at the deadline");
            // A ping sent long after it was due still gets its whole timeout.
            let (sess, _outbox) = Session::create(
                crate::server::test_shared(roomcast::Engine::new(roomcast::Config::default())),
                Box::default(),
                true,
            );
            let mut timers = Timers::new(&sess);
            tokio::time::advance(interval + std::time::Duration::from_secs(1)).await;
            timers.fire(&sess, &mut out);
            assert_eq!(timers.deadline(), Instant::now() + timeout - TIMER_SLACK);
        });
    }

    /// What an idle WebSocket session holds besides the engine's connection:
    /// its task's state and the session. Measured here so a change that
    /// grows them (a buffer kept across awaits, a field per session) shows.
    #[test]
    fn idle_session_state_stays_small() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let engine = roomcast::Engine::new(roomcast::Config::default());
            let shared = crate::server::test_shared(engine);
            let (sess, outbox) = Session::create(shared.clone(), Box::default(), true);
            let task = run(sess.clone(), outbox, None);
            let (task_size, session_size) =
                (std::mem::size_of_val(&task), std::mem::size_of::<Session<crate::sio_layer::SioLayer>>());
            eprintln!("session task state {task_size} B, session {session_size} B");
            assert!(task_size <= 640, "session task state {task_size} B");
            assert!(session_size <= 320, "session {session_size} B");
            // The per-session buffers are empty and own no heap while idle.
            assert!(sess.ctrl.lock().as_ref().is_some_and(|v| v.capacity() == 0));
            assert_eq!(sess.layer.joining_capacity(), 0);
            assert_eq!(sess.poll.lock().frames.capacity(), 0);
        });
    }
}
