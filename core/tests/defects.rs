//! Issue 16's defects 4–6, each pinned by a test named after it: one rule
//! in core for event names and payload sizes wherever they enter, and a
//! shut-down engine that admits nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use roomcast::{
    Config, DispatchError, Engine, Handshake, Inbound, JoinError, NameProblem, NamespaceError, Payload, PayloadError,
    RESERVED_EVENTS,
};

fn small_engine() -> Engine {
    Engine::new(Config::builder().max_name_len(8).max_payload(16).max_queue_bytes(1024).build().unwrap())
}

#[test]
fn defect_4_on_and_off_refuse_every_name_dispatch_refuses() {
    let e = small_engine();
    let ns = e.of("/").unwrap();
    let (conn, _out) = e.connect();
    let s = conn.join_namespace("/", Handshake::new()).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let too_long = "x".repeat(9);
    let mut bad: Vec<&str> = vec!["", &too_long, "a\u{7}b"];
    bad.extend(RESERVED_EVENTS);
    for name in bad {
        let c = calls.clone();
        let on = ns.on(name, move |_s, _ev, _ack| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        let dispatch = s.dispatch(Inbound::event(name, "x"));
        let Err(DispatchError::InvalidName(expected)) = dispatch else { panic!("dispatch({name:?}) = {dispatch:?}") };
        // The same rule, the same error.
        assert_eq!(on, Err(expected.clone()), "on({name:?})");
        assert_eq!(ns.off(name), Err(expected), "off({name:?})");
        assert_eq!(
            ns.check_event_name(name).unwrap_err().problem,
            ns.on(name, |_s, _ev, _ack| {}).unwrap_err().problem
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // The boundary itself: exactly max_name_len bytes registers and dispatches.
    let c = calls.clone();
    ns.on("12345678", move |_s, _ev, _ack| {
        c.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    s.dispatch(Inbound::event("12345678", "x")).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(ns.off("12345678"), Ok(()));
    assert_eq!(ns.off("never-on"), Ok(()), "a valid name without handlers");
    assert_eq!(ns.on("", |_s, _ev, _ack| {}).unwrap_err().problem, NameProblem::Empty);
}

#[test]
fn defect_5_join_auth_over_max_payload_is_refused_like_dispatch() {
    let e = small_engine();
    let entered = Arc::new(AtomicUsize::new(0));
    let en = entered.clone();
    e.of("/").unwrap().use_middleware(move |_hs| {
        en.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    let (conn, _out) = e.connect();
    let big = Payload::binary(vec![7u8; 17]);
    let refused = conn.join_namespace("/", Handshake::new().auth(big.clone()));
    assert!(refused.is_err(), "an oversized auth was admitted");
    // The error has dispatch's shape: PayloadError::TooLarge with size and limit.
    let s = conn.join_namespace("/", Handshake::new().auth(Payload::binary(vec![7u8; 16]))).unwrap();
    let dispatch_err = s.dispatch(Inbound::event("ev", big.clone())).unwrap_err();
    assert_eq!(refused.as_ref().unwrap_err().to_string(), dispatch_err.to_string());
    assert_eq!(refused.unwrap_err(), JoinError::Payload(PayloadError::TooLarge { size: 17, limit: 16 }));
    assert_eq!(dispatch_err, DispatchError::Payload(PayloadError::TooLarge { size: 17, limit: 16 }));
    assert_eq!(entered.load(Ordering::SeqCst), 1, "middleware never saw the oversized auth");
    assert_eq!(e.stats().sockets, 1, "the refused join left no socket");
    // Every other entry point applies the same rule.
    assert_eq!(s.receive_ack(1, big.clone()).unwrap_err().to_string(), dispatch_err.to_string());
    assert!(e.of("/").unwrap().emit("ev", big).is_err());
}

#[test]
fn defect_6_a_shut_down_engine_admits_nothing() {
    let e = Engine::new(Config::default());
    let asked = Arc::new(AtomicUsize::new(0));
    let a = asked.clone();
    let tenants = e.of_dynamic(move |name, _hs| {
        a.fetch_add(1, Ordering::SeqCst);
        name.starts_with("/tenant-")
    });
    e.of("/existing").unwrap();
    let (conn, _out) = e.connect();
    conn.join_namespace("/tenant-1", Handshake::new()).unwrap();
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    assert_eq!(e.shutdown(), 1);

    // No new namespace: neither by name nor through the dynamic predicate,
    // which shutdown dropped (it is never asked again).
    let (conn, _out) = e.connect();
    let err = conn.join_namespace("/tenant-2", Handshake::new()).unwrap_err();
    assert!(err.to_string().contains("shut down"), "{err}");
    assert_eq!(err, JoinError::ShutDown);
    assert_eq!(asked.load(Ordering::SeqCst), 1, "the predicate was asked after shutdown");
    assert!(e.namespace("/tenant-2").is_none());
    assert_eq!(e.of("/new").unwrap_err(), NamespaceError::ShutDown("/new".into()));
    assert!(e.namespace("/new").is_none());
    // No new socket in an existing namespace either.
    assert_eq!(conn.join_namespace("/existing", Handshake::new()).unwrap_err(), JoinError::ShutDown);
    assert_eq!(conn.join_namespace("/", Handshake::new()).unwrap_err(), JoinError::ShutDown);
    assert_eq!(e.stats().sockets, 0);
    // A parent registered after shutdown admits nothing.
    let late = Arc::new(AtomicUsize::new(0));
    let l = late.clone();
    e.of_dynamic(move |_n, _hs| {
        l.fetch_add(1, Ordering::SeqCst);
        true
    });
    assert!(conn.join_namespace("/late", Handshake::new()).is_err());
    assert_eq!(late.load(Ordering::SeqCst), 0);
    // Existing namespaces stay reachable for stats and emits.
    assert!(e.of("/existing").is_ok());
    assert!(tenants.is_dynamic_parent());
    assert_eq!(e.shutdown(), 0, "idempotent");
}

#[test]
fn defect_6_shutdown_drops_the_dynamic_predicate() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let e = Engine::new(Config::default());
    let dropped = Arc::new(AtomicUsize::new(0));
    let flag = Flag(dropped.clone());
    // The predicate captures the engine: a cycle only shutdown can break.
    let e2 = e.clone();
    let parent = e.of_dynamic(move |_n, _hs| {
        let _ = (&flag, e2.stats());
        true
    });
    let (conn, _out) = e.connect();
    conn.join_namespace("/child", Handshake::new()).unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    e.shutdown();
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the predicate outlived shutdown");
    drop(parent);
}
