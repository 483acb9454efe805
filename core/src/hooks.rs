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

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::error::{ConnectError, DispatchError};
use crate::events::{EventFlow, Inbound, RoomEvent};
use crate::failure::{guarded, FailureKind, HandlerError, HandlerFailure, HandlerSite};
use crate::handshake::Handshake;
use crate::message::DisconnectReason;
use crate::payload::Payload;
use crate::responder::AckResponder;
use crate::socket::Socket;

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

impl Socket {
    /// Hands an event from the wire to the namespace's handlers, on this
    /// thread: event middleware in order (may drop or reject), then `on_any`
    /// observers, then every handler of the event in registration order (or
    /// the fallback when there is none). Each handler runs with no engine
    /// lock held and may call any engine operation; a failing or panicking
    /// handler is reported through `on_error` and does not stop the others.
    pub fn dispatch(&self, event: Inbound) -> Result<Dispatched, DispatchError> {
        let ns = &self.inner.ns;
        ns.check_event_name(event.name())?;
        ns.inner.shared.config.check_payload(event.payload())?;
        if !self.is_connected() {
            return Err(DispatchError::Closed);
        }
        let chain = ns.hook_chain();
        let name = event.name();
        for mw in chain.iter().flat_map(|h| h.event_middleware.iter()) {
            match guarded(|| mw(self, &event)) {
                Ok(EventFlow::Continue) => {}
                Ok(EventFlow::Drop) => return Ok(Dispatched::Dropped),
                Err((kind, message)) => {
                    let kind = if kind == FailureKind::Error { FailureKind::Rejected } else { kind };
                    ns.report(HandlerFailure {
                        namespace: ns.name().to_string(),
                        socket_id: Some(self.id().to_string()),
                        site: HandlerSite::EventMiddleware(name.to_string()),
                        kind,
                        message,
                    });
                    return Ok(Dispatched::Rejected);
                }
            }
        }
        for h in chain.iter().flat_map(|h| h.any.iter()) {
            self.run_guarded(HandlerSite::Any(name.to_string()), || h(self, &event));
        }
        let responder = event.ack_id().map(|id| AckResponder::new(self.clone(), id));
        let mut handled = 0;
        for h in chain.iter().filter_map(|h| h.events.get(name)).flatten() {
            handled += 1;
            self.run_guarded(HandlerSite::Event(name.to_string()), || h(self, &event, responder.clone()));
        }
        if handled > 0 {
            return Ok(Dispatched::Handled(handled));
        }
        for h in chain.iter().flat_map(|h| h.fallback.iter()) {
            handled += 1;
            self.run_guarded(HandlerSite::Fallback(name.to_string()), || h(self, &event, responder.clone()));
        }
        Ok(if handled > 0 { Dispatched::Fallback } else { Dispatched::Unhandled })
    }
}

/// What [`Socket::dispatch`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatched {
    /// This many handlers ran (failures are reported, not returned).
    Handled(usize),
    /// No handler matched; the fallback handlers ran.
    Fallback,
    /// No handler matched and there is no fallback.
    Unhandled,
    /// Event middleware dropped it.
    Dropped,
    /// Event middleware rejected it (reported through `on_error`).
    Rejected,
}
