//! Namespaces: independent groups of sockets, rooms and handlers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::lock_order::{Mutex, Rank, RwLock};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::acks::{AckStream, AckTable};
use crate::adapter::{ClusterError, ClusterReply, RemoteSocket};
use crate::config::RecoveryConfig;
use crate::connection::RoomStore;
use crate::error::{ConfigError, ConnectError, EmitError, NameError};
use crate::events::{EventFlow, Inbound, RoomEvent};
use crate::failure::{guarded, HandlerError, HandlerFailure, HandlerResult, HandlerSite};
use crate::fanout::{EmitReport, Fanout};
use crate::handshake::Handshake;
use crate::hooks::{report, Hooks};
use crate::message::{DisconnectReason, Message, MessageKind};
use crate::operator::BroadcastOperator;
use crate::payload::Payload;
use crate::recovery::{Recovery, RecoveryStats};
use crate::responder::AckResponder;
use crate::selection::{Rooms, Selection, Target};
use crate::shared::Shared;
use crate::socket::{end_kept, Socket};

pub(crate) type Predicate = Arc<dyn Fn(&str, &Handshake) -> bool + Send + Sync>;

/// What a parent (dynamic) namespace has beyond a plain one.
pub(crate) struct ParentInfo {
    /// `None` once the engine is shut down. Held only to clone or take the
    /// `Arc`; the predicate runs with no lock held.
    pub(crate) predicate: Mutex<Option<Predicate>>,
    /// Children created from this parent, by name.
    pub(crate) children: RwLock<Vec<Namespace>>,
}

pub(crate) struct NsInner {
    /// The namespace's name, shared by every message emitted in it.
    pub(crate) name: Arc<str>,
    pub(crate) shared: Arc<Shared>,
    /// Rooms and sockets (internally sharded; see `rooms`).
    pub(crate) store: RoomStore,
    /// Callbacks, copy-on-write. The lock is held only to clone or replace
    /// the `Arc`, never while a callback runs.
    pub(crate) hooks: RwLock<Arc<Hooks>>,
    /// Mirrors "some room-event handler exists here or in the parent", so
    /// join/leave skip building events nobody reads.
    pub(crate) room_events_on: AtomicBool,
    /// For a child of a dynamic namespace: the parent whose hooks it inherits.
    pub(crate) parent: Option<Namespace>,
    /// For a parent (`engine.of_dynamic`): its predicate and children.
    pub(crate) parent_info: Option<ParentInfo>,
    /// Pending ack emits by ack id.
    pub(crate) acks: Arc<AckTable>,
    /// Source of ack ids (one per ack emit, shared by its recipients).
    pub(crate) next_ack: AtomicU64,
    /// Set (under the write lock) when an empty dynamic child is removed;
    /// registering a socket holds the read lock, so no socket can enter a
    /// removed namespace.
    pub(crate) removed: RwLock<bool>,
    /// Connection state recovery: fixed at first use (from `set_recovery`,
    /// else the parent's, else the engine configuration's).
    pub(crate) recovery: OnceLock<Option<Arc<Recovery>>>,
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
        Namespace::build(name, shared, None, None)
    }

    pub(crate) fn build(
        name: &str,
        shared: Arc<Shared>,
        parent: Option<Namespace>,
        parent_info: Option<ParentInfo>,
    ) -> Namespace {
        Namespace {
            inner: Arc::new(NsInner {
                name: Arc::from(name),
                shared,
                store: RoomStore::new(),
                hooks: RwLock::new(Rank::Hooks, Arc::new(Hooks::default())),
                room_events_on: AtomicBool::new(false),
                parent,
                parent_info,
                acks: Arc::new(Mutex::new(Rank::NsAcks, FxHashMap::default())),
                next_ack: AtomicU64::new(1),
                removed: RwLock::new(Rank::NsRemoved, false),
                recovery: OnceLock::new(),
            }),
        }
    }

    /// The hook tables that apply here: the parent's (for a dynamic child)
    /// first, then this namespace's own.
    pub(crate) fn hook_chain(&self) -> SmallVec<[Arc<Hooks>; 2]> {
        let mut v = SmallVec::new();
        if let Some(p) = &self.inner.parent {
            v.push(p.inner.hooks.read().clone());
        }
        v.push(self.inner.hooks.read().clone());
        v
    }

    pub(crate) fn wants_room_events(&self) -> bool {
        // Relaxed: a handler registered concurrently with a join may miss
        // that join's events; registration is not ordered with joins anyway.
        self.inner.room_events_on.load(Ordering::Relaxed)
            || self.inner.parent.as_ref().is_some_and(|p| p.inner.room_events_on.load(Ordering::Relaxed))
    }

    /// Drops every callback (engine teardown).
    pub(crate) fn clear_hooks(&self) {
        let old = std::mem::take(&mut *self.inner.hooks.write());
        self.inner.room_events_on.store(false, Ordering::Relaxed);
        // Dropped here, after the lock: a closure's drop may touch the engine.
        drop(old);
        if let Some(info) = &self.inner.parent_info {
            let children = info.children.read().clone();
            for child in children {
                child.clear_hooks();
            }
        }
    }

    fn edit_hooks<T>(&self, f: impl FnOnce(&mut Hooks) -> T) -> T {
        let mut guard = self.inner.hooks.write();
        f(Arc::make_mut(&mut guard))
    }

    /// Reports a callback failure to the error hooks in effect here (or
    /// prints it when there are none), exactly as a failing handler would.
    /// For hosts whose handlers finish later than the call that started them
    /// (e.g. a handler that schedules asynchronous work).
    pub fn report_failure(&self, failure: HandlerFailure) {
        self.report(failure)
    }

    /// Reports a callback failure to the error hooks in effect here.
    pub(crate) fn report(&self, failure: HandlerFailure) {
        let chain = self.hook_chain();
        let errors: SmallVec<[_; 4]> = chain.iter().flat_map(|h| h.errors.iter().cloned()).collect();
        report(&errors, failure);
    }

    /// Runs room-event handlers for `events` (no lock held).
    pub(crate) fn fire_room_events(&self, events: &[RoomEvent]) {
        if events.is_empty() {
            return;
        }
        let chain = self.hook_chain();
        for ev in events {
            for h in chain.iter().flat_map(|h| h.room_events.iter()) {
                if let Err((kind, message)) = guarded(|| h(ev)) {
                    self.report(HandlerFailure {
                        namespace: self.name().to_string(),
                        socket_id: ev.socket_id().map(str::to_string),
                        site: HandlerSite::RoomEvent,
                        kind,
                        message,
                    });
                }
            }
        }
    }

    /// True for a parent created by [`Engine::of_dynamic`](crate::Engine::of_dynamic).
    pub fn is_dynamic_parent(&self) -> bool {
        self.inner.parent_info.is_some()
    }

    /// For a child of a dynamic namespace, its parent.
    pub fn parent(&self) -> Option<&Namespace> {
        self.inner.parent.as_ref()
    }

    /// For a dynamic parent, the children created so far.
    pub fn children(&self) -> Vec<Namespace> {
        self.inner.parent_info.as_ref().map(|p| p.children.read().clone()).unwrap_or_default()
    }

    /// Adds namespace middleware. Middleware runs in registration order on
    /// the joining thread, before the socket exists anywhere; the first
    /// `Err` refuses the connect with its `{message, data}` and leaves no
    /// trace. A panicking middleware refuses the connect too and is
    /// reported through [`on_error`](Self::on_error).
    pub fn use_middleware(&self, f: impl Fn(&Handshake) -> Result<(), ConnectError> + Send + Sync + 'static) {
        self.edit_hooks(|h| h.middleware.push(Arc::new(f)));
    }

    /// Adds event middleware, run in order for every inbound event before
    /// any handler: `Ok(EventFlow::Drop)` drops the event silently, `Err`
    /// rejects it and reports the error through [`on_error`](Self::on_error)
    /// (nothing is sent to the client).
    pub fn use_event_middleware(
        &self,
        f: impl Fn(&Socket, &Inbound) -> Result<EventFlow, HandlerError> + Send + Sync + 'static,
    ) {
        self.edit_hooks(|h| h.event_middleware.push(Arc::new(f)));
    }

    /// Runs `f` for every socket that connects, on the joining thread, after
    /// the socket is in its own-id room.
    pub fn on_connection<R: HandlerResult>(&self, f: impl Fn(&Socket) -> R + Send + Sync + 'static) {
        self.edit_hooks(|h| h.connection.push(Arc::new(move |s| f(s).into_result())));
    }

    /// Checks an event name with the rule [`Socket::dispatch`] and emits
    /// apply (non-empty, at most `max_name_len` bytes, no control
    /// characters, not reserved). [`on`](Self::on) and [`off`](Self::off)
    /// apply it too, so no handler is ever registered for a name that can
    /// never be dispatched.
    pub fn check_event_name(&self, event: &str) -> Result<(), NameError> {
        crate::names::check_event(event, self.inner.shared.config.max_name_len())
    }

    /// The checks every emit in this namespace passes: the event name and
    /// the payload size.
    pub(crate) fn check_emit(&self, event: &str, payload: &Payload) -> Result<(), EmitError> {
        self.check_event_name(event)?;
        self.inner.shared.config.check_payload(payload)?;
        Ok(())
    }

    /// Handles inbound events named `event`, on the dispatching thread.
    /// Several handlers per event run in registration order; each gets a
    /// clone of the [`AckResponder`] when the client asked for an ack.
    /// `Err` (nothing registered, `f` dropped) for a name dispatch would
    /// refuse; see [`check_event_name`](Self::check_event_name).
    ///
    /// ```
    /// use roomcast::{Engine, Config, NameProblem};
    /// let engine = Engine::new(Config::default());
    /// let ns = engine.of("/")?;
    /// ns.on("chat message", |_s, _ev, _ack| {})?;
    /// assert_eq!(ns.on("", |_s, _ev, _ack| {}).unwrap_err().problem, NameProblem::Empty);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on<R: HandlerResult>(
        &self,
        event: &str,
        f: impl Fn(&Socket, &Inbound, Option<AckResponder>) -> R + Send + Sync + 'static,
    ) -> Result<(), NameError> {
        self.check_event_name(event)?;
        self.edit_hooks(|h| {
            h.events.entry(event.into()).or_default().push(Arc::new(move |s, e, a| f(s, e, a).into_result()))
        });
        Ok(())
    }

    /// Removes every handler of `event`. `Err` for a name that
    /// [`on`](Self::on) would refuse; removing a valid name without handlers
    /// succeeds.
    pub fn off(&self, event: &str) -> Result<(), NameError> {
        self.check_event_name(event)?;
        let removed = self.edit_hooks(|h| h.events.remove(event));
        // Dropped here, after the lock: a closure's drop may touch the engine.
        drop(removed);
        Ok(())
    }

    /// Observes every inbound event (after event middleware, before the
    /// specific handlers).
    pub fn on_any<R: HandlerResult>(&self, f: impl Fn(&Socket, &Inbound) -> R + Send + Sync + 'static) {
        self.edit_hooks(|h| h.any.push(Arc::new(move |s, e| f(s, e).into_result())));
    }

    /// Handles inbound events that no `on` handler takes.
    pub fn on_fallback<R: HandlerResult>(
        &self,
        f: impl Fn(&Socket, &Inbound, Option<AckResponder>) -> R + Send + Sync + 'static,
    ) {
        self.edit_hooks(|h| h.fallback.push(Arc::new(move |s, e, a| f(s, e, a).into_result())));
    }

    /// Runs when a socket starts disconnecting; its rooms are still visible.
    pub fn on_disconnecting<R: HandlerResult>(
        &self,
        f: impl Fn(&Socket, DisconnectReason) -> R + Send + Sync + 'static,
    ) {
        self.edit_hooks(|h| h.disconnecting.push(Arc::new(move |s, r| f(s, r).into_result())));
    }

    /// Runs once a socket has left every room, with the reason.
    pub fn on_disconnect<R: HandlerResult>(&self, f: impl Fn(&Socket, DisconnectReason) -> R + Send + Sync + 'static) {
        self.edit_hooks(|h| h.disconnect.push(Arc::new(move |s, r| f(s, r).into_result())));
    }

    /// Observes room changes: created, deleted, joined, left (own-id rooms
    /// included). Runs on the thread that made the change, after it. Like
    /// other handlers it may return an error, which goes to `on_error`.
    pub fn on_room_event<R: HandlerResult>(&self, f: impl Fn(&RoomEvent) -> R + Send + Sync + 'static) {
        self.edit_hooks(|h| h.room_events.push(Arc::new(move |ev| f(ev).into_result())));
        self.inner.room_events_on.store(true, Ordering::Relaxed);
    }

    /// Receives every handler failure (error, panic, event rejection) of
    /// this namespace. Without any, failures are printed to standard error.
    pub fn on_error(&self, f: impl Fn(&HandlerFailure) + Send + Sync + 'static) {
        self.edit_hooks(|h| h.errors.push(Arc::new(f)));
    }

    /// A selection with an ack timeout (for [`emit_with_ack`](BroadcastOperator::emit_with_ack)).
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator<'_> {
        BroadcastOperator::new(self, None).timeout(timeout)
    }

    /// Emits to the whole namespace and collects one reply per socket.
    pub fn emit_with_ack(&self, event: &str, payload: impl Into<Payload>) -> Result<AckStream, EmitError> {
        BroadcastOperator::new(self, None).emit_with_ack(event, payload)
    }

    /// Makes every socket of the namespace join `rooms`; returns how many did.
    pub fn sockets_join<'a>(&'a self, rooms: impl Rooms<'a>) -> Result<usize, EmitError> {
        BroadcastOperator::new(self, None).sockets_join(rooms)
    }

    /// Makes every socket of the namespace leave `rooms`; returns how many did.
    pub fn sockets_leave<'a>(&'a self, rooms: impl Rooms<'a>) -> Result<usize, EmitError> {
        BroadcastOperator::new(self, None).sockets_leave(rooms)
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

    /// Every socket of the namespace (of every child, for a dynamic parent).
    pub fn fetch_sockets(&self) -> Vec<Socket> {
        self.targets().iter().flat_map(|ns| ns.inner.store.all_sockets()).collect()
    }

    /// Disconnects every socket of the namespace; returns how many.
    pub fn disconnect_sockets(&self) -> usize {
        self.fetch_sockets().iter().filter(|s| s.disconnect()).count()
    }

    /// The namespaces an operation on this one acts on: itself, or a
    /// dynamic parent's children.
    pub(crate) fn targets(&self) -> SmallVec<[Namespace; 1]> {
        match &self.inner.parent_info {
            Some(p) => p.children.read().iter().cloned().collect(),
            None => smallvec::smallvec![self.clone()],
        }
    }

    /// The socket with this id, if it is connected here.
    pub fn socket(&self, id: &str) -> Option<Socket> {
        // Through the own-id room, which a socket cannot leave. Other
        // sockets may have joined a room of that name, hence the id check.
        let rooms = [std::borrow::Cow::Borrowed(id)];
        let sel = Selection { rooms: &rooms, except: &[], except_key: None };
        let store = &self.inner.store;
        store.selected_keys(&sel).into_iter().filter_map(|k| store.socket(k)).find(|s| s.id() == id)
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

    /// Connected sockets (of every child, for a dynamic parent).
    pub fn socket_count(&self) -> usize {
        self.targets().iter().map(|ns| ns.inner.store.socket_count()).sum()
    }

    /// Handles `event` sent by [`server_side_emit`](Self::server_side_emit)
    /// on another node of the cluster (Socket.IO's `io.on(..)` for
    /// `serverSideEmit`). The handler's return value is its ack reply
    /// (`None`: no reply). It runs on the cluster adapter's thread with no
    /// engine lock held; a panic is caught and reported to `on_error`.
    ///
    /// ```
    /// use roomcast::{Engine, Config, Payload};
    /// let engine = Engine::new(Config::default());
    /// let ns = engine.of("/")?;
    /// ns.on_server_side("ping", |p: &Payload| Some(Payload::text(format!("pong {}", p.as_str()?))));
    /// // Other nodes' emits reach it; `run_server_side` is what an adapter calls.
    /// assert_eq!(ns.run_server_side("ping", &"x".into())[0].as_str(), Some("pong x"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_server_side(&self, event: &str, f: impl Fn(&Payload) -> Option<Payload> + Send + Sync + 'static) {
        self.edit_hooks(|h| h.server_side.entry(Box::from(event)).or_default().push(Arc::new(f)));
    }

    /// Runs this node's `on_server_side(event)` handlers (the adapter calls
    /// it for another node's [`server_side_emit`](Self::server_side_emit));
    /// returns their replies. No lock is held while they run.
    pub fn run_server_side(&self, event: &str, payload: &Payload) -> Vec<Payload> {
        let chain = self.hook_chain();
        let mut replies = Vec::new();
        for hooks in &chain {
            let Some(handlers) = hooks.server_side.get(event) else { continue };
            for h in handlers {
                match guarded(|| Ok(h(payload))) {
                    Ok(Some(r)) => replies.push(r),
                    Ok(None) => {}
                    Err((kind, message)) => self.report(HandlerFailure {
                        namespace: self.name().to_string(),
                        socket_id: None,
                        site: HandlerSite::ServerSide(event.to_string()),
                        kind,
                        message,
                    }),
                }
            }
        }
        replies
    }

    /// Sends `event` to the `on_server_side` handlers of every *other*
    /// node (never this one). With the local adapter there is no other
    /// node. Fails only when the cluster bus is unreachable.
    pub fn server_side_emit(&self, event: &str, payload: impl Into<Payload>) -> Result<ClusterReply<()>, ClusterError> {
        let payload = payload.into();
        self.check_emit(event, &payload)?;
        let r = self.inner.shared.adapter.server_side_emit(self, event, &payload, None)?;
        Ok(ClusterReply { value: (), missing_nodes: r.missing_nodes })
    }

    /// Like [`server_side_emit`](Self::server_side_emit), and waits up to
    /// `timeout` for the handlers' replies (one per replying handler);
    /// nodes that did not answer in time are counted in `missing_nodes`.
    pub fn server_side_emit_with_ack(
        &self,
        event: &str,
        payload: impl Into<Payload>,
        timeout: Duration,
    ) -> Result<ClusterReply<Vec<Payload>>, ClusterError> {
        let payload = payload.into();
        self.check_emit(event, &payload)?;
        self.inner.shared.adapter.server_side_emit(self, event, &payload, Some(timeout))
    }

    /// An operator that acts on this node only: emits are not published,
    /// cluster operations ask no other node.
    pub fn local(&self) -> BroadcastOperator<'_> {
        BroadcastOperator::new(self, None).local()
    }

    /// This namespace's sockets as [`RemoteSocket`]s of node `node`.
    pub(crate) fn describe(&self, sockets: &[Socket], node: &str) -> Vec<RemoteSocket> {
        sockets
            .iter()
            .map(|s| RemoteSocket {
                id: s.id().to_string(),
                namespace: self.name().to_string(),
                rooms: s.rooms(),
                data: s.data(),
                node: node.to_string(),
            })
            .collect()
    }

    /// Delivers `message` to this process's sockets selected by `target`.
    /// The [`Adapter`](crate::Adapter) calls this; a cluster adapter also
    /// calls it for messages published by other nodes.
    ///
    /// With connection state recovery on, an event without ack id that is
    /// not volatile is numbered and kept by this node's log first, and the
    /// fan-out runs under the log (see [`Message::offset`]).
    pub fn deliver_local(&self, target: &Target<'_>, message: &Message) -> EmitReport {
        let mut fan = Fanout::new(message, target.volatile);
        let logged = match self.recovery_ref() {
            Some(rec) if !target.volatile && message.kind() == MessageKind::Event && message.ack_id().is_none() => {
                Some(rec.log(message, &target.sel))
            }
            _ => None,
        };
        self.inner.store.for_each_selected(&target.sel, &mut fan);
        let expired = logged.map(|(log, expired)| {
            drop(log);
            expired
        });
        let report = fan.finish(&self.inner.shared.stats);
        end_kept(expired.unwrap_or_default());
        report
    }

    pub(crate) fn recovery_ref(&self) -> Option<&Arc<Recovery>> {
        self.inner
            .recovery
            .get_or_init(|| {
                let cfg = match &self.inner.parent {
                    Some(p) => p.recovery_ref().map(|r| r.cfg.clone()),
                    None => self.inner.shared.config.connection_state_recovery().cloned(),
                };
                cfg.map(|c| Arc::new(Recovery::new(c)))
            })
            .as_ref()
    }

    pub(crate) fn recovery(&self) -> Option<Arc<Recovery>> {
        self.recovery_ref().cloned()
    }

    /// Sets this namespace's connection state recovery (`None`: off),
    /// overriding the engine's
    /// [`connection_state_recovery`](crate::ConfigBuilder::connection_state_recovery).
    /// A dynamic parent's setting applies to its children. Fixed at the
    /// namespace's first connect or emit: call it right after `engine.of`.
    /// What recovery does: [`Connection::resume_namespace`](crate::Connection::resume_namespace),
    /// [`Socket::is_awaiting_recovery`], [`Message::offset`].
    ///
    /// ```
    /// use roomcast::{Config, Engine, RecoveryConfig};
    /// use std::time::Duration;
    /// let engine = Engine::new(Config::default());
    /// let chat = engine.of("/chat")?;
    /// chat.set_recovery(Some(RecoveryConfig::new().max_disconnection_duration(Duration::from_secs(30))))?;
    /// assert!(chat.recovery_config().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_recovery(&self, config: Option<RecoveryConfig>) -> Result<(), ConfigError> {
        if let Some(c) = &config {
            c.check().map_err(|m| ConfigError::new("connection_state_recovery", m))?;
        }
        self.inner.recovery.set(config.map(|c| Arc::new(Recovery::new(c)))).map_err(|_| {
            ConfigError::new(
                "connection_state_recovery",
                "already fixed: set it before the namespace's first connect or emit".into(),
            )
        })
    }

    /// This namespace's connection state recovery settings, if it is on.
    pub fn recovery_config(&self) -> Option<RecoveryConfig> {
        self.recovery_ref().map(|r| r.cfg.clone())
    }

    /// What this node keeps for recovery in this namespace (`None`: off).
    pub fn recovery_stats(&self) -> Option<RecoveryStats> {
        self.recovery_ref().map(|r| r.stats())
    }

    /// Ends every socket kept for recovery here (engine shutdown).
    pub(crate) fn end_kept_sockets(&self) {
        if let Some(rec) = self.inner.recovery.get().and_then(Option::as_ref) {
            end_kept(rec.take_all());
        }
    }

    /// [`Engine::sweep_recovery`](crate::Engine::sweep_recovery) for this namespace.
    pub fn sweep_recovery(&self) {
        if let Some(rec) = self.inner.recovery.get().and_then(Option::as_ref) {
            end_kept(rec.sweep());
        }
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
