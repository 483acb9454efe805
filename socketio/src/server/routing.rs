//! The HTTP entry point: routes the server's path, answers CORS
//! preflights and the Engine.IO HTTP errors, opens sessions (polling or
//! WebSocket) and hands requests for a session to the polling or upgrade
//! side.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, request::Parts, HeaderValue, Method, Response, StatusCode};
use axum::Router;
use roomcast::Handshake;

use crate::eio::HttpError;
use crate::server::polling::{poll_get, poll_post};
use crate::server::upgrade::{upgrade_ws, WsUpgrade};
use crate::server::{Cors, Shared};
use crate::session::{Layer, Session};

/// The router serving the server's path, with and without its trailing `/`.
pub(crate) fn router<L: Layer>(shared: Arc<Shared<L>>) -> Router {
    let path = shared.opts.path.clone();
    let trimmed = path.trim_end_matches('/').to_string();
    let s2 = shared.clone();
    let r = Router::new().route(&path, axum::routing::any(move |req: Request| handle(shared.clone(), req)));
    if trimmed.is_empty() {
        r
    } else {
        r.route(&trimmed, axum::routing::any(move |req: Request| handle(s2.clone(), req)))
    }
}

/// How responses to one request are made: with the CORS headers its
/// `Origin` gets.
#[derive(Clone, Copy)]
pub(super) struct Reply<'a> {
    cors: &'a Cors,
    origin: Option<&'a HeaderValue>,
}

impl Reply<'_> {
    /// An Engine.IO HTTP error (its status and JSON body).
    pub(super) fn error(self, e: HttpError) -> Response<Body> {
        let mut r = Response::new(Body::from(e.body()));
        *r.status_mut() = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.cors.apply(self.origin, r.headers_mut());
        r
    }

    /// An error with an Engine.IO-style JSON body (`code` 3, bad request)
    /// and another HTTP status.
    pub(super) fn limit(self, status: StatusCode, message: &str) -> Response<Body> {
        let mut r = self.error(HttpError::BadRequest);
        *r.status_mut() = status;
        *r.body_mut() = Body::from(format!(r#"{{"code":3,"message":{}}}"#, serde_json::Value::from(message)));
        r
    }

    /// A bad request answered with HTTP 413 (a body or packet over `max_payload`).
    pub(super) fn too_large(self) -> Response<Body> {
        let mut r = self.error(HttpError::BadRequest);
        *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        r
    }

    /// A plain-text response.
    pub(super) fn text(self, status: StatusCode, body: impl Into<Body>) -> Response<Body> {
        let mut r = Response::new(body.into());
        *r.status_mut() = status;
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=UTF-8"));
        self.cors.apply(self.origin, r.headers_mut());
        r
    }
}

/// The handshake of a new session's opening request (headers, query and
/// address), built once and shared by every CONNECT of the session; `None`
/// when its names and values exceed `max` bytes.
fn base_handshake(parts: &Parts, q: &HashMap<String, String>, max: usize) -> Option<Box<Handshake>> {
    let headers = parts.headers.iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
    let size: usize = parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum::<usize>()
        + q.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    if size > max {
        return None;
    }
    let mut hs = Handshake::new();
    for (k, v) in headers {
        hs = hs.header(k, v);
    }
    for (k, v) in q {
        hs = hs.query(k.as_str(), v.as_str());
    }
    if let Some(ConnectInfo(a)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        hs = hs.address(a.to_string());
    }
    Some(Box::new(hs))
}

/// Every request to the server's path: the `Origin` check, a CORS
/// preflight, the Engine.IO query (`transport`, `EIO`), then a new session
/// (no `sid`) or a request of a live one.
async fn handle<L: Layer>(shared: Arc<Shared<L>>, req: Request) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    let cors = &shared.opts.cors;
    let origin = parts.headers.get(header::ORIGIN).cloned();
    let reply = Reply { cors, origin: origin.as_ref() };
    if !cors.allows(reply.origin.and_then(|o| o.to_str().ok())) {
        return reply.error(HttpError::Forbidden);
    }
    if parts.method == Method::OPTIONS {
        let mut r = reply.text(StatusCode::NO_CONTENT, Body::empty());
        if *cors != Cors::Disabled {
            let h = r.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET,POST,OPTIONS"));
            if let Some(req_h) = parts.headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, req_h.clone());
            }
        }
        return r;
    }
    let q = crate::query::parse(parts.uri.query().unwrap_or(""));
    let is_ws = match q.get("transport").map(String::as_str) {
        Some("polling") => false,
        Some("websocket") => true,
        _ => return reply.error(HttpError::TransportUnknown),
    };
    if q.get("EIO").map(String::as_str) != Some("4") {
        return reply.error(HttpError::UnsupportedProtocolVersion);
    }
    let upgrade = if is_ws {
        match WsUpgrade::from_parts(&mut parts, shared.opts.max_payload) {
            Some(u) => Some(u),
            None => return reply.error(HttpError::BadRequest),
        }
    } else {
        None
    };
    match q.get("sid") {
        None => open_session(&shared, &parts, &q, upgrade, reply).await,
        Some(sid) => {
            let Some(sess) = shared.session(sid) else {
                return reply.error(HttpError::SessionIdUnknown);
            };
            match upgrade {
                Some(u) => upgrade_session(sess, u, &shared),
                None if parts.method == Method::GET => poll_get(&sess, reply).await,
                None if parts.method == Method::POST => poll_post(&sess, body, reply).await,
                None => reply.error(HttpError::BadRequest),
            }
        }
    }
}

/// A request without `sid`: the handshake of a new session, over polling
/// (answered with the open packet) or WebSocket, within the server's
/// request filter and bounds.
async fn open_session<L: Layer>(
    shared: &Arc<Shared<L>>,
    parts: &Parts,
    q: &HashMap<String, String>,
    upgrade: Option<WsUpgrade>,
    reply: Reply<'_>,
) -> Response<Body> {
    let opts = &shared.opts;
    if parts.method != Method::GET {
        return reply.error(HttpError::BadHandshakeMethod);
    }
    if let Some(f) = &opts.allow_request {
        if !f(parts) {
            return reply.error(HttpError::Forbidden);
        }
    }
    if shared.sessions.lock().len() >= opts.max_sessions {
        return reply.limit(StatusCode::SERVICE_UNAVAILABLE, "Too many sessions");
    }
    let Some(base) = base_handshake(parts, q, opts.max_handshake_bytes) else {
        return reply.limit(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "Handshake headers too large");
    };
    match upgrade {
        Some(u) => {
            let shared = shared.clone();
            u.on_upgrade(move |conn| Session::run_websocket(shared, base, conn))
        }
        None => {
            let sess = Session::start_polling(shared.clone(), base);
            poll_get(&sess, reply).await
        }
    }
}

/// A WebSocket for a live session: its upgrade from polling.
fn upgrade_session<L: Layer>(sess: Arc<Session<L>>, u: WsUpgrade, shared: &Shared<L>) -> Response<Body> {
    if sess.upgrading.swap(true, Ordering::AcqRel) {
        // Already on (or moving to) WebSocket: the spec has the
        // server accept and close this one; the session lives on.
        let limit = shared.opts.ping_timeout;
        return u.on_upgrade(move |mut conn| async move {
            let _ = tokio::time::timeout(limit, conn.close(None)).await;
        });
    }
    let timeout = shared.opts.upgrade_timeout;
    u.on_upgrade(move |conn| upgrade_ws(sess, conn, timeout))
}
