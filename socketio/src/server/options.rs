//! The server options and the builder methods both servers share.
//!
//! [`SocketIoServer`](crate::SocketIoServer) and
//! [`EngineIoServer`](crate::engineio::EngineIoServer) are two public
//! builders over one [`Options`]: the options of the Engine.IO layer (path,
//! heartbeat, limits, CORS, the HTTP server's) are set the same way on
//! both, so their setters, and `into_router` / `bind` / `serve`, are
//! written once here, in [`builder_methods!`], and expanded into each
//! builder's `impl`. A macro rather than a trait keeps them inherent
//! methods (no trait to import) with one doc text each; rather than a
//! generic builder type, it keeps each server a plain named type.

use std::sync::Arc;
use std::time::Duration;

use axum::http::request::Parts;

use crate::server::Cors;

/// A request filter: `false` refuses the request with error 4 `Forbidden`.
pub(crate) type AllowRequest = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

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
    /// Socket.IO's defaults (see [`SocketIoServer::new`](crate::SocketIoServer::new)),
    /// served at `path`.
    pub(crate) fn defaults(path: &str) -> Options {
        Options {
            path: normalize_path(path),
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

/// `path` with one leading and one trailing `/`.
pub(crate) fn normalize_path(path: &str) -> String {
    let mut p = path.trim_end_matches('/').to_string();
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    p.push('/');
    p
}

/// The builder methods of a server type with fields `opts: Options` and
/// `routes: Option<Router>` and a method
/// `fn into_parts(self) -> (Arc<Shared<L>>, Option<Router>)`.
macro_rules! builder_methods {
    () => {
        /// The HTTP path (with or without the trailing `/`).
        pub fn path(mut self, path: &str) -> Self {
            self.opts.path = $crate::server::options::normalize_path(path);
            self
        }

        /// Heartbeat: a ping every `interval`; a client silent for `timeout`
        /// after a ping is disconnected with `ping timeout`.
        pub fn ping(mut self, interval: ::std::time::Duration, timeout: ::std::time::Duration) -> Self {
            self.opts.ping_interval = interval;
            self.opts.ping_timeout = timeout;
            self
        }

        /// The largest Engine.IO packet (WebSocket message or polling body) a
        /// client may send, in bytes; larger ones close the session. With
        /// Socket.IO it also bounds a binary packet: its text and all its
        /// attachments together (more: the session closes with `transport
        /// error`, close code 1009 over WebSocket, HTTP 413 over polling).
        pub fn max_payload(mut self, bytes: usize) -> Self {
            self.opts.max_payload = bytes;
            self
        }

        /// How long an upgrade to WebSocket may take once probed.
        pub fn upgrade_timeout(mut self, d: ::std::time::Duration) -> Self {
            self.opts.upgrade_timeout = d;
            self
        }

        /// Which browser origins may reach the server. The default,
        /// [`Cors::Disabled`](crate::Cors::Disabled), sends no CORS headers
        /// (as the reference server does unless configured), so browsers keep
        /// cross-origin pages from reading polling responses; same-origin
        /// pages and non-browser clients are served.
        /// [`Cors::any`](crate::Cors::any) is an explicit opt-in.
        ///
        /// CORS does not apply to WebSocket: browsers open a WebSocket to any
        /// origin and send cookies with it. A server that authenticates with
        /// cookies checks `Origin` itself, with
        /// [`Cors::origins`](crate::Cors::origins) (which refuses other
        /// origins on both transports) or in
        /// [`allow_request`](Self::allow_request).
        pub fn cors(mut self, cors: $crate::Cors) -> Self {
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
        pub fn allow_request(mut self, f: impl Fn(&$crate::RequestParts) -> bool + Send + Sync + 'static) -> Self {
            self.opts.allow_request = Some(::std::sync::Arc::new(f));
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
        pub fn body_timeout(mut self, d: ::std::time::Duration) -> Self {
            self.opts.body_timeout = d;
            self
        }

        /// How long a connection may take to send a request's headers, and may
        /// stay idle between requests, when served by [`bind`](Self::bind) /
        /// [`serve`](Self::serve) (default 10 s); then it is closed.
        pub fn header_timeout(mut self, d: ::std::time::Duration) -> Self {
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
        /// server's path by [`bind`](Self::bind) / [`serve`](Self::serve),
        /// with the same timeouts and connection cap.
        pub fn routes(mut self, routes: ::axum::Router) -> Self {
            self.routes = Some(match self.routes.take() {
                Some(r) => r.merge(routes),
                None => routes,
            });
            self
        }

        /// An axum router serving the server's path (merge it into an app).
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
        pub fn into_router(self) -> ::axum::Router {
            $crate::server::routing::router(self.into_parts().0)
        }

        /// Binds `addr` and serves in a background task: HTTP/1.1 with the
        /// header-read timeout, a 64 KiB header cap, the connection cap and
        /// `TCP_NODELAY` on every accepted socket.
        pub async fn bind(self, addr: impl ::tokio::net::ToSocketAddrs) -> ::std::io::Result<$crate::Bound> {
            let (shared, routes) = self.into_parts();
            $crate::server::bound::bind(shared, routes, addr).await
        }

        /// Binds `addr` and serves until the task is cancelled or the server fails.
        pub async fn serve(self, addr: impl ::tokio::net::ToSocketAddrs) -> ::std::io::Result<()> {
            self.bind(addr).await?.wait().await
        }
    };
}

pub(crate) use builder_methods;
