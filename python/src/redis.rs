//! `roomcast.RedisAdapter`: the Redis cluster adapter (crate
//! `roomcast-redis`), passed to `roomcast.Engine(adapter=...)`. Built with
//! the `redis` cargo feature (on by default); without it the module has no
//! `RedisAdapter` and `roomcast/__init__.py` says why when it is asked for.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use roomcast_redis as rr;

use crate::cluster::secs;
use crate::convert::{py_repr, NonNeg};

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
        let inner = self.inner.clone();
        crate::wait::interruptible(py, move || inner.wait_connected(t))
    }

    /// Waits (releasing the GIL) until `n` nodes, this one included, are
    /// known; False on timeout.
    fn wait_for_nodes(&self, py: Python<'_>, n: NonNeg<usize>, timeout: f64) -> PyResult<bool> {
        let t = secs(timeout, "timeout")?;
        let inner = self.inner.clone();
        crate::wait::interruptible(py, move || inner.wait_for_nodes(n.0, t))
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

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<roomcast.RedisAdapter node={} connected={}>",
            py_repr(py, self.inner.node().to_string()),
            py_repr(py, self.inner.stats().connected)
        )
    }
}
