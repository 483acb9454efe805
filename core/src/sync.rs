//! The synchronisation primitives of the hand-written concurrent code (the
//! spin lock, the outbox, its ring and the message reference count), taken
//! from `std`, `parking_lot` and `atomic-waker` in normal builds and from
//! [loom](https://docs.rs/loom) when the crate is built with `--cfg loom`.
//!
//! Everything the loom models check goes through this module, so the code
//! the models explore is the code that ships, not a copy. The two sides
//! present one API: loom's shape where the two differ (`UnsafeCell::get_mut`
//! hands out a tracked pointer), `parking_lot`'s shape for the blocking
//! locks (`lock()` returns the guard, `Condvar::wait` takes `&mut guard`).
//!
//! The models live beside the code they check (`queue`, `message`) (`#[cfg(all(test, loom))]`
//! modules) and run with `scripts/loom.sh`.

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::hint::spin_loop;
    pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::thread::yield_now;

    pub(crate) use parking_lot::{Condvar, Mutex, RwLock};

    /// `std::cell::UnsafeCell` with loom's accessor.
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    /// A raw pointer into an [`UnsafeCell`] (loom's `MutPtr` tracks the
    /// access for as long as it lives; this one is the bare pointer).
    pub(crate) struct MutPtr<T>(*mut T);

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(crate) fn get_mut(&self) -> MutPtr<T> {
            MutPtr(self.0.get())
        }
    }

    impl<T> MutPtr<T> {
        /// # Safety
        ///
        /// As dereferencing the `*mut T`: the caller holds the only access to
        /// the cell for the lifetime it picks.
        #[inline(always)]
        #[allow(clippy::mut_from_ref)] // the pointer is the exclusive access
        pub(crate) unsafe fn deref(&self) -> &mut T {
            // SAFETY: per this function's contract.
            unsafe { &mut *self.0 }
        }
    }

    /// The task waker slot of an async receiver.
    pub(crate) struct AtomicWaker(atomic_waker::AtomicWaker);

    impl AtomicWaker {
        pub(crate) fn new() -> AtomicWaker {
            AtomicWaker(atomic_waker::AtomicWaker::new())
        }

        #[inline]
        pub(crate) fn register(&self, waker: &std::task::Waker) {
            self.0.register(waker);
        }

        #[inline]
        pub(crate) fn wake(&self) {
            self.0.wake();
        }
    }

    /// Gives the processor away for a while: the last resort of a spin
    /// lock waiter whose holder is not running (see `spin`).
    pub(crate) fn sleep(d: std::time::Duration) {
        std::thread::sleep(d);
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::{MutPtr, UnsafeCell};
    pub(crate) use loom::hint::spin_loop;
    pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use loom::thread::yield_now;

    use std::time::Instant;

    /// loom's mutex with `parking_lot`'s guard API.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// The guard; `None` only while a `Condvar::wait` holds the inner guard.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap()))
        }
    }

    impl<T> std::ops::Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().unwrap()
        }
    }

    impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().unwrap()
        }
    }

    /// What `Condvar::wait_until` reports.
    pub(crate) struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        pub(crate) fn timed_out(&self) -> bool {
            self.0
        }
    }

    /// loom's condition variable with `parking_lot`'s API. loom has no
    /// clock, so `wait_until` waits for a notification like `wait`: the
    /// models use deadlines only where a notification is due.
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().unwrap();
            guard.0 = Some(self.0.wait(inner).unwrap());
        }

        pub(crate) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, _deadline: Instant) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult(false)
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// loom's reader-writer lock with `parking_lot`'s API.
    pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> RwLock<T> {
            RwLock(loom::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
            self.0.read().unwrap()
        }

        pub(crate) fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
            self.0.write().unwrap()
        }
    }

    /// loom's waker slot with `atomic-waker`'s API.
    pub(crate) struct AtomicWaker(loom::future::AtomicWaker);

    impl AtomicWaker {
        pub(crate) fn new() -> AtomicWaker {
            AtomicWaker(loom::future::AtomicWaker::new())
        }

        pub(crate) fn register(&self, waker: &std::task::Waker) {
            self.0.register_by_ref(waker);
        }

        pub(crate) fn wake(&self) {
            self.0.wake();
        }
    }

    /// loom has no clock: sleeping is yielding to the other threads.
    pub(crate) fn sleep(_d: std::time::Duration) {
        loom::thread::yield_now();
    }
}

pub(crate) use imp::*;
