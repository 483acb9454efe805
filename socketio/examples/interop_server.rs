//! The server the Socket.IO interop suites (official Node and Python
//! clients, `scripts/test-socketio.sh`) run against.
//!
//! `cargo run -p roomcast-socketio --example interop_server [PORT]` prints
//! `listening on 127.0.0.1:PORT` once it accepts connections (PORT 0, the
//! default, picks a free one).
//!
//! Namespace `/`:
//! * `echo` — answers the ack with the arguments, or emits `echo` back;
//! * `join` (room) — joins the room, acks `"joined"`;
//! * `to room` ({room, msg}) — sends `room message` to the room except the sender;
//! * `binary` — emits `binary` back with the payload as one binary buffer;
//! * `ask` (text) — emits `question` with an ack to the client (1 s timeout)
//!   and answers `ask`'s ack with the client's reply or `"timeout"`;
//! * `disconnect me` — the server disconnects the socket;
//! * `reasons` — acks the list of `"<socket id> <reason>"` disconnects seen.
//!
//! Namespace `/admin`: middleware requires auth `{"token":"s3cret"}`, else
//! refuses with message `not authorized` and data `{"reason":"bad token"}`.
//!
//! Namespaces `/recover` (sockets kept 5 s) and `/recover-short` (300 ms),
//! with connection state recovery:
//! * `join` (room) — joins the room, acks `"joined"`;
//! * `set` (text) — stores it as the socket's data, acks `"set"`;
//! * `push` ({room, from, n}) — emits `m` with `from`, `from + 1`, ... (n
//!   numbers) to the room, then acks `"pushed"`;
//! * `whoami` — acks `{"id", "rooms", "data", "recovered"}`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use roomcast::{Config, ConnectError, Engine, Payload, RecoveryConfig};
use roomcast_socketio::SocketIoServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args().nth(1).map(|p| p.parse()).transpose()?.unwrap_or(0);
    let engine = Engine::new(Config::default());
    let reasons: Arc<Mutex<Vec<String>>> = Arc::default();

    let root = engine.of("/")?;
    root.on("echo", |socket, ev, ack| {
        match ack {
            Some(ack) => ack.send(ev.payload().clone())?,
            None => {
                socket.emit("echo", ev.payload().clone())?;
            }
        }
        Ok(())
    })?;
    root.on("join", |socket, ev, ack| {
        socket.join(ev.payload().as_str().unwrap_or("lobby"))?;
        if let Some(ack) = ack {
            ack.send("joined")?;
        }
        Ok(())
    })?;
    root.on("to room", |socket, ev, _| {
        let v: serde_json::Value = ev.payload().to_json()?;
        let room = v["room"].as_str().unwrap_or("lobby");
        socket.to(room).emit("room message", Payload::from(&v["msg"]))?;
        Ok(())
    })?;
    root.on("binary", |socket, ev, _| {
        socket.emit("binary", Payload::binary(ev.payload().bytes().clone()))?;
        Ok(())
    })?;
    root.on("ask", |socket, ev, ack| {
        let replies = socket.emit_with_ack_timeout("question", ev.payload().clone(), Duration::from_secs(1))?;
        tokio::spawn(async move {
            let answer = match replies.await.into_iter().next().map(|r| r.result) {
                Some(Ok(p)) => p,
                _ => Payload::text("timeout"),
            };
            if let Some(ack) = ack {
                let _ = ack.send(answer);
            }
        });
        Ok(())
    })?;
    root.on("disconnect me", |socket, _, _| {
        socket.disconnect();
        Ok(())
    })?;
    let seen = reasons.clone();
    root.on("reasons", move |_, _, ack| {
        if let Some(ack) = ack {
            ack.send(Payload::json(&*seen.lock())?)?;
        }
        Ok(())
    })?;
    let seen = reasons.clone();
    root.on_disconnect(move |socket, reason| seen.lock().push(format!("{} {}", socket.id(), reason)));

    let admin = engine.of("/admin")?;
    admin.use_middleware(|hs| {
        let token = hs.auth_payload().and_then(|p| p.to_json::<serde_json::Value>().ok());
        match token {
            Some(v) if v["token"] == "s3cret" => Ok(()),
            _ => Err(ConnectError::new("not authorized")
                .with_data(Payload::from(serde_json::json!({"reason": "bad token"})))),
        }
    });
    admin.on("echo", |_, ev, ack| {
        if let Some(ack) = ack {
            ack.send(ev.payload().clone())?;
        }
        Ok(())
    })?;

    for (name, window) in [("/recover", 5000), ("/recover-short", 300)] {
        recovering(&engine, name, Duration::from_millis(window))?;
    }

    let server = SocketIoServer::new(engine)
        .ping(Duration::from_millis(500), Duration::from_millis(400))
        .connect_timeout(Duration::from_secs(5))
        .bind(("127.0.0.1", port))
        .await?;
    println!("listening on {}", server.local_addr());
    server.wait().await?;
    Ok(())
}

/// A namespace with connection state recovery (see the module docs).
fn recovering(engine: &Engine, name: &str, window: Duration) -> Result<(), Box<dyn std::error::Error>> {
    let ns = engine.of(name)?;
    ns.set_recovery(Some(RecoveryConfig::new().max_disconnection_duration(window)))?;
    ns.on("join", |socket, ev, ack| {
        socket.join(ev.payload().as_str().unwrap_or("lobby"))?;
        if let Some(ack) = ack {
            ack.send("joined")?;
        }
        Ok(())
    })?;
    ns.on("set", |socket, ev, ack| {
        socket.set_data(ev.payload().clone());
        if let Some(ack) = ack {
            ack.send("set")?;
        }
        Ok(())
    })?;
    ns.on("push", |socket, ev, ack| {
        let v: serde_json::Value = ev.payload().to_json()?;
        let room = v["room"].as_str().unwrap_or("lobby");
        let from = v["from"].as_u64().unwrap_or(0);
        for n in from..from + v["n"].as_u64().unwrap_or(1) {
            socket.namespace().to(room).emit("m", Payload::from(&serde_json::json!(n)))?;
        }
        if let Some(ack) = ack {
            ack.send("pushed")?;
        }
        Ok(())
    })?;
    ns.on("whoami", |socket, _, ack| {
        if let Some(ack) = ack {
            let data = socket.data().and_then(|d| d.as_str().map(str::to_owned));
            let who = serde_json::json!({
                "id": socket.id(), "rooms": socket.rooms(), "data": data, "recovered": socket.recovered(),
            });
            ack.send(Payload::from(&who))?;
        }
        Ok(())
    })?;
    Ok(())
}
