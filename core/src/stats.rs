//! The engine's statistics: the counters every part updates, and the
//! snapshot [`Engine::stats`](crate::Engine::stats) returns.

use std::sync::atomic::{AtomicU64, Ordering};

/// Engine-wide counters. All `Relaxed`: they are statistics, read as a
/// snapshot, and no other memory access is ordered by them.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) connections: AtomicU64,
    pub(crate) sockets: AtomicU64,
    pub(crate) rooms: AtomicU64,
    pub(crate) emitted: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) acks_ignored: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        if n != 0 {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }
    pub(crate) fn sub(c: &AtomicU64, n: u64) {
        if n != 0 {
            c.fetch_sub(n, Ordering::Relaxed);
        }
    }
}

/// A snapshot of the engine's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Open connections.
    pub connections: u64,
    /// Connected sockets, across namespaces.
    pub sockets: u64,
    /// Existing rooms, across namespaces (own-id rooms included).
    pub rooms: u64,
    /// Namespaces.
    pub namespaces: u64,
    /// Emits performed (one per `emit` call that reached the fan-out).
    pub emitted: u64,
    /// Messages queued into outboxes.
    pub delivered: u64,
    /// Messages not delivered: refused by a full or closed outbox, or
    /// evicted by `drop_oldest`.
    pub dropped: u64,
    /// Ack replies ignored because their id was unknown, already answered
    /// or timed out.
    pub acks_ignored: u64,
}
