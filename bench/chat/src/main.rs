//! Head-to-head chat benchmark: one Rust load generator drives chat servers
//! that implement `examples/chat/PROTOCOL.md` (roomcast, socketioxide, Node
//! socket.io, and the floor server of `src/bin/floor_chat.rs`) with the same
//! workload, checks every delivery and reports deliveries/s, server CPU per
//! delivery, latency percentiles and memory per connection.
//! `scripts/bench-chat.sh` builds everything and runs it.
//!
//! ```text
//! chat-bench --server NAME='COMMAND {port}' [--server ...] [--reps 3]
//!            [--clients 1000] [--configs 10:10:50,10:10:1,20:2:1]
//!            [--room-size 10] [--seconds 3] [--memory 1000,10000]
//!            [--memory-only] [--json docs/bench/chat.json]
//!            [--markdown docs/bench/chat.md]
//! ```
//!
//! Per server and repetition (servers interleaved, each phase on a fresh
//! server process): (1) memory — idle RSS, then 1,000 and 10,000 connected
//! clients that joined rooms of `room-size`; (2) load — one run per
//! configuration `ROOM:SENDERS:WINDOW`: `clients` clients in rooms of
//! `ROOM`, the first `SENDERS` members of every room emitting to their room
//! except themselves (the others only receive), at most `WINDOW` messages
//! in flight per sender (a message is in flight until every other member of
//! the room got it; window 1 is the interactive shape: send, wait until the
//! whole room has it, send again). Consecutive configurations with the same
//! room size and senders share one server process and one set of
//! connections. Each run: 1 s warm-up, `seconds` measured, then a drain and
//! an exact check of every delivery. Medians over the repetitions.
//! `--memory-only` skips the load phase (quick memory measurements).

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

/// One load configuration: rooms of `room_size`, the first `senders`
/// members of each room sending, at most `window` messages in flight each.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Config {
    room_size: u32,
    senders: u32,
    window: u64,
}

impl Config {
    fn parse(s: &str) -> Result<Config, String> {
        let bad = || format!("bad configuration {s:?}: ROOM:SENDERS:WINDOW, e.g. 20:2:1");
        let mut it = s.split(':');
        let (Some(r), Some(n), Some(w), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(bad());
        };
        let c = Config {
            room_size: r.parse().map_err(|_| bad())?,
            senders: n.parse().map_err(|_| bad())?,
            window: w.parse().map_err(|_| bad())?,
        };
        if c.room_size < 2 || c.senders == 0 || c.senders > c.room_size || c.window == 0 || c.window > 10_000 {
            return Err(bad());
        }
        Ok(c)
    }

    /// The key of this configuration in the JSON report.
    fn key(&self) -> String {
        format!("r{}_s{}_w{}", self.room_size, self.senders, self.window)
    }

    fn label(&self) -> String {
        let senders = if self.senders == self.room_size {
            "every member sends".to_owned()
        } else {
            format!("{} senders", self.senders)
        };
        format!("rooms of {}, {senders}, window {}", self.room_size, self.window)
    }
}

struct Options {
    servers: Vec<(String, String)>,
    reps: usize,
    clients: u32,
    configs: Vec<Config>,
    /// Room size of the memory phase.
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
        configs: ["10:10:50", "10:10:1", "20:2:1"].iter().map(|c| Config::parse(c).expect("valid")).collect(),
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
            "--configs" => o.configs = value()?.split(',').map(Config::parse).collect::<Result<_, _>>()?,
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
    if o.room_size < 2 || !o.mem_counts.0.is_multiple_of(o.room_size) || !o.mem_counts.1.is_multiple_of(o.room_size) {
        return Err("room size >= 2 must divide the memory phase's client counts".into());
    }
    if o.configs.is_empty() || o.configs.iter().any(|c| !o.clients.is_multiple_of(c.room_size)) {
        return Err("every configuration's room size must divide --clients".into());
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
    p90_us: f64,
    p99_us: f64,
    /// Latency samples behind the percentiles (every delivery measured).
    samples: u64,
    deliveries_checked: u64,
    /// Deliveries of this run (warm-up and drain included) that broke
    /// per-sender order.
    out_of_order: u64,
}

#[derive(Serialize, Clone, Default)]
struct RepResult {
    idle_rss_bytes: u64,
    rss_per_conn_small: f64,
    rss_per_conn_large: f64,
    /// Per configuration key (`Config::key`).
    load: BTreeMap<String, LoadResult>,
}

/// Connects `from..to` and waits for the server's memory to settle.
async fn memory_phase(o: &Options, template: &str) -> Result<(u64, f64, f64), BoxError> {
    let server = Server::start(template)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = procfs::rss_bytes(server.pid())?;
    let (small, large) = o.mem_counts;
    let shared = Shared::new(large, o.room_size);
    client::connect_range(&shared, server.port, 0, small, 64, 0).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_small = procfs::rss_bytes(server.pid())?;
    client::connect_range(&shared, server.port, small, large, 64, 0).await?;
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
    let ooo0 = shared.out_of_order();
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
        p90_us: hist.value_at_quantile(0.90) as f64 / 1e3,
        p99_us: hist.value_at_quantile(0.99) as f64 / 1e3,
        samples: hist.len(),
        deliveries_checked: shared.total_delivered(),
        out_of_order: shared.out_of_order() - ooo0,
    })
}

/// Every configuration, consecutive ones with the same rooms and senders on
/// one server process and one set of connections.
async fn load_phase(o: &Options, template: &str) -> Result<BTreeMap<String, LoadResult>, BoxError> {
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < o.configs.len() {
        let first = o.configs[i];
        let server = Server::start(template)?;
        let shared = Shared::new(o.clients, first.room_size);
        client::connect_range(&shared, server.port, 0, o.clients, 64, first.senders).await?;
        while let Some(c) = o.configs.get(i).filter(|c| (c.room_size, c.senders) == (first.room_size, first.senders)) {
            let r = load_run(&shared, server.pid(), c.window, o.seconds)
                .await
                .map_err(|e| format!("{}: {e}", c.label()))?;
            out.insert(c.key(), r);
            i += 1;
        }
        shared.shut_down();
    }
    Ok(out)
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

/// What a report row compares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A headline figure, with a ratio column against the other servers.
    Compared { lower_is_better: bool },
    /// A diagnostic figure, without ratios.
    Diagnostic,
}

/// The value of a row in one repetition (`None`: not measured there).
type RowGetter = Box<dyn Fn(&RepResult) -> Option<f64>>;

/// One row of the report.
struct Row {
    key: String,
    label: String,
    kind: Kind,
    get: RowGetter,
}

/// The per-configuration figures: key suffix, label, kind, getter.
type LoadGetter = fn(&LoadResult) -> f64;
const LOAD_METRICS: &[(&str, &str, Kind, LoadGetter)] = &[
    ("deliveries_per_s", "deliveries/s", Kind::Compared { lower_is_better: false }, |r| r.deliveries_per_s),
    ("server_cpu_us_per_delivery", "server CPU µs per delivery", Kind::Compared { lower_is_better: true }, |r| {
        r.server_cpu_us_per_delivery
    }),
    ("p50_us", "latency p50 µs", Kind::Compared { lower_is_better: true }, |r| r.p50_us),
    ("p90_us", "latency p90 µs", Kind::Compared { lower_is_better: true }, |r| r.p90_us),
    ("p99_us", "latency p99 µs", Kind::Compared { lower_is_better: true }, |r| r.p99_us),
];
const LOAD_DIAGNOSTICS: &[(&str, &str, LoadGetter)] = &[
    ("out_of_order", "deliveries out of per-sender order", |r| r.out_of_order as f64),
    ("generator_cpu_us_per_delivery", "load generator CPU µs per delivery", |r| r.generator_cpu_us_per_delivery),
];

/// Every row of the report, in order.
fn rows(o: &Options) -> Vec<Row> {
    let mut rows = Vec::new();
    let load_row = |c: Config, suffix: &str, label: &str, kind: Kind, get: LoadGetter| {
        let key = c.key();
        Row {
            key: format!("{key}_{suffix}"),
            label: format!("{label} ({})", c.label()),
            kind,
            get: Box::new(move |r: &RepResult| r.load.get(&key).map(get)),
        }
    };
    if !o.memory_only {
        for &c in &o.configs {
            for &(suffix, label, kind, get) in LOAD_METRICS {
                rows.push(load_row(c, suffix, label, kind, get));
            }
        }
    }
    let small = fmt_num(f64::from(o.mem_counts.0));
    let large = fmt_num(f64::from(o.mem_counts.1));
    let memory = Kind::Compared { lower_is_better: true };
    rows.push(Row {
        key: "rss_per_conn_small".into(),
        label: format!("server RSS per connection, {small} connections (bytes)"),
        kind: memory,
        get: Box::new(|r| Some(r.rss_per_conn_small)),
    });
    rows.push(Row {
        key: "rss_per_conn_large".into(),
        label: format!("server RSS per connection, {large} connections (bytes)"),
        kind: memory,
        get: Box::new(|r| Some(r.rss_per_conn_large)),
    });
    if !o.memory_only {
        for &(suffix, label, get) in LOAD_DIAGNOSTICS {
            for &c in &o.configs {
                rows.push(load_row(c, suffix, label, Kind::Diagnostic, get));
            }
        }
    }
    rows
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v == v.trunc() && v < 10_000.0 {
        format!("{v:.0}")
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
                let load = if o.memory_only { BTreeMap::new() } else { load_phase(&o, template).await? };
                Ok::<_, BoxError>(RepResult {
                    idle_rss_bytes: idle,
                    rss_per_conn_small: small,
                    rss_per_conn_large: large,
                    load,
                })
            });
            match r {
                Ok(r) => {
                    let mut line = format!(
                        "rep {}/{} {name}: {:.0}/{:.0} B per conn",
                        rep + 1,
                        o.reps,
                        r.rss_per_conn_small,
                        r.rss_per_conn_large
                    );
                    for c in &o.configs {
                        if let Some(l) = r.load.get(&c.key()) {
                            line.push_str(&format!(
                                "; {}: {:.0} deliveries/s, {:.3} µs server CPU/delivery, p50/p90/p99 {:.0}/{:.0}/{:.0} µs",
                                c.key(),
                                l.deliveries_per_s,
                                l.server_cpu_us_per_delivery,
                                l.p50_us,
                                l.p90_us,
                                l.p99_us
                            ));
                        }
                    }
                    eprintln!("{line}");
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
    let rows = rows(&o);
    let mut medians: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for name in &names {
        let reps = results.get(*name).cloned().unwrap_or_default();
        let m = rows.iter().map(|row| (row.key.clone(), median(reps.iter().filter_map(|r| (row.get)(r)).collect())));
        medians.insert((*name).clone(), m.collect());
    }
    let (nproc, cpu) = procfs::machine();

    // Markdown: medians, then the first server's ratios against each other one.
    let mut md = String::new();
    md.push_str("# Chat head-to-head\n\n");
    let configs: Vec<String> = o.configs.iter().map(|c| c.label()).collect();
    md.push_str(&format!(
        "{} clients per load run, configurations: {} (a sender emits to its room except itself; at most \"window\" \
         messages in flight per sender, a message being in flight until every other member of the room got it). \
         {} s measured per configuration after 1 s of warm-up, every delivery's latency recorded (send to receipt, \
         both clocks in the load generator). Memory at {} and {} idle clients in rooms of {}. Medians of {} \
         repetitions, servers interleaved, every delivery checked (no loss, no duplicate, no echo, no cross-room \
         leak; per-sender order violations are counted).\n\n",
        o.clients,
        configs.join("; "),
        o.seconds,
        o.mem_counts.0,
        o.mem_counts.1,
        o.room_size,
        o.reps
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
    for row in &rows {
        md.push_str(&format!("| {} |", row.label));
        for n in &names {
            md.push_str(&format!(" {} |", fmt_num(medians[*n][&row.key])));
        }
        for n in &names[1..] {
            let Kind::Compared { lower_is_better } = row.kind else {
                md.push_str(" — |");
                continue;
            };
            let (a, b) = (medians[first][&row.key], medians[*n][&row.key]);
            // > 1 means the first server is better.
            let r = if lower_is_better { b / a } else { a / b };
            md.push_str(&format!(" {}× |", if r.is_finite() { format!("{r:.2}") } else { "n/a".into() }));
        }
        md.push('\n');
    }
    md.push_str(&format!(
        "\nRatios: \"{first} vs X\" > 1 means {first} is better (throughput {first}/X; CPU, latency and memory X/{first}).\n"
    ));
    if names.iter().any(|n| n.as_str() == "floor") && first.as_str() != "floor" && !o.memory_only {
        md.push_str(&format!("\n{first}'s server CPU per delivery over the floor server's (medians):\n\n"));
        for c in &o.configs {
            let key = format!("{}_server_cpu_us_per_delivery", c.key());
            let r = medians[first][&key] / medians["floor"][&key];
            md.push_str(&format!("- {}: {r:.2}×\n", c.label()));
        }
    }
    println!("{md}");

    if let Some(path) = &o.json {
        let json = serde_json::json!({
            "command": o.command,
            "machine": { "nproc": nproc, "cpu": cpu, "loadavg_before": load_before, "loadavg_after": load_after },
            "workload": {
                "clients": o.clients, "seconds": o.seconds,
                "configs": o.configs.iter().map(|c| serde_json::json!({
                    "key": c.key(), "room_size": c.room_size, "senders_per_room": c.senders, "window": c.window,
                })).collect::<Vec<_>>(),
                "memory_room_size": o.room_size,
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
