//! HTTP long-polling: a GET takes the frames the session task left for it
//! (or waits for them), a POST hands the client's packets to the session.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use roomcast::DisconnectReason;

use crate::eio::{self, HttpError};
use crate::server::routing::Reply;
use crate::session::{Layer, PollState, Session, Turn};

/// A long-polling GET: waits for frames (or the session's end) and returns
/// them all in one body.
pub(super) async fn poll_get<L: Layer>(sess: &Arc<Session<L>>, reply: Reply<'_>) -> Response<Body> {
    let _active = match Active::begin(sess, |p| &mut p.get_active) {
        Ok(a) => a,
        Err(e) => return reply.error(e),
    };
    let frames = loop {
        let notified = sess.poll_notify.notified();
        {
            let mut p = sess.poll.lock();
            if !p.frames.is_empty() {
                let frames = std::mem::take(&mut p.frames);
                drop(p);
                sess.wake.notify_one();
                break frames;
            }
            if p.closed || p.upgraded {
                // A session the client closed (its close packet) answers the
                // pending GET with a noop, as does an upgrade; any other end
                // with a close packet.
                let last = if p.closed && p.ended_by != Some(DisconnectReason::TransportClose) { "1" } else { "6" };
                break vec![eio::Frame::text_static(last)];
            }
        }
        notified.await;
    };
    reply.text(StatusCode::OK, eio::encode_payload(&frames))
}

/// A long-polling POST: decodes the packets and hands them to the session.
pub(super) async fn poll_post<L: Layer>(sess: &Arc<Session<L>>, body: Body, reply: Reply<'_>) -> Response<Body> {
    let _active = match Active::begin(sess, |p| &mut p.post_active) {
        Ok(a) => a,
        Err(e) => return reply.error(e),
    };
    post_packets(sess, body, reply).await
}

/// Which request of a session is in progress: the flag of its side (GET
/// or POST) in the polling state.
type Side = fn(&mut PollState) -> &mut bool;

/// A GET or POST in progress on a session; its flag is cleared however the
/// request ends, also when the client drops it.
struct Active<'a, L: Layer> {
    sess: &'a Session<L>,
    side: Side,
}

impl<'a, L: Layer> Active<'a, L> {
    /// Marks a request of `side` in progress, or refuses it: on a session
    /// on WebSocket it is a transport mismatch (a POST's packets are not
    /// run beside the session's task); a second one of the same side at
    /// once is a protocol violation that ends the session.
    fn begin(sess: &'a Session<L>, side: Side) -> Result<Active<'a, L>, HttpError> {
        let mut p = sess.poll.lock();
        if p.upgraded {
            return Err(HttpError::BadRequest);
        }
        if *side(&mut p) {
            drop(p);
            sess.close(DisconnectReason::TransportError);
            return Err(HttpError::BadRequest);
        }
        *side(&mut p) = true;
        Ok(Active { sess, side })
    }
}

impl<L: Layer> Drop for Active<'_, L> {
    fn drop(&mut self) {
        *(self.side)(&mut self.sess.poll.lock()) = false;
    }
}

/// Reads a POST's body (bounded in size and time) and runs its packets.
async fn post_packets<L: Layer>(sess: &Arc<Session<L>>, body: Body, reply: Reply<'_>) -> Response<Body> {
    let max = sess.shared.opts.max_payload;
    let bytes = match tokio::time::timeout(sess.shared.opts.body_timeout, axum::body::to_bytes(body, max)).await {
        Ok(Ok(b)) => b,
        Err(_) => {
            // A body that stops arriving (slowloris on POST).
            sess.close(DisconnectReason::TransportError);
            return reply.limit(StatusCode::REQUEST_TIMEOUT, "Body timeout");
        }
        Ok(Err(_)) => {
            sess.close(DisconnectReason::TransportError);
            return reply.too_large();
        }
    };
    let packets = match eio::decode_payload(&bytes) {
        Ok(p) => p,
        Err(_) => {
            sess.close(DisconnectReason::ParseError);
            return reply.error(HttpError::BadRequest);
        }
    };
    let mut turn = Turn::new(packets.len());
    for p in packets {
        if turn.over() {
            // A large POST gives way to other tasks between turns.
            tokio::task::yield_now().await;
            turn = Turn::new(usize::MAX);
        }
        if let Err(reason) = sess.on_packet(p) {
            sess.close(reason);
            // `on_packet` fails with `transport error` only for a packet over the limit.
            if reason == DisconnectReason::TransportError {
                return reply.too_large();
            }
            break;
        }
    }
    reply.text(StatusCode::OK, "ok")
}
