//! Error types, one small enum per family of operations.
//!
//! Every failing operation changes nothing: the engine's state after an
//! `Err` is the state before the call.

use std::fmt;

use crate::payload::Payload;

/// An invalid configuration value: which option and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration option `{option}`: {reason}")]
pub struct ConfigError {
    /// The option's configuration name (`"max_queue"`, ...).
    pub option: String,
    /// What is wrong with its value.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(option: &str, reason: String) -> Self {
        ConfigError { option: option.to_string(), reason }
    }
}

/// What kind of name was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// A namespace name (`/chat`).
    Namespace,
    /// A room name.
    Room,
    /// An event name.
    Event,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Namespace => "namespace",
            NameKind::Room => "room",
            NameKind::Event => "event",
        })
    }
}

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than `max_name_len` bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A namespace name must start with `/`.
    MissingSlash,
    /// The name holds a character that is not allowed (control characters;
    /// `,` in namespace names, which the wire protocol uses as a separator).
    InvalidChar(char),
    /// The event name is reserved for lifecycle events (`connect`, `disconnect`, ...).
    Reserved,
}

/// An invalid namespace, room or event name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NameError {
    /// Which kind of name.
    pub kind: NameKind,
    /// The offending name, cut to 64 characters for display.
    pub name: String,
    /// What is wrong with it.
    pub problem: NameProblem,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} name {:?}: ", self.kind, self.name)?;
        match &self.problem {
            NameProblem::Empty => f.write_str("must not be empty"),
            NameProblem::TooLong { len, max } => write!(f, "{len} bytes, longer than the limit of {max}"),
            NameProblem::MissingSlash => f.write_str("must start with '/'"),
            NameProblem::InvalidChar(c) => write!(f, "contains the character {c:?}, which is not allowed"),
            NameProblem::Reserved => f.write_str("is reserved for lifecycle events"),
        }
    }
}

/// A payload that cannot be built or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// A `text` payload whose bytes are not UTF-8.
    #[error("text payload is not valid UTF-8 (at byte {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// A `json` payload that is not one valid JSON value, or a value that
    /// could not be serialized.
    #[error("invalid JSON payload: {0}")]
    InvalidJson(String),
    /// The payload is larger than `max_payload`.
    #[error("payload of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The configured `max_payload`.
        limit: usize,
    },
    /// An unknown format tag (from a binding).
    #[error("unknown payload format {0:?}; expected binary, text or json")]
    UnknownFormat(String),
}

/// A `join_namespace` that did not produce a socket.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JoinError {
    /// The namespace name is invalid.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// The connection is closed.
    #[error("the connection is closed")]
    ConnectionClosed,
    /// This connection already has a socket in that namespace.
    #[error("the connection already has a socket in namespace {0:?}")]
    AlreadyJoined(String),
    /// The connect was refused (unknown namespace or middleware); the
    /// `{message, data}` is meant for the client.
    #[error("connect refused: {0}")]
    Refused(#[from] ConnectError),
    /// The handshake's auth payload is larger than `max_payload`.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The engine was shut down ([`Engine::shutdown`](crate::Engine::shutdown)):
    /// it admits no socket and creates no namespace.
    #[error("the engine is shut down and admits no new socket")]
    ShutDown,
    /// No unguessable socket id could be made (see [`RandomError`]).
    #[error(transparent)]
    NoRandomness(#[from] RandomError),
}

/// An [`Engine::of`](crate::Engine::of) that did not give a namespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamespaceError {
    /// The namespace name is invalid.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// The namespace does not exist and the engine was shut down
    /// ([`Engine::shutdown`](crate::Engine::shutdown)), so it creates none.
    #[error("the engine is shut down and creates no new namespace ({0:?})")]
    ShutDown(String),
}

/// The operating system's random source failed, so no unguessable id could
/// be made (see [`random_id`](crate::random_id)). Nothing falls back to a
/// predictable id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random source failed ({0}); refusing to make a guessable id")]
pub struct RandomError(pub String);

/// A refused connect, as the client sees it: Socket.IO's `{message, data}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    /// Human-readable reason.
    pub message: String,
    /// Optional structured details for the client.
    pub data: Option<Payload>,
}

impl ConnectError {
    /// A refusal with a message and no data.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError { message: message.into(), data: None }
    }
    /// Attaches data for the client.
    pub fn with_data(mut self, data: Payload) -> Self {
        self.data = Some(data);
        self
    }
    /// The refusal for a namespace nobody serves: `"Invalid namespace"`.
    pub fn invalid_namespace() -> Self {
        ConnectError::new("Invalid namespace")
    }
}

/// A failed join or leave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// The room name is invalid.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// Joining would exceed `max_rooms_per_socket`.
    #[error("the socket is already in {limit} rooms, the configured maximum")]
    TooManyRooms {
        /// The configured limit.
        limit: usize,
    },
    /// The socket is disconnected (or disconnecting).
    #[error("the socket is disconnected")]
    Closed,
    /// A socket cannot leave the room named by its own id: that room is how
    /// `to(id)` reaches it.
    #[error("a socket cannot leave its own-id room")]
    OwnRoom,
}

/// A failed emit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// The event name or a target room name is invalid.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// The payload is invalid or too large.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The emitting or target socket is disconnected.
    #[error("the socket is disconnected")]
    Closed,
    /// Ack emits on a dynamic parent are not supported: each child has its
    /// own ack ids; emit on the children.
    #[error("emit_with_ack on a dynamic parent namespace; emit on each child instead")]
    AckOnParent,
    /// The acknowledgement timer thread could not be started.
    #[error("cannot start the ack timer thread: {0}")]
    TimerUnavailable(String),
}

/// Why one recipient of an ack emit gave no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AckError {
    /// It did not answer before the timeout.
    #[error("no acknowledgement before the timeout")]
    Timeout,
    /// It disconnected before answering.
    #[error("the socket disconnected before acknowledging")]
    Disconnected,
    /// Its outbox refused the message (full or closing), so it never saw it.
    #[error("the message was not delivered (outbox full or closed)")]
    NotDelivered,
    /// The emit selected no socket at all.
    #[error("the emit had no recipients")]
    NoRecipients,
}

/// A failed [`AckResponder::send`](crate::AckResponder::send).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespondError {
    /// The event was already answered (by this or another handler).
    #[error("the event was already acknowledged")]
    AlreadyAnswered,
    /// The socket is disconnected.
    #[error("the socket is disconnected")]
    Closed,
    /// The reply is larger than `max_payload`
    /// ([`PayloadError::TooLarge`], as every payload check reports it).
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

/// A client reply that [`Socket::receive_ack`](crate::Socket::receive_ack)
/// did not use. Ignoring it is always safe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckReceiveError {
    /// No ack emit waits for this id from this socket (unknown, already
    /// answered, timed out, or nobody listens any more). Counted in
    /// `Stats::acks_ignored`.
    #[error("no pending acknowledgement with id {0} for this socket")]
    Ignored(u64),
    /// The reply is larger than `max_payload` (also counted as ignored):
    /// [`PayloadError::TooLarge`], as every payload check reports it.
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

/// An inbound event that could not be dispatched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// The event name is empty, too long, has control characters or is
    /// reserved (`connect`, `disconnect`, ...).
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// The payload is larger than `max_payload`.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The socket is disconnected.
    #[error("the socket is disconnected")]
    Closed,
}

/// Blocking receive on a closed and drained outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The connection is closed and every queued message has been read.
    #[error("the connection is closed")]
    Closed,
}

/// Non-blocking receive failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing queued right now.
    #[error("the outbox is empty")]
    Empty,
    /// The connection is closed and every queued message has been read.
    #[error("the connection is closed")]
    Closed,
}

/// Receive-with-timeout failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvTimeoutError {
    /// Nothing arrived in time.
    #[error("timed out waiting for a message")]
    Timeout,
    /// The connection is closed and every queued message has been read.
    #[error("the connection is closed")]
    Closed,
}
