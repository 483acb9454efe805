//! The query string of an Engine.IO request (`EIO`, `transport`, `sid`
//! and the application's own parameters), decoded as browsers encode it:
//! `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte).
//!
//! Lenient like the reference server: a `%` not followed by two hex digits
//! stays as it is, bytes that are not UTF-8 become U+FFFD, a later
//! parameter replaces an earlier one of the same name. The result is never
//! larger than the input (the HTTP server bounds the request line).

use std::collections::HashMap;

/// Decodes a query string (without the `?`) into its parameters, through
/// `form_urlencoded` (the WHATWG URL standard's parser).
pub(crate) fn parse(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}
