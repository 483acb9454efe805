//! The servers' common parts: the Socket.IO builder ([`SocketIoServer`]),
//! the state shared by the HTTP handlers and the sessions, and beneath
//! them one module per concern:
//!
//! * `options` — the options and the builder methods both servers share;
//! * `cors` — [`Cors`], the `Origin` check and CORS headers;
//! * `routing` — the HTTP entry point: handshakes, errors, dispatch;
//! * `polling` — long-polling GET and POST;
//! * `upgrade` — the WebSocket handshake and the upgrade from polling;
//! * `bound` — the running server ([`Bound`], [`ShutdownHandle`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use parking_lot::Mutex;
use roomcast::Engine;

use crate::session::{Layer, Session};
use crate::sio_layer::SioLayer;

pub(crate) mod bound;
mod cors;
pub(crate) mod options;
mod polling;
pub(crate) mod routing;
mod upgrade;

pub use bound::{Bound, ShutdownHandle};
pub use cors::Cors;
pub(crate) use options::{builder_methods, Options};

/// State shared by the HTTP handlers and every session.
pub(crate) struct Shared<L: Layer> {
    /// The layer on the Engine.IO sessions.
    pub(crate) layer: L,
    pub(crate) opts: Options,
    /// Live sessions by sid.
    pub(crate) sessions: Mutex<HashMap<String, Arc<Session<L>>>>,
}

impl<L: Layer> Shared<L> {
    pub(crate) fn new(layer: L, opts: Options) -> Arc<Shared<L>> {
        Arc::new(Shared { layer, opts, sessions: Mutex::new(HashMap::new()) })
    }

    fn session(&self, sid: &str) -> Option<Arc<Session<L>>> {
        self.sessions.lock().get(sid).cloned()
    }
}

/// A Socket.IO server (Engine.IO v4 + Socket.IO v5) in front of a roomcast
/// [`Engine`]. Every Engine.IO connection is one roomcast
/// [`Connection`](roomcast::Connection); each namespace the client joins is
/// one socket of it.
///
/// ```no_run
/// use std::time::Duration;
/// use roomcast::{Config, Engine};
/// use roomcast_socketio::{Cors, SocketIoServer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = Engine::new(Config::default());
/// engine.of("/")?.on("chat message", |socket, ev, _ack| {
///     socket.broadcast().emit("chat message", ev.payload().clone())?;
///     Ok(())
/// })?;
/// SocketIoServer::new(engine)
///     .path("/socket.io/")
///     .ping(Duration::from_secs(25), Duration::from_secs(20))
///     .cors(Cors::any())
///     .serve("127.0.0.1:3000")
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SocketIoServer {
    engine: Engine,
    opts: Options,
    /// Other routes served beside the Socket.IO path by `bind`/`serve`.
    routes: Option<Router>,
}

impl SocketIoServer {
    /// A server for `engine` with Socket.IO's defaults: path `/socket.io/`,
    /// ping every 25 s with a 20 s timeout, max payload 1 MB, upgrade
    /// timeout 10 s, at most 10 attachments per packet, 20 s for a binary
    /// packet's attachments to arrive, no CORS headers;
    /// and these limits (see the resource table in the crate docs): connect
    /// timeout 10 s, 50,000 sessions, 16 KiB of handshake headers and
    /// query, a 30 s polling body timeout, and for [`bind`](Self::bind) /
    /// [`serve`](Self::serve) a 10 s header-read timeout and 60,000
    /// connections.
    pub fn new(engine: Engine) -> SocketIoServer {
        SocketIoServer { engine, opts: Options::defaults("/socket.io/"), routes: None }
    }

    builder_methods!();

    /// How long a client may stay connected without joining a namespace
    /// (default 10 s; official clients send their CONNECT right after the
    /// handshake). An unauthenticated session costs memory until then.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.opts.connect_timeout = d;
        self
    }

    /// The most binary attachments one packet may announce (more: `parse error`).
    pub fn max_attachments(mut self, n: usize) -> Self {
        self.opts.max_attachments = n;
        self
    }

    /// How long a binary packet may wait for its attachments; a client
    /// that has not sent them all by then is disconnected (`parse error`).
    /// Default 20 s. (A packet and its attachments together are bounded
    /// by [`max_payload`](SocketIoServer::max_payload).)
    pub fn partial_packet_timeout(mut self, d: Duration) -> Self {
        self.opts.partial_packet_timeout = d;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The server's state and its other routes.
    fn into_parts(self) -> (Arc<Shared<SioLayer>>, Option<Router>) {
        (Shared::new(SioLayer { engine: self.engine }, self.opts), self.routes)
    }
}

/// The shared state of a server with default options (unit tests).
#[cfg(test)]
pub(crate) fn test_shared(engine: Engine) -> Arc<Shared<SioLayer>> {
    SocketIoServer::new(engine).into_parts().0
}
