//! The server's WebSocket framing seen from a raw TCP client: the opening
//! handshake, pings, fragmentation, the close handshake and the close codes
//! of protocol violations.

use std::net::SocketAddr;
use std::time::Duration;

use roomcast::{Config, Engine};
use roomcast_socketio::{Bound, SocketIoServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(5);

async fn server(max_payload: usize) -> Bound {
    let engine = Engine::new(Config::default());
    engine.of("/").unwrap();
    SocketIoServer::new(engine).max_payload(max_payload).bind("127.0.0.1:0").await.unwrap()
}

/// A raw WebSocket client: the stream and bytes read but not yet parsed.
struct Raw {
    tcp: TcpStream,
    buf: Vec<u8>,
}

/// Sends the opening request with `headers`; returns the response head.
async fn open_with(addr: SocketAddr, headers: &str) -> (Raw, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Raw { tcp, buf: Vec::new() };
    let head = tokio::time::timeout(T, async {
        loop {
            if let Some(at) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw.buf[..at]).into_owned();
                raw.buf.drain(..at + 4);
                return head;
            }
            let mut chunk = [0u8; 1024];
            let n = raw.tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed during the handshake");
            raw.buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("handshake response");
    (raw, head)
}

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                       Sec-WebSocket-Version: 13\r\n";

/// Opens a WebSocket session and reads its open packet.
async fn open(addr: SocketAddr) -> Raw {
    let (mut raw, head) = open_with(addr, UPGRADE).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // RFC 6455's example key and its accept value.
    assert!(head.to_ascii_lowercase().contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
    let (op, p) = raw.read_frame().await.expect("open packet");
    assert_eq!(op, 1);
    assert!(p.starts_with(b"0{"), "{}", String::from_utf8_lossy(&p));
    raw
}

impl Raw {
    /// Sends one frame, masked unless `masked` is false.
    async fn send(&mut self, fin: bool, opcode: u8, payload: &[u8], masked: bool) {
        let mask = [0x5a, 0x01, 0xc3, 0x7e];
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let bit = if masked { 0x80 } else { 0 };
        let n = payload.len();
        if n < 126 {
            f.push(bit | n as u8);
        } else if n <= 65535 {
            f.push(bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            f.push(bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
        if masked {
            f.extend_from_slice(&mask);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        } else {
            f.extend_from_slice(payload);
        }
        self.tcp.write_all(&f).await.unwrap();
    }

    /// The next server frame (opcode, payload); `None` at the end of the
    /// stream. Server frames must be unmasked and final.
    async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        tokio::time::timeout(T, async {
            loop {
                if self.buf.len() >= 2 {
                    assert_eq!(self.buf[0] & 0xF0, 0x80, "a final frame without reserved bits");
                    assert_eq!(self.buf[1] & 0x80, 0, "server frames are unmasked");
                    let (len, at) = match self.buf[1] & 0x7F {
                        126 if self.buf.len() >= 4 => (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4),
                        127 if self.buf.len() >= 10 => {
                            (u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize, 10)
                        }
                        126 | 127 => (usize::MAX, 0),
                        n => (n as usize, 2),
                    };
                    if len != usize::MAX && self.buf.len() >= at + len {
                        let op = self.buf[0] & 0x0F;
                        let p = self.buf[at..at + len].to_vec();
                        self.buf.drain(..at + len);
                        return Some((op, p));
                    }
                }
                let mut chunk = [0u8; 4096];
                match self.tcp.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await
        .expect("a frame or the end of the stream")
    }

    /// Reads frames until a close frame; returns its code.
    async fn close_code(&mut self) -> Option<u16> {
        loop {
            let (op, p) = self.read_frame().await.expect("a close frame");
            if op == 8 {
                return (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]]));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_fragments_and_the_close_handshake() {
    let srv = server(1_000_000).await;
    let mut c = open(srv.local_addr()).await;
    c.send(true, 9, b"hi", true).await;
    assert_eq!(c.read_frame().await, Some((10, b"hi".to_vec())), "a pong with the ping's payload");
    // "40" in two fragments with a ping between them.
    c.send(false, 1, b"4", true).await;
    c.send(true, 9, b"", true).await;
    c.send(true, 0, b"0", true).await;
    assert_eq!(c.read_frame().await, Some((10, Vec::new())));
    let (op, p) = c.read_frame().await.unwrap();
    assert_eq!(op, 1);
    assert!(p.starts_with(b"40{\"sid\":"), "{}", String::from_utf8_lossy(&p));
    // A large message (64-bit length) that is within the limit is taken.
    let big = format!("42[\"e\",\"{}\"]", "x".repeat(70_000));
    c.send(true, 1, big.as_bytes(), true).await;
    // The close handshake: the code comes back, then the stream ends.
    c.send(true, 8, &4001u16.to_be_bytes(), true).await;
    assert_eq!(c.close_code().await, Some(4001));
    assert_eq!(c.read_frame().await, None);
    srv.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violations_close_with_their_codes() {
    let srv = server(1000).await;
    let addr = srv.local_addr();
    let mut c = open(addr).await;
    c.send(true, 1, b"40", false).await;
    assert_eq!(c.close_code().await, Some(1002), "an unmasked client frame");
    let mut c = open(addr).await;
    c.tcp.write_all(&[0xC1, 0x80, 0, 0, 0, 0]).await.unwrap();
    assert_eq!(c.close_code().await, Some(1002), "a reserved bit");
    let mut c = open(addr).await;
    c.send(true, 3, b"", true).await;
    assert_eq!(c.close_code().await, Some(1002), "a reserved opcode");
    let mut c = open(addr).await;
    c.send(true, 0, b"0", true).await;
    assert_eq!(c.close_code().await, Some(1002), "a continuation without a message");
    let mut c = open(addr).await;
    c.send(true, 1, &[b'4', 0xFF, 0xFE], true).await;
    assert_eq!(c.close_code().await, Some(1007), "invalid UTF-8 in a text message");
    let mut c = open(addr).await;
    c.send(true, 2, &[0u8; 1001], true).await;
    assert_eq!(c.close_code().await, Some(1009), "a message over max_payload");
    let mut c = open(addr).await;
    c.send(false, 2, &[0u8; 600], true).await;
    c.send(true, 0, &[0u8; 600], true).await;
    assert_eq!(c.close_code().await, Some(1009), "fragments adding up to more than max_payload");
    // Each of them ended its session.
    tokio::time::timeout(T, async {
        while srv.session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("sessions closed");
    srv.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_opening_requests_are_refused() {
    let srv = server(1000).await;
    let addr = srv.local_addr();
    for headers in [
        // No key.
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
        // Another version.
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n",
        // No upgrade token.
        "Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    ] {
        let (_, head) = open_with(addr, headers).await;
        assert!(head.starts_with("HTTP/1.1 400"), "{headers:?}: {head}");
    }
    // Tokens are matched case-insensitively within lists.
    let (_, head) = open_with(
        addr,
        "Upgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    srv.shutdown().await.unwrap();
}
