//! The exception hierarchy (`RoomcastError` and its subclasses, defined in
//! Python) and the conversions of the core's error enums into it.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

use roomcast as rc;

use crate::convert::decode;

pub(crate) const EXCEPTIONS: &std::ffi::CStr = c"
class RoomcastError(Exception):
    \"\"\"Base class of every roomcast error.\"\"\"

class ConnectRefusedError(RoomcastError):
    \"\"\"A connect was refused; raise it from middleware to refuse one.\"\"\"

    def __init__(self, message: str = 'connect refused', data: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

class ClosedError(RoomcastError):
    \"\"\"The connection or socket is closed (and, for receives, drained).\"\"\"

class InvalidNameError(RoomcastError, ValueError):
    \"\"\"An invalid namespace, room or event name.\"\"\"

class PayloadTooLargeError(RoomcastError, ValueError):
    \"\"\"A payload larger than max_payload.\"\"\"

class AckTimeoutError(RoomcastError, TimeoutError):
    \"\"\"No acknowledgement before the timeout.\"\"\"

class OwnRoomError(RoomcastError, ValueError):
    \"\"\"A socket cannot leave the room named after its own id.\"\"\"

ConnectRefused = ConnectRefusedError
Closed = ClosedError
InvalidName = InvalidNameError
PayloadTooLarge = PayloadTooLargeError
AckTimeout = AckTimeoutError
";

pub(crate) static ROOMCAST_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
pub(crate) static CONNECT_REFUSED: PyOnceLock<Py<PyType>> = PyOnceLock::new();
pub(crate) static CLOSED: PyOnceLock<Py<PyType>> = PyOnceLock::new();
pub(crate) static INVALID_NAME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
pub(crate) static PAYLOAD_TOO_LARGE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
pub(crate) static ACK_TIMEOUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
pub(crate) static OWN_ROOM: PyOnceLock<Py<PyType>> = PyOnceLock::new();

pub(crate) fn exc(py: Python<'_>, cell: &PyOnceLock<Py<PyType>>, msg: String) -> PyErr {
    match cell.get(py) {
        Some(t) => PyErr::from_type(t.bind(py).clone(), msg),
        None => PyRuntimeError::new_err(msg),
    }
}

pub(crate) fn err_base(msg: impl ToString) -> PyErr {
    Python::attach(|py| exc(py, &ROOMCAST_ERROR, msg.to_string()))
}
pub(crate) fn err_closed(msg: impl ToString) -> PyErr {
    Python::attach(|py| exc(py, &CLOSED, msg.to_string()))
}
pub(crate) fn err_name(msg: impl ToString) -> PyErr {
    Python::attach(|py| exc(py, &INVALID_NAME, msg.to_string()))
}
pub(crate) fn err_too_large(msg: impl ToString) -> PyErr {
    Python::attach(|py| exc(py, &PAYLOAD_TOO_LARGE, msg.to_string()))
}

pub(crate) fn payload_err(e: rc::PayloadError) -> PyErr {
    match e {
        rc::PayloadError::TooLarge { .. } => err_too_large(e),
        _ => PyValueError::new_err(e.to_string()),
    }
}

pub(crate) fn emit_err(e: rc::EmitError) -> PyErr {
    match e {
        rc::EmitError::InvalidName(n) => err_name(n),
        rc::EmitError::Payload(p) => payload_err(p),
        rc::EmitError::Closed => err_closed(e),
        other => err_base(other),
    }
}

pub(crate) fn room_err(e: rc::RoomError) -> PyErr {
    match e {
        rc::RoomError::InvalidName(n) => err_name(n),
        rc::RoomError::Closed => err_closed(e),
        rc::RoomError::OwnRoom => Python::attach(|py| exc(py, &OWN_ROOM, e.to_string())),
        other => err_base(other),
    }
}

pub(crate) fn join_err(py: Python<'_>, e: rc::JoinError) -> PyErr {
    match e {
        rc::JoinError::InvalidName(n) => err_name(n),
        rc::JoinError::ConnectionClosed => err_closed(e),
        rc::JoinError::AlreadyJoined(_) | rc::JoinError::ShutDown | rc::JoinError::NoRandomness(_) => err_base(e),
        rc::JoinError::Payload(p) => payload_err(p),
        rc::JoinError::Refused(c) => {
            let data = match &c.data {
                Some(p) => match decode(py, p) {
                    Ok(v) => v,
                    Err(e) => return e,
                },
                None => py.None(),
            };
            match CONNECT_REFUSED.get(py) {
                Some(t) => match t.bind(py).call1((c.message.clone(), data)) {
                    Ok(v) => PyErr::from_value(v),
                    Err(e) => e,
                },
                None => PyRuntimeError::new_err(c.message),
            }
        }
    }
}

pub(crate) fn dispatch_err(e: rc::DispatchError) -> PyErr {
    match e {
        rc::DispatchError::InvalidName(n) => err_name(n),
        rc::DispatchError::Payload(p) => payload_err(p),
        rc::DispatchError::Closed => err_closed(e),
    }
}

/// Earlier names of the exception classes (aliases, same objects).
pub(crate) const ALIASES: [&str; 5] = ["ConnectRefused", "Closed", "InvalidName", "PayloadTooLarge", "AckTimeout"];

/// Defines the exception classes (from `EXCEPTIONS`), keeps them for the
/// conversions above and adds them to the module `m`.
pub(crate) fn add_exceptions(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let globals = PyDict::new(py);
    globals.set_item("__name__", "roomcast._roomcast")?;
    py.run(EXCEPTIONS, Some(&globals), None)?;
    let cells: [(&str, &PyOnceLock<Py<PyType>>); 7] = [
        ("RoomcastError", &ROOMCAST_ERROR),
        ("ConnectRefusedError", &CONNECT_REFUSED),
        ("ClosedError", &CLOSED),
        ("InvalidNameError", &INVALID_NAME),
        ("PayloadTooLargeError", &PAYLOAD_TOO_LARGE),
        ("AckTimeoutError", &ACK_TIMEOUT),
        ("OwnRoomError", &OWN_ROOM),
    ];
    for (name, cell) in cells {
        let t = globals.get_item(name)?.ok_or_else(|| PyRuntimeError::new_err(name))?;
        let t = t.downcast_into::<PyType>()?;
        let _ = cell.set(py, t.clone().unbind());
        m.add(name, t)?;
    }
    // The names before the `Error` suffix, kept as aliases of the same classes.
    for alias in ALIASES {
        let t = globals.get_item(alias)?.ok_or_else(|| PyRuntimeError::new_err(alias))?;
        m.add(alias, t)?;
    }
    Ok(())
}
