//! One Engine.IO session: one roomcast [`Connection`], its sockets in every
//! namespace the client joined, the transport (long-polling, WebSocket, or
//! polling upgraded to WebSocket), the heartbeat and the session task.
//!
//! A session is **one task** (`task`). It owns the [`Outbox`]: it drains it
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

mod task;
mod timers;

pub(crate) use task::run;

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
}
