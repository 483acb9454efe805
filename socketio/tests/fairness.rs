//! One client flooding events with costly handlers must not hold the
//! runtime: a session gives way after a bounded turn of dispatching
//! (`TURN`, 500 µs), so another client's event is handled while the
//! flood is still being worked through, not after all of it.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::SinkExt;
use parking_lot::Mutex;
use roomcast::{Config, Engine};
use roomcast_socketio::SocketIoServer;
use tokio_tungstenite::tungstenite::Message;

/// Events the flooder sends in one write.
const FLOOD: usize = 100;

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

async fn order_of_handling(post: bool) -> Vec<&'static str> {
    let engine = Engine::new(Config::default());
    let root = engine.of("/").unwrap();
    let seen: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let s = seen.clone();
    // A handler that costs 1 ms of CPU, like one that walks a large table.
    root.on("costly", move |_, _, _| {
        spin(Duration::from_millis(1));
        s.lock().push("costly");
        Ok(())
    })
    .unwrap();
    let s = seen.clone();
    root.on("quick", move |_, _, _| {
        s.lock().push("quick");
        Ok(())
    })
    .unwrap();
    let srv = SocketIoServer::new(engine).bind("127.0.0.1:0").await.unwrap();
    let addr = srv.local_addr();
    let (mut other, _) = Client::joined(addr, &["/"]).await;
    if post {
        // A polling client posts the whole flood in one request body.
        let (sid, _) = poll_open(addr).await;
        poll_post(addr, &sid, "40").await;
        let _ = poll_get(addr, &sid).await;
        let body: Vec<String> = (0..FLOOD).map(|_| r#"42["costly"]"#.to_string()).collect();
        let post = tokio::spawn(async move { poll_post(addr, &sid, &body.join("\x1e")).await });
        // Sent once the server is busy with the flood.
        eventually(|| !seen.lock().is_empty()).await;
        other.send(r#"42["quick"]"#).await;
        post.await.unwrap();
    } else {
        let (mut flooder, _) = Client::joined(addr, &["/"]).await;
        for _ in 0..FLOOD {
            flooder.ws.feed(Message::text(r#"42["costly"]"#)).await.unwrap();
        }
        // One write holds the whole flood; the other client's event follows it.
        flooder.ws.flush().await.unwrap();
        other.send(r#"42["quick"]"#).await;
    }
    eventually(|| seen.lock().len() == FLOOD + 1).await;
    let order = seen.lock().clone();
    order
}

fn position_of_quick(order: &[&str]) -> usize {
    order.iter().position(|e| *e == "quick").expect("the quick event was handled")
}

// One worker thread: the flooder's session and the other client's share it,
// so the order of handling shows whether the flooder's session gave way.
#[tokio::test(flavor = "current_thread")]
async fn a_websocket_flood_of_costly_events_gives_way_to_other_clients() {
    let order = order_of_handling(false).await;
    let at = position_of_quick(&order);
    // Without turns the whole read (100 events, 100 ms) ran first: at = 100.
    assert!(at < FLOOD / 2, "the other client's event waited for {at} of the flooder's {FLOOD} events");
}

#[tokio::test(flavor = "current_thread")]
async fn a_polling_post_of_costly_events_gives_way_to_other_clients() {
    let order = order_of_handling(true).await;
    let at = position_of_quick(&order);
    assert!(at < FLOOD / 2, "the other client's event waited for {at} of the flooder's {FLOOD} events");
}
