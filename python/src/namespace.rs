//! `roomcast.Namespace`: emits, handler registration, middleware.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};

use roomcast as rc;

use crate::ack::{Ack, AckReply};
use crate::aio::in_executor;
use crate::cluster;
use crate::convert::{decode, encode, encode_opt, py_repr, rooms_arg, timeout_arg};
use crate::emit_report::EmitReport;
use crate::errors::{emit_err, err_name};
use crate::handler::{check_callable, decode_arg, log_failure, refusal, site_parts, Ctx, PyHandler};
use crate::handshake::Handshake;
use crate::operator::Operator;
use crate::room_event::RoomEvent;
use crate::socket::Socket;

/// A namespace: its rooms, handlers and middleware.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct Namespace {
    pub(crate) inner: rc::Namespace,
    pub(crate) ctx: Arc<Ctx>,
}

#[pymethods]
impl Namespace {
    /// The namespace name, e.g. "/chat".
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

    /// An operator with this ack timeout (seconds; `seconds_` is the
    /// earlier name of the argument).
    #[pyo3(signature = (seconds=None, *, seconds_=None))]
    fn timeout(&self, seconds: Option<f64>, seconds_: Option<f64>) -> PyResult<Operator> {
        let mut op = Operator::ns(&self.inner);
        op.timeout = Some(timeout_arg(seconds, seconds_)?);
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
        cluster::server_side_emit(py, &self.inner, event, data, timeout)
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
            cluster::secs(t, "timeout")?;
        }
        let args = (event, data.map(|d| d.clone().unbind()), timeout).into_pyobject(py)?;
        in_executor(py, slf.getattr("server_side_emit")?, args)
    }

    /// Decorator factory: `@ns.on_server_side("event")` registers
    /// `handler(data)` for other nodes' `server_side_emit`; a non-None return
    /// value is the ack reply.
    fn on_server_side<'py>(&self, py: Python<'py>, event: String) -> PyResult<Bound<'py, PyAny>> {
        cluster::on_server_side(py, &self.inner, event)
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
        cluster::cluster_fetch_sockets(py, &self.inner, rooms, except)
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

    /// Turns connection state recovery on here (`max_disconnection_duration`
    /// in seconds) or off (None), overriding the engine's setting. Fixed at
    /// the namespace's first connect or emit.
    #[pyo3(signature = (max_disconnection_duration, max_events=None, max_bytes=None))]
    fn set_recovery(
        &self,
        max_disconnection_duration: Option<f64>,
        max_events: Option<usize>,
        max_bytes: Option<usize>,
    ) -> PyResult<()> {
        let cfg = crate::engine::recovery_config(max_disconnection_duration, max_events, max_bytes)?;
        self.inner.set_recovery(cfg).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
    }

    /// What this node keeps for recovery here: a dict with `kept_sockets`,
    /// `kept_events`, `kept_bytes` and `next_offset`; None when it is off.
    fn recovery_stats(&self) -> Option<std::collections::BTreeMap<&'static str, u64>> {
        self.inner.recovery_stats().map(|s| {
            std::collections::BTreeMap::from([
                ("kept_sockets", s.kept_sockets as u64),
                ("kept_events", s.kept_events as u64),
                ("kept_bytes", s.kept_bytes as u64),
                ("next_offset", s.next_offset),
            ])
        })
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
        self.inner.socket(id).map(Socket::new)
    }

    /// Every connected socket.
    fn fetch_sockets(&self) -> Vec<Socket> {
        self.inner.fetch_sockets().into_iter().map(Socket::new).collect()
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
                    .and_then(|data| h.decide(py, (Socket::new(s.clone()), ev.name(), data)))
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
            Python::attach(|py| h.call(py, rc::HandlerSite::Connection, Some(s.id()), (Socket::new(s.clone()),)))
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
                        h.call(py, site, Some(s.id()), (Socket::new(s.clone()), data, ack))
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
                h.call(py, site, Some(s.id()), (Socket::new(s.clone()), ev.name(), data))
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
                h.call(py, site, Some(s.id()), (Socket::new(s.clone()), ev.name(), data, ack))
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
                h.call(py, rc::HandlerSite::Disconnect, Some(s.id()), (Socket::new(s.clone()), r.as_str()))
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
                h.call(py, rc::HandlerSite::Disconnecting, Some(s.id()), (Socket::new(s.clone()), r.as_str()))
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

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("<roomcast.Namespace {}>", py_repr(py, self.inner.name()))
    }
}
