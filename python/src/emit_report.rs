//! `roomcast.EmitReport`: what an emit did.

use pyo3::prelude::*;

use roomcast as rc;

/// What an emit did: `recipients == queued + dropped`.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct EmitReport {
    /// Sockets selected by the emit.
    #[pyo3(get)]
    recipients: usize,
    /// Copies queued in their outboxes.
    #[pyo3(get)]
    queued: usize,
    /// Copies dropped (volatile emits to a backlog, or the overflow policy).
    #[pyo3(get)]
    dropped: usize,
}

impl From<rc::EmitReport> for EmitReport {
    fn from(r: rc::EmitReport) -> Self {
        EmitReport { recipients: r.recipients, queued: r.queued, dropped: r.dropped }
    }
}

#[pymethods]
impl EmitReport {
    fn __repr__(&self) -> String {
        format!("EmitReport(recipients={}, queued={}, dropped={})", self.recipients, self.queued, self.dropped)
    }
}
