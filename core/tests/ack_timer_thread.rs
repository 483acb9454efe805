//! The ack timer thread does not outlive its engine (issue 16, defect 3).
//!
//! Its own test binary with one test: it counts the process's threads by
//! name, so no other test may start engines meanwhile.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use roomcast::{Config, Engine, Handshake};

/// Threads of this process named like the ack timer (`comm` holds the
/// first 15 bytes of a thread's name).
fn timer_threads() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return 0 };
    dir.filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|comm| "roomcast-ack-timer".starts_with(comm.trim_end()) && !comm.trim().is_empty())
        .count()
}

/// Polls `cond` for at most `limit`.
fn eventually(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

/// A waker run by the timer thread when an ack times out: it reports that
/// it started, drops what `keep` holds (the test may leave it the last
/// engine handles), and stays busy for `busy` before returning.
struct SlowWaker {
    started: Mutex<Option<mpsc::Sender<()>>>,
    busy: Duration,
    done: AtomicBool,
    keep: Mutex<Option<Box<dyn Send>>>,
}

impl Wake for SlowWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(tx) = self.started.lock().unwrap().take() {
            let _ = tx.send(());
        }
        // Dropped here, on the timer thread.
        let keep = self.keep.lock().unwrap().take();
        drop(keep);
        std::thread::sleep(self.busy);
        self.done.store(true, Ordering::SeqCst);
    }
}

/// An ack emit to one silent socket, timing out after 10 ms, whose stream
/// is polled once with `waker`. Returns the pending future.
fn pending_ack(engine: &Engine, waker: &Arc<SlowWaker>) -> (impl Future, roomcast::Connection, roomcast::Outbox) {
    let (conn, outbox) = engine.connect();
    let socket = conn.join_namespace("/", Handshake::new()).unwrap();
    let acks = socket.emit_with_ack_timeout("ping", "?", Duration::from_millis(10)).unwrap();
    let mut fut = acks.into_future();
    let w = Waker::from(waker.clone());
    assert!(Pin::new(&mut fut).poll(&mut Context::from_waker(&w)).is_pending());
    (fut, conn, outbox)
}

#[test]
fn defect_3_last_engine_drop_joins_the_ack_timer_thread() {
    assert_eq!(timer_threads(), 0, "no engine yet");

    // 1. The last handle drops while the timer thread is busy expiring an
    //    ack: the drop waits for the thread to finish and end.
    let engine = Engine::new(Config::default());
    let (tx, rx) = mpsc::channel();
    let waker = Arc::new(SlowWaker {
        started: Mutex::new(Some(tx)),
        busy: Duration::from_millis(300),
        done: AtomicBool::new(false),
        keep: Mutex::new(None),
    });
    let (fut, conn, outbox) = pending_ack(&engine, &waker);
    // (A new thread names itself, so its name may show up a moment later.)
    assert!(eventually(Duration::from_secs(1), || timer_threads() == 1), "the first ack emit starts one timer thread");
    rx.recv_timeout(Duration::from_secs(5)).expect("the ack timed out and the timer thread woke the waker");
    drop((fut, conn, outbox, engine));
    assert!(
        waker.done.load(Ordering::SeqCst),
        "the last engine drop returned while the timer thread was still running"
    );
    // The thread has been joined; the kernel may take a moment to reap it.
    assert!(eventually(Duration::from_secs(1), || timer_threads() == 0), "a timer thread outlived its engine");

    // 2. The last handle drops on the timer thread itself (from a wake-up
    //    it runs): no self-join, no deadlock, and the thread still ends.
    let engine = Engine::new(Config::default());
    let (tx, rx) = mpsc::channel();
    let waker = Arc::new(SlowWaker {
        started: Mutex::new(Some(tx)),
        busy: Duration::ZERO,
        done: AtomicBool::new(false),
        keep: Mutex::new(None),
    });
    // The connection holds the engine; the waker gets every handle, the
    // test keeps only the ack future (which does not hold the engine).
    let (fut, conn, outbox) = pending_ack(&engine, &waker);
    *waker.keep.lock().unwrap() = Some(Box::new((conn, outbox, engine)));
    rx.recv_timeout(Duration::from_secs(5)).expect("the ack timed out and the timer thread woke the waker");
    assert!(eventually(Duration::from_secs(5), || waker.done.load(Ordering::SeqCst)), "the wake-up finished");
    assert!(
        eventually(Duration::from_secs(5), || timer_threads() == 0),
        "the timer thread that dropped its own engine ended"
    );
    drop(fut);
}
