//! Where the 1-socket latency of scenario 7a goes: the wake-up of a parked
//! receiver, measured alone for roomcast's blocking `Outbox::recv` and for
//! the naive baseline's `tokio::sync::mpsc` `blocking_recv`, plus the cost
//! of the emit itself.
//!
//! ```text
//! cargo run --release -p roomcast-bench --example wake_latency
//! ```
//!
//! Each round sends 20,000 timestamps, at least 20 µs apart, from this
//! thread to a receiver thread parked in its blocking receive, waiting for
//! each receipt before the next send (like scenario 7a), first through
//! roomcast (`ns.to(socket id).emit`) then through an unbounded mpsc
//! channel; 5 rounds, p50 and p99 of each printed. Then 100,000 emits to
//! one socket (drained every 64, no receiver parked) give the emit cost.
//! Bounded in count; a receipt that takes over 5 s aborts the run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use roomcast::{Bytes, Config, Engine, Handshake, Payload};

const SAMPLES: usize = 20_000;
const ROUNDS: usize = 5;
const PACE: Duration = Duration::from_micros(20);
const STUCK: Duration = Duration::from_secs(5);

/// p50 and p99 in µs.
fn percentiles(mut ns: Vec<u64>) -> (f64, f64) {
    ns.sort_unstable();
    let at = |q: usize| ns[(ns.len() * q / 100).min(ns.len() - 1)] as f64 / 1e3;
    (at(50), at(99))
}

/// One round: `send(stamp)` from here, `recv()` on a second thread.
fn round(send: impl Fn(u64), recv: impl FnMut() -> u64 + Send) -> (f64, f64) {
    let base = Instant::now();
    let got = AtomicU64::new(0);
    let lat = std::thread::scope(|s| {
        let receiver = s.spawn(|| {
            let mut recv = recv;
            let mut out = Vec::with_capacity(SAMPLES);
            for _ in 0..SAMPLES {
                let stamp = recv();
                out.push(base.elapsed().as_nanos() as u64 - stamp);
                got.fetch_add(1, Ordering::Release);
            }
            out
        });
        for i in 0..SAMPLES as u64 {
            let t = Instant::now();
            while t.elapsed() < PACE {
                std::hint::spin_loop();
            }
            send(base.elapsed().as_nanos() as u64);
            let t = Instant::now();
            while got.load(Ordering::Acquire) <= i {
                assert!(t.elapsed() < STUCK, "receipt {i} not seen within {STUCK:?}");
                std::hint::spin_loop();
            }
        }
        receiver.join().expect("receiver thread")
    });
    percentiles(lat)
}

fn main() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/").expect("namespace");
    let (conn, outbox) = engine.connect();
    let socket = conn.join_namespace("/", Handshake::new()).expect("join_namespace");
    let id = socket.id().to_string();
    let stamp_of = |m: roomcast::Message| -> u64 {
        let bytes = m.payload().expect("payload").as_bytes();
        u64::from_le_bytes(bytes[..8].try_into().expect("8-byte stamp"))
    };
    for r in 0..ROUNDS {
        let (p50, p99) = round(
            |stamp| {
                let p = Payload::binary(Bytes::copy_from_slice(&stamp.to_le_bytes()));
                ns.to(id.as_str()).emit("t", p).expect("emit");
            },
            || stamp_of(outbox.recv().expect("recv")),
        );
        println!("round {r} roomcast outbox recv: p50 {p50:.1} µs, p99 {p99:.1} µs");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let (p50, p99) = round(|stamp| tx.send(stamp).expect("send"), || rx.blocking_recv().expect("recv"));
        println!("round {r} tokio mpsc blocking_recv: p50 {p50:.1} µs, p99 {p99:.1} µs");
    }
    let mut buf = Vec::with_capacity(64);
    let t = Instant::now();
    for i in 0..100_000u64 {
        let p = Payload::binary(Bytes::copy_from_slice(&i.to_le_bytes()));
        ns.to(id.as_str()).emit("t", p).expect("emit");
        if i % 64 == 63 {
            outbox.try_recv_many(&mut buf, usize::MAX).expect("drain");
            buf.clear();
        }
    }
    println!("emit to one socket (drained every 64): {:.0} ns per emit", t.elapsed().as_nanos() as f64 / 1e5);
}
