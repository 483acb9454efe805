//! The outbox lock: a spin lock whose unlock is a plain release store.
//!
//! # Contract
//!
//! While a [`SpinMutex`] is held, the holder does only a few instructions of
//! bookkeeping on the data it guards:
//!
//! * **no allocation and no free** — the outbox allocates a bigger ring or
//!   control queue before it takes the lock and frees the old one after it
//!   lets go; messages it evicts or a receiver's buffer growth are dropped
//!   or done outside too;
//! * **no blocking** — no system call, no condvar, no channel;
//! * **no nested lock** — it is the innermost lock of the engine (see the
//!   crate docs, "Threads and locks"): nothing else is acquired while it is
//!   held, and no user code runs.
//!
//! The loom models in `queue` check the lock and the code around it (see
//! `crate::sync`).
//!
//! # Why a spin lock
//!
//! An outbox's critical sections are a handful of instructions (push one
//! message, or move a batch into the caller's buffer), so waiting for the
//! lock by spinning costs less than parking. What matters more is the
//! fan-out: a lock whose unlock is an atomic read-modify-write makes each
//! delivery wait for the previous one's cache misses; a release store does
//! not. That is also why a waiter does not register itself anywhere: an
//! unlock that had to check for parked waiters would need a read-modify-write
//! or a full fence.
//!
//! # Waiting
//!
//! A waiter spins [`SPINS`] times on a plain load (no cache-line ping-pong),
//! then yields its time slice [`YIELDS`] times, so a holder that was
//! preempted can run; if the lock is still held after that the holder is
//! not getting a processor (more runnable threads than cores, or a
//! real-time waiter starving a normal-priority holder), and the waiter
//! sleeps — from [`MIN_SLEEP`] doubling up to [`MAX_SLEEP`] — so it stops
//! burning the core the holder needs. Under the contract above a holder
//! that is running lets go within nanoseconds, so the sleeping stage is
//! reached only when the holder was descheduled.

use std::mem::ManuallyDrop;
use std::time::Duration;

use crate::lock_order::{self, Held, Rank};
use crate::sync::{spin_loop, yield_now, AtomicBool, MutPtr, Ordering, UnsafeCell};

/// Spins on a plain load before the first yield.
const SPINS: u32 = 64;
/// Yields before the first sleep.
const YIELDS: u32 = 32;
/// The first sleep of a waiter whose holder is not running.
const MIN_SLEEP: Duration = Duration::from_micros(20);
/// The longest sleep between two attempts.
const MAX_SLEEP: Duration = Duration::from_millis(1);

/// A mutual-exclusion lock for data touched by a few instructions at a time
/// (see the module docs for what its holder may not do).
///
/// `repr(C)`: the lock word comes first, so an outbox that lays out its hot
/// fields around the lock knows where it is.
#[repr(C)]
pub(crate) struct SpinMutex<T> {
    locked: AtomicBool,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `T` to one thread at a time (see
// `lock`), so sharing the mutex only ever moves `T` between threads.
unsafe impl<T: Send> Send for SpinMutex<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SpinMutex<T> {}

/// Exclusive access to a [`SpinMutex`]'s data; unlocks when dropped.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinMutex<T>,
    /// The access, tracked by loom while the guard lives; `drop` ends it
    /// just before the unlocking store (a no-op outside loom).
    data: ManuallyDrop<MutPtr<T>>,
    /// The lock-order record (debug builds; dropped after the unlock).
    _held: Held,
}

impl<T> SpinMutex<T> {
    pub(crate) fn new(value: T) -> SpinMutex<T> {
        SpinMutex { locked: AtomicBool::new(false), data: UnsafeCell::new(value) }
    }

    /// Takes the lock, waiting as the module docs describe.
    ///
    /// In debug builds the lock-order check runs first: this is the
    /// innermost lock ([`Rank::OutboxState`]), so nothing may be taken
    /// while it is held.
    #[inline]
    #[track_caller]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        let held = lock_order::enter(Rank::OutboxState, 0);
        if !self.try_acquire() {
            self.lock_contended();
        }
        SpinGuard { lock: self, data: ManuallyDrop::new(self.data.get_mut()), _held: held }
    }

    /// One attempt. Acquire: the previous holder's writes to the data
    /// (published by its Release unlock) are visible to this one.
    #[inline(always)]
    fn try_acquire(&self) -> bool {
        self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        let mut waits = 0u32;
        let mut sleep = MIN_SLEEP;
        loop {
            // Wait on a plain load; Relaxed, because the acquiring CAS below
            // is what orders the data.
            while self.locked.load(Ordering::Relaxed) {
                if waits < SPINS {
                    spin_loop();
                } else if waits < SPINS + YIELDS {
                    yield_now();
                } else {
                    crate::sync::sleep(sleep);
                    sleep = (sleep * 2).min(MAX_SLEEP);
                }
                waits = waits.saturating_add(1);
            }
            if self.try_acquire() {
                return;
            }
        }
    }
}

impl<T> std::ops::Deref for SpinGuard<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so this is the only access to
        // the data; the pointer lives until `drop`.
        unsafe { MutPtr::deref(&self.data) }
    }
}

impl<T> std::ops::DerefMut for SpinGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this borrow unique.
        unsafe { MutPtr::deref(&self.data) }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        // End the (loom-tracked) access before the lock is released.
        // SAFETY: dropped once, here, and not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.data) };
        // Release: this holder's writes happen before the next acquirer's
        // reads.
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
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

    /// A holder that is not running (here: asleep with the lock) must not
    /// make its waiters spin or yield for the whole time: after the bounded
    /// spin and yield stages they sleep. Measured as the waiter's CPU time
    /// over a 300 ms hold (a spinning or yielding waiter uses ~all of it).
    #[test]
    #[cfg(target_os = "linux")]
    fn a_waiter_sleeps_once_the_holder_is_not_running() {
        fn thread_cpu() -> Duration {
            let mut ts = std::mem::MaybeUninit::<[i64; 2]>::uninit();
            // CLOCK_THREAD_CPUTIME_ID = 3 on Linux.
            extern "C" {
                fn clock_gettime(clk: i32, ts: *mut [i64; 2]) -> i32;
            }
            // SAFETY: `ts` is a valid out-pointer for a `struct timespec`
            // (two 64-bit fields on the 64-bit Linux targets this runs on).
            let ts = unsafe {
                assert_eq!(clock_gettime(3, ts.as_mut_ptr()), 0);
                ts.assume_init()
            };
            Duration::new(ts[0] as u64, ts[1] as u32)
        }
        let m = Arc::new(SpinMutex::new(0u32));
        let g = m.lock();
        let waiter = {
            let m = m.clone();
            std::thread::spawn(move || {
                let t0 = thread_cpu();
                *m.lock() += 1;
                thread_cpu() - t0
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        drop(g);
        let cpu = waiter.join().unwrap();
        assert_eq!(*m.lock(), 1);
        assert!(cpu < Duration::from_millis(100), "the waiter used {cpu:?} of CPU while the holder slept 300 ms");
    }
}
