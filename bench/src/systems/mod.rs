//! The systems under test. Each module builds, from a scenario's plan, the
//! [`Case`]s that one repetition runs; `scenarios.rs` interleaves them.
//!
//! * `roomcast` — the engine, through its public API only.
//! * `naive` — `RwLock<HashMap<String, HashSet<id>>>` + a map of unbounded
//!   tokio mpsc senders: what a host would write in an afternoon.
//! * `broadcast` — one `tokio::sync::broadcast` channel per room (fan-out only).
//! * `floor` — one `VecDeque<Arc<[u8]>>` per subscriber, no locks: the cost
//!   of moving a shared pointer in and out of a queue, nothing else.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use roomcast::Bytes;

use crate::util::{quantile, spin_until, Check, Deadline, TIME_LIMIT};

pub(crate) mod broadcast;
pub(crate) mod floor;
pub(crate) mod naive;
pub(crate) mod roomcast_sys;

/// One system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum System {
    Roomcast,
    Naive,
    Broadcast,
    Floor,
}

impl System {
    /// Every system, in report order (roomcast first).
    pub(crate) const ALL: [System; 4] = [System::Roomcast, System::Naive, System::Broadcast, System::Floor];

    pub(crate) fn name(self) -> &'static str {
        match self {
            System::Roomcast => "roomcast",
            System::Naive => "naive",
            System::Broadcast => "tokio-broadcast",
            System::Floor => "floor",
        }
    }
}

/// One system's work for one scenario, set up once and run once per
/// repetition. `run` does the timed work, checks every count, and returns
/// the scenario's metric values (one per metric, in the scenario's order).
pub(crate) trait Case {
    fn run(&mut self) -> Check<Vec<f64>>;
}

/// The message the baselines deliver: built once per emit and shared by
/// every recipient through an `Arc`, like roomcast's `Message`.
#[derive(Debug)]
pub(crate) struct Msg {
    /// Event name (always [`crate::util::EVENT`] here, but owned, as a
    /// general engine must). Carried like a real message; the receivers here
    /// only count and check payloads.
    #[allow(dead_code)]
    pub(crate) event: String,
    /// The payload; cloning a `Bytes` is a reference-count increment.
    pub(crate) payload: Bytes,
}

impl Msg {
    pub(crate) fn new(event: &str, payload: &Bytes) -> Arc<Msg> {
        Arc::new(Msg { event: event.to_owned(), payload: payload.clone() })
    }
}

/// Emits per batch before the receivers are drained (scenarios 1a, 2, 3, 4).
pub(crate) const BATCH: usize = 64;

/// Scenarios 1a, 2, 3, 4: `emits` emits in batches of [`BATCH`], each batch
/// followed by a drain, all on this thread and all timed. `emit(i)` performs
/// emit `i` and returns how many recipients queued it; `drain(lo, hi)`
/// drains what emits `lo..hi` delivered and returns how many messages it
/// received. Returns the elapsed time and the two totals.
pub(crate) fn batched(
    emits: usize,
    mut emit: impl FnMut(usize) -> Check<usize>,
    mut drain: impl FnMut(usize, usize) -> Check<usize>,
) -> Check<(Duration, u64, u64)> {
    let (mut queued, mut received) = (0u64, 0u64);
    let start = Instant::now();
    let mut lo = 0;
    while lo < emits {
        let hi = (lo + BATCH).min(emits);
        for i in lo..hi {
            queued += emit(i)? as u64;
        }
        received += drain(lo, hi)? as u64;
        lo = hi;
    }
    Ok((start.elapsed(), queued, received))
}

/// [`batched`], then checks that the emits queued and the drains received
/// `total` deliveries each. Returns the elapsed time.
pub(crate) fn batched_exact(
    emits: usize,
    total: u64,
    emit: impl FnMut(usize) -> Check<usize>,
    drain: impl FnMut(usize, usize) -> Check<usize>,
) -> Check<Duration> {
    let (elapsed, queued, received) = batched(emits, emit, drain)?;
    check_total("queued", queued, total)?;
    check_total("received", received, total)?;
    Ok(elapsed)
}

/// Drains the receivers `ids` (indices) with `drain`, which returns what
/// one received; adds it to that receiver's count in `counts`. Returns the
/// messages received in all.
pub(crate) fn drain_counted(
    ids: impl IntoIterator<Item = usize>,
    counts: &mut [u64],
    mut drain: impl FnMut(usize) -> Check<u64>,
) -> Check<usize> {
    let mut n = 0;
    for i in ids {
        let k = drain(i)?;
        counts[i] += k;
        n += k as usize;
    }
    Ok(n)
}

/// Scenario 1b: `emit_all` runs on this thread while a second thread calls
/// `drain_pass` (one pass over every receiver, returning what it received)
/// until it has seen `total` deliveries, yielding after a pass that found
/// nothing. Timed from the start of the emits until the receiver has seen
/// the last delivery. `emit_all` returns the summed queued counts.
pub(crate) fn threaded(
    total: u64,
    emit_all: impl FnOnce() -> Check<u64>,
    drain_pass: impl FnMut() -> Check<u64> + Send,
) -> Check<Duration> {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let receiver = s.spawn(|| -> Check<Instant> {
            let mut drain_pass = drain_pass;
            barrier.wait();
            let deadline = Deadline::after(TIME_LIMIT);
            let mut got = 0u64;
            while got < total {
                let n = drain_pass()?;
                got += n;
                if n == 0 {
                    deadline.check("second-thread receiver")?;
                    std::thread::yield_now();
                }
            }
            let end = Instant::now();
            if got != total {
                return Err(format!("receiver thread saw {got} deliveries, expected {total}"));
            }
            Ok(end)
        });
        barrier.wait();
        let start = Instant::now();
        let queued = emit_all();
        let end = receiver.join().map_err(|_| "receiver thread panicked".to_string())?;
        let queued = queued?;
        let end = end?;
        if queued != total {
            return Err(format!("emits queued {queued} deliveries, expected {total}"));
        }
        Ok(end - start)
    })
}

/// Stamp value that tells a latency receiver to stop (the emitter failed).
pub(crate) const POISON: u64 = u64::MAX;

/// Scenario 7: the receiver thread calls `recv` (blocking; returns the
/// stamp of one message) `warmup + samples` times and records
/// `now - stamp`; this thread paces emits (`emit(stamp)`), waits for each
/// receipt, then calls `after` (untimed work such as draining the other
/// members). On an emitter error `poison` must make `recv` return
/// [`POISON`]. Returns p50, p99 and p99.9 in microseconds.
pub(crate) fn latency(
    warmup: usize,
    samples: usize,
    pace: Duration,
    recv: impl FnMut() -> Check<u64> + Send,
    mut emit: impl FnMut(u64) -> Check<()>,
    mut after: impl FnMut() -> Check<()>,
    poison: impl FnOnce(),
) -> Check<Vec<f64>> {
    let total = warmup + samples;
    let base = Instant::now();
    let now_ns = move || base.elapsed().as_nanos() as u64;
    let received = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let receiver = s.spawn(|| -> Check<Vec<u64>> {
            let mut recv = recv;
            let mut out = Vec::with_capacity(samples);
            for i in 0..total {
                let stamp = recv()?;
                let now = now_ns();
                if stamp == POISON {
                    return Err("receiver stopped by the emitter".into());
                }
                if now < stamp {
                    return Err(format!("message {i} arrived before it was sent"));
                }
                if i >= warmup {
                    out.push(now - stamp);
                }
                received.store(i + 1, Ordering::Release);
            }
            Ok(out)
        });
        let mut run = || -> Check<()> {
            let deadline = Deadline::after(TIME_LIMIT);
            let mut next = Instant::now();
            for i in 0..total {
                spin_until(&deadline, "latency pacing", || Instant::now() >= next)?;
                next = Instant::now() + pace;
                emit(now_ns())?;
                spin_until(&deadline, "latency receipt", || received.load(Ordering::Acquire) > i)?;
                after()?;
            }
            Ok(())
        };
        let outcome = run();
        if outcome.is_err() {
            poison();
        }
        let got = receiver.join().map_err(|_| "latency receiver panicked".to_string())?;
        outcome?;
        let mut v = got?;
        if v.len() != samples {
            return Err(format!("{} latency samples, expected {samples}", v.len()));
        }
        v.sort_unstable();
        Ok([0.5, 0.99, 0.999].iter().map(|&q| quantile(&v, q) as f64 / 1000.0).collect())
    })
}

/// Checks that every receiver got exactly what it should.
pub(crate) fn check_counts(what: &str, counts: &[u64], expected: impl Fn(usize) -> u64) -> Check<()> {
    for (i, &c) in counts.iter().enumerate() {
        let e = expected(i);
        if c != e {
            return Err(format!("{what}: receiver {i} got {c} messages, expected {e}"));
        }
    }
    Ok(())
}

/// Checks a total.
pub(crate) fn check_total(what: &str, got: u64, expected: u64) -> Check<()> {
    if got == expected {
        Ok(())
    } else {
        Err(format!("{what}: {got}, expected {expected}"))
    }
}

/// Scenario 5's emitter: every `tick`, calls `burst(first, count)` (emit
/// `count` messages, numbered from `first`, then drain their recipients),
/// then sleeps until the next tick, until `stop` is set. A burst that
/// overruns its tick is not made up for, so a system that cannot sustain
/// the offered load shows a lower achieved rate. Returns the emits done.
pub(crate) fn paced_emitter(
    stop: &AtomicBool,
    barrier: &Barrier,
    per_tick: usize,
    tick: Duration,
    mut burst: impl FnMut(usize, usize) -> Check<()>,
) -> Check<u64> {
    barrier.wait();
    let deadline = Deadline::after(TIME_LIMIT);
    let mut next = Instant::now();
    let mut done = 0usize;
    while !stop.load(Ordering::Acquire) {
        burst(done, per_tick)?;
        done += per_tick;
        next += tick;
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
        deadline.check("churn emitter")?;
    }
    Ok(done as u64)
}
