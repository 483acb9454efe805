//! The scenarios: their parameters (full and `--quick`), the plans every
//! system executes (room memberships and emit sequences from one seeded
//! PRNG), and the interleaved repetition loop.

use std::time::Duration;

use serde_json::json;

use crate::report::{Row, SysResult};
use crate::systems::{broadcast, check_counts, check_total, floor, naive, roomcast_sys, Case, System};
use crate::util::{Check, Rng};

/// Scenario identifiers accepted by `--only`.
pub(crate) const NAMES: [(&str, &str); 9] = [
    ("1", "big-room"),
    ("2", "sweep"),
    ("3", "many-rooms"),
    ("4", "union"),
    ("5", "churn"),
    ("6", "memory"),
    ("7", "latency"),
    ("8", "slow-consumers"),
    ("9", "recovery"),
];

/// Seed of every plan; each scenario derives its own stream from it.
const SEED: u64 = 0x5EED_0FC0_FFEE;

/// Sizes and counts of one run of the program.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) quick: bool,
    pub(crate) reps: usize,
    /// Untimed (but checked) run of every case before the repetitions.
    pub(crate) warmup: bool,
    pub(crate) big_members: usize,
    pub(crate) big_emits: usize,
    pub(crate) sweep_sizes: Vec<usize>,
    pub(crate) sweep_deliveries: usize,
    pub(crate) many_sockets: usize,
    pub(crate) many_rooms: usize,
    pub(crate) many_emits: usize,
    pub(crate) union_room: usize,
    pub(crate) union_emits: usize,
    pub(crate) churn_sockets: usize,
    pub(crate) churn_rooms: usize,
    pub(crate) churn_pairs: usize,
    /// Offered emit load during churn, per millisecond.
    pub(crate) churn_emits_per_ms: usize,
    pub(crate) memory_connections: usize,
    pub(crate) memory_reps: usize,
    pub(crate) latency_room: usize,
    pub(crate) latency_samples: usize,
    pub(crate) latency_warmup: usize,
    pub(crate) latency_pace: Duration,
    pub(crate) slow_members: usize,
    pub(crate) slow_emits: usize,
}

impl Params {
    pub(crate) fn new(quick: bool, reps: Option<usize>) -> Params {
        let reps = reps.unwrap_or(if quick { 1 } else { 5 });
        if quick {
            Params {
                quick,
                reps,
                warmup: false,
                big_members: 2_000,
                big_emits: 100,
                sweep_sizes: vec![10, 100, 1_000, 10_000],
                sweep_deliveries: 100_000,
                many_sockets: 5_000,
                many_rooms: 500,
                many_emits: 5_000,
                union_room: 1_000,
                union_emits: 20,
                churn_sockets: 1_000,
                churn_rooms: 100,
                churn_pairs: 5_000,
                churn_emits_per_ms: 20,
                memory_connections: 10_000,
                memory_reps: reps,
                latency_room: 1_000,
                latency_samples: 500,
                latency_warmup: 100,
                latency_pace: Duration::from_micros(20),
                slow_members: 2_000,
                slow_emits: 50,
            }
        } else {
            Params {
                quick,
                reps,
                warmup: true,
                big_members: 10_000,
                big_emits: 1_000,
                sweep_sizes: vec![10, 100, 1_000, 10_000, 100_000],
                sweep_deliveries: 2_000_000,
                many_sockets: 100_000,
                many_rooms: 10_000,
                many_emits: 100_000,
                union_room: 10_000,
                union_emits: 200,
                churn_sockets: 10_000,
                churn_rooms: 1_000,
                churn_pairs: 200_000,
                churn_emits_per_ms: 20,
                memory_connections: 1_000_000,
                memory_reps: reps.min(3),
                latency_room: 1_000,
                latency_samples: 20_000,
                latency_warmup: 2_000,
                latency_pace: Duration::from_micros(20),
                slow_members: 10_000,
                slow_emits: 200,
            }
        }
    }
}

/// Name of room `i` in the plans.
pub(crate) fn room_name(i: usize) -> String {
    format!("r{i}")
}

/// Scenario 3: many small rooms; each emit goes to a random room, from a
/// random member of it (`socket.to(room)`, sender excluded).
#[derive(Debug)]
pub(crate) struct ManyRoomsPlan {
    pub(crate) sockets: usize,
    /// Members of each room (distinct socket indices).
    pub(crate) rooms: Vec<Vec<u32>>,
    /// `(room, sender)` per emit; the sender is a member of the room.
    pub(crate) emits: Vec<(u32, u32)>,
    /// Messages each socket must receive over one run.
    pub(crate) expected: Vec<u64>,
    /// Sum of `expected`.
    pub(crate) total: u64,
}

impl ManyRoomsPlan {
    /// The recipients of emits `lo..hi`, one entry per delivery.
    pub(crate) fn recipients(&self, lo: usize, hi: usize) -> impl Iterator<Item = usize> + '_ {
        self.emits[lo..hi].iter().flat_map(|&(room, _)| self.rooms[room as usize].iter().map(|&s| s as usize))
    }

    fn new(sockets: usize, rooms: usize, per_socket: usize, emits: usize, rng: &mut Rng) -> ManyRoomsPlan {
        let mut members = vec![Vec::new(); rooms];
        for s in 0..sockets {
            for r in rng.sample(rooms, per_socket) {
                members[r as usize].push(s as u32);
            }
        }
        let mut plan_emits = Vec::with_capacity(emits);
        let mut expected = vec![0u64; sockets];
        while plan_emits.len() < emits {
            let r = rng.below(rooms);
            let m = &members[r];
            if m.len() < 2 {
                continue;
            }
            let sender = m[rng.below(m.len())];
            for &s in m {
                if s != sender {
                    expected[s as usize] += 1;
                }
            }
            plan_emits.push((r as u32, sender));
        }
        let total = expected.iter().sum();
        ManyRoomsPlan { sockets, rooms: members, emits: plan_emits, expected, total }
    }
}

/// Scenario 4: three overlapping rooms; every emit targets all three.
#[derive(Debug)]
pub(crate) struct UnionPlan {
    pub(crate) sockets: usize,
    pub(crate) rooms: [Vec<u32>; 3],
    /// Sockets in at least one of the rooms, ascending.
    pub(crate) union: Vec<u32>,
    pub(crate) emits: usize,
}

impl UnionPlan {
    /// Records that socket `s` received the emit stamped `seq`. Every
    /// system's receivers go through here: each emit exactly once, in order.
    pub(crate) fn accept(next: &mut [u64], s: u32, seq: u64) -> Check<()> {
        let want = &mut next[s as usize];
        if seq != *want {
            return Err(format!("socket {s} got emit {seq}, expected emit {want}"));
        }
        *want += 1;
        Ok(())
    }

    /// After a run: the totals, and per socket every emit for members of
    /// the union and nothing for the rest. Returns the total deliveries.
    pub(crate) fn check(&self, queued: u64, received: u64, next: &[u64]) -> Check<u64> {
        let total = (self.emits * self.union.len()) as u64;
        check_total("queued", queued, total)?;
        check_total("received", received, total)?;
        check_counts(
            "union",
            next,
            |i| {
                if self.union.binary_search(&(i as u32)).is_ok() {
                    self.emits as u64
                } else {
                    0
                }
            },
        )?;
        Ok(total)
    }

    fn new(room: usize, emits: usize, rng: &mut Rng) -> UnionPlan {
        // Rooms are random `room`-subsets of a universe sized so that two
        // rooms share ~30% of their members: |A∩B| = room²/universe.
        let sockets = (room as f64 / 0.3).round() as usize;
        let rooms = [rng.sample(sockets, room), rng.sample(sockets, room), rng.sample(sockets, room)];
        let mut is = vec![false; sockets];
        for r in &rooms {
            for &s in r {
                is[s as usize] = true;
            }
        }
        let union = (0..sockets as u32).filter(|&s| is[s as usize]).collect();
        UnionPlan { sockets, rooms, union, emits }
    }

    /// Members shared by rooms `a` and `b`.
    fn overlap(&self, a: usize, b: usize) -> usize {
        let set: std::collections::HashSet<u32> = self.rooms[a].iter().copied().collect();
        self.rooms[b].iter().filter(|s| set.contains(s)).count()
    }
}

/// Scenario 5: base memberships (kept intact), plus two lists of join+leave
/// pairs on rooms the socket is not a base member of, plus the emitter's
/// room sequence.
#[derive(Debug)]
pub(crate) struct ChurnPlan {
    pub(crate) sockets: usize,
    pub(crate) rooms: Vec<Vec<u32>>,
    /// Per churn thread: `(socket, room)` pairs.
    pub(crate) ops: [Vec<(u32, u32)>; 2],
    /// Rooms the emitter targets, cycled.
    pub(crate) emit_rooms: Vec<u32>,
    /// The emitter's offered load: this many emits every `tick`.
    pub(crate) emits_per_tick: usize,
    pub(crate) tick: Duration,
}

impl ChurnPlan {
    fn new(sockets: usize, rooms: usize, pairs: usize, emits_per_tick: usize, rng: &mut Rng) -> ChurnPlan {
        let mut members = vec![Vec::new(); rooms];
        let mut of_socket = Vec::with_capacity(sockets);
        for s in 0..sockets {
            let mine = rng.sample(rooms, 3);
            for &r in &mine {
                members[r as usize].push(s as u32);
            }
            of_socket.push(mine);
        }
        let list = |rng: &mut Rng| {
            let mut v = Vec::with_capacity(pairs);
            while v.len() < pairs {
                let s = rng.below(sockets);
                let r = rng.below(rooms) as u32;
                if !of_socket[s].contains(&r) {
                    v.push((s as u32, r));
                }
            }
            v
        };
        let ops = [list(rng), list(rng)];
        let emit_rooms = (0..65_536).map(|_| rng.below(rooms) as u32).collect();
        ChurnPlan { sockets, rooms: members, ops, emit_rooms, emits_per_tick, tick: Duration::from_millis(1) }
    }

    /// Room of the emitter's `i`-th emit.
    pub(crate) fn emit_room(&self, i: usize) -> usize {
        self.emit_rooms[i % self.emit_rooms.len()] as usize
    }
}

/// Scenario 7: one target socket, alone or in a room of `members`.
#[derive(Debug, Clone)]
pub(crate) struct LatencyPlan {
    /// 1: `to(socket id)`; more: a room of that many, measured on member 0.
    pub(crate) members: usize,
    pub(crate) warmup: usize,
    pub(crate) samples: usize,
    pub(crate) pace: Duration,
}

/// A case, or the reason the system does not take part.
pub(crate) type Entry<'a> = (System, Result<Box<dyn Case + 'a>, &'static str>);

/// Runs `warmup` (if set) and then `reps` repetitions, each repetition
/// running every system once, one after another, the starting system
/// rotating; returns per system and per metric the values of every
/// repetition.
fn interleave(
    label: &str,
    p: &Params,
    reps: usize,
    warmup: bool,
    entries: &mut [Entry<'_>],
) -> Check<Vec<Option<Vec<Vec<f64>>>>> {
    let mut out: Vec<Option<Vec<Vec<f64>>>> =
        entries.iter().map(|(_, c)| c.as_ref().ok().map(|_| Vec::new())).collect();
    let live: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].1.is_ok()).collect();
    if warmup {
        for &i in &live {
            let (sys, case) = &mut entries[i];
            if let Ok(case) = case {
                case.run().map_err(|e| format!("[{label}] {} (warm-up): {e}", sys.name()))?;
            }
        }
    }
    for rep in 0..reps {
        for k in 0..live.len() {
            let i = live[(rep + k) % live.len()];
            let (sys, case) = &mut entries[i];
            let Ok(case) = case else { continue };
            let values = case.run().map_err(|e| format!("[{label}] {} (rep {}): {e}", sys.name(), rep + 1))?;
            let slot = out[i].get_or_insert_with(Vec::new);
            if slot.is_empty() {
                slot.resize(values.len(), Vec::new());
            }
            for (m, v) in values.into_iter().enumerate() {
                slot[m].push(v);
            }
            if !p.quick {
                eprintln!(
                    "  [{label}] rep {}/{reps} {}: {}",
                    rep + 1,
                    sys.name(),
                    short(&slot.iter().map(|v| v[v.len() - 1]).collect::<Vec<_>>())
                );
            }
        }
    }
    Ok(out)
}

fn short(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:.4e}")).collect::<Vec<_>>().join(" ")
}

/// One metric a scenario's cases return (in this order).
struct Metric {
    suffix: &'static str,
    metric: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    ratios: bool,
}

const THROUGHPUT: &[Metric] =
    &[Metric { suffix: "", metric: "deliveries/s", unit: "1/s", higher_is_better: true, ratios: true }];

fn ok<'a, C: Case + 'a>(case: C) -> Result<Box<dyn Case + 'a>, &'static str> {
    Ok(Box::new(case))
}

/// What a scenario is, for its rows and its repetitions.
struct Spec<'m> {
    id: String,
    scenario: String,
    params: serde_json::Value,
    /// Room size of a sweep point (scenario 2).
    sweep_size: Option<usize>,
    metrics: &'m [Metric],
    reps: usize,
    warmup: bool,
}

impl<'m> Spec<'m> {
    /// A scenario run `p.reps` times (after a warm-up when `p.warmup`),
    /// not a sweep point.
    fn new(
        p: &Params,
        id: impl Into<String>,
        scenario: String,
        params: serde_json::Value,
        metrics: &'m [Metric],
    ) -> Self {
        Spec { id: id.into(), scenario, params, sweep_size: None, metrics, reps: p.reps, warmup: p.warmup }
    }
}

/// Builds the rows of one scenario from its interleaved results.
fn rows(spec: &Spec<'_>, entries: &[Entry<'_>], values: &[Option<Vec<Vec<f64>>>]) -> Vec<Row> {
    spec.metrics
        .iter()
        .enumerate()
        .map(|(m, metric)| Row {
            id: format!("{}{}", spec.id, metric.suffix),
            scenario: spec.scenario.clone(),
            metric: metric.metric,
            unit: metric.unit,
            higher_is_better: metric.higher_is_better,
            ratios: metric.ratios,
            sweep_size: spec.sweep_size,
            params: spec.params.clone(),
            results: entries
                .iter()
                .zip(values)
                .map(|((sys, case), v)| {
                    let res = match (case, v) {
                        (Err(why), _) => SysResult::Na(why),
                        (Ok(_), Some(v)) => SysResult::Measured(v.get(m).cloned().unwrap_or_default()),
                        (Ok(_), None) => SysResult::Na("not run"),
                    };
                    (*sys, res)
                })
                .collect(),
        })
        .collect()
}

fn run_scenario(p: &Params, spec: Spec<'_>, mut entries: Vec<Entry<'_>>) -> Check<Vec<Row>> {
    eprintln!("-- {}: {}", spec.id, spec.scenario);
    let values = interleave(&spec.id, p, spec.reps, spec.warmup, &mut entries)?;
    let out = rows(&spec, &entries, &values);
    for r in &out {
        let cells: Vec<String> =
            r.results.iter().filter_map(|(s, res)| res.median().map(|m| format!("{} {m:.4e}", s.name()))).collect();
        eprintln!("   {} {}: {}", r.id, r.metric, cells.join(", "));
    }
    Ok(out)
}

const NA_FANOUT: &str = "fan-out scenarios only: a broadcast channel cannot exclude the sender or dedupe across rooms";
const NA_THREADED: &str = "single-threaded reference (no cross-thread hand-off)";
const NA_CHURN_BCAST: &str = "a socket would need one receiver per room (join = subscribe(), leave = drop) \
                              instead of one outbox: not the same model, so not measured";
const NA_CHURN_FLOOR: &str = "single-threaded reference: no membership structure to churn";
const NA_MEMORY: &str = "not an engine: no per-connection state to compare";
const NA_LAT_ONE: &str = "fan-out only: one channel per socket would be the naive design";

/// Scenario 1: one room of `big_members`, `big_emits` emits.
fn big_room(p: &Params) -> Check<Vec<Row>> {
    let (m, e) = (p.big_members, p.big_emits);
    let mut out = Vec::new();
    let entries: Vec<Entry<'_>> = vec![
        (System::Roomcast, ok(roomcast_sys::BigRoom::new(m, e, false)?)),
        (System::Naive, ok(naive::BigRoom::new(m, e, false)?)),
        (System::Broadcast, ok(broadcast::BigRoom::new(m, e, false)?)),
        (System::Floor, ok(floor::BigRoom::new(m, e))),
    ];
    out.extend(run_scenario(
        p,
        Spec::new(
            p,
            "1a",
            format!("big room: 1 room × {m} members, {e} emits in batches of 64, drained on the emitting thread"),
            json!({ "members": m, "emits": e, "batch": crate::systems::BATCH }),
            THROUGHPUT,
        ),
        entries,
    )?);
    let entries: Vec<Entry<'_>> = vec![
        (System::Roomcast, ok(roomcast_sys::BigRoom::new(m, e, true)?)),
        (System::Naive, ok(naive::BigRoom::new(m, e, true)?)),
        (System::Broadcast, ok(broadcast::BigRoom::new(m, e, true)?)),
        (System::Floor, Err(NA_THREADED)),
    ];
    out.extend(run_scenario(
        p,
        Spec::new(
            p,
            "1b",
            format!("big room: 1 room × {m} members, {e} emits, drained by a second thread"),
            json!({ "members": m, "emits": e }),
            THROUGHPUT,
        ),
        entries,
    )?);
    Ok(out)
}

/// Scenario 2: the same as 1a for every room size.
fn sweep(p: &Params) -> Check<Vec<Row>> {
    let mut out = Vec::new();
    for &n in &p.sweep_sizes {
        let e = (p.sweep_deliveries / n).max(10);
        let entries: Vec<Entry<'_>> = vec![
            (System::Roomcast, ok(roomcast_sys::BigRoom::new(n, e, false)?)),
            (System::Naive, ok(naive::BigRoom::new(n, e, false)?)),
            (System::Broadcast, ok(broadcast::BigRoom::new(n, e, false)?)),
            (System::Floor, ok(floor::BigRoom::new(n, e))),
        ];
        out.extend(run_scenario(
            p,
            Spec {
                sweep_size: Some(n),
                ..Spec::new(
                    p,
                    format!("2/{n}"),
                    format!("room size sweep: {n} members, {e} emits"),
                    json!({ "members": n, "emits": e, "batch": crate::systems::BATCH }),
                    THROUGHPUT,
                )
            },
            entries,
        )?);
    }
    Ok(out)
}

/// Scenario 3.
fn many_rooms(p: &Params) -> Check<Vec<Row>> {
    let mut rng = Rng::new(SEED ^ 3);
    let plan = ManyRoomsPlan::new(p.many_sockets, p.many_rooms, 3, p.many_emits, &mut rng);
    let entries: Vec<Entry<'_>> = vec![
        (System::Roomcast, ok(roomcast_sys::ManyRooms::new(&plan)?)),
        (System::Naive, ok(naive::ManyRooms::new(&plan)?)),
        (System::Broadcast, Err(NA_FANOUT)),
        (System::Floor, ok(floor::ManyRooms::new(&plan))),
    ];
    let avg = plan.total as f64 / plan.emits.len() as f64;
    run_scenario(
        p,
        Spec::new(
            p,
            "3",
            format!(
                "many rooms: {} sockets in 3 of {} rooms each, {} `socket.to(room)` emits \
             (sender excluded, {avg:.1} recipients avg)",
                plan.sockets,
                plan.rooms.len(),
                plan.emits.len()
            ),
            json!({ "sockets": plan.sockets, "rooms": plan.rooms.len(), "rooms_per_socket": 3,
                "emits": plan.emits.len(), "deliveries": plan.total }),
            THROUGHPUT,
        ),
        entries,
    )
}

/// Scenario 4.
fn union(p: &Params) -> Check<Vec<Row>> {
    let mut rng = Rng::new(SEED ^ 4);
    let plan = UnionPlan::new(p.union_room, p.union_emits, &mut rng);
    let overlap = [plan.overlap(0, 1), plan.overlap(0, 2), plan.overlap(1, 2)];
    let entries: Vec<Entry<'_>> = vec![
        (System::Roomcast, ok(roomcast_sys::Union::new(&plan)?)),
        (System::Naive, ok(naive::Union::new(&plan)?)),
        (System::Broadcast, Err(NA_FANOUT)),
        (System::Floor, ok(floor::Union::new(&plan))),
    ];
    run_scenario(
        p,
        Spec::new(
            p,
            "4",
            format!(
                "union: emits to 3 rooms × {} members (pairwise overlap {}/{}/{}), {} distinct recipients, \
                 {} emits; exactly-once and order checked per receiver",
                p.union_room,
                overlap[0],
                overlap[1],
                overlap[2],
                plan.union.len(),
                plan.emits
            ),
            json!({ "sockets": plan.sockets, "room_size": p.union_room, "pairwise_overlap": overlap,
                "union": plan.union.len(), "emits": plan.emits }),
            THROUGHPUT,
        ),
        entries,
    )
}

/// Scenario 5.
fn churn(p: &Params) -> Check<Vec<Row>> {
    let mut rng = Rng::new(SEED ^ 5);
    let plan = ChurnPlan::new(p.churn_sockets, p.churn_rooms, p.churn_pairs, p.churn_emits_per_ms, &mut rng);
    let entries: Vec<Entry<'_>> = vec![
        (System::Roomcast, ok(roomcast_sys::Churn::new(&plan)?)),
        (System::Naive, ok(naive::Churn::new(&plan)?)),
        (System::Broadcast, Err(NA_CHURN_BCAST)),
        (System::Floor, Err(NA_CHURN_FLOOR)),
    ];
    let metrics = &[
        Metric {
            suffix: "",
            metric: "join+leave ops/s (2 threads)",
            unit: "1/s",
            higher_is_better: true,
            ratios: true,
        },
        Metric {
            suffix: "-load",
            metric: "emits/s achieved by the 3rd thread (load, informational)",
            unit: "1/s",
            higher_is_better: true,
            ratios: false,
        },
    ];
    run_scenario(
        p,
        Spec {
            warmup: false,
            ..Spec::new(
                p,
                "5",
                format!(
            "churn: 2 threads × {} join+leave pairs on {} sockets / {} rooms (3 base rooms each) while a 3rd thread \
             emits to those rooms (offered load {} emits/ms, then drains)",
            p.churn_pairs, plan.sockets, p.churn_rooms, p.churn_emits_per_ms
        ),
                json!({ "sockets": plan.sockets, "rooms": p.churn_rooms, "pairs_per_thread": p.churn_pairs,
                "offered_emits_per_s": p.churn_emits_per_ms * 1000 }),
                metrics,
            )
        },
        entries,
    )
}

/// Scenario 6.
fn memory(p: &Params) -> Check<Vec<Row>> {
    let n = p.memory_connections;
    let entries: Vec<Entry<'_>> = vec![
        (System::Roomcast, ok(roomcast_sys::Memory { connections: n })),
        (System::Naive, ok(naive::Memory { connections: n })),
        (System::Broadcast, Err(NA_MEMORY)),
        (System::Floor, Err(NA_MEMORY)),
    ];
    let metrics = &[
        Metric {
            suffix: "",
            metric: "heap bytes per idle connection",
            unit: "B",
            higher_is_better: false,
            ratios: true,
        },
        Metric {
            suffix: "-rss",
            metric: "RSS delta per connection (cross-check, after malloc_trim)",
            unit: "B",
            higher_is_better: false,
            ratios: true,
        },
    ];
    run_scenario(
        p,
        Spec {
            reps: p.memory_reps,
            warmup: false,
            ..Spec::new(
                p,
                "6",
                format!("memory: {n} idle connections, each in \"/\" (own-id room) and one shared room"),
                json!({ "connections": n }),
                metrics,
            )
        },
        entries,
    )
}

/// Scenario 7.
fn latency(p: &Params) -> Check<Vec<Row>> {
    let metrics = &[
        Metric { suffix: "-p50", metric: "p50 latency", unit: "µs", higher_is_better: false, ratios: true },
        Metric { suffix: "-p99", metric: "p99 latency", unit: "µs", higher_is_better: false, ratios: true },
        Metric { suffix: "-p999", metric: "p99.9 latency", unit: "µs", higher_is_better: false, ratios: true },
    ];
    let mut out = Vec::new();
    let one = LatencyPlan { members: 1, warmup: p.latency_warmup, samples: p.latency_samples, pace: p.latency_pace };
    let entries: Vec<Entry<'_>> = vec![
        (System::Roomcast, ok(roomcast_sys::Latency::new(&one)?)),
        (System::Naive, ok(naive::Latency::new(&one)?)),
        (System::Broadcast, Err(NA_LAT_ONE)),
        (System::Floor, Err(NA_THREADED)),
    ];
    let params = json!({
        "members": 1, "samples": one.samples, "warmup": one.warmup, "pace_us": one.pace.as_micros()
    });
    out.extend(run_scenario(
        p,
        Spec {
            warmup: false,
            ..Spec::new(
                p,
                "7a",
                format!(
                    "latency, emit → blocked receiver on another thread, `to(socket id)`, {} samples, ≥{} µs apart",
                    one.samples,
                    one.pace.as_micros()
                ),
                params,
                metrics,
            )
        },
        entries,
    )?);
    let room = LatencyPlan { members: p.latency_room, ..one };
    let entries: Vec<Entry<'_>> = vec![
        (System::Roomcast, ok(roomcast_sys::Latency::new(&room)?)),
        (System::Naive, ok(naive::Latency::new(&room)?)),
        (System::Broadcast, ok(broadcast::Latency::new(&room)?)),
        (System::Floor, Err(NA_THREADED)),
    ];
    let params = json!({
        "members": room.members, "samples": room.samples, "warmup": room.warmup, "pace_us": room.pace.as_micros()
    });
    out.extend(run_scenario(
        p,
        Spec {
            warmup: false,
            ..Spec::new(
                p,
                "7b",
                format!(
                    "latency, emit to a room of {} → member 0 blocked on another thread \
             (others drained between emits, untimed)",
                    room.members
                ),
                params,
                metrics,
            )
        },
        entries,
    )?);
    Ok(out)
}

/// Scenario 8: one room where a tenth of the members never drain, under
/// the default configuration (`drop_oldest`, 1,024 messages a connection),
/// against the same room with every member draining: the cost of a
/// delivery into a full outbox (an eviction) relative to a plain one.
fn slow_consumers(p: &Params) -> Check<Vec<Row>> {
    let (m, e) = (p.slow_members, p.slow_emits);
    let metrics = &[
        Metric {
            suffix: "-all",
            metric: "deliveries/s, every member draining",
            unit: "1/s",
            higher_is_better: true,
            ratios: false,
        },
        Metric {
            suffix: "-slow",
            metric: "deliveries/s, 10% never draining",
            unit: "1/s",
            higher_is_better: true,
            ratios: false,
        },
        Metric {
            suffix: "-ratio",
            metric: "cost per delivery, slow ÷ all draining",
            unit: "×",
            higher_is_better: false,
            ratios: false,
        },
    ];
    let entries: Vec<Entry<'_>> = vec![
        (System::Roomcast, ok(roomcast_sys::SlowConsumers::new(m, e)?)),
        (System::Naive, Err(NA_SLOW)),
        (System::Broadcast, Err(NA_SLOW)),
        (System::Floor, Err(NA_SLOW)),
    ];
    run_scenario(
        p,
        Spec::new(
            p,
            "8",
            format!(
                "slow consumers: 1 room × {m} members, every 10th never drains (default limits, drop_oldest), \
                 {e} emits in batches of 64, against the same room all draining"
            ),
            json!({ "members": m, "emits": e, "never_draining": m / 10 }),
            metrics,
        ),
        entries,
    )
}

/// Scenario 9: connection state recovery (see `roomcast_sys::Recovery`).
fn recovery(p: &Params) -> Check<Vec<Row>> {
    let (m, e) = (p.big_members, p.big_emits);
    let (replay, samples) = (300, if p.quick { 50 } else { 1_000 });
    const fn metric(suffix: &'static str, metric: &'static str, unit: &'static str, higher: bool) -> Metric {
        Metric { suffix, metric, unit, higher_is_better: higher, ratios: false }
    }
    let metrics = &[
        metric("-off", "deliveries/s, recovery off", "1/s", true),
        metric("-on", "deliveries/s, recovery on", "1/s", true),
        metric("-ratio", "throughput, recovery on ÷ off (target >= 0.8)", "×", true),
        metric("-replay", "server time of a resume replaying 300 events, p99 (target <= 1000 µs)", "µs", false),
        metric("-mem", "heap per kept event: log entry + shared message with its 64 B payload", "B", false),
        metric("-entry", "heap per kept event beyond the message itself (goal <= 64 B)", "B", false),
    ];
    let entries: Vec<Entry<'_>> = vec![
        (System::Roomcast, ok(roomcast_sys::Recovery::new(m, e, replay, samples)?)),
        (System::Naive, Err(NA_RECOVERY)),
        (System::Broadcast, Err(NA_RECOVERY)),
        (System::Floor, Err(NA_RECOVERY)),
    ];
    run_scenario(
        p,
        Spec {
            id: "9".to_string(),
            scenario: format!(
                "connection state recovery: 1 room × {m} members, {e} emits in batches of 64 with it off and on; \
                 {samples} resumes each replaying {replay} missed events (among as many to another room); \
                 heap per kept event over 5,000 room emits"
            ),
            params: json!({ "members": m, "emits": e, "replay": replay, "samples": samples }),
            sweep_size: None,
            metrics,
            reps: p.reps,
            warmup: p.warmup,
        },
        entries,
    )
}

const NA_RECOVERY: &str = "roomcast's connection state recovery against itself: the baselines keep nothing";

const NA_SLOW: &str = "roomcast's overflow policy against itself: the other systems have no bounded outbox";

type ScenarioFn = fn(&Params) -> Check<Vec<Row>>;

/// Runs the selected scenarios (1-based numbers; empty = all).
pub(crate) fn run_all(p: &Params, only: &[usize]) -> Check<Vec<Row>> {
    let all: [ScenarioFn; 9] = [big_room, sweep, many_rooms, union, churn, memory, latency, slow_consumers, recovery];
    let mut rows = Vec::new();
    for (i, f) in all.iter().enumerate() {
        if only.is_empty() || only.contains(&(i + 1)) {
            rows.extend(f(p)?);
        }
    }
    Ok(rows)
}
