//! The server builder, the HTTP entry point and the running server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method, Response, StatusCode};
use axum::Router;
use parking_lot::Mutex;
use roomcast::{DisconnectReason, Engine, Handshake};
use tokio::sync::watch;

use crate::eio::{self, HttpError};
use crate::session::{Layer, PollState, Session};
use crate::sio_layer::SioLayer;
use crate::ws::{self, Event};

/// Which browser origins may reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// Every origin: the request's `Origin` is echoed with credentials allowed.
    Any,
    /// Only these origins (e.g. `"https://example.com"`). Requests whose
    /// `Origin` header is another origin are refused with Engine.IO error
    /// 4 `Forbidden` on both transports; requests without `Origin`
    /// (non-browser clients) are served.
    Origins(Vec<String>),
    /// No CORS headers at all (same-origin pages and non-browser clients).
    Disabled,
}

impl Cors {
    /// Every origin.
    pub fn any() -> Cors {
        Cors::Any
    }

    /// Only the given origins.
    pub fn origins<I, S>(origins: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cors::Origins(origins.into_iter().map(Into::into).collect())
    }

    /// No CORS headers.
    pub fn disabled() -> Cors {
        Cors::Disabled
    }

    /// Whether a request with this `Origin` may proceed.
    fn allows(&self, origin: Option<&str>) -> bool {
        match (self, origin) {
            (Cors::Origins(list), Some(o)) => list.iter().any(|a| a == o),
            _ => true,
        }
    }

    /// The CORS headers for a response to a request from `origin`.
    fn apply(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        let Some(origin) = origin else { return };
        let ok = match self {
            Cors::Any => true,
            Cors::Origins(list) => origin.to_str().is_ok_and(|o| list.iter().any(|a| a == o)),
            Cors::Disabled => false,
        };
        if ok {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

/// A request filter: `false` refuses the request with error 4 `Forbidden`.
type AllowRequest = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

/// The options (see the builder methods for each).
#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) path: String,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) max_payload: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) upgrade_timeout: Duration,
    pub(crate) max_attachments: usize,
    pub(crate) partial_packet_timeout: Duration,
    pub(crate) cors: Cors,
    pub(crate) allow_request: Option<AllowRequest>,
    pub(crate) max_sessions: usize,
    pub(crate) max_handshake_bytes: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) header_timeout: Duration,
    pub(crate) max_connections: usize,
}

impl Options {
    /// Socket.IO's defaults (see [`SocketIoServer::new`]).
    pub(crate) fn defaults() -> Options {
        Options {
            path: "/socket.io/".into(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            max_payload: 1_000_000,
            connect_timeout: Duration::from_millis(10_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_attachments: 10,
            partial_packet_timeout: Duration::from_millis(20_000),
            cors: Cors::Disabled,
            allow_request: None,
            max_sessions: 50_000,
            max_handshake_bytes: 16 * 1024,
            body_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_connections: 60_000,
        }
    }
}

/// State shared by the HTTP handlers and every session.
pub(crate) struct Shared<L: Layer> {
    /// The layer on the Engine.IO sessions.
    pub(crate) layer: L,
    pub(crate) opts: Options,
    /// Live sessions by sid.
    pub(crate) sessions: Mutex<HashMap<String, Arc<Session<L>>>>,
}

impl<L: Layer> Shared<L> {
    pub(crate) fn new(layer: L, opts: Options) -> Arc<Shared<L>> {
        Arc::new(Shared { layer, opts, sessions: Mutex::new(HashMap::new()) })
    }

    fn session(&self, sid: &str) -> Option<Arc<Session<L>>> {
        self.sessions.lock().get(sid).cloned()
    }
}

/// What a running server is asked, whatever its layer.
pub(crate) trait Control: Send + Sync {
    /// Live sessions.
    fn session_count(&self) -> usize;
    /// Closes every session (`server shutting down`).
    fn close_all(&self);
}

impl<L: Layer> Control for Shared<L> {
    fn session_count(&self) -> usize {
        self.sessions.lock().len()
    }

    fn close_all(&self) {
        let all: Vec<_> = self.sessions.lock().values().cloned().collect();
        for s in all {
            s.close(DisconnectReason::ServerShuttingDown);
        }
    }
}

/// A Socket.IO server (Engine.IO v4 + Socket.IO v5) in front of a roomcast
/// [`Engine`]. Every Engine.IO connection is one roomcast
/// [`Connection`](roomcast::Connection); each namespace the client joins is
/// one socket of it.
///
/// ```no_run
/// use std::time::Duration;
/// use roomcast::{Config, Engine};
/// use roomcast_socketio::{Cors, SocketIoServer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = Engine::new(Config::default());
/// engine.of("/")?.on("chat message", |socket, ev, _ack| {
///     socket.broadcast().emit("chat message", ev.payload().clone())?;
///     Ok(())
/// })?;
/// SocketIoServer::new(engine)
///     .path("/socket.io/")
///     .ping(Duration::from_secs(25), Duration::from_secs(20))
///     .cors(Cors::any())
///     .serve("127.0.0.1:3000")
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SocketIoServer {
    engine: Engine,
    opts: Options,
    /// Other routes served beside the Socket.IO path by `bind`/`serve`.
    routes: Option<Router>,
}

impl SocketIoServer {
    /// A server for `engine` with Socket.IO's defaults: path `/socket.io/`,
    /// ping every 25 s with a 20 s timeout, max payload 1 MB, upgrade
    /// timeout 10 s, at most 10 attachments per packet, 20 s for a binary
    /// packet's attachments to arrive, no CORS headers;
    /// and these limits (see the resource table in the crate docs): connect
    /// timeout 10 s, 50,000 sessions, 16 KiB of handshake headers and
    /// query, a 30 s polling body timeout, and for [`bind`](Self::bind) /
    /// [`serve`](Self::serve) a 10 s header-read timeout and 60,000
    /// connections.
    pub fn new(engine: Engine) -> SocketIoServer {
        SocketIoServer { engine, opts: Options::defaults(), routes: None }
    }

    /// The HTTP path (with or without the trailing `/`).
    pub fn path(mut self, path: &str) -> Self {
        let mut p = path.trim_end_matches('/').to_string();
        if !p.starts_with('/') {
            p.insert(0, '/');
        }
        p.push('/');
        self.opts.path = p;
        self
    }

    /// Heartbeat: a ping every `interval`; a client silent for `timeout`
    /// after a ping is disconnected with `ping timeout`.
    pub fn ping(mut self, interval: Duration, timeout: Duration) -> Self {
        self.opts.ping_interval = interval;
        self.opts.ping_timeout = timeout;
        self
    }

    /// The largest Engine.IO packet (WebSocket message or polling body) a
    /// client may send, in bytes; larger ones close the session. It also
    /// bounds a binary Socket.IO packet: its text and all its attachments
    /// together (more: the session closes with `transport error`, close
    /// code 1009 over WebSocket, HTTP 413 over polling).
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.opts.max_payload = bytes;
        self
    }

    /// How long a client may stay connected without joining a namespace
    /// (default 10 s; official clients send their CONNECT right after the
    /// handshake). An unauthenticated session costs memory until then.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.opts.connect_timeout = d;
        self
    }

    /// How long an upgrade to WebSocket may take once probed.
    pub fn upgrade_timeout(mut self, d: Duration) -> Self {
        self.opts.upgrade_timeout = d;
        self
    }

    /// The most binary attachments one packet may announce (more: `parse error`).
    pub fn max_attachments(mut self, n: usize) -> Self {
        self.opts.max_attachments = n;
        self
    }

    /// How long a binary packet may wait for its attachments; a client
    /// that has not sent them all by then is disconnected (`parse error`).
    /// Default 20 s. (A packet and its attachments together are bounded
    /// by [`max_payload`](SocketIoServer::max_payload).)
    pub fn partial_packet_timeout(mut self, d: Duration) -> Self {
        self.opts.partial_packet_timeout = d;
        self
    }

    /// Which browser origins may reach the server. The default,
    /// [`Cors::Disabled`], sends no CORS headers (as the reference server
    /// does unless configured), so browsers keep cross-origin pages from
    /// reading polling responses; same-origin pages and non-browser
    /// clients are served. [`Cors::any`] is an explicit opt-in.
    ///
    /// CORS does not apply to WebSocket: browsers open a WebSocket to any
    /// origin and send cookies with it. A server that authenticates with
    /// cookies checks `Origin` itself, with [`Cors::origins`] (which refuses
    /// other origins on both transports) or in
    /// [`allow_request`](Self::allow_request).
    pub fn cors(mut self, cors: Cors) -> Self {
        self.opts.cors = cors;
        self
    }

    /// A filter on every new session's opening request (polling handshake
    /// or WebSocket); `false` refuses it with Engine.IO error 4 `Forbidden`
    /// (HTTP 403). It sees the method, URI, headers and, when served by
    /// [`bind`](Self::bind) / [`serve`](Self::serve) or with connect info,
    /// the remote address (`ConnectInfo<SocketAddr>` in the extensions).
    ///
    /// This is the place for WebSocket origin checks and for rate limiting
    /// session creation per client, e.g. a token bucket per remote address:
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::net::{IpAddr, SocketAddr};
    /// use std::time::Instant;
    /// use axum::extract::ConnectInfo;
    /// use parking_lot::Mutex;
    /// use roomcast_socketio::SocketIoServer;
    ///
    /// # let engine = roomcast::Engine::new(roomcast::Config::default());
    /// // Up to 10 new sessions per address, refilled at 1 per second.
    /// let buckets: Mutex<HashMap<IpAddr, (f64, Instant)>> = Mutex::new(HashMap::new());
    /// let server = SocketIoServer::new(engine).allow_request(move |req| {
    ///     if req.headers.get("origin").is_some_and(|o| o != "https://chat.example") {
    ///         return false;
    ///     }
    ///     let Some(ConnectInfo(addr)) = req.extensions.get::<ConnectInfo<SocketAddr>>() else { return true };
    ///     let now = Instant::now();
    ///     let mut map = buckets.lock();
    ///     let (tokens, last) = map.entry(addr.ip()).or_insert((10.0, now));
    ///     *tokens = (*tokens + now.duration_since(*last).as_secs_f64()).min(10.0);
    ///     *last = now;
    ///     if *tokens < 1.0 {
    ///         return false;
    ///     }
    ///     *tokens -= 1.0;
    ///     true
    /// });
    /// ```
    ///
    /// (A real deployment also forgets idle addresses, or rate-limits in
    /// the proxy in front.)
    pub fn allow_request(mut self, f: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        self.opts.allow_request = Some(Arc::new(f));
        self
    }

    /// The most Engine.IO sessions alive at once (default 50,000). Past it
    /// a new session's opening request gets HTTP 503; existing sessions are
    /// unaffected.
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.opts.max_sessions = n;
        self
    }

    /// The most bytes of header and query names and values a new session's
    /// opening request may carry (default 16 KiB). The session keeps them
    /// for its life (its sockets' handshakes); a larger request gets HTTP
    /// 431.
    pub fn max_handshake_bytes(mut self, bytes: usize) -> Self {
        self.opts.max_handshake_bytes = bytes;
        self
    }

    /// How long a polling POST may take to send its body (default 30 s);
    /// a slower one gets HTTP 408 and closes its session.
    pub fn body_timeout(mut self, d: Duration) -> Self {
        self.opts.body_timeout = d;
        self
    }

    /// How long a connection may take to send a request's headers, and may
    /// stay idle between requests, when served by [`bind`](Self::bind) /
    /// [`serve`](Self::serve) (default 10 s); then it is closed.
    pub fn header_timeout(mut self, d: Duration) -> Self {
        self.opts.header_timeout = d;
        self
    }

    /// The most TCP connections [`bind`](Self::bind) / [`serve`](Self::serve)
    /// hold at once, WebSockets included (default 60,000). At the cap the
    /// server stops accepting; new connections wait in the listen backlog
    /// until one closes. Keep it below the process's file descriptor limit.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.opts.max_connections = n.max(1);
        self
    }

    /// Other routes (an app's pages, assets, API) served beside the
    /// Socket.IO path by [`bind`](Self::bind) / [`serve`](Self::serve),
    /// with the same timeouts and connection cap.
    pub fn routes(mut self, routes: Router) -> Self {
        self.routes = Some(match self.routes.take() {
            Some(r) => r.merge(routes),
            None => routes,
        });
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn shared(self) -> Arc<Shared<SioLayer>> {
        Shared::new(SioLayer { engine: self.engine }, self.opts)
    }

    /// An axum router serving the Socket.IO path (merge it into an app).
    /// For remote addresses in handshakes, serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    ///
    /// The router bounds what it holds itself (sessions, handshake bytes,
    /// polling bodies and their timeout, see the resource table in the
    /// crate docs); the HTTP server it runs in owns the connections. A
    /// server exposed to untrusted clients must provide what
    /// [`bind`](Self::bind) does: a header-read timeout (hyper's
    /// `header_read_timeout` needs a timer set, which `axum::serve` does
    /// not do), a cap on header size and on open connections (below the
    /// file descriptor limit), and `TCP_NODELAY` on accepted sockets for
    /// interactive latency. [`routes`](Self::routes) serves an app's other
    /// routes with all of that.
    pub fn into_router(self) -> Router {
        router(self.shared())
    }

    /// Binds `addr` and serves in a background task: HTTP/1.1 with the
    /// header-read timeout, a 64 KiB header cap, the connection cap and
    /// `TCP_NODELAY` on every accepted socket.
    pub async fn bind(self, addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<Bound> {
        let routes = self.routes.clone();
        bind(self.shared(), routes, addr).await
    }

    /// Binds `addr` and serves until the task is cancelled or the server fails.
    pub async fn serve(self, addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<()> {
        self.bind(addr).await?.wait().await
    }
}

/// Binds `addr` and serves `shared` (and `routes`) in a background task.
pub(crate) async fn bind<L: Layer>(
    shared: Arc<Shared<L>>,
    routes: Option<Router>,
    addr: impl tokio::net::ToSocketAddrs,
) -> std::io::Result<Bound> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let mut app = router(shared.clone());
    if let Some(r) = routes {
        app = app.merge(r);
    }
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(crate::accept::serve(listener, app, shared.opts.clone(), rx));
    Ok(Bound { local, shared, stop: tx, task: Mutex::new(Some(task)) })
}

/// A running server (from [`SocketIoServer::bind`] or
/// [`EngineIoServer::bind`](crate::engineio::EngineIoServer::bind)). Dropping it leaves the
/// server running in its task; [`shutdown`](Bound::shutdown) stops it.
pub struct Bound {
    local: SocketAddr,
    shared: Arc<dyn Control>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
}

/// Stops a [`Bound`] server from anywhere (cheap to clone).
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<dyn Control>,
    stop: watch::Sender<bool>,
}

impl ShutdownHandle {
    /// Disconnects every client (`server shutting down`) and stops accepting.
    pub fn shutdown(&self) {
        self.shared.close_all();
        let _ = self.stop.send(true);
    }
}

impl Bound {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Live Engine.IO sessions.
    pub fn session_count(&self) -> usize {
        self.shared.session_count()
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle { shared: self.shared.clone(), stop: self.stop.clone() }
    }

    /// Waits until the server stops.
    pub async fn wait(&self) -> std::io::Result<()> {
        let task = self.task.lock().take();
        match task {
            Some(t) => t.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }

    /// Disconnects every client, stops accepting and waits for the end.
    pub async fn shutdown(&self) -> std::io::Result<()> {
        self.shutdown_handle().shutdown();
        self.wait().await
    }
}

pub(crate) fn router<L: Layer>(shared: Arc<Shared<L>>) -> Router {
    let path = shared.opts.path.clone();
    let trimmed = path.trim_end_matches('/').to_string();
    let s2 = shared.clone();
    let r = Router::new().route(&path, axum::routing::any(move |req: Request| handle(shared.clone(), req)));
    if trimmed.is_empty() {
        r
    } else {
        r.route(&trimmed, axum::routing::any(move |req: Request| handle(s2.clone(), req)))
    }
}

fn error_response(e: HttpError, cors: &Cors, origin: Option<&HeaderValue>) -> Response<Body> {
    let mut r = Response::new(Body::from(e.body()));
    *r.status_mut() = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    cors.apply(origin, r.headers_mut());
    r
}

fn text_response(
    status: StatusCode,
    body: impl Into<Body>,
    cors: &Cors,
    origin: Option<&HeaderValue>,
) -> Response<Body> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=UTF-8"));
    cors.apply(origin, r.headers_mut());
    r
}

/// The handshake of a new session's opening request (headers, query and
/// address), built once and shared by every CONNECT of the session; `None`
/// when its names and values exceed `max` bytes.
fn base_handshake(parts: &Parts, q: &HashMap<String, String>, max: usize) -> Option<Box<Handshake>> {
    let headers = parts.headers.iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
    let size: usize = parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum::<usize>()
        + q.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    if size > max {
        return None;
    }
    let mut hs = Handshake::new();
    for (k, v) in headers {
        hs = hs.header(k, v);
    }
    for (k, v) in q {
        hs = hs.query(k.as_str(), v.as_str());
    }
    if let Some(ConnectInfo(a)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        hs = hs.address(a.to_string());
    }
    Some(Box::new(hs))
}

/// An error response with an Engine.IO-style JSON body (`code` 3, bad
/// request) and another HTTP status.
fn limit_response(status: StatusCode, message: &str, cors: &Cors, origin: Option<&HeaderValue>) -> Response<Body> {
    let mut r = error_response(HttpError::BadRequest, cors, origin);
    *r.status_mut() = status;
    *r.body_mut() = Body::from(format!(r#"{{"code":3,"message":{}}}"#, serde_json::Value::from(message)));
    r
}

async fn handle<L: Layer>(shared: Arc<Shared<L>>, req: Request) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    let opts = &shared.opts;
    let cors = &opts.cors;
    let origin = parts.headers.get(header::ORIGIN).cloned();
    let origin = origin.as_ref();
    if !cors.allows(origin.and_then(|o| o.to_str().ok())) {
        return error_response(HttpError::Forbidden, cors, origin);
    }
    if parts.method == Method::OPTIONS {
        let mut r = text_response(StatusCode::NO_CONTENT, Body::empty(), cors, origin);
        if *cors != Cors::Disabled {
            let h = r.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET,POST,OPTIONS"));
            if let Some(req_h) = parts.headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, req_h.clone());
            }
        }
        return r;
    }
    let q = crate::query::parse(parts.uri.query().unwrap_or(""));
    let transport = q.get("transport").map(String::as_str);
    let is_ws = match transport {
        Some("polling") => false,
        Some("websocket") => true,
        _ => return error_response(HttpError::TransportUnknown, cors, origin),
    };
    if q.get("EIO").map(String::as_str) != Some("4") {
        return error_response(HttpError::UnsupportedProtocolVersion, cors, origin);
    }
    let upgrade = if is_ws {
        match WsUpgrade::from_parts(&mut parts, opts.max_payload) {
            Some(u) => Some(u),
            None => return error_response(HttpError::BadRequest, cors, origin),
        }
    } else {
        None
    };
    match q.get("sid") {
        None => {
            if parts.method != Method::GET {
                return error_response(HttpError::BadHandshakeMethod, cors, origin);
            }
            if let Some(f) = &opts.allow_request {
                if !f(&parts) {
                    return error_response(HttpError::Forbidden, cors, origin);
                }
            }
            if shared.sessions.lock().len() >= opts.max_sessions {
                return limit_response(StatusCode::SERVICE_UNAVAILABLE, "Too many sessions", cors, origin);
            }
            let Some(base) = base_handshake(&parts, &q, opts.max_handshake_bytes) else {
                return limit_response(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "Handshake headers too large",
                    cors,
                    origin,
                );
            };
            match upgrade {
                Some(u) => u.on_upgrade(move |conn| Session::run_websocket(shared, base, conn)),
                None => {
                    let sess = Session::start_polling(shared.clone(), base);
                    poll_get(&sess, cors, origin).await
                }
            }
        }
        Some(sid) => {
            let Some(sess) = shared.session(sid) else {
                return error_response(HttpError::SessionIdUnknown, cors, origin);
            };
            match upgrade {
                Some(u) => {
                    if sess.upgrading.swap(true, std::sync::atomic::Ordering::AcqRel) {
                        // Already on (or moving to) WebSocket: the spec has the
                        // server accept and close this one; the session lives on.
                        let limit = opts.ping_timeout;
                        return u.on_upgrade(move |mut conn| async move {
                            let _ = tokio::time::timeout(limit, conn.close(None)).await;
                        });
                    }
                    let timeout = opts.upgrade_timeout;
                    u.on_upgrade(move |conn| upgrade_ws(sess, conn, timeout))
                }
                None if parts.method == Method::GET => poll_get(&sess, cors, origin).await,
                None if parts.method == Method::POST => poll_post(&sess, body, cors, origin).await,
                None => error_response(HttpError::BadRequest, cors, origin),
            }
        }
    }
}

/// A long-polling GET: waits for frames (or the session's end) and returns
/// them all in one body.
async fn poll_get<L: Layer>(sess: &Arc<Session<L>>, cors: &Cors, origin: Option<&HeaderValue>) -> Response<Body> {
    {
        let mut p = sess.poll.lock();
        if p.upgraded {
            // The session is on WebSocket: a transport mismatch.
            return error_response(HttpError::BadRequest, cors, origin);
        }
        if p.get_active {
            drop(p);
            // Two GETs at once: a protocol violation that ends the session.
            sess.close(DisconnectReason::TransportError);
            return error_response(HttpError::BadRequest, cors, origin);
        }
        p.get_active = true;
    }
    // Cleared however this ends, also when the client drops the request.
    let _active = ActiveGuard(sess, |p: &mut PollState| p.get_active = false);
    let frames = loop {
        let notified = sess.poll_notify.notified();
        {
            let mut p = sess.poll.lock();
            if !p.frames.is_empty() {
                let frames = std::mem::take(&mut p.frames);
                drop(p);
                sess.wake.notify_one();
                break frames;
            }
            if p.closed || p.upgraded {
                // A session the client closed (its close packet) answers the
                // pending GET with a noop, as does an upgrade; any other end
                // with a close packet.
                let last = if p.closed && p.ended_by != Some(DisconnectReason::TransportClose) { "1" } else { "6" };
                break vec![eio::Frame::text_static(last)];
            }
        }
        notified.await;
    };
    text_response(StatusCode::OK, eio::encode_payload(&frames), cors, origin)
}

/// A long-polling POST: decodes the packets and hands them to the session.
async fn poll_post<L: Layer>(
    sess: &Arc<Session<L>>,
    body: Body,
    cors: &Cors,
    origin: Option<&HeaderValue>,
) -> Response<Body> {
    {
        let mut p = sess.poll.lock();
        if p.upgraded {
            // The session is on WebSocket: a transport mismatch (its packets
            // are not run beside the session's task).
            return error_response(HttpError::BadRequest, cors, origin);
        }
        if p.post_active {
            drop(p);
            // Two POSTs at once: a protocol violation that ends the session.
            sess.close(DisconnectReason::TransportError);
            return error_response(HttpError::BadRequest, cors, origin);
        }
        p.post_active = true;
    }
    let _active = ActiveGuard(sess, |p: &mut PollState| p.post_active = false);
    poll_post_inner(sess, body, cors, origin).await
}

/// Runs its function on the session's polling state when dropped.
struct ActiveGuard<'a, L: Layer, F: FnMut(&mut PollState)>(&'a Session<L>, F);

impl<L: Layer, F: FnMut(&mut PollState)> Drop for ActiveGuard<'_, L, F> {
    fn drop(&mut self) {
        (self.1)(&mut self.0.poll.lock());
    }
}

async fn poll_post_inner<L: Layer>(
    sess: &Arc<Session<L>>,
    body: Body,
    cors: &Cors,
    origin: Option<&HeaderValue>,
) -> Response<Body> {
    let max = sess.shared.opts.max_payload;
    let bytes = match tokio::time::timeout(sess.shared.opts.body_timeout, axum::body::to_bytes(body, max)).await {
        Ok(Ok(b)) => b,
        Err(_) => {
            // A body that stops arriving (slowloris on POST).
            sess.close(DisconnectReason::TransportError);
            return limit_response(StatusCode::REQUEST_TIMEOUT, "Body timeout", cors, origin);
        }
        Ok(Err(_)) => {
            sess.close(DisconnectReason::TransportError);
            let mut r = error_response(HttpError::BadRequest, cors, origin);
            *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return r;
        }
    };
    let packets = match eio::decode_payload(&bytes) {
        Ok(p) => p,
        Err(_) => {
            sess.close(DisconnectReason::ParseError);
            return error_response(HttpError::BadRequest, cors, origin);
        }
    };
    let mut turn = crate::session::Turn::new(packets.len());
    for p in packets {
        if turn.over() {
            // A large POST gives way to other tasks between turns.
            tokio::task::yield_now().await;
            turn = crate::session::Turn::new(usize::MAX);
        }
        if let Err(reason) = sess.on_packet(p) {
            sess.close(reason);
            // `on_packet` fails with `transport error` only for a packet over the limit.
            if reason == DisconnectReason::TransportError {
                let mut r = error_response(HttpError::BadRequest, cors, origin);
                *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                return r;
            }
            break;
        }
    }
    text_response(StatusCode::OK, "ok", cors, origin)
}

/// A valid WebSocket opening request, answered by [`on_upgrade`](WsUpgrade::on_upgrade).
struct WsUpgrade {
    on: hyper::upgrade::OnUpgrade,
    accept: HeaderValue,
    max_payload: usize,
    /// The connection's place under the connection cap, held while the
    /// WebSocket lives (the HTTP connection task ends at the upgrade).
    permit: Option<crate::accept::ConnPermit>,
}

impl WsUpgrade {
    /// Checks the opening handshake (RFC 6455 4.2.1); `None` if invalid.
    fn from_parts(parts: &mut Parts, max_payload: usize) -> Option<WsUpgrade> {
        let h = &parts.headers;
        let has_token = |name: header::HeaderName, token: &str| {
            h.get_all(name)
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))))
        };
        if parts.method != Method::GET
            || !has_token(header::CONNECTION, "upgrade")
            || !has_token(header::UPGRADE, "websocket")
            || h.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13")
        {
            return None;
        }
        let key = h.get(header::SEC_WEBSOCKET_KEY)?;
        let accept = HeaderValue::from_str(&ws::accept_key(key.as_bytes())).ok()?;
        let on = parts.extensions.remove::<hyper::upgrade::OnUpgrade>()?;
        let permit = parts.extensions.get::<crate::accept::ConnPermit>().cloned();
        Some(WsUpgrade { on, accept, max_payload, permit })
    }

    /// The 101 response; `f` runs on the WebSocket in a new task once the
    /// connection is handed over.
    fn on_upgrade<F, Fut>(self, f: F) -> Response<Body>
    where
        F: FnOnce(ws::Conn) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let WsUpgrade { on, accept, max_payload, permit } = self;
        tokio::spawn(async move {
            if let Ok(upgraded) = on.await {
                f(ws::Conn::from_upgraded(upgraded, max_payload)).await;
            }
            drop(permit);
        });
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        r
    }
}

/// The WebSocket side of an upgrade: probe ping/pong, a noop for the
/// pending GET, then the upgrade packet moves the session to WebSocket
/// (with what was read after it).
async fn upgrade_ws<L: Layer>(sess: Arc<Session<L>>, mut conn: ws::Conn, timeout: Duration) {
    let probe = async {
        let mut probed = false;
        loop {
            let ws::ReadOutcome::Events(events) = conn.read().await else { return None };
            let mut it = events.into_iter();
            while let Some(ev) = it.next() {
                let mut reply = Vec::new();
                let mut noop = false;
                match ev {
                    Event::Text(t) => match (t.as_str(), probed) {
                        ("2probe", false) => {
                            ws::text_frame(&mut reply, b"3probe");
                            probed = true;
                            noop = true;
                        }
                        ("5", true) => return Some(it.collect::<Vec<_>>()),
                        _ => return None,
                    },
                    Event::Ping(p) => ws::pong_frame(&mut reply, &p),
                    Event::Binary(_) => {}
                    Event::Close(_) => return None,
                }
                if !reply.is_empty() {
                    if conn.write_all(&reply).await.is_err() {
                        return None;
                    }
                    if noop {
                        sess.push_noop();
                    }
                }
            }
        }
    };
    // The upgrade ends with its session (closed, or its task gone).
    let ended = async {
        loop {
            let notified = sess.poll_notify.notified();
            if sess.is_over() {
                return;
            }
            notified.await;
        }
    };
    let outcome = tokio::select! {
        r = tokio::time::timeout(timeout, probe) => r.ok().flatten(),
        () = ended => None,
    };
    match outcome {
        Some(rest) => sess.upgrade(conn, rest),
        None => {
            // A failed upgrade leaves the session on polling.
            sess.upgrading.store(false, std::sync::atomic::Ordering::Release);
            let _ = tokio::time::timeout(timeout, conn.close(None)).await;
        }
    }
}

/// The shared state of a server with default options (unit tests).
#[cfg(test)]
pub(crate) fn test_shared(engine: Engine) -> Arc<Shared<SioLayer>> {
    SocketIoServer::new(engine).shared()
}
