//! `roomcast.Operator`: a broadcast target built call by call
//! (`ns.to("a").except_("b").volatile`).

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use roomcast as rc;

use crate::ack::{AckReply, AckWait};
use crate::aio::{in_executor, rooms_in_executor};
use crate::cluster;
use crate::convert::{encode, rooms_arg, timeout_arg};
use crate::emit_report::EmitReport;
use crate::errors::emit_err;
use crate::socket::Socket;

#[derive(Clone)]
pub(crate) enum Source {
    Ns(rc::Namespace),
    Sock(rc::Socket),
}

/// A broadcast target under construction: `ns.to("a").except_("b").volatile`.
/// Each call returns a new operator; the emit builds the core operator.
#[pyclass(frozen, module = "roomcast._roomcast")]
#[derive(Clone)]
pub(crate) struct Operator {
    source: Source,
    to: Vec<String>,
    except: Vec<String>,
    pub(crate) volatile: bool,
    pub(crate) timeout: Option<Duration>,
    /// This node only (no cluster publish).
    pub(crate) local: bool,
}

impl Operator {
    fn new(source: Source) -> Operator {
        Operator { source, to: vec![], except: vec![], volatile: false, timeout: None, local: false }
    }
    pub(crate) fn ns(ns: &rc::Namespace) -> Operator {
        Operator::new(Source::Ns(ns.clone()))
    }
    pub(crate) fn sock(s: &rc::Socket) -> Operator {
        Operator::new(Source::Sock(s.clone()))
    }
    pub(crate) fn with_to(mut self, rooms: Vec<String>) -> Self {
        self.to.extend(rooms);
        self
    }
    pub(crate) fn with_except(mut self, rooms: Vec<String>) -> Self {
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
    pub(crate) fn emit_with_ack(
        &self,
        py: Python<'_>,
        event: &str,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<AckReply>> {
        let stream = self.start_ack(py, event, data)?;
        let replies = crate::wait::ack_replies(py, stream)?;
        replies.into_iter().map(|r| AckReply::new(py, r)).collect()
    }
    pub(crate) fn emit_with_ack_async<'py>(
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
    /// Sets the ack timeout (seconds) of `emit_with_ack` (`seconds_` is
    /// the earlier name of the argument).
    #[pyo3(signature = (seconds=None, *, seconds_=None))]
    fn timeout(&self, seconds: Option<f64>, seconds_: Option<f64>) -> PyResult<Operator> {
        let mut op = self.clone();
        op.timeout = Some(timeout_arg(seconds, seconds_)?);
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
        Ok(v.into_iter().map(Socket::new).collect())
    }
    /// Makes the selected sockets join `rooms`; returns how many.
    pub(crate) fn sockets_join(&self, py: Python<'_>, rooms: &Bound<'_, PyAny>) -> PyResult<usize> {
        let r = rooms_arg(rooms)?;
        py.detach(|| self.run(|op| op.sockets_join(r))).map_err(emit_err)
    }
    /// Makes the selected sockets leave `rooms`; returns how many.
    pub(crate) fn sockets_leave(&self, py: Python<'_>, rooms: &Bound<'_, PyAny>) -> PyResult<usize> {
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
        let r = py.detach(|| self.run(|op| op.cluster_fetch_sockets())).map_err(cluster::cluster_err)?;
        cluster::socket_dicts(py, r.value)
    }
    /// `sockets_join` on every node; returns how many sockets joined.
    fn cluster_sockets_join(&self, py: Python<'_>, rooms: &Bound<'_, PyAny>) -> PyResult<usize> {
        let r = rooms_arg(rooms)?;
        py.detach(|| self.run(|op| op.cluster_sockets_join(r))).map(|r| r.value).map_err(cluster::cluster_err)
    }
    /// `sockets_leave` on every node; returns how many sockets left.
    fn cluster_sockets_leave(&self, py: Python<'_>, rooms: &Bound<'_, PyAny>) -> PyResult<usize> {
        let r = rooms_arg(rooms)?;
        py.detach(|| self.run(|op| op.cluster_sockets_leave(r))).map(|r| r.value).map_err(cluster::cluster_err)
    }
    /// `disconnect_sockets` on every node; returns how many.
    fn cluster_disconnect_sockets(&self, py: Python<'_>) -> PyResult<usize> {
        py.detach(|| self.run(|op| op.cluster_disconnect_sockets())).map(|r| r.value).map_err(cluster::cluster_err)
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
