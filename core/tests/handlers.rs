//! Part 2 of the engine: handlers, middleware, acks, dynamic namespaces,
//! server-side operations, room events, re-entrancy.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roomcast::{
    AckError, AckReceiveError, Config, ConnectError, DisconnectReason, Dispatched, Engine, EventFlow, FailureKind,
    HandlerFailure, HandlerSite, Handshake, Inbound, JoinError, Message, MessageKind, Outbox, Payload, RespondError,
    RoomEvent, Stats,
};

mod common;
use common::drain;

fn engine() -> Engine {
    Engine::new(Config::default())
}

fn events(outbox: &Outbox) -> Vec<(String, String)> {
    drain(outbox)
        .into_iter()
        .filter(|m| m.kind() == MessageKind::Event)
        .map(|m| {
            (m.event_name().unwrap().to_string(), m.payload().and_then(|p| p.as_str()).unwrap_or_default().to_string())
        })
        .collect()
}

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn errors_of(ns: &roomcast::Namespace) -> Arc<Mutex<Vec<HandlerFailure>>> {
    let errs = Arc::new(Mutex::new(Vec::new()));
    let e = errs.clone();
    ns.on_error(move |f| e.lock().unwrap().push(f.clone()));
    errs
}

#[test]
fn middleware_runs_in_order_and_first_error_short_circuits() {
    let e = engine();
    let ns = e.of("/admin").unwrap();
    let order = log();
    for (i, verdict) in [(1, true), (2, false), (3, true)] {
        let order = order.clone();
        ns.use_middleware(move |hs| {
            order.lock().unwrap().push(format!("mw{i}"));
            if verdict || hs.auth_payload().and_then(|p| p.as_str()) == Some("admin") {
                Ok(())
            } else {
                Err(ConnectError::new("not authorized").with_data(Payload::from(serde_json::json!({"code": 401}))))
            }
        });
    }
    let connected = Arc::new(AtomicUsize::new(0));
    let c = connected.clone();
    ns.on_connection(move |_s| {
        c.fetch_add(1, Ordering::SeqCst);
    });

    let (conn, _out) = e.connect();
    let before = e.stats();
    let err = conn.join_namespace("/admin", Handshake::new().auth("guest")).unwrap_err();
    let JoinError::Refused(refusal) = err else { panic!("expected a refusal, got {err:?}") };
    assert_eq!(refusal.message, "not authorized");
    assert_eq!(refusal.data.unwrap().to_json::<serde_json::Value>().unwrap()["code"], 401);
    assert_eq!(*order.lock().unwrap(), vec!["mw1", "mw2"], "mw3 must not run after a refusal");

    // No trace: no socket, no room, no stat change, no connection handler.
    assert_eq!(ns.socket_count(), 0);
    assert!(ns.rooms().is_empty());
    assert!(conn.sockets().is_empty());
    assert_eq!(e.stats(), before);
    assert_eq!(connected.load(Ordering::SeqCst), 0);

    order.lock().unwrap().clear();
    let s = conn.join_namespace("/admin", Handshake::new().auth("admin")).unwrap();
    assert_eq!(*order.lock().unwrap(), vec!["mw1", "mw2", "mw3"]);
    assert_eq!(connected.load(Ordering::SeqCst), 1);
    assert!(s.in_room(s.id()));
}

#[test]
fn middleware_sees_the_handshake_and_runs_before_the_socket_exists() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let seen = log();
    let (s2, ns2) = (seen.clone(), ns.clone());
    ns.use_middleware(move |hs| {
        s2.lock().unwrap().push(format!(
            "{}|{}|{}|{}|sockets={}",
            hs.auth_payload().and_then(|p| p.as_str()).unwrap_or(""),
            hs.header_value("User-Agent").unwrap_or(""),
            hs.query_value("room").unwrap_or(""),
            hs.remote_address().unwrap_or(""),
            ns2.socket_count()
        ));
        Ok(())
    });
    let (conn, _o) = e.connect();
    let s = conn
        .join_namespace(
            "/",
            Handshake::new().auth("tok").header("user-agent", "ua").query("room", "r1").address("127.0.0.1:9"),
        )
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec!["tok|ua|r1|127.0.0.1:9|sockets=0"]);
    assert_eq!(s.handshake().query_value("room"), Some("r1"));
}

#[test]
fn panicking_middleware_refuses_and_is_reported() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let errs = errors_of(&ns);
    ns.use_middleware(|_| panic!("boom in middleware"));
    let (conn, _o) = e.connect();
    let err = conn.join_namespace("/", Handshake::new()).unwrap_err();
    assert!(matches!(err, JoinError::Refused(_)));
    let errs = errs.lock().unwrap();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].site, HandlerSite::Middleware);
    assert_eq!(errs[0].kind, FailureKind::Panic);
    assert!(errs[0].message.contains("boom in middleware"));
    assert_eq!(e.stats().sockets, 0);
}

#[test]
fn handlers_run_in_registration_order_after_on_any() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let order = log();
    for i in 1..=3 {
        let o = order.clone();
        ns.on("ev", move |_s, ev, _ack| o.lock().unwrap().push(format!("h{i}:{}", ev.payload().as_str().unwrap())))
            .unwrap();
    }
    let o = order.clone();
    ns.on_any(move |_s, ev| o.lock().unwrap().push(format!("any:{}", ev.name())));
    let (conn, _out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    assert_eq!(s.dispatch(Inbound::event("ev", "x")).unwrap(), Dispatched::Handled(3));
    assert_eq!(*order.lock().unwrap(), vec!["any:ev", "h1:x", "h2:x", "h3:x"]);

    // off() removes them; the event is then unhandled (but on_any still sees it).
    ns.off("ev").unwrap();
    order.lock().unwrap().clear();
    assert_eq!(s.dispatch(Inbound::event("ev", "y")).unwrap(), Dispatched::Unhandled);
    assert_eq!(*order.lock().unwrap(), vec!["any:ev"]);
}

#[test]
fn fallback_handles_unknown_events_only() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let seen = log();
    let s2 = seen.clone();
    ns.on_fallback(move |_s, ev, _ack| s2.lock().unwrap().push(ev.name().to_string()));
    ns.on("known", |_s, _e, _a| {}).unwrap();
    let (conn, _out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    assert_eq!(s.dispatch(Inbound::event("known", "")).unwrap(), Dispatched::Handled(1));
    assert_eq!(s.dispatch(Inbound::event("mystery", "")).unwrap(), Dispatched::Fallback);
    assert_eq!(*seen.lock().unwrap(), vec!["mystery"]);
}

#[test]
fn dispatch_rejects_bad_input_without_running_handlers() {
    let e = Engine::new(Config::builder().max_payload(8).max_queue_bytes(64).build().unwrap());
    let ns = e.of("/").unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    ns.on_any(move |_s, _e| {
        r.fetch_add(1, Ordering::SeqCst);
    });
    let (conn, _out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    assert!(matches!(s.dispatch(Inbound::event("", "x")), Err(roomcast::DispatchError::InvalidName(_))));
    assert!(matches!(s.dispatch(Inbound::event("disconnect", "x")), Err(roomcast::DispatchError::InvalidName(_))));
    assert!(matches!(
        s.dispatch(Inbound::event("ev", "123456789")),
        Err(roomcast::DispatchError::Payload(roomcast::PayloadError::TooLarge { size: 9, limit: 8 }))
    ));
    s.disconnect();
    assert_eq!(s.dispatch(Inbound::event("ev", "x")), Err(roomcast::DispatchError::Closed));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn event_middleware_drops_and_rejects_through_the_error_hook() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let errs = errors_of(&ns);
    ns.use_event_middleware(|_s, ev| match ev.name() {
        "spam" => Ok(EventFlow::Drop),
        "forbidden" => Err("not allowed".into()),
        _ => Ok(EventFlow::Continue),
    });
    let ran = log();
    let r = ran.clone();
    ns.on_any(move |_s, ev| r.lock().unwrap().push(ev.name().to_string()));
    let (conn, out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    assert_eq!(s.dispatch(Inbound::event("spam", "")).unwrap(), Dispatched::Dropped);
    assert_eq!(s.dispatch(Inbound::event("forbidden", "")).unwrap(), Dispatched::Rejected);
    assert_eq!(s.dispatch(Inbound::event("ok", "")).unwrap(), Dispatched::Unhandled);
    assert_eq!(*ran.lock().unwrap(), vec!["ok"]);
    let errs = errs.lock().unwrap();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].site, HandlerSite::EventMiddleware("forbidden".into()));
    assert_eq!(errs[0].kind, FailureKind::Rejected);
    assert_eq!(errs[0].message, "not allowed");
    // The rejection is not sent to the client.
    assert!(drain(&out).is_empty());
}

#[test]
fn ack_responder_replies_once_with_an_ack_message() {
    let e = engine();
    let ns = e.of("/chat").unwrap();
    let results = log();
    for _ in 0..2 {
        let r = results.clone();
        ns.on("question", move |_s, _ev, ack| {
            let ack = ack.expect("the client asked for an ack");
            let res = ack.send("42");
            r.lock().unwrap().push(format!("{res:?}"));
        })
        .unwrap();
    }
    let (conn, out) = e.connect();
    let s = conn.join_namespace("/chat", Handshake::new()).unwrap();
    s.dispatch(Inbound::event("question", "?").with_ack(7)).unwrap();
    assert_eq!(
        *results.lock().unwrap(),
        vec!["Ok(())".to_string(), format!("{:?}", Err::<(), _>(RespondError::AlreadyAnswered))]
    );
    let msgs = drain(&out);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].kind(), MessageKind::Ack);
    assert_eq!(msgs[0].namespace(), Some("/chat"));
    assert_eq!(msgs[0].ack_id(), Some(7));
    assert_eq!(msgs[0].payload().unwrap().as_str(), Some("42"));

    // Without an ack id the handler gets None; dropping a responder unanswered is fine.
    let got_none = Arc::new(AtomicUsize::new(0));
    let g = got_none.clone();
    ns.on("fire", move |_s, _e, ack| {
        if ack.is_none() {
            g.fetch_add(1, Ordering::SeqCst);
        }
    })
    .unwrap();
    s.dispatch(Inbound::event("fire", "")).unwrap();
    ns.on("ignore", |_s, _e, _ack| {}).unwrap();
    s.dispatch(Inbound::event("ignore", "").with_ack(8)).unwrap();
    assert_eq!(got_none.load(Ordering::SeqCst), 1);
    assert!(drain(&out).is_empty());
}

#[test]
fn ack_reply_is_never_dropped_by_a_full_outbox() {
    let e = Engine::new(Config::builder().max_queue(1).overflow(roomcast::OverflowPolicy::DropNewest).build().unwrap());
    let ns = e.of("/").unwrap();
    ns.on("q", |_s, _e, ack: Option<roomcast::AckResponder>| Ok(ack.unwrap().send("a")?)).unwrap();
    let (conn, out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    s.emit("filler", "f").unwrap();
    s.dispatch(Inbound::event("q", "").with_ack(1)).unwrap();
    let kinds: Vec<_> = drain(&out).iter().map(Message::kind).collect();
    assert_eq!(kinds, vec![MessageKind::Event, MessageKind::Ack]);
}

/// Answers every event with an ack id in `outbox` as `socket` would (the
/// transport's job), with `reply`.
fn answer_all(outbox: &Outbox, socket: &roomcast::Socket, reply: &str) -> usize {
    let mut n = 0;
    for m in drain(outbox) {
        if let (MessageKind::Event, Some(id)) = (m.kind(), m.ack_id()) {
            socket.receive_ack(id, reply.to_string()).unwrap();
            n += 1;
        }
    }
    n
}

#[test]
fn broadcast_ack_collects_replies_and_timeouts_with_the_right_count() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let mut clients = Vec::new();
    for _ in 0..5 {
        let (conn, out) = e.connect();
        let s = conn.join_namespace("/", Handshake::new()).unwrap();
        s.join("r").unwrap();
        clients.push((conn, out, s));
    }
    // One socket outside the room must not be asked.
    let (_c, outsider_out, _outsider) = {
        let (c, o) = e.connect();
        let s = c.join_namespace("/", Handshake::new()).unwrap();
        (c, o, s)
    };
    let start = Instant::now();
    let acks = ns.to("r").timeout(Duration::from_millis(300)).emit_with_ack("poll", "?").unwrap();
    assert_eq!(acks.expected(), 5, "the count is known at once");
    let acks_id = acks.ack_id();
    assert!(drain(&outsider_out).is_empty());
    // Three answer, two stay silent.
    for (_, out, s) in &clients[..3] {
        assert_eq!(answer_all(out, s, "yes"), 1);
    }
    let replies = acks.wait();
    let elapsed = start.elapsed();
    assert_eq!(replies.len(), 5);
    let ok: Vec<_> = replies.iter().filter(|r| r.result.is_ok()).map(|r| r.socket_id.clone()).collect();
    let timed_out: Vec<_> =
        replies.iter().filter(|r| r.result == Err(AckError::Timeout)).map(|r| r.socket_id.clone()).collect();
    let mut expect_ok: Vec<_> = clients[..3].iter().map(|c| c.2.id().to_string()).collect();
    let mut expect_to: Vec<_> = clients[3..].iter().map(|c| c.2.id().to_string()).collect();
    let (mut ok, mut timed_out) = (ok, timed_out);
    ok.sort();
    timed_out.sort();
    expect_ok.sort();
    expect_to.sort();
    assert_eq!(ok, expect_ok);
    assert_eq!(timed_out, expect_to);
    assert!(replies.iter().filter_map(|r| r.result.as_ref().ok()).all(|p| p.as_str() == Some("yes")));
    assert!(elapsed >= Duration::from_millis(290), "timed out too early: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "timed out too late: {elapsed:?}");

    // A late reply (after the timeout) is ignored and counted, never a panic.
    let ignored_before = e.stats().acks_ignored;
    let id = drain(&clients[3].1)[0].ack_id().expect("the silent client got the ack id");
    assert_eq!(acks_id, id);
    assert_eq!(clients[3].2.receive_ack(id, "late"), Err(AckReceiveError::Ignored(id)));
    assert_eq!(clients[0].2.receive_ack(id, "twice"), Err(AckReceiveError::Ignored(id)));
    assert_eq!(clients[0].2.receive_ack(999, "unknown"), Err(AckReceiveError::Ignored(999)));
    assert_eq!(e.stats().acks_ignored, ignored_before + 3);
}

#[test]
fn ack_timeout_fires_without_a_runtime_and_without_polling() {
    let e = engine();
    let (conn, _out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    let acks = s.emit_with_ack_timeout("ping", "", Duration::from_millis(50)).unwrap();
    // Nobody polls while the deadline passes (then only looks: `try_next`
    // never drives the timer). The wait is bounded, with room for a slow
    // machine (valgrind).
    std::thread::sleep(Duration::from_millis(150));
    let give_up = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        match acks.try_next() {
            Err(_) if Instant::now() < give_up => std::thread::sleep(Duration::from_millis(20)),
            other => break other,
        }
    };
    let t = Instant::now();
    assert_eq!(reply.unwrap().unwrap().result, Err(AckError::Timeout));
    assert!(acks.try_next().unwrap().is_none());
    assert!(t.elapsed() < Duration::from_millis(50));
}

#[test]
fn single_socket_ack_resolves_with_the_reply() {
    let e = engine();
    let (conn, out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    let acks = s.emit_with_ack("ping", "?").unwrap();
    let msg = out.try_recv().unwrap();
    assert_eq!(msg.event_name(), Some("ping"));
    let id = msg.ack_id().expect("the message carries the ack id");
    assert_eq!(acks.ack_id(), id);
    let t = std::thread::spawn({
        let s = s.clone();
        move || s.receive_ack(id, "pong").unwrap()
    });
    assert_eq!(acks.wait_one().unwrap().as_str(), Some("pong"));
    t.join().unwrap();
    assert_eq!(e.stats().acks_ignored, 0);
}

#[test]
fn ack_to_a_disconnecting_socket_resolves_disconnected_at_once() {
    let e = engine();
    let (conn, _out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    let acks = s.emit_with_ack_timeout("ping", "", Duration::from_secs(30)).unwrap();
    let t = Instant::now();
    conn.close(DisconnectReason::TransportClose);
    assert_eq!(acks.wait_one(), Err(AckError::Disconnected));
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn ack_to_a_full_outbox_resolves_not_delivered() {
    let e = Engine::new(Config::builder().max_queue(1).overflow(roomcast::OverflowPolicy::DropNewest).build().unwrap());
    let ns = e.of("/").unwrap();
    let (conn, _out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    s.emit("filler", "").unwrap();
    let acks = ns.emit_with_ack("ping", "").unwrap();
    assert_eq!(acks.expected(), 1);
    assert_eq!(acks.wait_one(), Err(AckError::NotDelivered));
    // Nobody selected: the stream ends at once.
    let none = ns.to("nobody").emit_with_ack("ping", "").unwrap();
    assert_eq!(none.expected(), 0);
    assert_eq!(none.wait_one(), Err(AckError::NoRecipients));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_stream_can_be_awaited_and_streamed() {
    use futures::StreamExt;
    let e = engine();
    let ns = e.of("/").unwrap();
    let mut socks = Vec::new();
    for _ in 0..3 {
        let (c, o) = e.connect();
        let s = c.join_namespace("/", Handshake::new()).unwrap();
        socks.push((c, o, s));
    }
    // Await: all replies.
    let acks = ns.timeout(Duration::from_secs(5)).emit_with_ack("q", "").unwrap();
    let answerers: Vec<_> = socks.iter().map(|(_, o, s)| (o.recv().unwrap().ack_id().unwrap(), s.clone())).collect();
    tokio::spawn(async move {
        for (id, s) in answerers {
            tokio::time::sleep(Duration::from_millis(5)).await;
            s.receive_ack(id, "a").unwrap();
        }
    });
    let all = acks.await;
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|r| r.result.as_ref().map(|p| p.as_str()) == Ok(Some("a"))));

    // Stream: one at a time, then the end.
    // Long enough for the first reply to arrive in time on a slow machine.
    let mut stream = ns.timeout(Duration::from_millis(1000)).emit_with_ack("q2", "").unwrap();
    let first = socks[0].1.recv().unwrap().ack_id().unwrap();
    socks[0].2.receive_ack(first, "b").unwrap();
    let r = stream.next().await.unwrap();
    assert_eq!(r.socket_id, socks[0].2.id());
    assert_eq!(stream.next().await.unwrap().result, Err(AckError::Timeout));
    assert_eq!(stream.next().await.unwrap().result, Err(AckError::Timeout));
    assert!(stream.next().await.is_none());

    // one(): the single-socket form.
    let one = socks[1].2.emit_with_ack("q3", "").unwrap();
    let _ = socks[1].1.recv().unwrap();
    socks[1].2.disconnect();
    assert_eq!(one.one().await, Err(AckError::Disconnected));
}

#[test]
fn disconnecting_sees_rooms_and_disconnect_does_not() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let seen = log();
    let (s1, s2) = (seen.clone(), seen.clone());
    ns.on_disconnecting(move |s, reason| {
        s1.lock().unwrap().push(format!("disconnecting {reason} rooms={}", s.rooms().len()));
    });
    let ns2 = ns.clone();
    ns.on_disconnect(move |s, reason| {
        s2.lock().unwrap().push(format!(
            "disconnect {reason} rooms={} room_size={} connected={}",
            s.rooms().len(),
            ns2.room_size("game"),
            s.is_connected()
        ));
    });
    let (conn, _o) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    s.join(["game", "chat"]).unwrap();
    conn.close(DisconnectReason::PingTimeout);
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["disconnecting ping timeout rooms=3", "disconnect ping timeout rooms=0 room_size=0 connected=false"]
    );
}

#[test]
fn handlers_may_join_emit_and_disconnect_their_own_socket() {
    let e = engine();
    let ns = e.of("/").unwrap();
    ns.on_connection(|s| {
        s.join("lobby")?;
        s.emit("welcome", "hi").unwrap();
        Ok(())
    });
    let ns2 = ns.clone();
    ns.on("move", move |s, ev, _ack| {
        let room = ev.payload().as_str().unwrap_or_default();
        s.leave("lobby")?;
        s.join(room)?;
        ns2.to(room).emit("arrived", s.id().to_string())?;
        Ok(())
    })
    .unwrap();
    ns.on("quit", |s, _ev, _ack| {
        s.disconnect();
    })
    .unwrap();
    ns.on_disconnecting(|s, _r| {
        s.emit("bye", "")?;
        Ok(())
    });
    let (conn, out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    assert!(s.in_room("lobby"));
    s.dispatch(Inbound::event("move", "kitchen")).unwrap();
    assert!(!s.in_room("lobby") && s.in_room("kitchen"));
    s.dispatch(Inbound::event("quit", "")).unwrap();
    assert!(!s.is_connected());
    let msgs = drain(&out);
    let summary: Vec<String> = msgs
        .iter()
        .map(|m| match m.kind() {
            MessageKind::Event => m.event_name().unwrap().to_string(),
            MessageKind::Disconnect => format!("disconnect:{}", m.disconnect_reason().unwrap()),
            k => format!("{k:?}"),
        })
        .collect();
    assert_eq!(summary, vec!["welcome", "arrived", "bye", "disconnect:server namespace disconnect"]);
    assert_eq!(ns.socket_count(), 0);
    assert!(ns.rooms().is_empty());
}

#[test]
fn a_disconnecting_socket_may_broadcast_to_its_rooms_but_not_after() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let errs = errors_of(&ns);
    let gone: Arc<Mutex<Option<roomcast::Socket>>> = Arc::new(Mutex::new(None));
    let g2 = gone.clone();
    ns.on_disconnecting(move |s, _r| {
        for room in s.rooms().into_iter().filter(|r| r != s.id()) {
            s.to(room.as_str()).emit("left", s.id().to_string())?;
        }
        *g2.lock().unwrap() = Some(s.clone());
        Ok(())
    });
    let (c1, _o1) = e.connect();
    let (c2, o2) = e.connect();
    let a = c1.join_namespace("/", Handshake::new()).unwrap();
    let b = c2.join_namespace("/", Handshake::new()).unwrap();
    a.join(["r1", "r2"]).unwrap();
    b.join(["r1", "r2"]).unwrap();
    c1.close(DisconnectReason::TransportClose);
    assert!(errs.lock().unwrap().is_empty(), "{:?}", errs.lock().unwrap());
    let id = a.id().to_string();
    assert_eq!(events(&o2), vec![("left".to_string(), id.clone()), ("left".to_string(), id)]);
    let a = gone.lock().unwrap().take().unwrap();
    assert!(matches!(a.to("r1").emit("late", ""), Err(roomcast::EmitError::Closed)));
    assert!(matches!(a.broadcast().emit("late", ""), Err(roomcast::EmitError::Closed)));
    // Closing b's connection runs the handler once more, which keeps b's
    // socket in `gone`; take it so the handler -> socket -> engine cycle
    // is broken before the engine is dropped.
    drop(b);
    c2.close(DisconnectReason::TransportClose);
    drop(gone.lock().unwrap().take());
}

#[test]
fn a_panicking_handler_is_reported_and_the_engine_keeps_working() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let errs = errors_of(&ns);
    let after = Arc::new(AtomicUsize::new(0));
    ns.on("ev", |s, _e, _a| -> Result<(), roomcast::HandlerError> {
        s.join("before-panic").unwrap();
        panic!("handler exploded");
    })
    .unwrap();
    let a = after.clone();
    ns.on("ev", move |_s, _e, _a| {
        a.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    ns.on("err", |_s, _e, _a| Err("plain error".into())).unwrap();
    let (conn, out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    assert_eq!(s.dispatch(Inbound::event("ev", "")).unwrap(), Dispatched::Handled(2));
    assert_eq!(after.load(Ordering::SeqCst), 1, "later handlers still run");
    s.dispatch(Inbound::event("err", "")).unwrap();
    {
        let errs = errs.lock().unwrap();
        assert_eq!(errs.len(), 2);
        assert_eq!((errs[0].site.clone(), errs[0].kind), (HandlerSite::Event("ev".into()), FailureKind::Panic));
        assert!(errs[0].message.contains("handler exploded"));
        assert_eq!(errs[0].socket_id.as_deref(), Some(s.id()));
        assert_eq!((errs[1].kind, errs[1].message.as_str()), (FailureKind::Error, "plain error"));
    }
    // Nothing is poisoned: every operation still works.
    assert!(s.in_room("before-panic"));
    ns.to("before-panic").emit("still", "works").unwrap();
    assert_eq!(events(&out), vec![("still".to_string(), "works".to_string())]);
    s.leave("before-panic").unwrap();
    conn.close(DisconnectReason::TransportClose);
    assert_eq!(e.stats().sockets, 0);
}

#[test]
fn dynamic_namespaces_inherit_middleware_and_handlers() {
    let e = engine();
    let parent = e.of_dynamic(|name, _hs| name.starts_with("/tenant-"));
    assert!(parent.is_dynamic_parent());
    let order = log();
    let o = order.clone();
    parent.use_middleware(move |hs| {
        o.lock().unwrap().push("parent-mw".into());
        if hs.auth_payload().is_some() {
            Ok(())
        } else {
            Err(ConnectError::new("auth required"))
        }
    });
    let o = order.clone();
    parent.on_connection(move |s| {
        o.lock().unwrap().push(format!("parent-conn {}", s.namespace().name()));
        Ok(s.join("all")?)
    });
    parent
        .on("hello", |s, _e, _a| {
            s.emit("hello-back", s.namespace().name().to_string())?;
            Ok(())
        })
        .unwrap();

    let (conn, out) = e.connect();
    // Refused by the inherited middleware: the name is accepted, the child
    // exists, but no socket was created.
    assert!(matches!(conn.join_namespace("/tenant-a", Handshake::new()), Err(JoinError::Refused(_))));
    assert_eq!(e.stats().sockets, 0);
    let a = conn.join_namespace("/tenant-a", Handshake::new().auth("t")).unwrap();
    let child = e.namespace("/tenant-a").expect("child created on demand");
    assert_eq!(child.parent(), Some(&parent));
    let o = order.clone();
    child.on_connection(move |_s| o.lock().unwrap().push("child-conn".into()));
    let (conn2, out2) = e.connect();
    let b = conn2.join_namespace("/tenant-b", Handshake::new().auth("t")).unwrap();
    assert!(a.in_room("all") && b.in_room("all"));
    assert_eq!(parent.children().len(), 2);

    // Rooms of different children are unrelated.
    child.to("all").emit("x", "only a").unwrap();
    assert_eq!(events(&out), vec![("x".to_string(), "only a".to_string())]);
    assert!(events(&out2).is_empty());
    // Inherited event handler.
    b.dispatch(Inbound::event("hello", "")).unwrap();
    assert_eq!(events(&out2), vec![("hello-back".to_string(), "/tenant-b".to_string())]);
    // Parent emit reaches every child, tagged with the child's namespace.
    let report = parent.emit("news", "all tenants").unwrap();
    assert_eq!(report.recipients, 2);
    assert_eq!(drain(&out)[0].namespace(), Some("/tenant-a"));
    assert_eq!(drain(&out2)[0].namespace(), Some("/tenant-b"));
    assert_eq!(parent.socket_count(), 2);

    // The child's own handler runs after the parent's, for the next socket.
    let (conn3, _out3) = e.connect();
    order.lock().unwrap().clear();
    conn3.join_namespace("/tenant-a", Handshake::new().auth("t")).unwrap();
    assert_eq!(*order.lock().unwrap(), vec!["parent-mw", "parent-conn /tenant-a", "child-conn"]);

    // A name nobody accepts.
    let err = conn.join_namespace("/other", Handshake::new()).unwrap_err();
    assert_eq!(err, JoinError::Refused(ConnectError::invalid_namespace()));
    assert!(e.namespace("/other").is_none());
}

#[test]
fn empty_dynamic_children_are_removed_when_configured() {
    let e = Engine::new(Config::builder().remove_empty_dynamic(true).build().unwrap());
    let parent = e.of_dynamic(|name, _| name.starts_with("/room-"));
    let (conn, _o) = e.connect();
    let s = conn.join_namespace("/room-1", Handshake::new()).unwrap();
    assert!(e.namespace("/room-1").is_some());
    s.disconnect();
    assert!(e.namespace("/room-1").is_none(), "emptied child removed");
    assert!(parent.children().is_empty());
    // It comes back on demand.
    let s = conn.join_namespace("/room-1", Handshake::new()).unwrap();
    assert_eq!(e.namespace("/room-1").unwrap().socket_count(), 1);
    drop(s);

    // Without the flag, children stay.
    let e = engine();
    e.of_dynamic(|name, _| name.starts_with("/room-"));
    let (conn, _o) = e.connect();
    conn.join_namespace("/room-1", Handshake::new()).unwrap().disconnect();
    assert!(e.namespace("/room-1").is_some());
}

#[test]
fn server_side_operations_on_selections() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let mut socks = Vec::new();
    for i in 0..6 {
        let (c, o) = e.connect();
        let s = c.join_namespace("/", Handshake::new()).unwrap();
        s.set_data(format!("user{i}"));
        s.join(if i % 2 == 0 { "even" } else { "odd" }).unwrap();
        if i < 2 {
            s.join("vip").unwrap();
        }
        socks.push((c, o, s));
    }
    assert_eq!(ns.socket_count(), 6);
    assert_eq!(ns.room_size("even"), 3);
    assert_eq!(ns.room_size("missing"), 0);
    let mut rooms = ns.rooms();
    rooms.retain(|r| ["even", "odd", "vip"].contains(&r.as_str()));
    assert_eq!(rooms, vec!["even", "odd", "vip"]);

    let fetched = ns.to("even").except("vip").fetch_sockets().unwrap();
    let mut data: Vec<String> = fetched.iter().map(|s| s.data().unwrap().as_str().unwrap().to_string()).collect();
    data.sort();
    assert_eq!(data, vec!["user2", "user4"]);
    assert!(fetched.iter().all(|s| s.rooms().contains(&"even".to_string())));

    assert_eq!(ns.to("odd").sockets_join("party").unwrap(), 3);
    assert_eq!(ns.room_size("party"), 3);
    assert_eq!(ns.to("vip").sockets_leave("party").unwrap(), 2);
    assert_eq!(ns.room_size("party"), 2);
    assert_eq!(ns.sockets_join("everyone").unwrap(), 6);

    let n = ns.to("party").disconnect_sockets().unwrap();
    assert_eq!(n, 2);
    assert_eq!(ns.socket_count(), 4);
    assert_eq!(ns.room_size("party"), 0);
    assert!(!ns.rooms().contains(&"party".to_string()));
    for (_c, o, s) in &socks {
        if !s.is_connected() {
            let last = drain(o).pop().unwrap();
            assert_eq!(last.kind(), MessageKind::Disconnect);
            assert_eq!(last.disconnect_reason(), Some(DisconnectReason::ServerNamespaceDisconnect));
        }
    }
    assert!(ns.to("").fetch_sockets().is_err(), "an empty room name is an error");
    assert_eq!(ns.disconnect_sockets(), 4);
    assert_eq!(e.stats(), Stats { connections: 6, namespaces: 1, emitted: 0, ..e.stats() });
    assert_eq!((e.stats().sockets, e.stats().rooms), (0, 0));
}

#[test]
fn room_events_report_created_joined_left_deleted() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let evs = Arc::new(Mutex::new(Vec::new()));
    let ev2 = evs.clone();
    ns.on_room_event(move |ev| ev2.lock().unwrap().push(ev.clone()));
    let (c1, _o1) = e.connect();
    let (c2, _o2) = e.connect();
    let a = c1.join_namespace("/", Handshake::new()).unwrap();
    let b = c2.join_namespace("/", Handshake::new()).unwrap();
    evs.lock().unwrap().clear();
    a.join("r").unwrap();
    b.join("r").unwrap();
    a.leave("r").unwrap();
    c2.close(DisconnectReason::TransportClose);
    let (ida, idb) = (a.id().to_string(), b.id().to_string());
    let r = || "r".to_string();
    assert_eq!(
        *evs.lock().unwrap(),
        vec![
            RoomEvent::Created { room: r() },
            RoomEvent::Joined { room: r(), socket_id: ida.clone() },
            RoomEvent::Joined { room: r(), socket_id: idb.clone() },
            RoomEvent::Left { room: r(), socket_id: ida },
            RoomEvent::Left { room: idb.clone(), socket_id: idb.clone() },
            RoomEvent::Deleted { room: idb.clone() },
            RoomEvent::Left { room: r(), socket_id: idb },
            RoomEvent::Deleted { room: r() },
        ]
    );
}

#[test]
fn room_event_handlers_may_call_the_engine() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let ns2 = ns.clone();
    let sizes = log();
    let s2 = sizes.clone();
    ns.on_room_event(move |ev| {
        if let RoomEvent::Joined { room, .. } = ev {
            if room == "presence" {
                s2.lock().unwrap().push(ns2.room_size(room).to_string());
                let _ = ns2.to(room.as_str()).emit("presence", ns2.room_size(room).to_string());
            }
        }
    });
    let (c, o) = e.connect();
    let s = c.join_namespace("/", Handshake::new()).unwrap();
    s.join("presence").unwrap();
    assert_eq!(*sizes.lock().unwrap(), vec!["1"]);
    assert_eq!(events(&o), vec![("presence".to_string(), "1".to_string())]);
}

#[test]
fn room_event_handler_errors_go_to_on_error_with_the_socket() {
    let e = engine();
    let ns = e.of("/").unwrap();
    let errs = errors_of(&ns);
    let seen = log();
    let s2 = seen.clone();
    ns.on_room_event(move |ev| -> Result<(), roomcast::HandlerError> {
        s2.lock().unwrap().push(format!("{}:{}:{:?}", ev.kind(), ev.room(), ev.socket_id().is_some()));
        if ev.room() == "bad" && ev.kind() == "joined" {
            return Err("presence store down".into());
        }
        Ok(())
    });
    let (c, _o) = e.connect();
    let s = c.join_namespace("/", Handshake::new()).unwrap();
    seen.lock().unwrap().clear();
    s.join("bad").unwrap();
    s.join("good").unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["created:bad:false", "joined:bad:true", "created:good:false", "joined:good:true"]
    );
    let errs = errs.lock().unwrap();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].site, HandlerSite::RoomEvent);
    assert_eq!(errs[0].kind, FailureKind::Error);
    assert_eq!(errs[0].socket_id.as_deref(), Some(s.id()));
    assert_eq!(errs[0].message, "presence store down");
    assert!(s.in_room("bad"), "a failing room handler does not undo the join");
}

#[test]
fn report_failure_reaches_the_error_hooks_of_a_dynamic_parent() {
    let e = engine();
    let parent = e.of_dynamic(|name, _| name.starts_with("/team-"));
    let errs = errors_of(&parent);
    let (c, _o) = e.connect();
    let s = c.join_namespace("/team-1", Handshake::new()).unwrap();
    let child = s.namespace().clone();
    child.report_failure(HandlerFailure {
        namespace: child.name().to_string(),
        socket_id: Some(s.id().to_string()),
        site: HandlerSite::Event("late".into()),
        kind: FailureKind::Error,
        message: "async work failed".into(),
    });
    let errs = errs.lock().unwrap();
    assert_eq!(errs.len(), 1);
    assert_eq!((errs[0].namespace.as_str(), errs[0].message.as_str()), ("/team-1", "async work failed"));
}

/// The Socket.IO chat example in plain Rust: a `chat message` handler relays
/// each message to the sender's room except the sender.
#[test]
fn chat_scenario() {
    let e = engine();
    let chat = e.of("/").unwrap();
    chat.on("join", |s, ev, _ack| {
        let room = ev.payload().as_str().unwrap_or_default().to_string();
        for r in s.rooms() {
            if r != s.id() {
                s.leave(r.as_str())?;
            }
        }
        s.join(room.as_str())?;
        s.to(room.as_str()).emit("notice", format!("{} joined", name(s)))?;
        Ok(())
    })
    .unwrap();
    chat.on("chat message", |s, ev, _ack| {
        let text = ev.payload().as_str().unwrap_or_default();
        let line = format!("{}: {text}", name(s));
        for r in s.rooms().into_iter().filter(|r| r != s.id()) {
            s.to(r.as_str()).emit("chat message", line.clone())?;
        }
        Ok(())
    })
    .unwrap();
    fn name(s: &roomcast::Socket) -> String {
        s.handshake().auth_payload().and_then(|p| p.as_str()).unwrap_or("?").to_string()
    }

    let mut users = Vec::new();
    for who in ["ana", "ben", "cy"] {
        let (c, o) = e.connect();
        let s = c.join_namespace("/", Handshake::new().auth(who)).unwrap();
        users.push((c, o, s));
    }
    let say = |i: usize, ev: &str, text: &str| users[i].2.dispatch(Inbound::event(ev, text)).unwrap();
    say(0, "join", "kitchen");
    say(1, "join", "kitchen");
    say(2, "join", "garden");
    say(0, "chat message", "hello");
    say(1, "chat message", "hi ana");
    say(2, "chat message", "anyone?");
    say(2, "join", "kitchen");
    say(2, "chat message", "found you");

    let got = |i: usize| events(&users[i].1);
    assert_eq!(
        got(0),
        vec![
            ("notice".into(), "ben joined".into()),
            ("chat message".into(), "ben: hi ana".into()),
            ("notice".into(), "cy joined".into()),
            ("chat message".into(), "cy: found you".into()),
        ]
    );
    assert_eq!(
        got(1),
        vec![
            ("chat message".into(), "ana: hello".into()),
            ("notice".into(), "cy joined".into()),
            ("chat message".into(), "cy: found you".into()),
        ]
    );
    assert_eq!(got(2), Vec::<(String, String)>::new(), "cy was alone in the garden and sent the rest");
    assert_eq!(chat.room_size("kitchen"), 3);
    assert_eq!(chat.room_size("garden"), 0);
}

#[test]
fn handshake_and_stats_leave_no_trace_on_unknown_namespace() {
    let e = engine();
    let (conn, _o) = e.connect();
    let before = e.stats();
    assert_eq!(
        conn.join_namespace("/nope", Handshake::new()).unwrap_err(),
        JoinError::Refused(ConnectError::invalid_namespace())
    );
    assert_eq!(e.stats(), before);
    assert!(e.namespace("/nope").is_none());
}

#[test]
fn shutdown_closes_every_connection_and_frees_handlers() {
    struct Flag(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let e = engine();
    let chat = e.of("/chat").unwrap();
    let freed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Flag(freed.clone());
    let reasons = log();
    let (r2, e2) = (reasons.clone(), e.clone());
    // Captures the engine: a cycle only shutdown can break.
    chat.on_disconnect(move |s, reason| {
        let _ = (&flag, e2.stats());
        r2.lock().unwrap().push(format!("{} {reason}", s.namespace().name()));
    });
    let mut outs = Vec::new();
    for _ in 0..3 {
        let (c, o) = e.connect();
        c.join_namespace("/chat", Handshake::new()).unwrap();
        c.join_namespace("/", Handshake::new()).unwrap();
        outs.push((c, o));
    }
    let (_idle, idle_out) = e.connect(); // no socket: not reachable, stays open
    assert_eq!(e.shutdown(), 3);
    assert_eq!(reasons.lock().unwrap().len(), 3);
    assert!(reasons.lock().unwrap().iter().all(|r| r == "/chat server shutting down"));
    for (c, o) in &outs {
        assert!(c.is_closed());
        let notices: Vec<_> = drain(o).iter().filter_map(|m| m.namespace().map(str::to_string)).collect();
        assert_eq!(notices.len(), 2, "one disconnect notice per namespace: {notices:?}");
        assert_eq!(o.close_reason(), Some(DisconnectReason::ServerShuttingDown));
    }
    assert!(!idle_out.is_closed());
    assert!(freed.load(Ordering::SeqCst), "handlers dropped, cycle through the engine broken");
    assert_eq!((e.stats().sockets, e.stats().rooms), (0, 0));
    assert_eq!(e.shutdown(), 0, "idempotent");
}

#[test]
fn off_drops_handlers_outside_the_hooks_lock() {
    // A handler whose drop registers another handler: dropped under the
    // hooks lock, `off` would deadlock.
    struct RegisterOnDrop(roomcast::Namespace);
    impl Drop for RegisterOnDrop {
        fn drop(&mut self) {
            self.0.on("late", |_s, _e, _a| {}).unwrap();
        }
    }
    let e = engine();
    let ns = e.of("/").unwrap();
    let guard = RegisterOnDrop(ns.clone());
    ns.on("ev", move |_s, _e, _a| {
        let _held = &guard;
    })
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let ns2 = ns.clone();
    std::thread::spawn(move || {
        ns2.off("ev").unwrap();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("off deadlocked");
    let (conn, _out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    assert_eq!(s.dispatch(Inbound::event("ev", "")).unwrap(), Dispatched::Unhandled);
    assert_eq!(s.dispatch(Inbound::event("late", "")).unwrap(), Dispatched::Handled(1));
}
