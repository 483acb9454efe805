//! Calling Python from the core: the per-engine context, registered
//! handlers (sync or coroutine), failure logging and middleware refusals.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use pyo3::call::PyCallArgs;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};

use roomcast as rc;

use crate::convert::{decode, encode};
use crate::errors::CONNECT_REFUSED;
use crate::namespace::Namespace;

/// Logs a failed Python callback on the `roomcast` logger, with traceback.
pub(crate) fn log_failure(py: Python<'_>, err: &PyErr, what: &str) {
    let logged = (|| -> PyResult<()> {
        let logger = py.import("logging")?.call_method1("getLogger", ("roomcast",))?;
        let kwargs = PyDict::new(py);
        // A (type, value, traceback) triple: before 3.12 `logging` takes an
        // exception object's traceback only from `sys.exc_info()`, and the
        // object pyo3 holds has none attached.
        let tb = err.traceback(py).map(|t| t.into_any().unbind()).unwrap_or_else(|| py.None());
        kwargs.set_item("exc_info", (err.get_type(py), err.value(py), tb))?;
        logger.call_method("error", ("roomcast: %s raised an exception", what), Some(&kwargs))?;
        Ok(())
    })();
    if logged.is_err() {
        err.clone_ref(py).print(py);
    }
}

/// What the namespaces of one engine share on the Python side.
pub(crate) struct Ctx {
    /// The asyncio loop given to `Engine(loop=...)`: coroutine handlers are
    /// scheduled on it (else on the loop running in the calling thread).
    /// Given as `Engine(loop=...)`, or adopted by a Socket.IO server served
    /// from a loop (`serve_async`, ASGI) when there is none or the one
    /// there is closed.
    pub(crate) event_loop: Mutex<Option<Py<PyAny>>>,
    /// Namespaces that already have the default error hook.
    pub(crate) quiet: Mutex<HashSet<String>>,
}

impl Ctx {
    pub(crate) fn event_loop(&self, py: Python<'_>) -> Py<PyAny> {
        let l = self.event_loop.lock().ok().and_then(|l| l.as_ref().map(|l| l.clone_ref(py)));
        l.unwrap_or_else(|| py.None())
    }

    /// Installs the default error hook on `ns` once. Python failures are
    /// logged where they happen, so the hook only keeps the core from
    /// printing them a second time; it logs what Python did not see (a
    /// panic in the bindings).
    pub(crate) fn quiet(&self, ns: &rc::Namespace) {
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

/// Names a handler site for `on_error` dicts: (site, event).
pub(crate) fn site_parts(site: &rc::HandlerSite) -> (&'static str, Option<&str>) {
    (site.name(), site.event())
}

pub(crate) fn describe(site: &rc::HandlerSite) -> String {
    site.to_string()
}

/// Decodes an inbound payload for a handler; a failure is logged and
/// becomes the handler's error.
pub(crate) fn decode_arg(
    py: Python<'_>,
    ev: &rc::Inbound,
    site: &rc::HandlerSite,
) -> Result<Py<PyAny>, rc::HandlerError> {
    decode(py, ev.payload()).map_err(|e| {
        log_failure(py, &e, &describe(site));
        rc::HandlerError::from(e.to_string())
    })
}

/// A registered Python callable with what is needed to report its failures.
pub(crate) struct PyHandler {
    f: Py<PyAny>,
    ctx: Arc<Ctx>,
    ns: rc::Namespace,
}

impl PyHandler {
    pub(crate) fn new(ns: &Namespace, f: &Bound<'_, PyAny>) -> PyResult<PyHandler> {
        check_callable(f)?;
        Ok(PyHandler { f: f.clone().unbind(), ctx: ns.ctx.clone(), ns: ns.inner.clone() })
    }

    /// Calls the handler. An exception is logged and returned as the core's
    /// handler error (which feeds `on_error`); an awaitable result is
    /// scheduled as a task on the engine's loop, and its exception, later, is
    /// logged and reported to `on_error` the same way.
    pub(crate) fn call<'py>(
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
    pub(crate) fn decide<'py>(&self, py: Python<'py>, args: impl PyCallArgs<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.f.bind(py).call1(args)?;
        if v.is_none() || !v.hasattr("__await__")? {
            return Ok(v);
        }
        py.import("roomcast._aio")?.call_method1("resolve", (self.ctx.event_loop(py), v))
    }
}

pub(crate) fn check_callable(obj: &Bound<'_, PyAny>) -> PyResult<()> {
    if obj.is_callable() {
        Ok(())
    } else {
        Err(PyTypeError::new_err(format!("handler must be callable, not {}", obj.get_type().name()?)))
    }
}

/// Turns a middleware exception into the core's refusal.
pub(crate) fn refusal(py: Python<'_>, e: PyErr) -> rc::ConnectError {
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
