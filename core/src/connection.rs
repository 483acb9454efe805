//! Connections: one transport link, one outbox, sockets in several namespaces.

use std::sync::Arc;

use crate::lock_order::{Mutex, Rank};
use smallvec::SmallVec;

use crate::engine::Engine;
use crate::error::JoinError;
use crate::message::DisconnectReason;
use crate::queue::Queue;
use crate::rooms::{self, Link};
use crate::socket::Socket;
use crate::stats::Counters;

/// A room entry of this engine: a socket key and its connection.
pub(crate) type Member = rooms::Member<ConnInner>;
/// A socket's pin on its connection (what its room entries point into).
pub(crate) type ConnPin = rooms::ConnPin<ConnInner>;
/// A namespace's membership tables, holding this engine's sockets.
pub(crate) type RoomStore = rooms::RoomStore<ConnInner, Socket>;

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

impl Link for ConnInner {
    #[inline(always)]
    fn queue(&self) -> &Queue {
        &self.queue
    }
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

    /// Adds the socket `make` builds, unless the connection is closed or
    /// `clash` finds one of its sockets already in that namespace (`name`).
    pub(crate) fn add_socket(
        &self,
        name: &str,
        clash: impl Fn(&Socket) -> bool,
        make: impl FnOnce() -> Socket,
    ) -> Result<Socket, JoinError> {
        let mut st = self.sockets.lock();
        if st.closed {
            return Err(JoinError::ConnectionClosed);
        }
        if st.list.iter().any(clash) {
            return Err(JoinError::AlreadyJoined(name.to_string()));
        }
        let socket = make();
        st.list.push(socket.clone());
        Ok(socket)
    }

    pub(crate) fn forget_socket(&self, key: u64) {
        self.sockets.lock().list.retain(|s| s.inner.key != key);
    }
}

/// Closes a connection: disconnects every socket (running the normal
/// disconnect cleanup), then closes the outbox. Idempotent. Must be called
/// with no engine lock held.
pub(crate) fn close_conn(conn: &Arc<ConnInner>, reason: DisconnectReason) {
    close_conn_with(conn, reason, true);
}

/// [`close_conn`]; with `keep` false the sockets end for good even for a
/// recoverable reason (the host dropped its outbox: nobody resumes through
/// a connection its host let go of, and kept sockets would hold the engine).
pub(crate) fn close_conn_with(conn: &Arc<ConnInner>, reason: DisconnectReason, keep: bool) {
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
        s.disconnect_keeping(reason, keep);
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
