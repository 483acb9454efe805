//! End-to-end tests against a real server on 127.0.0.1:0 with raw Engine.IO
//! clients (WebSocket and HTTP long-polling).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use parking_lot::Mutex;
use roomcast::{Config, ConnectError, DisconnectReason, Engine, Payload};
use roomcast_socketio::{Bound, Cors, SocketIoServer};

/// An engine with the handlers the tests use.
fn engine() -> Engine {
    let engine = echo_engine(Config::default());
    let root = engine.of("/").unwrap();
    root.on("join", |socket, ev, ack| {
        socket.join(ev.payload().as_str().unwrap_or("r"))?;
        if let Some(ack) = ack {
            ack.send("joined")?;
        }
        Ok(())
    })
    .unwrap();
    root.on("to room", |socket, ev, _| {
        socket.to("r").emit("room message", ev.payload().clone())?;
        Ok(())
    })
    .unwrap();
    root.on("kick me", |socket, _, _| {
        socket.disconnect();
        Ok(())
    })
    .unwrap();
    let admin = engine.of("/admin").unwrap();
    admin.use_middleware(|hs| match hs.auth_payload().and_then(|p| p.to_json::<serde_json::Value>().ok()) {
        Some(v) if v["token"] == "s3cret" => Ok(()),
        _ => Err(ConnectError::new("not authorized").with_data(Payload::from(serde_json::json!({"code": 42})))),
    });
    admin.on_connection(|socket| {
        socket.emit("welcome", "admin")?;
        Ok(())
    });
    admin
        .on("echo", |socket, ev, _| {
            socket.emit("admin echo", ev.payload().clone())?;
            Ok(())
        })
        .unwrap();
    engine
}

async fn server(engine: Engine, f: impl FnOnce(SocketIoServer) -> SocketIoServer) -> Bound {
    f(SocketIoServer::new(engine)).bind("127.0.0.1:0").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_handshake_event_and_ack() {
    let srv = server(engine(), |s| s.ping(Duration::from_millis(300), Duration::from_millis(200))).await;
    let (mut c, open) = Client::open(srv.local_addr()).await;
    assert_eq!(open["upgrades"], serde_json::json!([]));
    assert_eq!(open["pingInterval"], 300);
    assert_eq!(open["pingTimeout"], 200);
    assert_eq!(open["maxPayload"], 1_000_000);
    // Core's id generator: 20 URL-safe characters, 120 random bits.
    assert_eq!(open["sid"].as_str().unwrap().len(), 20);
    c.send("40").await;
    let reply = c.recv_text().await;
    assert!(reply.starts_with("40{\"sid\":\""), "{reply}");
    c.send(r#"42["echo",{"a":[1,2]}]"#).await;
    assert_eq!(c.recv_text().await, r#"42["echo",{"a":[1,2]}]"#);
    c.send(r#"4217["echo","x"]"#).await;
    assert_eq!(c.recv_text().await, r#"4317["x"]"#);
    // Several arguments round-trip exactly through the payload envelope.
    c.send(r#"42["echo",1,"two",[3]]"#).await;
    assert_eq!(c.recv_text().await, r#"42["echo",1,"two",[3]]"#);
    c.send(r#"425["echo"]"#).await;
    assert_eq!(c.recv_text().await, r#"435[]"#);
    // Heartbeat answered for a while: still connected.
    c.expect_silence(Duration::from_millis(900)).await;
    assert_eq!(srv.session_count(), 1);
    c.send("41").await; // client namespace disconnect
    c.send("1").await; // engine close
    eventually(|| srv.session_count() == 0).await;
    srv.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_handshake_and_batched_responses() {
    let srv = server(engine(), |s| s).await;
    let addr = srv.local_addr();
    let (sid, open) = poll_open(addr).await;
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(poll_post(addr, &sid, "40").await.text(), "ok");
    let got = poll_get(addr, &sid).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("40{\"sid\""), "{got:?}");
    // Three packets in one POST; all replies in one GET.
    let r = poll_post(addr, &sid, "42[\"echo\",1]\u{1e}42[\"echo\",2]\u{1e}421[\"echo\",3]").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/"));
    let got = poll_get(addr, &sid).await;
    assert_eq!(got, vec![r#"42["echo",1]"#, r#"42["echo",2]"#, r#"431[3]"#]);
    // Binary over polling: 'b' + base64.
    poll_post(addr, &sid, "451-[\"echo\",{\"_placeholder\":true,\"num\":0}]\u{1e}bAAEC").await;
    let got = poll_get(addr, &sid).await;
    assert_eq!(got, vec![r#"451-["echo",{"_placeholder":true,"num":0}]"#, "bAAEC"]);
    // A GET waits for data: an event emitted later completes it.
    let engine = srv_engine_emit(addr, &sid);
    let got = tokio::join!(poll_get(addr, &sid), engine).0;
    assert_eq!(got, vec![r#"42["echo","later"]"#]);
    // Client close.
    poll_post(addr, &sid, "1").await;
    eventually(|| srv.session_count() == 0).await;
    let r = http(addr, "GET", &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"), b"", &[]).await;
    assert_eq!((r.status, r.json()), (400, serde_json::json!({"code":1,"message":"Session ID unknown"})));
}

/// Asks the server (through the session's own socket) to emit after a delay.
async fn srv_engine_emit(addr: std::net::SocketAddr, sid: &str) {
    tokio::time::sleep(Duration::from_millis(100)).await;
    poll_post(addr, sid, "42[\"echo\",\"later\"]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_from_polling_to_websocket() {
    let srv = server(engine(), |s| s).await;
    let addr = srv.local_addr();
    let (sid, _) = poll_open(addr).await;
    poll_post(addr, &sid, "40").await;
    assert!(poll_get(addr, &sid).await[0].starts_with("40"));
    // A GET is pending while the client probes the WebSocket.
    let pending = tokio::spawn({
        let sid = sid.clone();
        async move { poll_get(addr, &sid).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut ws = Client::connect(addr, Some(&sid)).await;
    ws.send("2probe").await;
    assert_eq!(ws.recv_text().await, "3probe");
    // The pending GET is released with a noop.
    assert_eq!(pending.await.unwrap(), vec!["6"]);
    ws.send("5").await;
    ws.send(r#"42["echo","over ws"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["echo","over ws"]"#);
    // Polling is over for this session: a transport mismatch, the session lives on.
    let r = http(addr, "GET", &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"), b"", &[]).await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (400, Some(3)));
    // A second upgrade is accepted and closed at once (see exact_2).
    let r = http(
        addr,
        "GET",
        &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
        b"",
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    )
    .await;
    assert_eq!(r.status, 101);
    ws.send(r#"42["echo","still here"]"#).await;
    assert_eq!(ws.recv_text().await, r#"42["echo","still here"]"#);
    assert_eq!(srv.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_keeps_messages_queued_for_polling() {
    let engine = engine();
    let srv = server(engine.clone(), |s| s).await;
    let addr = srv.local_addr();
    let (sid, _) = poll_open(addr).await;
    poll_post(addr, &sid, "40").await;
    assert!(poll_get(addr, &sid).await[0].starts_with("40"));
    let mut ws = Client::connect(addr, Some(&sid)).await;
    ws.send("2probe").await;
    assert_eq!(ws.recv_text().await, "3probe");
    // Emitted while no GET is pending: must arrive over the WebSocket.
    engine.of("/").unwrap().emit("queued", Payload::from(serde_json::json!(2))).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    ws.send("5").await;
    let mut got = Vec::new();
    while got.is_empty() {
        let t = ws.recv_text().await;
        if t != "6" {
            got.push(t);
        }
    }
    assert_eq!(got, vec![r#"42["queued",2]"#]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_timeout_closes_with_ping_timeout() {
    let engine = engine();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let r2 = reasons.clone();
    engine.of("/").unwrap().on_disconnect(move |_, reason| r2.lock().push(reason));
    let srv = server(engine, |s| s.ping(Duration::from_millis(100), Duration::from_millis(100))).await;
    let (mut c, _) = Client::joined(srv.local_addr(), &["/"]).await;
    // Answering pings keeps it alive past several intervals.
    c.expect_silence(Duration::from_millis(500)).await;
    assert_eq!(srv.session_count(), 1);
    c.auto_pong = false;
    c.expect_closed(Duration::from_secs(2)).await;
    eventually(|| srv.session_count() == 0).await;
    assert_eq!(*reasons.lock(), vec![DisconnectReason::PingTimeout]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_are_multiplexed_on_one_connection() {
    let engine = engine();
    let srv = server(engine.clone(), |s| s).await;
    let (mut c, _) = Client::open(srv.local_addr()).await;
    c.send("40").await;
    let root = c.recv_text().await;
    c.send(r#"40/admin,{"token":"s3cret"}"#).await;
    let admin = c.recv_text().await;
    assert!(root.starts_with("40{"), "{root}");
    assert!(admin.starts_with("40/admin,{\"sid\":"), "{admin}");
    // The connection handler's emit comes after the CONNECT reply.
    assert_eq!(c.recv_text().await, r#"42/admin,["welcome","admin"]"#);
    assert_eq!(engine.stats().connections, 1);
    assert_eq!(engine.of("/admin").unwrap().socket_count(), 1);
    c.send(r#"42/admin,["echo","x"]"#).await;
    assert_eq!(c.recv_text().await, r#"42/admin,["admin echo","x"]"#);
    c.send(r#"42["echo","y"]"#).await;
    assert_eq!(c.recv_text().await, r#"42["echo","y"]"#);
    // Leaving one namespace keeps the other.
    c.send("41/admin,").await;
    eventually(|| engine.of("/admin").unwrap().socket_count() == 0).await;
    c.send(r#"42["echo","z"]"#).await;
    assert_eq!(c.recv_text().await, r#"42["echo","z"]"#);
    // A server-side namespace disconnect is told to the client.
    c.send(r#"42["kick me"]"#).await;
    assert_eq!(c.recv_text().await, "41");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_refusal_and_invalid_namespace() {
    let srv = server(engine(), |s| s).await;
    let (mut c, _) = Client::open(srv.local_addr()).await;
    c.send(r#"40/admin,{"token":"wrong"}"#).await;
    let t = c.recv_text().await;
    let json: serde_json::Value = serde_json::from_str(t.strip_prefix("44/admin,").unwrap()).unwrap();
    assert_eq!(json, serde_json::json!({"message": "not authorized", "data": {"code": 42}}));
    c.send("40/nowhere,").await;
    assert_eq!(c.recv_text().await, r#"44/nowhere,{"message":"Invalid namespace"}"#);
    // The connection stays usable.
    c.send("40").await;
    assert!(c.recv_text().await.starts_with("40{"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_broadcast_excludes_the_sender() {
    let srv = server(engine(), |s| s).await;
    let addr = srv.local_addr();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (mut c, _) = Client::joined(addr, &["/"]).await;
        c.send(r#"421["join","r"]"#).await;
        assert_eq!(c.recv_text().await, r#"431["joined"]"#);
        clients.push(c);
    }
    let (mut outsider, _) = Client::joined(addr, &["/"]).await;
    clients[0].send(r#"42["to room",{"m":1}]"#).await;
    for c in &mut clients[1..] {
        assert_eq!(c.recv_text().await, r#"42["room message",{"m":1}]"#);
    }
    clients[0].expect_silence(Duration::from_millis(200)).await;
    outsider.expect_silence(Duration::from_millis(50)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_to_client_acks_resolve_and_time_out() {
    let engine = engine();
    let srv = server(engine.clone(), |s| s).await;
    let (mut c, ids) = Client::joined(srv.local_addr(), &["/"]).await;
    let socket = engine.of("/").unwrap().socket(&ids[0]).unwrap();
    let acks = socket.emit_with_ack_timeout("question", "?", Duration::from_secs(5)).unwrap();
    let t = c.recv_text().await;
    let id: u64 = t.strip_prefix("42").unwrap().split('[').next().unwrap().parse().unwrap();
    assert_eq!(t, format!(r#"42{id}["question","?"]"#));
    c.send(&format!(r#"43{id}["answer"]"#)).await;
    let reply = acks.await_one().await;
    assert_eq!(reply.unwrap().as_str(), Some("answer"));
    // No reply: the ack times out.
    let acks = socket.emit_with_ack_timeout("question", "?", Duration::from_millis(100)).unwrap();
    c.recv_text().await;
    assert!(acks.await_one().await.is_err());
    // A binary ack reply.
    let acks = socket.emit_with_ack_timeout("question", "bin?", Duration::from_secs(5)).unwrap();
    let t = c.recv_text().await;
    let id: u64 = t.strip_prefix("42").unwrap().split('[').next().unwrap().parse().unwrap();
    c.send(&format!(r#"461-{id}[{{"_placeholder":true,"num":0}}]"#)).await;
    c.send_binary(&[9, 8, 7]).await;
    let reply = acks.await_one().await.unwrap();
    assert_eq!(reply.as_bytes(), &[9, 8, 7]);
}

/// `AckStream` → one reply, awaited.
trait AwaitOne {
    async fn await_one(self) -> Result<Payload, roomcast::AckError>;
}

impl AwaitOne for roomcast::AckStream {
    async fn await_one(self) -> Result<Payload, roomcast::AckError> {
        tokio::task::spawn_blocking(move || self.wait_one()).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_events_both_ways() {
    let engine = engine();
    let srv = server(engine.clone(), |s| s).await;
    let (mut c, ids) = Client::joined(srv.local_addr(), &["/"]).await;
    // Client → server → client: one buffer, an empty buffer, nested buffers.
    c.send(r#"451-["echo",{"_placeholder":true,"num":0}]"#).await;
    c.send_binary(&[1, 2, 3]).await;
    assert_eq!(c.recv_text().await, r#"451-["echo",{"_placeholder":true,"num":0}]"#);
    assert_eq!(c.recv().await, Frame::Binary(vec![1, 2, 3]));
    c.send(r#"451-["echo",{"_placeholder":true,"num":0}]"#).await;
    c.send_binary(&[]).await;
    assert_eq!(c.recv_text().await, r#"451-["echo",{"_placeholder":true,"num":0}]"#);
    assert_eq!(c.recv().await, Frame::Binary(vec![]));
    let nested = r#"452-["echo",{"a":{"_placeholder":true,"num":0},"b":[{"_placeholder":true,"num":1}]},"t"]"#;
    c.send(nested).await;
    c.send_binary(b"xy").await;
    c.send_binary(b"z").await;
    assert_eq!(c.recv_text().await, nested);
    assert_eq!(c.recv().await, Frame::Binary(b"xy".to_vec()));
    assert_eq!(c.recv().await, Frame::Binary(b"z".to_vec()));
    // Server → client.
    let socket = engine.of("/").unwrap().socket(&ids[0]).unwrap();
    socket.emit("file", Payload::binary(vec![0xffu8, 0])).unwrap();
    assert_eq!(c.recv_text().await, r#"451-["file",{"_placeholder":true,"num":0}]"#);
    assert_eq!(c.recv().await, Frame::Binary(vec![0xff, 0]));
    // An attachment without a binary packet is a protocol violation.
    c.send_binary(&[1]).await;
    c.expect_closed(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_payload_is_enforced() {
    let srv = server(engine(), |s| s.max_payload(1000)).await;
    let addr = srv.local_addr();
    let (mut c, open) = Client::joined(addr, &["/"]).await;
    assert_eq!(open.len(), 1);
    let small = format!(r#"42["echo","{}"]"#, "a".repeat(900));
    c.send(&small).await;
    assert_eq!(c.recv_text().await, small);
    c.send(&format!(r#"42["echo","{}"]"#, "a".repeat(2000))).await;
    c.expect_closed(T).await;
    // Polling: a body over the limit is refused and the session closed.
    let (sid, v) = poll_open(addr).await;
    assert_eq!(v["maxPayload"], 1000);
    let r = poll_post(addr, &sid, &format!(r#"42["echo","{}"]"#, "a".repeat(2000))).await;
    assert_eq!(r.status, 413);
    let r = poll_post(addr, &sid, "40").await;
    assert_eq!(r.json()["code"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_engine_io_errors() {
    let srv = server(engine(), |s| s.allow_request(|parts| parts.headers.get("x-deny").is_none())).await;
    let addr = srv.local_addr();
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], u16, u64, &'a str);
    let cases: &[Case] = &[
        ("GET", "/socket.io/?EIO=4", &[], 400, 0, "Transport unknown"),
        ("GET", "/socket.io/?EIO=4&transport=carrier-pigeon", &[], 400, 0, "Transport unknown"),
        ("GET", "/socket.io/?EIO=4&transport=polling&sid=nope", &[], 400, 1, "Session ID unknown"),
        ("POST", "/socket.io/?EIO=4&transport=polling", &[], 400, 2, "Bad handshake method"),
        ("GET", "/socket.io/?EIO=4&transport=websocket", &[], 400, 3, "Bad request"),
        ("GET", "/socket.io/?EIO=4&transport=polling", &[("x-deny", "1")], 403, 4, "Forbidden"),
        ("GET", "/socket.io/?EIO=3&transport=polling", &[], 400, 5, "Unsupported protocol version"),
        ("GET", "/socket.io/?transport=polling", &[], 400, 5, "Unsupported protocol version"),
    ];
    for (method, path, headers, status, code, message) in cases {
        let r = http(addr, method, path, b"", headers).await;
        assert_eq!(r.status, *status, "{method} {path}");
        assert_eq!(r.json(), serde_json::json!({"code": code, "message": message}), "{method} {path}");
    }
    // A malformed packet closes the session (parse error).
    // An Engine.IO-level malformed body is a 400 and ends the session; a
    // malformed Socket.IO packet inside a valid body ends it too.
    for body in ["9x", "4x"] {
        let (sid, _) = poll_open(addr).await;
        let status = poll_post(addr, &sid, body).await.status;
        assert_eq!(status, if body == "9x" { 400 } else { 200 }, "{body}");
        eventually(|| srv.session_count() == 0).await;
        assert_eq!(poll_post(addr, &sid, "40").await.json()["code"], 1);
    }
    let (mut c, _) = Client::open(addr).await;
    c.send(r#"42{"not":"an array"}"#).await;
    c.expect_closed(T).await;
    // Preflight: answered, with no CORS headers by default.
    let r = http(addr, "OPTIONS", "/socket.io/?EIO=4&transport=polling", b"", &[("Origin", "http://x.test")]).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origins_are_enforced() {
    let srv = server(engine(), |s| s.cors(Cors::origins(["http://ok.test"]))).await;
    let addr = srv.local_addr();
    let ok = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"", &[("Origin", "http://ok.test")]).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("access-control-allow-origin").as_deref(), Some("http://ok.test"));
    assert_eq!(ok.header("access-control-allow-credentials").as_deref(), Some("true"));
    let bad = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"", &[("Origin", "http://evil.test")]).await;
    assert_eq!((bad.status, bad.json()["code"].as_u64()), (403, Some(4)));
    assert_eq!(bad.header("access-control-allow-origin"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_closes_idle_connections() {
    let srv = server(engine(), |s| s.connect_timeout(Duration::from_millis(200))).await;
    let (mut idle, _) = Client::open(srv.local_addr()).await;
    let (mut joined, _) = Client::joined(srv.local_addr(), &["/"]).await;
    idle.expect_closed(Duration::from_secs(2)).await;
    joined.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(srv.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_disconnects_everyone() {
    let engine = engine();
    let srv = server(engine.clone(), |s| s).await;
    let (mut c, _) = Client::joined(srv.local_addr(), &["/"]).await;
    srv.shutdown().await.unwrap();
    // The namespace disconnect notice, then the Engine.IO close packet.
    assert_eq!(c.recv_text().await, "41");
    assert_eq!(c.recv_text().await, "1");
    c.expect_closed(T).await;
    assert_eq!(engine.stats().connections, 0);
}

/// Many clients at once: every one joins, gets a broadcast exactly once and
/// leaves; nothing is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_concurrently() {
    const N: usize = 100;
    const ROUNDS: usize = 20;
    let engine = engine();
    let srv = server(engine.clone(), |s| s).await;
    let addr = srv.local_addr();
    let ready = Arc::new(tokio::sync::Barrier::new(N + 1));
    let received = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..N {
        let (ready, received) = (ready.clone(), received.clone());
        tasks.push(tokio::spawn(async move {
            let (mut c, _) = Client::joined(addr, &["/"]).await;
            c.send(r#"421["join","all"]"#).await;
            assert_eq!(c.recv_text().await, r#"431["joined"]"#);
            ready.wait().await;
            for i in 0..ROUNDS {
                assert_eq!(c.recv_text().await, format!(r#"42["tick",{i}]"#));
                received.fetch_add(1, Ordering::Relaxed);
            }
            c.send("1").await;
        }));
    }
    tokio::time::timeout(Duration::from_secs(20), ready.wait()).await.unwrap();
    let root = engine.of("/").unwrap();
    for i in 0..ROUNDS {
        let report = root.to("all").emit("tick", Payload::from(serde_json::json!(i))).unwrap();
        assert_eq!(report.recipients, N);
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(20), t).await.unwrap().unwrap();
    }
    assert_eq!(received.load(Ordering::Relaxed), N * ROUNDS);
    eventually(|| srv.session_count() == 0 && engine.stats().connections == 0).await;
    assert_eq!(root.room_size("all"), 0);
}

/// A poller that does not poll: the writer stops draining the outbox once
/// a backlog waits, so the outbox's bounds and overflow policy apply instead
/// of an unbounded buffer; the client still gets the newest messages, in
/// order, after a lagged gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_poller_is_bounded_by_the_outbox() {
    let engine = Engine::new(Config::builder().max_queue(100).build().unwrap());
    engine.of("/").unwrap();
    let srv = server(engine.clone(), |s| s).await;
    let addr = srv.local_addr();
    let (sid, _) = poll_open(addr).await;
    poll_post(addr, &sid, "40").await;
    assert!(poll_get(addr, &sid).await[0].starts_with("40"));
    let root = engine.of("/").unwrap();
    for i in 0..5000u32 {
        root.emit("n", Payload::from(serde_json::json!(i))).unwrap();
        if i % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(engine.stats().dropped > 0, "the outbox's bound applied");
    let mut seen: Vec<u32> = Vec::new();
    while seen.last() != Some(&4999) {
        for p in poll_get(addr, &sid).await {
            let v: serde_json::Value = serde_json::from_str(p.strip_prefix("42").unwrap()).unwrap();
            seen.push(v[1].as_u64().unwrap() as u32);
        }
    }
    assert!(seen.len() < 5000 && seen.len() >= 100, "{} delivered", seen.len());
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order");
}

/// The cases of the published Engine.IO v4 and Socket.IO v5 protocol test
/// suites that the other tests do not already cover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_suite_cases() {
    let engine = engine();
    engine.of("/").unwrap().on_connection(|socket| {
        if let Some(auth) = socket.handshake().auth_payload() {
            socket.emit("auth", auth.clone())?;
        }
        Ok(())
    });
    let srv = server(engine, |s| s.ping(Duration::from_millis(300), Duration::from_millis(200))).await;
    let addr = srv.local_addr();

    // Polling: the handshake's content type; the server pings; a close
    // packet ends the session at once.
    let r = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"", &[]).await;
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain; charset=UTF-8"));
    let sid = serde_json::from_str::<serde_json::Value>(&r.text()[1..]).unwrap()["sid"].as_str().unwrap().to_string();
    assert_eq!(poll_get(addr, &sid).await, vec!["2"]);
    poll_post(addr, &sid, "3").await;
    poll_post(addr, &sid, "1").await;
    let r = http(addr, "GET", &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"), b"", &[]).await;
    assert_eq!(r.status, 400);
    // A session that never answers a ping is gone after interval + timeout.
    let (sid, _) = poll_open(addr).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let r = http(addr, "GET", &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"), b"", &[]).await;
    assert_eq!(r.status, 400);
    for bad in ["/socket.io/?EIO=abc&transport=polling", "/socket.io/?EIO=4&transport=abc"] {
        assert_eq!(http(addr, "GET", bad, b"", &[]).await.status, 400, "{bad}");
    }
    assert_eq!(http(addr, "PUT", "/socket.io/?EIO=4&transport=polling", b"", &[]).await.status, 400);

    // Socket.IO: CONNECT with a payload; the connection handler's emit
    // follows the CONNECT reply.
    let (mut c, _) = Client::open(addr).await;
    c.send(r#"40{"token":"123"}"#).await;
    assert!(c.recv_text().await.starts_with("40{\"sid\":"));
    assert_eq!(c.recv_text().await, r#"42["auth",{"token":"123"}]"#);
    // An unknown namespace without the trailing comma.
    c.send("40/random").await;
    assert_eq!(c.recv_text().await, r#"44/random,{"message":"Invalid namespace"}"#);
    // Several arguments with an ack; binary with an ack.
    c.send(r#"42456["echo",1,"2",{"3":[true]}]"#).await;
    assert_eq!(c.recv_text().await, r#"43456[1,"2",{"3":[true]}]"#);
    c.send(r#"451-456["echo",{"_placeholder":true,"num":0}]"#).await;
    c.send_binary(&[1, 2, 3]).await;
    assert_eq!(c.recv_text().await, r#"461-456[{"_placeholder":true,"num":0}]"#);
    assert_eq!(c.recv().await, Frame::Binary(vec![1, 2, 3]));
    // Every invalid format closes the connection.
    for bad in ["4abc", r#"42{}"#, r#"42abc["echo",1]"#, "4", r#"42["disconnect"]"#] {
        let (mut c, _) = Client::joined(addr, &["/"]).await;
        c.send(bad).await;
        c.expect_closed(T).await;
    }
    // A close packet over WebSocket closes it.
    let (mut c, _) = Client::open(addr).await;
    c.send("1").await;
    c.expect_closed(T).await;
    // A WebSocket with an unknown sid is refused.
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid=unknown");
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}

/// Closes decided on the server side outside the transport (engine
/// shutdown, outbox overflow under the `disconnect` policy) reach the client
/// as a close packet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_closes_send_a_close_packet() {
    let engine =
        Engine::new(Config::builder().max_queue(4).overflow(roomcast::OverflowPolicy::Disconnect).build().unwrap());
    engine.of("/").unwrap();
    let srv = server(engine.clone(), |s| s).await;
    let (mut c, ids) = Client::joined(srv.local_addr(), &["/"]).await;
    let socket = engine.of("/").unwrap().socket(&ids[0]).unwrap();
    for i in 0..100 {
        let _ = socket.emit("flood", Payload::from(serde_json::json!(i)));
    }
    let mut last = String::new();
    while let Frame::Text(t) = c.recv().await {
        last = t;
    }
    assert_eq!(last, "1");
    assert_eq!(socket.disconnect_reason(), Some(DisconnectReason::QueueOverflow));
    let (mut c, _) = Client::joined(srv.local_addr(), &["/"]).await;
    engine.shutdown();
    assert_eq!(c.recv_text().await, "41");
    assert_eq!(c.recv_text().await, "1");
    c.expect_closed(T).await;
}

/// A client that stops reading: the writer's blocked write gives up after a
/// heartbeat period and the session ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped() {
    let engine = engine();
    let srv = server(engine.clone(), |s| s.ping(Duration::from_millis(200), Duration::from_millis(200))).await;
    let (c, _) = Client::joined(srv.local_addr(), &["/"]).await;
    let root = engine.of("/").unwrap();
    let chunk = Payload::binary(vec![0u8; 64 * 1024]);
    for _ in 0..600 {
        root.emit("bulk", chunk.clone()).unwrap();
        if srv.session_count() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    eventually(|| srv.session_count() == 0 && engine.stats().connections == 0).await;
    drop(c);
}

/// A client that drops a pending GET (a network hiccup) may poll again: the
/// dropped request does not count as a GET still in progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_poll_can_be_retried() {
    use tokio::io::AsyncWriteExt;
    let srv = server(engine(), |s| s).await;
    let addr = srv.local_addr();
    let (sid, _) = poll_open(addr).await;
    poll_post(addr, &sid, "40").await;
    assert!(poll_get(addr, &sid).await[0].starts_with("40"));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (got, _) = tokio::join!(poll_get(addr, &sid), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        poll_post(addr, &sid, r#"42["echo","again"]"#).await;
    });
    assert_eq!(got, vec![r#"42["echo","again"]"#]);
    assert_eq!(srv.session_count(), 1);
}

/// Counts panics on the runtime's worker threads (where sessions run).
fn worker_panics() -> &'static AtomicUsize {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name().is_some_and(|n| n.starts_with("tokio-runtime-worker")) {
                COUNT.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
    &COUNT
}

/// Random frames, shaped like the protocol or not, never panic a session
/// and never disturb other clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_frames_never_panic_the_server() {
    let panics = worker_panics();
    let srv = server(engine(), |s| s.max_attachments(3)).await;
    let addr = srv.local_addr();
    let (mut bystander, _) = Client::joined(addr, &["/"]).await;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    const HEADS: &[&str] = &[
        "",
        "1",
        "2",
        "2probe",
        "3",
        "5",
        "6",
        "4",
        "40",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "451-",
        "452-",
        "461-1",
        "40/admin,",
        "42/admin,",
        "45/admin,1-",
        "453-",
        "4510-",
        "42[",
        "43[]",
        "0",
        "7",
    ];
    const TAILS: &[&str] = &[
        "",
        "[]",
        "[\"echo\"]",
        "[\"echo\",1]",
        "{}",
        "[\"echo\",{\"_placeholder\":true,\"num\":0}]",
        "[\"echo\",{\"_placeholder\":true,\"num\":7}]",
        "12[\"echo\"]",
        "[1]",
        "\"x\"",
        "{\"token\":\"s3cret\"}",
        "[\"join\",\"r\"]",
        "nope",
        "[\"to room\",{}]",
        "99999999999999999999999[]",
    ];
    for _ in 0..60 {
        let (mut c, _) = Client::open(addr).await;
        for _ in 0..15 {
            if rnd(4) == 0 {
                let len = rnd(8) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| rnd(256) as u8).collect();
                c.send_lossy(tokio_tungstenite::tungstenite::Message::Binary(bytes.into())).await;
            } else {
                let head = HEADS[rnd(HEADS.len() as u64) as usize];
                let tail = TAILS[rnd(TAILS.len() as u64) as usize];
                c.send_lossy(tokio_tungstenite::tungstenite::Message::Text(format!("{head}{tail}").into())).await;
            }
        }
        // Drain whatever the server answered until it closes or goes quiet.
        while let Some(f) = c.recv_within(Duration::from_millis(30)).await {
            if f == Frame::Closed {
                break;
            }
        }
    }
    // The same over long-polling, several packets per body.
    for _ in 0..30 {
        let (sid, _) = poll_open(addr).await;
        let mut body: Vec<u8> = Vec::new();
        for i in 0..rnd(5) + 1 {
            if i > 0 {
                body.push(0x1e);
            }
            match rnd(5) {
                0 => body.extend((0..rnd(6)).map(|_| rnd(256) as u8)),
                1 => body.extend_from_slice(b"bAAEC"),
                _ => {
                    body.extend_from_slice(HEADS[rnd(HEADS.len() as u64) as usize].as_bytes());
                    body.extend_from_slice(TAILS[rnd(TAILS.len() as u64) as usize].as_bytes());
                }
            }
        }
        let r = http(addr, "POST", &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"), &body, &[]).await;
        assert!([200, 400].contains(&r.status), "{} for {body:?}", r.status);
    }
    bystander.send(r#"42["echo","still fine"]"#).await;
    assert_eq!(bystander.recv_text().await, r#"42["echo","still fine"]"#);
    assert_eq!(panics.load(Ordering::SeqCst), 0, "a session task panicked");
}

/// A broadcast with an ack: every client gets the same event and ack id
/// and answers it; the stream yields one reply per client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_with_ack_collects_every_reply() {
    let engine = engine();
    let srv = server(engine.clone(), |s| s).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::joined(srv.local_addr(), &["/"]).await);
    }
    let acks = engine.of("/").unwrap().timeout(Duration::from_secs(5)).emit_with_ack("poll", "?").unwrap();
    assert_eq!(acks.expected(), 3);
    let mut frames = Vec::new();
    for (c, ids) in &mut clients {
        let t = c.recv_text().await;
        let id: u64 = t.strip_prefix("42").unwrap().split('[').next().unwrap().parse().unwrap();
        c.send(&format!(r#"43{id}["yes from {}"]"#, ids[0])).await;
        frames.push(t);
    }
    assert!(frames.iter().all(|f| f == &frames[0]), "one encoding, one ack id: {frames:?}");
    let mut replies: Vec<String> = tokio::time::timeout(T, acks)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.result.unwrap().as_str().unwrap().to_string())
        .collect();
    replies.sort();
    let mut want: Vec<String> = clients.iter().map(|(_, ids)| format!("yes from {}", ids[0])).collect();
    want.sort();
    assert_eq!(replies, want);
}

/// `into_router` merges into an application; a custom path; the remote
/// address reaches the handshake when served with connect info.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_merges_into_an_app_with_a_custom_path() {
    let engine = engine();
    let seen = Arc::new(Mutex::new(None));
    let s2 = seen.clone();
    engine
        .of("/")
        .unwrap()
        .on_connection(move |socket| *s2.lock() = socket.handshake().remote_address().map(String::from));
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "up" }))
        .merge(SocketIoServer::new(engine).path("custom").into_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
    });
    assert_eq!(http(addr, "GET", "/health", b"", &[]).await.text(), "up");
    let r = http(addr, "GET", "/custom/?EIO=4&transport=polling", b"", &[]).await;
    assert_eq!(r.status, 200);
    let sid = serde_json::from_str::<serde_json::Value>(&r.text()[1..]).unwrap()["sid"].as_str().unwrap().to_string();
    let r = http(addr, "POST", &format!("/custom?EIO=4&transport=polling&sid={sid}"), b"40", &[]).await;
    assert_eq!(r.text(), "ok");
    assert_eq!(http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"", &[]).await.status, 404);
    eventually(|| seen.lock().is_some()).await;
    assert!(seen.lock().as_deref().unwrap().starts_with("127.0.0.1:"));
    server.abort();
}
