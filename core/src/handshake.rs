//! What the host knows about a client when it joins a namespace.

use std::fmt;

use crate::payload::Payload;

/// The client's handshake for one namespace: the `auth` payload of its
/// CONNECT, plus headers, query and remote address as the host supplies
/// them. Middleware reads it; sockets keep it.
///
/// Every name and value lives in one string buffer with a small index
/// beside it (two allocations besides `auth`, however many headers), since
/// each connected socket keeps its handshake for its whole life.
///
/// ```
/// use roomcast::{Handshake, Payload};
/// let hs = Handshake::new()
///     .auth(Payload::json(&serde_json::json!({"token": "t"}))?)
///     .header("User-Agent", "demo")
///     .query("room", "lobby")
///     .address("127.0.0.1:50000");
/// assert_eq!(hs.query_value("room"), Some("lobby"));
/// assert_eq!(hs.header_value("user-agent"), Some("demo"));
/// assert_eq!(hs.headers().collect::<Vec<_>>(), [("user-agent", "demo")]);
/// # Ok::<(), roomcast::PayloadError>(())
/// ```
#[derive(Clone, Default)]
pub struct Handshake {
    auth: Option<Payload>,
    /// Names, values and the address, back to back.
    text: String,
    /// Headers (sorted by name), then query parameters (sorted by name).
    entries: Vec<Entry>,
    /// How many of `entries` are headers.
    n_headers: u32,
    /// The address's span in `text`.
    address: Option<(u32, u32)>,
}

/// One name/value pair: `text[start..mid]` is the name, `text[mid..end]`
/// the value.
#[derive(Clone, Copy)]
struct Entry {
    start: u32,
    mid: u32,
    end: u32,
}

/// The handshake of sockets that joined without one; shared so an idle
/// socket does not carry an empty copy.
pub(crate) static EMPTY: Handshake =
    Handshake { auth: None, text: String::new(), entries: Vec::new(), n_headers: 0, address: None };

impl Handshake {
    /// An empty handshake.
    pub fn new() -> Handshake {
        Handshake::default()
    }

    /// True when it carries nothing.
    pub fn is_empty(&self) -> bool {
        self.auth.is_none() && self.entries.is_empty() && self.address.is_none()
    }
    /// Sets the auth payload.
    pub fn auth(mut self, auth: impl Into<Payload>) -> Self {
        self.auth = Some(auth.into());
        self
    }
    /// Adds a header (names are stored lower-case; a repeated name
    /// replaces the earlier value).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into().to_ascii_lowercase();
        self.insert(true, &name, &value.into());
        self
    }
    /// Adds a query parameter (a repeated name replaces the earlier value).
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(false, &name.into(), &value.into());
        self
    }
    /// Sets the remote address.
    pub fn address(mut self, addr: impl Into<String>) -> Self {
        let addr = addr.into();
        let start = self.push_text(&addr);
        self.address = Some((start, self.text.len() as u32));
        self.compact();
        self
    }
    /// The auth payload, if the client sent one.
    pub fn auth_payload(&self) -> Option<&Payload> {
        self.auth.as_ref()
    }
    /// All headers as `(name, value)`, lower-case names in order.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + Clone + '_ {
        self.section(true).iter().map(|e| self.pair(e))
    }
    /// One header by name (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.find(true, &name.to_ascii_lowercase())
    }
    /// All query parameters as `(name, value)`, in name order.
    pub fn query_params(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + Clone + '_ {
        self.section(false).iter().map(|e| self.pair(e))
    }
    /// One query parameter.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.find(false, name)
    }
    /// The remote address, if the host supplied it.
    pub fn remote_address(&self) -> Option<&str> {
        self.address.map(|(s, e)| &self.text[s as usize..e as usize])
    }

    fn section(&self, headers: bool) -> &[Entry] {
        let (h, q) = self.entries.split_at(self.n_headers as usize);
        if headers {
            h
        } else {
            q
        }
    }

    fn pair(&self, e: &Entry) -> (&str, &str) {
        (&self.text[e.start as usize..e.mid as usize], &self.text[e.mid as usize..e.end as usize])
    }

    fn position(&self, headers: bool, name: &str) -> Result<usize, usize> {
        self.section(headers).binary_search_by(|e| self.pair(e).0.cmp(name))
    }

    fn find(&self, headers: bool, name: &str) -> Option<&str> {
        let i = self.position(headers, name).ok()?;
        Some(self.pair(&self.section(headers)[i]).1)
    }

    /// Appends `s` to the buffer; returns where it starts.
    fn push_text(&mut self, s: &str) -> u32 {
        let start = self.text.len();
        assert!(start + s.len() <= u32::MAX as usize, "a handshake is limited to 4 GiB of text");
        self.text.push_str(s);
        start as u32
    }

    fn insert(&mut self, headers: bool, name: &str, value: &str) {
        let found = self.position(headers, name);
        let start = self.push_text(name);
        let mid = self.push_text(value);
        let e = Entry { start, mid, end: self.text.len() as u32 };
        let base = if headers { 0 } else { self.n_headers as usize };
        match found {
            Ok(i) => self.entries[base + i] = e,
            Err(i) => {
                self.entries.insert(base + i, e);
                if headers {
                    self.n_headers += 1;
                }
            }
        }
        self.compact();
    }

    /// Drops text no entry points at any more (a replaced value) once it
    /// is a quarter of the buffer, so building stays linear and the kept
    /// copy small.
    fn compact(&mut self) {
        let live: usize = self.entries.iter().map(|e| (e.end - e.start) as usize).sum::<usize>()
            + self.address.map_or(0, |(s, e)| (e - s) as usize);
        if live * 4 >= self.text.len() * 3 {
            return;
        }
        let mut text = String::with_capacity(live);
        for e in &mut self.entries {
            let start = text.len() as u32;
            text.push_str(&self.text[e.start as usize..e.end as usize]);
            *e = Entry { start, mid: start + (e.mid - e.start), end: text.len() as u32 };
        }
        if let Some((s, e)) = self.address {
            let start = text.len() as u32;
            text.push_str(&self.text[s as usize..e as usize]);
            self.address = Some((start, text.len() as u32));
        }
        self.text = text;
    }
}

impl PartialEq for Handshake {
    fn eq(&self, other: &Self) -> bool {
        self.auth == other.auth
            && self.headers().eq(other.headers())
            && self.query_params().eq(other.query_params())
            && self.remote_address() == other.remote_address()
    }
}

impl Eq for Handshake {}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("auth", &self.auth)
            .field("headers", &Map(self.headers()))
            .field("query", &Map(self.query_params()))
            .field("address", &self.remote_address())
            .finish()
    }
}

/// Debug-prints pairs as a map.
struct Map<I>(I);

impl<'a, I: Iterator<Item = (&'a str, &'a str)> + Clone> fmt::Debug for Map<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.clone()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_repeat_and_stay_separate() {
        let hs = Handshake::new()
            .header("X-B", "2")
            .query("b", "q2")
            .header("x-a", "1")
            .query("a", "q1")
            .header("X-b", "two")
            .address("127.0.0.1:1")
            .query("a", "first replaced");
        assert_eq!(hs.headers().collect::<Vec<_>>(), [("x-a", "1"), ("x-b", "two")]);
        assert_eq!(hs.query_params().collect::<Vec<_>>(), [("a", "first replaced"), ("b", "q2")]);
        assert_eq!(hs.header_value("X-A"), Some("1"));
        assert_eq!(hs.header_value("a"), None);
        assert_eq!(hs.query_value("x-a"), None);
        assert_eq!(hs.query_value("b"), Some("q2"));
        assert_eq!(hs.remote_address(), Some("127.0.0.1:1"));
        assert!(!hs.is_empty());
    }

    #[test]
    fn equality_is_by_content_not_by_buffer() {
        let a = Handshake::new().header("h", "old").header("h", "new").query("q", "1");
        let b = Handshake::new().query("q", "1").header("h", "new");
        assert_eq!(a, b);
        assert_ne!(a, b.clone().header("h", "other"));
        assert_ne!(a, Handshake::new());
        assert!(Handshake::new().is_empty());
        assert_eq!(Handshake::new(), EMPTY);
        assert!(format!("{a:?}").contains("\"h\": \"new\""));
    }

    #[test]
    fn replaced_values_do_not_pile_up() {
        let mut hs = Handshake::new().address("10.0.0.1:9");
        for i in 0..1000 {
            hs = hs.header("cookie", format!("v{i}"));
        }
        assert_eq!(hs.header_value("cookie"), Some("v999"));
        assert_eq!(hs.remote_address(), Some("10.0.0.1:9"));
        assert!(hs.text.len() < 64, "{} bytes of text kept", hs.text.len());
    }

    #[test]
    fn empty_names_and_values_and_unicode() {
        let hs = Handshake::new().header("", "").query("ключ", "значение").header("e", "");
        assert_eq!(hs.headers().collect::<Vec<_>>(), [("", ""), ("e", "")]);
        assert_eq!(hs.query_value("ключ"), Some("значение"));
    }
}
