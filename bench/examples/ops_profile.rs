//! Bounded loops over roomcast's hot operations, for instruction counts
//! under callgrind (the published wall-clock numbers come from the
//! benchmark program, not from here).
//!
//! ```text
//! cargo build --release -p roomcast-bench --example ops_profile
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='ops_profile::churn_loop' \
//!     target/release/examples/ops_profile churn
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='ops_profile::emit_loop' \
//!     target/release/examples/ops_profile many
//! ```
//!
//! A second argument sets the number of sockets (rooms: a tenth); the
//! program also prints wall-clock times of the loops (single runs: take the
//! best of several on a busy machine).
//!
//! `churn`: 10,000 sockets in 3 of 1,000 rooms each, then 20,000 join+leave
//! pairs on rooms the socket is not in. `many`: the same layout, 20,000
//! `socket.to(room)` emits from a member (sender excluded), outboxes drained
//! outside the measured loop. Each loop runs once uncounted first. Divide the
//! collected Ir by 20,000. `churn2` (wall clock only): the churn pairs split
//! over two threads, 20 passes each, no emitter. `many-batched` (wall clock
//! only): the `many` emits in scenario 3's pattern, batches of 64 then a
//! drain of those rooms' members in random order, emit and drain timed
//! apart (`ops_profile many-batched 100000` is scenario 3's size). `big`
//! (wall clock; callgrind with `ops_profile::big_emit` or `drain_all`):
//! scenario 1a's pattern, every socket in one room, 16 batches of 64
//! emits, each followed by a drain of every outbox. `poll` (wall clock):
//! a host polling every outbox with `try_recv_many` while another thread
//! emits to one socket in 100 at a time (an event loop with mostly idle
//! connections); prints ns per polled outbox.

use roomcast::{Config, Engine, Handshake, Outbox, Payload, Socket};

const OPS: usize = 20_000;

/// A fixed-seed xorshift, so runs are comparable.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[inline(always)]
fn churn_ops(sockets: &[Socket], names: &[String], ops: &[(usize, usize)]) {
    for &(s, r) in ops {
        sockets[s].join(names[r].as_str()).expect("join");
        sockets[s].leave(names[r].as_str()).expect("leave");
    }
}

/// The same pairs once, uncounted: one-time growth (a socket's room list,
/// a room's member vector) is paid here, not in the measured loop.
#[inline(never)]
fn churn_warmup(sockets: &[Socket], names: &[String], ops: &[(usize, usize)]) {
    // Its own body (not merged with `churn_loop` by the linker): halves.
    let (a, b) = ops.split_at(ops.len() / 2);
    churn_ops(sockets, names, b);
    churn_ops(sockets, names, a);
}

#[inline(never)]
fn churn_loop(sockets: &[Socket], names: &[String], ops: &[(usize, usize)]) {
    churn_ops(sockets, names, ops);
}

/// Drains every outbox (`--toggle-collect='ops_profile::drain_loop'` counts
/// the receiving side of `many`).
#[inline(never)]
fn drain_loop(outboxes: &[Outbox]) -> usize {
    let mut buf = Vec::with_capacity(64);
    let mut n = 0;
    for o in outboxes {
        n += o.try_recv_many(&mut buf, usize::MAX).expect("drain");
        buf.clear();
    }
    n
}

/// Runs `f`, returning its result and the nanoseconds it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, u128) {
    let t = std::time::Instant::now();
    let out = f();
    (out, t.elapsed().as_nanos())
}

/// Runs `pass` (emit ns, drain ns, deliveries) `passes + 1` times, the
/// first uncounted (rings reach their working size), and prints the times
/// per delivery.
fn report_split(mode: &str, passes: usize, mut pass: impl FnMut() -> (u128, u128, usize)) {
    let (mut emit_ns, mut drain_ns, mut total) = (0u128, 0u128, 0usize);
    for i in 0..=passes {
        let (e, d, n) = pass();
        if i > 0 {
            (emit_ns, drain_ns, total) = (emit_ns + e, drain_ns + d, total + n);
        }
    }
    println!(
        "{mode}: {:.1} ns per delivery to emit, {:.1} ns to drain ({total} deliveries)",
        emit_ns as f64 / total as f64,
        drain_ns as f64 / total as f64
    );
}

/// `big`: 64 emits to the room holding every socket.
#[inline(never)]
fn big_emit(ns: &roomcast::Namespace, room: &str, payload: &Payload) -> usize {
    (0..64).map(|_| ns.to(room).emit("m", payload.clone()).expect("emit").queued).sum()
}

/// `big` and `poll`: one `try_recv_many` per outbox, messages dropped as a
/// host would.
#[inline(never)]
fn drain_all(outboxes: &[Outbox], buf: &mut Vec<roomcast::Message>) -> usize {
    let mut n = 0;
    for o in outboxes {
        n += o.try_recv_many(buf, usize::MAX).expect("drain");
        buf.clear();
    }
    n
}

#[inline(never)]
fn emit_loop_warmup(sockets: &[Socket], names: &[String], emits: &[(usize, usize)], payload: &Payload) -> usize {
    // Its own body (not merged with `emit_loop` by the linker): halves.
    let (a, b) = emits.split_at(emits.len() / 2);
    emit_ops(sockets, names, b, payload) + emit_ops(sockets, names, a, payload)
}

#[inline(never)]
fn emit_loop(sockets: &[Socket], names: &[String], emits: &[(usize, usize)], payload: &Payload) -> usize {
    emit_ops(sockets, names, emits, payload)
}

#[inline(always)]
fn emit_ops(sockets: &[Socket], names: &[String], emits: &[(usize, usize)], payload: &Payload) -> usize {
    let mut queued = 0;
    for &(s, r) in emits {
        queued += sockets[s].to(names[r].as_str()).emit("m", payload.clone()).expect("emit").queued;
    }
    queued
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "churn".into());
    // Optional: number of sockets (rooms: a tenth of it); default 10,000.
    let sockets_n: usize = std::env::args().nth(2).map_or(10_000, |s| s.parse().expect("sockets"));
    let (n_sockets, n_rooms) = (sockets_n, sockets_n / 10);
    let engine = Engine::new(Config::builder().max_queue(1 << 16).max_queue_bytes(1 << 24).build().expect("config"));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut conns = Vec::with_capacity(n_sockets);
    let mut outboxes: Vec<Outbox> = Vec::with_capacity(n_sockets);
    let mut sockets = Vec::with_capacity(n_sockets);
    for _ in 0..n_sockets {
        let (conn, outbox) = engine.connect();
        sockets.push(conn.join_namespace("/", Handshake::new()).expect("join_namespace"));
        conns.push(conn);
        outboxes.push(outbox);
    }
    let names: Vec<String> = (0..n_rooms).map(|i| format!("r{i}")).collect();
    let mut mine = Vec::with_capacity(n_sockets);
    let mut members = vec![Vec::new(); n_rooms];
    for (i, s) in sockets.iter().enumerate() {
        let mut rooms = Vec::new();
        while rooms.len() < 3 {
            let r = rng.below(n_rooms);
            if !rooms.contains(&r) {
                rooms.push(r);
                members[r].push(i);
                s.join(names[r].as_str()).expect("join");
            }
        }
        mine.push(rooms);
    }
    let mut ops = Vec::with_capacity(OPS);
    while ops.len() < OPS && mode != "big" && mode != "poll" {
        let (s, r) = (rng.below(n_sockets), rng.below(n_rooms));
        match mode.as_str() {
            "churn" | "churn2" if !mine[s].contains(&r) => ops.push((s, r)),
            "many" | "many-batched" if members[r].len() >= 2 => ops.push((members[r][rng.below(members[r].len())], r)),
            _ => {}
        }
    }
    match mode.as_str() {
        "churn" => {
            churn_warmup(&sockets, &names, &ops);
            let t = std::time::Instant::now();
            churn_loop(&sockets, &names, &ops);
            let first = t.elapsed().as_nanos() as f64 / OPS as f64;
            // More passes, for a wall-clock median (callgrind counts the first).
            let mut passes: Vec<f64> = (0..15)
                .map(|_| {
                    let t = std::time::Instant::now();
                    churn_ops(&sockets, &names, &ops);
                    t.elapsed().as_nanos() as f64 / OPS as f64
                })
                .collect();
            passes.sort_by(f64::total_cmp);
            println!("churn: {:.1} ns per join+leave pair (median of 15 passes; first {first:.1})", passes[7]);
            for (r, m) in members.iter().enumerate() {
                assert_eq!(engine.of("/").expect("ns").room_size(&names[r]), m.len());
            }
        }
        "churn2" => {
            // Two threads, each its own half of the pairs (wall clock only).
            let (a, b) = ops.split_at(OPS / 2);
            churn_warmup(&sockets, &names, &ops);
            let t = std::time::Instant::now();
            std::thread::scope(|sc| {
                for half in [a, b] {
                    sc.spawn(|| (0..20).for_each(|_| churn_ops(&sockets, &names, half)));
                }
            });
            let rate = 20.0 * 2.0 * OPS as f64 / t.elapsed().as_secs_f64() / 1e6;
            println!("churn2: {rate:.1} M join+leave ops/s on 2 threads");
        }
        "many" => {
            let payload = Payload::binary(vec![7u8; 64]);
            // Uncounted pass: outbox rings reach their working size.
            let warm = emit_loop_warmup(&sockets, &names, &ops, &payload);
            let mut buf = Vec::new();
            for o in &outboxes {
                o.try_recv_many(&mut buf, usize::MAX).expect("drain");
                buf.clear();
            }
            assert_eq!(warm, ops.iter().map(|&(_, r)| members[r].len() - 1).sum::<usize>());
            let t = std::time::Instant::now();
            let queued = emit_loop(&sockets, &names, &ops, &payload);
            let emit_ns = t.elapsed().as_nanos() as f64;
            let want: usize = ops.iter().map(|&(_, r)| members[r].len() - 1).sum();
            assert_eq!(queued, want);
            let t = std::time::Instant::now();
            assert_eq!(drain_loop(&outboxes), want);
            let drain_ns = t.elapsed().as_nanos() as f64;
            println!(
                "many: {:.1} ns per delivery to emit, {:.1} ns per delivery to drain ({want} deliveries)",
                emit_ns / want as f64,
                drain_ns / want as f64
            );
        }
        "many-batched" => {
            // Scenario 3's pattern: batches of 64 emits, then drain the
            // members of those emits' rooms (random order), timed apart.
            let payload = Payload::binary(vec![7u8; 64]);
            let mut buf = Vec::with_capacity(64);
            report_split("many-batched", 5, || {
                let (mut e, mut d, mut n) = (0u128, 0u128, 0usize);
                for batch in ops.chunks(64) {
                    let (k, ns) = timed(|| emit_ops(&sockets, &names, batch, &payload));
                    (n, e) = (n + k, e + ns);
                    let ((), ns) = timed(|| {
                        for &(_, r) in batch {
                            for &m in &members[r] {
                                outboxes[m].try_recv_many(&mut buf, usize::MAX).expect("drain");
                                buf.clear();
                            }
                        }
                    });
                    d += ns;
                }
                (e, d, n)
            });
        }
        "poll" => {
            // 20 passes of: the other thread emits to every 100th socket
            // while this one polls all outboxes 10 times.
            let payload = Payload::binary(vec![7u8; 64]);
            let stop = std::sync::atomic::AtomicBool::new(false);
            let mut buf = Vec::with_capacity(64);
            let mut per_poll = std::thread::scope(|sc| {
                sc.spawn(|| {
                    let t = std::time::Instant::now();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) && t.elapsed().as_secs() < 60 {
                        for s in sockets.iter().step_by(100) {
                            s.emit("m", payload.clone()).expect("emit");
                        }
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                });
                let v: Vec<f64> = (0..20)
                    .map(|_| {
                        let t = std::time::Instant::now();
                        let mut got = 0;
                        for _ in 0..10 {
                            got += drain_all(&outboxes, &mut buf);
                        }
                        std::hint::black_box(got);
                        t.elapsed().as_nanos() as f64 / (10 * outboxes.len()) as f64
                    })
                    .collect();
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                v
            });
            per_poll.sort_by(f64::total_cmp);
            println!("poll: {:.1} ns per polled outbox (median of 20 passes)", per_poll[10]);
        }
        "big" => {
            // Scenario 1a's pattern: one room holding every socket, batches
            // of 64 emits, then every outbox drained; 16 batches.
            let room = "big";
            for s in &sockets {
                s.join(room).expect("join");
            }
            let ns = engine.of("/").expect("ns");
            let payload = Payload::binary(vec![7u8; 64]);
            let mut buf = Vec::with_capacity(64);
            report_split("big", 16, || {
                let (n, e) = timed(|| big_emit(&ns, room, &payload));
                let (drained, d) = timed(|| drain_all(&outboxes, &mut buf));
                assert_eq!(drained, n);
                (e, d, n)
            });
        }
        other => panic!("unknown mode {other:?} (churn | churn2 | many | many-batched | big | poll)"),
    }
    println!("{mode}: {OPS} ops done");
}
