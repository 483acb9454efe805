//! `roomcast.RedisAdapter`: the Redis cluster adapter (crate
//! `roomcast-redis`), passed to `roomcast.Engine(adapter=...)`.

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use roomcast_redis as rr;

/// A Redis cluster adapter: engines in several processes or machines that
/// use adapters on one Redis server (and the same prefix) share their
/// rooms. Connects in the background and reconnects by itself.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct RedisAdapter {
    inner: Arc<rr::RedisAdapter>,
}

impl RedisAdapter {
    /// The adapter, for `Engine(adapter=...)`.
    pub(crate) fn adapter(&self) -> Arc<rr::RedisAdapter> {
        self.inner.clone()
    }
}

pub(crate) fn secs(v: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(v).map_err(|_| PyValueError::new_err(format!("{what} must be a finite number >= 0")))
}

#[pymethods]
impl RedisAdapter {
    #[new]
    #[pyo3(signature = (url, *, prefix=None, heartbeat_interval=None, heartbeat_timeout=None, request_timeout=None))]
    fn new(
        url: &str,
        prefix: Option<&str>,
        heartbeat_interval: Option<f64>,
        heartbeat_timeout: Option<f64>,
        request_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let mut cfg = rr::RedisConfig::new(url);
        if let Some(p) = prefix {
            cfg = cfg.prefix(p);
        }
        if heartbeat_interval.is_some() || heartbeat_timeout.is_some() {
            let i = secs(heartbeat_interval.unwrap_or(2.0), "heartbeat_interval")?;
            let t = secs(heartbeat_timeout.unwrap_or(i.as_secs_f64() * 3.0), "heartbeat_timeout")?;
            cfg = cfg.heartbeat(i, t);
        }
        if let Some(t) = request_timeout {
            cfg = cfg.request_timeout(secs(t, "request_timeout")?);
        }
        let inner = rr::RedisAdapter::new(cfg).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(RedisAdapter { inner })
    }

    /// This node's id (16 hex digits).
    #[getter]
    fn node(&self) -> String {
        self.inner.node().to_string()
    }

    /// Waits (releasing the GIL) until connected to Redis; False on timeout.
    fn wait_connected(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let t = secs(timeout, "timeout")?;
        Ok(py.detach(|| self.inner.wait_connected(t)))
    }

    /// Waits (releasing the GIL) until `n` nodes, this one included, are
    /// known; False on timeout.
    fn wait_for_nodes(&self, py: Python<'_>, n: usize, timeout: f64) -> PyResult<bool> {
        let t = secs(timeout, "timeout")?;
        Ok(py.detach(|| self.inner.wait_for_nodes(n, t)))
    }

    /// Nodes in the cluster, this one included.
    fn server_count(&self) -> usize {
        use roomcast::Adapter;
        self.inner.server_count()
    }

    /// The counters: published, received, dropped, queue_full,
    /// decode_errors, reconnects, nodes, connected.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("published", s.published)?;
        d.set_item("received", s.received)?;
        d.set_item("dropped", s.dropped)?;
        d.set_item("queue_full", s.queue_full)?;
        d.set_item("decode_errors", s.decode_errors)?;
        d.set_item("reconnects", s.reconnects)?;
        d.set_item("nodes", s.nodes)?;
        d.set_item("connected", s.connected)?;
        Ok(d)
    }

    /// Stops the adapter (goodbye to the other nodes, threads ended);
    /// engines using it then deliver locally only.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    fn __repr__(&self) -> String {
        format!("<roomcast.RedisAdapter node={} connected={}>", self.inner.node(), self.inner.stats().connected)
    }
}

// ------------------------------------------------- cluster-wide operations
// (methods of `Namespace` in lib.rs delegate here; they work with any
// adapter and are single-node answers without one)

pub(crate) fn cluster_err(e: roomcast::ClusterError) -> PyErr {
    match e {
        roomcast::ClusterError::Invalid(e) => crate::errors::emit_err(e),
        e @ roomcast::ClusterError::Unavailable { .. } => crate::errors::err_base(e),
    }
}

/// `ns.server_side_emit(event, data=None, timeout=None)`.
pub(crate) fn server_side_emit(
    py: Python<'_>,
    ns: &roomcast::Namespace,
    event: &str,
    data: Option<&Bound<'_, PyAny>>,
    timeout: Option<f64>,
) -> PyResult<Option<Vec<Py<PyAny>>>> {
    let p = crate::convert::encode_opt(data)?;
    match timeout {
        None => {
            py.detach(|| ns.server_side_emit(event, p)).map_err(cluster_err)?;
            Ok(None)
        }
        Some(t) => {
            let t = secs(t, "timeout")?;
            let r = py.detach(|| ns.server_side_emit_with_ack(event, p, t)).map_err(cluster_err)?;
            Ok(Some(r.value.iter().map(|p| crate::convert::decode(py, p)).collect::<PyResult<_>>()?))
        }
    }
}

/// `@ns.on_server_side("event")`: `handler(data)`; its return value (not
/// None) is the ack reply.
pub(crate) fn on_server_side<'py>(
    py: Python<'py>,
    ns: &roomcast::Namespace,
    event: String,
) -> PyResult<Bound<'py, PyAny>> {
    let ns = ns.clone();
    let register =
        move |args: &Bound<'_, pyo3::types::PyTuple>, _kw: Option<&Bound<'_, PyDict>>| -> PyResult<Py<PyAny>> {
            let handler = args.get_item(0)?;
            crate::handler::check_callable(&handler)?;
            let f = handler.clone().unbind();
            let what = format!("server-side handler of {event:?}");
            ns.on_server_side(&event, move |p: &roomcast::Payload| {
                Python::attach(|py| {
                    let r = crate::convert::decode(py, p).and_then(|d| f.call1(py, (d,))).and_then(|v| {
                        let v = v.bind(py);
                        if v.is_none() {
                            Ok(None)
                        } else {
                            crate::convert::encode(v).map(Some)
                        }
                    });
                    r.unwrap_or_else(|e| {
                        crate::handler::log_failure(py, &e, &what);
                        None
                    })
                })
            });
            Ok(handler.unbind())
        };
    Ok(pyo3::types::PyCFunction::new_closure(py, None, None, register)?.into_any())
}

/// `ns.cluster_fetch_sockets(rooms=None, except_=None)`: a list of dicts
/// `{id, namespace, rooms, data, node}` from every node.
pub(crate) fn cluster_fetch_sockets<'py>(
    py: Python<'py>,
    ns: &roomcast::Namespace,
    rooms: Vec<String>,
    except: Vec<String>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let r = py.detach(|| ns.to(rooms).except(except).cluster_fetch_sockets()).map_err(cluster_err)?;
    socket_dicts(py, r.value)
}

/// `RemoteSocket`s as dicts.
pub(crate) fn socket_dicts(py: Python<'_>, sockets: Vec<roomcast::RemoteSocket>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    sockets
        .into_iter()
        .map(|s| {
            let d = PyDict::new(py);
            d.set_item("id", s.id)?;
            d.set_item("namespace", s.namespace)?;
            d.set_item("rooms", s.rooms)?;
            d.set_item("data", s.data.as_ref().map(|p| crate::convert::decode(py, p)).transpose()?)?;
            d.set_item("node", s.node)?;
            Ok(d)
        })
        .collect()
}
