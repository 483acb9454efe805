//! Hostile clients over loopback: every resource a client can make the
//! server hold stays bounded, and well-behaved clients are unaffected.
//! Each test plays the attacker and asserts the bound it pins (see the
//! resource table in the crate docs).

mod common;

use std::time::Duration;

use common::*;
use roomcast::{Config, Engine, OverflowPolicy, Payload};
use roomcast_socketio::{Bound, SocketIoServer};

fn engine(config: Config) -> Engine {
    echo_engine(config)
}

async fn server(engine: Engine, f: impl FnOnce(SocketIoServer) -> SocketIoServer) -> Bound {
    f(SocketIoServer::new(engine)).bind("127.0.0.1:0").await.unwrap()
}

/// Tasks alive on this test's runtime (the server's accept loop, its
/// connections and its session tasks all run here).
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// A joined polling session whose GET backlog is full: the server emitted
/// more frames than a session keeps for the next GET and the client never
/// polled them.
async fn poller_with_full_backlog(srv: &Bound, engine: &Engine) -> String {
    let addr = srv.local_addr();
    let (sid, _) = poll_open(addr).await;
    poll_post(addr, &sid, "40").await;
    assert!(poll_get(addr, &sid).await[0].starts_with("40"));
    let root = engine.of("/").unwrap();
    // More than the backlog (1,024 frames) plus a full outbox, in steps the
    // session task can follow.
    for i in 0..2_100u32 {
        let _ = root.emit("n", Payload::from(serde_json::json!(i)));
        if i % 256 == 255 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    sid
}

/// Finding 2: a polling session that ends while its GET backlog is full
/// (client close packet, ping timeout, outbox overflow under `disconnect`)
/// ends its task and frees its connection, outbox and backlog.
/// The tests here measure the whole process (RSS, task counts, timing):
/// they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_2_polling_sessions_with_a_full_backlog_end_when_closed() {
    let _serial = SERIAL.lock().await;
    // Client close packet.
    let e = engine(Config::default());
    let srv = server(e.clone(), |s| s).await;
    let base = alive_tasks();
    let sid = poller_with_full_backlog(&srv, &e).await;
    assert_eq!(poll_post(srv.local_addr(), &sid, "1").await.status, 200);
    eventually(|| e.stats().connections == 0 && srv.session_count() == 0).await;
    eventually(|| alive_tasks() <= base).await;
    srv.shutdown().await.unwrap();

    // Ping timeout: the client vanished while it was being sent to.
    let e = engine(Config::default());
    let srv = server(e.clone(), |s| s.ping(Duration::from_millis(100), Duration::from_millis(100))).await;
    let base = alive_tasks();
    poller_with_full_backlog(&srv, &e).await;
    eventually(|| e.stats().connections == 0 && srv.session_count() == 0).await;
    eventually(|| alive_tasks() <= base).await;
    srv.shutdown().await.unwrap();

    // Overflow under `disconnect`: the engine closes the connection itself.
    let e = engine(Config::builder().overflow(OverflowPolicy::Disconnect).build().unwrap());
    let srv = server(e.clone(), |s| s).await;
    let base = alive_tasks();
    poller_with_full_backlog(&srv, &e).await;
    eventually(|| e.stats().connections == 0 && srv.session_count() == 0).await;
    eventually(|| alive_tasks() <= base).await;

    // Another poller still works on the same server.
    let addr = srv.local_addr();
    let (sid, _) = poll_open(addr).await;
    poll_post(addr, &sid, "40").await;
    assert!(poll_get(addr, &sid).await[0].starts_with("40"));
    poll_post(addr, &sid, r#"42["echo","hi"]"#).await;
    assert_eq!(poll_get(addr, &sid).await, vec![r#"42["echo","hi"]"#]);
    srv.shutdown().await.unwrap();
}

/// A WebSocket opening request carrying `n` extra headers of `len` bytes.
async fn ws_with_headers(
    addr: std::net::SocketAddr,
    n: usize,
    len: usize,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket").into_client_request().unwrap();
    for i in 0..n {
        let name = axum::http::HeaderName::try_from(format!("x-filler-{i}")).unwrap();
        req.headers_mut().insert(name, "v".repeat(len).parse().unwrap());
    }
    let connect = tokio_tungstenite::connect_async_with_config(req, None, true);
    let (ws, _) = tokio::time::timeout(T, connect).await.expect("handshake timed out")?;
    Ok(Client { ws, auto_pong: true })
}

/// Joins and leaves `/` `rounds` times; returns the mean time per CONNECT.
async fn connect_cycle(c: &mut Client, rounds: u32) -> Duration {
    let Frame::Text(open) = c.recv().await else { panic!("no open packet") };
    assert!(open.starts_with('0'));
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        c.send("40").await;
        assert!(c.recv_text().await.starts_with("40{"));
        c.send("41").await;
    }
    start.elapsed() / rounds
}

/// Finding 8, cost: a CONNECT does not rebuild the handshake from the
/// opening request. Prints the time per CONNECT with small and with large
/// (allowed) headers; not asserted (timings vary by machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_8_connect_cost_with_large_headers() {
    let _serial = SERIAL.lock().await;
    let srv = server(engine(Config::default()), |s| s).await;
    let addr = srv.local_addr();
    let mut small = ws_with_headers(addr, 0, 0).await.unwrap();
    let mut large = ws_with_headers(addr, 50, 300).await.unwrap();
    let (a, b) = (connect_cycle(&mut small, 300).await, connect_cycle(&mut large, 300).await);
    eprintln!("CONNECT + DISCONNECT round trip: {a:?} with no extra headers, {b:?} with 50 x 300 B headers");
}

/// Finding 9: by default no CORS headers are sent, so a cross-site page
/// (or a sandboxed one, `Origin: null`) cannot read polling responses with
/// the user's cookies; `Cors::any()` is an explicit opt-in; WebSocket origin
/// checks go through `allow_request` (or `Cors::origins`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_9_no_cors_headers_unless_configured() {
    let _serial = SERIAL.lock().await;
    let srv = server(engine(Config::default()), |s| s).await;
    let addr = srv.local_addr();
    for origin in ["http://evil.test", "null"] {
        let h = [("Origin", origin), ("Cookie", "session=secret")];
        let r = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"", &h).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), None, "{origin}");
        assert_eq!(r.header("access-control-allow-credentials"), None, "{origin}");
        let r = http(addr, "OPTIONS", "/socket.io/?EIO=4&transport=polling", b"", &h).await;
        assert_eq!(r.header("access-control-allow-origin"), None, "{origin}");
        assert_eq!(r.header("access-control-allow-methods"), None, "{origin}");
    }
    // A same-origin or non-browser client is served as before.
    let (sid, _) = poll_open(addr).await;
    poll_post(addr, &sid, "40").await;
    assert!(poll_get(addr, &sid).await[0].starts_with("40"));
    srv.shutdown().await.unwrap();

    // Explicit opt-in: every origin, with credentials.
    let srv = server(engine(Config::default()), |s| s.cors(roomcast_socketio::Cors::any())).await;
    let h = [("Origin", "http://x.test")];
    let r = http(srv.local_addr(), "GET", "/socket.io/?EIO=4&transport=polling", b"", &h).await;
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("http://x.test"));
    assert_eq!(r.header("access-control-allow-credentials").as_deref(), Some("true"));
    srv.shutdown().await.unwrap();

    // A WebSocket origin check in allow_request (CORS does not cover WebSocket).
    let srv = server(engine(Config::default()), |s| {
        s.allow_request(|req| req.headers.get("origin").is_none_or(|o| o == "http://chat.test"))
    })
    .await;
    let addr = srv.local_addr();
    let ws = |origin: &'static str| async move {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket").into_client_request().unwrap();
        req.headers_mut().insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(req).await.map(|_| ()).map_err(|e| e.to_string())
    };
    assert!(ws("http://chat.test").await.is_ok());
    let refused = ws("http://evil.test").await.unwrap_err();
    assert!(refused.contains("403"), "{refused}");
}

/// Finding 8, bound: an opening request whose headers and query exceed
/// `max_handshake_bytes` (16 KiB by default) is refused with 431 on both
/// transports (so no session keeps them); one under the bound is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_8_handshake_bytes_are_bounded() {
    let _serial = SERIAL.lock().await;
    let srv = server(engine(Config::default()), |s| s).await;
    let addr = srv.local_addr();
    // 60 x 300 B: over 16 KiB, under hyper's header cap.
    let big: Vec<(String, String)> = (0..60).map(|i| (format!("x-filler-{i}"), "v".repeat(300))).collect();
    let h: Vec<(&str, &str)> = big.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"", &h).await;
    assert_eq!(r.status, 431, "{}", r.text());
    assert_eq!(r.json()["code"], 3);
    let err = ws_with_headers(addr, 60, 300).await.err().expect("refused").to_string();
    assert!(err.contains("431"), "{err}");
    // ~360 KB of headers: refused before the request is even parsed whole.
    let huge: Vec<(String, String)> = (0..90).map(|i| (format!("x-huge-{i}"), "v".repeat(4000))).collect();
    let h: Vec<(&str, &str)> = huge.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"", &h).await.status, 431);
    assert_eq!(srv.session_count(), 0);
    // Under the bound: served, and the handshake carries the headers.
    let mut ok = ws_with_headers(addr, 40, 300).await.unwrap();
    connect_cycle(&mut ok, 1).await;
}

/// A raw TCP connection that sends `head` and then nothing.
async fn stalled(addr: std::net::SocketAddr, head: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// Reads until the peer closes or `within` passes; returns what was read,
/// or `None` when the connection is still open.
async fn read_until_closed(s: &mut tokio::net::TcpStream, within: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let r = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    r.ok().map(|()| String::from_utf8_lossy(&got).into_owned())
}

/// Finding 4: slow or silent requests are timed out. Half-sent headers and
/// idle connections are closed after the header timeout; a polling POST
/// whose body stops arriving gets 408 after the body timeout and its
/// session ends. A well-behaved client is served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_4_slow_requests_time_out() {
    let _serial = SERIAL.lock().await;
    let e = engine(Config::default());
    let srv =
        server(e.clone(), |s| s.header_timeout(Duration::from_millis(300)).body_timeout(Duration::from_millis(300)))
            .await;
    let addr = srv.local_addr();
    let mut attackers = Vec::new();
    for i in 0..50 {
        let head =
            if i % 2 == 0 { "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Slow: " } else { "" };
        attackers.push(stalled(addr, head).await);
    }
    let (mut good, _) = Client::joined(addr, &["/"]).await;
    let start = std::time::Instant::now();
    for s in &mut attackers {
        assert!(read_until_closed(s, Duration::from_secs(3)).await.is_some(), "a stalled connection stayed open");
    }
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    good.send(r#"42["echo","still here"]"#).await;
    assert_eq!(good.recv_text().await, r#"42["echo","still here"]"#);

    // A POST that announces 100 bytes and sends 10.
    let (sid, _) = poll_open(addr).await;
    poll_post(addr, &sid, "40").await;
    let head = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n42[\"echo\","
    );
    let mut s = stalled(addr, &head).await;
    let got = read_until_closed(&mut s, Duration::from_secs(3)).await.expect("the stalled POST was answered");
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    eventually(|| e.stats().connections == 1 && srv.session_count() == 1).await;
    good.send(r#"42["echo","and here"]"#).await;
    assert_eq!(good.recv_text().await, r#"42["echo","and here"]"#);
}

/// Finding 4: at most `max_connections` TCP connections, WebSockets
/// included; past it the server stops accepting until one closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_4_connections_are_capped() {
    let _serial = SERIAL.lock().await;
    let srv = server(engine(Config::default()), |s| s.max_connections(3)).await;
    let addr = srv.local_addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Client::joined(addr, &["/"]).await.0);
    }
    // A fourth connection waits in the backlog: no answer.
    let mut waiting = stalled(addr, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buf = [0u8; 12];
    let read = tokio::io::AsyncReadExt::read_exact(&mut waiting, &mut buf);
    assert!(tokio::time::timeout(Duration::from_millis(500), read).await.is_err(), "served past the cap");
    // The held clients still work.
    held[0].send(r#"42["echo",1]"#).await;
    assert_eq!(held[0].recv_text().await, r#"42["echo",1]"#);
    // One leaves: the waiting connection is served.
    held.pop().unwrap().send("1").await;
    tokio::time::timeout(T, tokio::io::AsyncReadExt::read_exact(&mut waiting, &mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
}

/// Finding 5: at most `max_sessions` sessions; a flood of unauthenticated
/// sessions gets 503 past it, and sessions that join no namespace are gone
/// after the connect timeout (plus, for their close packet, at most the
/// ping timeout). The joined client is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_5_session_flood_is_bounded() {
    let _serial = SERIAL.lock().await;
    let srv = server(engine(Config::default()), |s| {
        s.max_sessions(20)
            .connect_timeout(Duration::from_secs(3))
            .ping(Duration::from_secs(25), Duration::from_millis(400))
    })
    .await;
    let addr = srv.local_addr();
    let (mut good, _) = Client::joined(addr, &["/"]).await;
    let mut refused = 0;
    for _ in 0..100 {
        let r = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"", &[]).await;
        match r.status {
            200 => {}
            503 => {
                assert_eq!(r.json()["message"], "Too many sessions");
                refused += 1;
            }
            s => panic!("status {s}"),
        }
    }
    assert_eq!(refused, 100 - 19);
    assert_eq!(srv.session_count(), 20);
    let err = ws_with_headers(addr, 0, 0).await.err().expect("refused").to_string();
    assert!(err.contains("503"), "{err}");
    good.send(r#"42["echo","ok"]"#).await;
    assert_eq!(good.recv_text().await, r#"42["echo","ok"]"#);
    // The flood's sessions never joined: they expire.
    eventually(|| srv.session_count() == 1).await;
    poll_open(addr).await;
}

/// TCP_NODELAY on accepted sockets: two small messages written in two
/// flushes arrive without waiting for the client's delayed ACK (~40 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_sockets_do_not_delay_small_writes() {
    let _serial = SERIAL.lock().await;
    let e = engine(Config::default());
    e.of("/")
        .unwrap()
        .on("two", |socket, _, _| {
            socket.emit("a", Payload::from(serde_json::json!(1)))?;
            let socket = socket.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let _ = socket.emit("b", Payload::from(serde_json::json!(2)));
            });
            Ok(())
        })
        .unwrap();
    let srv = server(e, |s| s).await;
    let mut c = ws_with_headers(srv.local_addr(), 0, 0).await.unwrap();
    connect_cycle(&mut c, 1).await;
    c.send("40").await;
    c.recv_text().await;
    let mut rounds = Vec::new();
    for _ in 0..20 {
        let start = std::time::Instant::now();
        c.send(r#"42["two"]"#).await;
        assert_eq!(c.recv_text().await, r#"42["a",1]"#);
        assert_eq!(c.recv_text().await, r#"42["b",2]"#);
        rounds.push(start.elapsed());
    }
    rounds.sort();
    eprintln!("two-message round: median {:?}, max {:?}", rounds[10], rounds[19]);
    assert!(rounds[10] < Duration::from_millis(20), "median round {:?}", rounds[10]);
}

/// Resident memory of this process, in bytes (Linux).
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|k| k.parse::<usize>().ok()).unwrap_or(0) * 1024
}

/// Opens a WebSocket session by hand (raw TCP, RFC 6455 upgrade), joins
/// `/`, and returns the stream with nothing pending on it.
async fn raw_ws_joined(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let req = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\
               Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(&client_frame(b"40")).await.unwrap();
    // The 101 head, the open packet and the CONNECT reply.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"40{\"") {
        let n = tokio::time::timeout(T, s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed during the handshake");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 101"));
    s
}

/// A masked client text frame (zero mask key) carrying `payload` (< 126 B).
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}

/// Finding 1 (transport half): a WebSocket client that sends ack-requesting
/// events as fast as it can while reading everything. The session reads no
/// more while its outbox is over a threshold and drains at least what it
/// dispatched, so queued ack replies (and memory) stay bounded; the
/// flooding client is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_1_websocket_ack_flood_keeps_memory_bounded() {
    let _serial = SERIAL.lock().await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = server(engine(Config::default()), |s| s).await;
    let (mut rd, mut wr) = raw_ws_joined(srv.local_addr()).await.into_split();
    // 3,000 ack-requesting events, written again and again.
    let chunk: Vec<u8> = (0..3_000).flat_map(|_| client_frame(br#"421["echo","x"]"#)).collect();
    let run = Duration::from_millis(2500);
    let before = rss();
    let writer = tokio::spawn(async move {
        let end = tokio::time::Instant::now() + run;
        let mut sent = 0u64;
        while tokio::time::Instant::now() < end && sent < 50_000_000 {
            if tokio::time::timeout_at(end, wr.write_all(&chunk)).await.is_err() {
                break;
            }
            sent += 3_000;
        }
        (sent, wr)
    });
    // Reads everything, counting the ack replies (`431["x"]`, 10-byte frames).
    let reader = tokio::spawn(async move {
        let end = tokio::time::Instant::now() + run + Duration::from_millis(500);
        let mut bytes = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(Ok(n)) = tokio::time::timeout_at(end, rd.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            bytes += n as u64;
        }
        bytes / 10
    });
    let mut peak = before;
    let end = tokio::time::Instant::now() + run;
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak = peak.max(rss());
    }
    let (sent, _wr) = writer.await.unwrap();
    let acks = reader.await.unwrap();
    let growth = peak.saturating_sub(before);
    eprintln!("ack flood: {sent} events written, ~{acks} acks read, RSS growth {} MB", growth >> 20);
    assert!(acks > 10_000, "the flooding client is still served ({acks} acks)");
    assert!(growth < 16 << 20, "RSS grew {} MB", growth >> 20);
}
