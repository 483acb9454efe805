//! Hostile clients over loopback: every resource a client can make the
//! server hold stays bounded, and well-behaved clients are unaffected.
//! Each test plays the attacker and asserts the bound it pins (see the
//! resource table in the crate docs).

mod common;

use std::time::Duration;

use common::*;
use roomcast::{Config, Engine, OverflowPolicy, Payload};
use roomcast_socketio::{Bound, SocketIoServer};

fn engine(config: Config) -> Engine {
    let engine = Engine::new(config);
    let root = engine.of("/").unwrap();
    root.on("echo", |socket, ev, ack| {
        match ack {
            Some(ack) => ack.send(ev.payload().clone())?,
            None => {
                socket.emit("echo", ev.payload().clone())?;
            }
        }
        Ok(())
    });
    engine
}

async fn server(engine: Engine, f: impl FnOnce(SocketIoServer) -> SocketIoServer) -> Bound {
    f(SocketIoServer::new(engine)).bind("127.0.0.1:0").await.unwrap()
}

/// Tasks alive on this test's runtime (the server's accept loop, its
/// connections and its session tasks all run here).
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// A joined polling session whose GET backlog is full: the server emitted
/// more frames than a session keeps for the next GET and the client never
/// polled them.
async fn poller_with_full_backlog(srv: &Bound, engine: &Engine) -> String {
    let addr = srv.local_addr();
    let (sid, _) = poll_open(addr).await;
    poll_post(addr, &sid, "40").await;
    assert!(poll_get(addr, &sid).await[0].starts_with("40"));
    let root = engine.of("/").unwrap();
    // More than the backlog (1,024 frames) plus a full outbox, in steps the
    // session task can follow.
    for i in 0..2_100u32 {
        let _ = root.emit("n", Payload::from(serde_json::json!(i)));
        if i % 256 == 255 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    sid
}

/// Finding 2: a polling session that ends while its GET backlog is full
/// (client close packet, ping timeout, outbox overflow under `disconnect`)
/// ends its task and frees its connection, outbox and backlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_2_polling_sessions_with_a_full_backlog_end_when_closed() {
    // Client close packet.
    let e = engine(Config::default());
    let srv = server(e.clone(), |s| s).await;
    let base = alive_tasks();
    let sid = poller_with_full_backlog(&srv, &e).await;
    assert_eq!(poll_post(srv.local_addr(), &sid, "1").await.status, 200);
    eventually(|| e.stats().connections == 0 && srv.session_count() == 0).await;
    eventually(|| alive_tasks() <= base).await;
    srv.shutdown().await.unwrap();

    // Ping timeout: the client vanished while it was being sent to.
    let e = engine(Config::default());
    let srv = server(e.clone(), |s| s.ping(Duration::from_millis(100), Duration::from_millis(100))).await;
    let base = alive_tasks();
    poller_with_full_backlog(&srv, &e).await;
    eventually(|| e.stats().connections == 0 && srv.session_count() == 0).await;
    eventually(|| alive_tasks() <= base).await;
    srv.shutdown().await.unwrap();

    // Overflow under `disconnect`: the engine closes the connection itself.
    let e = engine(Config::builder().overflow(OverflowPolicy::Disconnect).build().unwrap());
    let srv = server(e.clone(), |s| s).await;
    let base = alive_tasks();
    poller_with_full_backlog(&srv, &e).await;
    eventually(|| e.stats().connections == 0 && srv.session_count() == 0).await;
    eventually(|| alive_tasks() <= base).await;

    // Another poller still works on the same server.
    let addr = srv.local_addr();
    let (sid, _) = poll_open(addr).await;
    poll_post(addr, &sid, "40").await;
    assert!(poll_get(addr, &sid).await[0].starts_with("40"));
    poll_post(addr, &sid, r#"42["echo","hi"]"#).await;
    assert_eq!(poll_get(addr, &sid).await, vec![r#"42["echo","hi"]"#]);
    srv.shutdown().await.unwrap();
}
