//! Handlers, middleware and the hooks that report their failures.
//!
//! Every user callback runs on the thread that caused it (the dispatching,
//! joining, disconnecting or emitting thread) and with **no engine lock
//! held**, so it may call any engine operation, including on its own socket.
//! A namespace's hooks are kept in a copy-on-write `Arc`: registering one
//! copies the table (rare), running them clones one `Arc` (cheap), and the
//! lock guarding the table is released before any callback runs.
//!
//! A callback that returns an error or panics is caught and reported to the
//! namespace's [`on_error`](crate::Namespace::on_error) hooks (or, when there
//! are none, printed to standard error); it never poisons the engine.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::error::{ConnectError, RespondError};
use crate::handshake::Handshake;
use crate::message::{DisconnectReason, Message};
use crate::payload::Payload;
use crate::socket::Socket;

/// The error a handler may return.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What handlers may return: `()`, or `Result<(), HandlerError>` so that `?`
/// works on any error inside them and `Ok(())` needs no annotation:
///
/// ```
/// # let engine = roomcast::Engine::new(roomcast::Config::default());
/// # let chat = engine.of("/chat").unwrap();
/// chat.on_connection(|socket| {
///     socket.join("lobby")?;
///     socket.emit("welcome", "hi")?;
///     Ok(())
/// });
/// chat.on_disconnect(|socket, reason| println!("{} left: {reason}", socket.id()));
/// ```
pub trait HandlerResult {
    /// Converts to the engine's result type.
    fn into_result(self) -> Result<(), HandlerError>;
}

impl HandlerResult for () {
    fn into_result(self) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl HandlerResult for Result<(), HandlerError> {
    fn into_result(self) -> Result<(), HandlerError> {
        self
    }
}

/// An event received from the wire, handed to [`Socket::dispatch`].
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
        if let Err(crate::PayloadError::TooLarge { size, limit }) =
            socket.inner.ns.inner.shared.config.check_payload(&payload)
        {
            return Err(RespondError::PayloadTooLarge { size, limit });
        }
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

/// Where a failing callback was registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerSite {
    /// Namespace middleware (the connect was refused).
    Middleware,
    /// Event middleware for this event (the event was rejected).
    EventMiddleware(String),
    /// A `connection` handler.
    Connection,
    /// A handler of this event.
    Event(String),
    /// An `on_any` handler.
    Any(String),
    /// The fallback handler, for this event.
    Fallback(String),
    /// A `disconnecting` handler.
    Disconnecting,
    /// A `disconnect` handler.
    Disconnect,
    /// A room-event handler.
    RoomEvent,
    /// A dynamic namespace predicate.
    DynamicPredicate,
    /// A server-side handler of this event (`Namespace::on_server_side`).
    ServerSide(String),
}

/// How a callback failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// It returned an error.
    Error,
    /// It panicked.
    Panic,
    /// Event middleware rejected the event.
    Rejected,
}

/// A callback failure, as reported to [`Namespace::on_error`](crate::Namespace::on_error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerFailure {
    /// The namespace whose hook failed.
    pub namespace: String,
    /// The socket concerned, when there is one.
    pub socket_id: Option<String>,
    /// Which callback.
    pub site: HandlerSite,
    /// Error, panic or rejection.
    pub kind: FailureKind,
    /// The error's text or the panic message.
    pub message: String,
}

impl fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FailureKind::Error => "failed",
            FailureKind::Panic => "panicked",
            FailureKind::Rejected => "rejected the event",
        };
        write!(f, "roomcast: {:?} handler in {} {kind}", self.site, self.namespace)?;
        if let Some(id) = &self.socket_id {
            write!(f, " (socket {id})")?;
        }
        write!(f, ": {}", self.message)
    }
}

pub(crate) type Middleware = Arc<dyn Fn(&Handshake) -> Result<(), ConnectError> + Send + Sync>;
pub(crate) type EventMiddleware = Arc<dyn Fn(&Socket, &Inbound) -> Result<EventFlow, HandlerError> + Send + Sync>;
pub(crate) type ConnHandler = Arc<dyn Fn(&Socket) -> Result<(), HandlerError> + Send + Sync>;
pub(crate) type EventHandler =
    Arc<dyn Fn(&Socket, &Inbound, Option<AckResponder>) -> Result<(), HandlerError> + Send + Sync>;
pub(crate) type AnyHandler = Arc<dyn Fn(&Socket, &Inbound) -> Result<(), HandlerError> + Send + Sync>;
pub(crate) type DiscHandler = Arc<dyn Fn(&Socket, DisconnectReason) -> Result<(), HandlerError> + Send + Sync>;
pub(crate) type RoomHandler = Arc<dyn Fn(&RoomEvent) -> Result<(), HandlerError> + Send + Sync>;
pub(crate) type ErrorHandler = Arc<dyn Fn(&HandlerFailure) + Send + Sync>;
pub(crate) type ServerSideHandler = Arc<dyn Fn(&Payload) -> Option<Payload> + Send + Sync>;

/// A namespace's callbacks. Cloned on write (see module docs).
#[derive(Default, Clone)]
pub(crate) struct Hooks {
    pub(crate) middleware: Vec<Middleware>,
    pub(crate) event_middleware: Vec<EventMiddleware>,
    pub(crate) connection: Vec<ConnHandler>,
    pub(crate) events: FxHashMap<Box<str>, Vec<EventHandler>>,
    pub(crate) any: Vec<AnyHandler>,
    pub(crate) fallback: Vec<EventHandler>,
    pub(crate) disconnecting: Vec<DiscHandler>,
    pub(crate) disconnect: Vec<DiscHandler>,
    pub(crate) room_events: Vec<RoomHandler>,
    pub(crate) errors: Vec<ErrorHandler>,
    pub(crate) server_side: FxHashMap<Box<str>, Vec<ServerSideHandler>>,
}

pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs `f`, catching a panic. `Err((kind, message))` on failure.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, HandlerError>) -> Result<T, (FailureKind, String)> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err((FailureKind::Error, e.to_string())),
        Err(p) => Err((FailureKind::Panic, panic_message(&*p))),
    }
}

/// Delivers a failure to the error hooks (themselves guarded), or prints it
/// when there are none.
pub(crate) fn report(errors: &[ErrorHandler], failure: HandlerFailure) {
    if errors.is_empty() {
        eprintln!("{failure}");
        return;
    }
    for h in errors {
        if catch_unwind(AssertUnwindSafe(|| h(&failure))).is_err() {
            eprintln!("roomcast: an on_error hook panicked while reporting: {failure}");
        }
    }
}
