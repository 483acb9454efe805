//! FFI overhead benchmark, Rust side: the workloads of
//! `ffi/examples/ffi_bench.c` through the Rust API, with the same sizes and
//! the same work per operation (the payload is copied from the caller's
//! buffer at each emit, as the C API must). `scripts/bench-c.sh` runs both,
//! interleaved, and reports medians and ratios.
//!
//! ```text
//! cargo run --release -p roomcast-ffi --example ffi_bench [-- --quick] [--only NAME] [--iters N]
//! ```
//!
//! Prints one `NAME NS_PER_OP` line per workload; exits 1 on a count
//! mismatch.

use std::hint::black_box;
use std::process::exit;
use std::time::Instant;

use roomcast_core::{Bytes, Config, Engine, Format, Handshake, Payload};

/// Untimed iterations first, as in the C program.
const WARM_EMITS: i64 = 20;
/// Untimed iterations of the other workloads.
const WARM: i64 = 5000;

fn payload(data: &[u8]) -> Payload {
    Payload::new(Format::Binary, Bytes::copy_from_slice(data)).expect("binary payloads are always valid")
}

fn room_emit_drain(e: &Engine, data: &[u8], members: usize, emits: usize) {
    let ns = e.of("/big").unwrap();
    let mut conns = Vec::with_capacity(members);
    for _ in 0..members {
        let (conn, outbox) = e.connect();
        let s = conn.join_namespace("/big", Handshake::new()).unwrap();
        s.join("r").unwrap();
        conns.push((conn, outbox, s));
    }
    let (mut received, mut bytes) = (0usize, 0usize);
    let mut t0 = Instant::now();
    for k in -WARM_EMITS..emits as i64 {
        if k == 0 {
            (t0, received, bytes) = (Instant::now(), 0, 0);
        }
        ns.to("r").emit("ev", payload(data)).unwrap();
        for (_, outbox, _) in &conns {
            let m = outbox.try_recv().unwrap();
            bytes += black_box(m.payload().unwrap().as_bytes()).len();
            received += 1;
        }
    }
    let dt = t0.elapsed().as_nanos() as f64;
    if received != members * emits || bytes != received * data.len() {
        eprintln!("room_emit_drain: received {received}");
        exit(1);
    }
    println!("room_emit_drain {:.1}", dt / emits as f64);
}

fn join_leave(e: &Engine, pairs: usize) {
    let names: Vec<String> = (0..64).map(|i| format!("room-{i}")).collect();
    e.of("/jl").unwrap();
    let (conn, _outbox) = e.connect();
    let s = conn.join_namespace("/jl", Handshake::new()).unwrap();
    let mut t0 = Instant::now();
    for k in -WARM..pairs as i64 {
        if k == 0 {
            t0 = Instant::now();
        }
        let name = names[(k & 63) as usize].as_str();
        s.join(name).unwrap();
        s.leave(name).unwrap();
    }
    let dt = t0.elapsed().as_nanos() as f64;
    println!("join_leave {:.1}", dt / pairs as f64);
}

fn round_trip(e: &Engine, data: &[u8], n: usize) {
    e.of("/rt").unwrap();
    let (conn, outbox) = e.connect();
    let s = conn.join_namespace("/rt", Handshake::new()).unwrap();
    let mut bytes = 0;
    let mut t0 = Instant::now();
    for k in -WARM..n as i64 {
        if k == 0 {
            (t0, bytes) = (Instant::now(), 0);
        }
        s.emit("ev", payload(data)).unwrap();
        let m = outbox.try_recv().unwrap();
        bytes += black_box(m.payload().unwrap().as_bytes()).len();
    }
    let dt = t0.elapsed().as_nanos() as f64;
    if bytes != n * data.len() {
        exit(1);
    }
    println!("round_trip {:.1}", dt / n as f64);
}

fn dispatch(e: &Engine, data: &[u8], n: usize) {
    let ns = e.of("/d").unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s2 = seen.clone();
    ns.on("ev", move |_s, ev, _ack| {
        s2.fetch_add(ev.payload().len(), std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    let (conn, _outbox) = e.connect();
    let s = conn.join_namespace("/d", Handshake::new()).unwrap();
    let mut t0 = Instant::now();
    for k in -WARM..n as i64 {
        if k == 0 {
            t0 = Instant::now();
            seen.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        s.dispatch(roomcast_core::Inbound::event("ev", payload(data))).unwrap();
    }
    let dt = t0.elapsed().as_nanos() as f64;
    if seen.load(std::sync::atomic::Ordering::Relaxed) != n * data.len() {
        exit(1);
    }
    println!("dispatch {:.1}", dt / n as f64);
}

fn main() {
    let mut quick = false;
    let mut only: Option<String> = None;
    let mut iters = 0usize; // 0: the defaults below
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--only" => only = args.next(),
            "--iters" => iters = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            _ => {
                eprintln!("usage: ffi_bench [--quick] [--only NAME] [--iters N]");
                exit(2);
            }
        }
    }
    let pick = |name: &str, full: usize, small: usize| -> Option<usize> {
        if only.as_deref().is_some_and(|o| o != name) {
            None
        } else if iters > 0 {
            Some(iters)
        } else {
            Some(if quick { small } else { full })
        }
    };
    let data: Vec<u8> = (0..64u8).collect();
    let e = Engine::new(Config::default());
    if let Some(n) = pick("room_emit_drain", 300, 5) {
        room_emit_drain(&e, &data, 1000, n);
    }
    if let Some(n) = pick("join_leave", 200_000, 1000) {
        join_leave(&e, n);
    }
    if let Some(n) = pick("round_trip", 300_000, 1000) {
        round_trip(&e, &data, n);
    }
    if let Some(n) = pick("dispatch", 300_000, 1000) {
        dispatch(&e, &data, n);
    }
}
