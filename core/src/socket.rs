//! Sockets: a connection's membership in one namespace.

use std::sync::Arc;

use smallvec::SmallVec;

use crate::connection::{ConnInner, ConnPin, Connection, Member};
use crate::error::{AckError, AckReceiveError, EmitError, RoomError};
use crate::events::RoomEvent;
use crate::failure::{guarded, HandlerError, HandlerFailure, HandlerSite};
use crate::fanout::{EmitReport, Fanout};
use crate::handshake::Handshake;
use crate::lock_order::{Mutex, Rank};
use crate::message::{DisconnectReason, Message};
use crate::names;
use crate::namespace::Namespace;
use crate::payload::Payload;
use crate::recovery::Recovery;
use crate::rooms::{room_hash, RoomName};
use crate::selection::{room_list, Rooms, Selection};
use crate::stats::Counters;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Created, in the connection's list, not yet in the namespace tables.
    Pending,
    /// In the namespace tables.
    Connected,
    /// `disconnecting` handlers run; rooms still visible; no joins.
    Disconnecting,
    /// Its connection ended unexpectedly; kept in its rooms for a resume
    /// (see `recovery`). Not live: it neither sends nor joins.
    Suspended,
    /// Gone from every table.
    Disconnected,
}

/// Guarded by `SocketInner::state` (a `parking_lot` mutex with its rank:
/// see the crate docs, "The lock order"); never held across user code.
pub(crate) struct SocketState {
    pub(crate) status: Status,
    /// Joined rooms, own-id room first; names shared with the room tables.
    pub(crate) rooms: SmallVec<[RoomName; 2]>,
    pub(crate) data: Option<Payload>,
    pub(crate) reason: Option<DisconnectReason>,
    /// Ids of ack emits waiting for this socket's reply (pruned lazily).
    pub(crate) acks: SmallVec<[u64; 2]>,
}

/// `repr(C)`: what a join or leave touches comes first (the state with its
/// inline room list, the key, the connection pin), so churn reads as few
/// cache lines of a socket as possible.
#[repr(C)]
pub(crate) struct SocketInner {
    /// Spin lock: held for a few instructions plus one shard update, and
    /// its unlock is a plain store rather than an atomic read-modify-write.
    pub(crate) state: Mutex<SocketState>,
    /// Engine-wide key used in the room tables.
    pub(crate) key: u64,
    /// A second strong count of `conn`, in the raw form the room entries
    /// point into (see `rooms::ConnRef` for the lifetime argument).
    pin: ConnPin,
    pub(crate) ns: Namespace,
    /// The public, unguessable id; also the name of the own-id room.
    pub(crate) id: Arc<str>,
    pub(crate) conn: Arc<ConnInner>,
    /// `None` for an empty handshake (see `handshake::EMPTY`).
    pub(crate) handshake: Option<Box<Handshake>>,
    /// Its recovery session, when the namespace keeps sockets for a resume.
    pub(crate) rec: Option<Box<SocketRecovery>>,
}

/// A socket's connection state recovery session (see `recovery`).
pub(crate) struct SocketRecovery {
    /// The namespace's log and kept sockets.
    pub(crate) log: Arc<Recovery>,
    /// The private session id a client presents to resume.
    pub(crate) pid: Arc<str>,
    /// The first offset this socket could have received.
    pub(crate) first: u64,
    /// Whether this socket is a resumed one.
    pub(crate) recovered: bool,
}

impl SocketInner {
    /// `id` comes from [`crate::random_id`]; `key` from `Shared::next_key`,
    /// or the kept socket's for a resume (a resumed socket keeps its key, so
    /// the sender exclusions kept in the recovery log still name it).
    pub(crate) fn with_key(
        ns: Namespace,
        conn: Arc<ConnInner>,
        handshake: Handshake,
        id: Arc<str>,
        key: u64,
        rec: Option<SocketRecovery>,
    ) -> SocketInner {
        SocketInner {
            rec: rec.map(Box::new),
            key,
            id,
            ns,
            pin: ConnPin::new(conn.clone()),
            conn,
            handshake: if handshake.is_empty() { None } else { Some(Box::new(handshake)) },
            state: Mutex::new(
                Rank::SocketState,
                SocketState {
                    status: Status::Pending,
                    rooms: SmallVec::new(),
                    data: None,
                    reason: None,
                    acks: SmallVec::new(),
                },
            ),
        }
    }

    fn member(&self) -> Member {
        self.pin.member_ref(self.key)
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
    /// Puts the socket in the namespace tables and its own-id room.
    pub(crate) fn register(&self) -> Registered {
        let inner = &self.inner;
        let ns = &inner.ns;
        let store = &ns.inner.store;
        let mut events = Vec::new();
        {
            let mut st = inner.state.lock();
            if st.status != Status::Pending {
                return Registered::Closed;
            }
            // Held while the socket enters the tables: an empty dynamic
            // namespace cannot be removed under it.
            let removed = ns.inner.removed.read();
            if *removed {
                st.status = Status::Disconnected;
                return Registered::NamespaceGone;
            }
            // Under the `removed` read lock: see `Shared::shut_down`.
            if ns.inner.shared.is_shut_down() {
                st.status = Status::Disconnected;
                return Registered::ShutDown;
            }
            store.add_socket(self.clone(), inner.member());
            let (added, name) = store.add(&inner.id, room_hash(&inner.id), Some(&inner.id), inner.member());
            let stats = &ns.inner.shared.stats;
            if added.created {
                Counters::add(&stats.rooms, 1);
            }
            if ns.wants_room_events() {
                if added.created {
                    events.push(RoomEvent::Created { room: inner.id.to_string() });
                }
                events.push(RoomEvent::Joined { room: inner.id.to_string(), socket_id: inner.id.to_string() });
            }
            st.rooms.push(name);
            st.status = Status::Connected;
            Counters::add(&stats.sockets, 1);
        }
        ns.fire_room_events(&events);
        Registered::Ok
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
        self.inner.handshake.as_deref().unwrap_or(&crate::handshake::EMPTY)
    }

    /// Rooms it is in, own-id room first, then in join order.
    pub fn rooms(&self) -> Vec<String> {
        self.inner.state.lock().rooms.iter().map(|r| r.name().to_string()).collect()
    }

    /// Whether it is in `room`.
    pub fn in_room(&self, room: &str) -> bool {
        let h = room_hash(room);
        self.inner.state.lock().rooms.iter().any(|r| r.is(h, room))
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
        if let Some(one) = rooms.single() {
            return self.join_one(one);
        }
        let names = room_list(rooms);
        if let [one] = names.as_slice() {
            return self.join_one(one);
        }
        let inner = &self.inner;
        let shared = &inner.ns.inner.shared;
        for n in &names {
            names::check_room(n, shared.config.max_name_len())?;
        }
        let mut st = inner.state.lock();
        if st.status != Status::Connected {
            return Err(RoomError::Closed);
        }
        let mut fresh: SmallVec<[(&str, u64); 4]> = SmallVec::new();
        for n in &names {
            let h = room_hash(n);
            if !st.rooms.iter().any(|r| r.is(h, n)) && !fresh.iter().any(|&(f, fh)| fh == h && f == &**n) {
                fresh.push((n, h));
            }
        }
        // The own-id room does not count against the limit.
        let limit = shared.config.max_rooms_per_socket();
        if st.rooms.len() - 1 + fresh.len() > limit {
            return Err(RoomError::TooManyRooms { limit });
        }
        let store = &inner.ns.inner.store;
        let want = inner.ns.wants_room_events();
        let mut events = Vec::new();
        for (n, h) in fresh {
            let (added, name) = store.add(n, h, None, inner.member());
            if added.created {
                Counters::add(&shared.stats.rooms, 1);
            }
            if want {
                if added.created {
                    events.push(RoomEvent::Created { room: n.to_string() });
                }
                events.push(RoomEvent::Joined { room: n.to_string(), socket_id: inner.id.to_string() });
            }
            st.rooms.push(name);
        }
        drop(st);
        inner.ns.fire_room_events(&events);
        Ok(())
    }

    /// Leaves one or several rooms. After it returns, no emit to those rooms
    /// reaches this socket. Leaving a room it is not in is a no-op; a room
    /// is deleted when its last member leaves. The own-id room cannot be
    /// left ([`RoomError::OwnRoom`]; nothing changes).
    pub fn leave<'a>(&self, rooms: impl Rooms<'a>) -> Result<(), RoomError> {
        if let Some(one) = rooms.single() {
            return self.leave_one(one);
        }
        let names = room_list(rooms);
        if let [one] = names.as_slice() {
            return self.leave_one(one);
        }
        let inner = &self.inner;
        let shared = &inner.ns.inner.shared;
        for n in &names {
            names::check_room(n, shared.config.max_name_len())?;
            if **n == *inner.id {
                return Err(RoomError::OwnRoom);
            }
        }
        let mut st = inner.state.lock();
        if st.status != Status::Connected {
            return Err(RoomError::Closed);
        }
        let store = &inner.ns.inner.store;
        let want = inner.ns.wants_room_events();
        let mut events = Vec::new();
        for n in &names {
            let h = room_hash(n);
            let Some(pos) = st.rooms.iter().position(|r| r.is(h, n)) else { continue };
            let room = st.rooms.remove(pos);
            let removed = store.remove(&room, inner.key);
            if removed.deleted {
                Counters::sub(&shared.stats.rooms, 1);
            }
            if want {
                events.push(RoomEvent::Left { room: n.to_string(), socket_id: inner.id.to_string() });
                if removed.deleted {
                    events.push(RoomEvent::Deleted { room: n.to_string() });
                }
            }
        }
        drop(st);
        inner.ns.fire_room_events(&events);
        Ok(())
    }

    /// `join` of exactly one room: the same steps and checks, without the
    /// lists a multi-room call needs (the common case, and the hot path of
    /// membership churn).
    fn join_one(&self, n: &str) -> Result<(), RoomError> {
        let inner = &self.inner;
        let shared = &inner.ns.inner.shared;
        names::check_room(n, shared.config.max_name_len())?;
        let h = room_hash(n);
        inner.ns.inner.store.prefetch_shard(h);
        let mut st = inner.state.lock();
        if st.status != Status::Connected {
            return Err(RoomError::Closed);
        }
        let fresh = !st.rooms.iter().any(|r| r.is(h, n));
        // The own-id room does not count against the limit.
        let limit = shared.config.max_rooms_per_socket();
        if st.rooms.len() - 1 + usize::from(fresh) > limit {
            return Err(RoomError::TooManyRooms { limit });
        }
        if !fresh {
            return Ok(());
        }
        let (added, name) = inner.ns.inner.store.add(n, h, None, inner.member());
        if added.created {
            Counters::add(&shared.stats.rooms, 1);
        }
        st.rooms.push(name);
        if !inner.ns.wants_room_events() {
            return Ok(());
        }
        drop(st);
        let mut events = Vec::with_capacity(2);
        if added.created {
            events.push(RoomEvent::Created { room: n.to_string() });
        }
        events.push(RoomEvent::Joined { room: n.to_string(), socket_id: inner.id.to_string() });
        inner.ns.fire_room_events(&events);
        Ok(())
    }

    /// `leave` of exactly one room (see [`Socket::join_one`]).
    fn leave_one(&self, n: &str) -> Result<(), RoomError> {
        let inner = &self.inner;
        let shared = &inner.ns.inner.shared;
        names::check_room(n, shared.config.max_name_len())?;
        if *n == *inner.id {
            return Err(RoomError::OwnRoom);
        }
        let h = room_hash(n);
        inner.ns.inner.store.prefetch_shard(h);
        let mut st = inner.state.lock();
        if st.status != Status::Connected {
            return Err(RoomError::Closed);
        }
        let Some(pos) = st.rooms.iter().position(|r| r.is(h, n)) else { return Ok(()) };
        let room = st.rooms.remove(pos);
        let removed = inner.ns.inner.store.remove(&room, inner.key);
        if removed.deleted {
            Counters::sub(&shared.stats.rooms, 1);
        }
        let want = inner.ns.wants_room_events();
        drop(st);
        if !want {
            return Ok(());
        }
        let mut events = Vec::with_capacity(2);
        events.push(RoomEvent::Left { room: n.to_string(), socket_id: inner.id.to_string() });
        if removed.deleted {
            events.push(RoomEvent::Deleted { room: n.to_string() });
        }
        inner.ns.fire_room_events(&events);
        Ok(())
    }

    /// Sends `event` to this socket only.
    pub fn emit(&self, event: &str, payload: impl Into<Payload>) -> Result<EmitReport, EmitError> {
        let payload = payload.into();
        self.inner.ns.check_emit(event, &payload)?;
        self.send(Message::event(self.inner.ns.inner.name.clone(), event, payload, None), false)
    }

    /// Sends `event` to this socket only, dropping it if the outbox is full.
    pub fn emit_volatile(&self, event: &str, payload: impl Into<Payload>) -> Result<EmitReport, EmitError> {
        let payload = payload.into();
        self.inner.ns.check_emit(event, &payload)?;
        self.send(Message::event(self.inner.ns.inner.name.clone(), event, payload, None), true)
    }

    /// Connected or still running its `disconnecting` handlers: it may
    /// still send (to itself or, as the sender, to its rooms).
    pub(crate) fn is_live(&self) -> bool {
        matches!(self.inner.state.lock().status, Status::Connected | Status::Disconnecting)
    }

    /// Pushes a prepared message into this socket's outbox (numbered and
    /// kept by the recovery log when the namespace has one and the message
    /// is an event without ack that is not volatile).
    pub(crate) fn send(&self, msg: Message, volatile: bool) -> Result<EmitReport, EmitError> {
        if !self.is_live() {
            return Err(EmitError::Closed);
        }
        let shared = &self.inner.ns.inner.shared;
        Counters::add(&shared.stats.emitted, 1);
        let mut fan = Fanout::new(&msg, volatile);
        let logged = match &self.inner.rec {
            Some(r) if !volatile && msg.ack_id().is_none() => {
                let rooms = [std::borrow::Cow::Borrowed(&*self.inner.id)];
                Some(r.log.log(&msg, &Selection { rooms: &rooms, except: &[], except_key: None }))
            }
            _ => None,
        };
        fan.send_conn(&self.inner.conn, false);
        let expired = logged.map(|(guard, expired)| {
            drop(guard);
            expired
        });
        let report = fan.finish(&shared.stats);
        end_kept(expired.unwrap_or_default());
        Ok(report)
    }

    /// The private session id a client presents to resume this socket
    /// after an unexpected disconnect ([`Connection::resume_namespace`]);
    /// `None` when its namespace has no connection state recovery. A bearer
    /// secret: hand it to this socket's client only (Socket.IO sends it in
    /// the CONNECT reply as `pid`).
    pub fn session_id(&self) -> Option<&str> {
        self.inner.rec.as_ref().map(|r| &*r.pid)
    }

    /// True when this socket was resumed by a reconnect: same id, rooms and
    /// data as before the drop, and every missed event queued ahead of
    /// anything newer. `connection` handlers read it to skip a welcome.
    pub fn recovered(&self) -> bool {
        self.inner.rec.as_ref().is_some_and(|r| r.recovered)
    }

    /// True while the socket is kept for a resume: its connection ended
    /// unexpectedly (`transport close`, `transport error`, `ping timeout`)
    /// and its namespace has connection state recovery. The `disconnecting`
    /// and `disconnect` handlers that run at the drop see `true`; at the
    /// final disconnect (reason `recovery expired`, or a server-side
    /// disconnect meanwhile) they see `false`. Its rooms still count it.
    pub fn is_awaiting_recovery(&self) -> bool {
        self.inner.state.lock().status == Status::Suspended
    }

    /// The first offset this socket could have received (recovery only).
    pub(crate) fn first_offset(&self) -> u64 {
        self.inner.rec.as_ref().map_or(1, |r| r.first)
    }

    /// Keeps the socket for a resume instead of disconnecting it (its
    /// connection ended with `reason`, a recoverable one): the handlers run
    /// with `is_awaiting_recovery()` true, pending acks fail, and the
    /// socket stays in its rooms under its session id.
    fn suspend(&self, rec: &SocketRecovery, reason: DisconnectReason) -> bool {
        let inner = &self.inner;
        if !self.begin_disconnect(reason, Status::Suspended) {
            return false;
        }
        let chain = inner.ns.hook_chain();
        for h in chain.iter().flat_map(|h| h.disconnecting.iter()) {
            self.run_guarded(HandlerSite::Disconnecting, || h(self, reason));
        }
        let acks = std::mem::take(&mut inner.state.lock().acks);
        self.fail_acks(acks);
        for h in chain.iter().flat_map(|h| h.disconnect.iter()) {
            self.run_guarded(HandlerSite::Disconnect, || h(self, reason));
        }
        inner.conn.forget_socket(inner.key);
        end_kept(rec.log.keep(rec.pid.clone(), self.clone()));
        true
    }

    /// The first step of a disconnect: a connected socket becomes `to`
    /// (`Suspended`: kept for a resume; `Disconnecting`: ending, which a
    /// kept socket may do too, when it expires or a server-side disconnect
    /// reaches it); one still registering is marked disconnected. False when
    /// there is nothing more to do.
    fn begin_disconnect(&self, reason: DisconnectReason, to: Status) -> bool {
        let mut st = self.inner.state.lock();
        match st.status {
            Status::Pending => {
                st.status = Status::Disconnected;
                st.reason = Some(reason);
                false
            }
            Status::Connected => {
                st.status = to;
                if to == Status::Suspended {
                    st.reason = Some(reason);
                }
                true
            }
            Status::Suspended if to == Status::Disconnecting => {
                st.status = to;
                true
            }
            _ => false,
        }
    }

    /// Pending ack emits to this socket resolve now rather than at timeout.
    fn fail_acks(&self, acks: SmallVec<[u64; 2]>) {
        let ns = &self.inner.ns;
        for id in acks {
            let state = ns.inner.acks.lock().get(&id).cloned();
            if let Some(state) = state {
                if state.fail(self.inner.key, AckError::Disconnected).complete {
                    state.unregister();
                }
            }
        }
    }

    /// Claims a kept socket for a resume: false if it is no longer kept (a
    /// server-side disconnect ended it). A claimed socket reads as
    /// disconnected, so nothing else can end it meanwhile; `unclaim`
    /// keeps it again. Called with the recovery log held.
    pub(crate) fn claim_kept(&self, claim: bool) -> bool {
        let mut st = self.inner.state.lock();
        let (from, to) =
            if claim { (Status::Suspended, Status::Disconnected) } else { (Status::Disconnected, Status::Suspended) };
        if st.status != from {
            return false;
        }
        st.status = to;
        true
    }

    /// Takes over the kept socket `old` (a resume): `old` leaves the tables
    /// and reads as disconnected; this socket, with the same key and id,
    /// enters them with `old`'s rooms and data. No room events: for the
    /// host, membership did not change. Called with the recovery log held.
    pub(crate) fn take_over(&self, old: &Socket) {
        let inner = &self.inner;
        let store = &inner.ns.inner.store;
        let stats = &inner.ns.inner.shared.stats;
        let (names, data) = {
            let mut st = old.inner.state.lock();
            let mut names = Vec::with_capacity(st.rooms.len());
            for room in std::mem::take(&mut st.rooms) {
                names.push(room.name().to_string());
                if store.remove(&room, old.inner.key).deleted {
                    Counters::sub(&stats.rooms, 1);
                }
            }
            store.remove_socket(old.inner.key);
            st.status = Status::Disconnected;
            (names, st.data.take())
        };
        let mut st = inner.state.lock();
        store.add_socket(self.clone(), inner.member());
        for name in names {
            let own = (*name == *inner.id).then_some(&inner.id);
            let (added, room) = store.add(&name, room_hash(&name), own, inner.member());
            if added.created {
                Counters::add(&stats.rooms, 1);
            }
            st.rooms.push(room);
        }
        st.data = data;
        st.status = Status::Connected;
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
    ///
    /// With connection state recovery on in its namespace, a recoverable
    /// reason (`transport close`, `transport error`, `ping timeout`) keeps
    /// the socket for a resume instead ([`is_awaiting_recovery`](Self::is_awaiting_recovery)).
    pub fn disconnect_with(&self, reason: DisconnectReason) -> bool {
        self.disconnect_keeping(reason, true)
    }

    /// [`disconnect_with`](Self::disconnect_with); `keep` false ends the
    /// socket for good whatever the reason.
    pub(crate) fn disconnect_keeping(&self, reason: DisconnectReason, keep: bool) -> bool {
        let inner = &self.inner;
        let ns = &inner.ns;
        if let Some(rec) = inner.rec.as_ref().filter(|_| keep && reason.is_recoverable()) {
            return self.suspend(rec, reason);
        }
        if !self.begin_disconnect(reason, Status::Disconnecting) {
            return false;
        }
        let chain = ns.hook_chain();
        for h in chain.iter().flat_map(|h| h.disconnecting.iter()) {
            self.run_guarded(HandlerSite::Disconnecting, || h(self, reason));
        }
        let shared = &ns.inner.shared;
        let store = &ns.inner.store;
        let want = ns.wants_room_events();
        let mut events = Vec::new();
        let acks = {
            let mut st = inner.state.lock();
            for room in std::mem::take(&mut st.rooms) {
                // Copied first: the name belongs to the room, which the
                // removal deletes when this was its last member.
                let name = want.then(|| room.name().to_string());
                let removed = store.remove(&room, inner.key);
                if removed.deleted {
                    Counters::sub(&shared.stats.rooms, 1);
                }
                if let Some(name) = name {
                    if removed.deleted {
                        events.push(RoomEvent::Left { room: name.clone(), socket_id: inner.id.to_string() });
                        events.push(RoomEvent::Deleted { room: name });
                    } else {
                        events.push(RoomEvent::Left { room: name, socket_id: inner.id.to_string() });
                    }
                }
            }
            store.remove_socket(inner.key);
            st.status = Status::Disconnected;
            st.reason = Some(reason);
            std::mem::take(&mut st.acks)
        };
        inner.conn.forget_socket(inner.key);
        Counters::sub(&shared.stats.sockets, 1);
        self.fail_acks(acks);
        if reason.is_server_side() {
            let _ = self.push_control(Message::disconnect(ns.inner.name.clone(), reason));
        }
        ns.fire_room_events(&events);
        for h in chain.iter().flat_map(|h| h.disconnect.iter()) {
            self.run_guarded(HandlerSite::Disconnect, || h(self, reason));
        }
        inner.conn.engine.remove_if_empty(ns);
        true
    }

    /// Runs one user callback for this socket, reporting a failure.
    pub(crate) fn run_guarded(&self, site: HandlerSite, f: impl FnOnce() -> Result<(), HandlerError>) -> bool {
        match guarded(f) {
            Ok(()) => true,
            Err((kind, message)) => {
                self.inner.ns.report(HandlerFailure {
                    namespace: self.inner.ns.name().to_string(),
                    socket_id: Some(self.id().to_string()),
                    site,
                    kind,
                    message,
                });
                false
            }
        }
    }

    /// Pushes a control message (ack reply, disconnect notice): never
    /// refused by the bounds, only by a closed connection.
    fn push_control(&self, msg: Message) -> bool {
        let shared = &self.inner.ns.inner.shared;
        let mut fan = Fanout::new(&msg, false);
        let queued = fan.send_conn(&self.inner.conn, true);
        fan.finish(&shared.stats);
        queued
    }

    /// Sends an ack reply to this socket's client.
    pub(crate) fn send_control(&self, msg: Message) -> Result<(), EmitError> {
        if !matches!(self.inner.state.lock().status, Status::Connected | Status::Disconnecting) {
            return Err(EmitError::Closed);
        }
        if self.push_control(msg) {
            Ok(())
        } else {
            Err(EmitError::Closed)
        }
    }

    /// Links a pending ack emit to this socket so a disconnect resolves it.
    /// False if the socket is already gone.
    pub(crate) fn track_ack(&self, id: u64) -> bool {
        let mut st = self.inner.state.lock();
        if !matches!(st.status, Status::Connected | Status::Disconnecting) {
            return false;
        }
        if st.acks.len() >= 8 {
            // Drop ids of finished emits so the list stays short.
            let live = self.inner.ns.inner.acks.lock();
            st.acks.retain(|id| live.contains_key(id));
        }
        st.acks.push(id);
        true
    }

    /// Reports the client's reply to an ack emit (from the transport).
    /// Late, unknown or duplicate replies are ignored and counted in
    /// `Stats::acks_ignored`; ignoring the error is always safe.
    pub fn receive_ack(&self, id: u64, payload: impl Into<Payload>) -> Result<(), AckReceiveError> {
        let payload = payload.into();
        let ns = &self.inner.ns;
        let shared = &ns.inner.shared;
        if let Err(e) = shared.config.check_payload(&payload) {
            Counters::add(&shared.stats.acks_ignored, 1);
            return Err(e.into());
        }
        let state = ns.inner.acks.lock().get(&id).cloned();
        let change = state.as_ref().map(|s| s.reply(self.inner.key, payload));
        match (state, change) {
            (Some(state), Some(c)) if c.accepted => {
                if c.complete {
                    state.unregister();
                }
                Ok(())
            }
            _ => {
                Counters::add(&shared.stats.acks_ignored, 1);
                Err(AckReceiveError::Ignored(id))
            }
        }
    }
}

/// Outcome of putting a socket in the tables.
pub(crate) enum Registered {
    Ok,
    /// Its connection closed first.
    Closed,
    /// The (dynamic) namespace was removed first; the join may retry.
    NamespaceGone,
    /// The engine was shut down first.
    ShutDown,
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

/// Ends kept sockets for good (expired, or whose resume failed): their
/// final `disconnecting`/`disconnect` run with reason `recovery expired`.
/// Must be called with no engine lock held.
pub(crate) fn end_kept(sockets: Vec<Socket>) {
    for s in sockets {
        s.disconnect_with(DisconnectReason::RecoveryExpired);
    }
}
