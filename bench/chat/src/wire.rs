//! A lean WebSocket client connection (RFC 6455) for the load generator:
//! the HTTP upgrade, then frames parsed in place from one read buffer (many
//! frames per read, no allocation per message) and written from one output
//! buffer (many frames per write). Text and control frames only, which is
//! all Engine.IO v4 over WebSocket needs for text packets.

use std::io;
use std::ops::Range;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a complete frame is.
pub(crate) enum Frame {
    /// A text message; its payload is `conn.payload(range)`.
    Text(Range<usize>),
    /// Ping, pong or any other non-text frame (already answered if needed).
    Other,
    /// The server closed the WebSocket.
    Close,
}

pub(crate) struct Conn {
    pub(crate) tcp: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
}

const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

impl Conn {
    /// Connects to `127.0.0.1:port` and upgrades `path` to a WebSocket.
    pub(crate) async fn open(port: u16, path: &str) -> io::Result<Conn> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.set_nodelay(true)?;
        let mut conn = Conn { tcp, buf: vec![0; 64 * 1024], start: 0, end: 0, out: Vec::with_capacity(4096) };
        // The key is fixed: nothing here needs it to be unpredictable, and the
        // server's answer is still checked to be a 101 upgrade.
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        conn.tcp.write_all(req.as_bytes()).await?;
        loop {
            if let Some(at) = conn.buf[..conn.end].windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&conn.buf[..at]).into_owned();
                if !head.starts_with("HTTP/1.1 101") {
                    return Err(io::Error::other(format!(
                        "no WebSocket upgrade: {}",
                        head.lines().next().unwrap_or("")
                    )));
                }
                conn.start = at + 4;
                return Ok(conn);
            }
            if conn.end == conn.buf.len() {
                return Err(io::Error::other("upgrade response too long"));
            }
            let n = conn.tcp.read(&mut conn.buf[conn.end..]).await?;
            if n == 0 {
                return Err(io::Error::other("closed during the upgrade"));
            }
            conn.end += n;
        }
    }

    pub(crate) fn payload(&self, r: Range<usize>) -> &[u8] {
        &self.buf[r]
    }

    /// Queues a text frame (masked, as a client must; the zero mask keeps
    /// the bytes as they are).
    pub(crate) fn push_text(&mut self, payload: &[u8]) {
        self.push_frame(OP_TEXT, payload);
    }

    fn push_frame(&mut self, op: u8, payload: &[u8]) {
        let len = payload.len();
        self.out.push(0x80 | op);
        if len < 126 {
            self.out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            self.out.push(0x80 | 126);
            self.out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.out.push(0x80 | 127);
            self.out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        self.out.extend_from_slice(&[0, 0, 0, 0]);
        self.out.extend_from_slice(payload);
    }

    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Writes every queued frame.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.tcp.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// The next complete frame in the buffer, if any (answering pings).
    pub(crate) fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let b = &self.buf[self.start..self.end];
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, op, masked) = (b[0] & 0x80 != 0, b[0] & 0x0F, b[1] & 0x80 != 0);
        let (len, head) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")) as usize, 10),
            126 | 127 => return Ok(None),
            n => (n as usize, 2),
        };
        if masked || !fin {
            return Err(io::Error::other("masked or fragmented frame from the server"));
        }
        if len > self.buf.len() / 2 {
            return Err(io::Error::other("frame larger than the read buffer"));
        }
        if b.len() < head + len {
            return Ok(None);
        }
        let range = self.start + head..self.start + head + len;
        self.start += head + len;
        Ok(Some(match op {
            OP_TEXT => Frame::Text(range),
            OP_CLOSE => Frame::Close,
            OP_PING => {
                let payload = self.buf[range].to_vec();
                self.push_frame(OP_PONG, &payload);
                Frame::Other
            }
            _ => Frame::Other,
        }))
    }

    /// Makes room for more input (after every frame was taken).
    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > self.buf.len() / 2 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Reads more input; Ok(0) means the server closed the connection.
    pub(crate) async fn fill(&mut self) -> io::Result<usize> {
        self.compact();
        let end = self.end;
        let n = self.tcp.read(&mut self.buf[end..]).await?;
        self.end += n;
        Ok(n)
    }
}
