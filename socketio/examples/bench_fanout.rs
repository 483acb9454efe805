//! Broadcast fan-out over real Socket.IO WebSocket connections on loopback:
//! this crate's server against any other Socket.IO server (the script
//! `scripts/bench-socketio.sh` runs Node's `socket.io` 4.8.1 as the
//! baseline), measured by the same clients in the same run.
//!
//! ```text
//! bench_fanout [--clients N] [--messages M] [--size BYTES] [--reps R] [--baseline URL]
//! ```
//!
//! Each repetition: N clients join `/`; one of them emits `go` with
//! `{count, size}`; the server broadcasts `count` events `m` of `size`
//! bytes to every client; the time runs from the `go` to the last client
//! receiving its last message. Every client must receive every message, in
//! order, exactly once; otherwise the run fails. The report is the median
//! of the repetitions in deliveries per second, and the ratio to the
//! baseline when one is given. Every loop is bounded: a repetition that
//! takes longer than 60 s fails.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use roomcast::{Config, Engine, Payload};
use roomcast_socketio::SocketIoServer;
use tokio_tungstenite::tungstenite::Message;

struct Opts {
    clients: usize,
    messages: usize,
    size: usize,
    reps: usize,
    baseline: Option<String>,
}

fn parse() -> Opts {
    let mut o = Opts { clients: 50, messages: 2000, size: 64, reps: 5, baseline: None };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--clients" => o.clients = v.parse().expect("--clients N"),
            "--messages" => o.messages = v.parse().expect("--messages M"),
            "--size" => o.size = v.parse().expect("--size BYTES"),
            "--reps" => o.reps = v.parse().expect("--reps R"),
            "--baseline" => o.baseline = Some(v),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    o
}

/// Starts this crate's server with the `go` handler.
async fn roomcast_server() -> SocketAddr {
    // Outboxes large enough that nothing is dropped: the benchmark counts
    // deliveries, and the baseline has no bound at all.
    let engine = Engine::new(Config::builder().max_queue(1 << 20).max_queue_bytes(1 << 30).build().unwrap());
    engine
        .of("/")
        .unwrap()
        .on("go", |socket, ev, _| {
            let v: serde_json::Value = ev.payload().to_json()?;
            let count = v["count"].as_u64().unwrap_or(0);
            let text = "x".repeat(v["size"].as_u64().unwrap_or(0) as usize);
            let ns = socket.namespace().clone();
            for i in 0..count {
                ns.emit("m", Payload::from(serde_json::json!([i, text])))?;
            }
            Ok(())
        })
        .unwrap();
    let bound = SocketIoServer::new(engine).bind("127.0.0.1:0").await.unwrap();
    let addr = bound.local_addr();
    std::mem::forget(bound); // runs until the process exits
    addr
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn join(url: &str) -> Ws {
    let ws_url = url.replacen("http://", "ws://", 1);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{ws_url}/socket.io/?EIO=4&transport=websocket"))
        .await
        .expect("connect");
    let mut joined = false;
    while let Some(Ok(m)) = ws.next().await {
        let Message::Text(t) = m else { continue };
        if t.starts_with('0') {
            ws.send(Message::Text("40".into())).await.unwrap();
        } else if t.starts_with("40") {
            joined = true;
            break;
        }
    }
    assert!(joined, "no CONNECT reply from {url}");
    ws
}

/// Reads until `count` `m` events arrived, checking order; answers pings.
async fn receive(mut ws: Ws, count: usize) -> Ws {
    let mut next = 0usize;
    while next < count {
        let Some(Ok(m)) = ws.next().await else { panic!("connection lost after {next} messages") };
        let Message::Text(t) = m else { continue };
        if t.as_str() == "2" {
            ws.send(Message::Text("3".into())).await.unwrap();
            continue;
        }
        let Some(body) = t.strip_prefix("42[\"m\",[") else { continue };
        let n: usize = body.split(',').next().and_then(|s| s.parse().ok()).expect("sequence number");
        assert_eq!(n, next, "out of order or lost");
        next += 1;
    }
    ws
}

/// One repetition; returns deliveries per second.
async fn rep(clients: &mut Vec<Ws>, o: &Opts) -> f64 {
    let mut trigger = clients.pop().expect("clients");
    let go = format!(r#"42["go",{{"count":{},"size":{}}}]"#, o.messages, o.size);
    let start = Instant::now();
    trigger.send(Message::Text(go.into())).await.unwrap();
    let mut tasks = Vec::new();
    for ws in clients.drain(..).chain(std::iter::once(trigger)) {
        let count = o.messages;
        tasks.push(tokio::spawn(receive(ws, count)));
    }
    for t in tasks {
        let ws = tokio::time::timeout(Duration::from_secs(60), t).await.expect("repetition over 60 s").unwrap();
        clients.push(ws);
    }
    let secs = start.elapsed().as_secs_f64();
    (o.clients * o.messages) as f64 / secs
}

async fn measure(url: &str, o: &Opts) -> f64 {
    let mut clients = Vec::new();
    for _ in 0..o.clients {
        clients.push(join(url).await);
    }
    // One warm-up repetition, then the measured ones.
    rep(&mut clients, o).await;
    let mut rates = Vec::new();
    for _ in 0..o.reps {
        rates.push(rep(&mut clients, o).await);
    }
    for mut c in clients {
        let _ = c.close(None).await;
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    rates[rates.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = parse();
    let addr = roomcast_server().await;
    let ours = measure(&format!("http://{addr}"), &o).await;
    println!(
        "fan-out: {} clients x {} messages of {} B, median of {} repetitions (WebSocket, loopback)",
        o.clients, o.messages, o.size, o.reps
    );
    println!("roomcast-socketio: {:.0} deliveries/s", ours);
    if let Some(url) = &o.baseline {
        let theirs = measure(url, &o).await;
        println!("baseline ({url}): {:.0} deliveries/s", theirs);
        println!("ratio roomcast-socketio / baseline: {:.2}x", ours / theirs);
    }
}
