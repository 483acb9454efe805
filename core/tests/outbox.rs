//! Integration tests for the receiving side: `Outbox` (blocking, batched,
//! async, `Stream`, notify callback) and how messages are shared.
//!
//! Every wait is bounded: blocking receives run on helper threads watched
//! through a channel with a timeout, and a stuck receiver is released by
//! closing its connection before the test fails.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use futures::StreamExt;
use roomcast::{
    Bytes, Config, ConnectOptions, Connection, DisconnectReason, Engine, Handshake, Message, MessageKind, Namespace,
    Outbox, OverflowPolicy, RecvError, RecvTimeoutError, Socket, TryRecvError,
};

mod common;
use common::{client, run_bounded, text, Client};

/// Generous bound for anything that should happen "at once".
const LONG: Duration = Duration::from_secs(10);
/// How long a helper thread is given to park in a blocking receive before
/// the test acts. The tests pass with any value (even zero); it only makes
/// the "was blocked" path the likely one.
const PARK: Duration = Duration::from_millis(30);

struct Setup {
    engine: Engine,
    ns: Namespace,
    conn: Connection,
    outbox: Outbox,
    socket: Socket,
}

fn setup() -> Setup {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/o").unwrap();
    let Client { conn, outbox, socket } = client(&engine, "/o");
    Setup { engine, ns, conn, outbox, socket }
}

fn texts(msgs: &[Message]) -> Vec<String> {
    msgs.iter().map(text).collect()
}

/// Runs `f` on a helper thread and waits at most `LONG` for its result; on a
/// stall, closes `conn` from a detached thread (releasing any blocked
/// receive, without risking this thread on a held lock) and fails.
fn bounded<T: Send + 'static>(conn: &Connection, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(LONG) {
        Ok(v) => {
            h.join().unwrap();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => std::panic::resume_unwind(h.join().unwrap_err()),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let conn = conn.clone();
            thread::spawn(move || conn.close(DisconnectReason::TransportClose));
            panic!("helper thread stalled (a blocked receive was never woken, or a deadlock)");
        }
    }
}

/// Awaits `fut`, failing if it is not woken within `LONG`. The deadline is
/// checked first, so a future that is only re-polled by the timer (a missed
/// wake-up) fails instead of passing late.
async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::select! {
        biased;
        _ = tokio::time::sleep(LONG) => panic!("{what}: not woken within {LONG:?}"),
        out = fut => out,
    }
}

// ---------------------------------------------------------------------------
// Blocking and non-blocking receive
// ---------------------------------------------------------------------------

#[test]
fn try_recv_empty_vs_closed() {
    let s = setup();
    assert_eq!(s.outbox.try_recv().unwrap_err(), TryRecvError::Empty);
    assert!(s.outbox.is_empty() && !s.outbox.is_closed());

    s.socket.emit("m", "1").unwrap();
    s.socket.emit("m", "2").unwrap();
    assert_eq!(s.outbox.len(), 2);
    assert_eq!(text(&s.outbox.try_recv().unwrap()), "1");
    assert_eq!(s.outbox.len(), 1);

    // Closed with a message left: the message first, then Closed (never Empty).
    s.conn.close(DisconnectReason::TransportClose);
    assert!(s.outbox.is_closed());
    assert_eq!(text(&s.outbox.try_recv().unwrap()), "2");
    assert_eq!(s.outbox.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(s.outbox.try_recv().unwrap_err(), TryRecvError::Closed, "stays closed");
}

#[test]
fn recv_timeout_timeout_vs_closed() {
    let s = setup();
    let t = Duration::from_millis(50);
    let start = Instant::now();
    assert_eq!(s.outbox.recv_timeout(t).unwrap_err(), RecvTimeoutError::Timeout);
    assert!(start.elapsed() >= t, "returned before the timeout: {:?}", start.elapsed());

    s.socket.emit("m", "queued").unwrap();
    let start = Instant::now();
    assert_eq!(text(&s.outbox.recv_timeout(LONG).unwrap()), "queued");
    assert!(start.elapsed() < LONG / 2, "a queued message must not wait");

    s.conn.close(DisconnectReason::TransportClose);
    let start = Instant::now();
    assert_eq!(s.outbox.recv_timeout(LONG).unwrap_err(), RecvTimeoutError::Closed);
    assert!(start.elapsed() < LONG / 2, "closed and drained must not wait");
}

#[test]
fn recv_timeout_woken_by_emit_and_by_close() {
    let s = setup();
    let outbox = Arc::new(s.outbox);

    let o = outbox.clone();
    let ns = s.ns.clone();
    let got = bounded(&s.conn, move || {
        let waiter = thread::spawn(move || o.recv_timeout(LONG * 2));
        thread::sleep(PARK);
        ns.emit("m", "wake").unwrap();
        waiter.join().unwrap()
    });
    assert_eq!(text(&got.unwrap()), "wake");

    let o = outbox.clone();
    let conn = s.conn.clone();
    let got = bounded(&s.conn, move || {
        let waiter = thread::spawn(move || o.recv_timeout(LONG * 2));
        thread::sleep(PARK);
        conn.close(DisconnectReason::TransportClose);
        waiter.join().unwrap()
    });
    assert_eq!(got.unwrap_err(), RecvTimeoutError::Closed);
}

#[test]
fn recv_blocks_until_emit_from_other_thread() {
    let s = setup();
    let outbox = Arc::new(s.outbox);
    let o = outbox.clone();
    // The receiver blocks in `recv`; the main thread emits only after it had
    // time to park. 100 messages, each must arrive, in order.
    let (tx, rx) = mpsc::channel();
    let receiver = thread::spawn(move || {
        for _ in 0..100 {
            match o.recv() {
                Ok(m) => tx.send(text(&m)).unwrap(),
                Err(RecvError::Closed) => return,
            }
        }
    });
    thread::sleep(PARK);
    for i in 0..100 {
        s.ns.emit("m", format!("{i}")).unwrap();
        if i % 10 == 0 {
            // Give the receiver a chance to drain and block again.
            thread::yield_now();
        }
    }
    let mut got = Vec::new();
    for _ in 0..100 {
        match rx.recv_timeout(LONG) {
            Ok(t) => got.push(t),
            Err(_) => {
                s.conn.close(DisconnectReason::TransportClose);
                panic!("receiver stalled after {} messages", got.len());
            }
        }
    }
    receiver.join().unwrap();
    assert_eq!(got, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[test]
fn recv_woken_by_close() {
    let s = setup();
    let outbox = Arc::new(s.outbox);
    let o = outbox.clone();
    let conn = s.conn.clone();
    let got = bounded(&s.conn, move || {
        let waiter = thread::spawn(move || o.recv());
        thread::sleep(PARK);
        conn.close(DisconnectReason::TransportClose);
        waiter.join().unwrap()
    });
    assert_eq!(got.unwrap_err(), RecvError::Closed);
    assert_eq!(outbox.close_reason(), Some(DisconnectReason::TransportClose));
}

#[test]
fn recv_many_limits_and_appends() {
    let s = setup();
    s.socket.emit("m", "pre").unwrap();
    let mut buf = Vec::new();
    assert_eq!(s.outbox.recv_many(&mut buf, 16).unwrap(), 1);
    for i in 0..5 {
        s.socket.emit("m", format!("{i}")).unwrap();
    }
    // Appends; never more than `max`.
    assert_eq!(s.outbox.recv_many(&mut buf, 2).unwrap(), 2);
    assert_eq!(texts(&buf), ["pre", "0", "1"]);
    assert_eq!(s.outbox.len(), 3);
    assert_eq!(s.outbox.recv_many(&mut buf, 100).unwrap(), 3);
    assert_eq!(texts(&buf), ["pre", "0", "1", "2", "3", "4"]);
    // max == 0 asks for nothing and does not block.
    assert_eq!(s.outbox.recv_many(&mut buf, 0).unwrap(), 0);
    assert_eq!(buf.len(), 6);

    // Blocks until something arrives from another thread.
    let outbox = Arc::new(s.outbox);
    let o = outbox.clone();
    let ns = s.ns.clone();
    let (n, got) = bounded(&s.conn, move || {
        let waiter = thread::spawn(move || {
            let mut b = Vec::new();
            let n = o.recv_many(&mut b, 8);
            (n, b)
        });
        thread::sleep(PARK);
        ns.emit("m", "late").unwrap();
        waiter.join().unwrap()
    });
    assert_eq!(n.unwrap(), 1);
    assert_eq!(texts(&got), ["late"]);

    // Closed: the remainder, then Closed without touching the buffer.
    s.socket.emit("m", "x").unwrap();
    s.socket.emit("m", "y").unwrap();
    s.conn.close(DisconnectReason::TransportClose);
    let mut buf = vec![];
    assert_eq!(outbox.recv_many(&mut buf, 8).unwrap(), 2);
    assert_eq!(outbox.recv_many(&mut buf, 8).unwrap_err(), RecvError::Closed);
    assert_eq!(texts(&buf), ["x", "y"]);
}

#[test]
fn try_recv_many_limits_empty_closed() {
    let s = setup();
    let mut buf = Vec::new();
    assert_eq!(s.outbox.try_recv_many(&mut buf, 8).unwrap(), 0, "empty and open: Ok(0)");
    for i in 0..5 {
        s.ns.emit("m", format!("{i}")).unwrap();
    }
    assert_eq!(s.outbox.try_recv_many(&mut buf, 0).unwrap(), 0);
    assert_eq!(s.outbox.try_recv_many(&mut buf, 3).unwrap(), 3);
    assert_eq!(s.outbox.try_recv_many(&mut buf, 3).unwrap(), 2);
    assert_eq!(texts(&buf), ["0", "1", "2", "3", "4"]);
    assert_eq!(s.outbox.try_recv_many(&mut buf, 3).unwrap(), 0);

    s.ns.emit("m", "last").unwrap();
    s.conn.close(DisconnectReason::TransportClose);
    assert_eq!(s.outbox.try_recv_many(&mut buf, 3).unwrap(), 1);
    assert_eq!(s.outbox.try_recv_many(&mut buf, 3).unwrap_err(), TryRecvError::Closed);
    assert_eq!(buf.len(), 6);
    assert_eq!(text(&buf[5]), "last");
}

#[test]
fn recv_many_timeout_behaviour() {
    let s = setup();
    let mut buf = Vec::new();
    let t = Duration::from_millis(50);
    let start = Instant::now();
    assert_eq!(s.outbox.recv_many_timeout(&mut buf, 4, t).unwrap_err(), RecvTimeoutError::Timeout);
    assert!(start.elapsed() >= t);
    assert!(buf.is_empty());

    for i in 0..6 {
        s.socket.emit("m", format!("{i}")).unwrap();
    }
    assert_eq!(s.outbox.recv_many_timeout(&mut buf, 4, LONG).unwrap(), 4);
    assert_eq!(s.outbox.recv_many_timeout(&mut buf, 4, LONG).unwrap(), 2);
    assert_eq!(texts(&buf), ["0", "1", "2", "3", "4", "5"]);

    let outbox = Arc::new(s.outbox);
    let o = outbox.clone();
    let ns = s.ns.clone();
    let (n, got) = bounded(&s.conn, move || {
        let waiter = thread::spawn(move || {
            let mut b = Vec::new();
            (o.recv_many_timeout(&mut b, 4, LONG * 2), b)
        });
        thread::sleep(PARK);
        ns.emit("m", "late").unwrap();
        waiter.join().unwrap()
    });
    assert_eq!(n.unwrap(), 1);
    assert_eq!(texts(&got), ["late"]);

    s.conn.close(DisconnectReason::TransportClose);
    let start = Instant::now();
    assert_eq!(outbox.recv_many_timeout(&mut buf, 4, LONG).unwrap_err(), RecvTimeoutError::Closed);
    assert!(start.elapsed() < LONG / 2);
}

/// A host that means "wait forever" may pass `Duration::MAX`; the outbox
/// must not panic computing a deadline.
#[test]
fn recv_timeout_with_huge_timeout_does_not_panic() {
    let s = setup();
    s.socket.emit("m", "a").unwrap();
    s.socket.emit("m", "b").unwrap();
    assert_eq!(text(&s.outbox.recv_timeout(Duration::MAX).unwrap()), "a");
    let mut buf = Vec::new();
    assert_eq!(s.outbox.recv_many_timeout(&mut buf, 8, Duration::MAX).unwrap(), 1);
    s.conn.close(DisconnectReason::TransportClose);
    assert_eq!(s.outbox.recv_timeout(Duration::MAX).unwrap_err(), RecvTimeoutError::Closed);
}

// ---------------------------------------------------------------------------
// Async receive
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn recv_async_awaits_emit_from_other_thread() {
    let s = setup();
    let ns = s.ns.clone();
    let emitter = thread::spawn(move || {
        thread::sleep(PARK);
        ns.emit("m", "from another thread").unwrap();
    });
    let got = within("recv_async after emit", s.outbox.recv_async()).await;
    assert_eq!(text(&got.unwrap()), "from another thread");
    emitter.join().unwrap();

    // Already queued: ready at once.
    s.socket.emit("m", "queued").unwrap();
    assert_eq!(text(&within("queued", s.outbox.recv_async()).await.unwrap()), "queued");

    // Woken by close.
    let conn = s.conn.clone();
    let closer = thread::spawn(move || {
        thread::sleep(PARK);
        conn.close(DisconnectReason::TransportClose);
    });
    let got = within("recv_async on close", s.outbox.recv_async()).await;
    assert_eq!(got.unwrap_err(), RecvError::Closed);
    closer.join().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_yields_in_order_and_ends_after_close() {
    let s = setup();
    let mut outbox = s.outbox;

    // Queued before close: all of it, then None, and None again.
    for i in 0..3 {
        s.socket.emit("m", format!("{i}")).unwrap();
    }
    // An emitter racing the consumer, then closing the connection.
    let ns = s.ns.clone();
    let conn = s.conn.clone();
    const N: usize = 200;
    let emitter = thread::spawn(move || {
        for i in 3..N {
            ns.emit("m", format!("{i}")).unwrap();
            if i % 50 == 0 {
                thread::sleep(Duration::from_millis(2));
            }
        }
        conn.close(DisconnectReason::TransportClose);
    });
    let all: Vec<Message> = within("stream end after close", (&mut outbox).collect::<Vec<_>>()).await;
    emitter.join().unwrap();
    assert_eq!(texts(&all), (0..N).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(outbox.next().await.is_none(), "a finished stream stays finished");

    // A stream waiting on an empty open outbox ends when it closes.
    let s = setup();
    let mut outbox = s.outbox;
    let conn = s.conn.clone();
    let socket = s.socket.clone();
    let closer = thread::spawn(move || {
        thread::sleep(PARK);
        socket.emit("m", "last").unwrap();
        conn.close(DisconnectReason::TransportClose);
    });
    let first = within("stream next", outbox.next()).await.unwrap();
    assert_eq!(text(&first), "last");
    assert!(within("stream end", outbox.next()).await.is_none());
    closer.join().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn recv_many_async_batches() {
    let s = setup();
    for i in 0..5 {
        s.socket.emit("m", format!("{i}")).unwrap();
    }
    let mut buf = vec![];
    assert_eq!(s.outbox.recv_many_async(&mut buf, 2).await.unwrap(), 2);
    assert_eq!(s.outbox.recv_many_async(&mut buf, 10).await.unwrap(), 3);
    assert_eq!(texts(&buf), ["0", "1", "2", "3", "4"], "appends, in order");

    // Pending until another thread emits.
    let ns = s.ns.clone();
    let emitter = thread::spawn(move || {
        thread::sleep(PARK);
        ns.emit("m", "late").unwrap();
    });
    let mut late = Vec::new();
    let n = within("recv_many_async", s.outbox.recv_many_async(&mut late, 10)).await;
    assert_eq!(n.unwrap(), 1);
    assert_eq!(texts(&late), ["late"]);
    emitter.join().unwrap();

    s.socket.emit("m", "tail").unwrap();
    s.conn.close(DisconnectReason::TransportClose);
    let mut rest = Vec::new();
    assert_eq!(s.outbox.recv_many_async(&mut rest, 10).await.unwrap(), 1);
    assert_eq!(s.outbox.recv_many_async(&mut rest, 10).await.unwrap_err(), RecvError::Closed);
    assert_eq!(texts(&rest), ["tail"]);
}

/// The async receive path works from tokio tasks while emits come from
/// other tasks on the runtime's worker threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_async_from_task_with_emitting_tasks() {
    let s = setup();
    let outbox = Arc::new(s.outbox);
    let o = outbox.clone();
    const N: usize = 500;
    let consumer = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Ok(m) = o.recv_async().await {
            got.push(text(&m));
        }
        got
    });
    let ns = s.ns.clone();
    let conn = s.conn.clone();
    let producer = tokio::spawn(async move {
        for i in 0..N {
            ns.emit("m", format!("{i}")).unwrap();
            if i % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
        conn.close(DisconnectReason::TransportClose);
    });
    producer.await.unwrap();
    let got = within("consumer task", consumer).await.unwrap();
    assert_eq!(got, (0..N).map(|i| i.to_string()).collect::<Vec<_>>());
}

/// Wake-ups are never lost when every push finds its outbox empty: each
/// consumer task takes one message at a time while two OS threads emit to
/// one socket each in turn, so most pushes race a task that is just going to
/// sleep. Outboxes first drained synchronously switch to async receivers
/// half way (the waker is registered only then). A missed wake-up leaves a
/// consumer waiting for a message that is already queued: `within` fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_receivers_are_woken_by_every_empty_to_non_empty_push() {
    const CONSUMERS: usize = 6;
    const PER_THREAD: usize = 3_000;
    const EACH: usize = 2 * PER_THREAD / CONSUMERS;
    let engine = Engine::new(Config::default());
    let ns = engine.of("/w").unwrap();
    let mut sockets = Vec::new();
    let mut consumers = Vec::new();
    let mut outboxes = Vec::new();
    for c in 0..CONSUMERS {
        let (conn, outbox) = engine.connect();
        sockets.push(conn.join_namespace("/w", Handshake::new()).unwrap());
        let outbox = Arc::new(outbox);
        outboxes.push(outbox.clone());
        consumers.push(tokio::spawn(async move {
            let mut got = 0usize;
            // Odd consumers start synchronous: their first messages come
            // before any waker exists.
            if c % 2 == 1 {
                let deadline = Instant::now() + LONG;
                while got < 50 {
                    match outbox.try_recv() {
                        Ok(_) => got += 1,
                        // Sleep, not yield: a task that only yields keeps its
                        // worker thread busy and can starve the emitting
                        // threads on a small or slow (valgrind) machine.
                        Err(TryRecvError::Empty) if Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(1)).await
                        }
                        Err(e) => panic!("consumer {c}: {e:?} while draining synchronously"),
                    }
                }
            }
            // Stops at its exact count, before any close could wake it.
            while got < EACH {
                within("async consumer", outbox.recv_async()).await.expect("open while counting");
                got += 1;
            }
            got
        }));
    }
    let producers: Vec<_> = (0..2)
        .map(|t| {
            let sockets = sockets.clone();
            let ns = ns.clone();
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let to = &sockets[(i + t) % CONSUMERS];
                    ns.to(to.id()).emit("m", "x").unwrap();
                    if i % 7 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    for (c, h) in consumers.into_iter().enumerate() {
        assert_eq!(within("consumer task", h).await.unwrap(), EACH, "consumer {c}");
    }
    for (c, o) in outboxes.iter().enumerate() {
        assert!(o.is_empty(), "consumer {c}: more queued than emitted to it");
    }
}

// ---------------------------------------------------------------------------
// Notify callback
// ---------------------------------------------------------------------------

fn counter() -> (Arc<AtomicUsize>, impl Fn() + Send + Sync + 'static) {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    (n, move || {
        c.fetch_add(1, Ordering::SeqCst);
    })
}

#[test]
fn notify_fires_once_per_empty_to_nonempty_transition() {
    let s = setup();
    let other = s.engine.of("/other").unwrap();
    let s_other = s.conn.join_namespace("/other", Handshake::new()).unwrap();
    let (count, cb) = counter();
    s.outbox.set_notify(cb);
    assert_eq!(count.load(Ordering::SeqCst), 0, "nothing waiting: no call at install");

    s.ns.emit("m", "1").unwrap();
    s.socket.emit("m", "2").unwrap();
    other.emit("m", "3").unwrap(); // same outbox, other namespace
    assert_eq!(count.load(Ordering::SeqCst), 1, "once per batch, not once per message");

    assert_eq!(s.outbox.try_recv_many(&mut Vec::new(), 16).unwrap(), 3);
    s_other.emit("m", "4").unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2);
    s.ns.emit("m", "5").unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2);

    // Partially draining leaves it non-empty: no new transition.
    s.outbox.try_recv().unwrap();
    s.ns.emit("m", "6").unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2);

    // clear_notify stops the calls.
    s.outbox.try_recv_many(&mut Vec::new(), 16).unwrap();
    s.outbox.clear_notify();
    s.ns.emit("m", "7").unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

/// An event-loop host drains only when its notify callback fired, until
/// the non-blocking receives report nothing, while two threads emit. Each
/// sender waits for the host to confirm a message before sending the next,
/// so most pushes find the outbox empty and every callback matters: had a
/// receive reported "empty" with a message queued and no push in flight,
/// that message would never trigger another callback, both sides would
/// wait, and the test fails on the stall. Alternates `try_recv_many` and
/// `try_recv`; checks every message arrives once, in its sender's order.
#[test]
fn a_host_that_drains_only_when_notified_never_strands_a_message() {
    run_bounded(Duration::from_secs(120), || {
        let per_sender: usize = if cfg!(debug_assertions) { 1_500 } else { 20_000 };
        let engine = Engine::new(Config::default());
        let ns = engine.of("/o").unwrap();
        let (conn, outbox) = engine.connect();
        let socket = conn.join_namespace("/o", Handshake::new()).unwrap();
        let (tx, tokens) = mpsc::channel::<()>();
        outbox.set_notify(move || {
            let _ = tx.send(());
        });
        let mut acks = Vec::new();
        let emitters: Vec<_> = (0..2)
            .map(|t| {
                let (ns, id) = (ns.clone(), socket.id().to_string());
                let (ack, confirmed) = mpsc::channel::<()>();
                acks.push(ack);
                thread::spawn(move || {
                    for i in 0..per_sender {
                        let r = ns.to(id.as_str()).emit("m", format!("{t}:{i}")).unwrap();
                        assert_eq!(r.queued, 1);
                        if confirmed.recv_timeout(LONG).is_err() {
                            return Err(format!("sender {t}: message {i} never confirmed"));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let total = 2 * per_sender;
        let mut next = [0usize; 2];
        let mut got = 0;
        let mut buf = Vec::new();
        let mut round = 0u64;
        while got < total {
            if tokens.recv_timeout(LONG).is_err() {
                panic!("stranded: {got} of {total} received and no notify for {LONG:?}");
            }
            round += 1;
            loop {
                let batch: Vec<Message> = if round % 2 == 0 {
                    match outbox.try_recv_many(&mut buf, 7).unwrap() {
                        0 => break,
                        _ => std::mem::take(&mut buf),
                    }
                } else {
                    match outbox.try_recv() {
                        Ok(m) => vec![m],
                        Err(TryRecvError::Empty) => break,
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                };
                for m in &batch {
                    let t = text(m);
                    let (who, seq) = t.split_once(':').unwrap();
                    let who: usize = who.parse().unwrap();
                    assert_eq!(seq.parse::<usize>().unwrap(), next[who], "sender {who} out of order");
                    next[who] += 1;
                    acks[who].send(()).unwrap();
                }
                got += batch.len();
            }
        }
        for e in emitters {
            e.join().unwrap().unwrap();
        }
        assert!(outbox.is_empty());
        assert_eq!(outbox.len(), 0);
        socket.emit("m", "last").unwrap();
        assert_eq!(outbox.len(), 1, "len sees a push made after the outbox was drained");
        assert!(!outbox.is_empty());
        assert_eq!(text(&outbox.try_recv().unwrap()), "last");
        assert_eq!(next, [per_sender, per_sender]);
        assert!(matches!(outbox.try_recv(), Err(TryRecvError::Empty)));
        conn.close(DisconnectReason::TransportClose);
        assert!(matches!(outbox.try_recv(), Err(TryRecvError::Closed)), "close is seen without a push");
        assert!(matches!(outbox.try_recv_many(&mut buf, 4), Err(TryRecvError::Closed)));
    });
}

#[test]
fn notify_not_fired_for_messages_that_do_not_make_it_non_empty() {
    let engine = Engine::new(Config::default());
    engine.of("/o").unwrap();
    let (conn, outbox) = engine.connect_with(&ConnectOptions::new().max_queue(1)).unwrap();
    let socket = conn.join_namespace("/o", Handshake::new()).unwrap();
    let (count, cb) = counter();
    outbox.set_notify(cb);
    socket.emit("m", "a").unwrap();
    socket.emit("m", "b").unwrap(); // drop_oldest evicts "a": it was never empty
    socket.emit_volatile("m", "c").unwrap(); // refused
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // The lagged notice is pending with "b": draining only the notice leaves
    // the outbox non-empty.
    assert_eq!(outbox.try_recv().unwrap().kind(), MessageKind::Lagged);
    socket.emit("m", "d").unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn notify_fires_on_close() {
    let s = setup();
    let (count, cb) = counter();
    s.outbox.set_notify(cb);
    s.conn.close(DisconnectReason::TransportClose);
    assert_eq!(count.load(Ordering::SeqCst), 1, "empty outbox closing must wake the host");
    s.conn.close(DisconnectReason::TransportClose);
    assert_eq!(count.load(Ordering::SeqCst), 1, "closing twice notifies once");

    // Closing a non-empty outbox also notifies (the host must learn it may
    // now drain to the end and see Closed).
    let s = setup();
    let (count, cb) = counter();
    s.socket.emit("m", "x").unwrap();
    s.outbox.set_notify(cb);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    s.conn.close(DisconnectReason::TransportClose);
    assert_eq!(count.load(Ordering::SeqCst), 2);

    // The disconnect overflow policy closes from inside an emit: notified too.
    let engine = Engine::new(Config::default());
    let ns = engine.of("/o").unwrap();
    let (conn, outbox) =
        engine.connect_with(&ConnectOptions::new().max_queue(1).overflow(OverflowPolicy::Disconnect)).unwrap();
    conn.join_namespace("/o", Handshake::new()).unwrap();
    let (count, cb) = counter();
    outbox.set_notify(cb);
    ns.emit("m", "1").unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 1);
    ns.emit("m", "2").unwrap(); // overflow -> close
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert_eq!(outbox.close_reason(), Some(DisconnectReason::QueueOverflow));

    // Dropping the outbox closes the connection; a callback installed on it
    // hears that too.
    let s = setup();
    let (count, cb) = counter();
    s.outbox.set_notify(cb);
    drop(s.outbox);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(s.conn.is_closed());
}

#[test]
fn notify_fires_immediately_when_messages_waiting() {
    let s = setup();
    s.socket.emit("m", "1").unwrap();
    s.socket.emit("m", "2").unwrap();
    let (count, cb) = counter();
    let installer = thread::current().id();
    let fired_on = Arc::new(Mutex::new(None));
    let f = fired_on.clone();
    s.outbox.set_notify(move || {
        *f.lock().unwrap() = Some(thread::current().id());
        cb();
    });
    assert_eq!(count.load(Ordering::SeqCst), 1, "fired once, before set_notify returned");
    assert_eq!(*fired_on.lock().unwrap(), Some(installer), "on the installing thread");
    s.socket.emit("m", "3").unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 1, "still non-empty: no new transition");

    // Installed after close (even with nothing queued): fired at once.
    let s = setup();
    s.conn.close(DisconnectReason::TransportClose);
    let (count, cb) = counter();
    s.outbox.set_notify(cb);
    assert_eq!(count.load(Ordering::SeqCst), 1);

    // Installed on an empty open outbox: not fired.
    let s = setup();
    let (count, cb) = counter();
    s.outbox.set_notify(cb);
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

/// The callback runs with no engine lock held: it may emit (into another
/// namespace and connection), join rooms, read statistics and room tables,
/// and inspect its own connection. A lock held across the call would
/// deadlock here; every trigger runs on a helper thread with a time bound.
#[test]
fn notify_callback_may_call_engine_without_deadlock() {
    run_bounded(Duration::from_secs(60), notify_callback_may_call_engine_body);
}

fn notify_callback_may_call_engine_body() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/o").unwrap();
    let relay_ns = engine.of("/relay").unwrap();
    let (conn, outbox) = engine.connect();
    let socket = conn.join_namespace("/o", Handshake::new()).unwrap();
    socket.join("r").unwrap();
    let (relay_conn, relay_outbox) = engine.connect();
    relay_conn.join_namespace("/relay", Handshake::new()).unwrap();

    let calls = Arc::new(AtomicUsize::new(0));
    {
        let (engine, ns, relay_ns, conn, socket, calls) =
            (engine.clone(), ns.clone(), relay_ns.clone(), conn.clone(), socket.clone(), calls.clone());
        outbox.set_notify(move || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let stats = engine.stats();
            assert!(stats.namespaces >= 3);
            let _ = ns.rooms();
            let _ = ns.room_size("r");
            let _ = ns.socket_count();
            let _ = ns.fetch_sockets();
            let _ = conn.sockets();
            let _ = conn.is_closed();
            let _ = socket.rooms();
            let _ = socket.join(format!("from-callback-{n}"));
            // Write-locks the shard of "r", which a room emit reads.
            if socket.leave("r").is_ok() {
                socket.join("r").unwrap();
            }
            let _ = ns.to("r").emit("echo", "into my own outbox, already non-empty");
            relay_ns.emit("relay", format!("{n}")).unwrap();
        });
    }

    // Each trigger path, on its own thread, must finish.
    let step = |name: &'static str, f: Box<dyn FnOnce() + Send>| {
        let before = calls.load(Ordering::SeqCst);
        bounded(&conn, f);
        assert!(calls.load(Ordering::SeqCst) > before, "{name}: callback not called");
        outbox.try_recv_many(&mut Vec::new(), usize::MAX).ok();
    };
    {
        let ns = ns.clone();
        step(
            "namespace emit",
            Box::new(move || {
                ns.to("r").emit("m", "1").unwrap();
            }),
        );
    }
    {
        let socket = socket.clone();
        step(
            "socket emit",
            Box::new(move || {
                socket.emit("m", "2").unwrap();
            }),
        );
    }
    {
        let ns = ns.clone();
        step(
            "volatile emit",
            Box::new(move || {
                ns.volatile().emit("m", "3").unwrap();
            }),
        );
    }
    {
        let socket = socket.clone();
        step("server disconnect notice", Box::new(move || assert!(socket.disconnect())));
    }
    let socket = conn.join_namespace("/o", Handshake::new()).unwrap();
    {
        let conn = conn.clone();
        step("close", Box::new(move || conn.close(DisconnectReason::ServerShuttingDown)));
    }
    let n = calls.load(Ordering::SeqCst);
    assert!(n >= 5);
    // Each call relayed one message into the other namespace's connection.
    let relayed: Vec<String> = {
        let mut v = Vec::new();
        relay_outbox.try_recv_many(&mut v, usize::MAX).unwrap();
        texts(&v)
    };
    assert_eq!(relayed, (0..n).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(!socket.is_connected());
}

/// After its connection is closed, the outbox no longer needs its notify
/// callback; keeping it would leak anything the callback owns (a host
/// commonly captures its `Connection`, making a cycle).
#[test]
fn notify_callback_released_after_close() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let s = setup();
    let freed = Arc::new(AtomicBool::new(false));
    let flag = Flag(freed.clone());
    let conn = s.conn.clone();
    s.outbox.set_notify(move || {
        let _ = (&flag, conn.is_closed());
    });
    s.conn.close(DisconnectReason::TransportClose);
    drop(s);
    assert!(freed.load(Ordering::SeqCst), "callback (and the connection it holds) leaked");
}

// ---------------------------------------------------------------------------
// Message sharing
// ---------------------------------------------------------------------------

#[test]
fn message_shared_by_all_recipients() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/o").unwrap();
    let mut boxes = Vec::new();
    for _ in 0..12 {
        let (conn, outbox) = engine.connect();
        conn.join_namespace("/o", Handshake::new()).unwrap().join(["r", "s"]).unwrap();
        boxes.push((conn, outbox));
    }
    assert_eq!(ns.to(["r", "s"]).emit("m", "one").unwrap().queued, 12);
    ns.emit("m", "two").unwrap();
    let firsts: Vec<Message> = boxes.iter().map(|(_, o)| o.try_recv().unwrap()).collect();
    let seconds: Vec<Message> = boxes.iter().map(|(_, o)| o.try_recv().unwrap()).collect();
    for m in &firsts {
        assert!(Message::ptr_eq(m, &firsts[0]), "one allocation per emit, shared");
        assert_eq!(text(m), "one");
    }
    for m in &seconds {
        assert!(Message::ptr_eq(m, &seconds[0]));
        assert!(!Message::ptr_eq(m, &firsts[0]), "a different emit is a different message");
    }
    // The payload bytes are shared too, not copied per recipient.
    let p0 = firsts[0].payload().unwrap().as_bytes().as_ptr();
    assert!(firsts.iter().all(|m| m.payload().unwrap().as_bytes().as_ptr() == p0));
}

#[test]
fn encoded_with_runs_once_across_recipients() {
    let engine = Engine::new(Config::default());
    let ns = engine.of("/o").unwrap();
    let boxes: Vec<(Connection, Outbox)> = (0..8)
        .map(|_| {
            let (conn, outbox) = engine.connect();
            conn.join_namespace("/o", Handshake::new()).unwrap();
            (conn, outbox)
        })
        .collect();
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let runs = &RUNS;
    fn encode(m: &Message) -> Bytes {
        RUNS.fetch_add(1, Ordering::SeqCst);
        Bytes::from(format!("42[\"{}\",\"{}\"]", m.event_name().unwrap(), text(m)))
    }

    ns.emit("ev", "hi").unwrap();
    let msgs: Vec<Message> = boxes.iter().map(|(_, o)| o.try_recv().unwrap()).collect();
    // Encoded from several threads at once: still once.
    let encoded: Vec<Bytes> = thread::scope(|sc| {
        let hs: Vec<_> = msgs.iter().map(|m| sc.spawn(|| m.encoded_with(encode).into_owned())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(encoded.iter().all(|b| b == &Bytes::from_static(b"42[\"ev\",\"hi\"]")));
    assert!(encoded.iter().all(|b| b.as_ptr() == encoded[0].as_ptr()), "the same bytes, not copies");
    // Later calls return the cached encoding without running the encoder.
    assert!(matches!(msgs[3].encoded_with(encode), std::borrow::Cow::Borrowed(b) if b == &encoded[0]));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // A second encoder never gets the first one's bytes: it runs each time.
    fn other(m: &Message) -> Bytes {
        Bytes::from(format!("other:{}", text(m)))
    }
    for m in &msgs {
        assert_eq!(m.encoded_with(other).as_ref(), &Bytes::from_static(b"other:hi"));
    }
    assert_eq!(msgs[0].encoded_with(encode).as_ref(), &encoded[0], "the first encoder's cache is kept");

    // A new emit is encoded anew.
    ns.emit("ev", "again").unwrap();
    for (_, o) in &boxes {
        o.try_recv().unwrap().encoded_with(encode);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[test]
fn a_replaced_notify_callback_is_dropped_outside_the_lock() {
    // The old callback's drop emits to the same connection, which fires the
    // notify callback: dropped under the callback slot's lock, it would
    // deadlock.
    struct EmitOnDrop(Socket);
    impl Drop for EmitOnDrop {
        fn drop(&mut self) {
            let _ = self.0.emit("m", "from drop");
        }
    }
    let s = setup();
    let guard = EmitOnDrop(s.socket.clone());
    s.outbox.set_notify(move || {
        let _held = &guard;
    });
    let (count, cb) = counter();
    let outbox = s.outbox;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        outbox.set_notify(cb);
        let _ = tx.send(outbox);
    });
    let outbox = rx.recv_timeout(LONG).expect("replacing the notify callback deadlocked");
    // Fired by the drop's emit, and again by `set_notify` finding it queued.
    assert!(count.load(Ordering::SeqCst) >= 1, "the new callback hears of the message the old one's drop queued");
    assert_eq!(outbox.try_recv().unwrap().payload().and_then(|p| p.as_str()), Some("from drop"));
}
