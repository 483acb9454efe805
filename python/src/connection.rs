//! `roomcast.Connection`: one transport link and its outbox (sync,
//! iterator and asyncio receive).

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use roomcast as rc;

use crate::convert::{encode, parse_reason, py_repr, seconds, NonNeg};
use crate::errors::{err_closed, join_err, CLOSED};
use crate::message::Message;
use crate::socket::Socket;
use crate::wait::SLICE;

/// One transport link and its outbox.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct Connection {
    pub(crate) conn: rc::Connection,
    /// Shared with the sockets this object hands out: the connection closes
    /// when its outbox is dropped, so it stays open while any of them (or
    /// this object) is reachable.
    pub(crate) outbox: Arc<rc::Outbox>,
    /// Read end of the wake-up socket pair used by asyncio (created on first use).
    pub(crate) wake: OnceLock<UnixStream>,
}

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
    /// The connection id (unique within its engine).
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
        let hs = handshake(auth, headers, query, address)?;
        match py.detach(|| self.conn.join_namespace(name, hs)) {
            Ok(inner) => Ok(Socket::kept(inner, &self.outbox)),
            Err(e) => Err(join_err(py, e)),
        }
    }
    /// Joins a namespace resuming the socket kept under `session_id` (the
    /// socket's `session_id`, given to the client), with the offset of the
    /// last event the client received (None: it received none). Returns the
    /// old socket back (`recovered` True: same id, rooms and data; the
    /// missed events queued first; middleware not run) or, when that cannot
    /// be done whole (too late, offset no longer kept, unknown session), a
    /// fresh socket exactly as `join_namespace` (`recovered` False).
    #[pyo3(signature = (name, session_id, offset=None, auth=None, headers=None, query=None, address=None))]
    #[allow(clippy::too_many_arguments)]
    fn resume_namespace(
        &self,
        py: Python<'_>,
        name: &str,
        session_id: &str,
        offset: Option<u64>,
        auth: Option<&Bound<'_, PyAny>>,
        headers: Option<std::collections::BTreeMap<String, String>>,
        query: Option<std::collections::BTreeMap<String, String>>,
        address: Option<String>,
    ) -> PyResult<Socket> {
        let hs = handshake(auth, headers, query, address)?;
        match py.detach(|| self.conn.resume_namespace(name, hs, session_id, offset)) {
            Ok(inner) => Ok(Socket::kept(inner, &self.outbox)),
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
        self.conn.socket(name).map(|inner| Socket::kept(inner, &self.outbox))
    }
    /// Every socket of this connection.
    fn sockets(&self) -> Vec<Socket> {
        self.conn.sockets().into_iter().map(|inner| Socket::kept(inner, &self.outbox)).collect()
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
    #[pyo3(signature = (max=None, timeout=None), text_signature = "($self, max=256, timeout=None)")]
    fn recv_many(&self, py: Python<'_>, max: Option<NonNeg<usize>>, timeout: Option<f64>) -> PyResult<Vec<Message>> {
        let max = max.map_or(256, |m| m.0);
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
    /// Whether the connection is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.conn.is_closed()
    }
    /// Why the connection closed (a Socket.IO disconnect reason), or None while open.
    #[getter]
    fn close_reason(&self) -> Option<&'static str> {
        self.conn.close_reason().map(|r| r.as_str())
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        format!("<roomcast.Connection {} closed={}>", self.conn.id(), py_repr(py, self.conn.is_closed()))
    }
}

/// A handshake from `join_namespace`'s Python arguments.
fn handshake(
    auth: Option<&Bound<'_, PyAny>>,
    headers: Option<std::collections::BTreeMap<String, String>>,
    query: Option<std::collections::BTreeMap<String, String>>,
    address: Option<String>,
) -> PyResult<rc::Handshake> {
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
    Ok(hs)
}
