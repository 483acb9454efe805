//! The emit builder, [`BroadcastOperator`]: `to`, `except`, `volatile`,
//! `local`, `timeout`, then a terminal call (an emit or a server-side
//! operation, on this node or across the cluster).

use std::time::Duration;

use crate::acks::AckStream;
use crate::adapter::{ClusterError, ClusterReply, RemoteAcks, RemoteSocket, SocketsOp};
use crate::connection::Member;
use crate::emit::{check_rooms, emit_in, start_ack, ClusterAcks};
use crate::error::EmitError;
use crate::fanout::EmitReport;
use crate::namespace::Namespace;
use crate::payload::Payload;
use crate::selection::{room_list, RoomList, Rooms, Selection, Selector, Target};
use crate::socket::Socket;

/// A selection of sockets in one namespace and the flags of an emit:
/// `ns.to("a").to("b").except("c").volatile().emit(..)`.
///
/// Built by [`Namespace::to`], [`Namespace::except`], [`Socket::to`],
/// [`Socket::broadcast`] and friends. Nothing happens until a terminal call
/// (`emit`, `fetch_sockets`, `sockets_join`, ...).
#[must_use = "an operator does nothing until `emit` (or another terminal call)"]
pub struct BroadcastOperator<'a> {
    pub(crate) ns: &'a Namespace,
    /// The socket emitting (`socket.broadcast()`, `socket.to(..)`): it must
    /// still be live to send.
    pub(crate) sender: Option<&'a Socket>,
    /// The one socket left out, by key: the sender, or the socket named by
    /// [`except_socket`](Self::except_socket). Applied on this node only,
    /// where that socket lives.
    pub(crate) except_key: Option<u64>,
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
            except_key: sender.map(|s| s.inner.key),
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

    /// Leaves `socket` out of the selection, the way `socket.broadcast()`
    /// leaves out its sender (whether or not it is still connected; a
    /// socket of another namespace is never selected anyway). One socket
    /// per operator: a later call replaces an earlier one.
    pub fn except_socket(mut self, socket: &Socket) -> Self {
        self.except_key = Some(socket.inner.key);
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
        Selection { rooms: &self.rooms, except: &self.except, except_key: self.except_key }
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
        self.ns.check_emit(event, &payload)?;
        check_rooms(self.ns, &self.rooms)?;
        check_rooms(self.ns, &self.except)?;
        self.check_sender()?;
        let target = Target { sel: self.selection(), volatile: self.volatile };
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
        self.ns.check_emit(event, &payload)?;
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
        Selector::new(&self.rooms, &self.except, self.volatile)
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
        let excl = self.except_key;
        let stream = self.emit_with_ack(event, payload.clone())?;
        let remote = if local {
            RemoteAcks::none()
        } else {
            let target = Target { sel: Selection { rooms: &rooms, except: &except, except_key: excl }, volatile };
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

impl Socket {
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
}
