//! `roomcast.Message`: one message drained from an outbox.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use roomcast as rc;

use crate::convert::{decode, py_repr};

/// One message drained from an outbox.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct Message {
    pub(crate) inner: rc::Message,
}

#[pymethods]
impl Message {
    /// "event", "ack", "disconnect" or "lagged".
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner.kind() {
            rc::MessageKind::Event => "event",
            rc::MessageKind::Ack => "ack",
            rc::MessageKind::Disconnect => "disconnect",
            rc::MessageKind::Lagged => "lagged",
        }
    }
    /// The namespace the message belongs to (None for "lagged").
    #[getter]
    fn namespace(&self) -> Option<&str> {
        self.inner.namespace()
    }
    /// The event name of an "event" message, else None.
    #[getter]
    fn event(&self) -> Option<&str> {
        self.inner.event_name()
    }
    /// The payload decoded by its format (None when there is none).
    #[getter]
    fn data(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.inner.payload() {
            Some(p) => decode(py, p),
            None => Ok(py.None()),
        }
    }
    /// The payload's bytes (b"" when there is none).
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.payload().map(|p| p.as_bytes()).unwrap_or_default())
    }
    /// "binary", "text", "json", or None when there is no payload.
    #[getter]
    fn format(&self) -> Option<&'static str> {
        self.inner.payload().map(|p| p.format().as_str())
    }
    /// The ack id: of an event expecting an ack, or of an "ack" reply; else None.
    #[getter]
    fn ack_id(&self) -> Option<u64> {
        self.inner.ack_id()
    }
    /// The recovery offset of a kept event (hand it to the client; it
    /// presents the last one it got when it resumes); None otherwise.
    #[getter]
    fn offset(&self) -> Option<u64> {
        self.inner.offset()
    }
    /// The disconnect reason of a "disconnect" message.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.inner.disconnect_reason().map(|r| r.as_str())
    }
    /// How many messages were lost, for a "lagged" message.
    #[getter]
    fn lagged(&self) -> Option<u64> {
        self.inner.lagged_count()
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<roomcast.Message kind={} namespace={} event={} ack_id={}>",
            py_repr(py, self.kind()),
            py_repr(py, self.inner.namespace()),
            py_repr(py, self.inner.event_name()),
            py_repr(py, self.inner.ack_id())
        )
    }
}
