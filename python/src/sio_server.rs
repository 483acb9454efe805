//! `roomcast._roomcast.SocketIoServer`: the `roomcast-socketio` transport
//! running inside the Python process, on a tokio runtime of its own
//! (`threads` worker threads) that the object owns.
//!
//! Everything between the socket and the engine stays in Rust: Engine.IO
//! and Socket.IO framing, heartbeats, fan-out and the encoding of every
//! copy. Python runs only for the handlers registered on the engine's
//! namespaces (and `allow_request`), which the core calls on the runtime
//! thread that read the packet; each takes the GIL for its own duration.
//!
//! Two ways in:
//!
//! * `start(host, port)`: the crate's own listener (hyper, with its limits).
//! * `http(...)` / `websocket(...)`: requests an ASGI server received, fed to
//!   the same router. An HTTP request is one call with its whole body; a
//!   WebSocket is served by the crate's WebSocket code over an in-memory
//!   pipe (`tokio::io::duplex`), with `tokio-tungstenite` speaking the
//!   client side of the pipe, so the ASGI frames in and out are whole
//!   messages. The transport itself is unchanged: the pipe stands where the
//!   TCP socket would be.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use futures_util::{FutureExt, SinkExt, StreamExt};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tower_service::Service;

use roomcast_socketio as rsio;

use crate::convert::{py_repr, seconds, NonNeg};
use crate::engine::Engine;
use crate::errors::{err_base, err_closed};
use crate::handler::{log_failure, Ctx};
use crate::wait::SLICE;

/// How long `shutdown` waits for the listener to drain (the crate itself
/// bounds its drain at 5 s).
const STOP_WAIT: Duration = Duration::from_secs(6);

/// Frames queued from an ASGI WebSocket towards the session before
/// `send_*` reports the bridge full (the caller then waits and retries).
const WS_QUEUE: usize = 256;

/// Most messages for the client handed to Python in one callback.
const WS_BATCH: usize = 256;

/// Set when the listener's task has ended.
#[derive(Default)]
struct Done {
    done: Mutex<bool>,
    cv: Condvar,
}

impl Done {
    fn set(&self) {
        if let Ok(mut d) = self.done.lock() {
            *d = true;
        }
        self.cv.notify_all();
    }
    /// Waits up to `t`; whether it is done.
    fn wait(&self, t: Duration) -> bool {
        let Ok(d) = self.done.lock() else { return true };
        match self.cv.wait_timeout_while(d, t, |d| !*d) {
            Ok((d, _)) => *d,
            Err(_) => true,
        }
    }
}

/// The runtime and what runs on it.
struct Running {
    rt: tokio::runtime::Runtime,
    listener: Option<(Arc<rsio::Bound>, Arc<Done>)>,
    router: Option<axum::Router>,
}

/// The Socket.IO transport for one engine.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct SocketIoServer {
    builder: rsio::SocketIoServer,
    ctx: Arc<Ctx>,
    threads: usize,
    /// Never held while Python runs or while anything blocks.
    run: Mutex<Option<Running>>,
}

fn header_map(parts: &axum::http::request::Parts) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &parts.headers {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        out.entry(k.as_str().to_string()).and_modify(|e| {
            e.push_str(", ");
            e.push_str(&v);
        });
        out.entry(k.as_str().to_string()).or_insert(v);
    }
    out
}

/// The `allow_request` hook: `hook(request: dict) -> bool`, the dict
/// holding `method`, `path`, `query`, `headers` (lower-case names) and
/// `address` (or None). An exception refuses the request and is logged.
fn allow_hook(f: Py<PyAny>) -> impl Fn(&rsio::RequestParts) -> bool + Send + Sync + 'static {
    move |parts: &rsio::RequestParts| {
        let address = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.to_string());
        let headers = header_map(parts);
        Python::attach(|py| {
            let r = (|| -> PyResult<bool> {
                let d = PyDict::new(py);
                d.set_item("method", parts.method.as_str())?;
                d.set_item("path", parts.uri.path())?;
                d.set_item("query", parts.uri.query().unwrap_or(""))?;
                d.set_item("headers", &headers)?;
                d.set_item("address", &address)?;
                f.bind(py).call1((d,))?.is_truthy()
            })();
            r.unwrap_or_else(|e| {
                log_failure(py, &e, "allow_request hook");
                false
            })
        })
    }
}

fn cors_arg(cors: Option<&Bound<'_, PyAny>>) -> PyResult<rsio::Cors> {
    let Some(c) = cors else { return Ok(rsio::Cors::disabled()) };
    if c.is_none() {
        return Ok(rsio::Cors::disabled());
    }
    if let Ok(s) = c.downcast::<PyString>() {
        let s = s.to_cow()?;
        return Ok(if s == "*" { rsio::Cors::any() } else { rsio::Cors::origins([s.into_owned()]) });
    }
    if c.is_instance_of::<PyList>() || c.is_instance_of::<pyo3::types::PyTuple>() {
        let v: Vec<String> = c.extract()?;
        return Ok(if v.iter().any(|o| o == "*") { rsio::Cors::any() } else { rsio::Cors::origins(v) });
    }
    Err(PyTypeError::new_err(format!(
        "cors_allowed_origins must be None, '*', an origin or a list of origins, not {}",
        c.get_type().name()?
    )))
}

fn client_addr(client: Option<(String, u16)>) -> Option<SocketAddr> {
    let (host, port) = client?;
    host.parse::<std::net::IpAddr>().ok().map(|ip| SocketAddr::new(ip, port))
}

/// Headers that describe the ASGI server's own connection, not the
/// client's request: not copied into the request fed to the transport.
fn hop_by_hop(name: &[u8]) -> bool {
    const SKIP: [&[u8]; 8] = [
        b"host",
        b"connection",
        b"upgrade",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"content-length",
        b"transfer-encoding",
    ];
    SKIP.iter().any(|s| s.eq_ignore_ascii_case(name))
}

impl SocketIoServer {
    /// The runtime's handle, starting the runtime on first use.
    fn handle(&self) -> PyResult<tokio::runtime::Handle> {
        let mut run = self.run.lock().map_err(|_| err_base("poisoned"))?;
        if let Some(r) = run.as_ref() {
            return Ok(r.rt.handle().clone());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.threads)
            .thread_name("roomcast-socketio")
            .enable_all()
            .build()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the runtime: {e}")))?;
        let h = rt.handle().clone();
        *run = Some(Running { rt, listener: None, router: None });
        Ok(h)
    }

    fn router(&self) -> PyResult<(tokio::runtime::Handle, axum::Router)> {
        let h = self.handle()?;
        let mut run = self.run.lock().map_err(|_| err_base("poisoned"))?;
        let r = run.as_mut().ok_or_else(|| err_closed("the server is shut down"))?;
        let router = r.router.get_or_insert_with(|| self.builder.clone().into_router()).clone();
        Ok((h, router))
    }

    fn listener(&self) -> Option<(Arc<rsio::Bound>, Arc<Done>)> {
        self.run.lock().ok()?.as_ref()?.listener.clone()
    }
}

#[pymethods]
impl SocketIoServer {
    #[new]
    #[pyo3(signature = (engine, *, path="/socket.io", ping_interval=25.0, ping_timeout=20.0,
        max_payload=None, connect_timeout=10.0, cors_allowed_origins=None, allow_request=None, threads=None))]
    #[pyo3(text_signature = "(engine, *, path='/socket.io', ping_interval=25.0, ping_timeout=20.0, \
        max_payload=1000000, connect_timeout=10.0, cors_allowed_origins=None, allow_request=None, threads=2)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        engine: PyRef<'_, Engine>,
        path: &str,
        ping_interval: f64,
        ping_timeout: f64,
        max_payload: Option<NonNeg<usize>>,
        connect_timeout: f64,
        cors_allowed_origins: Option<&Bound<'_, PyAny>>,
        allow_request: Option<Bound<'_, PyAny>>,
        threads: Option<NonNeg<usize>>,
    ) -> PyResult<Self> {
        let threads = threads.map_or(2, |t| t.0);
        if threads == 0 {
            return Err(PyValueError::new_err("threads must be at least 1"));
        }
        let max_payload = max_payload.map_or(1_000_000, |m| m.0);
        if max_payload == 0 {
            return Err(PyValueError::new_err("max_payload must be at least 1"));
        }
        if ping_interval <= 0.0 || ping_timeout <= 0.0 {
            return Err(PyValueError::new_err("ping_interval and ping_timeout must be > 0"));
        }
        let mut b = rsio::SocketIoServer::new(engine.inner.clone())
            .path(path)
            .ping(seconds(ping_interval, "ping_interval")?, seconds(ping_timeout, "ping_timeout")?)
            .max_payload(max_payload)
            .connect_timeout(seconds(connect_timeout, "connect_timeout")?)
            .cors(cors_arg(cors_allowed_origins)?);
        if let Some(f) = allow_request {
            if !f.is_none() {
                crate::handler::check_callable(&f)?;
                b = b.allow_request(allow_hook(f.unbind()));
            }
        }
        Ok(SocketIoServer { builder: b, ctx: engine.ctx.clone(), threads, run: Mutex::new(None) })
    }

    /// Binds `host:port` (port 0 picks a free one) and serves in the
    /// background; returns the bound `(host, port)`.
    fn start(&self, py: Python<'_>, host: &str, port: u16) -> PyResult<(String, u16)> {
        if self.listener().is_some() {
            return Err(err_base("the server is already listening"));
        }
        let h = self.handle()?;
        let builder = self.builder.clone();
        let addr = (host.to_string(), port);
        let bound = py
            .detach(|| h.block_on(builder.bind(addr)))
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("cannot listen on {host}:{port}: {e}")))?;
        let bound = Arc::new(bound);
        let done = Arc::new(Done::default());
        let local = bound.local_addr();
        {
            let (b, d) = (bound.clone(), done.clone());
            h.spawn(async move {
                let _ = b.wait().await;
                d.set();
            });
        }
        let mut run = self.run.lock().map_err(|_| err_base("poisoned"))?;
        let r = run.as_mut().ok_or_else(|| err_closed("the server is shut down"))?;
        if r.listener.is_some() {
            bound.shutdown_handle().shutdown();
            return Err(err_base("the server is already listening"));
        }
        r.listener = Some((bound, done));
        Ok((local.ip().to_string(), local.port()))
    }

    /// The `(host, port)` it listens on, or None when not listening.
    #[getter]
    fn address(&self) -> Option<(String, u16)> {
        self.listener().map(|(b, _)| (b.local_addr().ip().to_string(), b.local_addr().port()))
    }

    /// Live Engine.IO sessions on the listener (0 when not listening).
    #[getter]
    fn session_count(&self) -> usize {
        self.listener().map_or(0, |(b, _)| b.session_count())
    }

    /// Whether a listener or ASGI bridge is running.
    #[getter]
    fn running(&self) -> bool {
        self.run.lock().map(|r| r.is_some()).unwrap_or(false)
    }

    /// Waits (GIL released, Ctrl-C interrupts it) until the listener stops,
    /// at most `timeout` seconds (None: no limit); whether it stopped.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let Some((_, done)) = self.listener() else { return Ok(true) };
        let deadline = timeout.map(|t| seconds(t, "timeout")).transpose()?.map(|t| std::time::Instant::now() + t);
        loop {
            let slice = deadline.map_or(SLICE, |d| d.saturating_duration_since(std::time::Instant::now()).min(SLICE));
            if py.detach(|| done.wait(slice)) {
                return Ok(true);
            }
            py.check_signals()?;
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    /// Disconnects every client (`server shutting down`), stops listening
    /// and stops the runtime's threads. Idempotent; `start` may follow.
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self.run.lock().map_err(|_| err_base("poisoned"))?.take();
        let Some(run) = taken else { return Ok(()) };
        py.detach(move || {
            if let Some((bound, done)) = &run.listener {
                bound.shutdown_handle().shutdown();
                done.wait(STOP_WAIT);
            }
            // Tasks still running (ASGI bridges, handlers in flight) get a
            // moment, then the threads are left to end on their own.
            run.rt.shutdown_timeout(Duration::from_secs(1));
        });
        Ok(())
    }

    /// Sets the engine's event loop for coroutine handlers, unless it has
    /// one that is still open (`Engine(loop=...)`, an earlier serve);
    /// returns whether it was set. (The current loop is read with the GIL
    /// held and without this lock; the lock is only held to swap it.)
    fn adopt_loop(&self, py: Python<'_>, event_loop: Bound<'_, PyAny>) -> PyResult<bool> {
        let current = self.ctx.event_loop(py);
        if !current.is_none(py) && !current.bind(py).call_method0("is_closed")?.is_truthy()? {
            return Ok(false);
        }
        let old = self.ctx.event_loop.lock().map_err(|_| err_base("poisoned"))?.replace(event_loop.unbind());
        drop(old); // after the lock is released: a decref may run Python code
        Ok(true)
    }

    /// Serves one HTTP request received elsewhere (ASGI): `done(status,
    /// headers, body)` is called from a runtime thread with the response
    /// (`headers` a list of `(bytes, bytes)`), or `done(None, message)` if
    /// the request could not be built.
    #[pyo3(signature = (method, target, headers, body, client, done))]
    #[allow(clippy::too_many_arguments)]
    fn http(
        &self,
        method: &str,
        target: &str,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: Vec<u8>,
        client: Option<(String, u16)>,
        done: Py<PyAny>,
    ) -> PyResult<()> {
        let (h, mut router) = self.router()?;
        let mut req = axum::http::Request::builder().method(method).uri(target);
        for (k, v) in &headers {
            if !k.eq_ignore_ascii_case(b"host") || !v.is_empty() {
                req = req.header(k.as_slice(), v.as_slice());
            }
        }
        let mut req = req.body(Body::from(body)).map_err(|e| PyValueError::new_err(format!("bad request: {e}")))?;
        if let Some(a) = client_addr(client) {
            req.extensions_mut().insert(ConnectInfo(a));
        }
        h.spawn(async move {
            let resp = match router.call(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let (parts, body) = resp.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await;
            Python::attach(|py| {
                let r = (|| -> PyResult<()> {
                    let body = match body {
                        Ok(b) => b,
                        Err(e) => {
                            done.bind(py).call1((py.None(), e.to_string()))?;
                            return Ok(());
                        }
                    };
                    let hs: Vec<(Bound<'_, PyBytes>, Bound<'_, PyBytes>)> = parts
                        .headers
                        .iter()
                        .map(|(k, v)| (PyBytes::new(py, k.as_str().as_bytes()), PyBytes::new(py, v.as_bytes())))
                        .collect();
                    done.bind(py).call1((parts.status.as_u16(), hs, PyBytes::new(py, &body)))?;
                    Ok(())
                })();
                if let Err(e) = r {
                    log_failure(py, &e, "ASGI response callback");
                }
            });
        });
        Ok(())
    }

    /// Serves one WebSocket received elsewhere (ASGI). `on_event(kind,
    /// data)` is called from a runtime thread: `("open", None)` once the
    /// transport accepted it, `("reject", status)` if it refused it, then
    /// `("messages", [str or bytes, ...])` with the messages for the client
    /// that are ready (in order), and
    /// `("close", None)` at the end. The returned bridge carries the
    /// client's messages the other way.
    #[pyo3(signature = (target, headers, client, on_event))]
    fn websocket(
        &self,
        target: &str,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        client: Option<(String, u16)>,
        on_event: Py<PyAny>,
    ) -> PyResult<WsBridge> {
        let (h, router) = self.router()?;
        let mut req = format!("ws://localhost{target}")
            .into_client_request()
            .map_err(|e| PyValueError::new_err(format!("bad WebSocket target {target:?}: {e}")))?;
        for (k, v) in &headers {
            if hop_by_hop(k) {
                continue;
            }
            let (Ok(k), Ok(v)) = (axum::http::HeaderName::from_bytes(k), axum::http::HeaderValue::from_bytes(v)) else {
                continue;
            };
            req.headers_mut().append(k, v);
        }
        let addr = client_addr(client);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<WsMessage>(WS_QUEUE);
        let emit = move |kind: &str, batch: Vec<WsMessage>, status: Option<u16>| {
            Python::attach(|py| {
                let r = (|| -> PyResult<()> {
                    let data: Py<PyAny> = if let Some(s) = status {
                        s.into_pyobject(py)?.into_any().unbind()
                    } else if batch.is_empty() {
                        py.None()
                    } else {
                        let items = batch.iter().map(|m| match m {
                            WsMessage::Binary(b) => PyBytes::new(py, b).into_any(),
                            other => PyString::new(py, other.to_text().unwrap_or_default()).into_any(),
                        });
                        PyList::new(py, items)?.into_any().unbind()
                    };
                    on_event.bind(py).call1((kind, data))?;
                    Ok(())
                })();
                if let Err(e) = r {
                    log_failure(py, &e, "ASGI WebSocket callback");
                }
            })
        };
        h.spawn(async move {
            let (server_end, client_end) = tokio::io::duplex(16 * 1024);
            let svc = hyper::service::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                if let Some(a) = addr {
                    req.extensions_mut().insert(ConnectInfo(a));
                }
                let mut router = router.clone();
                async move { Ok::<_, Infallible>(router.call(req.map(Body::new)).await.unwrap_or_else(|n| match n {})) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(server_end), svc)
                .with_upgrades();
            tokio::spawn(async move {
                let _ = conn.await;
            });
            // The transport bounds what clients send; what it sends back is
            // taken whole. Small buffers: tungstenite's defaults (128 KiB
            // read buffer per socket) would dwarf the session itself, and
            // writes go out at once (the bridge already batches).
            let config = WebSocketConfig::default()
                .max_message_size(None)
                .max_frame_size(None)
                .read_buffer_size(4096)
                .write_buffer_size(0);
            let ws = match tokio_tungstenite::client_async_with_config(req, client_end, Some(config)).await {
                Ok((ws, _)) => ws,
                Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                    emit("reject", vec![], Some(resp.status().as_u16()));
                    return;
                }
                Err(_) => {
                    emit("reject", vec![], Some(500));
                    return;
                }
            };
            emit("open", vec![], None);
            let (mut sink, mut stream) = ws.split();
            let writer = tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
                let _ = sink.close().await;
            });
            // What the transport sent is handed over in batches: one GIL
            // acquisition and one loop wake-up for every message that is
            // ready, not one per message.
            let mut batch = Vec::new();
            let mut open = true;
            while open {
                let Some(first) = stream.next().await else { break };
                let mut next = Some(first);
                while let Some(m) = next {
                    match m {
                        Ok(m @ (WsMessage::Text(_) | WsMessage::Binary(_))) => batch.push(m),
                        Ok(WsMessage::Close(_)) | Err(_) => {
                            open = false;
                            break;
                        }
                        Ok(_) => {}
                    }
                    if batch.len() >= WS_BATCH {
                        break;
                    }
                    next = match stream.next().now_or_never() {
                        Some(Some(m)) => Some(m),
                        Some(None) => {
                            open = false;
                            None
                        }
                        None => None,
                    };
                }
                if !batch.is_empty() {
                    emit("messages", std::mem::take(&mut batch), None);
                }
            }
            writer.abort();
            emit("close", vec![], None);
        });
        Ok(WsBridge { tx: Mutex::new(Some(tx)) })
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("<roomcast.SocketIoServer address={}>", py_repr(py, self.address()))
    }
}

impl Drop for SocketIoServer {
    fn drop(&mut self) {
        if let Some(run) = self.run.get_mut().ok().and_then(Option::take) {
            if let Some((bound, _)) = &run.listener {
                bound.shutdown_handle().shutdown();
            }
            run.rt.shutdown_background();
        }
    }
}

/// The client-to-server half of an ASGI WebSocket (see
/// `SocketIoServer.websocket`).
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct WsBridge {
    tx: Mutex<Option<tokio::sync::mpsc::Sender<WsMessage>>>,
}

impl WsBridge {
    fn push(&self, m: WsMessage) -> PyResult<bool> {
        let tx = self.tx.lock().map_err(|_| err_base("poisoned"))?;
        let Some(tx) = tx.as_ref() else { return Err(err_closed("the WebSocket is closed")) };
        match tx.try_send(m) {
            Ok(()) => Ok(true),
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => Err(err_closed("the WebSocket is closed")),
        }
    }
}

#[pymethods]
impl WsBridge {
    /// Queues a text message from the client; False when the queue is full
    /// (wait and retry), `ClosedError` once the session ended.
    fn send_text(&self, text: String) -> PyResult<bool> {
        self.push(WsMessage::text(text))
    }
    /// Queues a binary message from the client (see `send_text`).
    fn send_bytes(&self, data: Vec<u8>) -> PyResult<bool> {
        self.push(WsMessage::binary(data))
    }
    /// The client went away: the session sees its WebSocket close.
    fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }
}
