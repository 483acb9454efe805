//! The opening request's headers, query and address, packed into one
//! allocation for the session's life.
//!
//! A [`Handshake`] holds two ordered maps of owned strings: about twenty
//! allocations and over a kilobyte for a browser's request. A session needs
//! it again only when the client connects to a namespace, so it keeps this
//! packed form and builds a `Handshake` per CONNECT.

use roomcast::Handshake;

const HEADER: u8 = b'h';
const QUERY: u8 = b'q';
const ADDRESS: u8 = b'a';

/// See the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackedHandshake(Box<[u8]>);

impl PackedHandshake {
    /// Packs headers, query parameters and the remote address.
    pub(crate) fn new<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        query: impl IntoIterator<Item = (&'a str, &'a str)>,
        address: Option<&str>,
    ) -> PackedHandshake {
        let mut out = Vec::new();
        let mut put = |tag: u8, k: &str, v: &str| {
            out.push(tag);
            for s in [k, v] {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        };
        for (k, v) in headers {
            put(HEADER, k, v);
        }
        for (k, v) in query {
            put(QUERY, k, v);
        }
        if let Some(a) = address {
            put(ADDRESS, a, "");
        }
        PackedHandshake(out.into_boxed_slice())
    }

    /// The handshake (without auth).
    pub(crate) fn unpack(&self) -> Handshake {
        let mut hs = Handshake::new();
        let b = &self.0;
        let mut pos = 0;
        let take = |pos: &mut usize| -> &str {
            let len = u32::from_le_bytes([b[*pos], b[*pos + 1], b[*pos + 2], b[*pos + 3]]) as usize;
            let s = &b[*pos + 4..*pos + 4 + len];
            *pos += 4 + len;
            // Written from `&str` above.
            std::str::from_utf8(s).unwrap_or_default()
        };
        while pos < b.len() {
            let tag = b[pos];
            pos += 1;
            let k = take(&mut pos);
            let v = take(&mut pos);
            hs = match tag {
                HEADER => hs.header(k, v),
                QUERY => hs.query(k, v),
                _ => hs.address(k),
            };
        }
        hs
    }

    /// Bytes held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacks_to_the_same_handshake() {
        let headers = [("host", "127.0.0.1:3000"), ("User-Agent", "x/1 é"), ("empty", ""), ("host", "later wins")];
        let query = [("EIO", "4"), ("t", "a\0b=c"), ("", "")];
        let p = PackedHandshake::new(headers, query, Some("127.0.0.1:5555"));
        let mut want = Handshake::new();
        for (k, v) in headers {
            want = want.header(k, v);
        }
        for (k, v) in query {
            want = want.query(k, v);
        }
        want = want.address("127.0.0.1:5555");
        assert_eq!(p.unpack(), want);
        assert_eq!(p.unpack().header_value("host"), Some("later wins"));
        let p = PackedHandshake::new([], [], None);
        assert_eq!(p.unpack(), Handshake::new());
        assert_eq!(p.len(), 0);
    }
}
