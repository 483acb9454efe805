//! Cluster-wide operations of `Namespace` and `Operator`, server-side
//! events, and `Engine(adapter=...)`. They work with any engine: without a
//! cluster adapter they are single-node answers.

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `v` seconds as a `Duration`; ValueError naming `what` if negative or
/// not finite.
pub(crate) fn secs(v: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(v).map_err(|_| PyValueError::new_err(format!("{what} must be a finite number >= 0")))
}

/// The `adapter=` argument of `Engine(...)`: a `RedisAdapter`.
#[cfg(feature = "redis")]
pub(crate) type AdapterArg<'py> = PyRef<'py, crate::redis::RedisAdapter>;
/// The `adapter=` argument of `Engine(...)`: without the `redis` feature
/// there is no adapter class, so anything but None is refused.
#[cfg(not(feature = "redis"))]
pub(crate) type AdapterArg<'py> = Bound<'py, PyAny>;

/// The engine's adapter from `Engine(adapter=...)`.
#[cfg(feature = "redis")]
pub(crate) fn adapter_of(arg: Option<AdapterArg<'_>>) -> PyResult<Option<Arc<dyn roomcast::Adapter>>> {
    Ok(arg.map(|a| a.adapter() as Arc<dyn roomcast::Adapter>))
}

/// The engine's adapter from `Engine(adapter=...)`: none in this build.
#[cfg(not(feature = "redis"))]
pub(crate) fn adapter_of(arg: Option<AdapterArg<'_>>) -> PyResult<Option<Arc<dyn roomcast::Adapter>>> {
    match arg {
        Some(a) if !a.is_none() => Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "Engine(adapter=...): this build of roomcast has no cluster adapter (it was compiled without \
             the 'redis' feature); got {}",
            a.get_type().name()?
        ))),
        _ => Ok(None),
    }
}

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
            let (ns, event) = (ns.clone(), event.to_string());
            let r = crate::wait::interruptible(py, move || ns.server_side_emit_with_ack(&event, p, t))?
                .map_err(cluster_err)?;
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
