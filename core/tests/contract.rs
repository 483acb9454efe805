//! Integration tests pinning DESIGN.md "The contract", items 1–7 and 11.
//!
//! Each test is named after the contract item it pins. Tests drive the crate
//! only through its public API (what `lib.rs` re-exports).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use roomcast::{
    Bytes, Config, ConfigError, ConnectError, ConnectOptions, DisconnectReason, EmitError, EmitReport, Engine, Format,
    Handshake, JoinError, Message, MessageKind, NameError, NameKind, NameProblem, Namespace, Outbox, OverflowPolicy,
    Payload, PayloadError, RecvError, RecvTimeoutError, RoomError, Socket, Stats, TryRecvError, MAX_NAME_LEN_LIMIT,
    RESERVED_EVENTS,
};

mod common;
use common::{client, client_with, drain, run_bounded, text, Client};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// `(event, text)` of every queued event message, in order; panics on any
/// other kind so a stray notice cannot pass unnoticed.
fn events(outbox: &Outbox) -> Vec<(String, String)> {
    drain(outbox)
        .iter()
        .map(|m| {
            assert_eq!(m.kind(), MessageKind::Event, "unexpected message {m:?}");
            (m.event_name().unwrap().to_string(), text(m))
        })
        .collect()
}

/// Texts of the queued event messages named `event` (others are discarded).
fn texts_of(outbox: &Outbox, event: &str) -> Vec<String> {
    drain(outbox).iter().filter(|m| m.event_name() == Some(event)).map(text).collect()
}

fn report(recipients: usize, queued: usize, dropped: usize) -> EmitReport {
    EmitReport { recipients, queued, dropped }
}

fn name_err(kind: NameKind, name: &str, problem: NameProblem) -> NameError {
    NameError { kind, name: name.chars().take(64).collect(), problem }
}

/// How many messages named `event` each outbox holds (draining them).
fn counts(clients: &[Client], event: &str) -> Vec<usize> {
    clients.iter().map(|c| texts_of(&c.outbox, event).len()).collect()
}

/// The observable state a failed operation must leave untouched.
#[derive(Debug, PartialEq)]
struct Snapshot {
    stats: Stats,
    namespaces: Vec<String>,
    ns_rooms: Vec<Vec<String>>,
    ns_sockets: Vec<usize>,
    room_sizes: Vec<Vec<usize>>,
    socket_rooms: Vec<Vec<String>>,
    socket_connected: Vec<bool>,
    outbox_lens: Vec<usize>,
}

fn snapshot(engine: &Engine, nss: &[&Namespace], sockets: &[&Socket], outboxes: &[&Outbox]) -> Snapshot {
    Snapshot {
        stats: engine.stats(),
        namespaces: engine.namespaces(),
        ns_rooms: nss.iter().map(|n| n.rooms()).collect(),
        ns_sockets: nss.iter().map(|n| n.socket_count()).collect(),
        room_sizes: nss.iter().map(|n| n.rooms().iter().map(|r| n.room_size(r)).collect()).collect(),
        socket_rooms: sockets.iter().map(|s| s.rooms()).collect(),
        socket_connected: sockets.iter().map(|s| s.is_connected()).collect(),
        outbox_lens: outboxes.iter().map(|o| o.len()).collect(),
    }
}

// ---------------------------------------------------------------------------
// 1. Isolation
// ---------------------------------------------------------------------------

#[test]
fn contract_1_isolation() {
    let engine = Engine::new(Config::default());
    let a = engine.of("/a").unwrap();
    let b = engine.of("/b").unwrap();
    let root = engine.of("/").unwrap();

    let in_a = client(&engine, "/a");
    let in_b = client(&engine, "/b");
    // One connection multiplexed over both namespaces.
    let (mux_conn, mux) = engine.connect();
    let mux_a = mux_conn.join_namespace("/a", Handshake::new()).unwrap();
    let mux_b = mux_conn.join_namespace("/b", Handshake::new()).unwrap();
    let in_root = client(&engine, "/");

    in_a.socket.join("x").unwrap();
    in_b.socket.join("x").unwrap();
    mux_b.join("x").unwrap();

    // Room "x" is per namespace.
    assert_eq!(a.room_size("x"), 1);
    assert_eq!(b.room_size("x"), 2);

    // To room x in /a: only the /a member.
    assert_eq!(a.to("x").emit("ev", "a-x").unwrap(), report(1, 1, 0));
    let got = drain(&in_a.outbox);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].namespace(), Some("/a"));
    assert_eq!(text(&got[0]), "a-x");
    assert!(drain(&in_b.outbox).is_empty());
    assert!(drain(&mux).is_empty(), "mux's /a socket is not in /a's room x; its /b socket is in /b's x");
    assert!(drain(&in_root.outbox).is_empty());

    // To room x in /b: both /b members, tagged /b.
    assert_eq!(b.to("x").emit("ev", "b-x").unwrap(), report(2, 2, 0));
    assert!(drain(&in_a.outbox).is_empty());
    for outbox in [&in_b.outbox, &mux] {
        let got = drain(outbox);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].namespace(), Some("/b"));
        assert_eq!(text(&got[0]), "b-x");
    }

    // Whole-namespace emit in /a: /a sockets only (mux through its /a socket).
    assert_eq!(a.emit("ev", "a-all").unwrap(), report(2, 2, 0));
    assert_eq!(events(&in_a.outbox), vec![("ev".into(), "a-all".into())]);
    let m = drain(&mux);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].namespace(), Some("/a"));
    assert!(drain(&in_b.outbox).is_empty());
    assert!(drain(&in_root.outbox).is_empty());

    // The root namespace is a namespace like any other.
    assert_eq!(root.emit("ev", "root").unwrap(), report(1, 1, 0));
    assert!(drain(&in_a.outbox).is_empty() && drain(&in_b.outbox).is_empty() && drain(&mux).is_empty());
    assert_eq!(events(&in_root.outbox), vec![("ev".into(), "root".into())]);

    // A socket id of /b addresses nobody in /a.
    assert_eq!(a.to(in_b.socket.id()).emit("ev", "x").unwrap(), report(0, 0, 0));
    assert_eq!(a.to(mux_b.id()).emit("ev", "x").unwrap(), report(0, 0, 0));
    assert!(drain(&in_b.outbox).is_empty() && drain(&mux).is_empty());
    assert!(!a.rooms().contains(&in_b.socket.id().to_string()));

    // Leaving x in /a leaves /b's x alone; deleting /a's x keeps /b's.
    in_a.socket.leave("x").unwrap();
    assert_eq!(a.room_size("x"), 0);
    assert!(!a.rooms().contains(&"x".to_string()));
    assert_eq!(b.room_size("x"), 2);
    assert!(mux_b.in_room("x") && !mux_a.in_room("x"));
    assert_eq!(a.socket_count(), 2);
    assert_eq!(b.socket_count(), 2);
}

// ---------------------------------------------------------------------------
// 2. Targeting
// ---------------------------------------------------------------------------

#[test]
fn contract_2_targeting_union_at_most_once() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/t").unwrap();
    let c: Vec<Client> = (0..5).map(|_| client(&engine, "/t")).collect();
    // a: 0,1   b: 1,2   c: 3   (4 in no room)
    c[0].socket.join("a").unwrap();
    c[1].socket.join(["a", "b"]).unwrap();
    c[2].socket.join("b").unwrap();
    c[3].socket.join("c").unwrap();

    assert_eq!(ns.to("a").to("b").emit("e", "").unwrap(), report(3, 3, 0));
    assert_eq!(counts(&c, "e"), [1, 1, 1, 0, 0], "union, socket 1 only once");

    assert_eq!(ns.to(["a", "b", "c"]).emit("e", "").unwrap(), report(4, 4, 0));
    assert_eq!(counts(&c, "e"), [1, 1, 1, 1, 0]);

    assert_eq!(ns.to(["a", "a", "a"]).emit("e", "").unwrap(), report(2, 2, 0));
    assert_eq!(counts(&c, "e"), [1, 1, 0, 0, 0], "a room named twice still delivers once");

    assert_eq!(ns.to(["a", "b"]).except("b").emit("e", "").unwrap(), report(1, 1, 0));
    assert_eq!(counts(&c, "e"), [1, 0, 0, 0, 0]);

    assert_eq!(ns.except("a").emit("e", "").unwrap(), report(3, 3, 0));
    assert_eq!(counts(&c, "e"), [0, 0, 1, 1, 1], "except alone: whole namespace minus a");

    assert_eq!(ns.to("a").except(c[1].socket.id()).emit("e", "").unwrap(), report(1, 1, 0));
    assert_eq!(counts(&c, "e"), [1, 0, 0, 0, 0], "except(socket id) removes one socket");

    assert_eq!(ns.to("nobody").emit("e", "").unwrap(), report(0, 0, 0));
    assert_eq!(ns.to("a").except("nobody").emit("e", "").unwrap(), report(2, 2, 0));
    assert_eq!(counts(&c, "e"), [1, 1, 0, 0, 0]);

    assert_eq!(ns.emit("e", "").unwrap(), report(5, 5, 0));
    assert_eq!(counts(&c, "e"), [1, 1, 1, 1, 1], "no rooms: whole namespace");

    assert_eq!(ns.in_("c").emit("e", "").unwrap(), report(1, 1, 0));
    assert_eq!(counts(&c, "e"), [0, 0, 0, 1, 0]);

    // fetch_sockets uses the same selection.
    let mut ids: Vec<String> =
        ns.to(["a", "b"]).except("c").fetch_sockets().unwrap().iter().map(|s| s.id().to_string()).collect();
    ids.sort();
    let mut want: Vec<String> = c[..3].iter().map(|c| c.socket.id().to_string()).collect();
    want.sort();
    assert_eq!(ids, want);
}

/// Exhaustive model check: 20 sockets (rooms large enough to use the indexed
/// member sets), 4 rooms, every subset of rooms targeted × every subset
/// excluded. Each socket must receive exactly what the set algebra says.
#[test]
fn contract_2_targeting_matches_set_model() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/m").unwrap();
    const N: usize = 20;
    let rooms = ["r0", "r1", "r2", "r3"];
    let c: Vec<Client> = (0..N).map(|_| client(&engine, "/m")).collect();
    // Deterministic, overlapping membership.
    let member = |s: usize, r: usize| (s * 7 + r * 3) % 5 < 2 + r % 2 || (s + r) % 11 == 0;
    for (s, cl) in c.iter().enumerate() {
        let mine: Vec<&str> = (0..rooms.len()).filter(|&r| member(s, r)).map(|r| rooms[r]).collect();
        cl.socket.join(mine).unwrap();
    }
    for r in 0..rooms.len() {
        assert!((0..N).filter(|&s| member(s, r)).count() > 8, "room {r} should exceed the small-set size");
    }
    for to_mask in 0u32..16 {
        for ex_mask in 0u32..16 {
            let to: Vec<&str> = (0..4).filter(|r| to_mask & (1 << r) != 0).map(|r| rooms[r]).collect();
            let ex: Vec<&str> = (0..4).filter(|r| ex_mask & (1 << r) != 0).map(|r| rooms[r]).collect();
            let expected: Vec<usize> = (0..N)
                .map(|s| {
                    let in_to = to_mask == 0 || (0..4).any(|r| to_mask & (1 << r) != 0 && member(s, r));
                    let in_ex = (0..4).any(|r| ex_mask & (1 << r) != 0 && member(s, r));
                    usize::from(in_to && !in_ex)
                })
                .collect();
            let rep = ns.to(to.clone()).except(ex.clone()).emit("e", "").unwrap();
            let want: usize = expected.iter().sum();
            assert_eq!(rep, report(want, want, 0), "to {to:?} except {ex:?}");
            assert_eq!(counts(&c, "e"), expected, "to {to:?} except {ex:?}");
        }
    }
}

#[test]
fn contract_2_broadcast_and_to_exclude_sender() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/t").unwrap();
    let c: Vec<Client> = (0..4).map(|_| client(&engine, "/t")).collect();
    for cl in &c[..3] {
        cl.socket.join("r").unwrap();
    }
    let s0 = &c[0].socket;

    assert_eq!(s0.broadcast().emit("e", "").unwrap(), report(3, 3, 0));
    assert_eq!(counts(&c, "e"), [0, 1, 1, 1], "broadcast: namespace minus sender");

    assert_eq!(s0.to("r").emit("e", "").unwrap(), report(2, 2, 0));
    assert_eq!(counts(&c, "e"), [0, 1, 1, 0], "socket.to(room): room minus sender");

    assert_eq!(s0.in_("r").emit("e", "").unwrap(), report(2, 2, 0));
    assert_eq!(counts(&c, "e"), [0, 1, 1, 0]);

    assert_eq!(s0.to(s0.id()).emit("e", "").unwrap(), report(0, 0, 0));
    assert_eq!(counts(&c, "e"), [0, 0, 0, 0], "even its own id room does not reach the sender");

    assert_eq!(s0.to(["r", c[3].socket.id()]).emit("e", "").unwrap(), report(3, 3, 0));
    assert_eq!(counts(&c, "e"), [0, 1, 1, 1]);

    assert_eq!(c[3].socket.to("r").emit("e", "").unwrap(), report(3, 3, 0));
    assert_eq!(counts(&c, "e"), [1, 1, 1, 0], "a sender outside the room reaches all members");

    assert_eq!(s0.except("r").emit("e", "").unwrap(), report(1, 1, 0));
    assert_eq!(counts(&c, "e"), [0, 0, 0, 1]);
    assert_eq!(s0.broadcast().except(c[1].socket.id()).emit("e", "").unwrap(), report(2, 2, 0));
    assert_eq!(counts(&c, "e"), [0, 0, 1, 1]);

    assert_eq!(s0.broadcast().volatile().emit("e", "").unwrap(), report(3, 3, 0));
    assert_eq!(counts(&c, "e"), [0, 1, 1, 1]);

    // socket.emit: that socket only.
    assert_eq!(s0.emit("e", "").unwrap(), report(1, 1, 0));
    assert_eq!(counts(&c, "e"), [1, 0, 0, 0]);

    // The namespace-level operator has no sender to exclude.
    assert_eq!(ns.to("r").emit("e", "").unwrap(), report(3, 3, 0));
    assert_eq!(counts(&c, "e"), [1, 1, 1, 0]);
}

// ---------------------------------------------------------------------------
// 3. Own-id room
// ---------------------------------------------------------------------------

#[test]
fn contract_3_own_id_room() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/o").unwrap();
    let other = engine.of("/other").unwrap();
    let before = engine.stats();
    let c: Vec<Client> = (0..3).map(|_| client(&engine, "/o")).collect();

    let mut ids = BTreeSet::new();
    for cl in &c {
        let id = cl.socket.id();
        assert_eq!(id.len(), 20);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{id}");
        assert!(ids.insert(id.to_string()), "ids are unique");
        assert_eq!(cl.socket.rooms(), vec![id.to_string()], "joined its own-id room on connect");
        assert!(cl.socket.in_room(id));
        assert_eq!(ns.room_size(id), 1);
        assert_eq!(ns.socket(id).as_ref(), Some(&cl.socket));
    }
    assert_eq!(ns.rooms(), ids.iter().cloned().collect::<Vec<_>>());
    assert_eq!(engine.stats().rooms, before.rooms + 3);
    assert_eq!(engine.stats().sockets, before.sockets + 3);

    // A second namespace on the same connection gets a different id.
    let s_other = c[0].conn.join_namespace("/other", Handshake::new()).unwrap();
    assert_ne!(s_other.id(), c[0].socket.id());
    assert_eq!(other.rooms(), vec![s_other.id().to_string()]);
    assert!(ns.socket(s_other.id()).is_none());

    // to(id) reaches exactly that socket; except(id) everyone else.
    assert_eq!(ns.to(c[1].socket.id()).emit("dm", "psst").unwrap(), report(1, 1, 0));
    assert_eq!(counts(&c, "dm"), [0, 1, 0]);
    assert_eq!(ns.except(c[1].socket.id()).emit("dm", "").unwrap(), report(2, 2, 0));
    assert_eq!(counts(&c, "dm"), [1, 0, 1]);
    assert_eq!(c[0].socket.to(c[2].socket.id()).emit("dm", "").unwrap(), report(1, 1, 0));
    assert_eq!(counts(&c, "dm"), [0, 0, 1]);

    // Other rooms come after the own-id room, in join order.
    c[0].socket.join(["z", "a"]).unwrap();
    assert_eq!(c[0].socket.rooms(), vec![c[0].socket.id().to_string(), "z".into(), "a".into()]);
}

/// The own-id room is permanent: leaving it is refused with a clear error
/// and changes nothing, so `to(id)` and `ns.socket(id)` always find a
/// connected socket.
#[test]
fn contract_3_own_id_room_cannot_be_left() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/o").unwrap();
    let c = client(&engine, "/o");
    let id = c.socket.id().to_string();
    c.socket.join("x").unwrap();
    let before = snapshot(&engine, &[&ns], &[&c.socket], &[&c.outbox]);
    assert_eq!(c.socket.leave(["x", id.as_str()]), Err(RoomError::OwnRoom));
    assert_eq!(snapshot(&engine, &[&ns], &[&c.socket], &[&c.outbox]), before, "all or nothing");
    assert_eq!(ns.to(id.as_str()).emit("dm", "").unwrap(), report(1, 1, 0));
    assert_eq!(ns.socket(&id), Some(c.socket.clone()));
    assert_eq!(ns.to("x").sockets_leave(id.as_str()).unwrap(), 0, "server-side leave of own room refused too");
    assert!(c.socket.in_room(&id));
}

/// A socket's room list shares each name with the room itself, and rooms
/// are deleted and re-created while other threads read those lists and
/// disconnect their sockets: every name read must stay exact. (Runs under
/// valgrind in `scripts/test.sh`, which would flag a name read after its
/// room freed it.)
#[test]
fn contract_3_room_names_stay_exact_while_rooms_come_and_go() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/n").unwrap();
    let left = Arc::new(std::sync::Mutex::new(Vec::new()));
    let l2 = left.clone();
    ns.on_room_event(move |ev| {
        if let roomcast::RoomEvent::Left { room, .. } | roomcast::RoomEvent::Deleted { room } = ev {
            l2.lock().unwrap().push(room.clone());
        }
    });
    let names: Vec<String> = (0..4).map(|i| format!("room-{i}-{}", "x".repeat(i * 9))).collect();
    let c: Vec<Client> = (0..6).map(|_| client(&engine, "/n")).collect();
    let ids: Vec<String> = c.iter().map(|cl| cl.socket.id().to_string()).collect();
    let valid = |s: &str| names.iter().any(|n| n == s) || ids.iter().any(|i| i == s);
    let rounds = if cfg!(debug_assertions) { 300 } else { 3_000 };
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        for t in 0..2 {
            let (c, names, stop) = (&c, &names, &stop);
            sc.spawn(move || {
                // Each thread churns its own sockets, often as a room's only
                // member, so rooms are deleted and re-created all the time.
                for i in 0..rounds {
                    let s = &c[t * 2 + i % 2].socket;
                    let room = names[(i + t) % names.len()].as_str();
                    s.join(room).unwrap();
                    assert!(s.in_room(room));
                    s.leave(room).unwrap();
                }
                stop.store(true, Ordering::Relaxed);
            });
        }
        let (c, stop) = (&c, &stop);
        sc.spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) || reads < 10 {
                for cl in c {
                    for r in cl.socket.rooms() {
                        assert!(valid(&r), "room list returned {r:?}");
                    }
                }
                reads += 1;
            }
        });
    });
    // Sockets 4 and 5 leave by disconnecting, each the only member of two
    // rooms: the Left and Deleted events name them exactly.
    for (k, room) in [(4, 0), (4, 3), (5, 1), (5, 2)] {
        c[k].socket.join(names[room].as_str()).unwrap();
    }
    left.lock().unwrap().clear();
    c[4].conn.close(DisconnectReason::TransportClose);
    c[5].socket.disconnect();
    let mut got = left.lock().unwrap().clone();
    got.sort();
    let mut want: Vec<String> = [&ids[4], &ids[5], &names[0], &names[3], &names[1], &names[2]]
        .iter()
        .flat_map(|n| [n.to_string(), n.to_string()])
        .collect();
    want.sort();
    assert_eq!(got, want, "one Left and one Deleted per room, names exact");
    assert_eq!(ns.rooms().len(), 4, "only the remaining own-id rooms");
    for cl in &c[..4] {
        assert_eq!(cl.socket.rooms(), vec![cl.socket.id().to_string()]);
    }
}

// ---------------------------------------------------------------------------
// 4. Join/emit order
// ---------------------------------------------------------------------------

#[test]
fn contract_4_join_leave_then_emit() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/j").unwrap();
    let c = client(&engine, "/j");
    let base_rooms = engine.stats().rooms;

    assert_eq!(ns.to("r").emit("e", "before").unwrap(), report(0, 0, 0));
    c.socket.join("r").unwrap();
    assert_eq!(engine.stats().rooms, base_rooms + 1);
    assert_eq!(ns.to("r").emit("e", "in").unwrap(), report(1, 1, 0));
    assert_eq!(texts_of(&c.outbox, "e"), ["in"]);

    // Joining twice is a no-op: still one delivery.
    c.socket.join("r").unwrap();
    assert_eq!(ns.room_size("r"), 1);
    assert_eq!(c.socket.rooms().len(), 2);
    assert_eq!(ns.to("r").emit("e", "twice").unwrap(), report(1, 1, 0));
    assert_eq!(texts_of(&c.outbox, "e"), ["twice"]);

    c.socket.leave("r").unwrap();
    assert_eq!(ns.to("r").emit("e", "after").unwrap(), report(0, 0, 0));
    assert!(c.outbox.is_empty());
    assert!(!ns.rooms().contains(&"r".to_string()), "a room is deleted with its last member");
    assert_eq!(engine.stats().rooms, base_rooms);

    // Leaving a room it is not in is a no-op.
    c.socket.leave("never").unwrap();
    assert_eq!(c.socket.rooms(), vec![c.socket.id().to_string()]);

    // Several at once.
    c.socket.join(["p", "q"]).unwrap();
    assert_eq!(ns.to("p").emit("e", "p").unwrap(), report(1, 1, 0));
    assert_eq!(ns.to("q").emit("e", "q").unwrap(), report(1, 1, 0));
    c.socket.leave(vec!["p".to_string(), "q".to_string()]).unwrap();
    assert_eq!(ns.to(["p", "q"]).emit("e", "gone").unwrap(), report(0, 0, 0));
    assert_eq!(texts_of(&c.outbox, "e"), ["p", "q"]);
    assert_eq!(engine.stats().rooms, base_rooms);

    // A room shared with another socket survives one member leaving.
    let d = client(&engine, "/j");
    c.socket.join("s").unwrap();
    d.socket.join("s").unwrap();
    c.socket.leave("s").unwrap();
    assert_eq!(ns.room_size("s"), 1);
    assert_eq!(ns.to("s").emit("e", "d only").unwrap(), report(1, 1, 0));
    assert!(c.outbox.is_empty());
    assert_eq!(texts_of(&d.outbox, "e"), ["d only"]);
}

/// Threads join and leave rooms `r`/`r2` in a loop while another thread
/// emits to the union of both. Checks, for every socket and every emit:
/// at most one delivery; after `join` returns the thread's own next emit
/// reaches it; after `leave` returns its own next emit does not; and the
/// deliveries of each background emit add up to its `EmitReport::queued`.
#[test]
fn contract_4_concurrent_join_emit_no_half_state() {
    run_bounded(Duration::from_secs(120), concurrent_join_emit_body);
}

fn concurrent_join_emit_body() {
    const JOINERS: usize = 3;
    const ROUNDS: usize = 300;
    const BG_MIN: usize = 2000;
    const BG_MAX: usize = 200_000;
    const BG_TIME: Duration = Duration::from_secs(3);
    let cfg = Config::builder().max_queue(1 << 20).max_queue_bytes(1 << 26).build().unwrap();
    let engine = Engine::new(cfg);
    let ns = engine.of("/c").unwrap();
    let clients: Vec<Client> = (0..JOINERS).map(|_| client(&engine, "/c")).collect();
    let start = Barrier::new(JOINERS + 1);
    let done = AtomicUsize::new(0);

    // Collected tags: "bg:<i>" of the background emits each joiner received.
    let (bg_reports, received): (Vec<EmitReport>, Vec<Vec<usize>>) = std::thread::scope(|sc| {
        // Emits at least BG_MIN times and keeps going while any joiner runs
        // (capped in count and time), so the two sides overlap however the
        // threads are scheduled. The time cap matters under valgrind, whose
        // one-thread-at-a-time scheduling can starve the joiners while this
        // loop runs to BG_MAX.
        let bg = sc.spawn(|| {
            start.wait();
            let t0 = std::time::Instant::now();
            let mut reports = Vec::new();
            while reports.len() < BG_MIN
                || (done.load(Ordering::SeqCst) < JOINERS && reports.len() < BG_MAX && t0.elapsed() < BG_TIME)
            {
                reports.push(ns.to(["r", "r2"]).emit("bg", format!("{}", reports.len())).unwrap());
            }
            reports
        });
        let joiners: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(t, cl)| {
                let (ns, start, done) = (&ns, &start, &done);
                sc.spawn(move || {
                    let mut bg_seen: Vec<usize> = Vec::new();
                    let mut seen_set: BTreeSet<usize> = BTreeSet::new();
                    let mut take = |msgs: Vec<Message>, probes: &mut Vec<String>| {
                        for m in msgs {
                            match m.event_name() {
                                Some("bg") => {
                                    let i: usize = text(&m).parse().unwrap();
                                    assert!(seen_set.insert(i), "socket {t} got bg emit {i} twice");
                                    bg_seen.push(i);
                                }
                                Some("probe") => probes.push(text(&m)),
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                    };
                    start.wait();
                    for round in 0..ROUNDS {
                        let rooms: &[&str] = if round % 2 == 0 { &["r"] } else { &["r", "r2"] };
                        cl.socket.join(rooms).unwrap();
                        let tag_in = format!("{t}:{round}:in");
                        let rep = ns.to(["r", "r2"]).emit("probe", tag_in.clone()).unwrap();
                        assert!(rep.recipients >= 1 && rep.dropped == 0, "{rep:?}");
                        let mut probes = Vec::new();
                        take(drain(&cl.outbox), &mut probes);
                        assert!(probes.contains(&tag_in), "socket {t} missed its own probe after join: {probes:?}");
                        assert_eq!(probes.iter().filter(|p| **p == tag_in).count(), 1);

                        cl.socket.leave(["r", "r2"]).unwrap();
                        let tag_out = format!("{t}:{round}:out");
                        ns.to(["r", "r2"]).emit("probe", tag_out.clone()).unwrap();
                        let mut probes = Vec::new();
                        take(drain(&cl.outbox), &mut probes);
                        assert!(!probes.contains(&tag_out), "socket {t} got a probe after leave returned");
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    // Whatever the background thread queued in the meantime.
                    take(drain(&cl.outbox), &mut Vec::new());
                    bg_seen
                })
            })
            .collect();
        let received = joiners.into_iter().map(|h| h.join().unwrap()).collect();
        (bg.join().unwrap(), received)
    });

    // Every background emit was delivered exactly where its report says.
    let mut delivered = vec![0usize; bg_reports.len()];
    for per_socket in &received {
        // FIFO per connection for one emitting thread (contract 5).
        assert!(per_socket.windows(2).all(|w| w[0] < w[1]), "bg emits out of order");
        for &i in per_socket {
            delivered[i] += 1;
        }
    }
    for (i, rep) in bg_reports.iter().enumerate() {
        assert_eq!(rep.dropped, 0);
        assert_eq!(rep.recipients, rep.queued);
        assert!(rep.recipients <= JOINERS);
        assert_eq!(delivered[i], rep.queued, "bg emit {i}: report {rep:?} but {} deliveries", delivered[i]);
    }
    // Nobody is left in the rooms, and the rooms are gone.
    assert_eq!(ns.room_size("r"), 0);
    assert_eq!(ns.room_size("r2"), 0);
    assert_eq!(ns.room_count(), JOINERS);
    assert_eq!(engine.stats().rooms, JOINERS as u64);
}

// ---------------------------------------------------------------------------
// 5. Ordering
// ---------------------------------------------------------------------------

#[test]
fn contract_5_fifo_per_connection_across_namespaces() {
    run_bounded(Duration::from_secs(120), fifo_body);
}

fn fifo_body() {
    let engine = Engine::new(Config::builder().max_queue(1 << 16).build().unwrap());
    let nss: Vec<Namespace> = ["/", "/a", "/b"].iter().map(|n| engine.of(n).unwrap()).collect();
    let (conn, outbox) = engine.connect();
    let socks: Vec<Socket> = nss.iter().map(|n| conn.join_namespace(n.name(), Handshake::new()).unwrap()).collect();
    for s in &socks {
        s.join("room").unwrap();
    }

    // One thread, emits spread over three namespaces and four emit paths.
    const N: usize = 600;
    for i in 0..N {
        let k = i % 3;
        let payload = format!("{i}");
        let rep = match i % 4 {
            0 => nss[k].emit("m", payload),
            1 => nss[k].to("room").emit("m", payload),
            2 => socks[k].emit("m", payload),
            _ => nss[k].to(socks[k].id()).volatile().emit("m", payload),
        }
        .unwrap();
        assert_eq!(rep, report(1, 1, 0));
    }
    let got = drain(&outbox);
    assert_eq!(got.len(), N);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(text(m), format!("{i}"), "one FIFO shared by all namespaces");
        assert_eq!(m.namespace(), Some(nss[i % 3].name()));
    }

    // Several emitting threads at once, a receiver draining concurrently:
    // each thread's messages arrive in its emit order.
    const THREADS: usize = 3; // one per namespace
    const PER: usize = 2000;
    assert_eq!(nss.len(), THREADS);
    let mut last: HashMap<usize, usize> = HashMap::new();
    let mut total = 0;
    std::thread::scope(|sc| {
        for (t, ns) in nss.iter().enumerate() {
            sc.spawn(move || {
                for i in 0..PER {
                    ns.to("room").emit("m", format!("{t}:{i}")).unwrap();
                }
            });
        }
        let mut buf = Vec::new();
        while total < THREADS * PER {
            buf.clear();
            match outbox.recv_many_timeout(&mut buf, 256, Duration::from_secs(10)) {
                Ok(_) => {}
                Err(e) => panic!("receiver stalled after {total} messages: {e:?}"),
            }
            for m in &buf {
                let (t, i): (usize, usize) =
                    text(m).split_once(':').map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap())).unwrap();
                assert_eq!(m.namespace(), Some(nss[t].name()));
                if let Some(prev) = last.insert(t, i) {
                    assert_eq!(i, prev + 1, "thread {t}: {i} after {prev}");
                } else {
                    assert_eq!(i, 0);
                }
                total += 1;
            }
        }
    });
    assert_eq!(total, THREADS * PER);
    assert!(outbox.is_empty());
}

// ---------------------------------------------------------------------------
// 6. Never block the emitter on a slow consumer
// ---------------------------------------------------------------------------

fn opts(max_queue: usize, policy: OverflowPolicy) -> ConnectOptions {
    ConnectOptions::new().max_queue(max_queue).overflow(policy)
}

#[test]
fn contract_6_drop_newest() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/q").unwrap();
    let slow = client_with(&engine, "/q", &opts(3, OverflowPolicy::DropNewest));
    let fast = client(&engine, "/q");
    let dropped0 = engine.stats().dropped;
    let delivered0 = engine.stats().delivered;

    for i in 0..3 {
        assert_eq!(ns.emit("m", format!("{i}")).unwrap(), report(2, 2, 0), "emit {i}");
    }
    for i in 3..5 {
        assert_eq!(ns.emit("m", format!("{i}")).unwrap(), report(2, 1, 1), "emit {i}");
    }
    assert_eq!(engine.stats().dropped, dropped0 + 2);
    assert_eq!(engine.stats().delivered, delivered0 + 8);
    assert_eq!(slow.outbox.len(), 3);

    // The kept messages are the oldest, with no lagged notice.
    assert_eq!(texts_of(&slow.outbox, "m"), ["0", "1", "2"]);
    assert_eq!(texts_of(&fast.outbox, "m"), ["0", "1", "2", "3", "4"]);
    assert!(!slow.conn.is_closed());

    // Room again once drained.
    assert_eq!(ns.emit("m", "5").unwrap(), report(2, 2, 0));
    let m = drain(&slow.outbox);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].kind(), MessageKind::Event);
    assert_eq!(text(&m[0]), "5");
    assert_eq!(engine.stats().dropped, dropped0 + 2);

    // Direct socket emits obey the same bound.
    for i in 0..3 {
        assert_eq!(slow.socket.emit("d", format!("{i}")).unwrap(), report(1, 1, 0));
    }
    assert_eq!(slow.socket.emit("d", "3").unwrap(), report(1, 0, 1));
    assert_eq!(engine.stats().dropped, dropped0 + 3);
    assert_eq!(texts_of(&slow.outbox, "d"), ["0", "1", "2"]);
}

#[test]
fn contract_6_drop_oldest_reports_lagged() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/q").unwrap();
    let c = client_with(&engine, "/q", &opts(3, OverflowPolicy::DropOldest));
    let d0 = engine.stats().dropped;

    // Six emits into a queue of three: the first three are evicted. The new
    // message is always queued, so no recipient counts as dropped.
    for i in 0..6 {
        assert_eq!(ns.emit("m", format!("{i}")).unwrap(), report(1, 1, 0), "emit {i}");
    }
    assert_eq!(engine.stats().dropped, d0 + 3, "evictions are drops");
    assert_eq!(c.outbox.len(), 4, "three messages plus the pending lagged notice");
    let got = drain(&c.outbox);
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].kind(), MessageKind::Lagged);
    assert_eq!(got[0].lagged_count(), Some(3));
    assert_eq!(got[0].namespace(), None);
    assert_eq!(got[1..].iter().map(text).collect::<Vec<_>>(), ["3", "4", "5"]);
    assert!(got[1..].iter().all(|m| m.kind() == MessageKind::Event && m.lagged_count().is_none()));

    // The notice sits exactly where the loss happened: a, [b lost], c, d, e.
    for x in ["a", "b", "c"] {
        ns.emit("m", x).unwrap();
    }
    assert_eq!(text(&c.outbox.try_recv().unwrap()), "a");
    ns.emit("m", "d").unwrap(); // fits: b c d
    ns.emit("m", "e").unwrap(); // evicts b
    assert_eq!(engine.stats().dropped, d0 + 4);
    let got = drain(&c.outbox);
    let shape: Vec<String> = got
        .iter()
        .map(|m| match m.kind() {
            MessageKind::Lagged => format!("lagged:{}", m.lagged_count().unwrap()),
            _ => text(m),
        })
        .collect();
    assert_eq!(shape, ["lagged:1", "c", "d", "e"]);

    // Losses between two receives accumulate into one notice.
    for x in ["f", "g", "h"] {
        ns.emit("m", x).unwrap();
    }
    assert_eq!(text(&c.outbox.try_recv().unwrap()), "f");
    for x in ["i", "j", "k", "l"] {
        ns.emit("m", x).unwrap(); // g h i | evict g,h,i for j,k,l
    }
    let shape: Vec<String> = drain(&c.outbox)
        .iter()
        .map(|m| match m.kind() {
            MessageKind::Lagged => format!("lagged:{}", m.lagged_count().unwrap()),
            _ => text(m),
        })
        .collect();
    assert_eq!(shape, ["lagged:3", "j", "k", "l"]);
    assert_eq!(engine.stats().dropped, d0 + 7);
    assert!(!c.conn.is_closed());
}

#[test]
fn contract_6_disconnect_policy_closes_with_queue_overflow() {
    let engine = Engine::new(Config::default());
    let q = engine.of("/q").unwrap();
    let p = engine.of("/p").unwrap();
    let slow = client_with(&engine, "/q", &opts(2, OverflowPolicy::Disconnect));
    let slow_p = slow.conn.join_namespace("/p", Handshake::new()).unwrap();
    let peer = client(&engine, "/q");
    slow.socket.join("r").unwrap();
    slow_p.join("only-slow").unwrap();
    peer.socket.join("r").unwrap();
    let before = engine.stats();
    assert_eq!(before.sockets, 3);
    assert_eq!(before.connections, 2);

    assert_eq!(q.to("r").emit("m", "0").unwrap(), report(2, 2, 0));
    assert_eq!(q.to("r").emit("m", "1").unwrap(), report(2, 2, 0));
    assert!(!slow.conn.is_closed());
    // The third does not fit: dropped for slow, and slow is disconnected.
    assert_eq!(q.to("r").emit("m", "2").unwrap(), report(2, 1, 1));

    assert!(slow.conn.is_closed());
    assert_eq!(slow.outbox.close_reason(), Some(DisconnectReason::QueueOverflow));
    assert_eq!(slow.conn.close_reason(), Some(DisconnectReason::QueueOverflow));
    assert_eq!(DisconnectReason::QueueOverflow.as_str(), "queue overflow");
    for s in [&slow.socket, &slow_p] {
        assert!(!s.is_connected());
        assert_eq!(s.disconnect_reason(), Some(DisconnectReason::QueueOverflow));
        assert!(s.rooms().is_empty());
    }
    // Its sockets are gone from every room of every namespace.
    assert_eq!(q.room_size("r"), 1);
    assert_eq!(q.socket_count(), 1);
    assert!(!q.rooms().contains(&slow.socket.id().to_string()));
    assert_eq!(p.socket_count(), 0);
    assert!(p.rooms().is_empty());
    let after = engine.stats();
    assert_eq!(after.sockets, 1);
    assert_eq!(after.connections, 1);
    assert_eq!(after.rooms, before.rooms - 3, "own-id rooms of both sockets and only-slow");
    assert_eq!(after.dropped, before.dropped + 1);

    // Later emits no longer select it.
    assert_eq!(q.to("r").emit("m", "3").unwrap(), report(1, 1, 0));
    assert_eq!(p.emit("m", "x").unwrap(), report(0, 0, 0));

    // What was queued before the overflow is still readable, then Closed.
    let ev: Vec<String> = {
        let mut v = Vec::new();
        loop {
            match slow.outbox.recv() {
                Ok(m) => {
                    if m.kind() == MessageKind::Event {
                        v.push(text(&m));
                    }
                }
                Err(RecvError::Closed) => break,
            }
            assert!(v.len() <= 2, "more than was queued");
        }
        v
    };
    assert_eq!(ev, ["0", "1"]);
    assert_eq!(slow.outbox.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(texts_of(&peer.outbox, "m"), ["0", "1", "2", "3"]);
    assert!(!peer.conn.is_closed());
}

#[test]
fn contract_6_volatile_never_triggers_policy() {
    for policy in [OverflowPolicy::DropNewest, OverflowPolicy::DropOldest, OverflowPolicy::Disconnect] {
        let engine = Engine::new(Config::default());
        let ns = engine.of("/v").unwrap();
        let c = client_with(&engine, "/v", &opts(2, policy));
        c.socket.join("r").unwrap();

        // Volatile into a non-full outbox is queued like any emit.
        assert_eq!(ns.volatile().emit("m", "0").unwrap(), report(1, 1, 0), "{policy}");
        assert_eq!(ns.emit("m", "1").unwrap(), report(1, 1, 0), "{policy}");
        let d0 = engine.stats().dropped;

        // Full: every volatile path drops, counts, and does nothing else.
        assert_eq!(ns.volatile().emit("m", "v1").unwrap(), report(1, 0, 1), "{policy}");
        assert_eq!(ns.to("r").volatile().emit("m", "v2").unwrap(), report(1, 0, 1), "{policy}");
        assert_eq!(c.socket.emit_volatile("m", "v3").unwrap(), report(1, 0, 1), "{policy}");
        assert_eq!(engine.stats().dropped, d0 + 3, "{policy}");
        assert!(!c.conn.is_closed(), "{policy}: volatile must not trigger disconnect");
        assert!(c.socket.is_connected(), "{policy}");
        assert_eq!(c.outbox.close_reason(), None);
        assert_eq!(c.outbox.len(), 2, "{policy}: no eviction, no lagged notice");
        let got = drain(&c.outbox);
        assert!(got.iter().all(|m| m.kind() == MessageKind::Event), "{policy}: {got:?}");
        assert_eq!(got.iter().map(text).collect::<Vec<_>>(), ["0", "1"], "{policy}");

        // Drained: volatile is delivered again.
        assert_eq!(c.socket.emit_volatile("m", "v4").unwrap(), report(1, 1, 0), "{policy}");
        assert_eq!(texts_of(&c.outbox, "m"), ["v4"]);
        assert_eq!(engine.stats().dropped, d0 + 3);
    }
}

#[test]
fn contract_6_byte_bound() {
    // Queue cost of a message = payload bytes + event name bytes; event "e"
    // with a 99-byte payload costs 100.
    let engine = Engine::new(Config::builder().max_payload(100).build().unwrap());
    let ns = engine.of("/b").unwrap();
    let p = |n: usize| Payload::binary(vec![b'x'; n]);

    // drop_newest: 100 + 100 fit in 250; another 100 does not; 50 fills it
    // exactly; then even 1 more byte does not fit.
    let c = client_with(
        &engine,
        "/b",
        &ConnectOptions::new().max_queue(100).max_queue_bytes(250).overflow(OverflowPolicy::DropNewest),
    );
    let d0 = engine.stats().dropped;
    assert_eq!(ns.emit("e", p(99)).unwrap(), report(1, 1, 0));
    assert_eq!(ns.emit("e", p(99)).unwrap(), report(1, 1, 0));
    assert_eq!(ns.emit("e", p(99)).unwrap(), report(1, 0, 1));
    assert_eq!(ns.emit("e", p(49)).unwrap(), report(1, 1, 0));
    assert_eq!(ns.emit("e", p(0)).unwrap(), report(1, 0, 1));
    assert_eq!(engine.stats().dropped, d0 + 2);
    let lens: Vec<usize> = drain(&c.outbox).iter().map(|m| m.payload().unwrap().len()).collect();
    assert_eq!(lens, [99, 99, 49]);
    // Draining frees the bytes.
    assert_eq!(ns.emit("e", p(99)).unwrap(), report(1, 1, 0));
    drain(&c.outbox);
    c.conn.close(DisconnectReason::TransportClose);

    // drop_oldest: the byte bound evicts from the front.
    let c = client_with(
        &engine,
        "/b",
        &ConnectOptions::new().max_queue(100).max_queue_bytes(250).overflow(OverflowPolicy::DropOldest),
    );
    let d0 = engine.stats().dropped;
    for i in 0..3u8 {
        assert_eq!(ns.emit("e", Payload::binary(vec![i; 99])).unwrap(), report(1, 1, 0));
    }
    assert_eq!(engine.stats().dropped, d0 + 1);
    let got = drain(&c.outbox);
    assert_eq!(got[0].kind(), MessageKind::Lagged);
    assert_eq!(got[0].lagged_count(), Some(1));
    assert_eq!(got[1..].iter().map(|m| m.payload().unwrap().as_bytes()[0]).collect::<Vec<_>>(), [1, 2]);
    c.conn.close(DisconnectReason::TransportClose);

    // disconnect: exceeding the byte bound closes the connection.
    let c = client_with(
        &engine,
        "/b",
        &ConnectOptions::new().max_queue(100).max_queue_bytes(250).overflow(OverflowPolicy::Disconnect),
    );
    assert_eq!(ns.emit("e", p(99)).unwrap(), report(1, 1, 0));
    assert_eq!(ns.emit("e", p(99)).unwrap(), report(1, 1, 0));
    assert!(!c.conn.is_closed());
    assert_eq!(ns.emit("e", p(99)).unwrap(), report(1, 0, 1));
    assert_eq!(c.outbox.close_reason(), Some(DisconnectReason::QueueOverflow));
    assert_eq!(ns.socket_count(), 0);

    // Bytes below max_payload are refused per connection too.
    let err = engine.connect_with(&ConnectOptions::new().max_queue_bytes(99)).unwrap_err();
    assert_eq!(err.option, "max_queue_bytes");
}

/// `ConfigBuilder::build` accepts `max_queue_bytes == max_payload` on the
/// grounds that "a full-size payload could [otherwise] never be queued", so
/// a full-size payload must fit an empty outbox under every policy.
#[test]
fn contract_6_byte_bound_admits_full_size_payload() {
    let engine = Engine::new(Config::builder().max_payload(100).max_queue_bytes(100).build().unwrap());
    let ns = engine.of("/b").unwrap();
    for policy in [OverflowPolicy::DropNewest, OverflowPolicy::DropOldest, OverflowPolicy::Disconnect] {
        let c = client_with(&engine, "/b", &opts(10, policy));
        assert_eq!(ns.emit("event", Payload::binary(vec![0u8; 100])).unwrap(), report(1, 1, 0), "{policy}");
        assert!(!c.conn.is_closed(), "{policy}: an empty outbox overflowed");
        let got = drain(&c.outbox);
        assert_eq!(got.len(), 1, "{policy}: {got:?}");
        assert_eq!(got[0].kind(), MessageKind::Event, "{policy}");
        c.conn.close(DisconnectReason::TransportClose);
    }
}

// ---------------------------------------------------------------------------
// 7. Disconnect
// ---------------------------------------------------------------------------

/// A payload owner that records when the last reference to its bytes dies.
struct DropFlag(Arc<AtomicBool>, Vec<u8>);
impl AsRef<[u8]> for DropFlag {
    fn as_ref(&self) -> &[u8] {
        &self.1
    }
}
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn contract_7_disconnect_cleanup_no_leak() {
    let engine = Engine::new(Config::default());
    let chat = engine.of("/chat").unwrap();
    let other = engine.of("/other").unwrap();
    let base = engine.stats();
    assert_eq!((base.sockets, base.connections, base.rooms), (0, 0, 0));

    let c = client(&engine, "/chat");
    let c_other = c.conn.join_namespace("/other", Handshake::new()).unwrap();
    let peer = client(&engine, "/chat");
    c.socket.join(["solo", "shared"]).unwrap();
    c_other.join("x").unwrap();
    peer.socket.join("shared").unwrap();
    let s = engine.stats();
    assert_eq!((s.sockets, s.connections), (3, 2));
    assert_eq!(s.rooms, 3 + 2 + 1, "three own-id rooms, solo, shared, x");

    chat.to(c.socket.id()).emit("w", "queued before close").unwrap();

    let id = c.socket.id().to_string();
    c.conn.close(DisconnectReason::TransportClose);

    assert!(c.conn.is_closed());
    assert_eq!(c.conn.close_reason(), Some(DisconnectReason::TransportClose));
    for s in [&c.socket, &c_other] {
        assert!(!s.is_connected());
        assert_eq!(s.disconnect_reason(), Some(DisconnectReason::TransportClose));
        assert!(s.rooms().is_empty());
    }
    assert!(c.conn.sockets().is_empty());
    assert!(c.conn.socket("/chat").is_none());
    assert_eq!(chat.socket_count(), 1);
    assert_eq!(other.socket_count(), 0);
    assert!(chat.socket(&id).is_none());
    assert_eq!(chat.fetch_sockets(), vec![peer.socket.clone()]);
    assert_eq!(chat.rooms(), {
        let mut v = vec![peer.socket.id().to_string(), "shared".to_string()];
        v.sort();
        v
    });
    assert_eq!(chat.room_size("shared"), 1);
    assert!(other.rooms().is_empty());
    let s = engine.stats();
    assert_eq!((s.sockets, s.connections, s.rooms), (1, 1, 2));

    // Nothing emitted afterwards reaches it.
    assert_eq!(chat.emit("after", "").unwrap(), report(1, 1, 0));
    assert_eq!(chat.to(id.as_str()).emit("after", "").unwrap(), report(0, 0, 0));
    assert_eq!(chat.to("solo").emit("after", "").unwrap(), report(0, 0, 0));
    assert_eq!(other.emit("after", "").unwrap(), report(0, 0, 0));
    assert_eq!(c.socket.emit("after", "").unwrap_err(), EmitError::Closed);
    let left = drain(&c.outbox);
    assert_eq!(left.len(), 1, "only the message queued before the close: {left:?}");
    assert_eq!(left[0].event_name(), Some("w"));
    drop(left);
    assert_eq!(c.outbox.try_recv().unwrap_err(), TryRecvError::Closed);

    // Closing again changes nothing.
    let s = engine.stats();
    c.conn.close(DisconnectReason::ServerShuttingDown);
    assert_eq!(engine.stats(), s);
    assert_eq!(c.conn.close_reason(), Some(DisconnectReason::TransportClose));
    assert!(c.outbox.is_empty());

    // The last socket leaving returns everything to zero.
    peer.conn.close(DisconnectReason::TransportClose);
    let s = engine.stats();
    assert_eq!((s.sockets, s.connections, s.rooms), (0, 0, 0));
    assert!(chat.rooms().is_empty());
    assert_eq!(chat.socket_count(), 0);

    // Once every handle is gone, the queue and what it held are freed.
    let c2 = client(&engine, "/chat");
    let freed = Arc::new(AtomicBool::new(false));
    let watched = Payload::binary(Bytes::from_owner(DropFlag(freed.clone(), b"watched".to_vec())));
    c2.socket.emit("w", watched).unwrap();
    c2.socket.join("r").unwrap();
    c2.conn.close(DisconnectReason::TransportClose);
    assert!(!freed.load(Ordering::SeqCst), "queued messages stay readable after close");
    drop(c2);
    assert!(freed.load(Ordering::SeqCst), "closed connection leaked its queue");

    // A socket disconnected from its namespace while its connection stays
    // open is released by the engine too (its data dies with the last handle).
    let c3 = client(&engine, "/chat");
    let data_freed = Arc::new(AtomicBool::new(false));
    c3.socket.set_data(Payload::binary(Bytes::from_owner(DropFlag(data_freed.clone(), vec![1]))));
    c3.socket.join("r").unwrap();
    assert!(c3.socket.disconnect());
    let Client { conn, outbox, socket } = c3;
    drop(socket);
    assert!(data_freed.load(Ordering::SeqCst), "a disconnected socket is still referenced by the engine");
    assert!(!conn.is_closed());
    assert_eq!(chat.socket_count(), 0);
    drop((conn, outbox));
    let s = engine.stats();
    assert_eq!((s.sockets, s.connections, s.rooms), (0, 0, 0));
}

#[test]
fn contract_7_queued_messages_readable_after_close_then_closed() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/c").unwrap();
    let c = client(&engine, "/c");
    c.socket.join("r").unwrap();
    ns.to("r").emit("m", "1").unwrap();
    c.socket.emit("m", "2").unwrap();
    ns.emit("m", "3").unwrap();

    c.conn.close(DisconnectReason::TransportClose);
    assert!(c.outbox.is_closed());
    assert_eq!(c.outbox.close_reason(), Some(DisconnectReason::TransportClose));
    assert_eq!(c.outbox.len(), 3);

    assert_eq!(text(&c.outbox.try_recv().unwrap()), "1");
    assert_eq!(text(&c.outbox.recv().unwrap()), "2");
    assert_eq!(text(&c.outbox.recv_timeout(Duration::from_secs(5)).unwrap()), "3");
    // Transport close: the client is gone, so no disconnect notice follows.
    assert_eq!(c.outbox.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(c.outbox.recv().unwrap_err(), RecvError::Closed);
    assert_eq!(c.outbox.recv_timeout(Duration::from_secs(5)).unwrap_err(), RecvTimeoutError::Closed);
    let mut buf = Vec::new();
    assert_eq!(c.outbox.recv_many(&mut buf, 8).unwrap_err(), RecvError::Closed);
    assert_eq!(c.outbox.try_recv_many(&mut buf, 8).unwrap_err(), TryRecvError::Closed);
    assert!(buf.is_empty());
}

#[test]
fn contract_7_server_side_reasons_queue_disconnect_notice() {
    let engine = Engine::new(Config::default());
    let a = engine.of("/a").unwrap();
    engine.of("/b").unwrap();

    // Server shutting down: one notice per socket, after what was queued.
    let (conn, outbox) = engine.connect();
    let sa = conn.join_namespace("/a", Handshake::new()).unwrap();
    let _sb = conn.join_namespace("/b", Handshake::new()).unwrap();
    sa.emit("m", "queued").unwrap();
    conn.close(DisconnectReason::ServerShuttingDown);
    assert_eq!(outbox.close_reason(), Some(DisconnectReason::ServerShuttingDown));
    let got = drain(&outbox);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(text(&got[0]), "queued");
    let mut notices: Vec<&str> = got[1..]
        .iter()
        .map(|m| {
            assert_eq!(m.kind(), MessageKind::Disconnect);
            assert_eq!(m.disconnect_reason(), Some(DisconnectReason::ServerShuttingDown));
            m.namespace().unwrap()
        })
        .collect();
    notices.sort();
    assert_eq!(notices, ["/a", "/b"]);
    assert_eq!(outbox.try_recv().unwrap_err(), TryRecvError::Closed);

    // socket.disconnect(): a notice for that namespace; the connection and its
    // other sockets stay.
    let (conn, outbox) = engine.connect();
    let sa = conn.join_namespace("/a", Handshake::new()).unwrap();
    let sb = conn.join_namespace("/b", Handshake::new()).unwrap();
    sa.join("r").unwrap();
    assert!(sa.disconnect());
    assert!(!sa.disconnect(), "second disconnect is a no-op");
    assert_eq!(sa.disconnect_reason(), Some(DisconnectReason::ServerNamespaceDisconnect));
    let got = drain(&outbox);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind(), MessageKind::Disconnect);
    assert_eq!(got[0].namespace(), Some("/a"));
    assert_eq!(got[0].disconnect_reason(), Some(DisconnectReason::ServerNamespaceDisconnect));
    assert!(!conn.is_closed());
    assert_eq!(conn.sockets(), vec![sb.clone()]);
    assert_eq!(a.socket_count(), 0);
    assert_eq!(a.room_size("r"), 0);
    assert_eq!(a.to("r").emit("m", "").unwrap(), report(0, 0, 0));
    sb.emit("m", "still here").unwrap();
    assert_eq!(texts_of(&outbox, "m"), ["still here"]);
    // The namespace can be joined again on the same connection.
    let sa2 = conn.join_namespace("/a", Handshake::new()).unwrap();
    assert_ne!(sa2.id(), sa.id());

    // Client-side reasons: no notice.
    assert!(sa2.disconnect_with(DisconnectReason::ClientNamespaceDisconnect));
    assert!(outbox.is_empty());

    // ns.disconnect_sockets() is server-side.
    let c = client(&engine, "/a");
    assert_eq!(a.disconnect_sockets(), 1);
    let got = drain(&c.outbox);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].disconnect_reason(), Some(DisconnectReason::ServerNamespaceDisconnect));

    // Transport close on an empty outbox: nothing, then Closed.
    conn.close(DisconnectReason::TransportClose);
    assert_eq!(outbox.try_recv().unwrap_err(), TryRecvError::Closed);
}

/// A disconnect notice is how the client learns its namespace socket is gone;
/// `drop_oldest` must not evict it in favour of later events (it would be
/// reported only as an anonymous "lagged by N").
#[test]
fn contract_7_disconnect_notice_survives_drop_oldest() {
    let engine = Engine::new(Config::default());
    engine.of("/a").unwrap();
    let b = engine.of("/b").unwrap();
    let (conn, outbox) = engine.connect_with(&opts(2, OverflowPolicy::DropOldest)).unwrap();
    let sa = conn.join_namespace("/a", Handshake::new()).unwrap();
    conn.join_namespace("/b", Handshake::new()).unwrap();
    assert!(sa.disconnect());
    for i in 0..3 {
        b.emit("m", format!("{i}")).unwrap();
    }
    let got = drain(&outbox);
    assert!(
        got.iter().any(|m| m.kind() == MessageKind::Disconnect && m.namespace() == Some("/a")),
        "the /a disconnect notice was lost: {got:?}"
    );
}

#[test]
fn contract_7_dropping_outbox_closes_connection() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/d").unwrap();
    let c = client(&engine, "/d");
    c.socket.join("r").unwrap();
    let Client { conn, outbox, socket } = c;
    drop(outbox);

    assert!(conn.is_closed());
    assert_eq!(conn.close_reason(), Some(DisconnectReason::TransportClose));
    assert!(!socket.is_connected());
    assert_eq!(socket.disconnect_reason(), Some(DisconnectReason::TransportClose));
    assert_eq!(ns.socket_count(), 0);
    assert!(ns.rooms().is_empty());
    let s = engine.stats();
    assert_eq!((s.sockets, s.connections, s.rooms), (0, 0, 0));
    assert_eq!(ns.emit("m", "").unwrap(), report(0, 0, 0));
    assert_eq!(socket.join("r").unwrap_err(), RoomError::Closed);
    assert_eq!(
        conn.join_namespace("/d", Handshake::new()).unwrap_err(),
        JoinError::ConnectionClosed,
        "no socket can be added once closed"
    );
}

// ---------------------------------------------------------------------------
// 11. Bad input
// ---------------------------------------------------------------------------

#[test]
fn contract_11_bad_input_errors_change_nothing() {
    let engine = Engine::new(Config::builder().max_payload(64).build().unwrap());
    let ns = engine.of("/ns").unwrap();
    let c = client(&engine, "/ns");
    let d = client(&engine, "/ns");
    c.socket.join(["r", "s"]).unwrap();
    d.socket.join("r").unwrap();
    let snap = || snapshot(&engine, &[&ns], &[&c.socket, &d.socket], &[&c.outbox, &d.outbox]);
    let before = snap();

    // Namespace names.
    let long_ns = format!("/{}", "a".repeat(256));
    let bad_ns: Vec<(&str, NameProblem)> = vec![
        ("chat", NameProblem::MissingSlash),
        ("", NameProblem::Empty),
        (&long_ns, NameProblem::TooLong { len: 257, max: 256 }),
        ("/a,b", NameProblem::InvalidChar(',')),
        ("/a\nb", NameProblem::InvalidChar('\n')),
        ("/a\0", NameProblem::InvalidChar('\0')),
        ("/a\u{7f}", NameProblem::InvalidChar('\u{7f}')),
    ];
    for (name, problem) in &bad_ns {
        let want = name_err(NameKind::Namespace, name, problem.clone());
        assert_eq!(engine.of(name).unwrap_err(), roomcast::NamespaceError::InvalidName(want.clone()), "of({name:?})");
        assert_eq!(c.conn.join_namespace(name, Handshake::new()).unwrap_err(), JoinError::InvalidName(want));
        assert!(engine.namespace(name).is_none());
        assert_eq!(snap(), before, "after {name:?}");
    }

    // Room names: empty or longer than max_name_len.
    let long_room = "r".repeat(257);
    let bad_rooms: Vec<(&str, NameProblem)> =
        vec![("", NameProblem::Empty), (&long_room, NameProblem::TooLong { len: 257, max: 256 })];
    for (room, problem) in &bad_rooms {
        let want = name_err(NameKind::Room, room, problem.clone());
        assert_eq!(c.socket.join(*room).unwrap_err(), RoomError::InvalidName(want.clone()));
        assert_eq!(c.socket.join(["ok", *room]).unwrap_err(), RoomError::InvalidName(want.clone()), "all-or-nothing");
        assert_eq!(c.socket.leave(*room).unwrap_err(), RoomError::InvalidName(want.clone()));
        assert_eq!(c.socket.leave(["r", *room]).unwrap_err(), RoomError::InvalidName(want.clone()), "all-or-nothing");
        let emit_err = EmitError::InvalidName(want.clone());
        assert_eq!(ns.to(*room).emit("e", "").unwrap_err(), emit_err);
        assert_eq!(ns.to(["r", *room]).emit("e", "").unwrap_err(), emit_err);
        assert_eq!(ns.except(*room).emit("e", "").unwrap_err(), emit_err);
        assert_eq!(c.socket.to(*room).emit("e", "").unwrap_err(), emit_err);
        assert_eq!(c.socket.broadcast().except(*room).emit("e", "").unwrap_err(), emit_err);
        assert_eq!(ns.to(*room).fetch_sockets().unwrap_err(), emit_err);
        assert_eq!(ns.to("r").sockets_join(*room).unwrap_err(), emit_err);
        assert_eq!(ns.to("r").sockets_leave(*room).unwrap_err(), emit_err);
        assert_eq!(ns.to(*room).disconnect_sockets().unwrap_err(), emit_err);
        assert_eq!(snap(), before, "after room {:?}", &room[..room.len().min(8)]);
    }
    // Exactly max_name_len is fine (checked on a throwaway socket below).

    // Event names: empty, too long, control characters, reserved.
    let long_ev = "e".repeat(257);
    let mut bad_events: Vec<(&str, NameProblem)> = vec![
        ("", NameProblem::Empty),
        (&long_ev, NameProblem::TooLong { len: 257, max: 256 }),
        ("a\tb", NameProblem::InvalidChar('\t')),
        ("\u{1b}[0m", NameProblem::InvalidChar('\u{1b}')),
    ];
    assert!(RESERVED_EVENTS.contains(&"disconnect") && RESERVED_EVENTS.contains(&"connect"));
    for r in RESERVED_EVENTS {
        bad_events.push((*r, NameProblem::Reserved));
    }
    for (ev, problem) in &bad_events {
        let want = EmitError::InvalidName(name_err(NameKind::Event, ev, problem.clone()));
        assert_eq!(ns.emit(ev, "").unwrap_err(), want, "{ev:?}");
        assert_eq!(ns.to("r").emit(ev, "").unwrap_err(), want);
        assert_eq!(ns.volatile().emit(ev, "").unwrap_err(), want);
        assert_eq!(c.socket.emit(ev, "").unwrap_err(), want);
        assert_eq!(c.socket.emit_volatile(ev, "").unwrap_err(), want);
        assert_eq!(c.socket.broadcast().emit(ev, "").unwrap_err(), want);
        assert_eq!(c.socket.to("r").emit(ev, "").unwrap_err(), want);
        assert_eq!(snap(), before, "after event {ev:?}");
    }

    // Payload over max_payload (64): every emit path refuses it.
    let big = || Payload::binary(vec![0u8; 65]);
    let too_large = EmitError::Payload(PayloadError::TooLarge { size: 65, limit: 64 });
    assert_eq!(ns.emit("e", big()).unwrap_err(), too_large);
    assert_eq!(ns.to("r").emit("e", big()).unwrap_err(), too_large);
    assert_eq!(ns.volatile().emit("e", big()).unwrap_err(), too_large);
    assert_eq!(c.socket.emit("e", big()).unwrap_err(), too_large);
    assert_eq!(c.socket.emit_volatile("e", big()).unwrap_err(), too_large);
    assert_eq!(c.socket.broadcast().emit("e", big()).unwrap_err(), too_large);
    assert_eq!(ns.emit("e", "x".repeat(65)).unwrap_err(), too_large, "text counts bytes");
    assert_eq!(
        ns.emit("e", "é".repeat(33)).unwrap_err(),
        EmitError::Payload(PayloadError::TooLarge { size: 66, limit: 64 })
    );
    assert_eq!(snap(), before);

    // The limits themselves are accepted (proving the errors above were the
    // limit and nothing else).
    assert_eq!(ns.to("r").emit("e", Payload::binary(vec![0u8; 64])).unwrap(), report(2, 2, 0));
    assert_eq!(ns.to("r").emit(&"e".repeat(256), "").unwrap(), report(2, 2, 0));
    d.socket.join("r".repeat(256)).unwrap();
    engine.of(&format!("/{}", "a".repeat(255))).unwrap();
}

#[test]
fn contract_11_too_many_rooms_all_or_nothing() {
    let engine = Engine::new(Config::builder().max_rooms_per_socket(3).build().unwrap());
    let ns = engine.of("/l").unwrap();
    let c = client(&engine, "/l");
    c.socket.join(["a", "b"]).unwrap();
    let snap = || snapshot(&engine, &[&ns], &[&c.socket], &[&c.outbox]);
    let before = snap();

    let err = RoomError::TooManyRooms { limit: 3 };
    assert_eq!(c.socket.join(["c", "d"]).unwrap_err(), err, "2 + 2 > 3: nothing joined");
    assert_eq!(snap(), before);
    assert!(!c.socket.in_room("c"));
    assert_eq!(ns.room_size("c"), 0);
    assert_eq!(c.socket.join(["c", "d", "e"]).unwrap_err(), err);
    assert_eq!(snap(), before);

    // Rooms already joined and duplicates within the call do not count again;
    // the own-id room never counts.
    c.socket.join(["a", "b", "c", "c"]).unwrap();
    assert_eq!(c.socket.rooms(), vec![c.socket.id().to_string(), "a".into(), "b".into(), "c".into()]);
    let before = snap();
    assert_eq!(c.socket.join("d").unwrap_err(), err);
    assert_eq!(c.socket.join(["a", "d"]).unwrap_err(), err);
    assert_eq!(snap(), before);
    c.socket.join(["a", "b", "c"]).unwrap();
    assert_eq!(snap(), before);

    // sockets_join skips a socket that would exceed the limit, leaving it as is.
    assert_eq!(ns.to("a").sockets_join("d").unwrap(), 0);
    assert_eq!(snap(), before);

    // Leaving frees a slot.
    c.socket.leave("a").unwrap();
    c.socket.join("d").unwrap();
    assert_eq!(ns.room_size("d"), 1);
}

/// The own-id room does not count against `max_rooms_per_socket`, and
/// trying to leave it cannot free an extra slot for other rooms.
#[test]
fn contract_11_room_limit_holds_after_trying_to_leave_own_id_room() {
    let engine = Engine::new(Config::builder().max_rooms_per_socket(2).build().unwrap());
    let ns = engine.of("/l").unwrap();
    let c = client(&engine, "/l");
    assert_eq!(c.socket.leave(c.socket.id()), Err(RoomError::OwnRoom));
    c.socket.join(["a", "b"]).unwrap();
    let before = snapshot(&engine, &[&ns], &[&c.socket], &[&c.outbox]);
    assert_eq!(c.socket.join("c").unwrap_err(), RoomError::TooManyRooms { limit: 2 });
    assert_eq!(snapshot(&engine, &[&ns], &[&c.socket], &[&c.outbox]), before);
}

#[test]
fn contract_11_closed_socket_operations() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/x").unwrap();
    let c = client(&engine, "/x");
    let peer = client(&engine, "/x");
    c.socket.join("r").unwrap();
    peer.socket.join("r").unwrap();
    c.socket.disconnect();
    drain(&c.outbox); // the disconnect notice
    let snap = || snapshot(&engine, &[&ns], &[&c.socket, &peer.socket], &[&c.outbox, &peer.outbox]);
    let before = snap();

    let s = &c.socket;
    assert_eq!(s.join("r").unwrap_err(), RoomError::Closed);
    assert_eq!(s.join(["new", "other"]).unwrap_err(), RoomError::Closed);
    assert_eq!(s.leave("r").unwrap_err(), RoomError::Closed);
    assert_eq!(s.emit("e", "").unwrap_err(), EmitError::Closed);
    assert_eq!(s.emit_volatile("e", "").unwrap_err(), EmitError::Closed);
    assert_eq!(s.broadcast().emit("e", "").unwrap_err(), EmitError::Closed);
    assert_eq!(s.to("r").emit("e", "").unwrap_err(), EmitError::Closed);
    assert_eq!(s.except("r").emit("e", "").unwrap_err(), EmitError::Closed);
    assert!(!s.disconnect());
    assert_eq!(snap(), before);
    assert!(peer.outbox.is_empty(), "a disconnected sender reaches nobody");

    // Same after the whole connection closed.
    let c2 = client(&engine, "/x");
    c2.conn.close(DisconnectReason::TransportClose);
    let before = snapshot(&engine, &[&ns], &[&c2.socket], &[&peer.outbox]);
    assert_eq!(c2.socket.join("r").unwrap_err(), RoomError::Closed);
    assert_eq!(c2.socket.leave("r").unwrap_err(), RoomError::Closed);
    assert_eq!(c2.socket.emit("e", "").unwrap_err(), EmitError::Closed);
    assert_eq!(c2.socket.to("r").emit("e", "").unwrap_err(), EmitError::Closed);
    assert_eq!(snapshot(&engine, &[&ns], &[&c2.socket], &[&peer.outbox]), before);
}

#[test]
fn contract_11_join_namespace_errors() {
    let engine = Engine::new(Config::default());
    let chat = engine.of("/chat").unwrap();
    let (conn, outbox) = engine.connect();
    let s = conn.join_namespace("/chat", Handshake::new()).unwrap();
    let snap = || (snapshot(&engine, &[&chat], &[&s], &[&outbox]), conn.sockets());
    let before = snap();

    // Unknown namespace: refused as Socket.IO does, and not created.
    let err = conn.join_namespace("/nope", Handshake::new()).unwrap_err();
    assert_eq!(err, JoinError::Refused(ConnectError { message: "Invalid namespace".into(), data: None }));
    assert_eq!(err, JoinError::Refused(ConnectError::invalid_namespace()));
    assert!(engine.namespace("/nope").is_none());
    assert_eq!(snap(), before);

    // Second join of the same namespace.
    assert_eq!(
        conn.join_namespace("/chat", Handshake::new()).unwrap_err(),
        JoinError::AlreadyJoined("/chat".to_string())
    );
    assert_eq!(snap(), before);
    assert_eq!(conn.socket("/chat"), Some(s.clone()));

    // Closed connection.
    let (closed, closed_outbox) = engine.connect();
    closed.close(DisconnectReason::TransportClose);
    let before = snap();
    assert_eq!(closed.join_namespace("/chat", Handshake::new()).unwrap_err(), JoinError::ConnectionClosed);
    assert_eq!(closed.join_namespace("/", Handshake::new()).unwrap_err(), JoinError::ConnectionClosed);
    assert!(closed.sockets().is_empty());
    assert_eq!(snap(), before);
    assert_eq!(closed_outbox.try_recv().unwrap_err(), TryRecvError::Closed);
}

#[test]
fn contract_11_invalid_config_rejected() {
    let cases: Vec<(&str, roomcast::ConfigBuilder)> = vec![
        ("max_queue", Config::builder().max_queue(0)),
        ("max_payload", Config::builder().max_payload(0)),
        ("max_queue_bytes", Config::builder().max_payload(100).max_queue_bytes(99)),
        ("max_queue_bytes", Config::builder().max_queue_bytes(0)),
        ("max_rooms_per_socket", Config::builder().max_rooms_per_socket(0)),
        ("max_name_len", Config::builder().max_name_len(0)),
        ("max_name_len", Config::builder().max_name_len(MAX_NAME_LEN_LIMIT + 1)),
        ("ack_timeout", Config::builder().ack_timeout(Duration::ZERO)),
    ];
    for (option, builder) in cases {
        let err: ConfigError = builder.build().unwrap_err();
        assert_eq!(err.option, option);
        assert!(!err.reason.is_empty());
        assert!(err.to_string().contains(option), "{err}");
    }
    // Boundaries are accepted.
    let ok = Config::builder()
        .max_queue(1)
        .max_payload(1)
        .max_queue_bytes(1)
        .max_rooms_per_socket(1)
        .max_name_len(MAX_NAME_LEN_LIMIT)
        .ack_timeout(Duration::from_nanos(1))
        .build()
        .unwrap();
    assert_eq!((ok.max_queue(), ok.max_queue_bytes(), ok.max_name_len()), (1, 1, MAX_NAME_LEN_LIMIT));
    let d = Config::default();
    assert_eq!(
        (d.max_queue(), d.max_queue_bytes(), d.overflow(), d.max_payload(), d.max_rooms_per_socket(), d.max_name_len()),
        (1024, 1 << 20, OverflowPolicy::DropOldest, 1 << 20, 1024, 256)
    );
    assert_eq!(d.ack_timeout(), Duration::from_secs(10));

    // String-keyed settings (what the bindings use) name the option too.
    let set_err = |k: &str, v: &str| Config::builder().set(k, v).unwrap_err().option;
    assert_eq!(set_err("max_queue", "many"), "max_queue");
    assert_eq!(set_err("max_queue", "-1"), "max_queue");
    assert_eq!(set_err("overflow", "drop_everything"), "overflow");
    assert_eq!(set_err("remove_empty_dynamic", "maybe"), "remove_empty_dynamic");
    assert_eq!(set_err("no_such_option", "1"), "no_such_option");
    assert_eq!(Config::builder().set("max_queue", "0").unwrap().build().unwrap_err().option, "max_queue");
    assert_eq!("bogus".parse::<OverflowPolicy>().unwrap_err().option, "overflow");
    assert_eq!("disconnect".parse::<OverflowPolicy>().unwrap(), OverflowPolicy::Disconnect);

    // Per-connection options: rejected, and no connection is opened.
    let engine = Engine::new(Config::default());
    let before = engine.stats();
    assert_eq!(engine.connect_with(&ConnectOptions::new().max_queue(0)).unwrap_err().option, "max_queue");
    assert_eq!(
        engine.connect_with(&ConnectOptions::new().max_queue_bytes((1 << 20) - 1)).unwrap_err().option,
        "max_queue_bytes"
    );
    assert_eq!(engine.stats(), before);
}

#[test]
fn contract_11_invalid_payloads() {
    assert_eq!(Payload::new(Format::Text, vec![0xffu8]).unwrap_err(), PayloadError::InvalidUtf8 { valid_up_to: 0 });
    assert_eq!(
        Payload::new(Format::Text, b"ab\xffc".to_vec()).unwrap_err(),
        PayloadError::InvalidUtf8 { valid_up_to: 2 }
    );
    assert_eq!(
        Payload::new(Format::Text, b"ok\xe2\x82".to_vec()).unwrap_err(),
        PayloadError::InvalidUtf8 { valid_up_to: 2 },
        "truncated multi-byte sequence"
    );
    for bad in ["{not json", "", "1 2", "{\"a\":}", "[1,", "'single'", "nul"] {
        assert!(
            matches!(Payload::new(Format::Json, bad.as_bytes().to_vec()), Err(PayloadError::InvalidJson(_))),
            "{bad:?} accepted as JSON"
        );
    }
    assert!(matches!(Payload::new(Format::Json, b"\xff".to_vec()), Err(PayloadError::InvalidJson(_))));
    assert_eq!("xml".parse::<Format>().unwrap_err(), PayloadError::UnknownFormat("xml".into()));

    // The valid counterparts.
    assert_eq!(Payload::new(Format::Text, "héllo").unwrap().as_str(), Some("héllo"));
    assert_eq!(Payload::new(Format::Json, " {\"a\": [1, null]} ").unwrap().format(), Format::Json);
    assert_eq!(Payload::new(Format::Json, "null").unwrap().as_str(), Some("null"));
    assert_eq!(Payload::new(Format::Binary, vec![0xffu8, 0]).unwrap().as_bytes(), &[0xff, 0]);
    assert_eq!("json".parse::<Format>().unwrap(), Format::Json);
}

#[test]
fn contract_queue_limits_are_one_rule_for_the_engine_and_for_a_connection() {
    // The same bad bounds, set engine-wide or per connection, give the same error.
    let built = Config::builder().max_payload(100).max_queue_bytes(99).build().unwrap_err();
    let engine = Engine::new(Config::builder().max_payload(100).build().unwrap());
    let per_conn = engine.connect_with(&ConnectOptions::new().max_queue_bytes(99)).unwrap_err();
    assert_eq!(built, per_conn);
    assert_eq!(built.option, "max_queue_bytes");
    assert!(built.reason.contains("max_payload (100)"), "{built}");

    let built = Config::builder().max_queue(0).build().unwrap_err();
    let per_conn = engine.connect_with(&ConnectOptions::new().max_queue(0)).unwrap_err();
    assert_eq!(built, per_conn);
    assert_eq!(built.option, "max_queue");
    // Nothing was opened by the refused connects.
    assert_eq!(engine.stats().connections, 0);
}

#[test]
fn contract_11_every_payload_check_is_one_rule_with_one_error() {
    let engine = Engine::new(Config::builder().max_payload(16).max_queue_bytes(1 << 16).build().unwrap());
    let ns = engine.of("/").unwrap();
    let big = || Payload::text("x".repeat(17));
    let want = PayloadError::TooLarge { size: 17, limit: 16 };

    let replies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let r2 = replies.clone();
    ns.on("ask", move |_, _, ack| {
        if let Some(ack) = ack {
            r2.lock().unwrap().push(ack.send(big()));
        }
    })
    .unwrap();
    let (conn, outbox) = engine.connect();
    let joined = conn.join_namespace("/", Handshake::new().auth(big()));
    assert!(matches!(&joined, Err(JoinError::Payload(e)) if *e == want), "{joined:?}");
    let socket = conn.join_namespace("/", Handshake::new()).unwrap();

    let dispatched = socket.dispatch(roomcast::Inbound::event("ask", big()));
    assert!(matches!(&dispatched, Err(roomcast::DispatchError::Payload(e)) if *e == want), "{dispatched:?}");
    socket.dispatch(roomcast::Inbound::event("ask", "small").with_ack(1)).unwrap();
    let responded = replies.lock().unwrap().pop().expect("the handler ran");
    assert!(matches!(&responded, Err(roomcast::RespondError::Payload(e)) if *e == want), "{responded:?}");

    let stream = socket.emit_with_ack("q", "?").unwrap();
    let id = outbox.try_recv().unwrap().ack_id().unwrap();
    let received = socket.receive_ack(id, big());
    assert!(matches!(&received, Err(roomcast::AckReceiveError::Payload(e)) if *e == want), "{received:?}");
    assert_eq!(engine.stats().acks_ignored, 1);
    drop(stream);

    let emitted = ns.emit("e", big());
    assert!(matches!(&emitted, Err(EmitError::Payload(e)) if *e == want), "{emitted:?}");

    // One text, whichever call hit the limit.
    let texts: BTreeSet<String> = [
        joined.unwrap_err().to_string(),
        dispatched.unwrap_err().to_string(),
        responded.unwrap_err().to_string(),
        received.unwrap_err().to_string(),
        emitted.unwrap_err().to_string(),
    ]
    .into_iter()
    .collect();
    assert_eq!(texts.into_iter().collect::<Vec<_>>(), vec!["payload of 17 bytes exceeds the limit of 16".to_string()]);
    // Nothing but the ack emit reached the outbox.
    assert!(outbox.try_recv().is_err());
}

#[test]
fn contract_1_except_socket_is_the_sender_exclusion_for_any_socket() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/").unwrap();
    let other_ns = engine.of("/other").unwrap();
    let [a, b, c] = [0, 1, 2].map(|_| client(&engine, "/"));
    for cl in [&a, &b, &c] {
        cl.socket.join("r").unwrap();
    }
    let stranger = client(&engine, "/other");

    // What the sender's own broadcast selects, named from the namespace.
    let by_sender = a.socket.to("r").emit("e", "1").unwrap();
    let by_name = ns.to("r").except_socket(&a.socket).emit("e", "2").unwrap();
    assert_eq!((by_sender.recipients, by_name.recipients), (2, 2));
    assert!(drain(&a.outbox).is_empty());
    for cl in [&b, &c] {
        assert_eq!(drain(&cl.outbox).iter().map(text).collect::<Vec<_>>(), ["1", "2"]);
    }
    // A whole-namespace emit and an emit with except rooms take the same rule.
    assert_eq!(ns.except("nothing").except_socket(&b.socket).emit("e", "3").unwrap().recipients, 2);
    assert!(drain(&b.outbox).is_empty());
    drain(&a.outbox);
    drain(&c.outbox);
    // A socket of another namespace excludes nobody here, and nothing is
    // sent to it.
    assert_eq!(ns.to("r").except_socket(&stranger.socket).emit("e", "4").unwrap().recipients, 3);
    assert_eq!(other_ns.emit("e", "5").unwrap().recipients, 1);
    // Unlike a sender, the excluded socket need not be connected.
    a.socket.disconnect();
    assert_eq!(ns.to("r").except_socket(&a.socket).emit("e", "6").unwrap().recipients, 2);
}
