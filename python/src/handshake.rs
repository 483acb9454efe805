//! `roomcast.Handshake`: what a client sent to connect.

use pyo3::prelude::*;

use roomcast as rc;

use crate::convert::decode;

/// What a client sent to connect: auth payload, headers, query, address.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct Handshake {
    pub(crate) inner: rc::Handshake,
}

#[pymethods]
impl Handshake {
    #[getter]
    fn auth(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.inner.auth_payload() {
            Some(p) => decode(py, p),
            None => Ok(py.None()),
        }
    }
    #[getter]
    fn headers(&self) -> std::collections::BTreeMap<String, String> {
        self.inner.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }
    #[getter]
    fn query(&self) -> std::collections::BTreeMap<String, String> {
        self.inner.query_params().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }
    #[getter]
    fn address(&self) -> Option<String> {
        self.inner.remote_address().map(str::to_owned)
    }
}
