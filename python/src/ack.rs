//! Acknowledgements: `Ack` (the reply callback given to handlers),
//! `AckReply` (one recipient's answer) and `AckWait` (a pending ack emit
//! awaited from asyncio).

use pyo3::prelude::*;

use roomcast as rc;

use crate::convert::{decode, encode_opt, py_repr};
use crate::errors::{err_base, err_closed, exc, payload_err, ACK_TIMEOUT, CLOSED, ROOMCAST_ERROR};

/// A pending ack emit, waited on by a worker thread for `emit_with_ack_async`.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct AckWait {
    pub(crate) stream: std::sync::Mutex<Option<rc::AckStream>>,
}

#[pymethods]
impl AckWait {
    /// Waits (GIL released, Ctrl-C interrupts it) for every reply; callable once.
    fn wait(&self, py: Python<'_>) -> PyResult<Vec<AckReply>> {
        let stream = self.stream.lock().map_err(|_| err_base("poisoned"))?.take();
        let Some(stream) = stream else { return Err(err_base("already waited")) };
        let replies = crate::wait::ack_replies(py, stream)?;
        replies.into_iter().map(|r| AckReply::new(py, r)).collect()
    }
}

/// One recipient's answer to an ack emit: `error` is None or the exception
/// explaining why there is no reply (`AckTimeout`, `Closed`, `RoomcastError`).
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct AckReply {
    /// The recipient that answered (or failed to).
    #[pyo3(get)]
    socket_id: String,
    /// The reply, decoded (None when there is none).
    #[pyo3(get)]
    data: Py<PyAny>,
    /// None, or why there is no reply (AckTimeoutError, ClosedError, RoomcastError).
    #[pyo3(get)]
    error: Py<PyAny>,
}

impl AckReply {
    pub(crate) fn new(py: Python<'_>, r: rc::AckReply) -> PyResult<AckReply> {
        let (data, error) = match &r.result {
            Ok(p) => (decode(py, p)?, py.None()),
            Err(e) => {
                let cell = match e {
                    rc::AckError::Timeout => &ACK_TIMEOUT,
                    rc::AckError::Disconnected => &CLOSED,
                    _ => &ROOMCAST_ERROR,
                };
                (py.None(), exc(py, cell, e.to_string()).into_value(py).into_any())
            }
        };
        Ok(AckReply { socket_id: r.socket_id, data, error })
    }
}

#[pymethods]
impl AckReply {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "AckReply(socket_id={}, data={}, error={})",
            py_repr(py, &self.socket_id),
            self.data.bind(py).repr()?,
            self.error.bind(py).repr()?
        ))
    }
}

/// The acknowledgement callback given to event handlers: `ack(reply)`.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct Ack {
    pub(crate) inner: rc::AckResponder,
}

#[pymethods]
impl Ack {
    /// Sends the reply (once; later calls raise `RoomcastError`).
    #[pyo3(signature = (data=None))]
    fn __call__(&self, py: Python<'_>, data: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let p = encode_opt(data)?;
        py.detach(|| self.inner.send(p)).map_err(|e| match e {
            rc::RespondError::Closed => err_closed(e),
            rc::RespondError::Payload(e) => payload_err(e),
            other => err_base(other),
        })
    }
    /// The ack id of the event.
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id()
    }
    /// Whether a reply was sent.
    #[getter]
    fn answered(&self) -> bool {
        self.inner.is_answered()
    }
}
