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
    /// The auth payload (decoded), or None.
    #[getter]
    fn auth(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.inner.auth_payload() {
            Some(p) => decode(py, p),
            None => Ok(py.None()),
        }
    }
    /// The request headers, as a dict.
    #[getter]
    fn headers(&self) -> std::collections::BTreeMap<String, String> {
        self.inner.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }
    /// The query parameters, as a dict.
    #[getter]
    fn query(&self) -> std::collections::BTreeMap<String, String> {
        self.inner.query_params().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }
    /// The client's address, or None when the transport gave none.
    #[getter]
    fn address(&self) -> Option<String> {
        self.inner.remote_address().map(str::to_owned)
    }
}
