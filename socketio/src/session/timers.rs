//! The session's timers: the heartbeat (a ping every `ping_interval`, the
//! session closed with `ping timeout` when no pong came within
//! `ping_timeout`) and the connect timeout, both driven by one `Sleep` in
//! the session task.

use std::sync::atomic::Ordering;

use roomcast::DisconnectReason;
use tokio::time::Instant;

use crate::eio::Frame;
use crate::session::{Layer, Session};

/// How late a timer may fire and still count from when it was due (tokio's
/// timer has a 1 ms tick and rounds deadlines up to it).
pub(super) const TIMER_SLACK: std::time::Duration = std::time::Duration::from_millis(2);

/// The session's timers: the heartbeat and the connect timeout, driven by
/// one `Sleep` in the session task.
pub(super) struct Timers {
    /// When the next ping goes out (while no pong is awaited).
    next_ping: Instant,
    /// The ping in flight: its deadline and the pong count before it.
    pub(super) awaiting: Option<(Instant, u64)>,
    /// The connect timeout, until a namespace is joined or it fired.
    connect: Option<Instant>,
    /// The heartbeat gave up (the session is closing).
    stopped: bool,
}

impl Timers {
    pub(super) fn new<L: Layer>(sess: &Session<L>) -> Timers {
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
    pub(super) fn deadline(&self) -> Instant {
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
    pub(super) fn on_pong<L: Layer>(&mut self, sess: &Session<L>) -> bool {
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
    pub(super) fn fire<L: Layer>(&mut self, sess: &Session<L>, out: &mut Vec<Frame>) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
