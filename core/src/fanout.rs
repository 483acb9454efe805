//! The fan-out: pushing one shared message into each selected member's
//! outbox under the room locks, and the follow-ups (notify callbacks,
//! overflow disconnects) run once those locks are released. The emit hot
//! path; the membership walk that drives it is in `rooms`.

use std::sync::Arc;

use crate::connection::{close_conn, ConnInner, Member};
use crate::message::{DisconnectReason, Message, Prepaid};
use crate::queue::Pushed;
use crate::rooms::Visit;
use crate::stats::Counters;

/// What an emit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EmitReport {
    /// Sockets the target selected.
    pub recipients: usize,
    /// Outboxes that accepted the message.
    pub queued: usize,
    /// Recipients whose outbox refused it (full, volatile, closing).
    /// `queued + dropped == recipients`.
    pub dropped: usize,
}

enum Followup {
    Notify,
    Overflow,
}

/// Accumulates a fan-out: pushes into outboxes under the room locks and
/// remembers the follow-ups (notify callbacks, overflow disconnects) to run
/// once those locks are released.
pub(crate) struct Fanout<'m> {
    /// References to the message, taken in bulk.
    refs: Prepaid<'m>,
    volatile: bool,
    pub(crate) report: EmitReport,
    evicted: u64,
    followups: Vec<(Arc<ConnInner>, Followup)>,
}

impl<'m> Fanout<'m> {
    pub(crate) fn new(msg: &'m Message, volatile: bool) -> Self {
        Fanout { refs: Prepaid::new(msg), volatile, report: EmitReport::default(), evicted: 0, followups: Vec::new() }
    }

    /// Pushes into one member's outbox; returns whether it was queued.
    #[inline(always)]
    pub(crate) fn send(&mut self, m: &Member) -> bool {
        self.push(m.conn.get(), false, || m.conn.to_arc())
    }

    #[inline]
    pub(crate) fn send_conn(&mut self, conn: &Arc<ConnInner>, control: bool) -> bool {
        self.push(conn, control, || conn.clone())
    }

    /// Pushes into `conn`'s outbox; `owned` makes the handle a follow-up
    /// keeps past the locks (rare: overflow or an empty -> non-empty
    /// transition with a notify callback).
    #[inline(always)]
    fn push(&mut self, conn: &ConnInner, control: bool, owned: impl Fn() -> Arc<ConnInner>) -> bool {
        self.report.recipients += 1;
        let out = conn.queue.push(&mut self.refs, self.volatile, control);
        let queued = match out.pushed {
            Pushed::Queued { evicted } => {
                self.report.queued += 1;
                self.evicted += u64::from(evicted);
                true
            }
            Pushed::Dropped => {
                self.report.dropped += 1;
                false
            }
            Pushed::Overflow => {
                self.report.dropped += 1;
                self.followups.push((owned(), Followup::Overflow));
                false
            }
        };
        if out.notify {
            self.followups.push((owned(), Followup::Notify));
        }
        queued
    }

    /// Records the statistics and runs the follow-ups. Must be called with
    /// no engine lock held: it calls notify callbacks and may close
    /// connections (which runs disconnect handlers).
    pub(crate) fn finish(self, counters: &Counters) -> EmitReport {
        Counters::add(&counters.delivered, self.report.queued as u64);
        Counters::add(&counters.dropped, self.report.dropped as u64 + self.evicted);
        for (conn, f) in self.followups {
            match f {
                Followup::Notify => conn.queue.fire_notify(),
                Followup::Overflow => close_conn(&conn, DisconnectReason::QueueOverflow),
            }
        }
        self.report
    }
}

impl Visit<ConnInner> for Fanout<'_> {
    #[inline(always)]
    fn visit(&mut self, m: &Member) {
        self.send(m);
    }
}
