//! Which browser origins may reach the server: the `Origin` check and the
//! CORS response headers.

use axum::http::{header, HeaderMap, HeaderValue};

/// Which browser origins may reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// Every origin: the request's `Origin` is echoed with credentials allowed.
    Any,
    /// Only these origins (e.g. `"https://example.com"`). Requests whose
    /// `Origin` header is another origin are refused with Engine.IO error
    /// 4 `Forbidden` on both transports; requests without `Origin`
    /// (non-browser clients) are served.
    Origins(Vec<String>),
    /// No CORS headers at all (same-origin pages and non-browser clients).
    Disabled,
}

impl Cors {
    /// Every origin.
    pub fn any() -> Cors {
        Cors::Any
    }

    /// Only the given origins.
    pub fn origins<I, S>(origins: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cors::Origins(origins.into_iter().map(Into::into).collect())
    }

    /// No CORS headers.
    pub fn disabled() -> Cors {
        Cors::Disabled
    }

    /// Whether a request with this `Origin` may proceed.
    pub(crate) fn allows(&self, origin: Option<&str>) -> bool {
        match (self, origin) {
            (Cors::Origins(list), Some(o)) => list.iter().any(|a| a == o),
            _ => true,
        }
    }

    /// The CORS headers for a response to a request from `origin`.
    pub(crate) fn apply(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        let Some(origin) = origin else { return };
        let ok = match self {
            Cors::Any => true,
            Cors::Origins(list) => origin.to_str().is_ok_and(|o| list.iter().any(|a| a == o)),
            Cors::Disabled => false,
        };
        if ok {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}
