//! Small shared helpers: the seeded PRNG, payloads, statistics, time limits,
//! and the counting allocator used by the memory scenario.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use roomcast::Bytes;

/// Result of one benchmark step: `Err` is a correctness failure or a timeout,
/// and aborts the program with a non-zero exit.
pub(crate) type Check<T> = Result<T, String>;

/// Every wait in the program gives up after this long.
pub(crate) const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Payload size of every scenario.
pub(crate) const PAYLOAD_LEN: usize = 64;

/// Event name of every emit.
pub(crate) const EVENT: &str = "m";

/// Turns any displayable error into the program's error string.
pub(crate) fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {e}")
}

/// A tiny xorshift64* generator: deterministic, seeded, good enough to pick
/// rooms and members. Every system sees the plans made from the same seed.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        // A zero state would stay zero; mix the seed once.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (multiply-shift; `n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// `k` distinct values of `0..n`, in random order (partial Fisher-Yates).
    pub(crate) fn sample(&mut self, n: usize, k: usize) -> Vec<u32> {
        let mut all: Vec<u32> = (0..n as u32).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }
}

/// The 64-byte payload used where the content does not matter.
pub(crate) fn fixed_payload() -> Bytes {
    Bytes::copy_from_slice(&[0xAB; PAYLOAD_LEN])
}

/// A 64-byte payload whose first 8 bytes carry `value` (a sequence number or
/// a timestamp), built fresh for one emit.
pub(crate) fn stamped_bytes(value: u64) -> [u8; PAYLOAD_LEN] {
    let mut b = [0xAB; PAYLOAD_LEN];
    b[..8].copy_from_slice(&value.to_le_bytes());
    b
}

/// Reads the value written by [`stamped_bytes`].
pub(crate) fn read_stamp(bytes: &[u8]) -> Check<u64> {
    let head: [u8; 8] =
        bytes.get(..8).and_then(|s| s.try_into().ok()).ok_or_else(|| format!("payload of {} bytes", bytes.len()))?;
    Ok(u64::from_le_bytes(head))
}

/// Median of a non-empty sample (mean of the two middle values when even).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
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

/// The `q` quantile (0..=1) of sorted data, nearest-rank.
pub(crate) fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A deadline for a bounded wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Instant);

impl Deadline {
    pub(crate) fn after(limit: Duration) -> Deadline {
        Deadline(Instant::now() + limit)
    }

    pub(crate) fn check(&self, what: &str) -> Check<()> {
        if Instant::now() > self.0 {
            Err(format!("{what}: gave up after {} s", TIME_LIMIT.as_secs()))
        } else {
            Ok(())
        }
    }
}

/// Spins (with a CPU hint) until `done()` holds, checking the deadline now
/// and then.
pub(crate) fn spin_until(deadline: &Deadline, what: &str, mut done: impl FnMut() -> bool) -> Check<()> {
    let mut spins = 0u32;
    while !done() {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % 4096 == 0 {
            deadline.check(what)?;
        }
    }
    Ok(())
}

/// Resident set size of this process in bytes, from `/proc/self/status`.
pub(crate) fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Gives freed heap memory back to the OS (glibc's `malloc_trim`), so an
/// RSS delta measured next counts the pages the measured code touches
/// rather than free space left by earlier work. A no-op elsewhere.
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: glibc's malloc_trim takes a byte count, touches only the
        // allocator's own state and is safe to call at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Global allocator that counts live heap bytes while counting is switched
/// on. Off, it costs one relaxed load per call, so it does not skew the
/// throughput scenarios; the memory scenario switches it on around the
/// allocations it measures.
pub(crate) struct CountingAlloc;

#[repr(align(64))]
struct Padded<T>(T);

static COUNTING: Padded<AtomicBool> = Padded(AtomicBool::new(false));
static LIVE: Padded<AtomicIsize> = Padded(AtomicIsize::new(0));

impl CountingAlloc {
    /// Starts counting; returns the current counter.
    pub(crate) fn start() -> isize {
        COUNTING.0.store(true, Ordering::SeqCst);
        LIVE.0.load(Ordering::SeqCst)
    }

    /// The counter: bytes allocated minus bytes freed while counting was on.
    pub(crate) fn live() -> isize {
        LIVE.0.load(Ordering::SeqCst)
    }

    /// Stops counting.
    pub(crate) fn stop() {
        COUNTING.0.store(false, Ordering::SeqCst);
    }

    #[inline]
    fn add(n: usize) {
        if COUNTING.0.load(Ordering::Relaxed) {
            LIVE.0.fetch_add(n as isize, Ordering::Relaxed);
        }
    }

    #[inline]
    fn sub(n: usize) {
        if COUNTING.0.load(Ordering::Relaxed) {
            LIVE.0.fetch_sub(n as isize, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters are plain atomics and never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        Self::sub(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            Self::sub(layout.size());
            Self::add(new_size);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_and_quantiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(quantile(&v, 0.5), 500);
        assert_eq!(quantile(&v, 0.99), 990);
        assert_eq!(quantile(&v, 0.999), 999);
        assert_eq!(quantile(&[7], 0.999), 7);
    }

    #[test]
    fn rng_is_seeded_and_samples_distinct_values() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        assert_eq!(
            (0..10).map(|_| a.next_u64()).collect::<Vec<_>>(),
            (0..10).map(|_| b.next_u64()).collect::<Vec<_>>()
        );
        let mut s = Rng::new(7).sample(100, 30);
        assert_eq!(s.len(), 30);
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 30);
        assert!(s.iter().all(|&x| x < 100));
        let mut r = Rng::new(1);
        assert!((0..10_000).all(|_| r.below(3) < 3));
    }

    #[test]
    fn stamps_round_trip() {
        assert_eq!(read_stamp(&stamped_bytes(123_456_789)).unwrap(), 123_456_789);
        assert!(read_stamp(&[1, 2, 3]).is_err());
    }
}
