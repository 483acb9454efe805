#![doc = include_str!("../README.md")]
//!
//! ## The crate
//!
//! A cluster [`Adapter`] for [`roomcast`] over Redis pub/sub: run several
//! engines (processes, machines) on one Redis and `ns.to("room").emit(..)`
//! reaches every member wherever it is connected.
//!
//! ```no_run
//! use roomcast::{Config, Engine};
//! use roomcast_redis::{RedisAdapter, RedisConfig};
//!
//! let adapter = RedisAdapter::new(RedisConfig::new("redis://127.0.0.1:6379"))?;
//! let engine = Engine::with_adapter(Config::default(), adapter.clone());
//! let chat = engine.of("/chat")?;
//! chat.to("lobby").emit("news", "to every node")?;          // published once
//! chat.local().to("lobby").emit("news", "this node only")?;  // not published
//! let all = chat.to("lobby").cluster_fetch_sockets()?;      // merged from every node
//! chat.to("lobby").cluster_sockets_join("vip")?;             // also _leave, cluster_disconnect_sockets
//! chat.on_server_side("reload", |_payload| None);            // runs on the *other* nodes
//! chat.server_side_emit_with_ack("reload", "now", std::time::Duration::from_secs(1))?;
//! let acks = chat.to("lobby").emit_with_cluster_ack("poll", "?")?.wait(); // replies from every node
//! println!("{} nodes, {} missing, {:?}", engine.server_count(), all.missing_nodes, adapter.stats());
//! # let _ = acks;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Channels
//!
//! With the default prefix `roomcast`:
//!
//! | channel | carries |
//! | --- | --- |
//! | `roomcast#<namespace>#` | emits of that namespace (every node subscribes to `roomcast#*`) |
//! | `roomcast-req#` | requests (fetch_sockets, sockets_join/leave, disconnect, server-side emits, ack broadcasts) and heartbeats |
//! | `roomcast-res#<node>#` | answers to one node's requests |
//!
//! Every message is a small binary envelope (magic `RC`, a version byte,
//! then postcard): node id, namespace, kind, selection (rooms, except,
//! volatile) and payload. A node ignores its own messages.
//!
//! ## Delivery guarantee
//!
//! **At most once across nodes.** An emit is delivered to this node's
//! sockets at once and published once; every other node delivers it to its
//! own sockets exactly once per matching socket. Redis pub/sub keeps
//! nothing: what is published while a node is disconnected, or dropped by a
//! full publish queue, never reaches that node — every such loss is counted
//! in [`RedisStats`]. The sender exclusion (`socket.to(..)`,
//! `socket.broadcast()`) applies on the sender's node, which is the only one
//! that has the sender.
//!
//! ## Threads
//!
//! The adapter runs its own small tokio runtime on one thread (publisher,
//! subscriber, heartbeats) plus one dispatcher thread that delivers remote
//! emits and runs request handlers, so the host needs no runtime. The emit
//! path never blocks: it encodes the envelope and tries a bounded queue
//! (`queue_capacity`); a full queue drops and counts the message. The
//! publisher sends what is queued in one pipelined batch of PUBLISH commands.
//!
//! ## Faults
//!
//! If Redis goes away, local delivery continues; cluster operations fail at
//! once with [`ClusterError::Unavailable`] (with the number of nodes last
//! known alive), or give a partial [`ClusterReply`] when nodes do not
//! answer in time. Both connections reconnect by themselves with
//! exponential backoff, and the cluster resumes without restarting any
//! node. Nodes announce themselves with heartbeats; a node silent for
//! `heartbeat_timeout` is considered dead ([`roomcast::Engine::server_count`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use roomcast::{
    AckError, AckReply, Adapter, ClusterError, ClusterReply, EmitReport, Engine, Message, Namespace, Payload,
    RemoteAcks, RemoteSocket, Selector, SocketsOp, Target, WeakEngine,
};
use tokio::sync::{mpsc, oneshot};

mod envelope;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    //! The bus envelope decoder for the fuzz targets in `fuzz/` (feature
    //! `fuzzing`). Not a stable API.

    /// Decodes one bus message as a subscriber does (a batch is split and
    /// each item decoded); returns how many envelopes were valid.
    pub fn decode(bytes: &[u8]) -> usize {
        let items = if crate::envelope::is_batch(bytes) {
            crate::envelope::batch_items(bytes).unwrap_or_default()
        } else {
            vec![bytes]
        };
        let _ = crate::envelope::peek_node(bytes);
        items.into_iter().filter(|i| crate::envelope::decode(i).is_ok()).count()
    }
}
mod tasks;

use envelope::{Body, Envelope, WireAck, WireOp, WirePayload, WireSocket};

/// Settings of a [`RedisAdapter`].
#[derive(Debug, Clone)]
pub struct RedisConfig {
    url: String,
    prefix: String,
    heartbeat_interval: Duration,
    heartbeat_timeout: Duration,
    request_timeout: Duration,
    queue_capacity: usize,
    max_backoff: Duration,
}

impl RedisConfig {
    /// Defaults for the Redis server at `url` (`redis://host:port[/db]`):
    /// prefix `roomcast`, heartbeat every 2 s, a node dead after 6 s of
    /// silence, requests time out after 2 s, 65,536 queued publishes,
    /// reconnect backoff up to 2 s.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            prefix: "roomcast".to_string(),
            heartbeat_interval: Duration::from_secs(2),
            heartbeat_timeout: Duration::from_secs(6),
            request_timeout: Duration::from_secs(2),
            queue_capacity: 65_536,
            max_backoff: Duration::from_secs(2),
        }
    }
    /// The channel prefix; engines with different prefixes on one Redis
    /// are separate clusters.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
    /// How often a node announces itself, and after how much silence it
    /// is considered dead (at least twice the interval is wise).
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.heartbeat_interval = interval.max(Duration::from_millis(10));
        self.heartbeat_timeout = timeout.max(self.heartbeat_interval);
        self
    }
    /// How long cluster requests (fetch_sockets, sockets_join, server-side
    /// emits with ack) wait for the other nodes.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
    /// Messages the publish queue holds before emits are dropped (counted).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(1);
        self
    }
    /// The longest wait between two reconnect attempts.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d.max(Duration::from_millis(10));
        self
    }
}

/// Why a [`RedisAdapter`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RedisAdapterError {
    /// The URL is not a valid Redis URL.
    #[error("invalid redis url: {0}")]
    Url(String),
    /// A thread or the runtime could not be started.
    #[error("cannot start the adapter: {0}")]
    Start(String),
}

/// The adapter's counters (a snapshot; see [`RedisAdapter::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Messages published to Redis (emits, requests, answers, heartbeats).
    pub published: u64,
    /// Messages received from other nodes and decoded.
    pub received: u64,
    /// Messages lost: not published (queue full, Redis unreachable or a
    /// failed PUBLISH) or not dispatched (dispatcher queue full).
    pub dropped: u64,
    /// Of `dropped`, those refused by the full publish queue.
    pub queue_full: u64,
    /// Bus messages that were not ours or were corrupt (ignored).
    pub decode_errors: u64,
    /// Successful reconnects (publisher and subscriber connections).
    pub reconnects: u64,
    /// Whether both connections are currently up.
    pub connected: bool,
    /// Other nodes currently known alive.
    pub nodes: u64,
}

/// Counters, all `Relaxed`: statistics only, ordering nothing else.
#[derive(Default)]
struct Counters {
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    queue_full: AtomicU64,
    decode_errors: AtomicU64,
    reconnects: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// One queued item for the publisher task.
enum Outgoing {
    Publish {
        channel: Arc<str>,
        bytes: Vec<u8>,
    },
    /// Answered once everything queued before it was handled.
    Flush(oneshot::Sender<()>),
}

/// A waiting request's answer route: (answering node, answer).
type AnswerTx = std_mpsc::Sender<(u64, Body)>;

/// State shared by the adapter handle, its tasks and its dispatcher.
struct Inner {
    cfg: RedisConfig,
    node: u64,
    node_name: String,
    /// Channel names, built once.
    req_channel: Arc<str>,
    own_res_channel: Arc<str>,
    engine: OnceLock<WeakEngine>,
    /// The publish queue (bounded; `try_send` only).
    tx: mpsc::Sender<Outgoing>,
    /// To the dispatcher thread (bounded; `try_send` only).
    dispatch: std_mpsc::SyncSender<Envelope>,
    pub_up: AtomicBool,
    sub_up: AtomicBool,
    /// Set by `close`; the dispatcher thread exits when it sees it.
    stopping: AtomicBool,
    /// Other nodes by id, with when they were last heard from.
    nodes: Mutex<HashMap<u64, Instant>>,
    /// Requests waiting for answers, by request id.
    pending: Mutex<HashMap<u64, AnswerTx>>,
    next_req: AtomicU64,
    /// The bus client's last error, for `ClusterError::Unavailable`.
    last_error: Mutex<String>,
    stats: Counters,
    /// The runtime's handle (for the dispatcher's ack tasks).
    rt: OnceLock<tokio::runtime::Handle>,
}

impl Inner {
    fn ns_channel(&self, ns: &str) -> Arc<str> {
        Arc::from(format!("{}#{}#", self.cfg.prefix, ns))
    }

    fn res_channel(&self, node: u64) -> Arc<str> {
        Arc::from(format!("{}-res#{:016x}#", self.cfg.prefix, node))
    }

    fn is_connected(&self) -> bool {
        // Relaxed: a status flag; a stale read only changes which error a
        // racing caller gets.
        self.pub_up.load(Ordering::Relaxed) && self.sub_up.load(Ordering::Relaxed)
    }

    /// Queues one message; never blocks. False (and counted) when dropped.
    fn publish(&self, channel: Arc<str>, ns: &str, body: Body) -> bool {
        let bytes = envelope::encode(&Envelope { node: self.node, ns: ns.to_string(), body });
        match self.tx.try_send(Outgoing::Publish { channel, bytes }) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                bump(&self.stats.dropped, 1);
                bump(&self.stats.queue_full, 1);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                bump(&self.stats.dropped, 1);
                false
            }
        }
    }

    /// Other nodes alive now. While the subscriber is down nothing is
    /// heard, so the last known set is kept rather than aged out.
    fn alive(&self) -> Vec<u64> {
        let nodes = self.nodes.lock();
        if !self.sub_up.load(Ordering::Relaxed) {
            return nodes.keys().copied().collect();
        }
        let now = Instant::now();
        nodes
            .iter()
            .filter(|(_, seen)| now.duration_since(**seen) < self.cfg.heartbeat_timeout)
            .map(|(id, _)| *id)
            .collect()
    }

    fn prune(&self) {
        if !self.sub_up.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        self.nodes.lock().retain(|_, seen| now.duration_since(*seen) < self.cfg.heartbeat_timeout);
    }

    fn unavailable(&self) -> ClusterError {
        ClusterError::Unavailable { reason: self.last_error.lock().clone(), missing_nodes: self.alive().len() }
    }

    fn set_error(&self, e: impl std::fmt::Display) {
        *self.last_error.lock() = e.to_string();
    }

    fn engine(&self) -> Option<Engine> {
        self.engine.get()?.upgrade()
    }

    /// Publishes a request and returns what waits for its answers.
    fn start_request(self: &Arc<Self>, ns: &str, body: impl FnOnce(u64) -> Body) -> Result<Request, ClusterError> {
        if !self.is_connected() {
            return Err(self.unavailable());
        }
        let expected: HashSet<u64> = self.alive().into_iter().collect();
        if expected.is_empty() {
            return Ok(Request { req: 0, rx: None, expected, inner: Arc::downgrade(self) });
        }
        let req = self.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = std_mpsc::channel();
        self.pending.lock().insert(req, tx);
        // From here on, dropping the request (even unwaited) unregisters it.
        let r = Request { req, rx: Some(rx), expected, inner: Arc::downgrade(self) };
        if !self.publish(self.req_channel.clone(), ns, body(req)) {
            return Err(ClusterError::Unavailable {
                reason: "publish queue full".into(),
                missing_nodes: r.expected.len(),
            });
        }
        Ok(r)
    }

    /// Waits until every expected node answered or `deadline`.
    fn finish_request(&self, mut r: Request, deadline: Instant) -> (Vec<(u64, Body)>, usize) {
        let Some(rx) = r.rx.take() else { return (Vec::new(), 0) };
        let mut answers = Vec::new();
        let mut answered = HashSet::new();
        while !r.expected.is_subset(&answered) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok((node, body)) => {
                    if answered.insert(node) {
                        answers.push((node, body));
                    }
                }
                Err(_) => break,
            }
        }
        let missing = r.expected.difference(&answered).count();
        (answers, missing)
    }

    fn request(
        self: &Arc<Self>,
        ns: &str,
        body: impl FnOnce(u64) -> Body,
    ) -> Result<(Vec<(u64, Body)>, usize), ClusterError> {
        let r = self.start_request(ns, body)?;
        Ok(self.finish_request(r, Instant::now() + self.cfg.request_timeout))
    }
}

/// A published request; dropping it unregisters it.
struct Request {
    req: u64,
    rx: Option<std_mpsc::Receiver<(u64, Body)>>,
    expected: HashSet<u64>,
    inner: std::sync::Weak<Inner>,
}

impl Drop for Request {
    fn drop(&mut self) {
        if self.req != 0 {
            if let Some(inner) = self.inner.upgrade() {
                inner.pending.lock().remove(&self.req);
            }
        }
    }
}

fn ack_code(e: AckError) -> u8 {
    match e {
        AckError::Timeout => 0,
        AckError::Disconnected => 1,
        AckError::NotDelivered => 2,
        AckError::NoRecipients => 3,
    }
}

fn ack_error(c: u8) -> AckError {
    match c {
        0 => AckError::Timeout,
        1 => AckError::Disconnected,
        2 => AckError::NotDelivered,
        _ => AckError::NoRecipients,
    }
}

/// The Redis cluster adapter. Build it, then the engine with it:
/// `Engine::with_adapter(config, adapter.clone())`. One adapter serves one
/// engine (a second `attach` is ignored). Dropping the last handle says
/// goodbye to the other nodes and stops the adapter's threads.
pub struct RedisAdapter {
    inner: Arc<Inner>,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter").field("node", &self.inner.node_name).field("stats", &self.stats()).finish()
    }
}

impl RedisAdapter {
    /// Starts an adapter (it connects in the background and keeps
    /// reconnecting; see [`wait_connected`](Self::wait_connected)).
    pub fn new(cfg: RedisConfig) -> Result<Arc<RedisAdapter>, RedisAdapterError> {
        let client = redis::Client::open(cfg.url.as_str()).map_err(|e| RedisAdapterError::Url(e.to_string()))?;
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| RedisAdapterError::Start(e.to_string()))?;
        let node = u64::from_le_bytes(id);
        let (tx, rx) = mpsc::channel(cfg.queue_capacity);
        let (dtx, drx) = std_mpsc::sync_channel(cfg.queue_capacity);
        let inner = Arc::new(Inner {
            req_channel: Arc::from(format!("{}-req#", cfg.prefix)),
            own_res_channel: Arc::from(format!("{}-res#{:016x}#", cfg.prefix, node)),
            cfg,
            node,
            node_name: format!("{node:016x}"),
            engine: OnceLock::new(),
            tx,
            dispatch: dtx,
            pub_up: AtomicBool::new(false),
            sub_up: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            nodes: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            next_req: AtomicU64::new(1),
            last_error: Mutex::new("not connected yet".into()),
            stats: Counters::default(),
            rt: OnceLock::new(),
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RedisAdapterError::Start(e.to_string()))?;
        let _ = inner.rt.set(rt.handle().clone());
        let (stop_tx, stop_rx) = oneshot::channel();
        let i2 = inner.clone();
        let io = std::thread::Builder::new()
            .name("rc-redis-io".into())
            .spawn(move || rt.block_on(tasks::run(i2, client, rx, stop_rx)))
            .map_err(|e| RedisAdapterError::Start(e.to_string()))?;
        let i3 = Arc::downgrade(&inner);
        let dispatcher = std::thread::Builder::new()
            .name("rc-redis-disp".into())
            .spawn(move || {
                loop {
                    let env = match drx.recv_timeout(Duration::from_millis(50)) {
                        Ok(env) => env,
                        Err(std_mpsc::RecvTimeoutError::Timeout) => match i3.upgrade() {
                            Some(i) if !i.stopping.load(Ordering::Relaxed) => continue,
                            _ => break,
                        },
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                    };
                    let Some(inner) = i3.upgrade() else { break };
                    // A panic in user code is caught by the engine; this
                    // guards the adapter's own code so the thread survives.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(&inner, env)));
                }
            })
            .map_err(|e| RedisAdapterError::Start(e.to_string()))?;
        Ok(Arc::new(RedisAdapter {
            inner,
            shutdown: Mutex::new(Some(stop_tx)),
            threads: Mutex::new(vec![io, dispatcher]),
        }))
    }

    /// Waits until both connections are up (true) or `timeout` passed.
    pub fn wait_connected(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while !self.inner.is_connected() {
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Waits until `n` nodes (this one included) are known, or `timeout`.
    pub fn wait_for_nodes(&self, n: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while self.server_count() < n {
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// This node's id (16 hex digits), as in [`RemoteSocket::node`].
    pub fn node(&self) -> &str {
        &self.inner.node_name
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> RedisStats {
        let c = &self.inner.stats;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RedisStats {
            published: l(&c.published),
            received: l(&c.received),
            dropped: l(&c.dropped),
            queue_full: l(&c.queue_full),
            decode_errors: l(&c.decode_errors),
            reconnects: l(&c.reconnects),
            connected: self.inner.is_connected(),
            nodes: self.inner.alive().len() as u64,
        }
    }

    /// Stops the adapter: says goodbye to the other nodes (best effort),
    /// then ends its threads. Emits afterwards are delivered locally only
    /// (and counted as dropped). Called by `Drop`.
    pub fn close(&self) {
        self.inner.stopping.store(true, Ordering::Relaxed);
        if let Some(stop) = self.shutdown.lock().take() {
            let _ = stop.send(());
        }
        let threads = std::mem::take(&mut *self.threads.lock());
        let me = std::thread::current().id();
        for t in threads {
            // The dispatcher may drop the last handle from a handler.
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

impl Drop for RedisAdapter {
    fn drop(&mut self) {
        self.close();
    }
}

/// Handles an emit or a request from another node (dispatcher thread).
fn dispatch(inner: &Arc<Inner>, env: Envelope) {
    let engine = inner.engine();
    let ns = engine.as_ref().and_then(|e| e.namespace(&env.ns));
    let reply_to = env.node;
    let answer = |body: Body| {
        inner.publish(inner.res_channel(reply_to), &env.ns, body);
    };
    match env.body {
        Body::Broadcast { sel, event, payload } => {
            let (Some(ns), Some(p)) = (ns, payload.to_payload()) else { return };
            let msg = Message::event(Arc::from(ns.name()), &event, p, None);
            sel.deliver_local(&ns, &msg);
        }
        Body::BroadcastAck { req, sel, event, payload, timeout_ms } => {
            let stream = match (ns, payload.to_payload()) {
                (Some(ns), Some(p)) => {
                    sel.operator(&ns).timeout(Duration::from_millis(timeout_ms)).emit_with_ack(&event, p).ok()
                }
                _ => None,
            };
            let (Some(stream), Some(rt)) = (stream, inner.rt.get()) else {
                answer(Body::Acks { req, replies: Vec::new() });
                return;
            };
            let i2 = inner.clone();
            let ns_name = env.ns.clone();
            rt.spawn(async move {
                let replies = stream.await;
                let replies = replies
                    .into_iter()
                    .map(|r| WireAck {
                        socket_id: r.socket_id,
                        reply: r.result.as_ref().map(WirePayload::from).map_err(|e| ack_code(*e)),
                    })
                    .collect();
                i2.publish(i2.res_channel(reply_to), &ns_name, Body::Acks { req, replies });
            });
        }
        Body::Fetch { req, sel } => {
            let sockets = ns
                .map(|ns| {
                    let v = sel.operator(&ns).cluster_fetch_sockets().map(|r| r.value).unwrap_or_default();
                    v.into_iter()
                        .map(|s| WireSocket { id: s.id, rooms: s.rooms, data: s.data.as_ref().map(WirePayload::from) })
                        .collect()
                })
                .unwrap_or_default();
            answer(Body::Sockets { req, sockets });
        }
        Body::Apply { req, sel, op } => {
            let n = ns
                .map(|ns| {
                    let o = sel.operator(&ns);
                    match op {
                        WireOp::Join(r) => o.sockets_join(r),
                        WireOp::Leave(r) => o.sockets_leave(r),
                        WireOp::Disconnect => o.disconnect_sockets(),
                    }
                    .unwrap_or(0)
                })
                .unwrap_or(0);
            answer(Body::Count { req, n: n as u64 });
        }
        Body::ServerSide { req, event, payload } => {
            let replies = match (ns, payload.to_payload()) {
                (Some(ns), Some(p)) => ns.run_server_side(&event, &p),
                _ => Vec::new(),
            };
            if let Some(req) = req {
                answer(Body::Replies { req, replies: replies.iter().map(WirePayload::from).collect() });
            }
        }
        // Membership and answers are handled by the subscriber task.
        Body::Heartbeat
        | Body::Bye
        | Body::Acks { .. }
        | Body::Sockets { .. }
        | Body::Count { .. }
        | Body::Replies { .. } => {}
    }
}

impl Adapter for RedisAdapter {
    fn attach(&self, engine: WeakEngine) {
        let _ = self.inner.engine.set(engine);
    }

    fn broadcast(&self, namespace: &Namespace, target: &Target<'_>, message: &Message) -> EmitReport {
        let report = namespace.deliver_local(target, message);
        if let (Some(event), Some(payload)) = (message.event_name(), message.payload()) {
            let sel = target.selector();
            let body = Body::Broadcast { sel, event: event.to_string(), payload: WirePayload::from(payload) };
            self.inner.publish(self.inner.ns_channel(namespace.name()), namespace.name(), body);
        }
        report
    }

    fn broadcast_with_ack(
        &self,
        namespace: &Namespace,
        target: &Target<'_>,
        event: &str,
        payload: &Payload,
        timeout: Duration,
    ) -> RemoteAcks {
        let sel = target.selector();
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let started = self.inner.start_request(namespace.name(), |req| Body::BroadcastAck {
            req,
            sel,
            event: event.to_string(),
            payload: WirePayload::from(payload),
            timeout_ms,
        });
        let inner = self.inner.clone();
        RemoteAcks::new(move || {
            let r = started?;
            // The other nodes answer once their own timeout passed.
            let deadline = Instant::now() + timeout.saturating_add(inner.cfg.request_timeout);
            let (answers, missing_nodes) = inner.finish_request(r, deadline);
            let mut value = Vec::new();
            for (_, body) in answers {
                if let Body::Acks { replies, .. } = body {
                    value.extend(replies.into_iter().map(|a| AckReply {
                        socket_id: a.socket_id,
                        result: match a.reply {
                            Ok(p) => p.to_payload().ok_or(AckError::NotDelivered),
                            Err(c) => Err(ack_error(c)),
                        },
                    }));
                }
            }
            Ok(ClusterReply { value, missing_nodes })
        })
    }

    fn fetch_sockets(
        &self,
        namespace: &Namespace,
        selector: &Selector,
    ) -> Result<ClusterReply<Vec<RemoteSocket>>, ClusterError> {
        let sel = selector.clone();
        let (answers, missing_nodes) = self.inner.request(namespace.name(), |req| Body::Fetch { req, sel })?;
        let mut value = Vec::new();
        for (node, body) in answers {
            if let Body::Sockets { sockets, .. } = body {
                value.extend(sockets.into_iter().map(|s| RemoteSocket {
                    id: s.id,
                    namespace: namespace.name().to_string(),
                    rooms: s.rooms,
                    data: s.data.and_then(|d| d.to_payload()),
                    node: format!("{node:016x}"),
                }));
            }
        }
        Ok(ClusterReply { value, missing_nodes })
    }

    fn apply(
        &self,
        namespace: &Namespace,
        selector: &Selector,
        op: &SocketsOp,
    ) -> Result<ClusterReply<usize>, ClusterError> {
        let sel = selector.clone();
        let op = match op {
            SocketsOp::Join(r) => WireOp::Join(r.clone()),
            SocketsOp::Leave(r) => WireOp::Leave(r.clone()),
            SocketsOp::Disconnect => WireOp::Disconnect,
        };
        let (answers, missing_nodes) = self.inner.request(namespace.name(), |req| Body::Apply { req, sel, op })?;
        let value = answers
            .into_iter()
            .map(|(_, b)| match b {
                Body::Count { n, .. } => usize::try_from(n).unwrap_or(usize::MAX),
                _ => 0,
            })
            .sum();
        Ok(ClusterReply { value, missing_nodes })
    }

    fn server_side_emit(
        &self,
        namespace: &Namespace,
        event: &str,
        payload: &Payload,
        ack: Option<Duration>,
    ) -> Result<ClusterReply<Vec<Payload>>, ClusterError> {
        let body = |req| Body::ServerSide { req, event: event.to_string(), payload: WirePayload::from(payload) };
        let Some(timeout) = ack else {
            if !self.inner.is_connected() {
                return Err(self.inner.unavailable());
            }
            if !self.inner.publish(self.inner.req_channel.clone(), namespace.name(), body(None)) {
                return Err(ClusterError::Unavailable {
                    reason: "publish queue full".into(),
                    missing_nodes: self.inner.alive().len(),
                });
            }
            return Ok(ClusterReply::complete(Vec::new()));
        };
        let r = self.inner.start_request(namespace.name(), |req| body(Some(req)))?;
        let (answers, missing_nodes) = self.inner.finish_request(r, Instant::now() + timeout);
        let mut value = Vec::new();
        for (_, b) in answers {
            if let Body::Replies { replies, .. } = b {
                value.extend(replies.iter().filter_map(WirePayload::to_payload));
            }
        }
        Ok(ClusterReply { value, missing_nodes })
    }

    fn server_count(&self) -> usize {
        1 + self.inner.alive().len()
    }

    fn node_id(&self) -> String {
        self.inner.node_name.clone()
    }
}
