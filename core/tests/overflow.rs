//! Overflow under load: `drop_oldest` evictions cost O(1) whatever is
//! queued, control messages (ack replies, disconnect notices) keep their
//! place among data messages and are never dropped by a policy, and their
//! own bound closes a connection that piles them up instead of holding
//! unbounded memory.

use std::time::Instant;

use roomcast::{
    Config, ConnectOptions, DisconnectReason, Engine, Handshake, Inbound, Message, MessageKind, Namespace, Outbox,
    OverflowPolicy, Socket, TryRecvError,
};

mod common;
use common::{client, Client};

fn engine_with(max_queue: usize, policy: OverflowPolicy) -> (Engine, Namespace) {
    let engine = Engine::new(Config::builder().max_queue(max_queue).overflow(policy).build().unwrap());
    let ns = engine.of("/o").unwrap();
    // Every "ask" event is answered with an ack reply carrying its text.
    ns.on("ask", |_s, ev, ack| {
        if let Some(ack) = ack {
            ack.send(ev.payload().clone())?;
        }
        Ok(())
    })
    .unwrap();
    (engine, ns)
}

/// `"3"` for data message "3", `"A7"` for the ack reply to id 7, `"L2"` for
/// a notice that 2 messages were lost.
fn label(m: &Message) -> String {
    match m.kind() {
        MessageKind::Lagged => format!("L{}", m.lagged_count().unwrap()),
        MessageKind::Ack => format!("A{}", m.ack_id().unwrap()),
        _ => m.payload().and_then(|p| p.as_str()).unwrap_or("?").to_string(),
    }
}

fn drain(outbox: &Outbox) -> Vec<String> {
    std::iter::from_fn(|| outbox.try_recv().ok()).map(|m| label(&m)).collect()
}

/// Seconds per emit into `socket`'s outbox, best of three rounds of `n`.
fn per_emit(socket: &Socket, n: usize) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                socket.emit("e", "x").unwrap();
            }
            t.elapsed().as_secs_f64() / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// An emit into a full `drop_oldest` outbox evicts the oldest data message:
/// that must cost about what an emit into an outbox with room costs, not
/// time proportional to the queue (a shift of every queued slot), also with
/// control messages queued ahead of the oldest data message. Compared as a
/// ratio in one process, with a wide margin: an O(queue) eviction over
/// 8,192 slots is two orders of magnitude slower.
#[test]
fn defect_2_drop_oldest_eviction_is_o1_whatever_is_queued() {
    const Q: usize = 8192;
    let (engine, ns) = engine_with(Q, OverflowPolicy::DropOldest);

    // Baseline: an outbox with room, drained between rounds.
    let Client { conn: _c0, outbox: roomy, socket: s0 } = client(&engine, "/o");
    let mut buf = Vec::new();
    let with_room = {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            best = best.min(per_emit(&s0, Q / 2));
            buf.clear();
            while roomy.try_recv_many(&mut buf, usize::MAX).unwrap() > 0 {
                buf.clear();
            }
        }
        best
    };

    // Full of data: every emit evicts the front.
    let Client { conn: _c1, outbox: full, socket: s1 } = client(&engine, "/o");
    for _ in 0..Q {
        s1.emit("e", "x").unwrap();
    }
    let evicting = per_emit(&s1, Q / 2);

    // Ack replies queued ahead of the data (the client asked, never read).
    let Client { conn: _c2, outbox: acked, socket: s2 } = client(&engine, "/o");
    for id in 0..(Q as u64 / 2) {
        s2.dispatch(Inbound::event("ask", "a").with_ack(id)).unwrap();
    }
    for _ in 0..Q {
        s2.emit("e", "x").unwrap();
    }
    let evicting_past_acks = per_emit(&s2, Q / 2);

    let r1 = evicting / with_room;
    let r2 = evicting_past_acks / with_room;
    assert!(r1 < 8.0, "an evicting emit costs {r1:.1}x an emit with room");
    assert!(r2 < 8.0, "an evicting emit behind {} acks costs {r2:.1}x an emit with room", Q / 2);
    assert!(full.len() <= Q + 1 && acked.len() <= Q + Q / 2 + 1);
    assert!(engine.stats().dropped > 0);
    drop(ns);
}

/// Contract 6 and acks together: under `drop_oldest` the evicted messages
/// are data only, the lagged notice comes first, and an ack reply keeps its
/// exact place: after the data emitted before it, before the data after it.
#[test]
fn contract_6_ack_replies_keep_their_place_and_are_never_evicted() {
    let (engine, _ns) = engine_with(4, OverflowPolicy::DropOldest);
    for batch in [false, true] {
        let Client { conn: _c, outbox, socket: s } = client(&engine, "/o");
        for i in 0..4 {
            s.emit("e", i.to_string()).unwrap();
        }
        s.dispatch(Inbound::event("ask", "a").with_ack(7)).unwrap();
        s.emit("e", "4").unwrap(); // evicts "0"
        s.dispatch(Inbound::event("ask", "a").with_ack(8)).unwrap();
        s.emit("e", "5").unwrap(); // evicts "1"
        let got = if batch {
            let mut buf = Vec::new();
            outbox.try_recv_many(&mut buf, 100).unwrap();
            buf.iter().map(label).collect()
        } else {
            drain(&outbox)
        };
        assert_eq!(got, ["L2", "2", "3", "A7", "4", "A8", "5"], "batch: {batch}");
        // A batch that stops between data and an ack resumes in order.
        for i in 0..3 {
            s.emit("e", i.to_string()).unwrap();
        }
        s.dispatch(Inbound::event("ask", "a").with_ack(9)).unwrap();
        s.emit("e", "3").unwrap();
        let mut buf = Vec::new();
        assert_eq!(outbox.try_recv_many(&mut buf, 2).unwrap(), 2);
        assert_eq!(outbox.try_recv_many(&mut buf, 2).unwrap(), 2);
        assert_eq!(outbox.try_recv_many(&mut buf, 2).unwrap(), 1);
        assert_eq!(buf.iter().map(label).collect::<Vec<_>>(), ["0", "1", "2", "A9", "3"]);
    }
}

/// A policy never drops an ack reply: under `drop_newest` a full outbox
/// refuses data but still queues the reply.
#[test]
fn ack_replies_get_past_a_full_drop_newest_outbox() {
    let (engine, _ns) = engine_with(2, OverflowPolicy::DropNewest);
    let Client { conn: _c, outbox, socket: s } = client(&engine, "/o");
    for i in 0..3 {
        s.emit("e", i.to_string()).unwrap();
    }
    s.dispatch(Inbound::event("ask", "a").with_ack(1)).unwrap();
    assert_eq!(drain(&outbox), ["0", "1", "A1"]);
}

/// The attacker's half of the hostile-clients issue, in the engine: a
/// client that sends ack-requesting events and never reads its replies. Its
/// replies are bounded like data (`max_queue` of them); the one over the
/// bound closes the connection with `queue overflow` — under every policy,
/// since dropping an ack silently is not an option — and a well-behaved
/// connection in the same namespace is untouched.
#[test]
fn hostile_ack_flood_is_bounded_and_closes_the_connection() {
    for policy in [OverflowPolicy::DropOldest, OverflowPolicy::DropNewest, OverflowPolicy::Disconnect] {
        let (engine, ns) = engine_with(64, policy);
        let Client { conn: _good_conn, outbox: good, socket: _good_socket } = client(&engine, "/o");
        let Client { conn, outbox, socket: s } = client(&engine, "/o");
        let mut refused_at = None;
        for id in 0..10_000u64 {
            if s.dispatch(Inbound::event("ask", "a").with_ack(id)).is_err() || conn.is_closed() {
                refused_at = Some(id);
                break;
            }
        }
        let at = refused_at.expect("the flood must be stopped");
        assert!(at <= 65, "{policy:?}: the connection closed only after {at} unread replies");
        assert!(conn.is_closed());
        assert_eq!(outbox.close_reason(), Some(DisconnectReason::QueueOverflow), "{policy:?}");
        // What was queued stays readable, in order, then `Closed`.
        let got = drain(&outbox);
        assert_eq!(got.len(), 64, "{policy:?}: {got:?}");
        assert!(got.iter().enumerate().all(|(i, l)| *l == format!("A{i}")), "{policy:?}: {got:?}");
        assert_eq!(outbox.try_recv().unwrap_err(), TryRecvError::Closed);
        // The other client still gets a broadcast.
        ns.emit("news", "still here").unwrap();
        assert_eq!(good.try_recv().map(|m| label(&m)), Ok("still here".into()));
        assert_eq!(engine.stats().connections, 1);
    }
}

/// The bound is per connection, from its options.
#[test]
fn the_control_bound_follows_the_connection_options() {
    let (engine, _ns) = engine_with(1024, OverflowPolicy::DropOldest);
    let (conn, outbox) = engine.connect_with(&ConnectOptions::new().max_queue(3)).unwrap();
    let s = conn.join_namespace("/o", Handshake::new()).unwrap();
    for id in 0..3 {
        s.dispatch(Inbound::event("ask", "a").with_ack(id)).unwrap();
    }
    assert!(!conn.is_closed());
    let _ = s.dispatch(Inbound::event("ask", "a").with_ack(3));
    assert!(conn.is_closed());
    assert_eq!(drain(&outbox), ["A0", "A1", "A2"]);
}
