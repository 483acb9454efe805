//! The core of every emit that a builder or handle finishes: the checks
//! (event name, payload size, room names), one emit in one namespace
//! through the adapter, and the ack-emit core shared by every
//! `emit_with_ack` (register, fan out, link recipients, arm the timer).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::acks::{AckReply, AckState, AckStream};
use crate::adapter::{ClusterError, ClusterReply, RemoteAcks};
use crate::error::{AckError, EmitError};
use crate::fanout::{EmitReport, Fanout};
use crate::message::Message;
use crate::names;
use crate::namespace::Namespace;
use crate::payload::Payload;
use crate::selection::Target;
use crate::socket::Socket;
use crate::stats::Counters;

/// One emit in one (non-parent) namespace, through the adapter unless
/// `local`.
pub(crate) fn emit_in(ns: &Namespace, target: &Target<'_>, event: &str, payload: Payload, local: bool) -> EmitReport {
    let msg = Message::event(ns.inner.name.clone(), event, payload, None);
    let shared = &ns.inner.shared;
    Counters::add(&shared.stats.emitted, 1);
    if local {
        ns.deliver_local(target, &msg)
    } else {
        shared.adapter.broadcast(ns, target, &msg)
    }
}

/// The replies to [`BroadcastOperator::emit_with_cluster_ack`](crate::BroadcastOperator::emit_with_cluster_ack): this
/// node's [`AckStream`] and the other nodes' [`RemoteAcks`].
#[derive(Debug)]
pub struct ClusterAcks {
    pub(crate) local: AckStream,
    pub(crate) remote: RemoteAcks,
}

impl ClusterAcks {
    /// This node's recipients (known at once).
    pub fn local(&self) -> &AckStream {
        &self.local
    }

    /// Waits for every reply: this node's (each a reply or a per-socket
    /// error after the timeout) followed by the other nodes'. Nodes that
    /// did not answer, or could not be reached, are counted in
    /// `missing_nodes`; their sockets are not in the list.
    pub fn wait(self) -> ClusterReply<Vec<AckReply>> {
        let mut replies = self.local.wait();
        match self.remote.wait() {
            Ok(r) => {
                replies.extend(r.value);
                ClusterReply { value: replies, missing_nodes: r.missing_nodes }
            }
            Err(ClusterError::Unavailable { missing_nodes, .. }) => ClusterReply { value: replies, missing_nodes },
            Err(ClusterError::Invalid(_)) => ClusterReply { value: replies, missing_nodes: 0 },
        }
    }
}

/// The common part of every ack emit: registers the ack state, lets
/// `deliver` fan the message out (recording `(socket key, queued)` per
/// recipient, under the room locks), then — with no lock held — resolves
/// the recipient list, links each pending ack to its socket (so a
/// disconnect resolves it) and arms the timeout.
pub(crate) fn start_ack(
    ns: &Namespace,
    event: &str,
    payload: Payload,
    timeout: Option<Duration>,
    volatile: bool,
    deliver: impl FnOnce(&mut Fanout<'_>, &mut Vec<(u64, bool)>),
) -> Result<AckStream, EmitError> {
    let shared = &ns.inner.shared;
    let timer = shared.timer().map_err(|e| EmitError::TimerUnavailable(e.to_string()))?;
    let id = ns.inner.next_ack.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let state = Arc::new(AckState::new(id, Arc::downgrade(&ns.inner.acks)));
    ns.inner.acks.lock().insert(id, state.clone());

    let msg = Message::event(ns.inner.name.clone(), event, payload, Some(id));
    Counters::add(&shared.stats.emitted, 1);
    let mut sent = Vec::new();
    let mut fan = Fanout::new(&msg, volatile);
    deliver(&mut fan, &mut sent);
    fan.finish(&shared.stats);

    let mut recipients = Vec::with_capacity(sent.len());
    let mut linked = Vec::with_capacity(sent.len());
    for (key, queued) in sent {
        match ns.inner.store.socket(key) {
            Some(s) => {
                let status = if queued { Ok(()) } else { Err(AckError::NotDelivered) };
                recipients.push((key, s.inner.id.clone(), status));
                if queued {
                    linked.push(s);
                }
            }
            // Disconnected between the fan-out and now; its id is gone
            // from the tables but the socket handle is not needed to report.
            None => recipients.push((key, Arc::from("?"), Err(AckError::Disconnected))),
        }
    }
    let expected = recipients.len();
    let (ignored, complete) = state.finalize(recipients);
    Counters::add(&shared.stats.acks_ignored, ignored);
    for s in linked {
        if !s.track_ack(id) && state.fail(s.inner.key, AckError::Disconnected).complete {
            state.unregister();
        }
    }
    if complete {
        state.unregister();
    } else if let Some(at) = crate::queue::deadline(timeout.unwrap_or(shared.config.ack_timeout())) {
        // A timeout past what `Instant` represents never fires.
        timer.schedule(at, &state);
    }
    Ok(AckStream::new(state, expected))
}

pub(crate) fn check_rooms(ns: &Namespace, rooms: &[Cow<'_, str>]) -> Result<(), EmitError> {
    let max = ns.inner.shared.config.max_name_len();
    for r in rooms {
        names::check_room(r, max)?;
    }
    Ok(())
}

impl Socket {
    /// Sends `event` to this socket with an ack id; the stream yields the
    /// client's reply, or `Timeout` after the engine's `ack_timeout`.
    /// `socket.emit_with_ack(..)?.wait_one()` blocks for the reply;
    /// `.one().await` awaits it.
    pub fn emit_with_ack(&self, event: &str, payload: impl Into<Payload>) -> Result<AckStream, EmitError> {
        self.emit_with_ack_timeout(event, payload, self.inner.ns.inner.shared.config.ack_timeout())
    }

    /// [`emit_with_ack`](Self::emit_with_ack) with an explicit timeout.
    pub fn emit_with_ack_timeout(
        &self,
        event: &str,
        payload: impl Into<Payload>,
        timeout: Duration,
    ) -> Result<AckStream, EmitError> {
        let payload = payload.into();
        let ns = &self.inner.ns;
        ns.check_emit(event, &payload)?;
        if !self.is_connected() {
            return Err(EmitError::Closed);
        }
        let key = self.inner.key;
        let conn = &self.inner.conn;
        start_ack(ns, event, payload, Some(timeout), false, |fan, out| {
            let queued = fan.send_conn(conn, false);
            out.push((key, queued));
        })
    }
}
