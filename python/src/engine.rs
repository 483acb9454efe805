//! `roomcast.Engine`: configuration, namespaces, connections, statistics.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use roomcast as rc;

use crate::cluster;
use crate::connection::Connection;
use crate::convert::{py_repr, seconds, NonNeg};
use crate::errors::{err_base, err_name};
use crate::handler::{check_callable, log_failure, Ctx};
use crate::handshake::Handshake;
use crate::namespace::Namespace;

/// The root object: configuration, namespaces, statistics.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct Engine {
    pub(crate) inner: rc::Engine,
    pub(crate) ctx: Arc<Ctx>,
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (*, max_queue=None, max_queue_bytes=None, overflow=None, max_payload=None,
        max_rooms_per_socket=None, max_name_len=None, ack_timeout=None, remove_empty_dynamic=None, r#loop=None, adapter=None,
        max_disconnection_duration=None, recovery_max_events=None, recovery_max_bytes=None))]
    #[pyo3(text_signature = "(*, max_queue=None, max_queue_bytes=None, overflow=None, max_payload=None, \
        max_rooms_per_socket=None, max_name_len=None, ack_timeout=None, remove_empty_dynamic=None, loop=None, adapter=None, \
        max_disconnection_duration=None, recovery_max_events=None, recovery_max_bytes=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        max_queue: Option<NonNeg<usize>>,
        max_queue_bytes: Option<NonNeg<usize>>,
        overflow: Option<&str>,
        max_payload: Option<NonNeg<usize>>,
        max_rooms_per_socket: Option<NonNeg<usize>>,
        max_name_len: Option<NonNeg<usize>>,
        ack_timeout: Option<f64>,
        remove_empty_dynamic: Option<bool>,
        r#loop: Option<Bound<'_, PyAny>>,
        adapter: Option<cluster::AdapterArg<'_>>,
        max_disconnection_duration: Option<f64>,
        recovery_max_events: Option<usize>,
        recovery_max_bytes: Option<usize>,
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
        if let Some(NonNeg(n)) = max_queue {
            b = b.max_queue(n);
        }
        if let Some(NonNeg(n)) = max_queue_bytes {
            b = b.max_queue_bytes(n);
        }
        if let Some(o) = overflow {
            b = b.set("overflow", o).map_err(cfg)?;
        }
        if let Some(NonNeg(n)) = max_payload {
            b = b.max_payload(n);
        }
        if let Some(NonNeg(n)) = max_rooms_per_socket {
            b = b.max_rooms_per_socket(n);
        }
        if let Some(NonNeg(n)) = max_name_len {
            b = b.max_name_len(n);
        }
        if let Some(t) = ack_timeout {
            b = b.ack_timeout(seconds(t, "ack_timeout")?);
        }
        if let Some(on) = remove_empty_dynamic {
            b = b.remove_empty_dynamic(on);
        }
        if let Some(rc) = recovery_config(max_disconnection_duration, recovery_max_events, recovery_max_bytes)? {
            b = b.connection_state_recovery(rc);
        }
        let ctx = Arc::new(Ctx { event_loop: Mutex::new(event_loop), quiet: Mutex::new(HashSet::new()) });
        let config = b.build().map_err(cfg)?;
        let inner = match cluster::adapter_of(adapter)? {
            Some(a) => rc::Engine::with_adapter(config, a),
            None => rc::Engine::new(config),
        };
        Ok(Engine { inner, ctx })
    }

    /// Ends the sockets kept for connection state recovery whose time is
    /// up (their disconnect handlers run, reason "recovery expired") in
    /// every namespace; call it about once a second.
    fn sweep_recovery(&self, py: Python<'_>) {
        py.detach(|| self.inner.sweep_recovery());
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
        Connection { conn, outbox: Arc::new(outbox), wake: OnceLock::new() }
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

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("<roomcast.Engine namespaces={}>", py_repr(py, self.inner.namespaces()))
    }
}

/// Connection state recovery settings from Python arguments: `None` when
/// `max_disconnection_duration` (seconds) is not given; the bounds need it.
pub(crate) fn recovery_config(
    max_disconnection_duration: Option<f64>,
    max_events: Option<usize>,
    max_bytes: Option<usize>,
) -> PyResult<Option<rc::RecoveryConfig>> {
    let Some(d) = max_disconnection_duration else {
        if max_events.is_some() || max_bytes.is_some() {
            return Err(PyValueError::new_err("recovery bounds need max_disconnection_duration (recovery is off)"));
        }
        return Ok(None);
    };
    let mut c = rc::RecoveryConfig::new().max_disconnection_duration(seconds(d, "max_disconnection_duration")?);
    if let Some(n) = max_events {
        c = c.max_events(n);
    }
    if let Some(n) = max_bytes {
        c = c.max_bytes(n);
    }
    Ok(Some(c))
}
