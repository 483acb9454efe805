//! Emit operators: `to`, `except`, `volatile`, and the fan-out itself.

use std::borrow::Cow;
use std::sync::Arc;

use smallvec::SmallVec;

use std::time::Duration;

use crate::acks::{AckReply, AckState, AckStream};
use crate::adapter::{ClusterError, ClusterReply, RemoteAcks, RemoteSocket, Selector, SocketsOp, Target};
use crate::connection::{close_conn, ConnInner};
use crate::error::{AckError, EmitError};
use crate::message::{DisconnectReason, Message, Prepaid};
use crate::names;
use crate::namespace::Namespace;
use crate::payload::Payload;
use crate::queue::Pushed;
use crate::rooms::{Member, Selection, Visit};
use crate::socket::Socket;
use crate::stats::Counters;

/// One or several room names: `"a"`, `String`, `["a", "b"]`, `vec![..]`,
/// `&[..]`. Borrowed names are not copied.
pub trait Rooms<'a> {
    /// Appends the names to `out`.
    fn push_into(self, out: &mut RoomList<'a>);

    /// The name, when this is exactly one name (lets `join`/`leave` of one
    /// room skip building a list). `None` means "use `push_into`".
    #[doc(hidden)]
    fn single(&self) -> Option<&str> {
        None
    }
}

/// A short list of room names.
pub type RoomList<'a> = SmallVec<[Cow<'a, str>; 2]>;

impl<'a> Rooms<'a> for &'a str {
    fn push_into(self, out: &mut RoomList<'a>) {
        out.push(Cow::Borrowed(self));
    }
    fn single(&self) -> Option<&str> {
        Some(self)
    }
}
impl<'a> Rooms<'a> for &'a String {
    fn push_into(self, out: &mut RoomList<'a>) {
        out.push(Cow::Borrowed(self.as_str()));
    }
    fn single(&self) -> Option<&str> {
        Some(self.as_str())
    }
}
impl<'a> Rooms<'a> for String {
    fn push_into(self, out: &mut RoomList<'a>) {
        out.push(Cow::Owned(self));
    }
    fn single(&self) -> Option<&str> {
        Some(self.as_str())
    }
}
impl<'a> Rooms<'a> for Cow<'a, str> {
    fn push_into(self, out: &mut RoomList<'a>) {
        out.push(self);
    }
    fn single(&self) -> Option<&str> {
        Some(self)
    }
}
impl<'a, T: Rooms<'a>> Rooms<'a> for Vec<T> {
    fn push_into(self, out: &mut RoomList<'a>) {
        for r in self {
            r.push_into(out);
        }
    }
}
impl<'a, T: Rooms<'a>, const N: usize> Rooms<'a> for [T; N] {
    fn push_into(self, out: &mut RoomList<'a>) {
        for r in self {
            r.push_into(out);
        }
    }
}
impl<'a, T: Rooms<'a> + Clone> Rooms<'a> for &'a [T] {
    fn push_into(self, out: &mut RoomList<'a>) {
        for r in self {
            r.clone().push_into(out);
        }
    }
}

pub(crate) fn room_list<'a>(rooms: impl Rooms<'a>) -> RoomList<'a> {
    let mut v = RoomList::new();
    rooms.push_into(&mut v);
    v
}

/// What an emit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EmitReport {
    /// Sockets the target selected.
    pub recipients: usize,
    /// Outboxes that accepted the message.
    pub queued: usize,
    /// Recipients whose outbox refused it (full, volatile, closing).
    /// `queued + dropped == recipients`.
    pub dropped: usize,
}

/// Follow-up owed to a connection after a fan-out, done once no lock is held.
enum Followup {
    Notify,
    Overflow,
}

/// Accumulates a fan-out: pushes into outboxes under the room locks and
/// remembers the follow-ups (notify callbacks, overflow disconnects) to run
/// once those locks are released.
pub(crate) struct Fanout<'m> {
    /// References to the message, taken in bulk.
    refs: Prepaid<'m>,
    volatile: bool,
    pub(crate) report: EmitReport,
    evicted: u64,
    followups: Vec<(Arc<ConnInner>, Followup)>,
}

impl<'m> Fanout<'m> {
    pub(crate) fn new(msg: &'m Message, volatile: bool) -> Self {
        Fanout { refs: Prepaid::new(msg), volatile, report: EmitReport::default(), evicted: 0, followups: Vec::new() }
    }

    /// Pushes into one member's outbox; returns whether it was queued.
    #[inline(always)]
    pub(crate) fn send(&mut self, m: &Member) -> bool {
        self.push(m.conn.get(), false, || m.conn.to_arc())
    }

    #[inline]
    pub(crate) fn send_conn(&mut self, conn: &Arc<ConnInner>, control: bool) -> bool {
        self.push(conn, control, || conn.clone())
    }

    /// Pushes into `conn`'s outbox; `owned` makes the handle a follow-up
    /// keeps past the locks (rare: overflow or an empty -> non-empty
    /// transition with a notify callback).
    #[inline(always)]
    fn push(&mut self, conn: &ConnInner, control: bool, owned: impl Fn() -> Arc<ConnInner>) -> bool {
        self.report.recipients += 1;
        let out = conn.queue.push(&mut self.refs, self.volatile, control);
        let queued = match out.pushed {
            Pushed::Queued { evicted } => {
                self.report.queued += 1;
                self.evicted += u64::from(evicted);
                true
            }
            Pushed::Dropped => {
                self.report.dropped += 1;
                false
            }
            Pushed::Overflow => {
                self.report.dropped += 1;
                self.followups.push((owned(), Followup::Overflow));
                false
            }
        };
        if out.notify {
            self.followups.push((owned(), Followup::Notify));
        }
        queued
    }

    /// Records the statistics and runs the follow-ups. Must be called with
    /// no engine lock held: it calls notify callbacks and may close
    /// connections (which runs disconnect handlers).
    pub(crate) fn finish(self, counters: &Counters) -> EmitReport {
        Counters::add(&counters.delivered, self.report.queued as u64);
        Counters::add(&counters.dropped, self.report.dropped as u64 + self.evicted);
        for (conn, f) in self.followups {
            match f {
                Followup::Notify => conn.queue.fire_notify(),
                Followup::Overflow => close_conn(&conn, DisconnectReason::QueueOverflow),
            }
        }
        self.report
    }
}

impl Visit for Fanout<'_> {
    #[inline(always)]
    fn visit(&mut self, m: &Member) {
        self.send(m);
    }
}

/// One emit in one (non-parent) namespace, through the adapter unless
/// `local`.
fn emit_in(ns: &Namespace, target: &Target<'_>, event: &str, payload: Payload, local: bool) -> EmitReport {
    let msg = Message::event(ns.inner.name.clone(), event, payload, None);
    let shared = &ns.inner.shared;
    Counters::add(&shared.stats.emitted, 1);
    if local {
        ns.deliver_local(target, &msg)
    } else {
        shared.adapter.broadcast(ns, target, &msg)
    }
}

/// The replies to [`BroadcastOperator::emit_with_cluster_ack`]: this
/// node's [`AckStream`] and the other nodes' [`RemoteAcks`].
#[derive(Debug)]
pub struct ClusterAcks {
    local: AckStream,
    remote: RemoteAcks,
}

impl ClusterAcks {
    /// This node's recipients (known at once).
    pub fn local(&self) -> &AckStream {
        &self.local
    }

    /// Waits for every reply: this node's (each a reply or a per-socket
    /// error after the timeout) followed by the other nodes'. Nodes that
    /// did not answer, or could not be reached, are counted in
    /// `missing_nodes`; their sockets are not in the list.
    pub fn wait(self) -> ClusterReply<Vec<AckReply>> {
        let mut replies = self.local.wait();
        match self.remote.wait() {
            Ok(r) => {
                replies.extend(r.value);
                ClusterReply { value: replies, missing_nodes: r.missing_nodes }
            }
            Err(ClusterError::Unavailable { missing_nodes, .. }) => ClusterReply { value: replies, missing_nodes },
            Err(ClusterError::Invalid(_)) => ClusterReply { value: replies, missing_nodes: 0 },
        }
    }
}

/// The common part of every ack emit: registers the ack state, lets
/// `deliver` fan the message out (recording `(socket key, queued)` per
/// recipient, under the room locks), then — with no lock held — resolves
/// the recipient list, links each pending ack to its socket (so a
/// disconnect resolves it) and arms the timeout.
pub(crate) fn start_ack(
    ns: &Namespace,
    event: &str,
    payload: Payload,
    timeout: Option<Duration>,
    volatile: bool,
    deliver: impl FnOnce(&mut Fanout<'_>, &mut Vec<(u64, bool)>),
) -> Result<AckStream, EmitError> {
    let shared = &ns.inner.shared;
    let timer = shared.timer().map_err(|e| EmitError::TimerUnavailable(e.to_string()))?;
    let id = ns.inner.next_ack.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let state = Arc::new(AckState::new(id, Arc::downgrade(&ns.inner.acks)));
    ns.inner.acks.lock().insert(id, state.clone());

    let msg = Message::event(ns.inner.name.clone(), event, payload, Some(id));
    Counters::add(&shared.stats.emitted, 1);
    let mut sent = Vec::new();
    let mut fan = Fanout::new(&msg, volatile);
    deliver(&mut fan, &mut sent);
    fan.finish(&shared.stats);

    let mut recipients = Vec::with_capacity(sent.len());
    let mut linked = Vec::with_capacity(sent.len());
    for (key, queued) in sent {
        match ns.inner.store.socket(key) {
            Some(s) => {
                let status = if queued { Ok(()) } else { Err(AckError::NotDelivered) };
                recipients.push((key, s.inner.id.clone(), status));
                if queued {
                    linked.push(s);
                }
            }
            // Disconnected between the fan-out and now; its id is gone
            // from the tables but the socket handle is not needed to report.
            None => recipients.push((key, Arc::from("?"), Err(AckError::Disconnected))),
        }
    }
    let expected = recipients.len();
    let (ignored, complete) = state.finalize(recipients);
    Counters::add(&shared.stats.acks_ignored, ignored);
    for s in linked {
        if !s.track_ack(id) && state.fail(s.inner.key, AckError::Disconnected).complete {
            state.unregister();
        }
    }
    if complete {
        state.unregister();
    } else if let Some(at) = crate::queue::deadline(timeout.unwrap_or(shared.config.ack_timeout())) {
        // A timeout past what `Instant` represents never fires.
        timer.schedule(at, &state);
    }
    Ok(AckStream::new(state, expected))
}

pub(crate) fn check_emit(ns: &Namespace, event: &str, payload: &Payload) -> Result<(), EmitError> {
    ns.check_event_name(event)?;
    ns.inner.shared.config.check_payload(payload)?;
    Ok(())
}

pub(crate) fn check_rooms(ns: &Namespace, rooms: &[Cow<'_, str>]) -> Result<(), EmitError> {
    let max = ns.inner.shared.config.max_name_len();
    for r in rooms {
        names::check_room(r, max)?;
    }
    Ok(())
}

/// A selection of sockets in one namespace and the flags of an emit:
/// `ns.to("a").to("b").except("c").volatile().emit(..)`.
///
/// Built by [`Namespace::to`], [`Namespace::except`], [`Socket::to`],
/// [`Socket::broadcast`] and friends. Nothing happens until a terminal call
/// (`emit`, `fetch_sockets`, `sockets_join`, ...).
#[must_use = "an operator does nothing until `emit` (or another terminal call)"]
pub struct BroadcastOperator<'a> {
    pub(crate) ns: &'a Namespace,
    pub(crate) sender: Option<&'a Socket>,
    pub(crate) rooms: RoomList<'a>,
    pub(crate) except: RoomList<'a>,
    pub(crate) volatile: bool,
    pub(crate) timeout: Option<Duration>,
    /// Skip the adapter: this node only.
    pub(crate) local: bool,
}

impl<'a> BroadcastOperator<'a> {
    pub(crate) fn new(ns: &'a Namespace, sender: Option<&'a Socket>) -> Self {
        BroadcastOperator {
            ns,
            sender,
            rooms: RoomList::new(),
            except: RoomList::new(),
            volatile: false,
            timeout: None,
            local: false,
        }
    }

    /// Sets the ack timeout of [`emit_with_ack`](Self::emit_with_ack)
    /// (default: the engine's `ack_timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Adds rooms to the target (union). `to(socket_id)` addresses one socket.
    pub fn to(mut self, rooms: impl Rooms<'a>) -> Self {
        rooms.push_into(&mut self.rooms);
        self
    }

    /// Alias of [`to`](Self::to).
    pub fn in_(self, rooms: impl Rooms<'a>) -> Self {
        self.to(rooms)
    }

    /// Excludes the members of these rooms (or the socket with this id).
    pub fn except(mut self, rooms: impl Rooms<'a>) -> Self {
        rooms.push_into(&mut self.except);
        self
    }

    /// Drops the message for any recipient whose outbox is full instead of
    /// applying its overflow policy.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Acts on this node only: the emit is not published to other nodes
    /// of a cluster, and cluster operations ask no other node.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    pub(crate) fn selection(&self) -> Selection<'_> {
        Selection { rooms: &self.rooms, except: &self.except, except_key: self.sender.map(|s| s.inner.key) }
    }

    fn check_sender(&self) -> Result<(), EmitError> {
        match self.sender {
            // A disconnecting socket may still tell its rooms it is leaving.
            Some(s) if !s.is_live() => Err(EmitError::Closed),
            _ => Ok(()),
        }
    }

    /// Sends `event` with `payload` to every selected socket, at most once
    /// each. The message is built once and shared by all recipients.
    pub fn emit(self, event: &str, payload: impl Into<Payload>) -> Result<EmitReport, EmitError> {
        let payload = payload.into();
        check_emit(self.ns, event, &payload)?;
        check_rooms(self.ns, &self.rooms)?;
        check_rooms(self.ns, &self.except)?;
        self.check_sender()?;
        let target = Target {
            rooms: &self.rooms,
            except: &self.except,
            except_key: self.sender.map(|s| s.inner.key),
            volatile: self.volatile,
        };
        if self.ns.is_dynamic_parent() {
            // A parent's emit reaches every child, one message per child
            // (each carries its own namespace name).
            let mut total = EmitReport::default();
            for ns in self.ns.targets() {
                let r = emit_in(&ns, &target, event, payload.clone(), self.local);
                total.recipients += r.recipients;
                total.queued += r.queued;
                total.dropped += r.dropped;
            }
            return Ok(total);
        }
        Ok(emit_in(self.ns, &target, event, payload, self.local))
    }

    /// Sends `event` to every selected socket with an ack id, and returns
    /// the stream of their replies: one per recipient, each the client's
    /// answer, or `Timeout` after the timeout, `Disconnected`, or
    /// `NotDelivered` when its outbox refused the message. The expected
    /// count is known at once.
    pub fn emit_with_ack(self, event: &str, payload: impl Into<Payload>) -> Result<AckStream, EmitError> {
        let payload = payload.into();
        check_emit(self.ns, event, &payload)?;
        check_rooms(self.ns, &self.rooms)?;
        check_rooms(self.ns, &self.except)?;
        self.check_sender()?;
        if self.ns.is_dynamic_parent() {
            return Err(EmitError::AckOnParent);
        }
        let sel = self.selection();
        let store = &self.ns.inner.store;
        start_ack(self.ns, event, payload, self.timeout, self.volatile, |fan, out| {
            store.for_each_selected(&sel, &mut |m: &Member| {
                let queued = fan.send(m);
                out.push((m.key, queued));
            });
        })
    }

    /// The selected sockets (id, rooms and data are read from the handles).
    pub fn fetch_sockets(self) -> Result<Vec<Socket>, EmitError> {
        check_rooms(self.ns, &self.rooms)?;
        check_rooms(self.ns, &self.except)?;
        Ok(self.ns.selected_sockets(&self.selection()))
    }

    /// Makes every selected socket join `rooms`. Sockets that cannot (room
    /// limit, disconnected meanwhile) are skipped; returns how many joined.
    pub fn sockets_join(self, rooms: impl Rooms<'a>) -> Result<usize, EmitError> {
        let names = room_list(rooms);
        check_rooms(self.ns, &names)?;
        let sockets = self.fetch_sockets()?;
        Ok(sockets.iter().filter(|s| s.join(names.as_slice()).is_ok()).count())
    }

    /// Makes every selected socket leave `rooms`; returns how many were
    /// still connected.
    pub fn sockets_leave(self, rooms: impl Rooms<'a>) -> Result<usize, EmitError> {
        let names = room_list(rooms);
        check_rooms(self.ns, &names)?;
        let sockets = self.fetch_sockets()?;
        Ok(sockets.iter().filter(|s| s.leave(names.as_slice()).is_ok()).count())
    }

    /// Disconnects every selected socket (`server namespace disconnect`);
    /// returns how many it disconnected.
    pub fn disconnect_sockets(self) -> Result<usize, EmitError> {
        let sockets = self.fetch_sockets()?;
        Ok(sockets.iter().filter(|s| s.disconnect()).count())
    }

    fn selector(&self) -> Selector {
        Selector {
            rooms: self.rooms.iter().map(|r| r.to_string()).collect(),
            except: self.except.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// Like [`emit_with_ack`](Self::emit_with_ack), across the cluster:
    /// other nodes deliver to their selected sockets with ack ids and send
    /// back every reply. The sender exclusion applies on this node (the
    /// sender lives here).
    pub fn emit_with_cluster_ack(self, event: &str, payload: impl Into<Payload>) -> Result<ClusterAcks, EmitError> {
        let payload = payload.into();
        let local = self.local;
        let timeout = self.timeout.unwrap_or(self.ns.inner.shared.config.ack_timeout());
        let ns = self.ns;
        let rooms = self.rooms.clone();
        let except = self.except.clone();
        let volatile = self.volatile;
        let excl = self.sender.map(|s| s.inner.key);
        let stream = self.emit_with_ack(event, payload.clone())?;
        let remote = if local {
            RemoteAcks::none()
        } else {
            let target = Target { rooms: &rooms, except: &except, except_key: excl, volatile };
            ns.inner.shared.adapter.broadcast_with_ack(ns, &target, event, &payload, timeout)
        };
        Ok(ClusterAcks { local: stream, remote })
    }

    /// The selected sockets on every node of the cluster (this node's
    /// first), with their rooms and data.
    pub fn cluster_fetch_sockets(self) -> Result<ClusterReply<Vec<RemoteSocket>>, ClusterError> {
        check_rooms(self.ns, &self.rooms)?;
        check_rooms(self.ns, &self.except)?;
        let adapter = &self.ns.inner.shared.adapter;
        let node = adapter.node_id();
        let sel = self.selector();
        let mut out = ClusterReply::complete(Vec::new());
        for ns in self.ns.targets() {
            let local = ns.selected_sockets(&self.selection());
            out.value.extend(ns.describe(&local, &node));
            if !self.local {
                let r = adapter.fetch_sockets(&ns, &sel)?;
                out.value.extend(r.value);
                out.missing_nodes = out.missing_nodes.max(r.missing_nodes);
            }
        }
        Ok(out)
    }

    fn cluster_apply(self, op: SocketsOp) -> Result<ClusterReply<usize>, ClusterError> {
        let sel = self.selector();
        let local = self.local;
        let ns = self.ns;
        let here = match &op {
            SocketsOp::Join(r) => self.sockets_join(r.clone())?,
            SocketsOp::Leave(r) => self.sockets_leave(r.clone())?,
            SocketsOp::Disconnect => self.disconnect_sockets()?,
        };
        let mut out = ClusterReply::complete(here);
        if !local {
            for child in ns.targets() {
                let r = ns.inner.shared.adapter.apply(&child, &sel, &op)?;
                out.value += r.value;
                out.missing_nodes = out.missing_nodes.max(r.missing_nodes);
            }
        }
        Ok(out)
    }

    /// [`sockets_join`](Self::sockets_join) on every node; returns how many
    /// sockets joined cluster-wide. When the bus is unreachable this node's
    /// sockets have joined and the error says how many nodes were missed.
    pub fn cluster_sockets_join(self, rooms: impl Rooms<'a>) -> Result<ClusterReply<usize>, ClusterError> {
        let names: Vec<String> = room_list(rooms).iter().map(|r| r.to_string()).collect();
        self.cluster_apply(SocketsOp::Join(names))
    }

    /// [`sockets_leave`](Self::sockets_leave) on every node.
    pub fn cluster_sockets_leave(self, rooms: impl Rooms<'a>) -> Result<ClusterReply<usize>, ClusterError> {
        let names: Vec<String> = room_list(rooms).iter().map(|r| r.to_string()).collect();
        self.cluster_apply(SocketsOp::Leave(names))
    }

    /// [`disconnect_sockets`](Self::disconnect_sockets) on every node.
    pub fn cluster_disconnect_sockets(self) -> Result<ClusterReply<usize>, ClusterError> {
        self.cluster_apply(SocketsOp::Disconnect)
    }
}
