//! Namespaces: independent groups of sockets, rooms and handlers.

use std::sync::Arc;

use crate::adapter::Target;
use crate::engine::Shared;
use crate::error::EmitError;
use crate::message::Message;
use crate::operator::{BroadcastOperator, EmitReport, Fanout, Rooms};
use crate::payload::Payload;
use crate::rooms::{RoomStore, Selection};
use crate::socket::Socket;

pub(crate) struct NsInner {
    /// The namespace's name, shared by every message emitted in it.
    pub(crate) name: Arc<str>,
    pub(crate) shared: Arc<Shared>,
    /// Rooms and sockets (internally sharded; see `rooms`).
    pub(crate) store: RoomStore,
}

/// A namespace (`engine.of("/chat")`): its own sockets, rooms, handlers and
/// middleware. Cloning is cheap; clones are the same namespace.
///
/// Rooms exist per namespace: room `"x"` in `/a` and room `"x"` in `/b`
/// are unrelated, and nothing emitted in one namespace reaches a socket of
/// another.
#[derive(Clone)]
pub struct Namespace {
    pub(crate) inner: Arc<NsInner>,
}

impl Namespace {
    pub(crate) fn new(name: &str, shared: Arc<Shared>) -> Namespace {
        Namespace { inner: Arc::new(NsInner { name: Arc::from(name), shared, store: RoomStore::new() }) }
    }

    /// The name, e.g. `"/chat"`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Emits to every socket of the namespace.
    pub fn emit(&self, event: &str, payload: impl Into<Payload>) -> Result<EmitReport, EmitError> {
        BroadcastOperator::new(self, None).emit(event, payload)
    }

    /// Selects the members of `rooms` (union); chain more `to`/`except`.
    pub fn to<'a>(&'a self, rooms: impl Rooms<'a>) -> BroadcastOperator<'a> {
        BroadcastOperator::new(self, None).to(rooms)
    }

    /// Alias of [`to`](Self::to).
    pub fn in_<'a>(&'a self, rooms: impl Rooms<'a>) -> BroadcastOperator<'a> {
        self.to(rooms)
    }

    /// Selects every socket except the members of `rooms`.
    pub fn except<'a>(&'a self, rooms: impl Rooms<'a>) -> BroadcastOperator<'a> {
        BroadcastOperator::new(self, None).except(rooms)
    }

    /// A volatile emit to the whole namespace (chain `to`/`except`).
    pub fn volatile(&self) -> BroadcastOperator<'_> {
        BroadcastOperator::new(self, None).volatile()
    }

    /// Every socket of the namespace.
    pub fn fetch_sockets(&self) -> Vec<Socket> {
        self.inner.store.all_sockets()
    }

    /// Disconnects every socket of the namespace; returns how many.
    pub fn disconnect_sockets(&self) -> usize {
        self.fetch_sockets().iter().filter(|s| s.disconnect()).count()
    }

    /// The socket with this id, if it is connected here.
    pub fn socket(&self, id: &str) -> Option<Socket> {
        let rooms = [std::borrow::Cow::Borrowed(id)];
        let sel = Selection { rooms: &rooms, except: &[], except_key: None };
        self.inner
            .store
            .selected_keys(&sel)
            .into_iter()
            .filter_map(|k| self.inner.store.socket(k))
            .find(|s| s.id() == id)
    }

    /// Names of every room (own-id rooms included), sorted.
    pub fn rooms(&self) -> Vec<String> {
        let mut v = self.inner.store.room_names();
        v.sort();
        v
    }

    /// Number of rooms (own-id rooms included).
    pub fn room_count(&self) -> usize {
        self.inner.store.room_count()
    }

    /// Members of `room`; 0 if it does not exist.
    pub fn room_size(&self, room: &str) -> usize {
        self.inner.store.room_size(room)
    }

    /// Connected sockets.
    pub fn socket_count(&self) -> usize {
        self.inner.store.socket_count()
    }

    /// Delivers `message` to this process's sockets selected by `target`.
    /// The [`Adapter`](crate::Adapter) calls this; a cluster adapter also
    /// calls it for messages published by other nodes.
    pub fn deliver_local(&self, target: &Target<'_>, message: &Message) -> EmitReport {
        let sel = Selection { rooms: target.rooms, except: target.except, except_key: target.except_key };
        let mut fan = Fanout::new(message, target.volatile);
        self.inner.store.for_each_selected(&sel, |m| {
            fan.send(m);
        });
        fan.finish(&self.inner.shared.stats)
    }

    pub(crate) fn selected_sockets(&self, sel: &Selection<'_>) -> Vec<Socket> {
        let keys = self.inner.store.selected_keys(sel);
        keys.into_iter().filter_map(|k| self.inner.store.socket(k)).collect()
    }
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace").field("name", &self.name()).finish()
    }
}

impl PartialEq for Namespace {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
impl Eq for Namespace {}
