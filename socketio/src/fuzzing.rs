//! The crate's internal parsers of network bytes, reachable from outside
//! for the fuzz targets in `fuzz/` and the decoder benchmark (feature
//! `fuzzing`). Not a stable API. The public parsers ([`crate::eio`],
//! [`crate::sio`]) are fuzzed through their own API.

use std::collections::HashMap;

use crate::ws;

/// The server's WebSocket frame decoder.
#[derive(Debug, Default)]
pub struct WsDecoder(ws::Decoder);

/// What [`WsDecoder::feed`] decoded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Complete messages (text and binary).
    pub messages: usize,
    /// Their payload bytes.
    pub bytes: usize,
    /// Pings and close frames.
    pub control: usize,
}

impl WsDecoder {
    /// A decoder holding nothing.
    pub fn new() -> WsDecoder {
        WsDecoder::default()
    }

    /// Decodes `data` after what is held; `Err` is the close code of a
    /// protocol violation.
    pub fn feed(&mut self, data: &[u8], max_payload: usize) -> Result<Decoded, u16> {
        let mut d = Decoded::default();
        self.0.feed(data, max_payload, |ev| {
            match ev {
                ws::Event::Text(t) => {
                    d.messages += 1;
                    d.bytes += t.len();
                }
                ws::Event::Binary(b) => {
                    d.messages += 1;
                    d.bytes += b.len();
                }
                ws::Event::Ping(_) | ws::Event::Close(_) => d.control += 1,
            }
            true
        })?;
        Ok(d)
    }

    /// Heap bytes the decoder holds (partial frame and message capacity).
    pub fn held(&self) -> usize {
        self.0.held()
    }
}

/// A masked client frame (`opcode` 1 text, 2 binary, 0 continuation, 8
/// close, 9 ping, 10 pong).
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    ws::client_frame(fin, opcode, payload, mask)
}

/// Decodes a query string as the HTTP handler does.
pub fn query(q: &str) -> HashMap<String, String> {
    crate::query::parse(q)
}

/// A WebSocket echo host on the crate's WebSocket layer (for the Autobahn
/// test suite): every message comes back as sent, pings get pongs, a close
/// frame is answered with its code, a violation closes with its code.
pub async fn ws_echo(listener: tokio::net::TcpListener, max_payload: usize) -> std::io::Result<()> {
    use axum::extract::Request;
    use axum::http::{header, HeaderValue, StatusCode};
    use axum::response::Response;

    async fn upgrade(mut req: Request, max: usize) -> Response {
        let key = req.headers().get(header::SEC_WEBSOCKET_KEY).map(|k| ws::accept_key(k.as_bytes()));
        let (Some(accept), Some(on)) = (key, req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>()) else {
            let mut r = Response::new(axum::body::Body::from("WebSocket only"));
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return r;
        };
        tokio::spawn(async move {
            if let Ok(up) = on.await {
                echo(ws::Conn::from_upgraded(up, max)).await;
            }
        });
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(v) = HeaderValue::from_str(&accept) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        r
    }

    let app = axum::Router::new().fallback(move |req: Request| upgrade(req, max_payload));
    axum::serve(listener, app).await
}

async fn echo(mut conn: ws::Conn) {
    loop {
        let events = match conn.read().await {
            ws::ReadOutcome::Events(e) => e,
            ws::ReadOutcome::Violation(code) => return conn.close(Some(code)).await,
            ws::ReadOutcome::Eof | ws::ReadOutcome::Failed => return,
        };
        let mut out = Vec::new();
        let mut close = None;
        for ev in events {
            match ev {
                ws::Event::Text(t) => ws::text_frame(&mut out, t.as_bytes()),
                ws::Event::Binary(b) => ws::binary_frame(&mut out, &b),
                ws::Event::Ping(p) => ws::pong_frame(&mut out, &p),
                ws::Event::Close(code) => {
                    close = Some(code);
                    break;
                }
            }
        }
        if !out.is_empty() && conn.write_all(&out).await.is_err() {
            return;
        }
        if let Some(code) = close {
            return conn.close(code).await;
        }
    }
}
