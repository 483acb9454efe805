//! Heap accounting per idle WebSocket connection: where the server's bytes
//! go. A counting allocator measures the live heap (bytes and blocks) of a
//! server whose `/` namespace does what the chat example does per user (a
//! name from the CONNECT auth kept in the socket's data, a `join` event that
//! joins a room and acks), after each step of N clients:
//!
//! 1. the WebSocket opened (the session and its task, the stream),
//! 2. the CONNECT to `/` answered (the roomcast socket with its handshake),
//! 3. the room joined.
//!
//! The clients are blocking sockets on one thread with stack buffers, so
//! they add nothing to the heap; the RSS growth is printed next to the heap
//! growth (the difference is the allocator's overhead and fragmentation).
//!
//! ```text
//! cargo run --release -p roomcast-socketio --example conn_memory [-- --clients 2000]
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use roomcast::{Config, Engine, Handshake, Payload};
use roomcast_socketio::SocketIoServer;

/// Counts live heap bytes and blocks.
struct Counting;

static BYTES: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        BYTES.fetch_add(l.size() as isize, Relaxed);
        BLOCKS.fetch_add(1, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        BYTES.fetch_sub(l.size() as isize, Relaxed);
        BLOCKS.fetch_sub(1, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        BYTES.fetch_add(new as isize - l.size() as isize, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn rss_bytes() -> isize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: isize = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Sends one masked text frame (a zero mask: the payload goes as is).
fn send_text(s: &mut TcpStream, text: &[u8]) {
    let mut f = [0u8; 256];
    f[0] = 0x81;
    f[1] = 0x80 | text.len() as u8;
    f[6..6 + text.len()].copy_from_slice(text);
    s.write_all(&f[..6 + text.len()]).expect("write");
}

/// Reads until `needle` has been seen.
fn read_until(s: &mut TcpStream, needle: &[u8]) {
    let mut buf = [0u8; 4096];
    let mut len = 0;
    loop {
        let n = s.read(&mut buf[len..]).expect("read");
        assert!(n > 0, "the server closed the connection");
        len += n;
        if buf[..len].windows(needle.len()).any(|w| w == needle) {
            return;
        }
        if len > 3000 {
            // Keep the tail: the needle may straddle reads.
            buf.copy_within(len - 64..len, 0);
            len = 64;
        }
    }
}

fn snapshot() -> (isize, isize, isize) {
    std::thread::sleep(std::time::Duration::from_millis(300));
    (BYTES.load(Relaxed), BLOCKS.load(Relaxed), rss_bytes())
}

fn main() {
    let mut clients: usize = 2000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--clients" => clients = args.next().and_then(|v| v.parse().ok()).expect("--clients N"),
            _ => panic!("usage: conn_memory [--clients N]"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let engine = Engine::new(Config::default());
    let ns = engine.of("/").expect("namespace");
    ns.on_connection(|socket| {
        let auth: Option<serde_json::Value> = socket.handshake().auth_payload().and_then(|p| p.to_json().ok());
        let name = auth.as_ref().and_then(|a| a.get("name")?.as_str()).unwrap_or("").to_owned();
        socket.set_data(Payload::text(name));
    });
    ns.on("join", |socket, ev, ack| {
        let room = ev.payload().as_str().unwrap_or("r").to_owned();
        socket.join(room.as_str())?;
        let name = socket.data().and_then(|d| d.as_str().map(str::to_owned)).unwrap_or_default();
        socket.set_data(Payload::text(format!("{name}\0{room}")));
        if let Some(ack) = ack {
            ack.send(Payload::text("ok"))?;
        }
        Ok(())
    })
    .unwrap();
    let server = rt.block_on(SocketIoServer::new(engine).bind("127.0.0.1:0")).expect("bind");
    let port = server.local_addr().port();
    let mut conns: Vec<TcpStream> = Vec::with_capacity(clients + 100);
    let open = |conns: &mut Vec<TcpStream>| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        let req = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n\
            Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Version: 13\r\n\r\n";
        s.write_all(req).expect("write");
        read_until(&mut s, b"\"sid\"");
        conns.push(s);
    };
    let connect = |s: &mut TcpStream, i: usize| {
        let mut msg = [0u8; 64];
        let mut w = &mut msg[..];
        write!(w, "40{{\"name\":\"u{i}\"}}").expect("format");
        let n = 64 - w.len();
        send_text(s, &msg[..n]);
        read_until(s, b"40{");
    };
    let join = |s: &mut TcpStream, i: usize| {
        let mut msg = [0u8; 64];
        let mut w = &mut msg[..];
        write!(w, "421[\"join\",\"r{}\"]", i / 10).expect("format");
        let n = 64 - w.len();
        send_text(s, &msg[..n]);
        read_until(s, b"431[");
    };
    // Warm-up: lazily built structures (maps, slabs, thread state) first.
    for i in 0..100 {
        open(&mut conns);
        let s = conns.last_mut().expect("conn");
        connect(s, i);
        join(s, i);
    }
    let base = snapshot();
    for _ in 0..clients {
        open(&mut conns);
    }
    let opened = snapshot();
    for (i, s) in conns[100..].iter_mut().enumerate() {
        connect(s, i + 100);
    }
    let connected = snapshot();
    for (i, s) in conns[100..].iter_mut().enumerate() {
        join(s, i + 100);
    }
    let joined = snapshot();
    let n = clients as f64;
    println!("conn_memory: {clients} idle WebSocket connections (after 100 warm-up ones), per connection:");
    println!("{:<34} {:>10} {:>8} {:>10}", "step", "heap B", "blocks", "RSS B");
    let mut total = (0.0, 0.0, 0.0);
    for (name, a, b) in [
        ("WebSocket open (session, task, io)", base, opened),
        ("CONNECT to / (socket, handshake)", opened, connected),
        ("join a room", connected, joined),
    ] {
        let d = ((b.0 - a.0) as f64 / n, (b.1 - a.1) as f64 / n, (b.2 - a.2) as f64 / n);
        total = (total.0 + d.0, total.1 + d.1, total.2 + d.2);
        println!("{name:<34} {:>10.0} {:>8.1} {:>10.0}", d.0, d.1, d.2);
    }
    println!("{:<34} {:>10.0} {:>8.1} {:>10.0}", "total", total.0, total.1, total.2);
    // The CONNECT step includes the handshake roomcast keeps per socket: the
    // same headers, query and address as these clients', measured alone.
    let hs = Handshake::new()
        .header("host", "127.0.0.1")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "13")
        .query("EIO", "4")
        .query("transport", "websocket")
        .address("127.0.0.1:40000")
        .auth(Payload::text("{\"name\":\"u1000\"}"));
    let before = (BYTES.load(Relaxed), BLOCKS.load(Relaxed));
    let copy = Box::new(hs.clone());
    let after = (BYTES.load(Relaxed), BLOCKS.load(Relaxed));
    println!(
        "of which the socket's handshake (a Box<Handshake> with these 5 headers, 2 query parameters, address, auth): {} B in {} blocks",
        after.0 - before.0,
        after.1 - before.1
    );
    drop(copy);
    drop(conns);
    rt.block_on(async { server.shutdown().await }).expect("shutdown");
}
