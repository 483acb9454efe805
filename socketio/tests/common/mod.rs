//! Loopback clients for the end-to-end tests: raw HTTP/1.1 for polling and
//! tokio-tungstenite for WebSocket.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

pub const T: Duration = Duration::from_secs(5);

/// One HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Sends one request on a fresh connection and reads the whole response.
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8], extra: &[(&str, &str)]) -> Resp {
    tokio::time::timeout(T, async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        s.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let mut body = raw[split + 4..].to_vec();
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        Resp { status, head, body }
    })
    .await
    .expect("HTTP request timed out")
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else { return out };
        let n = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
}

/// Splits a polling body into its packets (binary ones as `b<base64>`).
pub fn packets(body: &[u8]) -> Vec<String> {
    body.split(|&c| c == 0x1e).map(|p| String::from_utf8_lossy(p).into_owned()).collect()
}

/// Opens a polling session; returns the sid and the handshake JSON.
pub async fn poll_open(addr: SocketAddr) -> (String, serde_json::Value) {
    let r = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert!(t.starts_with('0'), "open packet: {t}");
    let v: serde_json::Value = serde_json::from_str(&t[1..]).unwrap();
    (v["sid"].as_str().unwrap().to_string(), v)
}

pub async fn poll_get(addr: SocketAddr, sid: &str) -> Vec<String> {
    let r = http(addr, "GET", &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"), b"", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    packets(&r.body)
}

pub async fn poll_post(addr: SocketAddr, sid: &str, body: &str) -> Resp {
    http(addr, "POST", &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"), body.as_bytes(), &[]).await
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A WebSocket client speaking raw Engine.IO frames.
pub struct Client {
    pub ws: Ws,
    /// Answer server pings automatically.
    pub auto_pong: bool,
}

/// What the client read.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    Closed,
}

impl Client {
    /// Opens a WebSocket session (optionally upgrading `sid`).
    pub async fn connect(addr: SocketAddr, sid: Option<&str>) -> Client {
        let url = match sid {
            Some(s) => format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid={s}"),
            None => format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"),
        };
        let (ws, _) = tokio::time::timeout(T, tokio_tungstenite::connect_async(url)).await.unwrap().unwrap();
        Client { ws, auto_pong: true }
    }

    /// Opens a session and returns it with the handshake JSON.
    pub async fn open(addr: SocketAddr) -> (Client, serde_json::Value) {
        let mut c = Client::connect(addr, None).await;
        let Frame::Text(t) = c.recv().await else { panic!("no open packet") };
        assert!(t.starts_with('0'), "{t}");
        let v = serde_json::from_str(&t[1..]).unwrap();
        (c, v)
    }

    /// Opens a session and joins the namespaces (`"/"`, `"/admin"`, ...).
    pub async fn joined(addr: SocketAddr, nsps: &[&str]) -> (Client, Vec<String>) {
        let (mut c, _) = Client::open(addr).await;
        let mut ids = Vec::new();
        for n in nsps {
            let pkt = if *n == "/" { "40".to_string() } else { format!("40{n},") };
            c.send(&pkt).await;
            let reply = c.recv_text().await;
            let prefix = if *n == "/" { "40".to_string() } else { format!("40{n},") };
            let json = reply.strip_prefix(&prefix).unwrap_or_else(|| panic!("CONNECT reply {reply}"));
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            ids.push(v["sid"].as_str().unwrap().to_string());
        }
        (c, ids)
    }

    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// Sends a frame, ignoring a connection the server already closed.
    pub async fn send_lossy(&mut self, frame: Message) {
        let _ = self.ws.send(frame).await;
    }

    pub async fn send_binary(&mut self, data: &[u8]) {
        self.ws.send(Message::Binary(data.to_vec().into())).await.unwrap();
    }

    /// The next frame that is not a ping (pings are answered when `auto_pong`).
    pub async fn recv(&mut self) -> Frame {
        self.recv_within(T).await.expect("timed out waiting for a frame")
    }

    pub async fn recv_within(&mut self, d: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let m = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?;
            match m {
                Some(Ok(Message::Text(t))) => {
                    if t.as_str() == "2" {
                        if self.auto_pong {
                            self.send("3").await;
                        }
                        continue;
                    }
                    return Some(Frame::Text(t.to_string()));
                }
                Some(Ok(Message::Binary(b))) => return Some(Frame::Binary(b.to_vec())),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Some(Frame::Closed),
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Frame::Text(t) => t,
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// Reads until the server closes; panics on anything but pings/noops
    /// before that unless `skip_other`.
    pub async fn expect_closed(&mut self, within: Duration) {
        loop {
            match self.recv_within(within).await {
                Some(Frame::Closed) => return,
                Some(_) => continue,
                None => panic!("the server did not close the connection"),
            }
        }
    }

    /// Nothing but pings arrives for `d`.
    pub async fn expect_silence(&mut self, d: Duration) {
        if let Some(f) = self.recv_within(d).await {
            panic!("expected nothing, got {f:?}");
        }
    }
}

/// Waits until `f` holds (polling every 10 ms, at most 5 s).
pub async fn eventually(mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + T;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "condition not reached in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An engine whose `/` answers `echo`: with an ack reply when the client
/// asks for one, else an `echo` event back to the sender.
pub fn echo_engine(config: roomcast::Config) -> roomcast::Engine {
    let engine = roomcast::Engine::new(config);
    let root = engine.of("/").unwrap();
    root.on("echo", |socket, ev, ack| {
        match ack {
            Some(ack) => ack.send(ev.payload().clone())?,
            None => {
                socket.emit("echo", ev.payload().clone())?;
            }
        }
        Ok(())
    })
    .unwrap();
    engine
}
