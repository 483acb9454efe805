//! Multi-threaded stress tests over one shared engine.
//!
//! Every emit carries a stamp `(thread, sequence, namespace)` in its payload.
//! Receiver threads drain the outboxes while the workers run and check, per
//! connection, that the sequence numbers of each emitting thread strictly
//! increase: emit order is kept and no emit arrives twice (at most once,
//! however many targeted rooms a socket is in). Afterwards the counts must
//! add up exactly: every `EmitReport`, the messages received, the engine's
//! statistics, and nothing may be left behind once everything is closed.
//!
//! Each test is bounded in operations (fewer in debug builds) and stops
//! early after `TIME_CAP`; receivers give up with a panic after `HARD_CAP`.
//! The PRNG is a seeded xorshift; set `STRESS_SEED` to vary it.
//!
//! Workers also re-join namespaces on connections that had a socket there
//! while namespace-wide emits run (see
//! `reconnect_during_namespace_emit_delivers_once` for the focused case).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use roomcast::{
    Config, ConnectOptions, Connection, DisconnectReason, EmitError, EmitReport, Engine, Handshake, JoinError, Message,
    MessageKind, Namespace, Outbox, OverflowPolicy, Payload, RoomError, Socket, TryRecvError,
};

mod common;
use common::notifies_client;

const TIME_CAP: Duration = Duration::from_secs(10);
const HARD_CAP: Duration = Duration::from_secs(50);

fn budget(debug: usize, release: usize) -> usize {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

fn seed() -> u64 {
    std::env::var("STRESS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_C0DE)
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        Rng(splitmix(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Payload stamp: emitting thread, its sequence number, namespace index.
fn stamp(tid: usize, seq: u64, ns: usize) -> Payload {
    let mut b = Vec::with_capacity(17);
    b.extend_from_slice(&(tid as u64).to_le_bytes());
    b.extend_from_slice(&seq.to_le_bytes());
    b.push(ns as u8);
    Payload::binary(b)
}

fn unstamp(m: &Message) -> (usize, u64, usize) {
    let b = m.payload().expect("event payload").as_bytes();
    assert_eq!(b.len(), 17, "foreign payload {m:?}");
    let tid = u64::from_le_bytes(b[0..8].try_into().unwrap()) as usize;
    let seq = u64::from_le_bytes(b[8..16].try_into().unwrap());
    (tid, seq, b[16] as usize)
}

/// Sums of `EmitReport`s, checking `queued + dropped == recipients` for each.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    emits: u64,
    recipients: u64,
    queued: u64,
    dropped: u64,
}

impl Totals {
    fn add(&mut self, r: EmitReport) {
        assert_eq!(r.queued + r.dropped, r.recipients, "EmitReport does not add up: {r:?}");
        self.emits += 1;
        self.recipients += r.recipients as u64;
        self.queued += r.queued as u64;
        self.dropped += r.dropped as u64;
    }
    fn merge(&mut self, o: Totals) {
        self.emits += o.emits;
        self.recipients += o.recipients;
        self.queued += o.queued;
        self.dropped += o.dropped;
    }
}

/// One drained connection.
struct Entry {
    id: usize,
    conn: Connection,
    outbox: Outbox,
}

/// What a receiver saw on one connection.
#[derive(Default, Clone)]
struct Seen {
    /// Last sequence number per emitting thread.
    last: HashMap<usize, u64>,
    events: u64,
    notices: u64,
    /// Per thread: (count, fingerprint sum) of received sequence numbers.
    prints: HashMap<usize, (u64, u64)>,
    /// Per thread, every sequence number (kept only when asked for).
    full: Option<HashMap<usize, Vec<u64>>>,
}

fn print_of(tid: usize, seq: u64) -> u64 {
    splitmix(seq ^ ((tid as u64) << 56))
}

impl Seen {
    fn take(&mut self, conn: usize, m: &Message, namespaces: &[&str]) {
        match m.kind() {
            MessageKind::Event => {
                let (tid, seq, ns) = unstamp(m);
                assert_eq!(m.namespace(), Some(namespaces[ns]), "message crossed namespaces on connection {conn}");
                if let Some(prev) = self.last.insert(tid, seq) {
                    assert!(
                        seq > prev,
                        "connection {conn}: thread {tid}'s emit {seq} arrived after {prev} (reordered or duplicated)"
                    );
                }
                self.events += 1;
                let p = self.prints.entry(tid).or_default();
                p.0 += 1;
                p.1 = p.1.wrapping_add(print_of(tid, seq));
                if let Some(full) = &mut self.full {
                    full.entry(tid).or_default().push(seq);
                }
            }
            MessageKind::Disconnect => self.notices += 1,
            other => panic!("connection {conn}: unexpected {other:?} message {m:?}"),
        }
    }
}

/// Drains the entries `mine` picks until `all_closed` is set and every one
/// of them reports `Closed`. `pause` slows it down (to let queues fill).
fn receiver(
    entries: Arc<Mutex<Vec<Arc<Entry>>>>,
    all_closed: Arc<AtomicBool>,
    mine: impl Fn(usize) -> bool,
    full: impl Fn(usize) -> bool,
    namespaces: &'static [&'static str],
    pause: Duration,
) -> HashMap<usize, Seen> {
    let start = Instant::now();
    let mut seen: HashMap<usize, Seen> = HashMap::new();
    let mut list: Vec<(Arc<Entry>, bool)> = Vec::new(); // (entry, finished)
    let mut known = 0;
    let mut buf = Vec::with_capacity(256);
    loop {
        assert!(start.elapsed() < HARD_CAP, "receiver did not finish within {HARD_CAP:?}");
        let closed = all_closed.load(Ordering::Acquire);
        {
            let all = entries.lock().unwrap();
            for e in &all[known..] {
                if mine(e.id) {
                    list.push((e.clone(), false));
                    let s = seen.entry(e.id).or_default();
                    if full(e.id) {
                        s.full = Some(HashMap::new());
                    }
                }
            }
            known = all.len();
        }
        let mut got = 0;
        for (e, finished) in list.iter_mut().filter(|(_, f)| !*f) {
            buf.clear();
            match e.outbox.try_recv_many(&mut buf, 256) {
                Ok(n) => {
                    got += n;
                    let s = seen.get_mut(&e.id).unwrap();
                    for m in &buf {
                        s.take(e.id, m, namespaces);
                    }
                }
                Err(TryRecvError::Closed) => *finished = true,
                Err(TryRecvError::Empty) => unreachable!("try_recv_many reports empty as Ok(0)"),
            }
        }
        if closed && list.iter().all(|(_, f)| *f) {
            return seen;
        }
        if got == 0 {
            thread::sleep(Duration::from_micros(200));
        } else if !pause.is_zero() {
            thread::sleep(pause);
        }
    }
}

fn join_all<T>(handles: Vec<thread::JoinHandle<T>>) -> Vec<T> {
    handles.into_iter().map(|h| h.join().expect("thread panicked")).collect()
}

fn assert_no_leaks(engine: &Engine, nss: &[&Namespace]) {
    for ns in nss {
        assert_eq!(ns.socket_count(), 0, "sockets left in {}", ns.name());
        assert!(ns.rooms().is_empty(), "rooms left in {}: {:?}", ns.name(), ns.rooms());
        assert_eq!(ns.room_count(), 0);
        assert!(ns.fetch_sockets().is_empty());
    }
    let st = engine.stats();
    assert_eq!((st.sockets, st.rooms, st.connections), (0, 0, 0), "leak: {st:?}");
}

/// Sockets whose disconnect put a notice in an outbox (queued or dropped).
fn notices_sent(sockets: &[Socket]) -> u64 {
    sockets.iter().filter(|s| s.disconnect_reason().is_some_and(notifies_client)).count() as u64
}

// ---------------------------------------------------------------------------
// 1. Everything at once
// ---------------------------------------------------------------------------

const NS2: &[&str] = &["/", "/b"];
const POOL_ROOMS: [&str; 4] = ["a", "b", "c", "d"];

/// An emit as a worker performed it, to compute who must have received it.
struct Rec {
    seq: u64,
    ns: usize,
    to: Vec<String>,
    except: Vec<String>,
    /// `socket.emit`: only the sender, never a sentinel.
    self_only: bool,
}

struct World {
    engine: Engine,
    nss: Vec<Namespace>,
    entries: Arc<Mutex<Vec<Arc<Entry>>>>,
    /// Worker sockets (alive or not).
    sockets: Mutex<Vec<Socket>>,
    /// Ids of every socket, for targeting.
    ids: Mutex<Vec<String>>,
    /// Connections ever opened, at most.
    max_total: usize,
    /// Entries below this index are sentinels, which workers leave alone.
    reserved: usize,
}

impl World {
    fn add_conn(&self, rng: &mut Rng) -> Option<Arc<Entry>> {
        let (conn, outbox) = self.engine.connect();
        let entry = {
            let mut all = self.entries.lock().unwrap();
            if all.len() >= self.max_total {
                return None;
            }
            let e = Arc::new(Entry { id: all.len(), conn, outbox });
            all.push(e.clone());
            e
        };
        for ns in 0..NS2.len() {
            if rng.chance(70) {
                self.join_ns(&entry, ns);
            }
        }
        Some(entry)
    }

    fn join_ns(&self, entry: &Entry, ns: usize) {
        match entry.conn.join_namespace(NS2[ns], Handshake::new()) {
            Ok(s) => {
                self.ids.lock().unwrap().push(s.id().to_string());
                self.sockets.lock().unwrap().push(s);
            }
            Err(JoinError::ConnectionClosed | JoinError::AlreadyJoined(_)) => {}
            Err(e) => panic!("join_namespace: {e}"),
        }
    }

    fn random_worker_conn(&self, rng: &mut Rng) -> Arc<Entry> {
        let all = self.entries.lock().unwrap();
        all[self.reserved + rng.below(all.len() - self.reserved)].clone()
    }

    fn random_socket(&self, rng: &mut Rng) -> Option<Socket> {
        let all = self.sockets.lock().unwrap();
        (!all.is_empty()).then(|| all[rng.below(all.len())].clone())
    }

    fn random_room(&self, rng: &mut Rng) -> String {
        if rng.chance(80) {
            return POOL_ROOMS[rng.below(POOL_ROOMS.len())].to_string();
        }
        let ids = self.ids.lock().unwrap();
        ids[rng.below(ids.len())].clone()
    }

    fn random_rooms(&self, rng: &mut Rng, max: usize) -> Vec<String> {
        let n = 1 + rng.below(max);
        (0..n).map(|_| self.random_room(rng)).collect()
    }
}

fn ok_or_closed<T>(r: Result<T, EmitError>) -> Option<T> {
    match r {
        Ok(t) => Some(t),
        Err(EmitError::Closed) => None,
        Err(e) => panic!("emit: {e}"),
    }
}

/// One worker: random emits, joins, leaves, connects, closes, disconnects.
fn worker(w: &World, tid: usize, ops: usize, start: Instant) -> (Totals, Vec<Rec>) {
    let mut rng = Rng::new(seed(), tid as u64 + 1);
    let mut totals = Totals::default();
    let mut recs = Vec::new();
    let mut seq = 0u64;
    for _ in 0..ops {
        if start.elapsed() > TIME_CAP {
            break;
        }
        match rng.below(100) {
            0..=14 => {
                if let Some(s) = w.random_socket(&mut rng) {
                    match s.join(w.random_rooms(&mut rng, 2)) {
                        Ok(()) | Err(RoomError::Closed) => {}
                        Err(e) => panic!("join: {e}"),
                    }
                }
            }
            15..=24 => {
                if let Some(s) = w.random_socket(&mut rng) {
                    let rooms = w.random_rooms(&mut rng, 2);
                    match s.leave(rooms) {
                        Ok(()) | Err(RoomError::Closed) | Err(RoomError::OwnRoom) => {}
                        Err(e) => panic!("leave: {e}"),
                    }
                }
            }
            25..=28 => {
                w.add_conn(&mut rng);
            }
            29..=32 => {
                let e = w.random_worker_conn(&mut rng);
                w.join_ns(&e, rng.below(NS2.len()));
            }
            33..=34 => {
                let e = w.random_worker_conn(&mut rng);
                let reasons = [
                    DisconnectReason::TransportClose,
                    DisconnectReason::ServerShuttingDown,
                    DisconnectReason::PingTimeout,
                ];
                e.conn.close(reasons[rng.below(reasons.len())]);
            }
            35..=36 => {
                if let Some(s) = w.random_socket(&mut rng) {
                    s.disconnect();
                }
            }
            _ => {
                seq += 1;
                if let Some((rep, rec)) = emit_one(w, &mut rng, tid, seq) {
                    totals.add(rep);
                    recs.push(rec);
                }
            }
        }
    }
    (totals, recs)
}

/// One random emit; `None` if its sender socket was disconnected.
fn emit_one(w: &World, rng: &mut Rng, tid: usize, seq: u64) -> Option<(EmitReport, Rec)> {
    let volatile = rng.chance(25);
    let form = rng.below(8);
    if form >= 5 {
        // From a socket: broadcast / to / except / self.
        let s = w.random_socket(rng)?;
        let ns = NS2.iter().position(|n| *n == s.namespace().name()).unwrap();
        let p = stamp(tid, seq, ns);
        let (to, except) = match form {
            5 => (Vec::new(), Vec::new()),
            6 => (w.random_rooms(rng, 2), if rng.chance(50) { w.random_rooms(rng, 1) } else { Vec::new() }),
            _ => {
                let r = if volatile { s.emit_volatile("ev", p) } else { s.emit("ev", p) };
                let rep = ok_or_closed(r)?;
                assert_eq!(rep.recipients, 1);
                return Some((rep, Rec { seq, ns, to: vec![], except: vec![], self_only: true }));
            }
        };
        let mut b = if to.is_empty() { s.broadcast() } else { s.to(to.clone()) };
        b = b.except(except.clone());
        if volatile {
            b = b.volatile();
        }
        let rep = ok_or_closed(b.emit("ev", p))?;
        return Some((rep, Rec { seq, ns, to, except, self_only: false }));
    }
    let ns = rng.below(NS2.len());
    let n = &w.nss[ns];
    let p = stamp(tid, seq, ns);
    let (to, except) = match form {
        0 => (vec![], vec![]),
        1 => (w.random_rooms(rng, 1), vec![]),
        2 => (w.random_rooms(rng, 3), vec![]),
        3 => (w.random_rooms(rng, 2), w.random_rooms(rng, 2)),
        _ => (vec![], w.random_rooms(rng, 2)),
    };
    let mut b = n.to(to.clone()).except(except.clone());
    if volatile {
        b = b.volatile();
    }
    let rep = b.emit("ev", p).expect("namespace emit with valid names");
    Some((rep, Rec { seq, ns, to, except, self_only: false }))
}

/// Connections with fixed membership that no worker touches; every emit
/// that selects them must arrive exactly once, in order, and no other.
struct Sentinel {
    entry: Arc<Entry>,
    /// (namespace, rooms including the own id)
    sockets: Vec<(usize, Vec<String>)>,
}

#[test]
fn mixed_operations_keep_accounting_exact() {
    let start = Instant::now();
    let threads = 4;
    let ops = budget(30_000, 200_000);
    let cfg = Config::builder().max_queue(128).overflow(OverflowPolicy::DropNewest).build().unwrap();
    let engine = Engine::new(cfg);
    let nss: Vec<Namespace> = NS2.iter().map(|n| engine.of(n).unwrap()).collect();
    let w = Arc::new(World {
        engine: engine.clone(),
        nss: nss.clone(),
        entries: Arc::new(Mutex::new(Vec::new())),
        sockets: Mutex::new(Vec::new()),
        ids: Mutex::new(Vec::new()),
        max_total: budget(400, 2_000),
        reserved: 6,
    });

    // Sentinels: big queues so nothing they are sent is dropped.
    #[allow(clippy::type_complexity)]
    let layouts: [&[(usize, &[&str])]; 6] = [
        &[(0, &["a"])],
        &[(0, &["b"])],
        &[(0, &["a", "c"])],
        &[(0, &[])],
        &[(1, &["a"])],
        &[(0, &["d"]), (1, &["b", "c"])],
    ];
    let big = ConnectOptions::new().max_queue(1 << 22).max_queue_bytes(1 << 28);
    let mut sentinels = Vec::new();
    let mut sentinel_sockets = Vec::new();
    for layout in layouts {
        let (conn, outbox) = engine.connect_with(&big).unwrap();
        let mut socks = Vec::new();
        for &(ns, rooms) in layout {
            let s = conn.join_namespace(NS2[ns], Handshake::new()).unwrap();
            s.join(rooms.to_vec()).unwrap();
            w.ids.lock().unwrap().push(s.id().to_string());
            socks.push((ns, s.rooms()));
            sentinel_sockets.push(s);
        }
        let entry = {
            let mut all = w.entries.lock().unwrap();
            let e = Arc::new(Entry { id: all.len(), conn, outbox });
            all.push(e.clone());
            e
        };
        sentinels.push(Sentinel { entry, sockets: socks });
    }
    let n_sentinels = sentinels.len();
    assert_eq!(n_sentinels, w.reserved);
    let mut rng = Rng::new(seed(), 0);
    for _ in 0..budget(24, 48) {
        w.add_conn(&mut rng);
    }

    let all_closed = Arc::new(AtomicBool::new(false));
    let receivers: Vec<_> = (0..2)
        .map(|r| {
            let (entries, all_closed) = (w.entries.clone(), all_closed.clone());
            thread::spawn(move || {
                receiver(entries, all_closed, move |id| id % 2 == r, move |id| id < n_sentinels, NS2, Duration::ZERO)
            })
        })
        .collect();
    let workers: Vec<_> = (0..threads)
        .map(|tid| {
            let w = w.clone();
            thread::spawn(move || worker(&w, tid, ops, start))
        })
        .collect();
    let results = join_all(workers);

    // Close everything; the receivers drain every outbox to `Closed`.
    for e in w.entries.lock().unwrap().iter() {
        e.conn.close(DisconnectReason::TransportClose);
    }
    all_closed.store(true, Ordering::Release);
    let mut seen: HashMap<usize, Seen> = HashMap::new();
    for part in join_all(receivers) {
        seen.extend(part);
    }
    let n_conns = w.entries.lock().unwrap().len();
    assert_eq!(seen.len(), n_conns, "every connection was drained");

    let mut totals = Totals::default();
    for (t, _) in &results {
        totals.merge(*t);
    }

    // Sentinels received exactly the emits that selected them, in order.
    for (si, sen) in sentinels.iter().enumerate() {
        let full = seen[&sen.entry.id].full.as_ref().unwrap();
        for (tid, (_, recs)) in results.iter().enumerate() {
            let want: Vec<u64> = recs
                .iter()
                .filter(|r| {
                    !r.self_only
                        && sen.sockets.iter().any(|(ns, rooms)| {
                            *ns == r.ns
                                && (r.to.is_empty() || r.to.iter().any(|t| rooms.contains(t)))
                                && !r.except.iter().any(|x| rooms.contains(x))
                        })
                })
                .map(|r| r.seq)
                .collect();
            let got = full.get(&tid).cloned().unwrap_or_default();
            assert_eq!(got, want, "sentinel {si} ({:?}), emits of thread {tid}", sen.sockets);
        }
    }

    // Counts add up exactly.
    let events: u64 = seen.values().map(|s| s.events).sum();
    let notices: u64 = seen.values().map(|s| s.notices).sum();
    let mut all_sockets = w.sockets.lock().unwrap().clone();
    all_sockets.extend(sentinel_sockets);
    let notices_pushed = notices_sent(&all_sockets);
    assert!(notices <= notices_pushed);
    assert_eq!(events, totals.queued, "events received vs queued (drop_newest evicts nothing)");
    let st = engine.stats();
    assert_eq!(st.emitted, totals.emits, "stats.emitted");
    assert_eq!(st.delivered, totals.queued + notices, "stats.delivered = queued events + notices");
    assert_eq!(st.dropped, totals.dropped + (notices_pushed - notices), "stats.dropped");
    for s in &all_sockets {
        assert!(!s.is_connected() && s.rooms().is_empty() && s.disconnect_reason().is_some());
    }
    assert_no_leaks(&engine, &nss.iter().collect::<Vec<_>>());
    eprintln!(
        "mixed: {} conns, {} sockets, {} emits, {} queued, {} dropped, {} notices in {:?}",
        n_conns,
        all_sockets.len(),
        totals.emits,
        totals.queued,
        totals.dropped,
        notices,
        start.elapsed()
    );
    assert!(totals.queued > 0 && totals.emits > 100, "the test did too little to mean anything");
}

// ---------------------------------------------------------------------------
// 2. A big room: concurrent join/leave vs emit
// ---------------------------------------------------------------------------

const NS1: &[&str] = &["/"];

enum ChurnLog {
    /// Socket (index) entered or left "big".
    Toggle(usize),
    /// A probe emit to "big" with this sequence number.
    Probe(u64),
}

#[test]
fn big_room_join_leave_vs_emit() {
    let start = Instant::now();
    const N: usize = 2000;
    const STABLE: usize = 1000; // 0..1000 always in "big"; 0..500 also in "big2"; 0..100 in "ex"
    const CHURNERS: usize = 2;
    const EMITTER: usize = CHURNERS; // its thread id
    let per_churner = (N - STABLE) / CHURNERS;
    let cfg = Config::builder()
        .max_queue(1 << 20)
        .max_queue_bytes(1 << 28)
        .overflow(OverflowPolicy::DropNewest)
        .build()
        .unwrap();
    let engine = Engine::new(cfg);
    let ns = engine.of("/").unwrap();
    let entries = Arc::new(Mutex::new(Vec::new()));
    let mut sockets = Vec::new();
    for i in 0..N {
        let (conn, outbox) = engine.connect();
        let s = conn.join_namespace("/", Handshake::new()).unwrap();
        if i < STABLE || i % 2 == 0 {
            s.join("big").unwrap();
        }
        if i < STABLE / 2 {
            s.join("big2").unwrap();
        }
        if i < 100 {
            s.join("ex").unwrap();
        }
        entries.lock().unwrap().push(Arc::new(Entry { id: i, conn, outbox }));
        sockets.push(s);
    }
    let sockets = Arc::new(sockets);
    assert_eq!(ns.room_size("big"), STABLE + (N - STABLE) / 2);

    let all_closed = Arc::new(AtomicBool::new(false));
    let rx = {
        let (entries, all_closed) = (entries.clone(), all_closed.clone());
        thread::spawn(move || receiver(entries, all_closed, |_| true, |_| false, NS1, Duration::ZERO))
    };

    let iters = budget(500, 8_000);
    let churners: Vec<_> = (0..CHURNERS)
        .map(|tid| {
            let (ns, sockets) = (ns.clone(), sockets.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(seed(), 100 + tid as u64);
                let mut log = Vec::new();
                let mut totals = Totals::default();
                let lo = STABLE + tid * per_churner;
                let mut seq = 0;
                for _ in 0..iters {
                    if start.elapsed() > TIME_CAP {
                        break;
                    }
                    let i = lo + rng.below(per_churner);
                    let s = &sockets[i];
                    if s.in_room("big") {
                        s.leave("big").unwrap();
                    } else {
                        s.join("big").unwrap();
                    }
                    log.push(ChurnLog::Toggle(i));
                    if rng.chance(30) {
                        // Overlap "big2" with "big" for at-most-once.
                        if s.in_room("big2") {
                            s.leave("big2").unwrap();
                        } else {
                            s.join("big2").unwrap();
                        }
                    }
                    if rng.chance(50) {
                        seq += 1;
                        let rep = ns.to("big").emit("probe", stamp(tid, seq, 0)).unwrap();
                        assert!((STABLE..=N).contains(&rep.recipients), "probe reached {}", rep.recipients);
                        assert_eq!(rep.dropped, 0);
                        totals.add(rep);
                        log.push(ChurnLog::Probe(seq));
                    }
                }
                (totals, log)
            })
        })
        .collect();
    let emitter = {
        let ns = ns.clone();
        thread::spawn(move || {
            let mut rng = Rng::new(seed(), 200);
            let mut totals = Totals::default();
            let mut excepted = Vec::new(); // sequence numbers sent with except("ex")
            for seq in 1..=budget(600, 10_000) as u64 {
                if start.elapsed() > TIME_CAP {
                    break;
                }
                let p = stamp(EMITTER, seq, 0);
                let (rep, min) = match rng.below(4) {
                    0 => (ns.to("big").emit("e", p), STABLE),
                    1 => (ns.to(["big", "big2"]).emit("e", p), STABLE),
                    2 => {
                        excepted.push(seq);
                        (ns.to("big").except("ex").emit("e", p), STABLE - 100)
                    }
                    _ => (ns.to(["big2", "big"]).volatile().emit("e", p), STABLE),
                };
                let rep = rep.unwrap();
                assert!((min..=N).contains(&rep.recipients), "emit reached {} (at least {min})", rep.recipients);
                assert_eq!(rep.dropped, 0);
                totals.add(rep);
            }
            (totals, excepted)
        })
    };
    let churned = join_all(churners);
    let (emit_totals, excepted) = emitter.join().unwrap();
    let emitted: Vec<u64> = {
        // Every emitter sequence number actually sent.
        let n = emit_totals.emits;
        (1..=n).collect()
    };

    // Final membership per the churners' logs, and what their probes must
    // have reached: a probe issued after join(big) returned reaches the
    // socket; one issued after leave(big) returned does not.
    let mut in_big: Vec<bool> = (0..N).map(|i| i < STABLE || i % 2 == 0).collect();
    let mut want_probe: Vec<(u64, u64)> = vec![(0, 0); N]; // from the owning churner
    let mut stable_probe = [(0u64, 0u64); CHURNERS];
    for (tid, (_, log)) in churned.iter().enumerate() {
        let lo = STABLE + tid * per_churner;
        for ev in log {
            match *ev {
                ChurnLog::Toggle(i) => in_big[i] = !in_big[i],
                ChurnLog::Probe(seq) => {
                    let p = print_of(tid, seq);
                    for (i, want) in want_probe.iter_mut().enumerate().skip(lo).take(per_churner) {
                        if in_big[i] {
                            want.0 += 1;
                            want.1 = want.1.wrapping_add(p);
                        }
                    }
                    stable_probe[tid].0 += 1;
                    stable_probe[tid].1 = stable_probe[tid].1.wrapping_add(p);
                }
            }
        }
    }
    for (i, s) in sockets.iter().enumerate() {
        assert_eq!(s.in_room("big"), in_big[i], "socket {i} membership");
    }
    assert_eq!(ns.room_size("big"), in_big.iter().filter(|b| **b).count());

    for e in entries.lock().unwrap().iter() {
        e.conn.close(DisconnectReason::TransportClose);
    }
    all_closed.store(true, Ordering::Release);
    let seen = rx.join().unwrap();

    let fp = |seqs: &mut dyn Iterator<Item = u64>, tid: usize| {
        seqs.fold((0u64, 0u64), |(c, h), s| (c + 1, h.wrapping_add(print_of(tid, s))))
    };
    let all_emits = fp(&mut emitted.iter().copied(), EMITTER);
    let not_excepted = fp(&mut emitted.iter().copied().filter(|s| excepted.binary_search(s).is_err()), EMITTER);
    for (i, want) in want_probe.iter().enumerate() {
        let got = &seen[&i].prints;
        let get = |tid| got.get(&tid).copied().unwrap_or_default();
        if i < STABLE {
            // Always in "big": every emit and probe, "ex" members minus the excepted ones.
            let want_e = if i < 100 { not_excepted } else { all_emits };
            assert_eq!(get(EMITTER), want_e, "stable socket {i}: emitter's messages (count, fingerprint)");
            for (tid, want) in stable_probe.iter().enumerate() {
                assert_eq!(get(tid), *want, "stable socket {i}: probes of churner {tid}");
            }
        } else {
            let owner = (i - STABLE) / per_churner;
            assert_eq!(get(owner), *want, "churned socket {i}: probes of its own churner {owner}");
        }
    }
    let mut totals = emit_totals;
    for (t, _) in &churned {
        totals.merge(*t);
    }
    let events: u64 = seen.values().map(|s| s.events).sum();
    assert_eq!(events, totals.queued);
    let st = engine.stats();
    assert_eq!((st.emitted, st.delivered, st.dropped), (totals.emits, totals.queued, 0));
    assert_no_leaks(&engine, &[&ns]);
    eprintln!("big room: {} emits, {} deliveries in {:?}", totals.emits, totals.queued, start.elapsed());
}

// ---------------------------------------------------------------------------
// 3. Overflow disconnects racing emits and closes
// ---------------------------------------------------------------------------

const NSV: &[&str] = &["/", "/v"];

#[test]
fn overflow_disconnects_race_emits_and_closes() {
    let start = Instant::now();
    const MAX_QUEUE: usize = 4;
    let cfg = Config::builder().max_queue(MAX_QUEUE).overflow(OverflowPolicy::Disconnect).build().unwrap();
    let engine = Engine::new(cfg);
    let root = engine.of("/").unwrap();
    let vol = engine.of("/v").unwrap();
    let entries: Arc<Mutex<Vec<Arc<Entry>>>> = Arc::new(Mutex::new(Vec::new()));
    // Connections 0..V are only in "/v", which only ever gets volatile emits.
    const V: usize = 40;
    let sockets: Arc<Mutex<Vec<Socket>>> = Arc::new(Mutex::new(Vec::new()));
    let mut vsockets = Vec::new();
    let mut rng = Rng::new(seed(), 300);
    let connect = |rng: &mut Rng, ns: &str| {
        let (conn, outbox) = engine.connect();
        let s = conn.join_namespace(ns, Handshake::new()).unwrap();
        let rooms: Vec<&str> = ["a", "b", "c"].into_iter().filter(|_| rng.chance(50)).collect();
        s.join(rooms).unwrap();
        let mut all = entries.lock().unwrap();
        let id = all.len();
        all.push(Arc::new(Entry { id, conn, outbox }));
        s
    };
    for _ in 0..V {
        vsockets.push(connect(&mut rng, "/v"));
    }
    for _ in 0..budget(150, 300) {
        let s = connect(&mut rng, "/");
        sockets.lock().unwrap().push(s);
    }

    let all_closed = Arc::new(AtomicBool::new(false));
    // A slow receiver: it lets queues fill so overflows race the emitters.
    let rx = {
        let (entries, all_closed) = (entries.clone(), all_closed.clone());
        thread::spawn(move || receiver(entries, all_closed, |_| true, |_| false, NSV, Duration::from_micros(300)))
    };
    let ops = budget(150_000, 1_500_000);
    let emitters: Vec<_> = (0..2)
        .map(|tid| {
            let (root, vol, sockets) = (root.clone(), vol.clone(), sockets.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(seed(), 400 + tid as u64);
                let mut totals = Totals::default();
                for seq in 1..=ops as u64 {
                    if start.elapsed() > TIME_CAP {
                        break;
                    }
                    let rooms = ["a", "b", "c"];
                    let r = rooms[rng.below(3)];
                    let rep = match rng.below(7) {
                        0 => Some(root.emit("e", stamp(tid, seq, 0))),
                        1 => Some(root.to(r).emit("e", stamp(tid, seq, 0))),
                        2 => Some(root.to(["a", "b"]).except(r).emit("e", stamp(tid, seq, 0))),
                        3 => Some(root.to(r).volatile().emit("e", stamp(tid, seq, 0))),
                        4 => Some(vol.volatile().emit("e", stamp(tid, seq, 1))),
                        5 => Some(vol.to(r).volatile().emit("e", stamp(tid, seq, 1))),
                        _ => {
                            let s = {
                                let all = sockets.lock().unwrap();
                                all[rng.below(all.len())].clone()
                            };
                            ok_or_closed(s.to(r).emit("e", stamp(tid, seq, 0))).map(Ok)
                        }
                    };
                    if let Some(rep) = rep {
                        totals.add(rep.expect("emit with valid names"));
                    }
                }
                totals
            })
        })
        .collect();
    // Churns while the emitters run, so closes race overflows and emits.
    let emitters_done = Arc::new(AtomicBool::new(false));
    let churner = {
        let (engine, entries, sockets) = (engine.clone(), entries.clone(), sockets.clone());
        let emitters_done = emitters_done.clone();
        thread::spawn(move || {
            let mut rng = Rng::new(seed(), 500);
            for _ in 0..ops {
                if start.elapsed() > TIME_CAP || emitters_done.load(Ordering::Relaxed) {
                    break;
                }
                let s = {
                    let all = sockets.lock().unwrap();
                    all[rng.below(all.len())].clone()
                };
                match rng.below(10) {
                    0 => s.connection().close(DisconnectReason::ServerShuttingDown),
                    1 => s.connection().close(DisconnectReason::TransportClose),
                    2 => {
                        s.disconnect();
                    }
                    3 | 4 => {
                        // A fresh connection replaces one.
                        let (conn, outbox) = engine.connect();
                        match conn.join_namespace("/", Handshake::new()) {
                            Ok(s) => {
                                // It may already have overflowed and closed.
                                match s.join(["a", "b", "c"][rng.below(3)]) {
                                    Ok(()) | Err(RoomError::Closed) => {}
                                    Err(e) => panic!("join: {e}"),
                                }
                                sockets.lock().unwrap().push(s);
                            }
                            Err(e) => panic!("join_namespace on a fresh connection: {e}"),
                        }
                        let mut all = entries.lock().unwrap();
                        let id = all.len();
                        all.push(Arc::new(Entry { id, conn, outbox }));
                    }
                    _ => match if rng.chance(50) { s.join("b") } else { s.leave("b") } {
                        Ok(()) | Err(RoomError::Closed) => {}
                        Err(e) => panic!("join/leave: {e}"),
                    },
                }
                thread::yield_now();
            }
        })
    };
    let mut totals = Totals::default();
    for t in join_all(emitters) {
        totals.merge(t);
    }
    emitters_done.store(true, Ordering::Relaxed);
    churner.join().unwrap();

    let overflowed: Vec<Arc<Entry>> = entries
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.conn.close_reason() == Some(DisconnectReason::QueueOverflow))
        .cloned()
        .collect();
    for e in entries.lock().unwrap().iter() {
        e.conn.close(DisconnectReason::TransportClose);
    }
    all_closed.store(true, Ordering::Release);
    let seen = rx.join().unwrap();

    // Volatile emits never trigger the policy.
    for (i, s) in vsockets.iter().enumerate() {
        assert_eq!(s.connection().close_reason(), Some(DisconnectReason::TransportClose), "volatile-only conn {i}");
        assert_eq!(s.disconnect_reason(), Some(DisconnectReason::TransportClose));
    }
    assert!(!overflowed.is_empty(), "a 4-message queue and a slow receiver must overflow");
    let all_sockets = sockets.lock().unwrap().clone();
    for s in &all_sockets {
        if s.connection().close_reason() == Some(DisconnectReason::QueueOverflow) {
            let r = s.disconnect_reason();
            assert!(
                r == Some(DisconnectReason::QueueOverflow) || r == Some(DisconnectReason::ServerNamespaceDisconnect),
                "socket of an overflowed connection disconnected with {r:?}"
            );
        }
        assert!(!s.is_connected() && s.rooms().is_empty());
    }
    // What was queued when the queue overflowed (at least `MAX_QUEUE`
    // messages) stays readable after the overflow closed the connection.
    for e in &overflowed {
        let s = &seen[&e.id];
        assert!(s.events + s.notices >= MAX_QUEUE as u64, "overflowed connection {} lost its queue", e.id);
    }

    let events: u64 = seen.values().map(|s| s.events).sum();
    let notices: u64 = seen.values().map(|s| s.notices).sum();
    let notices_pushed = notices_sent(&all_sockets);
    assert!(notices <= notices_pushed);
    assert_eq!(events, totals.queued, "events received vs queued (the disconnect policy evicts nothing)");
    let st = engine.stats();
    assert_eq!(st.emitted, totals.emits, "stats.emitted");
    assert_eq!(st.delivered, totals.queued + notices, "stats.delivered");
    assert_eq!(st.dropped, totals.dropped + (notices_pushed - notices), "stats.dropped");
    assert_no_leaks(&engine, &[&root, &vol]);
    eprintln!(
        "overflow: {} conns, {} overflowed, {} emits, {} queued, {} dropped in {:?}",
        entries.lock().unwrap().len(),
        overflowed.len(),
        totals.emits,
        totals.queued,
        totals.dropped,
        start.elapsed()
    );
}

/// A namespace-wide emit walks the namespace's socket shards one lock at a
/// time, so it is not a snapshot: a connection that leaves the namespace and
/// joins it again while the walk runs (old socket in a shard already
/// visited, new socket in one not yet visited) gets the same emit twice.
/// Contract 4 ("concurrent calls get one or the other, never a half state").
#[test]
fn reconnect_during_namespace_emit_delivers_once() {
    let engine = Engine::new(Config::builder().max_queue(1 << 20).build().unwrap());
    let ns = engine.of("/").unwrap();
    engine.of("/bump").unwrap();
    let (conn, outbox) = engine.connect();
    // Other members make the walk long enough to race.
    let others: Vec<(Connection, Outbox)> = (0..2000)
        .map(|_| {
            let (c, o) = engine.connect();
            c.join_namespace("/", Handshake::new()).unwrap();
            (c, o)
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (engine, conn, stop) = (engine.clone(), conn.clone(), stop.clone());
        thread::spawn(move || {
            let (bump, _bump_outbox) = engine.connect();
            let mut s = conn.join_namespace("/", Handshake::new()).unwrap();
            for _ in 0..1_000_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(20) {}
                s.disconnect_with(DisconnectReason::ClientNamespaceDisconnect);
                // Socket keys pick the shard; skip 7 so the new socket lands
                // 8 shards after the old one.
                for _ in 0..7 {
                    let b = bump.join_namespace("/bump", Handshake::new()).unwrap();
                    b.disconnect_with(DisconnectReason::ClientNamespaceDisconnect);
                }
                s = conn.join_namespace("/", Handshake::new()).unwrap();
            }
        })
    };
    let start = Instant::now();
    let mut last = None;
    let mut duplicate = None;
    let mut buf = Vec::new();
    for seq in 0u64..1_000_000 {
        if start.elapsed() > Duration::from_secs(5) || duplicate.is_some() {
            break;
        }
        ns.emit("e", format!("{seq}")).unwrap();
        while let Ok(m) = outbox.try_recv() {
            let v: u64 = m.payload().unwrap().as_str().unwrap().parse().unwrap();
            if last == Some(v) {
                duplicate = Some(v);
            }
            last = Some(v);
        }
        if seq % 64 == 0 {
            for (_, o) in &others {
                buf.clear();
                o.try_recv_many(&mut buf, usize::MAX).unwrap();
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    assert_eq!(duplicate, None, "emit delivered twice to one connection in one namespace");
}

/// Drains `outbox` until it reports closed; returns the events received.
fn drain_until_closed(outbox: &Outbox) -> u64 {
    let start = Instant::now();
    let mut n = 0;
    loop {
        match outbox.try_recv() {
            Ok(m) => n += u64::from(m.kind() == MessageKind::Event),
            Err(TryRecvError::Closed) => return n,
            Err(TryRecvError::Empty) => {
                assert!(start.elapsed() < HARD_CAP, "closed outbox never reported closed");
                thread::yield_now();
            }
        }
    }
}

/// Room entries point at their connection without a reference count (the
/// socket holds it). Here connections are created, put in rooms and torn
/// down (transport close, namespace disconnect, or leave then drop) and
/// freed, while another thread emits to those rooms through every selection
/// path: one room, a union, an except room, the whole namespace. A room
/// entry outliving its connection would be a use-after-free (and shows as
/// a lost or extra delivery, or a crash); the counts must match exactly:
/// every message an `EmitReport` says was queued is received by someone.
#[test]
fn connections_die_while_their_rooms_are_emitted_to() {
    let start = Instant::now();
    const CHURNERS: usize = 2;
    const STABLE: usize = 20;
    let engine = Engine::new(
        Config::builder()
            .max_queue(1 << 20)
            .max_queue_bytes(1 << 28)
            .overflow(OverflowPolicy::DropNewest)
            .build()
            .unwrap(),
    );
    let ns = engine.of("/").unwrap();
    let stable: Vec<(Connection, Outbox, Socket)> = (0..STABLE)
        .map(|_| {
            let (c, o) = engine.connect();
            let s = c.join_namespace("/", Handshake::new()).unwrap();
            s.join(["hot", "hot2"]).unwrap();
            (c, o, s)
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let emitter = {
        let (ns, done) = (ns.clone(), done.clone());
        thread::spawn(move || {
            let (mut queued, mut emits) = (0u64, 0u64);
            while !done.load(Ordering::Acquire) && start.elapsed() < HARD_CAP {
                let rep = match emits % 4 {
                    0 => ns.to("hot").emit("e", "x"),
                    1 => ns.to(["hot", "hot2"]).emit("e", "x"),
                    2 => ns.to("hot").except("hot2").emit("e", "x"),
                    _ => ns.emit("e", "x"),
                }
                .unwrap();
                assert_eq!(rep.dropped, 0);
                queued += rep.queued as u64;
                emits += 1;
            }
            (queued, emits)
        })
    };
    let iters = budget(500, 20_000);
    let churners: Vec<_> = (0..CHURNERS)
        .map(|tid| {
            let engine = engine.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(seed(), 300 + tid as u64);
                let mut received = 0u64;
                for _ in 0..iters {
                    if start.elapsed() > TIME_CAP {
                        break;
                    }
                    let (conn, outbox) = engine.connect();
                    let s = conn.join_namespace("/", Handshake::new()).unwrap();
                    s.join("hot").unwrap();
                    if rng.chance(50) {
                        s.join("hot2").unwrap();
                    }
                    // Let a few emits find it.
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_micros(rng.below(30) as u64) {}
                    match rng.below(3) {
                        0 => {
                            conn.close(DisconnectReason::TransportClose);
                            received += drain_until_closed(&outbox);
                        }
                        1 => {
                            assert!(s.disconnect());
                            // Nothing arrives after disconnect returns.
                            let mut buf = Vec::new();
                            let _ = outbox.try_recv_many(&mut buf, usize::MAX);
                            received += buf.iter().filter(|m| m.kind() == MessageKind::Event).count() as u64;
                            drop(outbox);
                        }
                        _ => {
                            s.leave(["hot", "hot2"]).unwrap();
                            drop(s);
                            let mut buf = Vec::new();
                            let _ = outbox.try_recv_many(&mut buf, usize::MAX);
                            received += buf.iter().filter(|m| m.kind() == MessageKind::Event).count() as u64;
                            // The socket is still in the namespace (own-id
                            // room): namespace-wide emits may still reach it
                            // until the outbox's drop closes the connection.
                            drop(conn);
                            received += {
                                let c = outbox.connection();
                                c.close(DisconnectReason::TransportClose);
                                drain_until_closed(&outbox)
                            };
                        }
                    }
                }
                received
            })
        })
        .collect();
    let mut received: u64 = churners.into_iter().map(|h| h.join().unwrap()).sum();
    done.store(true, Ordering::Release);
    let (queued, emits) = emitter.join().unwrap();
    for (_, o, _) in &stable {
        let mut buf = Vec::new();
        o.try_recv_many(&mut buf, usize::MAX).unwrap();
        received += buf.iter().filter(|m| m.kind() == MessageKind::Event).count() as u64;
    }
    eprintln!("{emits} emits, {queued} deliveries, in {:?}", start.elapsed());
    assert!(emits > 0);
    assert_eq!(received, queued, "{emits} emits queued {queued} messages but {received} were received");
    // Only the stable sockets are left, in their rooms.
    assert_eq!(ns.room_size("hot"), STABLE);
    assert_eq!(ns.room_size("hot2"), STABLE);
    assert_eq!(engine.stats().sockets, STABLE as u64);
    drop(stable);
    assert_eq!(engine.stats().sockets, 0);
}
