//! `roomcast-redis-bench`: cross-node fan-out through Redis next to the
//! same workload on one node, in the same run.
//!
//! ```text
//! scripts/bench-redis.sh            # starts a redis-server, runs this, stops it
//! cargo run --release -p roomcast-redis --bin roomcast-redis-bench -- \
//!     redis://127.0.0.1:6379 [--reps N] [--quick]
//! ```
//!
//! Workload: 10,000 sockets, 100 rooms of 100 members. In the cluster case
//! three engines (each with its own `RedisAdapter`, its own connections and
//! threads) hold the sockets round-robin, so every room spans all three
//! nodes; in the single-node case one engine with the local adapter holds
//! them all.
//!
//! * **throughput** — 20,000 emits to random rooms (emitted from the three
//!   nodes in turn), timed until every one of the 2,000,000 deliveries sits
//!   in its outbox (counted by the engines' stats): deliveries/s.
//! * **latency** — 2,000 emits paced 500 µs apart, each to a room with a
//!   watched member on the last node; time from the emit call to the
//!   message's arrival in the watcher's outbox (a thread blocked in
//!   `recv`). Redis-added latency = cluster percentile − single-node
//!   percentile.
//!
//! Repetitions alternate single-node and cluster runs; medians are
//! reported. Every run checks its counts: a lost or duplicated delivery
//! ends the program with exit code 1.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use roomcast::{Config, Connection, Engine, Handshake, Outbox};
use roomcast_redis::{RedisAdapter, RedisConfig};

const SOCKETS: usize = 10_000;
const ROOM_SIZE: usize = 100;
const ROOMS: usize = SOCKETS / ROOM_SIZE;

struct Setup {
    engines: Vec<Engine>,
    adapters: Vec<Arc<RedisAdapter>>,
    /// (connection, outbox, node index, room index)
    clients: Vec<(Connection, Outbox, usize, usize)>,
}

fn config() -> Config {
    Config::builder().max_queue(4096).max_queue_bytes(8 << 20).build().expect("config")
}

fn setup(url: Option<&str>, prefix: &str) -> Setup {
    let (engines, adapters): (Vec<Engine>, Vec<Arc<RedisAdapter>>) = match url {
        None => (vec![Engine::new(config())], Vec::new()),
        Some(url) => (0..3)
            .map(|_| {
                let a =
                    RedisAdapter::new(RedisConfig::new(url).prefix(prefix).queue_capacity(1 << 20)).expect("adapter");
                (Engine::with_adapter(config(), a.clone()), a)
            })
            .unzip(),
    };
    for a in &adapters {
        assert!(a.wait_connected(Duration::from_secs(10)), "redis unreachable");
        assert!(a.wait_for_nodes(3, Duration::from_secs(10)), "nodes did not meet");
    }
    let mut clients = Vec::with_capacity(SOCKETS);
    for i in 0..SOCKETS {
        // Room r holds sockets r, r + 100, r + 200, ...: exactly 100, and
        // those sockets rotate over the nodes (34/33/33).
        let room = i % ROOMS;
        let node = (i / ROOMS) % engines.len();
        let (conn, outbox) = engines[node].connect();
        let s = conn.join_namespace("/", Handshake::new()).expect("join");
        s.join(format!("room{room}")).expect("room");
        clients.push((conn, outbox, node, room));
    }
    Setup { engines, adapters, clients }
}

fn delivered(s: &Setup) -> u64 {
    s.engines.iter().map(|e| e.stats().delivered).sum()
}

fn drain_all(s: &Setup) {
    let mut buf = Vec::new();
    for (_, o, _, _) in &s.clients {
        while o.try_recv_many(&mut buf, 4096).unwrap_or(0) > 0 {
            buf.clear();
        }
    }
}

/// Deliveries per second for `emits` emits to random rooms.
fn throughput(s: &Setup, emits: usize) -> Result<f64, String> {
    drain_all(s);
    let before = delivered(s);
    let expected = (emits * ROOM_SIZE) as u64;
    let namespaces: Vec<_> = s.engines.iter().map(|e| e.of("/").expect("ns")).collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let start = Instant::now();
    for i in 0..emits {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let room = format!("room{}", x % ROOMS as u64);
        namespaces[i % namespaces.len()]
            .to(room)
            .emit("tick", "0123456789abcdef0123456789abcdef")
            .map_err(|e| e.to_string())?;
    }
    let deadline = start + Duration::from_secs(60);
    while delivered(s) - before < expected {
        if Instant::now() > deadline {
            return Err(format!("only {} of {expected} deliveries after 60 s", delivered(s) - before));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let secs = start.elapsed().as_secs_f64();
    let got = delivered(s) - before;
    if got != expected {
        return Err(format!("{got} deliveries, expected {expected}"));
    }
    drain_all(s);
    Ok(expected as f64 / secs)
}

/// Latencies (µs) of `n` paced emits, seen by one member on the last node.
fn latency(s: &Setup, n: usize) -> Result<Vec<f64>, String> {
    drain_all(s);
    let last = s.engines.len() - 1;
    let (_, watched, _, room) = s.clients.iter().find(|(_, _, node, _)| *node == last).ok_or("no watcher")?;
    let room = format!("room{room}");
    let ns = s.engines[0].of("/").map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel::<(usize, Instant)>();
    let stop = Arc::new(AtomicBool::new(false));
    let lat = std::thread::scope(|scope| {
        let stop2 = stop.clone();
        scope.spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                if let Ok(m) = watched.recv_timeout(Duration::from_millis(50)) {
                    let at = Instant::now();
                    if let Some(i) = m.payload().and_then(|p| p.as_str()).and_then(|t| t.parse().ok()) {
                        let _ = tx.send((i, at));
                    }
                }
            }
        });
        let mut sent = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            sent.push(t);
            if let Err(e) = ns.to(room.as_str()).emit("lat", i.to_string()) {
                stop.store(true, Ordering::Relaxed);
                return Err(e.to_string());
            }
            // Sleep, not spin: a spinning sender would take one of the
            // cores the nodes and Redis need.
            std::thread::sleep(Duration::from_micros(500).saturating_sub(t.elapsed()));
        }
        let mut lat = vec![f64::NAN; n];
        let mut seen = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen < n && Instant::now() < deadline {
            if let Ok((i, at)) = rx.recv_timeout(Duration::from_millis(100)) {
                if i < n && lat[i].is_nan() {
                    lat[i] = at.duration_since(sent[i]).as_secs_f64() * 1e6;
                    seen += 1;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        if seen != n {
            return Err(format!("latency run: {seen} of {n} arrived"));
        }
        Ok(lat)
    })?;
    drain_all(s);
    Ok(lat)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roomcast-redis-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .iter()
        .find(|a| a.starts_with("redis://"))
        .cloned()
        .or_else(|| std::env::var("ROOMCAST_REDIS_URL").ok())
        .ok_or("usage: roomcast-redis-bench redis://127.0.0.1:PORT [--reps N] [--quick]")?;
    let quick = args.iter().any(|a| a == "--quick");
    let reps: usize = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 1 } else { 5 });
    let (emits, lat_n) = if quick { (2_000, 200) } else { (20_000, 2_000) };

    let single = setup(None, "");
    let prefix = format!("rc-bench-{}", std::process::id());
    let cluster = setup(Some(&url), &prefix);
    // Warm up both (connections, allocations, the CPU's caches).
    throughput(&single, emits / 10)?;
    throughput(&cluster, emits / 10)?;

    let (mut tp_single, mut tp_cluster) = (Vec::new(), Vec::new());
    let (mut p50s, mut p99s, mut p50c, mut p99c) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rep in 0..reps {
        tp_single.push(throughput(&single, emits)?);
        tp_cluster.push(throughput(&cluster, emits)?);
        let mut ls = latency(&single, lat_n)?;
        let mut lc = latency(&cluster, lat_n)?;
        p50s.push(percentile(&mut ls, 0.5));
        p99s.push(percentile(&mut ls, 0.99));
        p50c.push(percentile(&mut lc, 0.5));
        p99c.push(percentile(&mut lc, 0.99));
        eprintln!(
            "rep {}: single {:.2} M/s, cluster {:.2} M/s; latency p50/p99 single {:.1}/{:.1} µs, cluster {:.1}/{:.1} µs",
            rep + 1,
            tp_single[rep] / 1e6,
            tp_cluster[rep] / 1e6,
            p50s[rep],
            p99s[rep],
            p50c[rep],
            p99c[rep]
        );
    }
    // Ratios and differences are taken per repetition (the two runs of a
    // repetition are back to back, so they share the machine's load), then
    // their median.
    let ratio = median(tp_cluster.iter().zip(&tp_single).map(|(c, s)| c / s).collect());
    let added50 = median(p50c.iter().zip(&p50s).map(|(c, s)| c - s).collect());
    let added99 = median(p99c.iter().zip(&p99s).map(|(c, s)| c - s).collect());
    let (ts, tc) = (median(tp_single), median(tp_cluster));
    let (s50, s99, c50, c99) = (median(p50s), median(p99s), median(p50c), median(p99c));
    let stats: Vec<_> = cluster.adapters.iter().map(|a| a.stats()).collect();
    let dropped: u64 = stats.iter().map(|s| s.dropped).sum();
    let decode_errors: u64 = stats.iter().map(|s| s.decode_errors).sum();
    if dropped != 0 || decode_errors != 0 {
        return Err(format!("the bus lost messages: {stats:?}"));
    }
    println!("## Redis cluster adapter: 3 nodes vs 1 node ({SOCKETS} sockets, {ROOMS} rooms of {ROOM_SIZE})");
    println!();
    println!("Medians of {reps} repetitions; {emits} emits per throughput run, {lat_n} paced emits per latency run.");
    println!();
    println!("| | 1 node (local) | 3 nodes (Redis) | ratio / added (median of per-repetition values) |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| deliveries/s | {:.2} M | {:.2} M | {ratio:.2}x |", ts / 1e6, tc / 1e6);
    println!("| latency p50 | {s50:.1} µs | {c50:.1} µs | +{added50:.1} µs |");
    println!("| latency p99 | {s99:.1} µs | {c99:.1} µs | +{added99:.1} µs |");
    println!();
    println!(
        "Targets: cross-node deliveries/s >= 0.5x single-node: {}; p99 added <= 2 ms: {}.",
        if ratio >= 0.5 { "met" } else { "NOT met" },
        if added99 <= 2000.0 { "met" } else { "NOT met" }
    );
    Ok(())
}
