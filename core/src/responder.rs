//! [`AckResponder`]: the answer to one inbound event that asked for an
//! acknowledgement, sent through the socket's outbox.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::RespondError;
use crate::message::Message;
use crate::payload::Payload;
use crate::socket::Socket;

/// Answers one inbound event that asked for an acknowledgement. Every
/// handler of the event gets a clone; the first `send` wins and later ones
/// fail with [`RespondError::AlreadyAnswered`]. Dropping it unanswered is
/// allowed (the client's own timeout applies).
#[derive(Clone)]
pub struct AckResponder {
    inner: Arc<ResponderInner>,
}

struct ResponderInner {
    socket: Socket,
    id: u64,
    answered: AtomicBool,
}

impl AckResponder {
    pub(crate) fn new(socket: Socket, id: u64) -> AckResponder {
        AckResponder { inner: Arc::new(ResponderInner { socket, id, answered: AtomicBool::new(false) }) }
    }

    /// The ack id being answered.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// True once answered.
    pub fn is_answered(&self) -> bool {
        self.inner.answered.load(Ordering::Acquire)
    }

    /// Sends the reply: an [`Ack`](crate::MessageKind::Ack) message in the
    /// socket's outbox. Replies are never dropped by the overflow policy.
    pub fn send(&self, payload: impl Into<Payload>) -> Result<(), RespondError> {
        let payload = payload.into();
        let socket = &self.inner.socket;
        socket.inner.ns.inner.shared.config.check_payload(&payload)?;
        // AcqRel: the winner's claim must be visible to every other clone.
        if self.inner.answered.swap(true, Ordering::AcqRel) {
            return Err(RespondError::AlreadyAnswered);
        }
        let msg = Message::ack(socket.inner.ns.inner.name.clone(), self.inner.id, payload);
        socket.send_control(msg).map_err(|_| RespondError::Closed)
    }
}

impl fmt::Debug for AckResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AckResponder").field("id", &self.inner.id).field("answered", &self.is_answered()).finish()
    }
}
