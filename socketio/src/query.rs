//! The query string of an Engine.IO request (`EIO`, `transport`, `sid`
//! and the application's own parameters), decoded as browsers encode it:
//! `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte).
//!
//! Lenient like the reference server: a `%` not followed by two hex digits
//! stays as it is, bytes that are not UTF-8 become U+FFFD, a later
//! parameter replaces an earlier one of the same name. The result is never
//! larger than the input (the HTTP server bounds the request line).

use std::collections::HashMap;

/// Decodes a query string (without the `?`) into its parameters.
pub(crate) fn parse(query: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(decode_component(k), decode_component(v));
    }
    out
}

/// Decodes one name or value.
pub(crate) fn decode_component(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match hex(b[i + 1]).zip(hex(b[i + 2])) {
                Some((hi, lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}
