//! Python bindings of roomcast: a thin translation layer over the core crate.
//!
//! Every rule lives in `roomcast` (core); this crate converts arguments,
//! results and errors. Blocking waits run with the GIL released
//! (`py.detach`), as do emits (the fan-out never touches Python objects:
//! payloads are encoded to bytes before the engine is entered). Python
//! handlers are called by the core on the dispatching thread with no engine
//! lock held; they take the GIL themselves.

use std::collections::HashSet;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use pyo3::call::PyCallArgs;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyCFunction, PyDict, PyList, PyMemoryView, PyString, PyTuple, PyType};

use roomcast as rc;

mod redis;

// ---------------------------------------------------------------- exceptions

const EXCEPTIONS: &std::ffi::CStr = c"
class RoomcastError(Exception):
    \"\"\"Base class of every roomcast error.\"\"\"

class ConnectRefused(RoomcastError):
    \"\"\"A connect was refused; raise it from middleware to refuse one.\"\"\"

    def __init__(self, message: str = 'connect refused', data: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

class Closed(RoomcastError):
    \"\"\"The connection or socket is closed (and, for receives, drained).\"\"\"

class InvalidName(RoomcastError, ValueError):
    \"\"\"An invalid namespace, room or event name.\"\"\"

class PayloadTooLarge(RoomcastError, ValueError):
    \"\"\"A payload larger than max_payload.\"\"\"

class AckTimeout(RoomcastError, TimeoutError):
    \"\"\"No acknowledgement before the timeout.\"\"\"
";

static ROOMCAST_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CONNECT_REFUSED: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CLOSED: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INVALID_NAME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static PAYLOAD_TOO_LARGE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static ACK_TIMEOUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn exc(py: Python<'_>, cell: &PyOnceLock<Py<PyType>>, msg: String) -> PyErr {
    match cell.get(py) {
        Some(t) => PyErr::from_type(t.bind(py).clone(), msg),
        None => PyRuntimeError::new_err(msg),
    }
}

fn err_base(msg: impl ToString) -> PyErr {
    Python::attach(|py| exc(py, &ROOMCAST_ERROR, msg.to_string()))
}
fn err_closed(msg: impl ToString) -> PyErr {
    Python::attach(|py| exc(py, &CLOSED, msg.to_string()))
}
fn err_name(msg: impl ToString) -> PyErr {
    Python::attach(|py| exc(py, &INVALID_NAME, msg.to_string()))
}
fn err_too_large(msg: impl ToString) -> PyErr {
    Python::attach(|py| exc(py, &PAYLOAD_TOO_LARGE, msg.to_string()))
}

fn payload_err(e: rc::PayloadError) -> PyErr {
    match e {
        rc::PayloadError::TooLarge { .. } => err_too_large(e),
        _ => PyValueError::new_err(e.to_string()),
    }
}

fn emit_err(e: rc::EmitError) -> PyErr {
    match e {
        rc::EmitError::InvalidName(n) => err_name(n),
        rc::EmitError::Payload(p) => payload_err(p),
        rc::EmitError::Closed => err_closed(e),
        other => err_base(other),
    }
}

fn room_err(e: rc::RoomError) -> PyErr {
    match e {
        rc::RoomError::InvalidName(n) => err_name(n),
        rc::RoomError::Closed => err_closed(e),
        rc::RoomError::OwnRoom => PyValueError::new_err(e.to_string()),
        other => err_base(other),
    }
}

fn join_err(py: Python<'_>, e: rc::JoinError) -> PyErr {
    match e {
        rc::JoinError::InvalidName(n) => err_name(n),
        rc::JoinError::ConnectionClosed => err_closed(e),
        rc::JoinError::AlreadyJoined(_) | rc::JoinError::ShutDown | rc::JoinError::NoRandomness(_) => err_base(e),
        rc::JoinError::Payload(p) => payload_err(p),
        rc::JoinError::Refused(c) => {
            let data = match &c.data {
                Some(p) => match decode(py, p) {
                    Ok(v) => v,
                    Err(e) => return e,
                },
                None => py.None(),
            };
            match CONNECT_REFUSED.get(py) {
                Some(t) => match t.bind(py).call1((c.message.clone(), data)) {
                    Ok(v) => PyErr::from_value(v),
                    Err(e) => e,
                },
                None => PyRuntimeError::new_err(c.message),
            }
        }
    }
}

fn dispatch_err(e: rc::DispatchError) -> PyErr {
    match e {
        rc::DispatchError::InvalidName(n) => err_name(n),
        rc::DispatchError::Payload(p) => payload_err(p),
        rc::DispatchError::Closed => err_closed(e),
    }
}

// ------------------------------------------------------------------ payloads

/// Converts a Python value to a payload: bytes-like -> binary, str -> text,
/// anything else -> JSON via `json.dumps` (done here, before the engine is
/// entered, so no engine lock is held while Python code runs).
fn encode(obj: &Bound<'_, PyAny>) -> PyResult<rc::Payload> {
    let py = obj.py();
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(rc::Payload::binary(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.downcast::<PyByteArray>() {
        return Ok(rc::Payload::binary(b.to_vec()));
    }
    if obj.is_instance_of::<PyMemoryView>() {
        let b = py.import("builtins")?.getattr("bytes")?.call1((obj,))?;
        let b = b.downcast::<PyBytes>()?;
        return Ok(rc::Payload::binary(b.as_bytes().to_vec()));
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        return Ok(rc::Payload::text(s.to_cow()?.into_owned()));
    }
    let text = json_dumps(py)?.call1((obj,)).map_err(|e| {
        if e.is_instance_of::<PyTypeError>(py) {
            PyTypeError::new_err(format!("payload must be bytes-like, str or JSON-serializable: {}", e.value(py)))
        } else {
            e
        }
    })?;
    let text: String = text.extract()?;
    rc::Payload::new(rc::Format::Json, text.into_bytes()).map_err(payload_err)
}

static JSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The `encode` method of one `json.JSONEncoder` producing compact, strict
/// (no NaN) UTF-8 JSON. Made once: `json.dumps` with non-default options
/// builds a new encoder on every call.
fn json_dumps(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    let f = JSON_DUMPS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        let kw = PyDict::new(py);
        kw.set_item("separators", (",", ":"))?;
        kw.set_item("allow_nan", false)?;
        kw.set_item("ensure_ascii", false)?;
        let encoder = py.import("json")?.getattr("JSONEncoder")?.call((), Some(&kw))?;
        Ok(encoder.getattr("encode")?.unbind())
    })?;
    Ok(f.bind(py))
}

fn encode_opt(obj: Option<&Bound<'_, PyAny>>) -> PyResult<rc::Payload> {
    match obj {
        Some(o) => encode(o),
        None => Ok(rc::Payload::json(&()).unwrap_or_default()),
    }
}

/// Decodes a payload by its format: binary -> bytes, text -> str, json ->
/// `json.loads`.
fn decode(py: Python<'_>, p: &rc::Payload) -> PyResult<Py<PyAny>> {
    Ok(match p.format() {
        rc::Format::Binary => PyBytes::new(py, p.as_bytes()).into_any().unbind(),
        rc::Format::Text => PyString::new(py, p.as_str().unwrap_or_default()).into_any().unbind(),
        rc::Format::Json => {
            let s = PyString::new(py, std::str::from_utf8(p.as_bytes()).unwrap_or("null"));
            py.import("json")?.call_method1("loads", (s,))?.unbind()
        }
    })
}

fn rooms_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = obj.downcast::<PyString>() {
        return Ok(vec![s.to_cow()?.into_owned()]);
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for item in obj.try_iter()? {
            let item = item?;
            match item.downcast::<PyString>() {
                Ok(s) => out.push(s.to_cow()?.into_owned()),
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "room names must be str, not {}",
                        item.get_type().name()?
                    )))
                }
            }
        }
        return Ok(out);
    }
    Err(PyTypeError::new_err(format!("rooms must be a str or a list/tuple of str, not {}", obj.get_type().name()?)))
}

fn seconds(secs: f64, what: &str) -> PyResult<Duration> {
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(PyValueError::new_err(format!("{what} must be a finite number of seconds >= 0")));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Logs a failed Python callback on the `roomcast` logger, with traceback.
fn log_failure(py: Python<'_>, err: &PyErr, what: &str) {
    let logged = (|| -> PyResult<()> {
        let logger = py.import("logging")?.call_method1("getLogger", ("roomcast",))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", err.value(py))?;
        logger.call_method("error", ("roomcast: %s raised an exception", what), Some(&kwargs))?;
        Ok(())
    })();
    if logged.is_err() {
        err.clone_ref(py).print(py);
    }
}

/// What the namespaces of one engine share on the Python side.
struct Ctx {
    /// The asyncio loop given to `Engine(loop=...)`: coroutine handlers are
    /// scheduled on it (else on the loop running in the calling thread).
    event_loop: Option<Py<PyAny>>,
    /// Namespaces that already have the default error hook.
    quiet: Mutex<HashSet<String>>,
}

impl Ctx {
    fn event_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.as_ref().map(|l| l.clone_ref(py)).unwrap_or_else(|| py.None())
    }

    /// Installs the default error hook on `ns` once. Python failures are
    /// logged where they happen, so the hook only keeps the core from
    /// printing them a second time; it logs what Python did not see (a
    /// panic in the bindings).
    fn quiet(&self, ns: &rc::Namespace) {
        let fresh = self.quiet.lock().map(|mut q| q.insert(ns.name().to_string())).unwrap_or(false);
        if fresh || ns.is_dynamic_parent() {
            ns.on_error(|fail: &rc::HandlerFailure| {
                if fail.kind == rc::FailureKind::Panic {
                    Python::attach(|py| {
                        let e = PyRuntimeError::new_err(fail.to_string());
                        log_failure(py, &e, "roomcast internals");
                    });
                }
            });
        }
    }
}

/// Names a handler site for messages and `on_error` dicts: (site, event).
fn site_parts(site: &rc::HandlerSite) -> (&'static str, Option<&str>) {
    match site {
        rc::HandlerSite::Middleware => ("middleware", None),
        rc::HandlerSite::EventMiddleware(e) => ("event_middleware", Some(e)),
        rc::HandlerSite::Connection => ("connection", None),
        rc::HandlerSite::Event(e) => ("event", Some(e)),
        rc::HandlerSite::Any(e) => ("any", Some(e)),
        rc::HandlerSite::Fallback(e) => ("fallback", Some(e)),
        rc::HandlerSite::Disconnecting => ("disconnecting", None),
        rc::HandlerSite::Disconnect => ("disconnect", None),
        rc::HandlerSite::RoomEvent => ("room_event", None),
        rc::HandlerSite::DynamicPredicate => ("dynamic_predicate", None),
        rc::HandlerSite::ServerSide(e) => ("server_side", Some(e)),
    }
}

fn describe(site: &rc::HandlerSite) -> String {
    match site_parts(site) {
        (s, Some(e)) => format!("{s} handler of event {e:?}"),
        (s, None) => format!("{s} handler"),
    }
}

/// Decodes an inbound payload for a handler; a failure is logged and
/// becomes the handler's error.
fn decode_arg(py: Python<'_>, ev: &rc::Inbound, site: &rc::HandlerSite) -> Result<Py<PyAny>, rc::HandlerError> {
    decode(py, ev.payload()).map_err(|e| {
        log_failure(py, &e, &describe(site));
        rc::HandlerError::from(e.to_string())
    })
}

/// A registered Python callable with what is needed to report its failures.
struct PyHandler {
    f: Py<PyAny>,
    ctx: Arc<Ctx>,
    ns: rc::Namespace,
}

impl PyHandler {
    fn new(ns: &Namespace, f: &Bound<'_, PyAny>) -> PyResult<PyHandler> {
        check_callable(f)?;
        Ok(PyHandler { f: f.clone().unbind(), ctx: ns.ctx.clone(), ns: ns.inner.clone() })
    }

    /// Calls the handler. An exception is logged and returned as the core's
    /// handler error (which feeds `on_error`); an awaitable result is
    /// scheduled as a task on the engine's loop, and its exception, later, is
    /// logged and reported to `on_error` the same way.
    fn call<'py>(
        &self,
        py: Python<'py>,
        site: rc::HandlerSite,
        socket_id: Option<&str>,
        args: impl PyCallArgs<'py>,
    ) -> Result<(), rc::HandlerError> {
        let what = describe(&site);
        let r = self.f.bind(py).call1(args).and_then(|v| {
            if v.is_none() || !v.hasattr("__await__")? {
                return Ok(());
            }
            let ns = self.ns.clone();
            let sid = socket_id.map(str::to_string);
            let what = what.clone();
            let on_fail = move |a: &Bound<'_, PyTuple>, _kw: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
                let e = PyErr::from_value(a.get_item(0)?);
                log_failure(a.py(), &e, &what);
                let failure = rc::HandlerFailure {
                    namespace: ns.name().to_string(),
                    socket_id: sid.clone(),
                    site: site.clone(),
                    kind: rc::FailureKind::Error,
                    message: e.to_string(),
                };
                let ns = ns.clone();
                a.py().detach(move || ns.report_failure(failure));
                Ok(())
            };
            let on_fail = PyCFunction::new_closure(py, None, None, on_fail)?;
            py.import("roomcast._aio")?.call_method1("schedule", (self.ctx.event_loop(py), v, on_fail))?;
            Ok(())
        });
        r.map_err(|e| {
            log_failure(py, &e, &what);
            e.to_string().into()
        })
    }

    /// Calls middleware and returns its result; an awaitable result is
    /// awaited (on the engine's loop, see `_aio.resolve`).
    fn decide<'py>(&self, py: Python<'py>, args: impl PyCallArgs<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.f.bind(py).call1(args)?;
        if v.is_none() || !v.hasattr("__await__")? {
            return Ok(v);
        }
        py.import("roomcast._aio")?.call_method1("resolve", (self.ctx.event_loop(py), v))
    }
}

// -------------------------------------------------------------------- Engine

/// The root object: configuration, namespaces, statistics.
#[pyclass(frozen, module = "roomcast._roomcast")]
struct Engine {
    inner: rc::Engine,
    ctx: Arc<Ctx>,
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (*, max_queue=None, max_queue_bytes=None, overflow=None, max_payload=None,
        max_rooms_per_socket=None, max_name_len=None, ack_timeout=None, remove_empty_dynamic=None, r#loop=None, adapter=None))]
    #[pyo3(text_signature = "(*, max_queue=None, max_queue_bytes=None, overflow=None, max_payload=None, \
        max_rooms_per_socket=None, max_name_len=None, ack_timeout=None, remove_empty_dynamic=None, loop=None, adapter=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        max_queue: Option<usize>,
        max_queue_bytes: Option<usize>,
        overflow: Option<&str>,
        max_payload: Option<usize>,
        max_rooms_per_socket: Option<usize>,
        max_name_len: Option<usize>,
        ack_timeout: Option<f64>,
        remove_empty_dynamic: Option<bool>,
        r#loop: Option<Bound<'_, PyAny>>,
        adapter: Option<PyRef<'_, redis::RedisAdapter>>,
    ) -> PyResult<Self> {
        let event_loop = match r#loop {
            Some(l) if l.is_none() => None,
            Some(l) => {
                if !l.hasattr("call_soon_threadsafe")? || !l.hasattr("create_task")? {
                    return Err(PyTypeError::new_err(format!(
                        "loop must be an asyncio event loop, not {}",
                        l.get_type().name()?
                    )));
                }
                Some(l.unbind())
            }
            None => None,
        };
        let mut b = rc::Config::builder();
        let cfg = |e: rc::ConfigError| PyValueError::new_err(e.to_string());
        if let Some(n) = max_queue {
            b = b.max_queue(n);
        }
        if let Some(n) = max_queue_bytes {
            b = b.max_queue_bytes(n);
        }
        if let Some(o) = overflow {
            b = b.set("overflow", o).map_err(cfg)?;
        }
        if let Some(n) = max_payload {
            b = b.max_payload(n);
        }
        if let Some(n) = max_rooms_per_socket {
            b = b.max_rooms_per_socket(n);
        }
        if let Some(n) = max_name_len {
            b = b.max_name_len(n);
        }
        if let Some(t) = ack_timeout {
            b = b.ack_timeout(seconds(t, "ack_timeout")?);
        }
        if let Some(on) = remove_empty_dynamic {
            b = b.remove_empty_dynamic(on);
        }
        let ctx = Arc::new(Ctx { event_loop, quiet: Mutex::new(HashSet::new()) });
        let config = b.build().map_err(cfg)?;
        let inner = match adapter {
            Some(a) => rc::Engine::with_adapter(config, a.adapter()),
            None => rc::Engine::new(config),
        };
        Ok(Engine { inner, ctx })
    }

    /// Nodes in the cluster, this one included (1 without an adapter).
    fn server_count(&self) -> usize {
        self.inner.server_count()
    }

    /// The namespace `name`, created on first use.
    fn of(&self, name: &str) -> PyResult<Namespace> {
        let inner = self.inner.of(name).map_err(|e| match e {
            rc::NamespaceError::InvalidName(n) => err_name(n),
            shut_down => err_base(shut_down),
        })?;
        self.ctx.quiet(&inner);
        Ok(Namespace { inner, ctx: self.ctx.clone() })
    }

    /// The loop given as `loop=`, or None.
    #[getter(r#loop)]
    fn event_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.ctx.event_loop(py)
    }

    /// A dynamic parent namespace: `predicate(name, handshake) -> bool`
    /// decides whether a connect to an unknown namespace creates it as a
    /// child (which inherits the parent's handlers). An exception counts as
    /// False and is logged. A coroutine function is awaited like middleware.
    fn of_dynamic(&self, predicate: Bound<'_, PyAny>) -> PyResult<Namespace> {
        check_callable(&predicate)?;
        let f = predicate.unbind();
        let ctx = self.ctx.clone();
        let inner = self.inner.of_dynamic(move |name: &str, hs: &rc::Handshake| {
            Python::attach(|py| {
                let r = f.bind(py).call1((name, Handshake { inner: hs.clone() })).and_then(|v| {
                    let v = if !v.is_none() && v.hasattr("__await__")? {
                        py.import("roomcast._aio")?.call_method1("resolve", (ctx.event_loop(py), v))?
                    } else {
                        v
                    };
                    v.is_truthy()
                });
                r.unwrap_or_else(|e| {
                    log_failure(py, &e, "dynamic namespace predicate");
                    false
                })
            })
        });
        self.ctx.quiet(&inner);
        Ok(Namespace { inner, ctx: self.ctx.clone() })
    }

    /// Names of the existing namespaces.
    fn namespaces(&self) -> Vec<String> {
        self.inner.namespaces()
    }

    /// A new connection (one transport link) with its outbox.
    fn connect(&self) -> Connection {
        let (conn, outbox) = self.inner.connect();
        Connection { conn, outbox, wake: OnceLock::new() }
    }

    /// A snapshot of the statistics, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("connections", s.connections)?;
        d.set_item("sockets", s.sockets)?;
        d.set_item("rooms", s.rooms)?;
        d.set_item("namespaces", s.namespaces)?;
        d.set_item("emitted", s.emitted)?;
        d.set_item("delivered", s.delivered)?;
        d.set_item("dropped", s.dropped)?;
        d.set_item("acks_ignored", s.acks_ignored)?;
        Ok(d)
    }

    /// The configuration, as a dict (`ack_timeout` in seconds).
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.config();
        let d = PyDict::new(py);
        d.set_item("max_queue", c.max_queue())?;
        d.set_item("max_queue_bytes", c.max_queue_bytes())?;
        d.set_item("overflow", c.overflow().as_str())?;
        d.set_item("max_payload", c.max_payload())?;
        d.set_item("max_rooms_per_socket", c.max_rooms_per_socket())?;
        d.set_item("max_name_len", c.max_name_len())?;
        d.set_item("ack_timeout", c.ack_timeout().as_secs_f64())?;
        d.set_item("remove_empty_dynamic", c.remove_empty_dynamic())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!("<roomcast.Engine namespaces={:?}>", self.inner.namespaces())
    }
}

// ----------------------------------------------------------------- Namespace

/// A namespace: its rooms, handlers and middleware.
#[pyclass(frozen, module = "roomcast._roomcast")]
struct Namespace {
    inner: rc::Namespace,
    ctx: Arc<Ctx>,
}

#[pymethods]
impl Namespace {
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// Emits to every socket of the namespace.
    fn emit(&self, py: Python<'_>, event: &str, data: &Bound<'_, PyAny>) -> PyResult<EmitReport> {
        let p = encode(data)?;
        py.detach(|| self.inner.emit(event, p)).map(EmitReport::from).map_err(emit_err)
    }

    /// An operator targeting the members of `rooms`.
    fn to(&self, rooms: &Bound<'_, PyAny>) -> PyResult<Operator> {
        Ok(Operator::ns(&self.inner).with_to(rooms_arg(rooms)?))
    }

    /// Alias of `to`.
    fn in_(&self, rooms: &Bound<'_, PyAny>) -> PyResult<Operator> {
        self.to(rooms)
    }

    /// An operator targeting everyone except the members of `rooms`.
    fn except_(&self, rooms: &Bound<'_, PyAny>) -> PyResult<Operator> {
        Ok(Operator::ns(&self.inner).with_except(rooms_arg(rooms)?))
    }

    /// An operator whose emits are dropped rather than queued behind a backlog.
    #[getter]
    fn volatile(&self) -> Operator {
        let mut op = Operator::ns(&self.inner);
        op.volatile = true;
        op
    }

    /// An operator acting on this node only (no cluster publish).
    #[getter]
    fn local(&self) -> Operator {
        let mut op = Operator::ns(&self.inner);
        op.local = true;
        op
    }

    /// An operator with this ack timeout (seconds).
    fn timeout(&self, seconds_: f64) -> PyResult<Operator> {
        let mut op = Operator::ns(&self.inner);
        op.timeout = Some(seconds(seconds_, "timeout")?);
        Ok(op)
    }

    /// Emits to every socket and waits for their acknowledgements.
    fn emit_with_ack(&self, py: Python<'_>, event: &str, data: &Bound<'_, PyAny>) -> PyResult<Vec<AckReply>> {
        Operator::ns(&self.inner).emit_with_ack(py, event, data)
    }

    /// Like `emit_with_ack`, awaitable (the wait runs in the default executor).
    fn emit_with_ack_async<'py>(
        &self,
        py: Python<'py>,
        event: &str,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Operator::ns(&self.inner).emit_with_ack_async(py, event, data)
    }

    /// Runs the `on_server_side(event)` handlers of every other node of the
    /// cluster; with `timeout` (seconds), waits for and returns their replies.
    #[pyo3(signature = (event, data=None, timeout=None))]
    fn server_side_emit(
        &self,
        py: Python<'_>,
        event: &str,
        data: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Vec<Py<PyAny>>>> {
        redis::server_side_emit(py, &self.inner, event, data, timeout)
    }

    /// `server_side_emit` awaitable on asyncio: the wait for replies runs
    /// in the loop's default executor with the GIL released. Arguments are
    /// checked now (TypeError/ValueError at the call, not at the await).
    #[pyo3(signature = (event, data=None, timeout=None))]
    fn server_side_emit_async<'py>(
        slf: &Bound<'py, Self>,
        event: &str,
        data: Option<&Bound<'py, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        encode_opt(data)?;
        if let Some(t) = timeout {
            redis::secs(t, "timeout")?;
        }
        let args = (event, data.map(|d| d.clone().unbind()), timeout).into_pyobject(py)?;
        in_executor(py, slf.getattr("server_side_emit")?, args)
    }

    /// Decorator factory: `@ns.on_server_side("event")` registers
    /// `handler(data)` for other nodes' `server_side_emit`; a non-None return
    /// value is the ack reply.
    fn on_server_side<'py>(&self, py: Python<'py>, event: String) -> PyResult<Bound<'py, PyAny>> {
        redis::on_server_side(py, &self.inner, event)
    }

    /// The selected sockets on every node of the cluster, as dicts
    /// `{id, namespace, rooms, data, node}`.
    #[pyo3(signature = (rooms=None, except_=None))]
    fn cluster_fetch_sockets<'py>(
        &self,
        py: Python<'py>,
        rooms: Option<&Bound<'_, PyAny>>,
        except_: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let rooms = rooms.map(rooms_arg).transpose()?.unwrap_or_default();
        let except = except_.map(rooms_arg).transpose()?.unwrap_or_default();
        redis::cluster_fetch_sockets(py, &self.inner, rooms, except)
    }

    /// `cluster_fetch_sockets` awaitable on asyncio (run in the loop's
    /// default executor with the GIL released).
    #[pyo3(signature = (rooms=None, except_=None))]
    fn cluster_fetch_sockets_async<'py>(
        slf: &Bound<'py, Self>,
        rooms: Option<&Bound<'py, PyAny>>,
        except_: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        rooms.map(rooms_arg).transpose()?;
        except_.map(rooms_arg).transpose()?;
        let args = (rooms.map(|r| r.clone().unbind()), except_.map(|r| r.clone().unbind())).into_pyobject(py)?;
        in_executor(py, slf.getattr("cluster_fetch_sockets")?, args)
    }

    /// Names of the rooms (own-id rooms included).
    fn rooms(&self) -> Vec<String> {
        self.inner.rooms()
    }

    /// Number of sockets in `room`.
    fn room_size(&self, room: &str) -> usize {
        self.inner.room_size(room)
    }

    /// Number of connected sockets.
    fn socket_count(&self) -> usize {
        self.inner.socket_count()
    }

    /// The connected socket with this id, if any.
    fn socket(&self, id: &str) -> Option<Socket> {
        self.inner.socket(id).map(|inner| Socket { inner })
    }

    /// Every connected socket.
    fn fetch_sockets(&self) -> Vec<Socket> {
        self.inner.fetch_sockets().into_iter().map(|inner| Socket { inner }).collect()
    }

    /// Disconnects every socket; returns how many.
    fn disconnect_sockets(&self, py: Python<'_>) -> usize {
        py.detach(|| self.inner.disconnect_sockets())
    }

    /// Makes every socket join `rooms`; returns how many.
    fn sockets_join(&self, py: Python<'_>, rooms: &Bound<'_, PyAny>) -> PyResult<usize> {
        Operator::ns(&self.inner).sockets_join(py, rooms)
    }

    /// Makes every socket leave `rooms`; returns how many.
    fn sockets_leave(&self, py: Python<'_>, rooms: &Bound<'_, PyAny>) -> PyResult<usize> {
        Operator::ns(&self.inner).sockets_leave(py, rooms)
    }

    /// Decorator: `handler(handshake)` runs before each connect; raising
    /// `ConnectRefused` refuses it (any other exception refuses it too, and
    /// is logged). A coroutine function is awaited (see `Engine(loop=...)`).
    #[pyo3(name = "use")]
    fn use_<'py>(&self, handler: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let h = PyHandler::new(self, &handler)?;
        self.inner.use_middleware(move |hs: &rc::Handshake| {
            Python::attach(|py| match h.decide(py, (Handshake { inner: hs.clone() },)) {
                Ok(_) => Ok(()),
                Err(e) => Err(refusal(py, e)),
            })
        });
        Ok(handler)
    }

    /// Decorator: `handler(socket, event, data)` runs for every inbound event
    /// before any handler. Returning False drops the event silently; raising
    /// rejects it (logged, reported to `on_error`); anything else passes it on.
    fn use_event_middleware<'py>(&self, handler: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let h = PyHandler::new(self, &handler)?;
        self.inner.use_event_middleware(move |s: &rc::Socket, ev: &rc::Inbound| {
            Python::attach(|py| {
                let r = decode(py, ev.payload())
                    .and_then(|data| h.decide(py, (Socket { inner: s.clone() }, ev.name(), data)))
                    .and_then(|v| Ok(v.is_instance_of::<pyo3::types::PyBool>() && !v.is_truthy()?));
                match r {
                    Ok(true) => Ok(rc::EventFlow::Drop),
                    Ok(false) => Ok(rc::EventFlow::Continue),
                    Err(e) => {
                        log_failure(py, &e, &format!("event middleware for event {:?}", ev.name()));
                        Err(e.to_string().into())
                    }
                }
            })
        });
        Ok(handler)
    }

    /// Decorator: `handler(socket)` runs when a socket connects.
    fn on_connection<'py>(&self, handler: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let h = PyHandler::new(self, &handler)?;
        self.inner.on_connection(move |s: &rc::Socket| {
            Python::attach(|py| h.call(py, rc::HandlerSite::Connection, Some(s.id()), (Socket { inner: s.clone() },)))
        });
        Ok(handler)
    }

    /// Decorator factory: `@ns.on("event")` registers `handler(socket, data, ack)`.
    /// Raises `InvalidName` at once for a name `dispatch` would refuse.
    fn on<'py>(slf: &Bound<'py, Self>, event: String) -> PyResult<Bound<'py, PyAny>> {
        slf.get().inner.check_event_name(&event).map_err(err_name)?;
        let ns = slf.clone().unbind();
        let register = move |args: &Bound<'_, PyTuple>, _kw: Option<&Bound<'_, PyDict>>| -> PyResult<Py<PyAny>> {
            let handler = args.get_item(0)?;
            let this = ns.get();
            let h = PyHandler::new(this, &handler)?;
            let name = event.clone();
            this.inner
                .on(&event, move |s: &rc::Socket, ev: &rc::Inbound, ack: Option<rc::AckResponder>| {
                    Python::attach(|py| {
                        let site = rc::HandlerSite::Event(name.clone());
                        let data = decode_arg(py, ev, &site)?;
                        let ack = ack.map(|inner| Ack { inner });
                        h.call(py, site, Some(s.id()), (Socket { inner: s.clone() }, data, ack))
                    })
                })
                .map_err(err_name)?;
            Ok(handler.unbind())
        };
        Ok(PyCFunction::new_closure(slf.py(), None, None, register)?.into_any())
    }

    /// Decorator: `handler(socket, event, data)` runs for every inbound event,
    /// before the event's own handlers.
    fn on_any<'py>(&self, handler: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let h = PyHandler::new(self, &handler)?;
        self.inner.on_any(move |s: &rc::Socket, ev: &rc::Inbound| {
            Python::attach(|py| {
                let site = rc::HandlerSite::Any(ev.name().to_string());
                let data = decode_arg(py, ev, &site)?;
                h.call(py, site, Some(s.id()), (Socket { inner: s.clone() }, ev.name(), data))
            })
        });
        Ok(handler)
    }

    /// Decorator: `handler(socket, event, data, ack)` handles inbound events
    /// that no `on` handler takes.
    fn on_fallback<'py>(&self, handler: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let h = PyHandler::new(self, &handler)?;
        self.inner.on_fallback(move |s: &rc::Socket, ev: &rc::Inbound, ack: Option<rc::AckResponder>| {
            Python::attach(|py| {
                let site = rc::HandlerSite::Fallback(ev.name().to_string());
                let data = decode_arg(py, ev, &site)?;
                let ack = ack.map(|inner| Ack { inner });
                h.call(py, site, Some(s.id()), (Socket { inner: s.clone() }, ev.name(), data, ack))
            })
        });
        Ok(handler)
    }

    /// Removes every handler of `event`; `InvalidName` for a name `on` refuses.
    fn off(&self, event: &str) -> PyResult<()> {
        self.inner.off(event).map_err(err_name)
    }

    /// Decorator: `handler(socket, reason)` runs after a socket disconnects.
    fn on_disconnect<'py>(&self, handler: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let h = PyHandler::new(self, &handler)?;
        self.inner.on_disconnect(move |s: &rc::Socket, r: rc::DisconnectReason| {
            Python::attach(|py| {
                h.call(py, rc::HandlerSite::Disconnect, Some(s.id()), (Socket { inner: s.clone() }, r.as_str()))
            })
        });
        Ok(handler)
    }

    /// Decorator: `handler(socket, reason)` runs while a socket disconnects
    /// (it is still in its rooms).
    fn on_disconnecting<'py>(&self, handler: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let h = PyHandler::new(self, &handler)?;
        self.inner.on_disconnecting(move |s: &rc::Socket, r: rc::DisconnectReason| {
            Python::attach(|py| {
                h.call(py, rc::HandlerSite::Disconnecting, Some(s.id()), (Socket { inner: s.clone() }, r.as_str()))
            })
        });
        Ok(handler)
    }

    /// Decorator: `handler(event: RoomEvent)` observes room changes (created,
    /// deleted, joined, left; own-id rooms included), after they happen.
    fn on_room_event<'py>(&self, handler: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let h = PyHandler::new(self, &handler)?;
        self.inner.on_room_event(move |ev: &rc::RoomEvent| {
            Python::attach(|py| h.call(py, rc::HandlerSite::RoomEvent, ev.socket_id(), (RoomEvent::from(ev),)))
        });
        Ok(handler)
    }

    /// Decorator: `handler(failure: dict)` is told of every failed handler
    /// (keys namespace, socket_id, site, event, kind, message), including
    /// coroutine handlers that fail after they were scheduled.
    fn on_error<'py>(&self, handler: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        check_callable(&handler)?;
        let f = handler.clone().unbind();
        let ctx = self.ctx.clone();
        self.inner.on_error(move |fail: &rc::HandlerFailure| {
            Python::attach(|py| {
                let r = (|| -> PyResult<()> {
                    let d = PyDict::new(py);
                    d.set_item("namespace", &fail.namespace)?;
                    d.set_item("socket_id", &fail.socket_id)?;
                    let (site, event) = site_parts(&fail.site);
                    d.set_item("site", site)?;
                    d.set_item("event", event)?;
                    d.set_item("kind", format!("{:?}", fail.kind).to_lowercase())?;
                    d.set_item("message", &fail.message)?;
                    let v = f.bind(py).call1((d,))?;
                    if v.is_none() || !v.hasattr("__await__")? {
                        return Ok(());
                    }
                    // A coroutine hook runs as a task; its own failure is only
                    // logged (reporting it would call the hooks again).
                    let on_fail = |a: &Bound<'_, PyTuple>, _kw: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
                        log_failure(a.py(), &PyErr::from_value(a.get_item(0)?), "on_error hook");
                        Ok(())
                    };
                    let on_fail = PyCFunction::new_closure(py, None, None, on_fail)?;
                    py.import("roomcast._aio")?.call_method1("schedule", (ctx.event_loop(py), v, on_fail))?;
                    Ok(())
                })();
                if let Err(e) = r {
                    log_failure(py, &e, "on_error hook");
                }
            })
        });
        Ok(handler)
    }

    fn __repr__(&self) -> String {
        format!("<roomcast.Namespace {:?}>", self.inner.name())
    }
}

fn check_callable(obj: &Bound<'_, PyAny>) -> PyResult<()> {
    if obj.is_callable() {
        Ok(())
    } else {
        Err(PyTypeError::new_err(format!("handler must be callable, not {}", obj.get_type().name()?)))
    }
}

/// Turns a middleware exception into the core's refusal.
fn refusal(py: Python<'_>, e: PyErr) -> rc::ConnectError {
    if let Some(t) = CONNECT_REFUSED.get(py) {
        let v = e.value(py);
        if v.is_instance(t.bind(py)).unwrap_or(false) {
            let message: String = v
                .getattr("message")
                .and_then(|m| m.str().map(|s| s.to_string()))
                .unwrap_or_else(|_| "connect refused".into());
            let mut ce = rc::ConnectError::new(message);
            if let Ok(data) = v.getattr("data") {
                if !data.is_none() {
                    match encode(&data) {
                        Ok(p) => ce = ce.with_data(p),
                        Err(e) => log_failure(py, &e, "ConnectRefused data encoding"),
                    }
                }
            }
            return ce;
        }
    }
    log_failure(py, &e, "middleware");
    rc::ConnectError::new(format!("middleware error: {}", e.value(py)))
}

// ------------------------------------------------------------------ Operator

#[derive(Clone)]
enum Source {
    Ns(rc::Namespace),
    Sock(rc::Socket),
}

/// A broadcast target under construction: `ns.to("a").except_("b").volatile`.
/// Each call returns a new operator; the emit builds the core operator.
#[pyclass(frozen, module = "roomcast._roomcast")]
#[derive(Clone)]
struct Operator {
    source: Source,
    to: Vec<String>,
    except: Vec<String>,
    volatile: bool,
    timeout: Option<Duration>,
    /// This node only (no cluster publish).
    local: bool,
}

impl Operator {
    fn ns(ns: &rc::Namespace) -> Operator {
        Operator {
            source: Source::Ns(ns.clone()),
            to: vec![],
            except: vec![],
            volatile: false,
            timeout: None,
            local: false,
        }
    }
    fn sock(s: &rc::Socket) -> Operator {
        Operator {
            source: Source::Sock(s.clone()),
            to: vec![],
            except: vec![],
            volatile: false,
            timeout: None,
            local: false,
        }
    }
    fn with_to(mut self, rooms: Vec<String>) -> Self {
        self.to.extend(rooms);
        self
    }
    fn with_except(mut self, rooms: Vec<String>) -> Self {
        self.except.extend(rooms);
        self
    }
    fn run<'s, R>(&'s self, f: impl FnOnce(rc::BroadcastOperator<'s>) -> R) -> R {
        let mut op = match &self.source {
            Source::Ns(ns) => ns.except(Vec::<String>::new()),
            Source::Sock(s) => s.broadcast(),
        };
        // Borrowed names: no String is copied per emit.
        for r in &self.to {
            op = op.to(r);
        }
        for r in &self.except {
            op = op.except(r);
        }
        if self.volatile {
            op = op.volatile();
        }
        if let Some(t) = self.timeout {
            op = op.timeout(t);
        }
        if self.local {
            op = op.local();
        }
        f(op)
    }
    fn start_ack(&self, py: Python<'_>, event: &str, data: &Bound<'_, PyAny>) -> PyResult<rc::AckStream> {
        let p = encode(data)?;
        py.detach(|| self.run(|op| op.emit_with_ack(event, p))).map_err(emit_err)
    }
    fn emit_with_ack(&self, py: Python<'_>, event: &str, data: &Bound<'_, PyAny>) -> PyResult<Vec<AckReply>> {
        let stream = self.start_ack(py, event, data)?;
        let replies = py.detach(move || stream.wait());
        replies.into_iter().map(|r| AckReply::new(py, r)).collect()
    }
    fn emit_with_ack_async<'py>(
        &self,
        py: Python<'py>,
        event: &str,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.start_ack(py, event, data)?;
        let pending = AckWait { stream: std::sync::Mutex::new(Some(stream)) };
        py.import("roomcast._aio")?.call_method1("wait_acks", (pending,))
    }
}

#[pymethods]
impl Operator {
    /// Adds target rooms (union).
    fn to(&self, rooms: &Bound<'_, PyAny>) -> PyResult<Operator> {
        Ok(self.clone().with_to(rooms_arg(rooms)?))
    }
    /// Alias of `to`.
    fn in_(&self, rooms: &Bound<'_, PyAny>) -> PyResult<Operator> {
        self.to(rooms)
    }
    /// Excludes the members of `rooms`.
    fn except_(&self, rooms: &Bound<'_, PyAny>) -> PyResult<Operator> {
        Ok(self.clone().with_except(rooms_arg(rooms)?))
    }
    /// Drops the message for recipients with a backlog.
    #[getter]
    fn volatile(&self) -> Operator {
        let mut op = self.clone();
        op.volatile = true;
        op
    }
    /// Sets the ack timeout (seconds) of `emit_with_ack`.
    fn timeout(&self, seconds_: f64) -> PyResult<Operator> {
        let mut op = self.clone();
        op.timeout = Some(seconds(seconds_, "timeout")?);
        Ok(op)
    }
    /// Emits to the selected sockets.
    fn emit(&self, py: Python<'_>, event: &str, data: &Bound<'_, PyAny>) -> PyResult<EmitReport> {
        let p = encode(data)?;
        py.detach(|| self.run(|op| op.emit(event, p))).map(EmitReport::from).map_err(emit_err)
    }
    /// Emits and waits (GIL released) for every recipient's acknowledgement.
    #[pyo3(name = "emit_with_ack")]
    fn py_emit_with_ack(&self, py: Python<'_>, event: &str, data: &Bound<'_, PyAny>) -> PyResult<Vec<AckReply>> {
        self.emit_with_ack(py, event, data)
    }
    /// Awaitable twin of `emit_with_ack`.
    #[pyo3(name = "emit_with_ack_async")]
    fn py_emit_with_ack_async<'py>(
        &self,
        py: Python<'py>,
        event: &str,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.emit_with_ack_async(py, event, data)
    }
    /// The selected sockets.
    fn fetch_sockets(&self) -> PyResult<Vec<Socket>> {
        let v = self.run(|op| op.fetch_sockets()).map_err(emit_err)?;
        Ok(v.into_iter().map(|inner| Socket { inner }).collect())
    }
    /// Makes the selected sockets join `rooms`; returns how many.
    fn sockets_join(&self, py: Python<'_>, rooms: &Bound<'_, PyAny>) -> PyResult<usize> {
        let r = rooms_arg(rooms)?;
        py.detach(|| self.run(|op| op.sockets_join(r))).map_err(emit_err)
    }
    /// Makes the selected sockets leave `rooms`; returns how many.
    fn sockets_leave(&self, py: Python<'_>, rooms: &Bound<'_, PyAny>) -> PyResult<usize> {
        let r = rooms_arg(rooms)?;
        py.detach(|| self.run(|op| op.sockets_leave(r))).map_err(emit_err)
    }
    /// Disconnects the selected sockets; returns how many.
    fn disconnect_sockets(&self, py: Python<'_>) -> PyResult<usize> {
        py.detach(|| self.run(|op| op.disconnect_sockets())).map_err(emit_err)
    }
    /// Acts on this node only: emits are not published to the cluster.
    #[getter]
    fn local(&self) -> Operator {
        let mut op = self.clone();
        op.local = true;
        op
    }
    /// The selected sockets on every node, as dicts `{id, namespace, rooms, data, node}`.
    fn cluster_fetch_sockets<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let r = py.detach(|| self.run(|op| op.cluster_fetch_sockets())).map_err(redis::cluster_err)?;
        redis::socket_dicts(py, r.value)
    }
    /// `sockets_join` on every node; returns how many sockets joined.
    fn cluster_sockets_join(&self, py: Python<'_>, rooms: &Bound<'_, PyAny>) -> PyResult<usize> {
        let r = rooms_arg(rooms)?;
        py.detach(|| self.run(|op| op.cluster_sockets_join(r))).map(|r| r.value).map_err(redis::cluster_err)
    }
    /// `sockets_leave` on every node; returns how many sockets left.
    fn cluster_sockets_leave(&self, py: Python<'_>, rooms: &Bound<'_, PyAny>) -> PyResult<usize> {
        let r = rooms_arg(rooms)?;
        py.detach(|| self.run(|op| op.cluster_sockets_leave(r))).map(|r| r.value).map_err(redis::cluster_err)
    }
    /// `disconnect_sockets` on every node; returns how many.
    fn cluster_disconnect_sockets(&self, py: Python<'_>) -> PyResult<usize> {
        py.detach(|| self.run(|op| op.cluster_disconnect_sockets())).map(|r| r.value).map_err(redis::cluster_err)
    }
    /// `cluster_fetch_sockets` awaitable on asyncio (run in the loop's
    /// default executor with the GIL released).
    fn cluster_fetch_sockets_async<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        in_executor(slf.py(), slf.getattr("cluster_fetch_sockets")?, PyTuple::empty(slf.py()))
    }
    /// `cluster_sockets_join` awaitable on asyncio.
    fn cluster_sockets_join_async<'py>(
        slf: &Bound<'py, Self>,
        rooms: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        rooms_in_executor(slf.as_any(), "cluster_sockets_join", rooms)
    }
    /// `cluster_sockets_leave` awaitable on asyncio.
    fn cluster_sockets_leave_async<'py>(
        slf: &Bound<'py, Self>,
        rooms: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        rooms_in_executor(slf.as_any(), "cluster_sockets_leave", rooms)
    }
    /// `cluster_disconnect_sockets` awaitable on asyncio.
    fn cluster_disconnect_sockets_async<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        in_executor(slf.py(), slf.getattr("cluster_disconnect_sockets")?, PyTuple::empty(slf.py()))
    }
}

/// Runs a blocking method (one that releases the GIL while it waits) in
/// the running loop's default executor: the awaitable of an `*_async` twin.
fn in_executor<'py>(
    py: Python<'py>,
    method: Bound<'py, PyAny>,
    args: Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    py.import("roomcast._aio")?.call_method1("call_blocking", (method, args))
}

/// A pending ack emit, waited on by a worker thread for `emit_with_ack_async`.
#[pyclass(frozen, module = "roomcast._roomcast")]
struct AckWait {
    stream: std::sync::Mutex<Option<rc::AckStream>>,
}

#[pymethods]
impl AckWait {
    /// Waits (GIL released) for every reply; callable once.
    fn wait(&self, py: Python<'_>) -> PyResult<Vec<AckReply>> {
        let stream = self.stream.lock().map_err(|_| err_base("poisoned"))?.take();
        let Some(stream) = stream else { return Err(err_base("already waited")) };
        let replies = py.detach(move || stream.wait());
        replies.into_iter().map(|r| AckReply::new(py, r)).collect()
    }
}

// ------------------------------------------------------------- small values

/// A change of room membership, given to `on_room_event` handlers.
#[pyclass(frozen, module = "roomcast._roomcast")]
struct RoomEvent {
    /// "created", "deleted", "joined" or "left".
    #[pyo3(get)]
    kind: &'static str,
    /// The room concerned.
    #[pyo3(get)]
    room: String,
    /// The socket that joined or left; None for "created" and "deleted".
    #[pyo3(get)]
    socket_id: Option<String>,
}

impl From<&rc::RoomEvent> for RoomEvent {
    fn from(ev: &rc::RoomEvent) -> Self {
        RoomEvent { kind: ev.kind(), room: ev.room().to_string(), socket_id: ev.socket_id().map(str::to_string) }
    }
}

#[pymethods]
impl RoomEvent {
    fn __repr__(&self) -> String {
        let sid = self.socket_id.as_ref().map_or_else(|| "None".to_string(), |s| format!("{s:?}"));
        format!("RoomEvent(kind={:?}, room={:?}, socket_id={sid})", self.kind, self.room)
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.downcast::<RoomEvent>().is_ok_and(|o| {
            let o = o.get();
            (o.kind, &o.room, &o.socket_id) == (self.kind, &self.room, &self.socket_id)
        })
    }
    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.kind, &self.room, &self.socket_id).hash(&mut h);
        h.finish()
    }
}

/// What an emit did: `recipients == queued + dropped`.
#[pyclass(frozen, module = "roomcast._roomcast")]
struct EmitReport {
    #[pyo3(get)]
    recipients: usize,
    #[pyo3(get)]
    queued: usize,
    #[pyo3(get)]
    dropped: usize,
}

impl From<rc::EmitReport> for EmitReport {
    fn from(r: rc::EmitReport) -> Self {
        EmitReport { recipients: r.recipients, queued: r.queued, dropped: r.dropped }
    }
}

#[pymethods]
impl EmitReport {
    fn __repr__(&self) -> String {
        format!("EmitReport(recipients={}, queued={}, dropped={})", self.recipients, self.queued, self.dropped)
    }
}

/// One recipient's answer to an ack emit: `error` is None or the exception
/// explaining why there is no reply (`AckTimeout`, `Closed`, `RoomcastError`).
#[pyclass(frozen, module = "roomcast._roomcast")]
struct AckReply {
    #[pyo3(get)]
    socket_id: String,
    #[pyo3(get)]
    data: Py<PyAny>,
    #[pyo3(get)]
    error: Py<PyAny>,
}

impl AckReply {
    fn new(py: Python<'_>, r: rc::AckReply) -> PyResult<AckReply> {
        let (data, error) = match &r.result {
            Ok(p) => (decode(py, p)?, py.None()),
            Err(e) => {
                let cell = match e {
                    rc::AckError::Timeout => &ACK_TIMEOUT,
                    rc::AckError::Disconnected => &CLOSED,
                    _ => &ROOMCAST_ERROR,
                };
                (py.None(), exc(py, cell, e.to_string()).into_value(py).into_any())
            }
        };
        Ok(AckReply { socket_id: r.socket_id, data, error })
    }
}

#[pymethods]
impl AckReply {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "AckReply(socket_id={:?}, data={}, error={})",
            self.socket_id,
            self.data.bind(py).repr()?,
            self.error.bind(py).repr()?
        ))
    }
}

/// The acknowledgement callback given to event handlers: `ack(reply)`.
#[pyclass(frozen, module = "roomcast._roomcast")]
struct Ack {
    inner: rc::AckResponder,
}

#[pymethods]
impl Ack {
    /// Sends the reply (once; later calls raise `RoomcastError`).
    #[pyo3(signature = (data=None))]
    fn __call__(&self, py: Python<'_>, data: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let p = encode_opt(data)?;
        py.detach(|| self.inner.send(p)).map_err(|e| match e {
            rc::RespondError::Closed => err_closed(e),
            rc::RespondError::PayloadTooLarge { .. } => err_too_large(e),
            other => err_base(other),
        })
    }
    /// The ack id of the event.
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id()
    }
    /// Whether a reply was sent.
    #[getter]
    fn answered(&self) -> bool {
        self.inner.is_answered()
    }
}

/// What a client sent to connect: auth payload, headers, query, address.
#[pyclass(frozen, module = "roomcast._roomcast")]
struct Handshake {
    inner: rc::Handshake,
}

#[pymethods]
impl Handshake {
    #[getter]
    fn auth(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.inner.auth_payload() {
            Some(p) => decode(py, p),
            None => Ok(py.None()),
        }
    }
    #[getter]
    fn headers(&self) -> std::collections::BTreeMap<String, String> {
        self.inner.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }
    #[getter]
    fn query(&self) -> std::collections::BTreeMap<String, String> {
        self.inner.query_params().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }
    #[getter]
    fn address(&self) -> Option<String> {
        self.inner.remote_address().map(str::to_owned)
    }
}

// -------------------------------------------------------------------- Socket

/// A connection's membership in one namespace.
#[pyclass(frozen, module = "roomcast._roomcast")]
struct Socket {
    inner: rc::Socket,
}

impl Socket {
    fn start_ack(
        &self,
        py: Python<'_>,
        event: &str,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<rc::AckStream> {
        let p = encode(data)?;
        match timeout {
            Some(t) => {
                let t = seconds(t, "timeout")?;
                py.detach(|| self.inner.emit_with_ack_timeout(event, p, t))
            }
            None => py.detach(|| self.inner.emit_with_ack(event, p)),
        }
        .map_err(emit_err)
    }
}

#[pymethods]
impl Socket {
    #[getter]
    fn id(&self) -> &str {
        self.inner.id()
    }
    #[getter]
    fn namespace(&self) -> &str {
        self.inner.namespace().name()
    }
    #[getter]
    fn rooms(&self) -> Vec<String> {
        self.inner.rooms()
    }
    #[getter]
    fn connected(&self) -> bool {
        self.inner.is_connected()
    }
    #[getter]
    fn disconnect_reason(&self) -> Option<&'static str> {
        self.inner.disconnect_reason().map(|r| r.as_str())
    }
    #[getter]
    fn handshake(&self) -> Handshake {
        Handshake { inner: self.inner.handshake().clone() }
    }
    /// Per-socket data set with `set_data` (decoded), or None.
    #[getter]
    fn data(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.inner.data() {
            Some(p) => decode(py, &p),
            None => Ok(py.None()),
        }
    }
    /// Attaches data to the socket (encoded like a payload).
    fn set_data(&self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let p = encode(data)?;
        self.inner.set_data(p);
        Ok(())
    }
    /// Whether the socket is in `room`.
    fn in_room(&self, room: &str) -> bool {
        self.inner.in_room(room)
    }
    /// Joins one room or a list of rooms.
    fn join(&self, py: Python<'_>, rooms: &Bound<'_, PyAny>) -> PyResult<()> {
        let r = rooms_arg(rooms)?;
        py.detach(|| self.inner.join(r)).map_err(room_err)
    }
    /// Leaves one room or a list of rooms.
    fn leave(&self, py: Python<'_>, rooms: &Bound<'_, PyAny>) -> PyResult<()> {
        let r = rooms_arg(rooms)?;
        py.detach(|| self.inner.leave(r)).map_err(room_err)
    }
    /// Emits to this socket only.
    fn emit(&self, py: Python<'_>, event: &str, data: &Bound<'_, PyAny>) -> PyResult<EmitReport> {
        let p = encode(data)?;
        py.detach(|| self.inner.emit(event, p)).map(EmitReport::from).map_err(emit_err)
    }
    /// Emits to this socket only, volatile: dropped (counted in the
    /// report's `dropped`) when its outbox is full, instead of applying the
    /// overflow policy.
    fn emit_volatile(&self, py: Python<'_>, event: &str, data: &Bound<'_, PyAny>) -> PyResult<EmitReport> {
        let p = encode(data)?;
        py.detach(|| self.inner.emit_volatile(event, p)).map(EmitReport::from).map_err(emit_err)
    }
    /// Every other socket of the namespace.
    #[getter]
    fn broadcast(&self) -> Operator {
        Operator::sock(&self.inner)
    }
    /// Members of `rooms`, except this socket.
    fn to(&self, rooms: &Bound<'_, PyAny>) -> PyResult<Operator> {
        Ok(Operator::sock(&self.inner).with_to(rooms_arg(rooms)?))
    }
    /// Alias of `to`.
    fn in_(&self, rooms: &Bound<'_, PyAny>) -> PyResult<Operator> {
        self.to(rooms)
    }
    /// Every other socket except the members of `rooms`.
    fn except_(&self, rooms: &Bound<'_, PyAny>) -> PyResult<Operator> {
        Ok(Operator::sock(&self.inner).with_except(rooms_arg(rooms)?))
    }
    /// Emits to this socket and waits for its acknowledgement.
    #[pyo3(signature = (event, data, timeout=None))]
    fn emit_with_ack(
        &self,
        py: Python<'_>,
        event: &str,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<AckReply> {
        let stream = self.start_ack(py, event, data, timeout)?;
        let mut replies = py.detach(move || stream.wait());
        match replies.pop() {
            Some(r) => AckReply::new(py, r),
            None => Err(err_base("no acknowledgement")),
        }
    }
    /// Awaitable `emit_with_ack` (the wait runs in the default executor).
    #[pyo3(signature = (event, data, timeout=None))]
    fn emit_with_ack_async<'py>(
        &self,
        py: Python<'py>,
        event: &str,
        data: &Bound<'py, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.start_ack(py, event, data, timeout)?;
        let pending = AckWait { stream: std::sync::Mutex::new(Some(stream)) };
        py.import("roomcast._aio")?.call_method1("wait_ack", (pending,))
    }
    /// Feeds an event received from the client to the handlers. Returns the
    /// number of handlers that ran, or a string for the other outcomes
    /// ("fallback", "unhandled", "dropped", "rejected").
    #[pyo3(signature = (event, data=None, ack_id=None))]
    fn dispatch(
        &self,
        py: Python<'_>,
        event: String,
        data: Option<&Bound<'_, PyAny>>,
        ack_id: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        let p = encode_opt(data)?;
        let mut inbound = rc::Inbound::event(event, p);
        if let Some(id) = ack_id {
            inbound = inbound.with_ack(id);
        }
        let d = py.detach(|| self.inner.dispatch(inbound)).map_err(dispatch_err)?;
        Ok(match d {
            rc::Dispatched::Handled(n) => n.into_pyobject(py)?.into_any().unbind(),
            rc::Dispatched::Fallback => "fallback".into_pyobject(py)?.into_any().unbind(),
            rc::Dispatched::Unhandled => "unhandled".into_pyobject(py)?.into_any().unbind(),
            rc::Dispatched::Dropped => "dropped".into_pyobject(py)?.into_any().unbind(),
            rc::Dispatched::Rejected => "rejected".into_pyobject(py)?.into_any().unbind(),
        })
    }
    /// Awaitable `dispatch`: runs in a worker thread, so coroutine event
    /// middleware is awaited on the calling loop.
    #[pyo3(signature = (event, data=None, ack_id=None))]
    fn dispatch_async<'py>(
        slf: &Bound<'py, Self>,
        event: &Bound<'py, PyAny>,
        data: Option<&Bound<'py, PyAny>>,
        ack_id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let none = py.None().into_bound(py);
        let arg = |a: Option<&Bound<'py, PyAny>>| a.cloned().unwrap_or_else(|| none.clone());
        let args = (slf.getattr("dispatch")?, event, arg(data), arg(ack_id));
        py.import("roomcast._aio")?.call_method1("in_worker", args)
    }
    /// Feeds the client's reply to ack emit `ack_id`; returns False when it
    /// was ignored (unknown, late or duplicate id).
    #[pyo3(signature = (ack_id, data=None))]
    fn receive_ack(&self, py: Python<'_>, ack_id: u64, data: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let p = encode_opt(data)?;
        match py.detach(|| self.inner.receive_ack(ack_id, p)) {
            Ok(()) => Ok(true),
            Err(rc::AckReceiveError::Ignored(_)) => Ok(false),
            Err(e @ rc::AckReceiveError::PayloadTooLarge { .. }) => Err(err_too_large(e)),
        }
    }
    /// Disconnects the socket from its namespace with a Socket.IO reason
    /// string (default "server namespace disconnect"); False if it already
    /// was. Server-side reasons ("server namespace disconnect", "server
    /// shutting down", "forced server close") queue a disconnect notice for
    /// the client; the others report what a transport saw and queue none.
    /// An unknown reason raises ValueError and changes nothing.
    #[pyo3(signature = (reason="server namespace disconnect"))]
    fn disconnect(&self, py: Python<'_>, reason: &str) -> PyResult<bool> {
        let r = parse_reason(reason)?;
        Ok(py.detach(|| self.inner.disconnect_with(r)))
    }
    fn __repr__(&self) -> String {
        format!("<roomcast.Socket {} in {:?}>", self.inner.id(), self.inner.namespace().name())
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.downcast::<Socket>().map(|o| o.get().inner == self.inner).unwrap_or(false)
    }
    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.inner.id().hash(&mut h);
        h.finish()
    }
}

/// `obj.method(rooms)` run in the loop's executor, with `rooms` checked
/// here first so a bad argument raises at the call.
fn rooms_in_executor<'py>(
    obj: &Bound<'py, PyAny>,
    method: &str,
    rooms: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    rooms_arg(rooms)?;
    let args = PyTuple::new(obj.py(), [rooms])?;
    in_executor(obj.py(), obj.getattr(method)?, args)
}

/// A Socket.IO disconnect reason string (parsed by the core); ValueError
/// for an unknown one.
fn parse_reason(reason: &str) -> PyResult<rc::DisconnectReason> {
    rc::DisconnectReason::parse(reason)
        .ok_or_else(|| PyValueError::new_err(format!("unknown disconnect reason {reason:?}")))
}

// ------------------------------------------------------------------- Message

/// One message drained from an outbox.
#[pyclass(frozen, module = "roomcast._roomcast")]
struct Message {
    inner: rc::Message,
}

#[pymethods]
impl Message {
    /// "event", "ack", "disconnect" or "lagged".
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner.kind() {
            rc::MessageKind::Event => "event",
            rc::MessageKind::Ack => "ack",
            rc::MessageKind::Disconnect => "disconnect",
            rc::MessageKind::Lagged => "lagged",
        }
    }
    #[getter]
    fn namespace(&self) -> Option<&str> {
        self.inner.namespace()
    }
    #[getter]
    fn event(&self) -> Option<&str> {
        self.inner.event_name()
    }
    /// The payload decoded by its format (None when there is none).
    #[getter]
    fn data(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.inner.payload() {
            Some(p) => decode(py, p),
            None => Ok(py.None()),
        }
    }
    /// The payload's bytes (b"" when there is none).
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.payload().map(|p| p.as_bytes()).unwrap_or_default())
    }
    /// "binary", "text", "json", or None when there is no payload.
    #[getter]
    fn format(&self) -> Option<&'static str> {
        self.inner.payload().map(|p| p.format().as_str())
    }
    #[getter]
    fn ack_id(&self) -> Option<u64> {
        self.inner.ack_id()
    }
    /// The disconnect reason of a "disconnect" message.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.inner.disconnect_reason().map(|r| r.as_str())
    }
    /// How many messages were lost, for a "lagged" message.
    #[getter]
    fn lagged(&self) -> Option<u64> {
        self.inner.lagged_count()
    }
    fn __repr__(&self) -> String {
        format!(
            "<roomcast.Message kind={} namespace={:?} event={:?} ack_id={:?}>",
            self.kind(),
            self.inner.namespace(),
            self.inner.event_name(),
            self.inner.ack_id()
        )
    }
}

// ---------------------------------------------------------------- Connection

/// One transport link and its outbox.
#[pyclass(frozen, module = "roomcast._roomcast")]
struct Connection {
    conn: rc::Connection,
    outbox: rc::Outbox,
    /// Read end of the wake-up socket pair used by asyncio (created on first use).
    wake: OnceLock<UnixStream>,
}

/// Longest single blocking wait, so Ctrl-C (signals) is noticed.
const SLICE: Duration = Duration::from_millis(100);

impl Connection {
    fn recv_inner(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Option<Message>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
                None => SLICE,
            };
            match py.detach(|| self.outbox.recv_timeout(slice)) {
                Ok(m) => return Ok(Some(Message { inner: m })),
                Err(rc::RecvTimeoutError::Closed) => return Err(err_closed("the connection is closed")),
                Err(rc::RecvTimeoutError::Timeout) => {}
            }
            py.check_signals()?;
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Ok(None);
                }
            }
        }
    }
}

#[pymethods]
impl Connection {
    #[getter]
    fn id(&self) -> u64 {
        self.conn.id()
    }
    /// Joins a namespace (runs its middleware); returns the socket.
    #[pyo3(signature = (name="/", auth=None, headers=None, query=None, address=None))]
    fn join_namespace(
        &self,
        py: Python<'_>,
        name: &str,
        auth: Option<&Bound<'_, PyAny>>,
        headers: Option<std::collections::BTreeMap<String, String>>,
        query: Option<std::collections::BTreeMap<String, String>>,
        address: Option<String>,
    ) -> PyResult<Socket> {
        let mut hs = rc::Handshake::new();
        if let Some(a) = auth {
            if !a.is_none() {
                hs = hs.auth(encode(a)?);
            }
        }
        for (k, v) in headers.unwrap_or_default() {
            hs = hs.header(k, v);
        }
        for (k, v) in query.unwrap_or_default() {
            hs = hs.query(k, v);
        }
        if let Some(a) = address {
            hs = hs.address(a);
        }
        match py.detach(|| self.conn.join_namespace(name, hs)) {
            Ok(inner) => Ok(Socket { inner }),
            Err(e) => Err(join_err(py, e)),
        }
    }
    /// Awaitable `join_namespace`: runs in a worker thread, so coroutine
    /// middleware is awaited on the calling loop.
    #[pyo3(signature = (name="/", auth=None, headers=None, query=None, address=None))]
    fn join_namespace_async<'py>(
        slf: &Bound<'py, Self>,
        name: &str,
        auth: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        query: Option<&Bound<'py, PyAny>>,
        address: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let f = slf.getattr("join_namespace")?;
        let none = py.None().into_bound(py);
        let arg = |a: Option<&Bound<'py, PyAny>>| a.cloned().unwrap_or_else(|| none.clone());
        let args = (f, name, arg(auth), arg(headers), arg(query), arg(address));
        py.import("roomcast._aio")?.call_method1("in_worker", args)
    }
    /// This connection's socket in namespace `name`, if any.
    fn socket(&self, name: &str) -> Option<Socket> {
        self.conn.socket(name).map(|inner| Socket { inner })
    }
    /// Every socket of this connection.
    fn sockets(&self) -> Vec<Socket> {
        self.conn.sockets().into_iter().map(|inner| Socket { inner }).collect()
    }
    /// Next message; None after `timeout` seconds (None = wait forever).
    /// Raises `Closed` once closed and drained. The GIL is released while waiting.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Message>> {
        let t = timeout.map(|t| seconds(t, "timeout")).transpose()?;
        self.recv_inner(py, t)
    }
    /// Next message if one is queued, else None; raises `Closed` once closed and drained.
    fn try_recv(&self) -> PyResult<Option<Message>> {
        match self.outbox.try_recv() {
            Ok(m) => Ok(Some(Message { inner: m })),
            Err(rc::TryRecvError::Empty) => Ok(None),
            Err(rc::TryRecvError::Closed) => Err(err_closed("the connection is closed")),
        }
    }
    /// Up to `max` messages: waits up to `timeout` seconds for the first
    /// (None = forever), then takes what is queued. Empty list on timeout.
    #[pyo3(signature = (max=256, timeout=None))]
    fn recv_many(&self, py: Python<'_>, max: usize, timeout: Option<f64>) -> PyResult<Vec<Message>> {
        if max == 0 {
            return Err(PyValueError::new_err("max must be at least 1"));
        }
        let t = timeout.map(|t| seconds(t, "timeout")).transpose()?;
        // Fast path: what is already queued, taken without releasing the GIL
        // (a non-blocking take; only a wait releases it).
        let mut buf = Vec::new();
        let closed = match self.outbox.try_recv_many(&mut buf, max) {
            Ok(0) => false,
            Ok(_) => return Ok(buf.into_iter().map(|inner| Message { inner }).collect()),
            Err(rc::TryRecvError::Closed) => true,
            Err(rc::TryRecvError::Empty) => false,
        };
        if closed {
            return Err(err_closed("the connection is closed"));
        }
        if t == Some(Duration::ZERO) {
            return Ok(vec![]);
        }
        let Some(first) = self.recv_inner(py, t)? else { return Ok(vec![]) };
        let _ = self.outbox.try_recv_many(&mut buf, max - 1);
        let mut out = Vec::with_capacity(buf.len() + 1);
        out.push(first);
        out.extend(buf.into_iter().map(|inner| Message { inner }));
        Ok(out)
    }
    /// Messages currently queued.
    fn __len__(&self) -> usize {
        self.outbox.len()
    }
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Message>> {
        match self.recv_inner(py, None) {
            Ok(m) => Ok(m),
            Err(e) if CLOSED.get(py).is_some_and(|t| e.is_instance(py, t.bind(py))) => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __anext__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("roomcast._aio")?.call_method1("anext", (slf,))
    }
    /// Awaitable `recv`: the next message; raises `Closed` once closed and drained.
    fn recv_async<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("roomcast._aio")?.call_method1("recv", (slf,))
    }
    /// File descriptor that becomes readable when messages arrive or the
    /// connection closes (for event loops; drain it, then `try_recv`).
    fn wake_fd(&self) -> PyResult<i32> {
        if let Some(r) = self.wake.get() {
            return Ok(r.as_raw_fd());
        }
        let (r, w) = UnixStream::pair().map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        r.set_nonblocking(true).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        w.set_nonblocking(true).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let fd = r.as_raw_fd();
        if self.wake.set(r).is_err() {
            return Ok(self.wake.get().map(|r| r.as_raw_fd()).unwrap_or(fd));
        }
        // Runs on the emitting thread after the engine's locks are released;
        // it only writes one byte (a full pipe already means "wake up").
        self.outbox.set_notify(move || {
            let _ = (&w).write(&[1]);
        });
        Ok(fd)
    }
    /// Closes the connection (every socket disconnects with `reason`).
    #[pyo3(signature = (reason="transport close"))]
    fn close(&self, py: Python<'_>, reason: &str) -> PyResult<()> {
        let r = parse_reason(reason)?;
        py.detach(|| self.conn.close(r));
        Ok(())
    }
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    /// Closes the connection ("transport close").
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        py.detach(|| self.conn.close(rc::DisconnectReason::TransportClose));
        false
    }
    #[getter]
    fn closed(&self) -> bool {
        self.conn.is_closed()
    }
    #[getter]
    fn close_reason(&self) -> Option<&'static str> {
        self.conn.close_reason().map(|r| r.as_str())
    }
    fn __repr__(&self) -> String {
        format!("<roomcast.Connection {} closed={}>", self.conn.id(), self.conn.is_closed())
    }
}

// -------------------------------------------------------------------- module

#[pymodule]
fn _roomcast(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let globals = PyDict::new(py);
    globals.set_item("__name__", "roomcast._roomcast")?;
    py.run(EXCEPTIONS, Some(&globals), None)?;
    let cells: [(&str, &PyOnceLock<Py<PyType>>); 6] = [
        ("RoomcastError", &ROOMCAST_ERROR),
        ("ConnectRefused", &CONNECT_REFUSED),
        ("Closed", &CLOSED),
        ("InvalidName", &INVALID_NAME),
        ("PayloadTooLarge", &PAYLOAD_TOO_LARGE),
        ("AckTimeout", &ACK_TIMEOUT),
    ];
    for (name, cell) in cells {
        let t = globals.get_item(name)?.ok_or_else(|| PyRuntimeError::new_err(name))?;
        let t = t.downcast_into::<PyType>()?;
        let _ = cell.set(py, t.clone().unbind());
        m.add(name, t)?;
    }
    m.add_class::<Engine>()?;
    m.add_class::<Namespace>()?;
    m.add_class::<Operator>()?;
    m.add_class::<Connection>()?;
    m.add_class::<Socket>()?;
    m.add_class::<Message>()?;
    m.add_class::<EmitReport>()?;
    m.add_class::<AckReply>()?;
    m.add_class::<AckWait>()?;
    m.add_class::<Ack>()?;
    m.add_class::<Handshake>()?;
    m.add_class::<RoomEvent>()?;
    m.add_class::<redis::RedisAdapter>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
