//! A mixed hostile load against a running chat server (the chat example),
//! while two well-behaved users keep chatting: the server's memory must
//! stay under a bound and the users' latency normal. Run by
//! `scripts/hostile-load.sh`, which starts the server.
//!
//! ```text
//! hostile_load --addr 127.0.0.1:3000 --pid <server pid> [--seconds 180] [--max-rss-mb 256]
//!              [--flood-rate 5000] [--baseline 15]
//!              [--only acks,slowloris,sessions,partial,vanished]
//! ```
//!
//! The attackers, each a bounded loop that stops at the deadline:
//! * ack floods: four clients joined to `/` that send ack-requesting events
//!   (`list rooms`), each at `--flood-rate` events a second (0: as fast as
//!   it can); half of them read the replies, half never read anything. On
//!   a machine whose cores the load generator shares with the server, an
//!   unpaced flood measures CPU starvation rather than the server: the
//!   default keeps the attackers to a part of the machine;
//! * slowloris: connections that send half a request head and stall;
//! * a session flood: polling sessions opened as fast as possible and never
//!   joined;
//! * partial attachments: binary events announcing ten attachments, of
//!   which one arrives;
//! * vanished pollers: polling clients that join the chat room everybody
//!   talks in, then never poll again.
//!
//! Meanwhile `alice` sends a message to room `lobby` every 50 ms and `bob`
//! receives it; the latency of each is recorded. At the end the program
//! prints the server's peak RSS, the users' latency percentiles and how
//! many messages were lost, and exits non-zero if memory went over the
//! bound, a message was lost or the p99 latency passed both 250 ms and four
//! times the p99 the same users measured alone just before the attack
//! (`--baseline` seconds), so a busy machine does not pass for a slow
//! server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Ws;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Opts {
    addr: SocketAddr,
    pid: u32,
    seconds: u64,
    max_rss_mb: u64,
    flood_rate: u64,
    baseline: u64,
    /// Attacker classes to run (all when empty).
    only: Vec<String>,
}

fn opts() -> Res<Opts> {
    let mut o = Opts {
        addr: "127.0.0.1:3000".parse()?,
        pid: 0,
        seconds: 180,
        max_rss_mb: 256,
        flood_rate: 5000,
        baseline: 15,
        only: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--addr" => o.addr = v()?.parse()?,
            "--pid" => o.pid = v()?.parse()?,
            "--seconds" => o.seconds = v()?.parse()?,
            "--max-rss-mb" => o.max_rss_mb = v()?.parse()?,
            "--flood-rate" => o.flood_rate = v()?.parse()?,
            "--baseline" => o.baseline = v()?.parse()?,
            "--only" => o.only = v()?.split(',').map(str::to_string).collect(),
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    if !o.addr.ip().is_loopback() {
        return Err("only loopback addresses".into());
    }
    if o.pid == 0 {
        return Err("--pid <server pid> is required".into());
    }
    Ok(o)
}

/// Resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|k| k.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// CPU time process `pid` has used (user + system), from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/socket.io/?EIO=4&transport=websocket")
}

type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A WebSocket client joined to `/` as `name` (the open packet and the
/// CONNECT reply consumed).
async fn joined(addr: SocketAddr, name: &str) -> Res<WsStream> {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(addr)).await?;
    ws.send(Ws::text(format!(r#"40{{"name":"{name}"}}"#))).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await? {
            Some(Ok(Ws::Text(t))) if t.starts_with("40") => return Ok(ws),
            Some(Ok(Ws::Text(t))) if t.starts_with("44") => return Err(format!("refused: {t}").into()),
            Some(Ok(_)) => {}
            _ => return Err("closed while joining".into()),
        }
    }
}

/// Answers the server's pings (`2` → `3`); true for any other text.
async fn pong(ws: &mut WsStream, t: &str) -> Res<bool> {
    if t == "2" {
        ws.send(Ws::text("3")).await?;
        return Ok(false);
    }
    Ok(true)
}

/// One raw HTTP/1.1 exchange on a new connection; returns the body.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Res<String> {
    let mut s = TcpStream::connect(addr).await?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await??;
    let text = String::from_utf8_lossy(&out).into_owned();
    Ok(text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// The sid of a new polling session.
async fn polling_session(addr: SocketAddr) -> Res<String> {
    let body = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", "").await?;
    let sid = body.split("\"sid\":\"").nth(1).and_then(|r| r.split('"').next()).ok_or("no sid")?;
    Ok(sid.to_string())
}

#[derive(Default)]
struct Counts {
    ack_flood_events: AtomicU64,
    ack_replies_read: AtomicU64,
    slowloris: AtomicU64,
    sessions: AtomicU64,
    partial: AtomicU64,
    vanished: AtomicU64,
    refused: AtomicU64,
}

/// Sends ack-requesting events, `rate` a second (0: as fast as it can);
/// reads the replies when `reads`, never reads anything otherwise.
async fn ack_flood(addr: SocketAddr, i: usize, reads: bool, rate: u64, end: Instant, c: Arc<Counts>) {
    while Instant::now() < end {
        let Ok(ws) = joined(addr, &format!("flood{i}")).await else {
            c.refused.fetch_add(1, Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let (mut tx, mut rx) = ws.split();
        let reader = reads.then(|| {
            let c = c.clone();
            tokio::spawn(async move {
                while let Some(Ok(m)) = rx.next().await {
                    if matches!(&m, Ws::Text(t) if t.starts_with("43")) {
                        c.ack_replies_read.fetch_add(1, Relaxed);
                    }
                }
            })
        });
        let mut id = 0u64;
        let pace = (rate > 0).then(|| Duration::from_secs_f64(200.0 / rate as f64));
        let mut next = Instant::now();
        while Instant::now() < end {
            if let Some(p) = pace {
                next += p;
                tokio::time::sleep_until(next.into()).await;
            }
            let batch: Vec<_> = (0..200)
                .map(|_| {
                    id += 1;
                    Ok(Ws::text(format!(r#"42{id}["list rooms",{{}}]"#)))
                })
                .collect();
            let mut batch = futures_util::stream::iter(batch);
            match tokio::time::timeout_at(end.into(), tx.send_all(&mut batch)).await {
                Ok(Ok(())) => c.ack_flood_events.fetch_add(200, Relaxed),
                _ => break,
            };
        }
        if let Some(r) = reader {
            r.abort();
        }
    }
}

/// Keeps `n` connections holding half a request head.
async fn slowloris(addr: SocketAddr, n: usize, end: Instant, c: Arc<Counts>) {
    let mut held: Vec<TcpStream> = Vec::new();
    while Instant::now() < end {
        held.retain(|s| s.peer_addr().is_ok());
        while held.len() < n && Instant::now() < end {
            match TcpStream::connect(addr).await {
                Ok(mut s) => {
                    let _ =
                        s.write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
                    held.push(s);
                    c.slowloris.fetch_add(1, Relaxed);
                }
                Err(_) => break,
            }
        }
        // Trickle a byte now and then, as a slowloris does.
        for s in &mut held {
            let _ = s.try_write(b"a");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Opens polling sessions as fast as it can, never joining one.
async fn session_flood(addr: SocketAddr, end: Instant, c: Arc<Counts>) {
    while Instant::now() < end {
        if polling_session(addr).await.is_ok() {
            c.sessions.fetch_add(1, Relaxed);
        } else {
            c.refused.fetch_add(1, Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Binary events that announce ten 64 KB attachments and send one.
async fn partial_attachments(addr: SocketAddr, i: usize, end: Instant, c: Arc<Counts>) {
    while Instant::now() < end {
        let Ok(mut ws) = joined(addr, &format!("partial{i}")).await else {
            c.refused.fetch_add(1, Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let head = r#"4510-["message",{"text":{"_placeholder":true,"num":0}}]"#;
        if ws.send(Ws::text(head)).await.is_err() || ws.send(Ws::binary(vec![7u8; 64 * 1024])).await.is_err() {
            continue;
        }
        c.partial.fetch_add(1, Relaxed);
        // Answer pings (so only the packet timeout can end it) until closed.
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(end.into(), ws.next()).await {
            if let Ws::Text(t) = &m {
                if pong(&mut ws, t).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Polling clients that join `lobby` (where the users talk), then vanish.
async fn vanished_pollers(addr: SocketAddr, end: Instant, c: Arc<Counts>) {
    let mut i = 0u64;
    while Instant::now() < end {
        i += 1;
        let Ok(sid) = polling_session(addr).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
        let _ = http(addr, "POST", &path, &format!(r#"40{{"name":"ghost{i}"}}"#)).await;
        let _ = http(addr, "POST", &path, r#"421["join",{"room":"lobby"}]"#).await;
        c.vanished.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `alice` talks in `lobby` every 50 ms, `bob` listens; returns bob's
/// latencies and how many of alice's messages he never got.
async fn users(addr: SocketAddr, end: Instant) -> Res<(Vec<Duration>, usize)> {
    let mut alice = joined(addr, "alice").await?;
    let mut bob = joined(addr, "bob").await?;
    for ws in [&mut alice, &mut bob] {
        ws.send(Ws::text(r#"421["join",{"room":"lobby"}]"#)).await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent: Arc<parking_lot::Mutex<Vec<Instant>>> = Arc::default();
    let talker = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut i = 0usize;
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            while Instant::now() < end {
                tokio::select! {
                    _ = tick.tick() => {
                        sent.lock().push(Instant::now());
                        let msg = format!(r#"42["message",{{"text":"m{i}"}}]"#);
                        if alice.send(Ws::text(msg)).await.is_err() { break; }
                        i += 1;
                    }
                    m = alice.next() => match m {
                        Some(Ok(Ws::Text(t))) => { let _ = pong(&mut alice, &t).await; }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
        })
    };
    let mut lat = Vec::new();
    let grace = end + Duration::from_secs(2);
    while let Ok(Some(Ok(m))) = tokio::time::timeout_at(grace.into(), bob.next()).await {
        let Ws::Text(t) = m else { continue };
        if !pong(&mut bob, &t).await? {
            continue;
        }
        if let Some(rest) = t.strip_prefix(r#"42["message",{"#) {
            let n: Option<usize> = rest.split("\"text\":\"m").nth(1).and_then(|r| r.split('"').next()?.parse().ok());
            if let Some(at) = n.and_then(|n| sent.lock().get(n).copied()) {
                lat.push(at.elapsed());
            }
        }
    }
    talker.await?;
    let lost = sent.lock().len().saturating_sub(lat.len());
    Ok((lat, lost))
}

/// Runs the two users until `end` on a thread and runtime of their own, so
/// the attackers' tasks in this process cannot delay them: what they
/// measure is the server.
fn spawn_users(addr: SocketAddr, end: Instant) -> std::thread::JoinHandle<Res<(Vec<Duration>, usize)>> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(users(addr, end))
    })
}

/// The `p`-quantile of sorted latencies.
fn pct(lat: &[Duration], p: f64) -> Duration {
    lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    let o = opts()?;
    // The users alone first: their latency on this machine, now, without
    // an attacker, is what "normal" means below.
    let base_end = Instant::now() + Duration::from_secs(o.baseline);
    let base = spawn_users(o.addr, base_end);
    let (mut base_lat, base_lost) =
        tokio::task::spawn_blocking(move || base.join()).await?.map_err(|_| "users panicked")??;
    base_lat.sort();
    let start_rss = rss(o.pid);
    let (cpu0, t0) = (cpu_time(o.pid), Instant::now());
    let end = Instant::now() + Duration::from_secs(o.seconds);
    let c = Arc::new(Counts::default());
    let mut tasks = Vec::new();
    let on = |class: &str| o.only.is_empty() || o.only.iter().any(|c| c == class);
    for i in (0..4).filter(|_| on("acks")) {
        tasks.push(tokio::spawn(ack_flood(o.addr, i, i % 2 == 0, o.flood_rate, end, c.clone())));
    }
    if on("slowloris") {
        tasks.push(tokio::spawn(slowloris(o.addr, 300, end, c.clone())));
    }
    for _ in (0..4).filter(|_| on("sessions")) {
        tasks.push(tokio::spawn(session_flood(o.addr, end, c.clone())));
    }
    for i in (0..8).filter(|_| on("partial")) {
        tasks.push(tokio::spawn(partial_attachments(o.addr, i, end, c.clone())));
    }
    if on("vanished") {
        tasks.push(tokio::spawn(vanished_pollers(o.addr, end, c.clone())));
    }
    let users = spawn_users(o.addr, end);

    let mut peak = start_rss;
    let mut samples = Vec::new();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let r = rss(o.pid);
        peak = peak.max(r);
        samples.push(r);
    }
    let server_cores = (cpu_time(o.pid) - cpu0).as_secs_f64() / t0.elapsed().as_secs_f64();
    let (mut lat, lost) = tokio::task::spawn_blocking(move || users.join()).await?.map_err(|_| "users panicked")??;
    for t in tasks {
        t.abort();
    }
    lat.sort();
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    println!("hostile load: {} s against {}, ack floods at {} events/s each", o.seconds, o.addr, o.flood_rate);
    println!(
        "  attackers: {} ack-requesting events sent, {} ack replies read; {} slowloris connections; \
         {} unjoined sessions; {} partial attachment packets; {} vanished pollers; {} refused attempts",
        c.ack_flood_events.load(Relaxed),
        c.ack_replies_read.load(Relaxed),
        c.slowloris.load(Relaxed),
        c.sessions.load(Relaxed),
        c.partial.load(Relaxed),
        c.vanished.load(Relaxed),
        c.refused.load(Relaxed),
    );
    println!("  server CPU during the attack: {server_cores:.2} cores");
    println!(
        "  server RSS: {:.1} MB at start, peak {:.1} MB, at the end {:.1} MB (bound {} MB)",
        mb(start_rss),
        mb(peak),
        mb(samples.last().copied().unwrap_or(0)),
        o.max_rss_mb
    );
    println!(
        "  users alone ({} s before): {} messages, {base_lost} lost; latency p50 {:?}, p99 {:?}",
        o.baseline,
        base_lat.len(),
        pct(&base_lat, 0.5),
        pct(&base_lat, 0.99)
    );
    println!(
        "  users under attack: {} messages received, {lost} lost; latency p50 {:?}, p99 {:?}, max {:?}",
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or_default()
    );
    let mut failed = Vec::new();
    if peak > o.max_rss_mb << 20 {
        failed.push(format!("peak RSS {:.1} MB over the {} MB bound", mb(peak), o.max_rss_mb));
    }
    if lost > 0 || lat.is_empty() {
        failed.push(format!("{lost} of the users' messages lost"));
    }
    // Normal latency: within 250 ms, or within 4x what the users saw
    // alone on the same machine just before (a loaded machine is slow
    // for everybody).
    let allowed = Duration::from_millis(250).max(pct(&base_lat, 0.99) * 4);
    if lat.is_empty() || pct(&lat, 0.99) > allowed {
        failed.push(format!("users' p99 latency {:?} over {allowed:?}", pct(&lat, 0.99)));
    }
    if failed.is_empty() {
        println!("hostile load: OK");
        Ok(())
    } else {
        Err(failed.join("; ").into())
    }
}
