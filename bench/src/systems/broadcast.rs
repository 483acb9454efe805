//! tokio-broadcast: one `tokio::sync::broadcast` channel per room, every
//! member holding a `Receiver`. Fan-out scenarios only: a broadcast channel
//! cannot skip the sender, dedupe a multi-room emit or add an existing
//! member set to a room. A `Lagged` error counts as a correctness failure.

use std::sync::Arc;

use roomcast::Bytes;
use tokio::sync::broadcast::{self, error::TryRecvError, Receiver, Sender};

use super::{batched_exact, check_counts, check_total, drain_counted, latency, threaded, Case, Msg};
use crate::scenarios::LatencyPlan;
use crate::util::{fixed_payload, read_stamp, stamped_bytes, Check, EVENT};

type Rx = Receiver<Arc<Msg>>;

/// Everything ready to read, with `try_recv`.
fn drain(rx: &mut Rx) -> Check<u64> {
    let mut n = 0;
    loop {
        match rx.try_recv() {
            Ok(m) => {
                drop(m);
                n += 1;
            }
            Err(TryRecvError::Empty) => return Ok(n),
            Err(e) => return Err(format!("broadcast receiver: {e}")),
        }
    }
}

fn channel(members: usize, capacity: usize) -> (Sender<Arc<Msg>>, Vec<Rx>) {
    let (tx, first) = broadcast::channel(capacity);
    let mut rxs = Vec::with_capacity(members);
    for _ in 1..members {
        rxs.push(tx.subscribe());
    }
    rxs.insert(0, first);
    (tx, rxs)
}

fn send(tx: &Sender<Arc<Msg>>, payload: &Bytes) -> Check<usize> {
    tx.send(Msg::new(EVENT, payload)).map_err(|_| "broadcast send: no receivers".to_string())
}

/// Scenarios 1 and 2: one channel, every member subscribed.
pub(crate) struct BigRoom {
    tx: Sender<Arc<Msg>>,
    rxs: Vec<Rx>,
    emits: usize,
    second_thread: bool,
    payload: Bytes,
}

impl BigRoom {
    pub(crate) fn new(members: usize, emits: usize, second_thread: bool) -> Check<BigRoom> {
        // Capacity: one batch (same thread) or every emit (second thread),
        // so no receiver can lag; same bound as roomcast's outboxes.
        let cap = if second_thread { emits.max(1024) } else { 1024 };
        let (tx, rxs) = channel(members, cap);
        Ok(BigRoom { tx, rxs, emits, second_thread, payload: fixed_payload() })
    }
}

impl Case for BigRoom {
    fn run(&mut self) -> Check<Vec<f64>> {
        let members = self.rxs.len();
        let total = (self.emits * members) as u64;
        let mut counts = vec![0u64; members];
        let (tx, payload, rxs) = (&self.tx, &self.payload, &mut self.rxs);
        let elapsed = if self.second_thread {
            let counts = &mut counts;
            threaded(
                total,
                || (0..self.emits).try_fold(0u64, |q, _| Ok(q + send(tx, payload)? as u64)),
                move || {
                    let mut n = 0;
                    for (i, rx) in rxs.iter_mut().enumerate() {
                        let k = drain(rx)?;
                        counts[i] += k;
                        n += k;
                    }
                    Ok(n)
                },
            )?
        } else {
            batched_exact(
                self.emits,
                total,
                |_| send(tx, payload),
                |_, _| drain_counted(0..rxs.len(), &mut counts, |i| drain(&mut rxs[i])),
            )?
        };
        check_counts("big room", &counts, |_| self.emits as u64)?;
        for rx in &self.rxs {
            check_total("left in receiver", rx.len() as u64, 0)?;
        }
        Ok(vec![total as f64 / elapsed.as_secs_f64()])
    }
}

/// Scenario 7, room target: `blocking_recv` on member 0's receiver.
pub(crate) struct Latency {
    tx: Sender<Arc<Msg>>,
    target: Rx,
    others: Vec<Rx>,
    plan: LatencyPlan,
}

impl Latency {
    pub(crate) fn new(plan: &LatencyPlan) -> Check<Latency> {
        let (tx, mut rxs) = channel(plan.members, 1024);
        let target = rxs.remove(0);
        Ok(Latency { tx, target, others: rxs, plan: plan.clone() })
    }
}

impl Case for Latency {
    fn run(&mut self) -> Check<Vec<f64>> {
        let (tx, plan, others, target) = (&self.tx, &self.plan, &mut self.others, &mut self.target);
        let out = latency(
            plan.warmup,
            plan.samples,
            plan.pace,
            || {
                let m = target.blocking_recv().map_err(|e| format!("broadcast receiver: {e}"))?;
                read_stamp(&m.payload)
            },
            |stamp| {
                let p = Bytes::copy_from_slice(&stamped_bytes(stamp));
                check_total("queued", send(tx, &p)? as u64, plan.members as u64)
            },
            || {
                for rx in others.iter_mut() {
                    check_total("other member received", drain(rx)?, 1)?;
                }
                Ok(())
            },
            || {
                let _ = send(tx, &Bytes::copy_from_slice(&stamped_bytes(super::POISON)));
            },
        )?;
        check_total("left in target", self.target.len() as u64, 0)?;
        Ok(out)
    }
}
