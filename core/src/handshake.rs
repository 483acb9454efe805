//! What the host knows about a client when it joins a namespace.

use std::collections::BTreeMap;

use crate::payload::Payload;

/// The client's handshake for one namespace: the `auth` payload of its
/// CONNECT, plus headers, query and remote address as the host supplies
/// them. Middleware reads it; sockets keep it.
///
/// ```
/// use roomcast::{Handshake, Payload};
/// let hs = Handshake::new()
///     .auth(Payload::json(&serde_json::json!({"token": "t"}))?)
///     .header("user-agent", "demo")
///     .query("room", "lobby")
///     .address("127.0.0.1:50000");
/// assert_eq!(hs.query_value("room"), Some("lobby"));
/// # Ok::<(), roomcast::PayloadError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handshake {
    auth: Option<Payload>,
    headers: BTreeMap<String, String>,
    query: BTreeMap<String, String>,
    address: Option<String>,
}

/// The handshake of sockets that joined without one; shared so an idle
/// socket does not carry an empty copy.
pub(crate) static EMPTY: Handshake =
    Handshake { auth: None, headers: BTreeMap::new(), query: BTreeMap::new(), address: None };

impl Handshake {
    /// An empty handshake.
    pub fn new() -> Handshake {
        Handshake::default()
    }

    /// True when it carries nothing.
    pub fn is_empty(&self) -> bool {
        self == &EMPTY
    }
    /// Sets the auth payload.
    pub fn auth(mut self, auth: impl Into<Payload>) -> Self {
        self.auth = Some(auth.into());
        self
    }
    /// Adds a header (names are stored lower-case).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into().to_ascii_lowercase(), value.into());
        self
    }
    /// Adds a query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.insert(name.into(), value.into());
        self
    }
    /// Sets the remote address.
    pub fn address(mut self, addr: impl Into<String>) -> Self {
        self.address = Some(addr.into());
        self
    }
    /// The auth payload, if the client sent one.
    pub fn auth_payload(&self) -> Option<&Payload> {
        self.auth.as_ref()
    }
    /// All headers (lower-case names).
    pub fn headers(&self) -> &BTreeMap<String, String> {
        &self.headers
    }
    /// One header by name (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
    /// All query parameters.
    pub fn query_params(&self) -> &BTreeMap<String, String> {
        &self.query
    }
    /// One query parameter.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
    /// The remote address, if the host supplied it.
    pub fn remote_address(&self) -> Option<&str> {
        self.address.as_deref()
    }
}
