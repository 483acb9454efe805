//! Sockets: a connection's membership in one namespace.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::connection::{ConnInner, Connection};
use crate::engine::Counters;
use crate::error::{EmitError, RoomError};
use crate::handshake::Handshake;
use crate::message::{DisconnectReason, Message};
use crate::names;
use crate::namespace::Namespace;
use crate::operator::{check_emit, room_list, BroadcastOperator, EmitReport, Fanout, Rooms};
use crate::payload::Payload;
use crate::rooms::Member;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Created, in the connection's list, not yet in the namespace tables.
    Pending,
    /// In the namespace tables.
    Connected,
    /// `disconnecting` handlers run; rooms still visible; no joins.
    Disconnecting,
    /// Gone from every table.
    Disconnected,
}

/// Guarded by `SocketInner::state`. Lock order: a socket's state, then
/// shards; never held across user code.
pub(crate) struct SocketState {
    pub(crate) status: Status,
    /// Joined rooms, own-id room first; names shared with the room tables.
    pub(crate) rooms: SmallVec<[Arc<str>; 4]>,
    pub(crate) data: Option<Payload>,
    pub(crate) reason: Option<DisconnectReason>,
}

pub(crate) struct SocketInner {
    /// Engine-wide key used in the room tables.
    pub(crate) key: u64,
    /// The public, unguessable id; also the name of the own-id room.
    pub(crate) id: Arc<str>,
    pub(crate) ns: Namespace,
    pub(crate) conn: Arc<ConnInner>,
    pub(crate) handshake: Handshake,
    pub(crate) state: Mutex<SocketState>,
}

impl SocketInner {
    pub(crate) fn new(ns: Namespace, conn: Arc<ConnInner>, handshake: Handshake) -> SocketInner {
        let key = ns.inner.shared.next_key.fetch_add(1, Ordering::Relaxed);
        SocketInner {
            key,
            id: Arc::from(names::new_socket_id()),
            ns,
            conn,
            handshake,
            state: Mutex::new(SocketState {
                status: Status::Pending,
                rooms: SmallVec::new(),
                data: None,
                reason: None,
            }),
        }
    }

    fn member(&self) -> Member {
        Member { key: self.key, conn: self.conn.clone() }
    }
}

/// A connection's membership in one namespace: an id, rooms, data.
/// Cloning is cheap; clones are the same socket.
///
/// ```
/// use roomcast::{Engine, Config, Handshake};
/// let engine = Engine::new(Config::default());
/// let (conn, _outbox) = engine.connect();
/// let s = conn.join_namespace("/", Handshake::new())?;
/// s.join(["a", "b"])?;
/// assert_eq!(s.rooms(), vec![s.id().to_string(), "a".into(), "b".into()]);
/// s.leave("a")?;
/// assert!(!s.in_room("a"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Socket {
    pub(crate) inner: Arc<SocketInner>,
}

impl Socket {
    /// Puts the socket in the namespace tables and its own-id room. False if
    /// it was disconnected (its connection closed) before that could happen.
    pub(crate) fn register(&self) -> bool {
        let inner = &self.inner;
        let store = &inner.ns.inner.store;
        let mut st = inner.state.lock();
        if st.status != Status::Pending {
            return false;
        }
        store.add_socket(self.clone(), inner.member());
        let (added, name) = store.add(&inner.id, inner.member());
        let stats = &inner.ns.inner.shared.stats;
        if added.created {
            Counters::add(&stats.rooms, 1);
        }
        st.rooms.push(name);
        st.status = Status::Connected;
        Counters::add(&stats.sockets, 1);
        true
    }

    /// The socket's id: 20 random URL-safe characters, unique and unguessable.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Its namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.inner.ns
    }

    /// Its connection.
    pub fn connection(&self) -> Connection {
        Connection { inner: self.inner.conn.clone() }
    }

    /// The handshake it connected with.
    pub fn handshake(&self) -> &Handshake {
        &self.inner.handshake
    }

    /// Rooms it is in, own-id room first, then in join order.
    pub fn rooms(&self) -> Vec<String> {
        self.inner.state.lock().rooms.iter().map(|r| r.to_string()).collect()
    }

    /// Whether it is in `room`.
    pub fn in_room(&self, room: &str) -> bool {
        self.inner.state.lock().rooms.iter().any(|r| &**r == room)
    }

    /// True until it starts disconnecting.
    pub fn is_connected(&self) -> bool {
        self.inner.state.lock().status == Status::Connected
    }

    /// Why it disconnected, once it has.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        self.inner.state.lock().reason
    }

    /// Attaches data to the socket (returned by `fetch_sockets`).
    pub fn set_data(&self, data: impl Into<Payload>) {
        self.inner.state.lock().data = Some(data.into());
    }

    /// The socket's data, if set.
    pub fn data(&self) -> Option<Payload> {
        self.inner.state.lock().data.clone()
    }

    /// Joins one or several rooms. After it returns, every emit to those
    /// rooms reaches this socket. All-or-nothing: invalid names or the room
    /// limit fail the whole call and change nothing. Joining a room twice
    /// is a no-op.
    pub fn join<'a>(&self, rooms: impl Rooms<'a>) -> Result<(), RoomError> {
        let names = room_list(rooms);
        let inner = &self.inner;
        let shared = &inner.ns.inner.shared;
        for n in &names {
            names::check_room(n, shared.config.max_name_len())?;
        }
        let mut st = inner.state.lock();
        if st.status != Status::Connected {
            return Err(RoomError::Closed);
        }
        let mut fresh: SmallVec<[&str; 4]> = SmallVec::new();
        for n in &names {
            if !st.rooms.iter().any(|r| **r == **n) && !fresh.contains(&&**n) {
                fresh.push(n);
            }
        }
        // The own-id room does not count against the limit.
        let limit = shared.config.max_rooms_per_socket();
        if st.rooms.len().saturating_sub(1) + fresh.len() > limit {
            return Err(RoomError::TooManyRooms { limit });
        }
        let store = &inner.ns.inner.store;
        for n in fresh {
            let (added, name) = store.add(n, inner.member());
            if added.created {
                Counters::add(&shared.stats.rooms, 1);
            }
            st.rooms.push(name);
        }
        Ok(())
    }

    /// Leaves one or several rooms. After it returns, no emit to those rooms
    /// reaches this socket. Leaving a room it is not in is a no-op; a room
    /// is deleted when its last member leaves.
    pub fn leave<'a>(&self, rooms: impl Rooms<'a>) -> Result<(), RoomError> {
        let names = room_list(rooms);
        let inner = &self.inner;
        let shared = &inner.ns.inner.shared;
        for n in &names {
            names::check_room(n, shared.config.max_name_len())?;
        }
        let mut st = inner.state.lock();
        if st.status != Status::Connected {
            return Err(RoomError::Closed);
        }
        let store = &inner.ns.inner.store;
        for n in &names {
            let Some(pos) = st.rooms.iter().position(|r| **r == **n) else { continue };
            st.rooms.remove(pos);
            if store.remove(n, inner.key).deleted {
                Counters::sub(&shared.stats.rooms, 1);
            }
        }
        Ok(())
    }

    /// Sends `event` to this socket only.
    pub fn emit(&self, event: &str, payload: impl Into<Payload>) -> Result<EmitReport, EmitError> {
        let payload = payload.into();
        check_emit(&self.inner.ns, event, &payload)?;
        self.send(Message::event(self.inner.ns.inner.name.clone(), event, payload, None), false)
    }

    /// Sends `event` to this socket only, dropping it if the outbox is full.
    pub fn emit_volatile(&self, event: &str, payload: impl Into<Payload>) -> Result<EmitReport, EmitError> {
        let payload = payload.into();
        check_emit(&self.inner.ns, event, &payload)?;
        self.send(Message::event(self.inner.ns.inner.name.clone(), event, payload, None), true)
    }

    /// Pushes a prepared message into this socket's outbox.
    pub(crate) fn send(&self, msg: Message, volatile: bool) -> Result<EmitReport, EmitError> {
        if !matches!(self.inner.state.lock().status, Status::Connected | Status::Disconnecting) {
            return Err(EmitError::Closed);
        }
        let shared = &self.inner.ns.inner.shared;
        Counters::add(&shared.stats.emitted, 1);
        let mut fan = Fanout::new(&msg, volatile);
        fan.send_conn(&self.inner.conn, false);
        Ok(fan.finish(&shared.stats))
    }

    /// Every other socket of the namespace (the sender is excluded).
    pub fn broadcast(&self) -> BroadcastOperator<'_> {
        BroadcastOperator::new(&self.inner.ns, Some(self))
    }

    /// Members of `rooms`, except this socket.
    pub fn to<'a>(&'a self, rooms: impl Rooms<'a>) -> BroadcastOperator<'a> {
        self.broadcast().to(rooms)
    }

    /// Alias of [`to`](Self::to).
    pub fn in_<'a>(&'a self, rooms: impl Rooms<'a>) -> BroadcastOperator<'a> {
        self.to(rooms)
    }

    /// Every other socket except the members of `rooms`.
    pub fn except<'a>(&'a self, rooms: impl Rooms<'a>) -> BroadcastOperator<'a> {
        self.broadcast().except(rooms)
    }

    /// Disconnects the socket from its namespace (`server namespace
    /// disconnect`); a disconnect notice goes to the outbox so the transport
    /// can tell the client. Returns false if it was already disconnected.
    pub fn disconnect(&self) -> bool {
        self.disconnect_with(DisconnectReason::ServerNamespaceDisconnect)
    }

    /// Disconnects with a given reason (a transport reports
    /// `client namespace disconnect` this way). Server-side reasons put a
    /// notice in the outbox. Returns false if already disconnected.
    pub fn disconnect_with(&self, reason: DisconnectReason) -> bool {
        let inner = &self.inner;
        let was_registered = {
            let mut st = inner.state.lock();
            match st.status {
                Status::Pending => {
                    st.status = Status::Disconnected;
                    st.reason = Some(reason);
                    false
                }
                Status::Connected => {
                    st.status = Status::Disconnecting;
                    true
                }
                Status::Disconnecting | Status::Disconnected => return false,
            }
        };
        if !was_registered {
            return false;
        }
        let shared = &inner.ns.inner.shared;
        let store = &inner.ns.inner.store;
        {
            let mut st = inner.state.lock();
            for room in std::mem::take(&mut st.rooms) {
                if store.remove(&room, inner.key).deleted {
                    Counters::sub(&shared.stats.rooms, 1);
                }
            }
            store.remove_socket(inner.key);
            st.status = Status::Disconnected;
            st.reason = Some(reason);
        }
        inner.conn.forget_socket(inner.key);
        Counters::sub(&shared.stats.sockets, 1);
        if reason.is_server_side() {
            let msg = Message::disconnect(inner.ns.inner.name.clone(), reason);
            let mut fan = Fanout::new(&msg, false);
            fan.send_conn(&inner.conn, true);
            fan.finish(&shared.stats);
        }
        true
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").field("id", &self.id()).field("namespace", &self.namespace().name()).finish()
    }
}

impl PartialEq for Socket {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
impl Eq for Socket {}
