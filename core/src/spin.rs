//! The outbox lock: a spin lock whose unlock is a plain release store.
//!
//! An outbox's critical sections are a handful of instructions (push one
//! message, or move a batch into the caller's buffer), so waiting for the
//! lock by spinning costs less than parking. What matters more is the
//! fan-out: a lock whose unlock is an atomic read-modify-write makes each
//! delivery wait for the previous one's cache misses; a release store does
//! not. A waiter spins briefly, then yields its time slice, so a preempted
//! holder cannot starve it.

use std::sync::atomic::{AtomicBool, Ordering};

/// The raw lock, used through [`lock_api::Mutex`].
pub(crate) struct RawSpin {
    locked: AtomicBool,
}

/// A mutex built on [`RawSpin`]; same guard API as `parking_lot::Mutex`.
pub(crate) type SpinMutex<T> = lock_api::Mutex<RawSpin, T>;

const SPINS_BEFORE_YIELD: u32 = 64;

// SAFETY: `lock` returns only after this thread changed `locked` from false
// to true with Acquire ordering, so at most one holder exists; `unlock`
// (called only by the holder, per the trait contract) stores false with
// Release ordering, publishing the holder's writes to the next acquirer.
unsafe impl lock_api::RawMutex for RawSpin {
    #[allow(clippy::declare_interior_mutable_const)] // the trait's required initialiser
    const INIT: RawSpin = RawSpin { locked: AtomicBool::new(false) };
    type GuardMarker = lock_api::GuardSend;

    #[inline]
    fn lock(&self) {
        if !self.try_lock() {
            self.lock_contended();
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }
}

impl RawSpin {
    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            // Wait on a plain load (no cache-line ping-pong), then try again.
            while self.locked.load(Ordering::Relaxed) {
                if spins < SPINS_BEFORE_YIELD {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if lock_api::RawMutex::try_lock(self) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn excludes_under_contention() {
        let m = Arc::new(SpinMutex::new((0u64, 0u64)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..50_000 {
                        let mut g = m.lock();
                        // Two non-atomic updates that must stay equal.
                        g.0 += 1;
                        std::hint::spin_loop();
                        g.1 += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let g = m.lock();
        assert_eq!(*g, (200_000, 200_000));
    }
}
