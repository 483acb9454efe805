//! The session task: one task per session that drains its outbox, reads
//! its WebSocket, runs its timers and acts on commands (see the parent
//! module's doc).
//!
//! [`SessionTask`] holds what the task keeps between rounds. Each round
//! waits for the first event source that is ready ([`wait`](SessionTask::wait)),
//! then serves every source without waiting, one method each — commands
//! ([`on_commands`](SessionTask::on_commands)), what was read
//! ([`on_read`](SessionTask::on_read)), the timers
//! ([`on_timers`](SessionTask::on_timers)), the outbox
//! ([`on_outbox`](SessionTask::on_outbox)) — and writes all it gathered in
//! one [`flush`](SessionTask::flush). When the session is over,
//! [`finish`](SessionTask::finish) ends its transport.

use std::pin::Pin;
use std::sync::Arc;

use roomcast::{DisconnectReason, Message, Outbox};
use tokio::time::{Instant, Sleep};

use crate::eio::{self, Frame};
use crate::session::timers::Timers;
use crate::session::{Ctrl, Layer, Session, Turn};
use crate::ws::{self, Event};

/// Messages taken from the outbox per round of the session task (more
/// when the round dispatched more inbound events, see `on_read`).
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

/// The session task's state between rounds.
pub(crate) struct SessionTask<L: Layer> {
    sess: Arc<Session<L>>,
    /// The session's outbox: only this task receives from it.
    outbox: Outbox,
    /// The WebSocket (`None`: polling, until an upgrade).
    ws: Option<ws::Conn>,
    /// Messages taken from the outbox: allocated when messages come and
    /// freed after a burst, so an idle session holds no batch buffer.
    buf: Vec<Message>,
    /// Frames for the next flush.
    out: Vec<Frame>,
    /// The layer's state between rounds.
    layer: L::Task,
    /// Control frames (pongs) for the next flush.
    raw: Vec<u8>,
    /// Events read and not yet acted on: those read during an upgrade,
    /// after its upgrade packet, and those over a round's budget or turn.
    events: Vec<Event>,
    timers: Timers,
    /// The most inbound events acted on per round (see `inbound_limits`).
    budget: usize,
    /// Outbox length at which reading pauses (see `inbound_limits`).
    pause: usize,
    /// The session runs (its outbox is open and the task not abandoned).
    open: bool,
    /// The stream failed or ended: nothing more is written to it.
    dead: bool,
    /// The WebSocket is still read (until the client closes or errs).
    reading: bool,
    /// The code of the closing WebSocket frame (`None`: an empty one).
    close_code: Option<u16>,
    /// The outbox's notify hook is installed: it wakes the task while it
    /// does not wait on the outbox (a full polling backlog), so a close
    /// still ends it.
    watching: bool,
    /// A polling client stopped fetching: its close packet is not kept for it.
    abandoned: bool,
}

/// What ended a round's wait.
struct Woken {
    /// The timer fired.
    fired: bool,
    /// What the WebSocket read, if it was read.
    read: Option<ws::ReadOutcome>,
    /// The outbox was below `pause` when the round began (always over
    /// polling): events waiting from earlier rounds may be acted on.
    room: bool,
}

/// How reading the WebSocket ended the session.
struct ReadEnd {
    reason: DisconnectReason,
    /// The close frame to send (`None`: an empty one).
    code: Option<u16>,
}

/// The session task of `sess`: see the module doc.
pub(crate) fn run<L: Layer>(
    sess: Arc<Session<L>>,
    outbox: Outbox,
    ws: Option<ws::Conn>,
) -> impl std::future::Future<Output = ()> + Send {
    SessionTask::new(sess, outbox, ws).run()
}

impl<L: Layer> SessionTask<L> {
    fn new(sess: Arc<Session<L>>, outbox: Outbox, ws: Option<ws::Conn>) -> SessionTask<L> {
        let (budget, pause) = inbound_limits(sess.shared.layer.engine().config().max_queue());
        SessionTask {
            timers: Timers::new(&sess),
            sess,
            outbox,
            ws,
            buf: Vec::new(),
            out: Vec::new(),
            layer: L::Task::default(),
            raw: Vec::new(),
            events: Vec::new(),
            budget,
            pause,
            open: true,
            dead: false,
            reading: true,
            close_code: None,
            watching: false,
            abandoned: false,
        }
    }

    /// Rounds until the session is over, then its end. (Not an `async
    /// fn`: `self` would be stored twice in the task, once as the argument
    /// and once as a local.)
    #[allow(clippy::manual_async_fn)]
    fn run(mut self) -> impl std::future::Future<Output = ()> + Send {
        async move {
            let timer = tokio::time::sleep_until(self.timers.deadline());
            tokio::pin!(timer);
            if let Some(conn) = self.ws.as_mut() {
                let open = self.sess.open_packet(false);
                if !Box::pin(write_ws(conn, &mut self.raw, vec![open])).await {
                    self.sess.close(DisconnectReason::TransportError);
                }
            }
            while self.open {
                if !self.events.is_empty() {
                    // The last turn ended with events still to do (see
                    // `TURN`), or they wait for room in the outbox: other
                    // tasks run first.
                    tokio::task::yield_now().await;
                }
                let woken = self.wait(timer.as_mut()).await;
                self.serve(woken, timer.as_mut());
                if !self.flush().await {
                    break;
                }
            }
            self.finish().await;
        }
    }

    /// Waits for the first ready source: a wake-up (command, pong, a GET
    /// that took the backlog), the WebSocket, the outbox, the timer, or
    /// events read earlier that now have room. Only the outbox is acted on
    /// here (its close); the rest is the round's.
    async fn wait(&mut self, timer: Pin<&mut Sleep>) -> Woken {
        let has_ws = self.ws.is_some();
        let queued = if has_ws { self.outbox.len() } else { 0 };
        // Back-pressure: read while nothing waits and the outbox is short,
        // and always while a pong is due (the heartbeat must see it).
        let may_read =
            has_ws && self.reading && self.events.is_empty() && (self.timers.awaiting.is_some() || queued < self.pause);
        // Events read earlier wait for room in the outbox.
        let room = queued < self.pause;
        let pending = !self.events.is_empty() && room;
        let drain = has_ws || self.sess.poll_backlog() < POLL_BACKLOG;
        watch_close(&self.sess, &self.outbox, !drain, &mut self.watching);
        let (fired, read) = tokio::select! {
            biased;
            _ = self.sess.wake.notified() => (false, None),
            // Reads come before the outbox so a busy outbox cannot starve
            // them; the outbox is drained every round anyway.
            r = std::future::poll_fn(|cx| match self.ws.as_mut() {
                Some(c) => c.poll_read(cx),
                None => std::task::Poll::Pending,
            }), if may_read => (false, Some(r)),
            r = self.outbox.recv_many_async(&mut self.buf, BATCH), if drain => {
                if r.is_err() {
                    self.open = false;
                    // Closed by the server side (shutdown, overflow, forced):
                    // tell the client with a close packet.
                    if self.outbox.close_reason().is_some_and(DisconnectReason::sends_close_packet) {
                        self.sess.poll.lock().close_packet = true;
                    }
                }
                (false, None)
            }
            () = timer => (true, None),
            () = std::future::ready(()), if pending => (false, None),
        };
        Woken { fired, read, room }
    }

    /// Serves every source after a wait, without waiting.
    fn serve(&mut self, woken: Woken, timer: Pin<&mut Sleep>) {
        // Take whatever else is ready without waiting: one flush for all.
        self.on_commands();
        let want = self.on_read(woken.read, woken.room);
        self.on_timers(woken.fired, timer);
        self.on_outbox(want);
    }

    /// The commands waiting for the task.
    fn on_commands(&mut self) {
        for c in self.sess.take_ctrl() {
            match c {
                Ctrl::Layer(cmd) => L::on_cmd(&self.sess, &mut self.layer, cmd, &mut self.out),
                Ctrl::Upgrade(conn, rest) => self.on_upgrade(conn, rest),
            }
        }
    }

    /// The upgrade completed: the task moves to `conn`, starting with the
    /// events read after the upgrade packet.
    fn on_upgrade(&mut self, conn: ws::Conn, rest: Vec<Event>) {
        // Frames no GET has taken go out first, over the WebSocket.
        let mut p = self.sess.poll.lock();
        p.upgraded = true;
        let mut pending = std::mem::take(&mut p.frames);
        drop(p);
        self.sess.poll_notify.notify_waiters();
        pending.retain(|f| f != &Frame::text_static("6"));
        pending.append(&mut self.out);
        self.out = pending;
        self.ws = Some(conn);
        self.events = rest;
        L::on_upgrade(&self.sess);
    }

    /// Acts on what the WebSocket read and on events waiting from earlier
    /// rounds (at most `budget`, and none unless the outbox had `room`).
    /// Returns how many messages the round drains at least: each inbound
    /// event may queue a reply (an ack).
    fn on_read(&mut self, read: Option<ws::ReadOutcome>, room: bool) -> usize {
        let mut end = None;
        let evs = match read {
            Some(ws::ReadOutcome::Events(e)) if self.events.is_empty() && e.len() <= self.budget => e,
            Some(ws::ReadOutcome::Events(e)) => {
                self.events.extend(e);
                take_events(&mut self.events, self.budget)
            }
            Some(ws::ReadOutcome::Eof) => {
                self.dead = true;
                end = Some(ReadEnd { reason: DisconnectReason::TransportClose, code: None });
                std::mem::take(&mut self.events)
            }
            Some(ws::ReadOutcome::Failed) => {
                self.dead = true;
                end = Some(ReadEnd { reason: DisconnectReason::TransportError, code: None });
                std::mem::take(&mut self.events)
            }
            Some(ws::ReadOutcome::Violation(code)) => {
                end = Some(ReadEnd { reason: DisconnectReason::TransportError, code: Some(code) });
                std::mem::take(&mut self.events)
            }
            None if room => take_events(&mut self.events, self.budget),
            None => Vec::new(),
        };
        let want = BATCH.max(evs.len());
        if !evs.is_empty() {
            let (e, mut rest) = on_events(&self.sess, evs, &mut self.raw, end.is_none());
            if e.is_some() {
                end = e;
            }
            if !rest.is_empty() {
                rest.append(&mut self.events);
                self.events = rest;
            }
        }
        if let Some(e) = end {
            self.reading = false;
            self.close_code = e.code;
            self.sess.close(e.reason);
        }
        want
    }

    /// The heartbeat and connect timeout (when `fired`, or a pong came),
    /// the layer's deadline for pending input; re-arms `timer`.
    fn on_timers(&mut self, fired: bool, mut timer: Pin<&mut Sleep>) {
        let rearm = if fired {
            self.timers.fire(&self.sess, &mut self.out);
            true
        } else {
            self.timers.on_pong(&self.sess)
        };
        // A binary packet still waiting for attachments past its deadline.
        let partial = L::deadline(&self.sess);
        if partial.is_some_and(|d| d <= Instant::now()) && !self.sess.conn.is_closed() {
            self.sess.close(DisconnectReason::ParseError);
        }
        let due = partial.map_or(self.timers.deadline(), |d| d.min(self.timers.deadline()));
        if rearm || due != timer.deadline() {
            timer.as_mut().reset(due);
        }
    }

    /// Takes up to `want` messages from the outbox (without waiting) and
    /// turns them into frames; adds the close packet when the session ends.
    fn on_outbox(&mut self, want: usize) {
        let sess = &self.sess;
        if self.open && self.ws.is_none() && self.outbox.is_closed() && sess.poll_backlog() >= POLL_BACKLOG {
            // Closed while nobody takes the backlog (a poller that went
            // away): end now, dropping what it never fetched.
            self.open = false;
            self.abandoned = true;
        }
        if self.open && self.buf.len() < want && (self.ws.is_some() || sess.poll_backlog() < POLL_BACKLOG) {
            let room = want - self.buf.len();
            let _ = self.outbox.try_recv_many(&mut self.buf, room);
        }
        if !self.buf.is_empty() {
            L::frames(sess, &mut self.layer, self.buf.drain(..), &mut self.out);
        }
        if self.buf.capacity() > KEEP_BATCH_CAPACITY {
            self.buf = Vec::new();
        }
        if !self.open && sess.poll.lock().close_packet {
            self.out.push(Frame::text_static("1"));
        }
    }

    /// Writes what the round gathered: over WebSocket in one write, over
    /// polling into the buffer the next GET takes. `false` when the
    /// WebSocket write failed (the session is closed).
    async fn flush(&mut self) -> bool {
        if self.out.is_empty() && self.raw.is_empty() {
            return true;
        }
        let frames = std::mem::take(&mut self.out);
        match self.ws.as_mut() {
            Some(_) if self.dead => {}
            Some(conn) => {
                // A client that stops reading blocks the write; past a
                // heartbeat period it is as dead as one that stops answering.
                let limit = self.sess.shared.opts.ping_interval + self.sess.shared.opts.ping_timeout;
                // Boxed: the write's state exists only while it runs, not in
                // every idle session's task.
                let write = Box::pin(tokio::time::timeout(limit, write_ws(conn, &mut self.raw, frames)));
                if !matches!(write.await, Ok(true)) {
                    self.sess.close(DisconnectReason::TransportError);
                    self.dead = true;
                    return false;
                }
            }
            None => {
                self.sess.poll.lock().frames.extend(frames);
                self.sess.poll_notify.notify_waiters();
            }
        }
        true
    }

    /// The session is over: the layer learns why, the transport ends and
    /// the session is forgotten.
    async fn finish(&mut self) {
        let sess = &self.sess;
        if self.watching {
            self.outbox.clear_notify();
        }
        // No command is taken from now on; a WebSocket waiting among them closes.
        drop(sess.ctrl.lock().take());
        // The connection is closed: end the transport and forget the session.
        sess.close(DisconnectReason::TransportClose);
        let reason = sess.poll.lock().ended_by.unwrap_or(DisconnectReason::TransportClose);
        L::on_close(sess, reason);
        end_transport(sess.clone(), self.ws.take(), self.dead, self.close_code, self.abandoned).await;
        sess.poll.lock().closed = true;
        sess.poll_notify.notify_waiters();
        sess.shared.sessions.lock().remove(&sess.sid);
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

#[cfg(test)]
mod tests {
    use super::*;

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
