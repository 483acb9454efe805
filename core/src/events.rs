//! What handlers receive and decide: an [`Inbound`] event from the wire,
//! a middleware's [`EventFlow`], a [`RoomEvent`]. Plain data; the handler
//! tables that take them are in `hooks`.

use crate::payload::Payload;

/// An event received from the wire, handed to [`Socket::dispatch`](crate::Socket::dispatch).
///
/// ```
/// use roomcast::{Inbound, Payload};
/// let ev = Inbound::event("chat message", "hi").with_ack(7);
/// assert_eq!(ev.name(), "chat message");
/// assert_eq!(ev.ack_id(), Some(7));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    name: String,
    payload: Payload,
    ack_id: Option<u64>,
}

impl Inbound {
    /// An event named `name` carrying `payload`.
    pub fn event(name: impl Into<String>, payload: impl Into<Payload>) -> Inbound {
        Inbound { name: name.into(), payload: payload.into(), ack_id: None }
    }
    /// The client asks for an acknowledgement with this id.
    pub fn with_ack(mut self, id: u64) -> Inbound {
        self.ack_id = Some(id);
        self
    }
    /// The event name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The payload.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }
    /// The ack id the client asked for, if any.
    pub fn ack_id(&self) -> Option<u64> {
        self.ack_id
    }
}

/// What an event middleware decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFlow {
    /// Pass the event on.
    Continue,
    /// Drop it silently.
    Drop,
}

/// A change of room membership, for presence features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// The room came into existence (its first member joined).
    Created {
        /// The room.
        room: String,
    },
    /// The room's last member left.
    Deleted {
        /// The room.
        room: String,
    },
    /// A socket joined the room.
    Joined {
        /// The room.
        room: String,
        /// The socket's id.
        socket_id: String,
    },
    /// A socket left the room.
    Left {
        /// The room.
        room: String,
        /// The socket's id.
        socket_id: String,
    },
}

impl RoomEvent {
    /// The room concerned.
    pub fn room(&self) -> &str {
        match self {
            RoomEvent::Created { room }
            | RoomEvent::Deleted { room }
            | RoomEvent::Joined { room, .. }
            | RoomEvent::Left { room, .. } => room,
        }
    }

    /// The socket that joined or left (None for created and deleted).
    pub fn socket_id(&self) -> Option<&str> {
        match self {
            RoomEvent::Joined { socket_id, .. } | RoomEvent::Left { socket_id, .. } => Some(socket_id),
            RoomEvent::Created { .. } | RoomEvent::Deleted { .. } => None,
        }
    }

    /// "created", "deleted", "joined" or "left".
    pub fn kind(&self) -> &'static str {
        match self {
            RoomEvent::Created { .. } => "created",
            RoomEvent::Deleted { .. } => "deleted",
            RoomEvent::Joined { .. } => "joined",
            RoomEvent::Left { .. } => "left",
        }
    }
}
