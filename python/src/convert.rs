//! Argument conversions: Python values to payloads and back, room lists,
//! durations in seconds, disconnect reasons.

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyString, PyTuple};

use roomcast as rc;

use crate::errors::payload_err;

/// Converts a Python value to a payload: bytes-like -> binary, str -> text,
/// anything else -> JSON via `json.dumps` (done here, before the engine is
/// entered, so no engine lock is held while Python code runs).
pub(crate) fn encode(obj: &Bound<'_, PyAny>) -> PyResult<rc::Payload> {
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

pub(crate) static JSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The `encode` method of one `json.JSONEncoder` producing compact, strict
/// (no NaN) UTF-8 JSON. Made once: `json.dumps` with non-default options
/// builds a new encoder on every call.
pub(crate) fn json_dumps(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
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

pub(crate) fn encode_opt(obj: Option<&Bound<'_, PyAny>>) -> PyResult<rc::Payload> {
    match obj {
        Some(o) => encode(o),
        None => Ok(rc::Payload::json(&()).unwrap_or_default()),
    }
}

/// Decodes a payload by its format: binary -> bytes, text -> str, json ->
/// `json.loads`.
pub(crate) fn decode(py: Python<'_>, p: &rc::Payload) -> PyResult<Py<PyAny>> {
    Ok(match p.format() {
        rc::Format::Binary => PyBytes::new(py, p.as_bytes()).into_any().unbind(),
        rc::Format::Text => PyString::new(py, p.as_str().unwrap_or_default()).into_any().unbind(),
        rc::Format::Json => {
            let s = PyString::new(py, std::str::from_utf8(p.as_bytes()).unwrap_or("null"));
            py.import("json")?.call_method1("loads", (s,))?.unbind()
        }
    })
}

pub(crate) fn rooms_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
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

pub(crate) fn seconds(secs: f64, what: &str) -> PyResult<Duration> {
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(PyValueError::new_err(format!("{what} must be a finite number of seconds >= 0")));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A Socket.IO disconnect reason string (parsed by the core); ValueError
/// for an unknown one.
pub(crate) fn parse_reason(reason: &str) -> PyResult<rc::DisconnectReason> {
    rc::DisconnectReason::parse(reason)
        .ok_or_else(|| PyValueError::new_err(format!("unknown disconnect reason {reason:?}")))
}

/// A non-negative integer argument. pyo3's own extraction of an unsigned
/// type raises `OverflowError` for a negative value; this raises the
/// documented `ValueError` (naming the bound) instead, and `TypeError` for
/// a non-integer.
pub(crate) struct NonNeg<T>(pub(crate) T);

impl<'py, T: TryFrom<u64>> FromPyObject<'py> for NonNeg<T> {
    fn extract_bound(ob: &Bound<'py, PyAny>) -> PyResult<Self> {
        let v: i128 = ob.extract().map_err(|e| {
            if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(ob.py()) {
                PyValueError::new_err("integer argument out of range")
            } else {
                e
            }
        })?;
        if v < 0 {
            return Err(PyValueError::new_err(format!("expected an integer >= 0, got {v}")));
        }
        u64::try_from(v)
            .ok()
            .and_then(|v| T::try_from(v).ok())
            .map(NonNeg)
            .ok_or_else(|| PyValueError::new_err(format!("integer argument {v} is too large")))
    }
}

/// Python's `repr()` of a value, for `__repr__` strings built in Rust (so
/// they read as Python: `None`, `'/'`, `False`, not Rust's `Debug`).
pub(crate) fn py_repr<'py, T: IntoPyObject<'py>>(py: Python<'py>, v: T) -> String {
    use pyo3::IntoPyObjectExt;
    v.into_bound_py_any(py).and_then(|o| o.repr().map(|r| r.to_string())).unwrap_or_else(|_| "?".to_string())
}

/// The argument of `.timeout(seconds)`: `seconds_` is its earlier keyword
/// name, still accepted; exactly one of the two must be given.
pub(crate) fn timeout_arg(new: Option<f64>, old: Option<f64>) -> PyResult<Duration> {
    match (new, old) {
        (Some(s), None) | (None, Some(s)) => seconds(s, "timeout"),
        (None, None) => Err(PyTypeError::new_err("timeout() missing its argument: seconds")),
        (Some(_), Some(_)) => Err(PyTypeError::new_err("timeout() takes seconds once (seconds_ is its old name)")),
    }
}
