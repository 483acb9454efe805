//! Handler results and failures: what a callback may return, how its
//! failure is described ([`HandlerFailure`]), and [`guarded`], which runs a
//! callback and turns an error or a panic into that description. Every user
//! callback of the engine runs through `guarded`.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

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

impl HandlerSite {
    /// The site's name, as bindings report it: `"middleware"`,
    /// `"event_middleware"`, `"connection"`, `"event"`, `"any"`,
    /// `"fallback"`, `"disconnecting"`, `"disconnect"`, `"room_event"`,
    /// `"dynamic_predicate"` or `"server_side"`.
    pub fn name(&self) -> &'static str {
        match self {
            HandlerSite::Middleware => "middleware",
            HandlerSite::EventMiddleware(_) => "event_middleware",
            HandlerSite::Connection => "connection",
            HandlerSite::Event(_) => "event",
            HandlerSite::Any(_) => "any",
            HandlerSite::Fallback(_) => "fallback",
            HandlerSite::Disconnecting => "disconnecting",
            HandlerSite::Disconnect => "disconnect",
            HandlerSite::RoomEvent => "room_event",
            HandlerSite::DynamicPredicate => "dynamic_predicate",
            HandlerSite::ServerSide(_) => "server_side",
        }
    }

    /// The event the site is for, when it is per event.
    pub fn event(&self) -> Option<&str> {
        match self {
            HandlerSite::EventMiddleware(e)
            | HandlerSite::Event(e)
            | HandlerSite::Any(e)
            | HandlerSite::Fallback(e)
            | HandlerSite::ServerSide(e) => Some(e),
            HandlerSite::Middleware
            | HandlerSite::Connection
            | HandlerSite::Disconnecting
            | HandlerSite::Disconnect
            | HandlerSite::RoomEvent
            | HandlerSite::DynamicPredicate => None,
        }
    }
}

impl fmt::Display for HandlerSite {
    /// `connection handler`, `event handler of event "chat"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event() {
            Some(e) => write!(f, "{} handler of event {e:?}", self.name()),
            None => write!(f, "{} handler", self.name()),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_sites_name_themselves_and_their_event() {
        let ev = || "chat".to_string();
        let sites = [
            (HandlerSite::Middleware, "middleware", None),
            (HandlerSite::EventMiddleware(ev()), "event_middleware", Some("chat")),
            (HandlerSite::Connection, "connection", None),
            (HandlerSite::Event(ev()), "event", Some("chat")),
            (HandlerSite::Any(ev()), "any", Some("chat")),
            (HandlerSite::Fallback(ev()), "fallback", Some("chat")),
            (HandlerSite::Disconnecting, "disconnecting", None),
            (HandlerSite::Disconnect, "disconnect", None),
            (HandlerSite::RoomEvent, "room_event", None),
            (HandlerSite::DynamicPredicate, "dynamic_predicate", None),
            (HandlerSite::ServerSide(ev()), "server_side", Some("chat")),
        ];
        for (site, name, event) in &sites {
            assert_eq!((site.name(), site.event()), (*name, *event));
        }
        assert_eq!(HandlerSite::Connection.to_string(), "connection handler");
        assert_eq!(HandlerSite::Event(ev()).to_string(), "event handler of event \"chat\"");
    }

    #[test]
    fn guarded_turns_errors_into_failures_and_names_panics() {
        assert_eq!(guarded(|| Ok(5)), Ok(5));
        assert_eq!(guarded::<()>(|| Err("no".into())), Err((FailureKind::Error, "no".to_string())));
        let payload: Box<dyn Any + Send> = Box::new("boom");
        assert_eq!(panic_message(&*payload), "boom");
    }
}
