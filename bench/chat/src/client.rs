//! The load generator's own Socket.IO v5 client (Engine.IO v4 over
//! WebSocket, see `wire`) and the per-connection load loop.
//!
//! Client `i` is in room `i / k` at position `i % k` (k members per room);
//! the first `senders` positions of every room send, the others only
//! receive. A sender emits `42["message",{"text":"<i>:<seq>:<ns>"}]` (its index, a
//! per-sender sequence number from 1, and the send time in ns since the
//! run's epoch); the server forwards it to the room except the sender. Each
//! receiver checks every delivery: the sender is in its room (no leak), is
//! not itself (no echo), and per sender the sequence numbers arrive as
//! 1, 2, 3, ... (order: violations are counted and reported); the run's end
//! compares the counts with what every sender sent (no loss, no duplicate).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{watch, Notify};

use crate::wire::{Conn, Frame};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One simulated chat user, shared between its own task and the tasks of its
/// room's other members (which count its deliveries).
pub(crate) struct Peer {
    pub(crate) room: u32,
    /// Messages this client has sent.
    pub(crate) sent: AtomicU64,
    /// While blocked by the window: the count every receiver must reach
    /// (messages from this client) before it may send again.
    need: AtomicU64,
    wake: Notify,
    /// Per room position: messages received from that member.
    pub(crate) recv_from: Box<[AtomicU64]>,
    pub(crate) delivered: AtomicU64,
    pub(crate) out_of_order: AtomicU64,
    pub(crate) echoes: AtomicU64,
    pub(crate) leaks: AtomicU64,
    pub(crate) garbled: AtomicU64,
    pub(crate) closed: AtomicBool,
    pub(crate) latency_ns: Mutex<Histogram<u64>>,
}

/// The state of one run: every client, the window and the phase flags.
pub(crate) struct Shared {
    pub(crate) epoch: Instant,
    pub(crate) peers: Vec<Peer>,
    /// Members per room.
    pub(crate) k: u32,
    pub(crate) window: AtomicU64,
    pub(crate) sending: AtomicBool,
    pub(crate) recording: AtomicBool,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new(n: u32, k: u32) -> Arc<Shared> {
        let peers = (0..n)
            .map(|i| Peer {
                room: i / k,
                sent: AtomicU64::new(0),
                need: AtomicU64::new(u64::MAX),
                wake: Notify::new(),
                recv_from: (0..k).map(|_| AtomicU64::new(0)).collect(),
                delivered: AtomicU64::new(0),
                out_of_order: AtomicU64::new(0),
                echoes: AtomicU64::new(0),
                leaks: AtomicU64::new(0),
                garbled: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                latency_ns: Mutex::new(
                    Histogram::new_with_bounds(1_000, 120_000_000_000, 3).expect("histogram bounds"),
                ),
            })
            .collect();
        Arc::new(Shared {
            epoch: Instant::now(),
            peers,
            k,
            window: AtomicU64::new(1),
            sending: AtomicBool::new(false),
            recording: AtomicBool::new(false),
            shutdown: watch::channel(false).0,
        })
    }

    /// Wakes every sender (after `sending` or `window` changed).
    pub(crate) fn wake_all(&self) {
        for p in &self.peers {
            p.wake.notify_one();
        }
    }

    /// Ends every client task.
    pub(crate) fn shut_down(&self) {
        let _ = self.shutdown.send(true);
    }

    pub(crate) fn total_delivered(&self) -> u64 {
        self.peers.iter().map(|p| p.delivered.load(Relaxed)).sum()
    }

    /// Deliveries the servers owe for what was sent so far.
    pub(crate) fn expected_deliveries(&self) -> u64 {
        self.peers.iter().map(|p| p.sent.load(Relaxed)).sum::<u64>() * u64::from(self.k - 1)
    }

    /// Deliveries that arrived out of per-sender order (Socket.IO promises
    /// order; reported, not fatal, since the counts still prove no loss).
    pub(crate) fn out_of_order(&self) -> u64 {
        self.peers.iter().map(|p| p.out_of_order.load(Relaxed)).sum()
    }

    /// Merges and clears every client's latency histogram.
    pub(crate) fn take_latency(&self) -> Histogram<u64> {
        let mut all = Histogram::new_with_bounds(1_000, 120_000_000_000, 3).expect("histogram bounds");
        for p in &self.peers {
            let mut h = p.latency_ns.lock().unwrap();
            all.add(&*h).expect("same bounds");
            h.reset();
        }
        all
    }

    /// Checks every delivery count once the run is drained; returns the problems.
    pub(crate) fn verify(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let k = self.k as usize;
        let mut add = |p: String| {
            if problems.len() < 20 {
                problems.push(p);
            }
        };
        for (i, p) in self.peers.iter().enumerate() {
            let room_start = p.room as usize * k;
            for (pos, got) in p.recv_from.iter().enumerate() {
                let got = got.load(Relaxed);
                let from = room_start + pos;
                let want = if from == i { 0 } else { self.peers.get(from).map_or(0, |s| s.sent.load(Relaxed)) };
                if got != want {
                    add(format!("client {i} got {got} messages from {from}, which sent {want}"));
                }
            }
            for (what, c) in [
                ("echoes of its own messages", &p.echoes),
                ("messages from another room", &p.leaks),
                ("unparseable message events", &p.garbled),
            ] {
                let c = c.load(Relaxed);
                if c != 0 {
                    add(format!("client {i} got {c} {what}"));
                }
            }
            if p.closed.load(Relaxed) {
                add(format!("client {i}: the server closed the connection"));
            }
        }
        problems
    }
}

/// The next text message (answering Engine.IO pings) during the handshake.
async fn next_text(c: &mut Conn) -> Result<String, BoxError> {
    loop {
        while let Some(f) = c.next_frame()? {
            match f {
                Frame::Text(r) => {
                    let t = String::from_utf8_lossy(c.payload(r)).into_owned();
                    if t == "2" {
                        c.push_text(b"3");
                        c.flush().await?;
                        continue;
                    }
                    return Ok(t);
                }
                Frame::Close => return Err("connection closed during the handshake".into()),
                Frame::Other => c.flush().await?,
            }
        }
        if c.fill().await? == 0 {
            return Err("connection closed during the handshake".into());
        }
    }
}

/// Opens a WebSocket, connects to namespace `/` with a name and joins room `r<room>`.
async fn handshake(port: u16, index: u32, room: u32) -> Result<Conn, BoxError> {
    let mut c = Conn::open(port, "/socket.io/?EIO=4&transport=websocket").await?;
    let open = next_text(&mut c).await?;
    if !open.starts_with("0{") {
        return Err(format!("expected an Engine.IO open packet, got {open:?}").into());
    }
    c.push_text(format!("40{{\"name\":\"u{index}\"}}").as_bytes());
    c.flush().await?;
    loop {
        let t = next_text(&mut c).await?;
        if t.starts_with("40") {
            break;
        }
        if t.starts_with("44") {
            return Err(format!("connect refused: {t}").into());
        }
    }
    let want = format!("\"room\":\"r{room}\"");
    // The join is sent again (with a new ack id) when no answer comes within
    // a second: a server may register its event handlers only after it sent
    // the CONNECT reply, and drop an event that arrives in between (the
    // join is idempotent, so a second one is harmless).
    for attempt in 0..5u32 {
        c.push_text(format!("42{attempt}[\"join\",{{\"room\":\"r{room}\"}}]").as_bytes());
        c.flush().await?;
        let ack = format!("43{attempt}[");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Ok(t) = tokio::time::timeout_at(deadline, next_text(&mut c)).await {
            let t = t?;
            if t.starts_with(&ack) {
                if !t.contains(&want) {
                    return Err(format!("unexpected join reply {t}").into());
                }
                return Ok(c);
            }
        }
    }
    Err("no answer to join".into())
}

/// Connects clients `from..to` of `shared` (at most `parallel` handshakes at
/// once) and starts their load loops; returns once all have joined their room.
/// The first `senders` members of every room send (0: nobody sends).
pub(crate) async fn connect_range(
    shared: &Arc<Shared>,
    port: u16,
    from: u32,
    to: u32,
    parallel: usize,
    senders: u32,
) -> Result<(), BoxError> {
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<Result<(), String>>();
    for i in from..to {
        let shared = shared.clone();
        let gate = gate.clone();
        let ready = ready_tx.clone();
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await.expect("semaphore open");
            let room = shared.peers[i as usize].room;
            let conn = match tokio::time::timeout(Duration::from_secs(20), handshake(port, i, room)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    let _ = ready.send(Err(format!("client {i}: {e}")));
                    return;
                }
                Err(_) => {
                    let _ = ready.send(Err(format!("client {i}: handshake timed out")));
                    return;
                }
            };
            drop(permit);
            let _ = ready.send(Ok(()));
            let sender = i % shared.k < senders;
            run(shared, i, conn, sender).await;
        });
    }
    drop(ready_tx);
    for _ in from..to {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err("a client task ended early".into()),
        }
    }
    Ok(())
}

/// Parses `<sender>:<seq>:<ns>` out of a forwarded `message` event.
fn parse_delivery(frame: &[u8]) -> Option<(u32, u64, u64)> {
    const KEY: &[u8] = b"\"text\":\"";
    let at = frame.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let mut nums = [0u64; 3];
    let mut i = 0;
    let mut digits = 0;
    for &b in &frame[at..] {
        match b {
            b'0'..=b'9' => {
                nums[i] = nums[i].checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
                digits += 1;
            }
            b':' if i < 2 && digits > 0 => {
                i += 1;
                digits = 0;
            }
            b'"' if i == 2 && digits > 0 => return Some((u32::try_from(nums[0]).ok()?, nums[1], nums[2])),
            _ => return None,
        }
    }
    None
}

/// The load loop of client `me`: answers pings, checks and counts
/// deliveries, and (for a sender) keeps up to `window` messages in flight.
async fn run(shared: Arc<Shared>, me: u32, mut c: Conn, sender: bool) {
    let my = &shared.peers[me as usize];
    let k = shared.k;
    let room_start = my.room * k;
    let my_pos = me - room_start;
    let mut last_seq = vec![0u64; k as usize];
    let mut shutdown = shared.shutdown.subscribe();
    let mut sent = my.sent.load(Relaxed);
    let mut text = String::with_capacity(64);
    loop {
        // Every complete frame in the buffer.
        loop {
            let frame = match c.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => {
                    my.garbled.fetch_add(1, Relaxed);
                    my.closed.store(true, Relaxed);
                    return;
                }
            };
            let range = match frame {
                Frame::Text(r) => r,
                Frame::Other => continue,
                Frame::Close => {
                    if !*shutdown.borrow() {
                        my.closed.store(true, Relaxed);
                    }
                    return;
                }
            };
            let t = c.payload(range);
            if t == b"2" {
                c.push_text(b"3");
                continue;
            }
            if !t.starts_with(b"42[\"message\",") {
                continue; // join/leave notices and acks
            }
            let now = shared.epoch.elapsed().as_nanos() as u64;
            let Some((s, seq, ns)) = parse_delivery(t) else {
                my.garbled.fetch_add(1, Relaxed);
                continue;
            };
            let Some(from) = shared.peers.get(s as usize) else {
                my.garbled.fetch_add(1, Relaxed);
                continue;
            };
            my.delivered.fetch_add(1, Relaxed);
            if s == me {
                my.echoes.fetch_add(1, Relaxed);
                continue;
            }
            if from.room != my.room {
                my.leaks.fetch_add(1, Relaxed);
                continue;
            }
            let pos = (s - room_start) as usize;
            let got = my.recv_from[pos].fetch_add(1, SeqCst) + 1;
            if seq != last_seq[pos] + 1 {
                my.out_of_order.fetch_add(1, Relaxed);
            }
            last_seq[pos] = seq;
            if shared.recording.load(Relaxed) {
                let _ = my.latency_ns.lock().unwrap().record(now.saturating_sub(ns).max(1_000));
            }
            if got == from.need.load(SeqCst) {
                from.wake.notify_one();
            }
        }
        if sender && shared.sending.load(Relaxed) {
            let window = shared.window.load(Relaxed);
            // A message is complete once every other member of the room got
            // it; at most `window` incomplete messages per sender.
            let complete = || {
                (0..k)
                    .filter(|&j| j != my_pos)
                    .map(|j| shared.peers[(room_start + j) as usize].recv_from[my_pos as usize].load(SeqCst))
                    .min()
                    .unwrap_or(u64::MAX)
            };
            loop {
                if sent - complete().min(sent) >= window {
                    // Blocked: ask the receivers for a wake-up, then look
                    // again (one may have got there in between).
                    my.need.store(sent - window + 1, SeqCst);
                    if sent - complete().min(sent) >= window {
                        break;
                    }
                }
                sent += 1;
                let ns = shared.epoch.elapsed().as_nanos() as u64;
                text.clear();
                use std::fmt::Write;
                let _ = write!(text, "42[\"message\",{{\"text\":\"{me}:{sent}:{ns}\"}}]");
                c.push_text(text.as_bytes());
                my.sent.store(sent, Relaxed);
            }
        }
        if c.has_output() && c.flush().await.is_err() {
            my.closed.store(true, Relaxed);
            return;
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            n = c.fill() => {
                if !matches!(n, Ok(n) if n > 0) {
                    if !*shutdown.borrow() {
                        my.closed.store(true, Relaxed);
                    }
                    return;
                }
            }
            _ = my.wake.notified(), if sender => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_delivery;

    #[test]
    fn parses_the_forwarded_text_whatever_the_field_order() {
        let a = r#"42["message",{"id":"x","name":"u1","room":"r0","text":"1:7:123456","time":1}]"#;
        assert_eq!(parse_delivery(a.as_bytes()), Some((1, 7, 123456)));
        let b = r#"42["message",{"text":"12:1:9","id":"x"}]"#;
        assert_eq!(parse_delivery(b.as_bytes()), Some((12, 1, 9)));
        assert_eq!(parse_delivery(br#"42["message",{"text":"1:x:9"}]"#), None);
        assert_eq!(parse_delivery(br#"42["message",{"text":"1:2"}]"#), None);
        assert_eq!(parse_delivery(br#"42["message",{"name":"a"}]"#), None);
    }
}
