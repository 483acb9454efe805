//! Head-to-head chat benchmark: one Rust load generator drives chat servers
//! that implement `examples/chat/PROTOCOL.md` (roomcast, socketioxide, Node
//! socket.io) with the same workload, checks every delivery and reports
//! deliveries/s, server CPU per delivery, latency and memory per connection.
//! `scripts/bench-chat.sh` builds everything and runs it.
//!
//! ```text
//! chat-bench --server NAME='COMMAND {port}' [--server ...] [--reps 3]
//!            [--clients 1000] [--room-size 10] [--seconds 3]
//!            [--memory 1000,10000] [--memory-only]
//!            [--json docs/bench/chat.json] [--markdown docs/bench/chat.md]
//! ```
//!
//! Per server and repetition (servers interleaved, each phase on a fresh
//! server process): (1) memory — idle RSS, then 1,000 and 10,000 connected
//! clients that joined rooms of `room-size`; (2) load — `clients` clients in
//! rooms of `room-size`, every client a sender emitting to its room except
//! itself, at most `window` messages in flight per sender (50, then 1):
//! 1 s warm-up, `seconds` measured, then a drain and an exact check of every
//! delivery. Medians over the repetitions. `--memory-only` skips the load
//! phase (quick memory measurements).

mod client;
mod procfs;
mod wire;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::Shared;
use serde::Serialize;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    servers: Vec<(String, String)>,
    reps: usize,
    clients: u32,
    room_size: u32,
    seconds: f64,
    mem_counts: (u32, u32),
    /// Run only the memory phase (the load columns stay empty).
    memory_only: bool,
    json: Option<String>,
    markdown: Option<String>,
    command: String,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        servers: Vec::new(),
        reps: 3,
        clients: 1000,
        room_size: 10,
        seconds: 3.0,
        mem_counts: (1_000, 10_000),
        memory_only: false,
        json: None,
        markdown: None,
        command: std::env::var("CHAT_BENCH_COMMAND").unwrap_or_else(|_| std::env::args().collect::<Vec<_>>().join(" ")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--server" => {
                let v = value()?;
                let (name, cmd) = v.split_once('=').ok_or("--server takes NAME=COMMAND")?;
                o.servers.push((name.to_owned(), cmd.to_owned()));
            }
            "--reps" => o.reps = value()?.parse().map_err(|_| "--reps takes a number")?,
            "--clients" => o.clients = value()?.parse().map_err(|_| "--clients takes a number")?,
            "--room-size" => o.room_size = value()?.parse().map_err(|_| "--room-size takes a number")?,
            "--seconds" => o.seconds = value()?.parse().map_err(|_| "--seconds takes a number")?,
            "--memory" => {
                let v = value()?;
                let (a, b) = v.split_once(',').ok_or("--memory takes SMALL,LARGE")?;
                o.mem_counts = (a.parse().map_err(|_| "bad --memory")?, b.parse().map_err(|_| "bad --memory")?);
            }
            "--memory-only" => o.memory_only = true,
            "--json" => o.json = Some(value()?),
            "--markdown" => o.markdown = Some(value()?),
            "-h" | "--help" => {
                println!("see the header of bench/chat/src/main.rs");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.servers.is_empty() {
        return Err("give at least one --server NAME='COMMAND {port}'".into());
    }
    if o.room_size < 2 || !o.clients.is_multiple_of(o.room_size) || !o.mem_counts.0.is_multiple_of(o.room_size) {
        return Err("room size >= 2 must divide the client counts".into());
    }
    if !(0.5..=60.0).contains(&o.seconds) || o.reps == 0 || o.reps > 20 || o.mem_counts.1 > 50_000 {
        return Err("keep --seconds in 0.5..60, --reps in 1..20 and --memory under 50,000".into());
    }
    Ok(o)
}

/// A server process under test.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(template: &str) -> Result<Server, BoxError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let cmd = template.replace("{port}", &port.to_string());
        let mut parts = cmd.split_whitespace();
        let prog = parts.next().ok_or("empty server command")?;
        let mut child = Command::new(prog).args(parts).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut said = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !said && line.contains("listening on") {
                    said = true;
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            return Err(format!("`{cmd}` did not print \"listening on\" within 30 s").into());
        }
        Ok(Server { child, port })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Serialize, Clone, Default)]
struct LoadResult {
    deliveries_per_s: f64,
    server_cpu_us_per_delivery: f64,
    generator_cpu_us_per_delivery: f64,
    p50_us: f64,
    p99_us: f64,
    deliveries_checked: u64,
    /// Deliveries (since the clients connected) that broke per-sender order.
    out_of_order: u64,
}

#[derive(Serialize, Clone, Default)]
struct RepResult {
    idle_rss_bytes: u64,
    rss_per_conn_small: f64,
    rss_per_conn_large: f64,
    window_50: LoadResult,
    window_1: LoadResult,
}

/// Connects `from..to` and waits for the server's memory to settle.
async fn memory_phase(o: &Options, template: &str) -> Result<(u64, f64, f64), BoxError> {
    let server = Server::start(template)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = procfs::rss_bytes(server.pid())?;
    let (small, large) = o.mem_counts;
    let shared = Shared::new(large, o.room_size);
    client::connect_range(&shared, server.port, 0, small, 64, false).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_small = procfs::rss_bytes(server.pid())?;
    client::connect_range(&shared, server.port, small, large, 64, false).await?;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let rss_large = procfs::rss_bytes(server.pid())?;
    let closed = shared.peers.iter().filter(|p| p.closed.load(Relaxed)).count();
    shared.shut_down();
    if closed > 0 {
        return Err(format!("{closed} idle connections were closed by the server").into());
    }
    let per = |rss: u64, n: u32| rss.saturating_sub(base) as f64 / f64::from(n);
    Ok((base, per(rss_small, small), per(rss_large, large)))
}

/// One load run at `window` on connected clients; drains and checks everything.
async fn load_run(shared: &Arc<Shared>, pid: u32, window: u64, seconds: f64) -> Result<LoadResult, BoxError> {
    shared.window.store(window, Relaxed);
    shared.sending.store(true, Relaxed);
    shared.wake_all();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = shared.take_latency();
    let me = std::process::id();
    let (d0, s0, g0, t0) =
        (shared.total_delivered(), procfs::cpu_seconds(pid)?, procfs::cpu_seconds(me)?, Instant::now());
    shared.recording.store(true, Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    shared.recording.store(false, Relaxed);
    let (d1, s1, g1, t1) =
        (shared.total_delivered(), procfs::cpu_seconds(pid)?, procfs::cpu_seconds(me)?, Instant::now());
    shared.sending.store(false, Relaxed);
    let hist = shared.take_latency();

    // Drain: everything sent must arrive; then check every count.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stable = 0;
    loop {
        let (want, got) = (shared.expected_deliveries(), shared.total_delivered());
        if want == got {
            stable += 1;
            if stable >= 3 {
                break;
            }
        } else {
            stable = 0;
        }
        if Instant::now() > deadline {
            return Err(format!("window {window}: {got} of {want} deliveries arrived within 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let problems = shared.verify();
    if !problems.is_empty() {
        return Err(format!("window {window}: delivery check failed:\n  {}", problems.join("\n  ")).into());
    }
    let delivered = (d1 - d0) as f64;
    if delivered == 0.0 {
        return Err(format!("window {window}: no delivery in the measured interval").into());
    }
    Ok(LoadResult {
        deliveries_per_s: delivered / (t1 - t0).as_secs_f64(),
        server_cpu_us_per_delivery: (s1 - s0) * 1e6 / delivered,
        generator_cpu_us_per_delivery: (g1 - g0) * 1e6 / delivered,
        p50_us: hist.value_at_quantile(0.50) as f64 / 1e3,
        p99_us: hist.value_at_quantile(0.99) as f64 / 1e3,
        deliveries_checked: shared.total_delivered(),
        out_of_order: shared.out_of_order(),
    })
}

async fn load_phase(o: &Options, template: &str) -> Result<(LoadResult, LoadResult), BoxError> {
    let server = Server::start(template)?;
    let shared = Shared::new(o.clients, o.room_size);
    client::connect_range(&shared, server.port, 0, o.clients, 64, true).await?;
    let w50 = load_run(&shared, server.pid(), 50, o.seconds).await?;
    let w1 = load_run(&shared, server.pid(), 1, o.seconds).await?;
    shared.shut_down();
    Ok((w50, w1))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The metrics of the report: key, label, unit, lower-is-better, getter.
type Getter = fn(&RepResult) -> f64;
const METRICS: &[(&str, &str, bool, Getter)] = &[
    ("deliveries_per_s_w50", "deliveries/s (window 50)", false, |r| r.window_50.deliveries_per_s),
    ("server_cpu_us_per_delivery_w50", "server CPU µs per delivery (window 50)", true, |r| {
        r.window_50.server_cpu_us_per_delivery
    }),
    ("p50_us_w50", "latency p50 µs (window 50)", true, |r| r.window_50.p50_us),
    ("p99_us_w50", "latency p99 µs (window 50)", true, |r| r.window_50.p99_us),
    ("deliveries_per_s_w1", "deliveries/s (window 1)", false, |r| r.window_1.deliveries_per_s),
    ("server_cpu_us_per_delivery_w1", "server CPU µs per delivery (window 1)", true, |r| {
        r.window_1.server_cpu_us_per_delivery
    }),
    ("p50_us_w1", "latency p50 µs (window 1)", true, |r| r.window_1.p50_us),
    ("p99_us_w1", "latency p99 µs (window 1)", true, |r| r.window_1.p99_us),
    ("rss_per_conn_small", "server RSS per connection, SMALL connections (bytes)", true, |r| r.rss_per_conn_small),
    ("rss_per_conn_large", "server RSS per connection, LARGE connections (bytes)", true, |r| r.rss_per_conn_large),
    ("out_of_order_w1", "deliveries out of per-sender order (whole run)", true, |r| r.window_1.out_of_order as f64),
    ("generator_cpu_us_per_delivery_w50", "load generator CPU µs per delivery (window 50)", true, |r| {
        r.window_50.generator_cpu_us_per_delivery
    }),
    ("generator_cpu_us_per_delivery_w1", "load generator CPU µs per delivery (window 1)", true, |r| {
        r.window_1.generator_cpu_us_per_delivery
    }),
];

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v >= 10_000.0 {
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("chat-bench: {e}");
            std::process::exit(2);
        }
    };
    let nofile = procfs::raise_nofile();
    if u64::from(o.mem_counts.1) + 200 > nofile {
        eprintln!("chat-bench: the open-files limit ({nofile}) is too low for {} connections", o.mem_counts.1);
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let started = Instant::now();
    let load_before = procfs::loadavg();
    let mut results: BTreeMap<String, Vec<RepResult>> = BTreeMap::new();
    let mut failed = false;
    for rep in 0..o.reps {
        for (name, template) in &o.servers {
            let r = rt.block_on(async {
                let (idle, small, large) = memory_phase(&o, template).await?;
                let (w50, w1) = if o.memory_only {
                    (LoadResult::default(), LoadResult::default())
                } else {
                    load_phase(&o, template).await?
                };
                Ok::<_, BoxError>(RepResult {
                    idle_rss_bytes: idle,
                    rss_per_conn_small: small,
                    rss_per_conn_large: large,
                    window_50: w50,
                    window_1: w1,
                })
            });
            match r {
                Ok(r) => {
                    eprintln!(
                        "rep {}/{} {name}: {:.0} deliveries/s, {:.3} µs server CPU/delivery, p99 {:.0} µs (w50) {:.0} µs (w1), {:.0}/{:.0} B per conn, generator {:.3} µs/delivery",
                        rep + 1,
                        o.reps,
                        r.window_50.deliveries_per_s,
                        r.window_50.server_cpu_us_per_delivery,
                        r.window_50.p99_us,
                        r.window_1.p99_us,
                        r.rss_per_conn_small,
                        r.rss_per_conn_large,
                        r.window_50.generator_cpu_us_per_delivery,
                    );
                    results.entry(name.clone()).or_default().push(r);
                }
                Err(e) => {
                    eprintln!("rep {}/{} {name}: FAILED: {e}", rep + 1, o.reps);
                    failed = true;
                }
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let load_after = procfs::loadavg();

    let names: Vec<&String> = o.servers.iter().map(|(n, _)| n).collect();
    let mut medians: BTreeMap<String, BTreeMap<&str, f64>> = BTreeMap::new();
    for name in &names {
        let reps = results.get(*name).cloned().unwrap_or_default();
        let m = METRICS.iter().map(|(key, _, _, get)| (*key, median(reps.iter().map(get).collect()))).collect();
        medians.insert((*name).clone(), m);
    }
    let (nproc, cpu) = procfs::machine();
    let label = |l: &str| {
        l.replace("SMALL", &fmt_num(f64::from(o.mem_counts.0))).replace("LARGE", &fmt_num(f64::from(o.mem_counts.1)))
    };

    // Markdown: medians, then the first server's ratios against each other one.
    let mut md = String::new();
    md.push_str("# Chat head-to-head\n\n");
    md.push_str(&format!(
        "{} clients in rooms of {} (every client sends to its room except itself), {} s measured per window, \
         memory at {} and {} idle clients; medians of {} repetitions, servers interleaved, every delivery checked \
         (no loss, no duplicate, no echo, no cross-room leak; per-sender order violations are counted).\n\n",
        o.clients, o.room_size, o.seconds, o.mem_counts.0, o.mem_counts.1, o.reps
    ));
    md.push_str(&format!(
        "Machine: `nproc` = {nproc}, {cpu}. Run time {elapsed:.0} s. Load average (1 min) {load_before} before, \
         {load_after} after: other work on the machine shares the cores, so throughput and latency vary \
         between runs more than CPU per delivery does.\n\n"
    ));
    md.push_str(&format!("Command: `{}`\n\n", o.command));
    md.push_str("| metric |");
    for n in &names {
        md.push_str(&format!(" {n} |"));
    }
    let first = names[0];
    for n in &names[1..] {
        md.push_str(&format!(" {first} vs {n} |"));
    }
    md.push_str("\n|---|");
    for _ in 0..(names.len() * 2 - 1) {
        md.push_str("--:|");
    }
    md.push('\n');
    for (key, l, lower_better, _) in METRICS {
        if o.memory_only && !key.starts_with("rss_") {
            // Not measured in this run.
            continue;
        }
        md.push_str(&format!("| {} |", label(l)));
        for n in &names {
            md.push_str(&format!(" {} |", fmt_num(medians[*n][key])));
        }
        for n in &names[1..] {
            if key.starts_with("generator") || key.starts_with("out_of_order") {
                md.push_str(" — |");
                continue;
            }
            let (a, b) = (medians[first][key], medians[*n][key]);
            // > 1 means the first server is better.
            let r = if *lower_better { b / a } else { a / b };
            md.push_str(&format!(" {}× |", if r.is_finite() { format!("{r:.2}") } else { "n/a".into() }));
        }
        md.push('\n');
    }
    md.push_str(&format!(
        "\nRatios: \"{first} vs X\" > 1 means {first} is better (throughput {first}/X; CPU, latency and memory X/{first}).\n"
    ));
    println!("{md}");

    if let Some(path) = &o.json {
        let json = serde_json::json!({
            "command": o.command,
            "machine": { "nproc": nproc, "cpu": cpu, "loadavg_before": load_before, "loadavg_after": load_after },
            "workload": {
                "clients": o.clients, "room_size": o.room_size, "seconds": o.seconds,
                "memory_connections": [o.mem_counts.0, o.mem_counts.1], "memory_only": o.memory_only, "repetitions": o.reps,
            },
            "medians": medians,
            "repetitions": results,
            "failed": failed,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json).expect("json") + "\n").expect("write the json");
    }
    if let Some(path) = &o.markdown {
        std::fs::write(path, &md).expect("write the markdown");
    }
    if failed {
        eprintln!("chat-bench: at least one run failed its checks");
        std::process::exit(1);
    }
}
