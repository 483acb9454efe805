//! `roomcast.Socket`: a connection's membership in one namespace.

use std::sync::Arc;

use pyo3::prelude::*;

use roomcast as rc;

use crate::ack::{AckReply, AckWait};
use crate::convert::{decode, encode, encode_opt, parse_reason, py_repr, rooms_arg, seconds, NonNeg};
use crate::emit_report::EmitReport;
use crate::errors::{dispatch_err, emit_err, err_base, payload_err, room_err};
use crate::handshake::Handshake;
use crate::operator::Operator;

/// A connection's membership in one namespace.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct Socket {
    pub(crate) inner: rc::Socket,
    /// The outbox of the `Connection` object this socket came from, if it
    /// came from one: holding it keeps the connection open (dropping the
    /// outbox closes it) while the socket is reachable.
    _keep: Option<Arc<rc::Outbox>>,
}

impl Socket {
    pub(crate) fn new(inner: rc::Socket) -> Socket {
        Socket { inner, _keep: None }
    }

    pub(crate) fn kept(inner: rc::Socket, outbox: &Arc<rc::Outbox>) -> Socket {
        Socket { inner, _keep: Some(outbox.clone()) }
    }

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
    /// The socket id (also the name of its own room).
    #[getter]
    fn id(&self) -> &str {
        self.inner.id()
    }
    /// The name of the socket's namespace.
    #[getter]
    fn namespace(&self) -> &str {
        self.inner.namespace().name()
    }
    /// The rooms the socket is in (its own-id room included).
    #[getter]
    fn rooms(&self) -> Vec<String> {
        self.inner.rooms()
    }
    /// Whether the socket is still connected to its namespace.
    #[getter]
    fn connected(&self) -> bool {
        self.inner.is_connected()
    }
    /// The private session id a client presents to resume this socket after
    /// an unexpected disconnect (`Connection.resume_namespace`); None when
    /// its namespace has no connection state recovery.
    #[getter]
    fn session_id(&self) -> Option<&str> {
        self.inner.session_id()
    }
    /// True when this socket was resumed: same id, rooms and data, the
    /// missed events queued first.
    #[getter]
    fn recovered(&self) -> bool {
        self.inner.recovered()
    }
    /// True while the socket is kept for a resume (its connection ended
    /// unexpectedly); disconnect handlers that see True run for a drop that
    /// may still be recovered.
    #[getter]
    fn awaiting_recovery(&self) -> bool {
        self.inner.is_awaiting_recovery()
    }
    /// Why the socket disconnected, or None while connected.
    #[getter]
    fn disconnect_reason(&self) -> Option<&'static str> {
        self.inner.disconnect_reason().map(|r| r.as_str())
    }
    /// What the client sent to connect.
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
        let mut replies = crate::wait::ack_replies(py, stream)?;
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
        ack_id: Option<NonNeg<u64>>,
    ) -> PyResult<Py<PyAny>> {
        let p = encode_opt(data)?;
        let mut inbound = rc::Inbound::event(event, p);
        if let Some(NonNeg(id)) = ack_id {
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
    fn receive_ack(&self, py: Python<'_>, ack_id: NonNeg<u64>, data: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let p = encode_opt(data)?;
        match py.detach(|| self.inner.receive_ack(ack_id.0, p)) {
            Ok(()) => Ok(true),
            Err(rc::AckReceiveError::Ignored(_)) => Ok(false),
            Err(rc::AckReceiveError::Payload(e)) => Err(payload_err(e)),
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
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<roomcast.Socket {} in {} connected={}>",
            py_repr(py, self.inner.id()),
            py_repr(py, self.inner.namespace().name()),
            py_repr(py, self.inner.is_connected())
        )
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
