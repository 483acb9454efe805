//! roomcast, through its public API only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::Instant;

use roomcast::{
    Bytes, Config, Connection, DisconnectReason, Engine, Handshake, Message, MessageKind, Namespace, Outbox,
    OverflowPolicy, Payload, RecoveryConfig, Socket,
};

use super::{batched, batched_exact, check_counts, check_total, drain_counted, latency, paced_emitter, threaded, Case};
use crate::scenarios::{room_name, ChurnPlan, LatencyPlan, ManyRoomsPlan, UnionPlan};
use crate::util::{err, fixed_payload, read_stamp, rss_bytes, stamped_bytes, trim_heap, Check, CountingAlloc, EVENT};

/// One client: the connection, the outbox the host drains, the socket in "/".
struct Client {
    _conn: Connection,
    outbox: Outbox,
    socket: Socket,
}

/// An engine whose outboxes hold `max_queue` messages.
fn engine(max_queue: usize, policy: OverflowPolicy) -> Check<(Engine, Namespace)> {
    let cfg = Config::builder()
        .max_queue(max_queue)
        .max_queue_bytes((max_queue * 128).max(1 << 20))
        .overflow(policy)
        .build()
        .map_err(err("config"))?;
    let engine = Engine::new(cfg);
    let ns = engine.of("/").map_err(err("namespace"))?;
    Ok((engine, ns))
}

fn clients(engine: &Engine, n: usize) -> Check<Vec<Client>> {
    (0..n)
        .map(|_| {
            let (conn, outbox) = engine.connect();
            let socket = conn.join_namespace("/", Handshake::new()).map_err(err("join_namespace"))?;
            Ok(Client { _conn: conn, outbox, socket })
        })
        .collect()
}

fn join(c: &Client, room: &str) -> Check<()> {
    c.socket.join(room).map_err(err("join"))
}

/// Drains everything queued (`try_recv_many`), checking every message is an
/// event (a lagged notice means something was dropped).
fn drain(outbox: &Outbox, buf: &mut Vec<Message>) -> Check<u64> {
    let n = outbox.try_recv_many(buf, usize::MAX).map_err(err("try_recv_many"))?;
    for m in buf.drain(..) {
        if m.kind() != MessageKind::Event {
            return Err(format!("unexpected {:?} message (lagged notices mean drops)", m.kind()));
        }
    }
    Ok(n as u64)
}

/// After a run: nothing may be left in any outbox.
fn check_empty(clients: &[Client]) -> Check<()> {
    for (i, c) in clients.iter().enumerate() {
        if !c.outbox.is_empty() {
            return Err(format!("receiver {i} still has {} messages queued after the run", c.outbox.len()));
        }
    }
    Ok(())
}

fn payload(p: &Bytes) -> Payload {
    Payload::binary(p.clone())
}

/// Scenarios 1 and 2: one room holding every client.
pub(crate) struct BigRoom {
    _engine: Engine,
    ns: Namespace,
    clients: Vec<Client>,
    emits: usize,
    second_thread: bool,
    payload: Bytes,
}

impl BigRoom {
    pub(crate) fn new(members: usize, emits: usize, second_thread: bool) -> Check<BigRoom> {
        // Same thread: at most one batch is queued. Second thread: the
        // emitter may run ahead by every emit, so each outbox holds them all.
        let cap = if second_thread { emits.max(1024) } else { 1024 };
        let (engine, ns) = engine(cap, OverflowPolicy::DropNewest)?;
        let clients = clients(&engine, members)?;
        for c in &clients {
            join(c, "big")?;
        }
        Ok(BigRoom { _engine: engine, ns, clients, emits, second_thread, payload: fixed_payload() })
    }
}

impl Case for BigRoom {
    fn run(&mut self) -> Check<Vec<f64>> {
        let members = self.clients.len();
        let total = (self.emits * members) as u64;
        let mut counts = vec![0u64; members];
        let (ns, clients, payload) = (&self.ns, &self.clients, &self.payload);
        let emit =
            || -> Check<usize> { Ok(ns.to("big").emit(EVENT, self::payload(payload)).map_err(err("emit"))?.queued) };
        let elapsed = if self.second_thread {
            let counts = &mut counts;
            let mut buf = Vec::with_capacity(1024);
            threaded(
                total,
                || (0..self.emits).try_fold(0u64, |q, _| Ok(q + emit()? as u64)),
                move || {
                    let mut n = 0;
                    for (i, c) in clients.iter().enumerate() {
                        let k = drain(&c.outbox, &mut buf)?;
                        counts[i] += k;
                        n += k;
                    }
                    Ok(n)
                },
            )?
        } else {
            let mut buf = Vec::with_capacity(1024);
            batched_exact(
                self.emits,
                total,
                |_| emit(),
                |_, _| drain_counted(0..clients.len(), &mut counts, |i| drain(&clients[i].outbox, &mut buf)),
            )?
        };
        check_counts("big room", &counts, |_| self.emits as u64)?;
        check_empty(&self.clients)?;
        Ok(vec![total as f64 / elapsed.as_secs_f64()])
    }
}

/// Scenario 8: one room where every 10th member never drains, under the
/// default configuration; measured against the same room all draining.
pub(crate) struct SlowConsumers {
    _engine: Engine,
    ns: Namespace,
    clients: Vec<Client>,
    emits: usize,
    payload: Bytes,
    max_queue: usize,
}

impl SlowConsumers {
    pub(crate) fn new(members: usize, emits: usize) -> Check<SlowConsumers> {
        let engine = Engine::new(Config::default());
        let max_queue = engine.config().max_queue();
        let ns = engine.of("/").map_err(err("namespace"))?;
        let clients = clients(&engine, members)?;
        for c in &clients {
            join(c, "big")?;
        }
        Ok(SlowConsumers { _engine: engine, ns, clients, emits, payload: fixed_payload(), max_queue })
    }

    fn slow(i: usize) -> bool {
        i % 10 == 0
    }

    /// `emits` timed emits in batches, each batch followed by a drain of
    /// every member (`slow_too`) or of the fast ones only. Returns
    /// deliveries per second (every recipient that queued the emit).
    fn phase(&self, emits: usize, slow_too: bool) -> Check<f64> {
        let mut buf = Vec::with_capacity(1024);
        let (ns, clients, payload) = (&self.ns, &self.clients, &self.payload);
        let (elapsed, queued, _) = batched(
            emits,
            |_| Ok(ns.to("big").emit(EVENT, self::payload(payload)).map_err(err("emit"))?.queued),
            |_, _| {
                let mut n = 0;
                for (i, c) in clients.iter().enumerate() {
                    if slow_too || !Self::slow(i) {
                        n += c.outbox.try_recv_many(&mut buf, usize::MAX).map_err(err("try_recv_many"))?;
                        buf.clear();
                    }
                }
                Ok(n)
            },
        )?;
        check_total("queued", queued, (emits * clients.len()) as u64)?;
        Ok(queued as f64 / elapsed.as_secs_f64())
    }
}

impl Case for SlowConsumers {
    fn run(&mut self) -> Check<Vec<f64>> {
        // Every member draining (what the slow ones held is drained first).
        for c in &self.clients {
            while c.outbox.try_recv_many(&mut Vec::new(), usize::MAX).map_err(err("try_recv_many"))? > 0 {}
        }
        let all = self.phase(self.emits, true)?;
        // Fill the slow members' outboxes, untimed, then measure: every
        // delivery to them evicts their oldest message.
        self.phase(self.max_queue, false)?;
        let slow = self.phase(self.emits, false)?;
        for (i, c) in self.clients.iter().enumerate() {
            let want = if Self::slow(i) { self.max_queue + 1 } else { 0 };
            if c.outbox.len() != want {
                return Err(format!("member {i}: {} queued, expected {want}", c.outbox.len()));
            }
        }
        Ok(vec![all, slow, all / slow])
    }
}

/// Scenario 3: `socket.to(room)` from a random member, sender excluded.
pub(crate) struct ManyRooms<'a> {
    _engine: Engine,
    clients: Vec<Client>,
    names: Vec<String>,
    plan: &'a ManyRoomsPlan,
    payload: Bytes,
}

impl<'a> ManyRooms<'a> {
    pub(crate) fn new(plan: &'a ManyRoomsPlan) -> Check<ManyRooms<'a>> {
        let (engine, _ns) = engine(1024, OverflowPolicy::DropNewest)?;
        let clients = clients(&engine, plan.sockets)?;
        let names: Vec<String> = (0..plan.rooms.len()).map(room_name).collect();
        for (r, members) in plan.rooms.iter().enumerate() {
            for &s in members {
                join(&clients[s as usize], &names[r])?;
            }
        }
        Ok(ManyRooms { _engine: engine, clients, names, plan, payload: fixed_payload() })
    }
}

impl Case for ManyRooms<'_> {
    fn run(&mut self) -> Check<Vec<f64>> {
        let plan = self.plan;
        let (clients, names, payload) = (&self.clients, &self.names, &self.payload);
        let mut counts = vec![0u64; plan.sockets];
        let mut buf = Vec::with_capacity(1024);
        let elapsed = batched_exact(
            plan.emits.len(),
            plan.total,
            |i| {
                let (room, sender) = plan.emits[i];
                let sender = &clients[sender as usize].socket;
                Ok(sender.to(&names[room as usize]).emit(EVENT, self::payload(payload)).map_err(err("emit"))?.queued)
            },
            |lo, hi| drain_counted(plan.recipients(lo, hi), &mut counts, |s| drain(&clients[s].outbox, &mut buf)),
        )?;
        check_counts("many rooms", &counts, |i| plan.expected[i])?;
        check_empty(clients)?;
        Ok(vec![plan.total as f64 / elapsed.as_secs_f64()])
    }
}

/// Scenario 4: `ns.to([a, b, c])`; each payload carries its emit's sequence
/// number and every receiver checks it sees 0, 1, 2, ... exactly once each.
pub(crate) struct Union<'a> {
    _engine: Engine,
    ns: Namespace,
    clients: Vec<Client>,
    plan: &'a UnionPlan,
}

impl<'a> Union<'a> {
    pub(crate) fn new(plan: &'a UnionPlan) -> Check<Union<'a>> {
        let (engine, ns) = engine(1024, OverflowPolicy::DropNewest)?;
        let clients = clients(&engine, plan.sockets)?;
        for (r, members) in plan.rooms.iter().enumerate() {
            for &s in members {
                join(&clients[s as usize], &room_name(r))?;
            }
        }
        Ok(Union { _engine: engine, ns, clients, plan })
    }
}

impl Case for Union<'_> {
    fn run(&mut self) -> Check<Vec<f64>> {
        let plan = self.plan;
        let (ns, clients) = (&self.ns, &self.clients);
        let (r0, r1, r2) = (room_name(0), room_name(1), room_name(2));
        let mut next = vec![0u64; plan.sockets];
        let mut buf = Vec::with_capacity(1024);
        let (elapsed, queued, received) = batched(
            plan.emits,
            |i| {
                let p = Payload::binary(Bytes::copy_from_slice(&stamped_bytes(i as u64)));
                Ok(ns.to([r0.as_str(), r1.as_str(), r2.as_str()]).emit(EVENT, p).map_err(err("emit"))?.queued)
            },
            |_, _| {
                let mut n = 0;
                for &s in &plan.union {
                    clients[s as usize].outbox.try_recv_many(&mut buf, usize::MAX).map_err(err("try_recv_many"))?;
                    for m in buf.drain(..) {
                        UnionPlan::accept(
                            &mut next,
                            s,
                            read_stamp(m.payload().ok_or("message without payload")?.as_bytes())?,
                        )?;
                        n += 1;
                    }
                }
                Ok(n)
            },
        )?;
        // Members saw every emit once; non-members nothing.
        let total = plan.check(queued, received, &next)?;
        check_empty(clients)?;
        Ok(vec![total as f64 / elapsed.as_secs_f64()])
    }
}

/// Scenario 5: two threads join+leave while a third emits.
pub(crate) struct Churn<'a> {
    _engine: Engine,
    ns: Namespace,
    clients: Vec<Client>,
    names: Vec<String>,
    plan: &'a ChurnPlan,
    payload: Bytes,
}

impl<'a> Churn<'a> {
    pub(crate) fn new(plan: &'a ChurnPlan) -> Check<Churn<'a>> {
        let (engine, ns) = engine(1024, OverflowPolicy::DropNewest)?;
        let clients = clients(&engine, plan.sockets)?;
        let names: Vec<String> = (0..plan.rooms.len()).map(room_name).collect();
        for (r, members) in plan.rooms.iter().enumerate() {
            for &s in members {
                join(&clients[s as usize], &names[r])?;
            }
        }
        Ok(Churn { _engine: engine, ns, clients, names, plan, payload: fixed_payload() })
    }
}

impl Case for Churn<'_> {
    fn run(&mut self) -> Check<Vec<f64>> {
        let plan = self.plan;
        let (ns, clients, names, payload) = (&self.ns, &self.clients, &self.names, &self.payload);
        let stop = AtomicBool::new(false);
        let barrier = Barrier::new(3);
        let (rates, wall, (emits, queued, dropped, received)) = std::thread::scope(|s| -> Check<_> {
            let churners: Vec<_> = plan
                .ops
                .iter()
                .map(|ops| {
                    let barrier = &barrier;
                    s.spawn(move || -> Check<f64> {
                        barrier.wait();
                        let start = Instant::now();
                        for &(sock, room) in ops {
                            let socket = &clients[sock as usize].socket;
                            socket.join(names[room as usize].as_str()).map_err(err("join"))?;
                            socket.leave(names[room as usize].as_str()).map_err(err("leave"))?;
                        }
                        Ok(2.0 * ops.len() as f64 / start.elapsed().as_secs_f64())
                    })
                })
                .collect();
            let emitter = s.spawn(|| -> Check<(u64, u64, u64, u64)> {
                let mut buf = Vec::with_capacity(1024);
                let (mut queued, mut dropped, mut received) = (0u64, 0u64, 0u64);
                let emits = paced_emitter(&stop, &barrier, plan.emits_per_tick, plan.tick, |first, count| {
                    for i in first..first + count {
                        let room = plan.emit_room(i);
                        let r = ns.to(names[room].as_str()).emit(EVENT, self::payload(payload)).map_err(err("emit"))?;
                        queued += r.queued as u64;
                        dropped += r.dropped as u64;
                    }
                    for i in first..first + count {
                        for &m in &plan.rooms[plan.emit_room(i)] {
                            received += drain(&clients[m as usize].outbox, &mut buf)?;
                        }
                    }
                    Ok(())
                })?;
                Ok((emits, queued, dropped, received))
            });
            let start = Instant::now();
            let rates: Check<Vec<f64>> =
                churners.into_iter().map(|h| h.join().map_err(|_| "churn thread panicked".to_string())?).collect();
            let wall = start.elapsed();
            stop.store(true, Ordering::Release);
            let emitted = emitter.join().map_err(|_| "emitter panicked".to_string())??;
            Ok((rates?, wall, emitted))
        })?;
        // Messages to sockets that were in a room only transiently are still queued.
        let mut buf = Vec::new();
        let mut rest = 0;
        for c in clients {
            rest += drain(&c.outbox, &mut buf)?;
        }
        check_total("dropped deliveries", dropped, 0)?;
        check_total("received", received + rest, queued)?;
        for (r, members) in plan.rooms.iter().enumerate() {
            check_total("room size after churn", ns.room_size(&names[r]) as u64, members.len() as u64)?;
        }
        Ok(vec![rates.iter().sum(), emits as f64 / wall.as_secs_f64()])
    }
}

/// Scenario 6: live heap bytes (counting allocator) and RSS to hold
/// `n` idle connections, each in "/" (own-id room) and one shared room.
pub(crate) struct Memory {
    pub(crate) connections: usize,
}

impl Case for Memory {
    fn run(&mut self) -> Check<Vec<f64>> {
        let n = self.connections;
        let (engine, ns) = engine(1024, OverflowPolicy::DropOldest)?;
        // The harness's own handle vector is allocated before counting starts.
        let mut handles: Vec<(Connection, Outbox, Socket)> = Vec::with_capacity(n);
        trim_heap();
        let rss0 = rss_bytes();
        let live0 = CountingAlloc::start();
        let built = (|| -> Check<()> {
            for _ in 0..n {
                let (conn, outbox) = engine.connect();
                let socket = conn.join_namespace("/", Handshake::new()).map_err(err("join_namespace"))?;
                socket.join("all").map_err(err("join"))?;
                handles.push((conn, outbox, socket));
            }
            Ok(())
        })();
        let live1 = CountingAlloc::live();
        CountingAlloc::stop();
        let rss1 = rss_bytes();
        built?;
        check_total("room size", ns.room_size("all") as u64, n as u64)?;
        check_total("sockets", engine.stats().sockets, n as u64)?;
        drop(handles);
        check_total("sockets after drop", engine.stats().sockets, 0)?;
        let rss = match (rss0, rss1) {
            (Some(a), Some(b)) => (b as f64 - a as f64) / n as f64,
            _ => f64::NAN,
        };
        Ok(vec![(live1 - live0) as f64 / n as f64, rss])
    }
}

/// Scenario 7: emit-to-receive latency across threads.
pub(crate) struct Latency {
    _engine: Engine,
    ns: Namespace,
    target: Client,
    others: Vec<Client>,
    plan: LatencyPlan,
}

impl Latency {
    pub(crate) fn new(plan: &LatencyPlan) -> Check<Latency> {
        let (engine, ns) = engine(1024, OverflowPolicy::DropNewest)?;
        let mut all = clients(&engine, plan.members)?;
        if plan.members > 1 {
            for c in &all {
                join(c, "lat")?;
            }
        }
        let target = all.remove(0);
        Ok(Latency { _engine: engine, ns, target, others: all, plan: plan.clone() })
    }
}

impl Case for Latency {
    fn run(&mut self) -> Check<Vec<f64>> {
        let (ns, target, others, plan) = (&self.ns, &self.target, &self.others, &self.plan);
        let room = if plan.members > 1 { "lat".to_string() } else { target.socket.id().to_string() };
        let mut buf = Vec::with_capacity(16);
        let out = latency(
            plan.warmup,
            plan.samples,
            plan.pace,
            || {
                let m = target.outbox.recv().map_err(err("recv"))?;
                read_stamp(m.payload().ok_or("message without payload")?.as_bytes())
            },
            |stamp| {
                let p = Payload::binary(Bytes::copy_from_slice(&stamped_bytes(stamp)));
                let r = ns.to(room.as_str()).emit(EVENT, p).map_err(err("emit"))?;
                check_total("queued", r.queued as u64, plan.members as u64)
            },
            || {
                for c in others {
                    check_total("other member received", drain(&c.outbox, &mut buf)?, 1)?;
                }
                Ok(())
            },
            || {
                let _ =
                    target.socket.emit(EVENT, Payload::binary(Bytes::copy_from_slice(&stamped_bytes(super::POISON))));
            },
        )?;
        check_empty(std::slice::from_ref(target))?;
        Ok(out)
    }
}

/// Scenario 9: connection state recovery. The same big-room broadcast with
/// recovery off and on (the cost of numbering and logging each emit, the
/// fan-out under the namespace's log); the server time of a resume that
/// replays `replay` missed events (a resume among as many emits to another
/// room); the heap a kept event holds.
pub(crate) struct Recovery {
    plain: (Engine, Namespace, Vec<Client>),
    kept: (Engine, Namespace, Vec<Client>),
    emits: usize,
    replay: usize,
    samples: usize,
    payload: Bytes,
}

impl Recovery {
    pub(crate) fn new(members: usize, emits: usize, replay: usize, samples: usize) -> Check<Recovery> {
        let side = |recovery: bool| -> Check<(Engine, Namespace, Vec<Client>)> {
            let mut b = Config::builder();
            if recovery {
                b = b.connection_state_recovery(RecoveryConfig::new());
            }
            let engine = Engine::new(b.build().map_err(err("config"))?);
            let ns = engine.of("/").map_err(err("namespace"))?;
            let clients = clients(&engine, members)?;
            for c in &clients {
                join(c, "big")?;
            }
            Ok((engine, ns, clients))
        };
        Ok(Recovery { plain: side(false)?, kept: side(true)?, emits, replay, samples, payload: fixed_payload() })
    }

    fn broadcast(&self, side: &(Engine, Namespace, Vec<Client>)) -> Check<f64> {
        let (_, ns, clients) = side;
        let mut buf = Vec::with_capacity(1024);
        let (elapsed, queued, received) = batched(
            self.emits,
            |_| Ok(ns.to("big").emit(EVENT, payload(&self.payload)).map_err(err("emit"))?.queued),
            |_, _| {
                let mut n = 0;
                for c in clients {
                    n += drain(&c.outbox, &mut buf)?;
                }
                Ok(n as usize)
            },
        )?;
        check_total("queued", queued, (self.emits * clients.len()) as u64)?;
        check_total("received", received, queued)?;
        Ok(queued as f64 / elapsed.as_secs_f64())
    }

    /// p99 of the server time of `samples` resumes, each replaying
    /// `replay` events (checked: all of them, in order), in microseconds.
    fn replay_p99(&self) -> Check<f64> {
        let (engine, ns, _) = &self.kept;
        let mut times = Vec::with_capacity(self.samples);
        for _ in 0..self.samples {
            let (conn, outbox) = engine.connect();
            let s = conn.join_namespace("/", Handshake::new()).map_err(err("join"))?;
            s.join("replay").map_err(err("join"))?;
            let pid = s.session_id().ok_or("no session id")?.to_string();
            conn.close(DisconnectReason::TransportClose);
            drop(outbox);
            for _ in 0..self.replay {
                ns.to("replay").emit(EVENT, payload(&self.payload)).map_err(err("emit"))?;
                ns.to("elsewhere").emit(EVENT, payload(&self.payload)).map_err(err("emit"))?;
            }
            let (conn2, outbox2) = engine.connect();
            let start = Instant::now();
            let back = conn2.resume_namespace("/", Handshake::new(), &pid, None).map_err(err("resume"))?;
            times.push(start.elapsed().as_secs_f64() * 1e6);
            if !back.recovered() {
                return Err("the resume did not recover".into());
            }
            let mut buf = Vec::new();
            let n = outbox2.try_recv_many(&mut buf, usize::MAX).map_err(err("try_recv_many"))?;
            let ordered = buf.windows(2).all(|w| w[0].offset() < w[1].offset());
            if n != self.replay || !ordered {
                return Err(format!("replayed {n} events (in order: {ordered}), expected {}", self.replay));
            }
            drop((back, conn2, outbox2));
        }
        times.sort_by(f64::total_cmp);
        Ok(times[((times.len() * 99).div_ceil(100)).saturating_sub(1)])
    }

    /// Heap bytes per kept event: the log entry plus the message it keeps
    /// (the shared message and its 64-byte payload), and the entry's part
    /// alone (the total minus the same messages held in a plain `Vec`).
    fn memory(&self) -> Check<(f64, f64)> {
        const N: usize = 5_000;
        let engine = Engine::new(
            Config::builder()
                .connection_state_recovery(RecoveryConfig::new().max_events(N))
                .build()
                .map_err(err("config"))?,
        );
        let ns = engine.of("/").map_err(err("namespace"))?;
        ns.to("warm").emit(EVENT, payload(&self.payload)).map_err(err("emit"))?;
        trim_heap();
        let before = CountingAlloc::start();
        for _ in 0..N {
            ns.to("room").emit(EVENT, payload(&self.payload)).map_err(err("emit"))?;
        }
        let logged = CountingAlloc::live() - before;
        let before = CountingAlloc::live();
        let name: std::sync::Arc<str> = std::sync::Arc::from("/");
        let held: Vec<Message> =
            (0..N).map(|_| Message::event(name.clone(), EVENT, payload(&self.payload), None)).collect();
        let plain = CountingAlloc::live() - before - (N * std::mem::size_of::<Message>()) as isize;
        CountingAlloc::stop();
        drop(held);
        let kept = ns.recovery_stats().ok_or("recovery off")?.kept_events;
        if kept != N {
            return Err(format!("{kept} events kept, expected {N}"));
        }
        Ok((logged as f64 / N as f64, (logged - plain) as f64 / N as f64))
    }
}

impl Case for Recovery {
    fn run(&mut self) -> Check<Vec<f64>> {
        let off = self.broadcast(&self.plain)?;
        let on = self.broadcast(&self.kept)?;
        let p99 = self.replay_p99()?;
        let (per_event, bookkeeping) = self.memory()?;
        Ok(vec![off, on, on / off, p99, per_event, bookkeeping])
    }
}
