//! An Engine.IO echo server on loopback, for the official `engine.io-client`
//! interop tests (`scripts/test-socketio.sh`).
//!
//! ```text
//! eio_echo [PORT]   (0 or none: a free port; prints "listening on ADDR")
//! ```
//!
//! Every text or binary message comes back as it came. The text
//! `"close me"` closes the session from the server side; `"upgraded?"`
//! is answered with `"upgraded"` once the session moved to WebSocket
//! (`"polling"` before); `"query"` with the handshake's `q` query value.
//! The heartbeat is short (a ping every 500 ms, 1 s timeout).

use std::collections::HashSet;
use std::time::Duration;

use parking_lot::Mutex;
use roomcast::{DisconnectReason, Handshake};
use roomcast_socketio::engineio::{EioHandler, EioMessage, EioSession, EngineIoServer};

#[derive(Default)]
struct Echo {
    upgraded: Mutex<HashSet<String>>,
}

impl EioHandler for Echo {
    fn on_open(&self, session: &EioSession, handshake: &Handshake) {
        eprintln!("open {} from {:?}", session.id(), handshake.remote_address());
    }

    fn on_message(&self, session: &EioSession, message: EioMessage) {
        let reply = match message {
            EioMessage::Text(t) if t == "close me" => {
                session.close();
                return;
            }
            EioMessage::Text(t) if t == "upgraded?" => {
                let up = self.upgraded.lock().contains(session.id());
                EioMessage::Text(if up { "upgraded" } else { "polling" }.into())
            }
            EioMessage::Text(t) if t == "query" => {
                EioMessage::Text(session.handshake().query_value("q").unwrap_or_default().to_string())
            }
            m => m,
        };
        let _ = session.send(reply);
    }

    fn on_upgrade(&self, session: &EioSession) {
        self.upgraded.lock().insert(session.id().to_string());
    }

    fn on_close(&self, session: &EioSession, reason: DisconnectReason) {
        self.upgraded.lock().remove(session.id());
        eprintln!("close {} ({})", session.id(), reason.as_str());
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // A short heartbeat, so the tests see pings answered within seconds.
    let server = EngineIoServer::new(Echo::default())
        .ping(Duration::from_millis(500), Duration::from_millis(1000))
        .bind(("127.0.0.1", port))
        .await?;
    println!("listening on {}", server.local_addr());
    server.wait().await
}
