//! Connections: one transport link, one outbox, sockets in several namespaces.

use std::sync::Arc;

use crate::lock_order::{Mutex, Rank};
use smallvec::SmallVec;

use crate::engine::Engine;
use crate::error::{ConnectError, JoinError};
use crate::handshake::Handshake;
use crate::hooks::{HandlerFailure, HandlerSite};
use crate::message::DisconnectReason;
use crate::names;
use crate::queue::Queue;
use crate::socket::{Registered, Socket, SocketInner};
use crate::stats::Counters;

/// The sockets of a connection; guarded by `ConnInner::sockets`.
pub(crate) struct ConnSockets {
    /// Set once by `close`; no socket may be added afterwards.
    closed: bool,
    /// One socket per joined namespace.
    list: SmallVec<[Socket; 2]>,
}

pub(crate) struct ConnInner {
    pub(crate) id: u64,
    pub(crate) engine: Engine,
    /// The outbox every socket of this connection delivers into.
    pub(crate) queue: Queue,
    /// Taken alone (see the crate docs, "The lock order"); never held across
    /// user code.
    sockets: Mutex<ConnSockets>,
}

impl ConnInner {
    pub(crate) fn new(id: u64, engine: Engine, queue: Queue) -> ConnInner {
        ConnInner {
            id,
            engine,
            queue,
            sockets: Mutex::new(Rank::ConnSockets, ConnSockets { closed: false, list: SmallVec::new() }),
        }
    }

    pub(crate) fn forget_socket(&self, key: u64) {
        self.sockets.lock().list.retain(|s| s.inner.key != key);
    }
}

/// Closes a connection: disconnects every socket (running the normal
/// disconnect cleanup), then closes the outbox. Idempotent. Must be called
/// with no engine lock held.
pub(crate) fn close_conn(conn: &Arc<ConnInner>, reason: DisconnectReason) {
    let sockets = {
        let mut st = conn.sockets.lock();
        if st.closed {
            return;
        }
        st.closed = true;
        std::mem::take(&mut st.list)
    };
    // Stop further pushes first when the queue overflowed: the cleanup below
    // must not race new messages in.
    if reason == DisconnectReason::QueueOverflow {
        conn.queue.seal();
    }
    for s in sockets {
        s.disconnect_with(reason);
    }
    if conn.queue.close(reason) {
        Counters::sub(&conn.engine.inner.shared.stats.connections, 1);
        conn.queue.fire_final_notify();
    }
}

/// One transport link (a WebSocket, a TCP client). Owns exactly one outbox,
/// shared by its sockets in every namespace it joins. Cloning is cheap.
///
/// The connection stays open until [`close`](Self::close) or until its
/// [`Outbox`](crate::Outbox) is dropped.
#[derive(Clone)]
pub struct Connection {
    pub(crate) inner: Arc<ConnInner>,
}

impl Connection {
    /// A number unique among this engine's connections.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Joins namespace `name` and returns the new socket.
    ///
    /// On this thread, in order: the name is checked; the namespace is found
    /// (or created by a dynamic parent that accepts the name); its
    /// middleware runs in registration order with no engine lock held, the
    /// first `Err` refusing the connect; the socket enters the namespace and
    /// its own-id room; the `connection` handlers run.
    ///
    /// Fails — leaving no socket, room or statistic behind — if the name is
    /// invalid, the handshake's auth payload is larger than `max_payload`
    /// (the rule every client payload meets), the engine is shut down,
    /// nobody serves the name (`ConnectError "Invalid namespace"`),
    /// middleware refuses, the connection is closed, or it already has a
    /// socket there.
    pub fn join_namespace(&self, name: &str, handshake: Handshake) -> Result<Socket, JoinError> {
        let engine = &self.inner.engine;
        names::check_namespace(name, engine.config().max_name_len())?;
        if let Some(auth) = handshake.auth_payload() {
            engine.config().check_payload(auth)?;
        }
        if engine.inner.shared.is_shut_down() {
            return Err(JoinError::ShutDown);
        }
        // A dynamic child may be removed (emptied) between resolving and
        // registering; then resolve again. Bounded: each retry means another
        // thread emptied and removed the namespace in that instant.
        let mut handshake = Some(handshake);
        for _ in 0..8 {
            let ns = engine
                .resolve(name, handshake.as_ref().unwrap_or(&Handshake::new()))
                .ok_or_else(ConnectError::invalid_namespace)?;
            if self.is_closed() {
                return Err(JoinError::ConnectionClosed);
            }
            let chain = ns.hook_chain();
            let hs = handshake.as_ref().unwrap_or(&Handshake::new()).clone();
            for mw in chain.iter().flat_map(|h| h.middleware.iter()) {
                match crate::hooks::guarded(|| Ok(mw(&hs))) {
                    Ok(Ok(())) => {}
                    Ok(Err(refusal)) => return Err(JoinError::Refused(refusal)),
                    Err((kind, message)) => {
                        ns.report(HandlerFailure {
                            namespace: ns.name().to_string(),
                            socket_id: None,
                            site: HandlerSite::Middleware,
                            kind,
                            message,
                        });
                        return Err(JoinError::Refused(ConnectError::new("Internal server error")));
                    }
                }
            }
            // Made before taking the lock; fails rather than guess.
            let id: Arc<str> = Arc::from(crate::random_id()?);
            let socket = {
                let mut st = self.inner.sockets.lock();
                if st.closed {
                    return Err(JoinError::ConnectionClosed);
                }
                if st.list.iter().any(|s| s.namespace() == &ns) {
                    return Err(JoinError::AlreadyJoined(name.to_string()));
                }
                let hs = handshake.take().unwrap_or_default();
                let socket = Socket { inner: Arc::new(SocketInner::new(ns.clone(), self.inner.clone(), hs, id)) };
                st.list.push(socket.clone());
                socket
            };
            match socket.register() {
                Registered::Ok => {}
                Registered::Closed => {
                    self.inner.forget_socket(socket.inner.key);
                    return Err(JoinError::ConnectionClosed);
                }
                Registered::ShutDown => {
                    self.inner.forget_socket(socket.inner.key);
                    return Err(JoinError::ShutDown);
                }
                Registered::NamespaceGone => {
                    self.inner.forget_socket(socket.inner.key);
                    handshake = Some(socket.handshake().clone());
                    continue;
                }
            }
            for h in chain.iter().flat_map(|h| h.connection.iter()) {
                socket.run_guarded(HandlerSite::Connection, || h(&socket));
            }
            return Ok(socket);
        }
        Err(JoinError::Refused(ConnectError::invalid_namespace()))
    }

    /// This connection's socket in namespace `name`, if any.
    pub fn socket(&self, name: &str) -> Option<Socket> {
        self.inner.sockets.lock().list.iter().find(|s| s.namespace().name() == name).cloned()
    }

    /// Every socket of this connection.
    pub fn sockets(&self) -> Vec<Socket> {
        self.inner.sockets.lock().list.to_vec()
    }

    /// Disconnects every socket with `reason`, then closes the outbox:
    /// queued messages stay readable, then receivers see `Closed`.
    /// Server-side reasons put a disconnect notice per socket in the outbox
    /// first. Closing twice does nothing.
    pub fn close(&self, reason: DisconnectReason) {
        close_conn(&self.inner, reason);
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.inner.sockets.lock().closed
    }

    /// Why it closed, once it has.
    pub fn close_reason(&self) -> Option<DisconnectReason> {
        self.inner.queue.close_reason()
    }

    /// The engine it belongs to.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("id", &self.inner.id).field("closed", &self.is_closed()).finish()
    }
}

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
impl Eq for Connection {}
