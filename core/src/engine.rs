//! The engine: configuration, namespaces, connections, statistics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::lock_order::{Mutex, Rank, RwLock};
use rustc_hash::FxHashMap;

use crate::adapter::{Adapter, LocalAdapter};
use crate::config::{Config, ConnectOptions};
use crate::connection::{ConnInner, Connection};
use crate::error::{ConfigError, ConnectError, JoinError, NamespaceError};
use crate::failure::{guarded, HandlerFailure, HandlerSite};
use crate::fanout::Fanout;
use crate::handshake::Handshake;
use crate::names;
use crate::namespace::{Namespace, ParentInfo};
use crate::outbox::Outbox;
use crate::queue::Queue;
use crate::recovery::Recovery;
use crate::shared::Shared;
use crate::socket::{end_kept, Registered, Socket, SocketInner, SocketRecovery};
use crate::stats::{Counters, Stats};

impl Drop for EngineInner {
    /// Handlers commonly capture their own namespace (`let ns2 = ns.clone();
    /// ns.on(.., move |..| ns2.emit(..))`), a cycle through the namespace's
    /// hook table. When the engine goes away nothing can run them any more,
    /// so the tables are emptied and those cycles freed.
    fn drop(&mut self) {
        let namespaces: Vec<Namespace> = self.namespaces.get_mut().drain().map(|(_, ns)| ns).collect();
        let parents = std::mem::take(self.parents.get_mut());
        for ns in namespaces.iter().chain(parents.iter()) {
            ns.clear_hooks();
        }
        // A parent and its children point at each other; forget the children.
        for parent in &parents {
            if let Some(info) = &parent.inner.parent_info {
                info.children.write().clear();
            }
        }
    }
}

pub(crate) struct EngineInner {
    pub(crate) shared: Arc<Shared>,
    /// Every namespace by name. Written when a namespace is created or
    /// removed; read on `join_namespace` and `of`.
    pub(crate) namespaces: RwLock<FxHashMap<Arc<str>, Namespace>>,
    /// Dynamic parents, asked in registration order about unknown names.
    pub(crate) parents: RwLock<Vec<Namespace>>,
    /// Source of the synthetic names of dynamic parents.
    next_parent: AtomicU64,
}

/// The root object: configuration, namespaces and statistics. Cloning is
/// cheap and every clone is the same engine; share it across threads.
///
/// ```
/// use roomcast::{Engine, Config, Handshake};
/// let engine = Engine::new(Config::default());
/// let chat = engine.of("/chat")?;
/// let (conn, outbox) = engine.connect();
/// let socket = conn.join_namespace("/chat", Handshake::new())?;
/// socket.join("lobby")?;
/// let report = chat.to("lobby").emit("news", "hello")?;
/// assert_eq!(report.queued, 1);
/// assert_eq!(outbox.try_recv()?.event_name(), Some("news"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

impl Engine {
    /// An engine with the local (single-process) adapter.
    pub fn new(config: Config) -> Engine {
        Engine::with_adapter(config, Arc::new(LocalAdapter))
    }

    /// An engine whose emits go through `adapter` (for example one that
    /// also publishes to other nodes).
    pub fn with_adapter(config: Config, adapter: Arc<dyn Adapter>) -> Engine {
        let shared = Arc::new(Shared::new(config, adapter));
        let engine = Engine {
            inner: Arc::new(EngineInner {
                shared,
                namespaces: RwLock::new(Rank::Namespaces, FxHashMap::default()),
                parents: RwLock::new(Rank::Parents, Vec::new()),
                next_parent: AtomicU64::new(1),
            }),
        };
        // `/` always exists.
        let root = Namespace::new("/", engine.inner.shared.clone());
        engine.inner.namespaces.write().insert(root.inner.name.clone(), root);
        engine.inner.shared.adapter.attach(WeakEngine(Arc::downgrade(&engine.inner)));
        engine
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.shared.config
    }

    /// The namespace `name`, created on first use. Errors on an invalid
    /// name (it must start with `/`, be at most `max_name_len` bytes and
    /// contain no control characters or `,`), and for a name that does not
    /// exist yet once the engine is [shut down](Self::shutdown).
    pub fn of(&self, name: &str) -> Result<Namespace, NamespaceError> {
        names::check_namespace(name, self.inner.shared.config.max_name_len())?;
        if let Some(ns) = self.inner.namespaces.read().get(name) {
            return Ok(ns.clone());
        }
        let mut map = self.inner.namespaces.write();
        if let Some(ns) = map.get(name) {
            return Ok(ns.clone());
        }
        // Checked under the write lock; `shutdown` sets the flag before it
        // reads the map, so it sees every namespace created before the flag.
        if self.inner.shared.is_shut_down() {
            return Err(NamespaceError::ShutDown(name.to_string()));
        }
        let ns = Namespace::new(name, self.inner.shared.clone());
        map.insert(ns.inner.name.clone(), ns.clone());
        Ok(ns)
    }

    /// A parent for namespaces created on demand: when a client joins an
    /// unknown name and `predicate(name, handshake)` accepts it, the child
    /// namespace is created and inherits the parent's middleware and
    /// handlers (the parent's run first, then the child's own). Parents are
    /// asked in registration order; an unknown name nobody accepts is
    /// refused with `ConnectError "Invalid namespace"`. With
    /// `Config::remove_empty_dynamic`, a child is removed when its last
    /// socket leaves.
    ///
    /// The predicate runs on the joining thread with no engine lock held.
    /// [`shutdown`](Self::shutdown) drops it; a parent registered after
    /// shutdown never admits anything.
    ///
    /// ```
    /// use roomcast::{Engine, Config, Handshake};
    /// let engine = Engine::new(Config::default());
    /// let tenants = engine.of_dynamic(|name, _hs| name.starts_with("/tenant-"));
    /// tenants.on_connection(|s| Ok(s.join("everyone")?));
    /// let (conn, _outbox) = engine.connect();
    /// let s = conn.join_namespace("/tenant-42", Handshake::new())?;
    /// assert!(s.in_room("everyone"));
    /// assert!(conn.join_namespace("/other", Handshake::new()).is_err());
    /// # Ok::<(), roomcast::JoinError>(())
    /// ```
    pub fn of_dynamic(&self, predicate: impl Fn(&str, &Handshake) -> bool + Send + Sync + 'static) -> Namespace {
        let n = self.inner.next_parent.fetch_add(1, Ordering::Relaxed);
        let parent = Namespace::build(
            &format!("<dynamic #{n}>"),
            self.inner.shared.clone(),
            None,
            Some(ParentInfo {
                predicate: Mutex::new(Rank::Predicate, Some(Arc::new(predicate))),
                children: RwLock::new(Rank::Children, Vec::new()),
            }),
        );
        let mut parents = self.inner.parents.write();
        parents.push(parent.clone());
        // Checked under the lock `shutdown` reads the list with: a parent it
        // did not see loses its predicate here (listed all the same, so the
        // engine's drop still breaks its cycles).
        if self.inner.shared.is_shut_down() {
            drop(parents);
            if let Some(info) = &parent.inner.parent_info {
                let predicate = info.predicate.lock().take();
                drop(predicate);
            }
        }
        parent
    }

    /// Finds the namespace a join names: an existing one, or a child created
    /// by the first dynamic parent that accepts it. Predicates run with no
    /// lock held.
    pub(crate) fn resolve(&self, name: &str, hs: &Handshake) -> Option<Namespace> {
        if let Some(ns) = self.namespace(name) {
            return Some(ns);
        }
        let parents = self.inner.parents.read().clone();
        for parent in parents {
            let Some(info) = &parent.inner.parent_info else { continue };
            // Cloned out: the predicate runs with no lock held.
            let Some(predicate) = info.predicate.lock().clone() else { continue };
            let accepted = match guarded(|| Ok(predicate(name, hs))) {
                Ok(b) => b,
                Err((kind, message)) => {
                    parent.report(HandlerFailure {
                        namespace: parent.name().to_string(),
                        socket_id: None,
                        site: HandlerSite::DynamicPredicate,
                        kind,
                        message,
                    });
                    false
                }
            };
            if !accepted {
                continue;
            }
            let mut map = self.inner.namespaces.write();
            if let Some(ns) = map.get(name) {
                return Some(ns.clone());
            }
            // As in `of`: no namespace is created after shutdown.
            if self.inner.shared.is_shut_down() {
                return None;
            }
            let child = Namespace::build(name, self.inner.shared.clone(), Some(parent.clone()), None);
            map.insert(child.inner.name.clone(), child.clone());
            drop(map);
            info.children.write().push(child.clone());
            return Some(child);
        }
        None
    }

    /// Removes an empty dynamic child (with `remove_empty_dynamic`).
    pub(crate) fn remove_if_empty(&self, ns: &Namespace) {
        let Some(parent) = &ns.inner.parent else { return };
        if !self.inner.shared.config.remove_empty_dynamic() {
            return;
        }
        let mut map = self.inner.namespaces.write();
        let mut removed = ns.inner.removed.write();
        if *removed || ns.inner.store.socket_count() != 0 {
            return;
        }
        *removed = true;
        if map.get(ns.name()).is_some_and(|n| n == ns) {
            map.remove(ns.name());
        }
        drop(removed);
        drop(map);
        if let Some(info) = &parent.inner.parent_info {
            info.children.write().retain(|c| c != ns);
        }
    }

    /// The namespace `name` if it exists; never creates one.
    pub fn namespace(&self, name: &str) -> Option<Namespace> {
        self.inner.namespaces.read().get(name).cloned()
    }

    /// Ends the sockets kept for connection state recovery whose
    /// `max_disconnection_duration` has passed (reason `recovery expired`)
    /// and trims the recovery logs by age, in every namespace. Emits and
    /// connects do this as they go; a transport calls it periodically
    /// (the Socket.IO server: every second) so that an idle namespace too
    /// releases its kept sockets on time. Runs disconnect handlers on this
    /// thread, with no engine lock held.
    pub fn sweep_recovery(&self) {
        let namespaces: Vec<Namespace> = self.inner.namespaces.read().values().cloned().collect();
        for ns in namespaces {
            ns.sweep_recovery();
        }
    }

    /// Names of every namespace.
    pub fn namespaces(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.namespaces.read().keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }

    /// Opens a connection with the engine's queue limits. Returns the
    /// handle used to join namespaces and the outbox the host drains.
    pub fn connect(&self) -> (Connection, Outbox) {
        let cfg = &self.inner.shared.config;
        self.open(cfg.max_queue(), cfg.max_queue_bytes(), cfg.overflow())
    }

    /// Opens a connection with its own queue limits or overflow policy.
    pub fn connect_with(&self, options: &ConnectOptions) -> Result<(Connection, Outbox), ConfigError> {
        let (q, b, p) = options.resolve(&self.inner.shared.config)?;
        Ok(self.open(q, b, p))
    }

    fn open(&self, max_queue: usize, max_bytes: usize, policy: crate::OverflowPolicy) -> (Connection, Outbox) {
        let shared = &self.inner.shared;
        let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::new(ConnInner::new(id, self.clone(), Queue::new(max_queue, max_bytes, policy)));
        Counters::add(&shared.stats.connections, 1);
        (Connection { inner: inner.clone() }, Outbox { conn: inner })
    }

    /// Shuts the engine down, like Socket.IO's `io.close()`: every
    /// connection that has a socket in any namespace is closed with reason
    /// `server shutting down` (each socket gets its disconnect handlers and
    /// its client a disconnect notice; queued messages stay readable), then
    /// every handler, middleware and hook is dropped — dynamic-namespace
    /// predicates included — which also frees handlers that captured the
    /// engine itself. Returns how many connections closed.
    ///
    /// A shut-down engine admits nothing: joins fail with
    /// [`JoinError::ShutDown`](crate::JoinError::ShutDown), [`of`](Self::of)
    /// of a new name with [`NamespaceError::ShutDown`], and no dynamic
    /// namespace is created. Existing namespaces, stats and open
    /// connections' outboxes stay readable.
    ///
    /// ```
    /// use roomcast::{Engine, Config, Handshake, DisconnectReason};
    /// let engine = Engine::new(Config::default());
    /// let e2 = engine.clone();
    /// engine.of("/")?.on_connection(move |_s| { let _ = e2.stats(); }); // captures the engine
    /// let (conn, outbox) = engine.connect();
    /// conn.join_namespace("/", Handshake::new())?;
    /// assert_eq!(engine.shutdown(), 1);
    /// assert_eq!(outbox.close_reason(), Some(DisconnectReason::ServerShuttingDown));
    /// assert_eq!(engine.stats().connections, 0);
    /// assert!(engine.of("/new").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self) -> usize {
        // SeqCst: paired with the loads in `is_shut_down`.
        self.inner.shared.shut_down.store(true, Ordering::SeqCst);
        let namespaces: Vec<Namespace> = self.inner.namespaces.read().values().cloned().collect();
        for ns in &namespaces {
            // A barrier: a registration that did not see the flag has
            // finished (and is visible to `fetch_sockets` below).
            drop(ns.inner.removed.write());
        }
        let mut closed = 0;
        for ns in &namespaces {
            // Kept sockets end too: nothing can resume them any more.
            ns.end_kept_sockets();
            for socket in ns.fetch_sockets() {
                let conn = socket.connection();
                if !conn.is_closed() {
                    conn.close(crate::DisconnectReason::ServerShuttingDown);
                    closed += 1;
                }
            }
        }
        let parents = self.inner.parents.read().clone();
        for ns in namespaces.iter().chain(parents.iter()) {
            ns.clear_hooks();
        }
        for parent in &parents {
            if let Some(info) = &parent.inner.parent_info {
                // Taken under the lock, dropped after it: a drop may run user code.
                let predicate = info.predicate.lock().take();
                drop(predicate);
            }
        }
        closed
    }

    /// Nodes in the cluster, this one included (1 with the local adapter;
    /// a cluster adapter counts the nodes whose heartbeats it sees).
    pub fn server_count(&self) -> usize {
        self.inner.shared.adapter.server_count()
    }

    /// A weak handle to this engine (it does not keep the engine alive).
    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine(Arc::downgrade(&self.inner))
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.shared.stats;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            connections: l(&c.connections),
            sockets: l(&c.sockets),
            rooms: l(&c.rooms),
            namespaces: self.inner.namespaces.read().len() as u64,
            emitted: l(&c.emitted),
            delivered: l(&c.delivered),
            dropped: l(&c.dropped),
            acks_ignored: l(&c.acks_ignored),
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("stats", &self.stats()).finish()
    }
}

impl Connection {
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
        self.join(name, handshake, None)
    }

    /// Joins namespace `name` resuming the socket kept under `session_id`
    /// (connection state recovery): the session id the client was given
    /// ([`Socket::session_id`]) and the offset of the last event it
    /// received ([`Message::offset`](crate::Message::offset); `None` when
    /// it received none).
    ///
    /// When the namespace kept that socket and every event it missed since
    /// `offset` is still kept (and fits this connection's outbox), the
    /// socket comes back on this connection: same id, rooms and data,
    /// [`Socket::recovered`] true, middleware not run again, the missed
    /// events queued in order ahead of anything newer, then the
    /// `connection` handlers run. Otherwise this is exactly
    /// [`join_namespace`](Self::join_namespace): a fresh socket with
    /// `recovered()` false (and the kept socket, if any, ends with reason
    /// `recovery expired`). Errors are those of `join_namespace`.
    ///
    /// ```
    /// use roomcast::{Config, DisconnectReason, Engine, Handshake, RecoveryConfig};
    /// let cfg = Config::builder().connection_state_recovery(RecoveryConfig::new()).build()?;
    /// let engine = Engine::new(cfg);
    /// let chat = engine.of("/chat")?;
    /// let (conn, outbox) = engine.connect();
    /// let s = conn.join_namespace("/chat", Handshake::new())?;
    /// s.join("lobby")?;
    /// let (id, pid) = (s.id().to_string(), s.session_id().unwrap().to_string());
    /// chat.to("lobby").emit("news", "one")?;
    /// let seen = outbox.try_recv()?.offset();              // the client saw "one"
    /// conn.close(DisconnectReason::TransportClose);        // unexpected: kept
    /// chat.to("lobby").emit("news", "two")?;               // missed
    /// let (conn2, outbox2) = engine.connect();
    /// let s2 = conn2.resume_namespace("/chat", Handshake::new(), &pid, seen)?;
    /// assert!(s2.recovered() && s2.id() == id && s2.in_room("lobby"));
    /// assert_eq!(outbox2.try_recv()?.payload().unwrap().as_str(), Some("two"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resume_namespace(
        &self,
        name: &str,
        handshake: Handshake,
        session_id: &str,
        offset: Option<u64>,
    ) -> Result<Socket, JoinError> {
        self.join(name, handshake, Some((session_id, offset)))
    }

    fn join(&self, name: &str, handshake: Handshake, resume: Option<(&str, Option<u64>)>) -> Result<Socket, JoinError> {
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
            let rec = ns.recovery();
            if let (Some((pid, offset)), Some(rec)) = (resume, &rec) {
                if let Some(socket) = self.resume_in(&ns, rec, pid, offset, &mut handshake)? {
                    for h in chain.iter().flat_map(|h| h.connection.iter()) {
                        socket.run_guarded(HandlerSite::Connection, || h(&socket));
                    }
                    return Ok(socket);
                }
            }
            let hs = handshake.as_ref().unwrap_or(&Handshake::new()).clone();
            for mw in chain.iter().flat_map(|h| h.middleware.iter()) {
                match guarded(|| Ok(mw(&hs))) {
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
            let session = match &rec {
                Some(log) => Some(SocketRecovery {
                    log: log.clone(),
                    pid: Arc::from(crate::random_id()?),
                    first: log.next_offset(),
                    recovered: false,
                }),
                None => None,
            };
            let socket = self.inner.add_socket(
                name,
                |s| s.namespace() == &ns,
                || {
                    let hs = handshake.take().unwrap_or_default();
                    let key = ns.inner.shared.next_key.fetch_add(1, Ordering::Relaxed);
                    let inner = SocketInner::with_key(ns.clone(), self.inner.clone(), hs, id, key, session);
                    Socket { inner: Arc::new(inner) }
                },
            )?;
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

    /// The resume of `join`: the kept socket of session `pid` on this
    /// connection with its missed events, or `None` for a fresh join.
    fn resume_in(
        &self,
        ns: &Namespace,
        rec: &Arc<Recovery>,
        pid: &str,
        offset: Option<u64>,
        handshake: &mut Option<Handshake>,
    ) -> Result<Option<Socket>, JoinError> {
        let mut ended = rec.sweep();
        let (room, room_bytes) = self.inner.queue.room_left();
        let mut st = rec.lock();
        let (old, missed) = match rec.take(&mut st, pid, offset, |n, b| n <= room && b <= room_bytes) {
            Ok(taken) => taken,
            Err((_, old)) => {
                drop(st);
                ended.extend(old);
                end_kept(ended);
                return Ok(None);
            }
        };
        let (pid, first) = match &old.inner.rec {
            Some(r) => (r.pid.clone(), r.first),
            None => (Arc::from(pid), 1),
        };
        let made = self.inner.add_socket(
            ns.name(),
            |s| s.namespace() == ns,
            || {
                let session = SocketRecovery { log: rec.clone(), pid: pid.clone(), first, recovered: true };
                let hs = handshake.take().unwrap_or_default();
                let inner = SocketInner::with_key(
                    ns.clone(),
                    self.inner.clone(),
                    hs,
                    old.inner.id.clone(),
                    old.inner.key,
                    Some(session),
                );
                Socket { inner: Arc::new(inner) }
            },
        );
        let socket = match made {
            Ok(socket) => socket,
            Err(e) => {
                rec.put_back(&mut st, pid, old);
                drop(st);
                end_kept(ended);
                return Err(e);
            }
        };
        // Under the log: the replay is queued before the socket is in the
        // tables, and no logged emit can come between.
        let mut fans: Vec<Fanout<'_>> = Vec::with_capacity(missed.len());
        for m in &missed {
            let mut fan = Fanout::new(m, false);
            fan.send_conn(&self.inner, false);
            fans.push(fan);
        }
        socket.take_over(&old);
        drop(st);
        for fan in fans {
            fan.finish(&ns.inner.shared.stats);
        }
        end_kept(ended);
        Ok(Some(socket))
    }
}

/// A weak handle to the engine an adapter serves, handed to
/// [`Adapter::attach`]. It does not keep the engine alive.
#[derive(Clone)]
pub struct WeakEngine(pub(crate) Weak<EngineInner>);

impl WeakEngine {
    /// The engine, if it still exists.
    pub fn upgrade(&self) -> Option<Engine> {
        self.0.upgrade().map(|inner| Engine { inner })
    }
}

impl std::fmt::Debug for WeakEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakEngine").field("alive", &(self.0.strong_count() > 0)).finish()
    }
}
