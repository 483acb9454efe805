//! A client that plays the attacker with binary packets, over loopback: a
//! packet and all its attachments count against one `max_payload`, checked
//! before anything is converted, and a packet whose attachments never
//! come is dropped with its session after `partial_packet_timeout`, even
//! while the client answers every ping. Other clients are unaffected.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use futures_util::StreamExt;
use parking_lot::Mutex;
use roomcast::{Config, Engine};
use roomcast_socketio::{Bound, SocketIoServer};
use tokio_tungstenite::tungstenite::Message;

/// What the server saw: events dispatched and disconnect reasons.
#[derive(Default)]
struct Seen {
    events: AtomicUsize,
    reasons: Mutex<Vec<String>>,
}

async fn server(f: impl FnOnce(SocketIoServer) -> SocketIoServer) -> (Bound, Arc<Seen>) {
    let engine = Engine::new(Config::default());
    let seen = Arc::new(Seen::default());
    let root = engine.of("/").unwrap();
    let s = seen.clone();
    root.on("big", move |_, _, _| {
        s.events.fetch_add(1, Ordering::SeqCst);
        Ok(())
    })
    .unwrap();
    root.on("echo", |socket, ev, _| {
        socket.emit("echo", ev.payload().clone())?;
        Ok(())
    })
    .unwrap();
    let s = seen.clone();
    root.on_disconnect(move |_, reason| s.reasons.lock().push(reason.as_str().to_string()));
    (f(SocketIoServer::new(engine)).bind("127.0.0.1:0").await.unwrap(), seen)
}

/// The text of a BINARY_EVENT "big" announcing `n` attachments.
fn binary_event(n: usize) -> String {
    let placeholders: Vec<String> = (0..n).map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#)).collect();
    format!(r#"45{n}-["big",{}]"#, placeholders.join(","))
}

/// Another client still gets its echo.
async fn bystander_is_served(addr: std::net::SocketAddr) {
    let (mut c, _) = Client::joined(addr, &["/"]).await;
    c.send(r#"42["echo","still here"]"#).await;
    assert_eq!(c.recv_text().await, r#"42["echo","still here"]"#);
}

/// Reads until the server's close frame; returns its code.
async fn close_code(c: &mut Client, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, c.ws.next()).await {
            Err(_) => panic!("the server did not close the connection within {within:?}"),
            Ok(Some(Ok(Message::Close(f)))) => return f.map(|f| u16::from(f.code)),
            Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "2" => c.send("3").await,
            Ok(Some(Ok(_))) => {}
            Ok(None) | Ok(Some(Err(_))) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_attachments_over_max_payload_close_the_session_early() {
    let (srv, seen) = server(|s| s.max_payload(100_000)).await;
    let (mut c, _) = Client::joined(srv.local_addr(), &["/"]).await;
    // Ten attachments of 60 KB: each frame is under max_payload, the packet
    // is six times over it. The server must refuse at the second one.
    c.send(&binary_event(10)).await;
    c.send_binary(&vec![1u8; 60_000]).await;
    c.send_binary(&vec![2u8; 60_000]).await;
    assert_eq!(close_code(&mut c, Duration::from_secs(2)).await, Some(1009), "message too big");
    assert_eq!(seen.events.load(Ordering::SeqCst), 0, "the packet was never dispatched");
    eventually(|| seen.reasons.lock().as_slice() == ["transport error"]).await;
    bystander_is_served(srv.local_addr()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_attachments_over_max_payload_close_the_session_early() {
    let (srv, seen) = server(|s| s.max_payload(100_000)).await;
    let addr = srv.local_addr();
    let (sid, _) = poll_open(addr).await;
    assert_eq!(poll_post(addr, &sid, "40").await.status, 200);
    let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode(vec![b; 60_000]);
    // Each POST is under max_payload; the packet is not.
    let first = format!("{}\x1eb{}", binary_event(10), b64(1));
    assert_eq!(poll_post(addr, &sid, &first).await.status, 200);
    let r = poll_post(addr, &sid, &format!("b{}", b64(2))).await;
    assert_eq!(r.status, 413, "{}", r.text());
    // The session is gone.
    assert_eq!(poll_post(addr, &sid, "3").await.json()["code"], 1);
    assert_eq!(seen.events.load(Ordering::SeqCst), 0);
    eventually(|| seen.reasons.lock().as_slice() == ["transport error"]).await;
    bystander_is_served(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packet_within_max_payload_still_arrives() {
    let (srv, seen) = server(|s| s.max_payload(100_000)).await;
    let (mut c, _) = Client::joined(srv.local_addr(), &["/"]).await;
    c.send(&binary_event(3)).await;
    for b in 0..3u8 {
        c.send_binary(&vec![b; 30_000]).await;
    }
    eventually(|| seen.events.load(Ordering::SeqCst) == 1).await;
    c.send(r#"42["echo","after"]"#).await;
    assert_eq!(c.recv_text().await, r#"42["echo","after"]"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_incomplete_packet_times_out_while_pings_are_answered() {
    let (srv, seen) = server(|s| {
        s.ping(Duration::from_millis(100), Duration::from_millis(200))
            .partial_packet_timeout(Duration::from_millis(400))
    })
    .await;
    let (mut c, _) = Client::joined(srv.local_addr(), &["/"]).await;
    c.send(&binary_event(2)).await;
    c.send_binary(&[7u8; 1000]).await;
    let start = Instant::now();
    // Every ping is answered: only the incomplete packet can end it.
    close_code(&mut c, Duration::from_secs(3)).await;
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(300), "closed after {took:?}, before the timeout");
    assert_eq!(seen.events.load(Ordering::SeqCst), 0);
    eventually(|| seen.reasons.lock().as_slice() == ["parse error"]).await;
    bystander_is_served(srv.local_addr()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_incomplete_packet_times_out_while_pings_are_answered() {
    let (srv, seen) = server(|s| {
        s.ping(Duration::from_millis(100), Duration::from_millis(300))
            .partial_packet_timeout(Duration::from_millis(400))
    })
    .await;
    let addr = srv.local_addr();
    let (sid, _) = poll_open(addr).await;
    assert_eq!(poll_post(addr, &sid, "40").await.status, 200);
    let _ = poll_get(addr, &sid).await;
    assert_eq!(poll_post(addr, &sid, &binary_event(2)).await.status, 200);
    let start = Instant::now();
    // Answer every ping until the session ends (bounded: 3 s).
    loop {
        assert!(start.elapsed() < Duration::from_secs(3), "the incomplete packet was kept");
        let got = poll_get(addr, &sid).await;
        if got.iter().any(|p| p == "1") {
            break;
        }
        if got.iter().any(|p| p == "2") {
            let r = poll_post(addr, &sid, "3").await;
            if r.status != 200 {
                break;
            }
        }
    }
    assert!(start.elapsed() >= Duration::from_millis(300));
    eventually(|| seen.reasons.lock().as_slice() == ["parse error"]).await;
    bystander_is_served(addr).await;
}
