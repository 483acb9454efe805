//! What every part of one engine shares: its configuration, counters,
//! adapter, key sources, shut-down flag and ack timer. Namespaces hold it;
//! the engine creates it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::acks::{Timer, TimerThread};
use crate::adapter::Adapter;
use crate::config::Config;
use crate::stats::Counters;

/// State shared by every part of one engine.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) stats: Counters,
    /// Source of socket keys, unique per engine.
    pub(crate) next_key: AtomicU64,
    /// Source of connection ids.
    pub(crate) next_conn: AtomicU64,
    pub(crate) adapter: Arc<dyn Adapter>,
    /// Set once by [`Engine::shutdown`]; then no namespace is created and
    /// no socket registered. Read by `Socket::register` under its
    /// namespace's `removed` read lock, which `shutdown` write-locks once
    /// after setting it: a registration either sees the flag or is visible
    /// to shutdown's walk over the sockets.
    pub(crate) shut_down: AtomicBool,
    /// The ack timer and its thread, started on the first ack emit; the
    /// thread is joined when the last engine handle drops.
    timer: OnceLock<TimerThread>,
}

impl Shared {
    pub(crate) fn new(config: Config, adapter: Arc<dyn Adapter>) -> Shared {
        Shared {
            config,
            stats: Counters::default(),
            next_key: AtomicU64::new(1),
            next_conn: AtomicU64::new(1),
            adapter,
            shut_down: AtomicBool::new(false),
            timer: OnceLock::new(),
        }
    }

    /// The engine's ack timer, started on first use.
    pub(crate) fn timer(&self) -> std::io::Result<&Arc<Timer>> {
        if let Some(t) = self.timer.get() {
            return Ok(&t.timer);
        }
        let t = Timer::start()?;
        // Another thread may have won the race; its timer is kept, ours is
        // stopped (its thread exits at once and is joined).
        if let Err(t) = self.timer.set(t) {
            t.stop();
        }
        self.timer.get().map(|t| &t.timer).ok_or_else(|| std::io::Error::other("ack timer not initialised"))
    }

    /// True once [`Engine::shutdown`] ran.
    pub(crate) fn is_shut_down(&self) -> bool {
        // SeqCst: paired with the store in `shutdown`; see the field.
        self.shut_down.load(Ordering::SeqCst)
    }
}

impl Drop for Shared {
    /// The last engine handle is gone: stop the ack timer and wait for its
    /// thread, so no roomcast thread outlives the engine (a C host may
    /// unload the library next). Holds no lock.
    fn drop(&mut self) {
        if let Some(t) = self.timer.take() {
            t.stop();
        }
    }
}
