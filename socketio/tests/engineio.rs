//! The public Engine.IO layer on its own, driven over polling by hand: a
//! host's handler sees the open (with the request's query), text and
//! binary messages and the close with its reason; what it sends arrives
//! in order; a server-side close reaches the client as a close packet.
//! (The official `engine.io-client` drives the same layer over WebSocket,
//! polling and upgrade in `scripts/test-socketio.sh`.)

mod common;

use std::sync::Arc;

use base64::Engine as _;
use common::{eventually, http, packets};
use parking_lot::Mutex;
use roomcast::{DisconnectReason, Handshake};
use roomcast_socketio::engineio::{EioHandler, EioMessage, EioSession, EngineIoServer};

#[derive(Default)]
struct Seen {
    events: Mutex<Vec<String>>,
}

struct Recorder(Arc<Seen>);

impl EioHandler for Recorder {
    fn on_open(&self, _s: &EioSession, hs: &Handshake) {
        self.0.events.lock().push(format!("open q={}", hs.query_value("q").unwrap_or_default()));
    }

    fn on_message(&self, s: &EioSession, m: EioMessage) {
        match m {
            EioMessage::Text(t) if t == "bye" => {
                self.0.events.lock().push("text bye".into());
                s.close();
            }
            EioMessage::Text(t) => {
                self.0.events.lock().push(format!("text {t}"));
                s.send_text(format!("echo {t}")).unwrap();
                s.send_text("second").unwrap();
            }
            EioMessage::Binary(b) => {
                self.0.events.lock().push(format!("binary {:?}", &b[..]));
                s.send_binary(b).unwrap();
            }
        }
    }

    fn on_close(&self, _s: &EioSession, reason: DisconnectReason) {
        self.0.events.lock().push(format!("close {}", reason.as_str()));
    }
}

fn path(sid: &str) -> String {
    format!("/engine.io/?EIO=4&transport=polling&sid={sid}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engineio_layer_open_messages_and_close_over_polling() {
    let seen = Arc::new(Seen::default());
    let srv = EngineIoServer::new(Recorder(seen.clone())).bind("127.0.0.1:0").await.unwrap();
    let addr = srv.local_addr();

    let open = http(addr, "GET", "/engine.io/?EIO=4&transport=polling&q=42", b"", &[]).await;
    assert_eq!(open.status, 200);
    let text = open.text();
    assert!(text.starts_with('0'), "{text}");
    let hs: serde_json::Value = serde_json::from_str(&text[1..]).unwrap();
    let sid = hs["sid"].as_str().unwrap().to_string();
    assert_eq!(hs["upgrades"], serde_json::json!(["websocket"]));

    // Text: the handler sees it, its two sends arrive in order.
    assert_eq!(http(addr, "POST", &path(&sid), b"4hello", &[]).await.status, 200);
    let got = packets(&http(addr, "GET", &path(&sid), b"", &[]).await.body);
    assert_eq!(got, ["4echo hello", "4second"]);

    // Binary over polling is base64 with a `b` prefix, both ways.
    let b64 = base64::engine::general_purpose::STANDARD.encode([1u8, 2, 255]);
    assert_eq!(http(addr, "POST", &path(&sid), format!("b{b64}").as_bytes(), &[]).await.status, 200);
    let got = packets(&http(addr, "GET", &path(&sid), b"", &[]).await.body);
    assert_eq!(got, [format!("b{b64}")]);

    // A server-side close: the client's next GET gets the close packet.
    assert_eq!(http(addr, "POST", &path(&sid), b"4bye", &[]).await.status, 200);
    let got = packets(&http(addr, "GET", &path(&sid), b"", &[]).await.body);
    assert_eq!(got, ["1"]);
    eventually(|| seen.events.lock().iter().any(|e| e.starts_with("close"))).await;
    assert_eq!(
        *seen.events.lock(),
        ["open q=42", "text hello", "binary [1, 2, 255]", "text bye", "close forced server close"]
    );
    // The session is gone.
    assert_eq!(http(addr, "GET", &path(&sid), b"", &[]).await.status, 400);
}

/// A client close packet ends the session with `transport close`, and the
/// handler hears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engineio_layer_client_close() {
    let seen = Arc::new(Seen::default());
    let srv = EngineIoServer::new(Recorder(seen.clone())).bind("127.0.0.1:0").await.unwrap();
    let addr = srv.local_addr();
    let open = http(addr, "GET", "/engine.io/?EIO=4&transport=polling", b"", &[]).await;
    let hs: serde_json::Value = serde_json::from_str(&open.text()[1..]).unwrap();
    let sid = hs["sid"].as_str().unwrap().to_string();
    assert_eq!(http(addr, "POST", &path(&sid), b"1", &[]).await.status, 200);
    eventually(|| seen.events.lock().iter().any(|e| e.starts_with("close"))).await;
    let events = seen.events.lock().clone();
    assert_eq!(events.last().map(String::as_str), Some("close transport close"), "{events:?}");
}
