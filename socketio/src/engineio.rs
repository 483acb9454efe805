//! The Engine.IO v4 server as a layer of its own: sessions over
//! WebSocket, HTTP long-polling and polling upgraded to WebSocket, with
//! the heartbeat, `maxPayload`, the upgrade and the close handshake, and
//! text and binary messages both ways. [`SocketIoServer`](crate::SocketIoServer)
//! is this server with the Socket.IO layer on top.
//!
//! A host implements [`EioHandler`] (open, message, upgrade, close) and
//! serves it with [`EngineIoServer`]; each client is an [`EioSession`]
//! it can send text or binary messages to and close.
//!
//! A session's outbound messages wait in a bounded FIFO outbox (a
//! roomcast [`Outbox`](roomcast::Outbox): its bounds and overflow policy
//! come from the [`Config`] given to
//! [`with_config`](EngineIoServer::with_config)), drained by the same
//! session task and written in batches as Socket.IO's are: one flush per
//! round over WebSocket, one response per GET over polling.

use std::sync::{Arc, OnceLock, Weak};

use axum::Router;
use bytes::{BufMut, Bytes, BytesMut};
use roomcast::{Config, DisconnectReason, EmitError, Engine, Format, Handshake, Message, MessageKind, Payload, Socket};

use crate::eio::{self, Frame};
use crate::server::{builder_methods, Options, Shared};
use crate::session::{Layer, Session};

/// A message from or to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioMessage {
    /// A text message (Engine.IO packet `4`).
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

/// What a host does with Engine.IO sessions. Every method is called on the
/// runtime's worker thread that read the packet or ran the session (keep
/// them short; hand long work to a task). No lock is held during a call:
/// a handler may send to or close any session.
pub trait EioHandler: Send + Sync + 'static {
    /// A session opened (the handshake is done): `handshake` holds the
    /// opening request's headers, query and remote address.
    fn on_open(&self, session: &EioSession, handshake: &Handshake) {
        let _ = (session, handshake);
    }

    /// A message from the client.
    fn on_message(&self, session: &EioSession, message: EioMessage);

    /// The session moved from polling to WebSocket.
    fn on_upgrade(&self, session: &EioSession) {
        let _ = session;
    }

    /// The session is over, for `reason`: `transport close` (the client
    /// closed it), `ping timeout`, `transport error`, `parse error`,
    /// `forced server close` ([`EioSession::close`]), `server shutting
    /// down`, `queue overflow`. Called once per opened session.
    fn on_close(&self, session: &EioSession, reason: DisconnectReason) {
        let _ = (session, reason);
    }
}

/// One client's Engine.IO session (cheap to clone; it does not keep the
/// session alive).
#[derive(Clone)]
pub struct EioSession {
    inner: Arc<SessionHandle>,
}

struct SessionHandle {
    sid: String,
    /// The session's place in the internal engine: its outbox.
    socket: Socket,
    session: Weak<dyn Close>,
}

/// Closing a session, whatever its handler type.
trait Close: Send + Sync {
    fn close(&self, reason: DisconnectReason);
}

impl<H: EioHandler> Close for Session<EioLayer<H>> {
    fn close(&self, reason: DisconnectReason) {
        Session::close(self, reason);
    }
}

impl std::fmt::Debug for EioSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EioSession").field("id", &self.inner.sid).finish()
    }
}

impl EioSession {
    /// The session id (`sid`).
    pub fn id(&self) -> &str {
        &self.inner.sid
    }

    /// The opening request's headers, query and remote address.
    pub fn handshake(&self) -> &Handshake {
        self.inner.socket.handshake()
    }

    /// Queues a text message. Errors when the session is closed or the
    /// message is over the engine's payload limit; a full outbox applies
    /// its overflow policy.
    pub fn send_text(&self, text: impl Into<String>) -> Result<(), EmitError> {
        self.inner.socket.emit(EVENT, Payload::text(text)).map(drop)
    }

    /// Queues a binary message (see [`send_text`](Self::send_text)).
    pub fn send_binary(&self, data: impl Into<Bytes>) -> Result<(), EmitError> {
        self.inner.socket.emit(EVENT, Payload::binary(data)).map(drop)
    }

    /// Queues a message of either kind.
    pub fn send(&self, message: EioMessage) -> Result<(), EmitError> {
        match message {
            EioMessage::Text(t) => self.send_text(t),
            EioMessage::Binary(b) => self.send_binary(b),
        }
    }

    /// Closes the session (`forced server close`): what is queued is
    /// written, then the client gets the close packet.
    pub fn close(&self) {
        if let Some(s) = self.inner.session.upgrade() {
            s.close(DisconnectReason::ForcedServerClose);
        }
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        !self.inner.socket.is_connected()
    }
}

/// The event name outbound messages carry in the internal engine.
const EVENT: &str = "message";

/// The Engine.IO layer: sessions join the one namespace of an internal
/// engine (their outbox), messages go to the handler.
pub(crate) struct EioLayer<H> {
    engine: Engine,
    handler: H,
}

impl<H: EioHandler> Layer for EioLayer<H> {
    type State = OnceLock<EioSession>;
    type Task = ();
    type Cmd = std::convert::Infallible;
    const CONNECT_TIMEOUT: bool = false;

    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn state(&self) -> OnceLock<EioSession> {
        OnceLock::new()
    }

    fn on_open(sess: &Arc<Session<Self>>) {
        let Ok(socket) = sess.conn.join_namespace("/", Handshake::clone(&sess.base)) else {
            sess.close(DisconnectReason::ForcedServerClose);
            return;
        };
        let weak: Weak<Session<Self>> = Arc::downgrade(sess);
        let handle = EioSession { inner: Arc::new(SessionHandle { sid: sess.sid.clone(), socket, session: weak }) };
        let handle = sess.layer.get_or_init(|| handle);
        sess.shared.layer.handler.on_open(handle, &sess.base);
    }

    fn on_message(sess: &Session<Self>, packet: eio::Packet) -> Result<(), DisconnectReason> {
        let Some(handle) = sess.layer.get() else { return Ok(()) };
        let msg = match packet {
            eio::Packet::Message(t) => EioMessage::Text(t),
            eio::Packet::Binary(b) => EioMessage::Binary(b),
            _ => return Ok(()),
        };
        sess.shared.layer.handler.on_message(handle, msg);
        Ok(())
    }

    fn frames(_: &Session<Self>, _: &mut (), msgs: std::vec::Drain<'_, Message>, out: &mut Vec<Frame>) {
        for msg in msgs {
            message_frame(&msg, out);
        }
    }

    fn on_cmd(_: &Session<Self>, _: &mut (), cmd: std::convert::Infallible, _: &mut Vec<Frame>) {
        match cmd {}
    }

    fn on_upgrade(sess: &Session<Self>) {
        if let Some(handle) = sess.layer.get() {
            sess.shared.layer.handler.on_upgrade(handle);
        }
    }

    fn on_close(sess: &Session<Self>, reason: DisconnectReason) {
        if let Some(handle) = sess.layer.get() {
            sess.shared.layer.handler.on_close(handle, reason);
        }
    }
}

/// The frame of an outbound message: binary as is, text as packet `4`
/// (encoded once per message and cached on it).
fn message_frame(msg: &Message, out: &mut Vec<Frame>) {
    if msg.kind() != MessageKind::Event {
        return;
    }
    let Some(p) = msg.payload() else { return };
    if p.format() == Format::Binary {
        out.push(Frame::Binary(p.bytes().clone()));
        return;
    }
    let enc = msg.encoded_with(|m| {
        let body = m.payload().map(|p| p.as_bytes()).unwrap_or_default();
        let mut b = BytesMut::with_capacity(body.len() + 1);
        b.put_u8(b'4');
        b.put_slice(body);
        b.freeze()
    });
    out.push(Frame::Text(enc.into_owned()));
}

/// An Engine.IO v4 server: [`EioHandler`] `H` gets every session's events.
///
/// Defaults: path `/engine.io/`, the heartbeat, limits and timeouts of
/// [`SocketIoServer::new`](crate::SocketIoServer::new), and the outbox
/// bounds of [`Config::default`].
pub struct EngineIoServer<H: EioHandler> {
    handler: H,
    config: Config,
    opts: Options,
    routes: Option<Router>,
}

impl<H: EioHandler> EngineIoServer<H> {
    /// A server for `handler` with the defaults.
    pub fn new(handler: H) -> Self {
        Self::with_config(handler, Config::default())
    }

    /// A server whose sessions' outboxes have `config`'s bounds
    /// (`max_queue`, `max_queue_bytes`, the overflow policy) and whose
    /// outbound messages are bounded by its `max_payload`.
    pub fn with_config(handler: H, config: Config) -> Self {
        EngineIoServer { handler, config, opts: Options::defaults("/engine.io/"), routes: None }
    }

    builder_methods!();

    /// The server's state and its other routes.
    fn into_parts(self) -> (Arc<Shared<EioLayer<H>>>, Option<Router>) {
        let engine = Engine::new(self.config);
        // The one namespace every session joins (a valid name: cannot fail).
        engine.of("/").expect("the root namespace");
        (Shared::new(EioLayer { engine, handler: self.handler }, self.opts), self.routes)
    }
}
