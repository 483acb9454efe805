//! A cluster node in its own process, for the adapter's multi-process
//! tests and for trying the cluster by hand:
//!
//! ```text
//! roomcast-redis-node redis://127.0.0.1:6379 [prefix] [heartbeat_ms]
//! ```
//!
//! It joins one socket to room `r` of `/` (data `"child"`), answers the
//! server-side event `ping` with `pong <pid>`, prints `ready <node> <socket>`,
//! then one `got <event> <payload>` line per message its socket receives.
//! It exits after 120 s, or when its standard input closes.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use roomcast::{Config, Engine, Handshake, Payload};
use roomcast_redis::{RedisAdapter, RedisConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let prefix = args.get(2).cloned().unwrap_or_else(|| "roomcast".into());
    let hb: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
    let adapter = RedisAdapter::new(
        RedisConfig::new(url).prefix(prefix).heartbeat(Duration::from_millis(hb), Duration::from_millis(hb * 5)),
    )?;
    let engine = Engine::with_adapter(Config::default(), adapter.clone());
    let ns = engine.of("/")?;
    let pid = std::process::id();
    ns.on_server_side("ping", move |_| Some(Payload::text(format!("pong {pid}"))));
    let (conn, outbox) = engine.connect();
    let socket = conn.join_namespace("/", Handshake::new())?;
    socket.join("r")?;
    socket.set_data("child");
    if !adapter.wait_connected(Duration::from_secs(10)) {
        return Err("redis unreachable".into());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {} {}", adapter.node(), socket.id())?;
    out.flush()?;
    // Exit when the parent closes our stdin.
    std::thread::spawn(|| {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            if line.is_err() {
                break;
            }
        }
        std::process::exit(0);
    });
    let end = Instant::now() + Duration::from_secs(120);
    while Instant::now() < end {
        if let Ok(msg) = outbox.recv_timeout(Duration::from_millis(100)) {
            let text = msg.payload().and_then(|p| p.as_str().map(str::to_string)).unwrap_or_default();
            writeln!(out, "got {} {}", msg.event_name().unwrap_or("-"), text)?;
            out.flush()?;
        }
    }
    Ok(())
}
