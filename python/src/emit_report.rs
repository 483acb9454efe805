//! `roomcast.EmitReport`: what an emit did.

use pyo3::prelude::*;

use roomcast as rc;

/// What an emit did: `recipients == queued + dropped`.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct EmitReport {
    #[pyo3(get)]
    recipients: usize,
    #[pyo3(get)]
    queued: usize,
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
