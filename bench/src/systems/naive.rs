//! The naive baseline: what a host would write without an engine.
//!
//! `parking_lot::RwLock<HashMap<String, HashSet<SocketId>>>` for rooms, a
//! `HashMap<SocketId, UnboundedSender<Arc<Msg>>>` for delivery (std hashers),
//! the message built once per emit and shared by `Arc`. A single-room emit
//! walks the room's `HashSet` and looks every id up in the senders map; a
//! multi-room emit dedupes with a fresh `HashSet`. Every socket is also in a
//! room named by its id (20 characters, like roomcast's ids), for parity.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use parking_lot::RwLock;
use roomcast::Bytes;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::{
    batched, batched_exact, check_counts, check_total, drain_counted, latency, paced_emitter, threaded, Case, Msg,
};
use crate::scenarios::{room_name, ChurnPlan, LatencyPlan, ManyRoomsPlan, UnionPlan};
use crate::util::{fixed_payload, read_stamp, rss_bytes, stamped_bytes, trim_heap, Check, CountingAlloc, EVENT};

type SocketId = u64;
type Rx = UnboundedReceiver<Arc<Msg>>;

/// The naive engine.
#[derive(Default)]
pub(crate) struct Naive {
    rooms: RwLock<HashMap<String, HashSet<SocketId>>>,
    senders: RwLock<HashMap<SocketId, UnboundedSender<Arc<Msg>>>>,
    next_id: AtomicU64,
}

/// The own-id room of socket `id`.
fn own_room(id: SocketId) -> String {
    format!("{id:020}")
}

impl Naive {
    /// A new socket: its channel, its sender registered, its own-id room.
    /// Ids count up from 0, so they double as indices in the plans.
    pub(crate) fn connect(&self) -> (SocketId, Rx) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = unbounded_channel();
        self.senders.write().insert(id, tx);
        self.join(id, &own_room(id));
        (id, rx)
    }

    pub(crate) fn join(&self, id: SocketId, room: &str) {
        let mut rooms = self.rooms.write();
        match rooms.get_mut(room) {
            Some(set) => {
                set.insert(id);
            }
            None => {
                rooms.insert(room.to_owned(), HashSet::from([id]));
            }
        }
    }

    pub(crate) fn leave(&self, id: SocketId, room: &str) {
        let mut rooms = self.rooms.write();
        if let Some(set) = rooms.get_mut(room) {
            set.remove(&id);
            if set.is_empty() {
                rooms.remove(room);
            }
        }
    }

    pub(crate) fn room_size(&self, room: &str) -> usize {
        self.rooms.read().get(room).map_or(0, HashSet::len)
    }

    /// Sends to the union of `rooms`, minus `except`; returns how many
    /// senders accepted the message.
    pub(crate) fn emit(&self, rooms: &[&str], except: Option<SocketId>, event: &str, payload: &Bytes) -> usize {
        let msg = Msg::new(event, payload);
        let table = self.rooms.read();
        let senders = self.senders.read();
        let mut sent = 0;
        let mut send = |id: &SocketId| {
            if Some(*id) == except {
                return;
            }
            if let Some(tx) = senders.get(id) {
                if tx.send(msg.clone()).is_ok() {
                    sent += 1;
                }
            }
        };
        if let [room] = rooms {
            if let Some(set) = table.get(*room) {
                set.iter().for_each(&mut send);
            }
        } else {
            let mut seen = HashSet::new();
            for room in rooms {
                if let Some(set) = table.get(*room) {
                    for id in set {
                        if seen.insert(*id) {
                            send(id);
                        }
                    }
                }
            }
        }
        sent
    }
}

/// Drains a receiver with `try_recv` in a loop (its `recv_many`).
fn drain(rx: &mut Rx) -> u64 {
    let mut n = 0;
    while let Ok(m) = rx.try_recv() {
        drop(m);
        n += 1;
    }
    n
}

fn check_empty(rxs: &mut [Rx]) -> Check<()> {
    for (i, rx) in rxs.iter_mut().enumerate() {
        if !rx.is_empty() {
            return Err(format!("receiver {i} still has {} messages queued after the run", rx.len()));
        }
    }
    Ok(())
}

fn sockets(n: usize) -> (Naive, Vec<Rx>) {
    let naive = Naive::default();
    let rxs = (0..n).map(|_| naive.connect().1).collect();
    (naive, rxs)
}

/// Scenarios 1 and 2.
pub(crate) struct BigRoom {
    naive: Naive,
    rxs: Vec<Rx>,
    emits: usize,
    second_thread: bool,
    payload: Bytes,
}

impl BigRoom {
    pub(crate) fn new(members: usize, emits: usize, second_thread: bool) -> Check<BigRoom> {
        let (naive, rxs) = sockets(members);
        for id in 0..members as u64 {
            naive.join(id, "big");
        }
        Ok(BigRoom { naive, rxs, emits, second_thread, payload: fixed_payload() })
    }
}

impl Case for BigRoom {
    fn run(&mut self) -> Check<Vec<f64>> {
        let members = self.rxs.len();
        let total = (self.emits * members) as u64;
        let mut counts = vec![0u64; members];
        let (naive, payload, rxs) = (&self.naive, &self.payload, &mut self.rxs);
        let emit = || naive.emit(&["big"], None, EVENT, payload);
        let elapsed = if self.second_thread {
            let counts = &mut counts;
            threaded(
                total,
                || Ok((0..self.emits).map(|_| emit() as u64).sum()),
                move || {
                    let mut n = 0;
                    for (i, rx) in rxs.iter_mut().enumerate() {
                        let k = drain(rx);
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
                |_| Ok(emit()),
                |_, _| drain_counted(0..rxs.len(), &mut counts, |i| Ok(drain(&mut rxs[i]))),
            )?
        };
        check_counts("big room", &counts, |_| self.emits as u64)?;
        check_empty(&mut self.rxs)?;
        Ok(vec![total as f64 / elapsed.as_secs_f64()])
    }
}

/// Scenario 3: the sender's id is skipped in the loop.
pub(crate) struct ManyRooms<'a> {
    naive: Naive,
    rxs: Vec<Rx>,
    names: Vec<String>,
    plan: &'a ManyRoomsPlan,
    payload: Bytes,
}

impl<'a> ManyRooms<'a> {
    pub(crate) fn new(plan: &'a ManyRoomsPlan) -> Check<ManyRooms<'a>> {
        let (naive, rxs) = sockets(plan.sockets);
        let names: Vec<String> = (0..plan.rooms.len()).map(room_name).collect();
        for (r, members) in plan.rooms.iter().enumerate() {
            for &s in members {
                naive.join(u64::from(s), &names[r]);
            }
        }
        Ok(ManyRooms { naive, rxs, names, plan, payload: fixed_payload() })
    }
}

impl Case for ManyRooms<'_> {
    fn run(&mut self) -> Check<Vec<f64>> {
        let plan = self.plan;
        let (naive, names, payload, rxs) = (&self.naive, &self.names, &self.payload, &mut self.rxs);
        let mut counts = vec![0u64; plan.sockets];
        let elapsed = batched_exact(
            plan.emits.len(),
            plan.total,
            |i| {
                let (room, sender) = plan.emits[i];
                Ok(naive.emit(&[names[room as usize].as_str()], Some(u64::from(sender)), EVENT, payload))
            },
            |lo, hi| drain_counted(plan.recipients(lo, hi), &mut counts, |s| Ok(drain(&mut rxs[s]))),
        )?;
        check_counts("many rooms", &counts, |i| plan.expected[i])?;
        check_empty(rxs)?;
        Ok(vec![plan.total as f64 / elapsed.as_secs_f64()])
    }
}

/// Scenario 4.
pub(crate) struct Union<'a> {
    naive: Naive,
    rxs: Vec<Rx>,
    plan: &'a UnionPlan,
}

impl<'a> Union<'a> {
    pub(crate) fn new(plan: &'a UnionPlan) -> Check<Union<'a>> {
        let (naive, rxs) = sockets(plan.sockets);
        for (r, members) in plan.rooms.iter().enumerate() {
            for &s in members {
                naive.join(u64::from(s), &room_name(r));
            }
        }
        Ok(Union { naive, rxs, plan })
    }
}

impl Case for Union<'_> {
    fn run(&mut self) -> Check<Vec<f64>> {
        let plan = self.plan;
        let (naive, rxs) = (&self.naive, &mut self.rxs);
        let (r0, r1, r2) = (room_name(0), room_name(1), room_name(2));
        let mut next = vec![0u64; plan.sockets];
        let (elapsed, queued, received) = batched(
            plan.emits,
            |i| {
                let p = Bytes::copy_from_slice(&stamped_bytes(i as u64));
                Ok(naive.emit(&[r0.as_str(), r1.as_str(), r2.as_str()], None, EVENT, &p))
            },
            |_, _| {
                let mut n = 0;
                for &s in &plan.union {
                    let rx = &mut rxs[s as usize];
                    while let Ok(m) = rx.try_recv() {
                        UnionPlan::accept(&mut next, s, read_stamp(&m.payload)?)?;
                        n += 1;
                    }
                }
                Ok(n)
            },
        )?;
        // Members saw every emit once; non-members nothing.
        let total = plan.check(queued, received, &next)?;
        check_empty(rxs)?;
        Ok(vec![total as f64 / elapsed.as_secs_f64()])
    }
}

/// Scenario 5: join/leave take the rooms map's write lock.
pub(crate) struct Churn<'a> {
    naive: Naive,
    rxs: Vec<Rx>,
    names: Vec<String>,
    plan: &'a ChurnPlan,
    payload: Bytes,
}

impl<'a> Churn<'a> {
    pub(crate) fn new(plan: &'a ChurnPlan) -> Check<Churn<'a>> {
        let (naive, rxs) = sockets(plan.sockets);
        let names: Vec<String> = (0..plan.rooms.len()).map(room_name).collect();
        for (r, members) in plan.rooms.iter().enumerate() {
            for &s in members {
                naive.join(u64::from(s), &names[r]);
            }
        }
        Ok(Churn { naive, rxs, names, plan, payload: fixed_payload() })
    }
}

impl Case for Churn<'_> {
    fn run(&mut self) -> Check<Vec<f64>> {
        let plan = self.plan;
        let (naive, names, payload) = (&self.naive, &self.names, &self.payload);
        let rxs = &mut self.rxs;
        let stop = AtomicBool::new(false);
        let barrier = Barrier::new(3);
        let (rates, emits, wall, queued, received) = std::thread::scope(|s| -> Check<_> {
            let churners: Vec<_> = plan
                .ops
                .iter()
                .map(|ops| {
                    let barrier = &barrier;
                    s.spawn(move || -> f64 {
                        barrier.wait();
                        let start = Instant::now();
                        for &(sock, room) in ops {
                            naive.join(u64::from(sock), &names[room as usize]);
                            naive.leave(u64::from(sock), &names[room as usize]);
                        }
                        2.0 * ops.len() as f64 / start.elapsed().as_secs_f64()
                    })
                })
                .collect();
            let emitter = s.spawn(|| -> Check<(u64, u64, u64)> {
                let (mut queued, mut received) = (0u64, 0u64);
                let emits = paced_emitter(&stop, &barrier, plan.emits_per_tick, plan.tick, |first, count| {
                    for i in first..first + count {
                        let room = plan.emit_room(i);
                        queued += naive.emit(&[names[room].as_str()], None, EVENT, payload) as u64;
                    }
                    for i in first..first + count {
                        for &m in &plan.rooms[plan.emit_room(i)] {
                            received += drain(&mut rxs[m as usize]);
                        }
                    }
                    Ok(())
                })?;
                Ok((emits, queued, received))
            });
            let start = Instant::now();
            let rates: Check<Vec<f64>> =
                churners.into_iter().map(|h| h.join().map_err(|_| "churn thread panicked".to_string())).collect();
            let wall = start.elapsed();
            stop.store(true, Ordering::Release);
            let (emits, queued, received) = emitter.join().map_err(|_| "emitter panicked".to_string())??;
            Ok((rates?, emits, wall, queued, received))
        })?;
        let rest: u64 = self.rxs.iter_mut().map(drain).sum();
        check_total("received", received + rest, queued)?;
        for (r, members) in plan.rooms.iter().enumerate() {
            check_total("room size after churn", naive.room_size(&names[r]) as u64, members.len() as u64)?;
        }
        Ok(vec![rates.iter().sum(), emits as f64 / wall.as_secs_f64()])
    }
}

/// Scenario 6: the maps, one unbounded channel per socket, the own-id room
/// and the shared room.
pub(crate) struct Memory {
    pub(crate) connections: usize,
}

impl Case for Memory {
    fn run(&mut self) -> Check<Vec<f64>> {
        let n = self.connections;
        let naive = Naive::default();
        let mut handles: Vec<(SocketId, Rx)> = Vec::with_capacity(n);
        trim_heap();
        let rss0 = rss_bytes();
        let live0 = CountingAlloc::start();
        for _ in 0..n {
            let (id, rx) = naive.connect();
            naive.join(id, "all");
            handles.push((id, rx));
        }
        let live1 = CountingAlloc::live();
        CountingAlloc::stop();
        let rss1 = rss_bytes();
        check_total("room size", naive.room_size("all") as u64, n as u64)?;
        check_total("senders", naive.senders.read().len() as u64, n as u64)?;
        drop(handles);
        drop(naive);
        let rss = match (rss0, rss1) {
            (Some(a), Some(b)) => (b as f64 - a as f64) / n as f64,
            _ => f64::NAN,
        };
        Ok(vec![(live1 - live0) as f64 / n as f64, rss])
    }
}

/// Scenario 7: `blocking_recv` on the target's channel.
pub(crate) struct Latency {
    naive: Naive,
    target: Rx,
    others: Vec<Rx>,
    plan: LatencyPlan,
}

impl Latency {
    pub(crate) fn new(plan: &LatencyPlan) -> Check<Latency> {
        let (naive, mut rxs) = sockets(plan.members);
        if plan.members > 1 {
            for id in 0..plan.members as u64 {
                naive.join(id, "lat");
            }
        }
        let target = rxs.remove(0);
        Ok(Latency { naive, target, others: rxs, plan: plan.clone() })
    }
}

impl Case for Latency {
    fn run(&mut self) -> Check<Vec<f64>> {
        let (naive, plan, others, target) = (&self.naive, &self.plan, &mut self.others, &mut self.target);
        let room = if plan.members > 1 { "lat".to_string() } else { own_room(0) };
        let out = latency(
            plan.warmup,
            plan.samples,
            plan.pace,
            || {
                let m = target.blocking_recv().ok_or("channel closed")?;
                read_stamp(&m.payload)
            },
            |stamp| {
                let p = Bytes::copy_from_slice(&stamped_bytes(stamp));
                check_total("queued", naive.emit(&[room.as_str()], None, EVENT, &p) as u64, plan.members as u64)
            },
            || {
                for rx in others.iter_mut() {
                    check_total("other member received", drain(rx), 1)?;
                }
                Ok(())
            },
            || {
                naive.emit(
                    &[own_room(0).as_str()],
                    None,
                    EVENT,
                    &Bytes::copy_from_slice(&stamped_bytes(super::POISON)),
                );
            },
        )?;
        check_total("left in target", self.target.len() as u64, 0)?;
        Ok(out)
    }
}
