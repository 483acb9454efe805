//! WebSocket: the opening handshake (RFC 6455) and the upgrade of a
//! polling session (probe, noop for the pending GET, upgrade packet).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, request::Parts, HeaderValue, Method, Response, StatusCode};

use crate::session::{Layer, Session};
use crate::ws::{self, Event};

/// A valid WebSocket opening request, answered by [`on_upgrade`](WsUpgrade::on_upgrade).
pub(super) struct WsUpgrade {
    on: hyper::upgrade::OnUpgrade,
    accept: HeaderValue,
    max_payload: usize,
    /// The connection's place under the connection cap, held while the
    /// WebSocket lives (the HTTP connection task ends at the upgrade).
    permit: Option<crate::accept::ConnPermit>,
}

impl WsUpgrade {
    /// Checks the opening handshake (RFC 6455 4.2.1); `None` if invalid.
    pub(super) fn from_parts(parts: &mut Parts, max_payload: usize) -> Option<WsUpgrade> {
        let h = &parts.headers;
        let has_token = |name: header::HeaderName, token: &str| {
            h.get_all(name)
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))))
        };
        if parts.method != Method::GET
            || !has_token(header::CONNECTION, "upgrade")
            || !has_token(header::UPGRADE, "websocket")
            || h.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13")
        {
            return None;
        }
        let key = h.get(header::SEC_WEBSOCKET_KEY)?;
        let accept = HeaderValue::from_str(&ws::accept_key(key.as_bytes())).ok()?;
        let on = parts.extensions.remove::<hyper::upgrade::OnUpgrade>()?;
        let permit = parts.extensions.get::<crate::accept::ConnPermit>().cloned();
        Some(WsUpgrade { on, accept, max_payload, permit })
    }

    /// The 101 response; `f` runs on the WebSocket in a new task once the
    /// connection is handed over.
    pub(super) fn on_upgrade<F, Fut>(self, f: F) -> Response<Body>
    where
        F: FnOnce(ws::Conn) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let WsUpgrade { on, accept, max_payload, permit } = self;
        tokio::spawn(async move {
            if let Ok(upgraded) = on.await {
                f(ws::Conn::from_upgraded(upgraded, max_payload)).await;
            }
            drop(permit);
        });
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        r
    }
}

/// The WebSocket side of an upgrade: probe ping/pong, a noop for the
/// pending GET, then the upgrade packet moves the session to WebSocket
/// (with what was read after it).
pub(super) async fn upgrade_ws<L: Layer>(sess: Arc<Session<L>>, mut conn: ws::Conn, timeout: Duration) {
    let probe = async {
        let mut probed = false;
        loop {
            let ws::ReadOutcome::Events(events) = conn.read().await else { return None };
            let mut it = events.into_iter();
            while let Some(ev) = it.next() {
                let mut reply = Vec::new();
                let mut noop = false;
                match ev {
                    Event::Text(t) => match (t.as_str(), probed) {
                        ("2probe", false) => {
                            ws::text_frame(&mut reply, b"3probe");
                            probed = true;
                            noop = true;
                        }
                        ("5", true) => return Some(it.collect::<Vec<_>>()),
                        _ => return None,
                    },
                    Event::Ping(p) => ws::pong_frame(&mut reply, &p),
                    Event::Binary(_) => {}
                    Event::Close(_) => return None,
                }
                if !reply.is_empty() {
                    if conn.write_all(&reply).await.is_err() {
                        return None;
                    }
                    if noop {
                        sess.push_noop();
                    }
                }
            }
        }
    };
    // The upgrade ends with its session (closed, or its task gone).
    let ended = async {
        loop {
            let notified = sess.poll_notify.notified();
            if sess.is_over() {
                return;
            }
            notified.await;
        }
    };
    let outcome = tokio::select! {
        r = tokio::time::timeout(timeout, probe) => r.ok().flatten(),
        () = ended => None,
    };
    match outcome {
        Some(rest) => sess.upgrade(conn, rest),
        None => {
            // A failed upgrade leaves the session on polling.
            sess.upgrading.store(false, std::sync::atomic::Ordering::Release);
            let _ = tokio::time::timeout(timeout, conn.close(None)).await;
        }
    }
}
