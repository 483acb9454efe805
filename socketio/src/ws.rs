//! RFC 6455 WebSocket, server side, written for idle connections that hold
//! no buffers.
//!
//! * [`accept_key`] answers the opening handshake.
//! * [`Decoder`] turns client bytes into [`Event`]s. It keeps heap memory
//!   only while a frame or a fragmented message is partly received: an idle
//!   connection's decoder is two empty vectors. It is strict: client frames
//!   must be masked, reserved bits and opcodes are refused, control frames
//!   are short and unfragmented, continuation frames follow a started
//!   message, text messages are valid UTF-8, messages are at most
//!   `max_payload` bytes. A violation yields the close code to send
//!   (1002, 1007 or 1009); no input panics it.
//! * [`encode_frame`] writes one unmasked server frame.
//! * [`Conn`] is a WebSocket over the upgraded connection: it reads with
//!   a stack buffer inside a poll function (nothing is held across an
//!   await); its writer builds a vector that exists only during a flush.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Close code: normal closure.
pub(crate) const CLOSE_NORMAL: u16 = 1000;
/// Close code: protocol error.
pub(crate) const CLOSE_PROTOCOL: u16 = 1002;
/// Close code: invalid data (a text message that is not UTF-8).
pub(crate) const CLOSE_INVALID_DATA: u16 = 1007;
/// Close code: message too big.
pub(crate) const CLOSE_TOO_BIG: u16 = 1009;

const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Bytes read from the socket per read call (on the stack).
const READ_CHUNK: usize = 8192;

/// Reads per poll before the loop yields what it decoded.
const READS_PER_POLL: usize = 8;

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &[u8]) -> String {
    use base64::Engine as _;
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(key);
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// One decoded client event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A complete text message.
    Text(String),
    /// A complete binary message.
    Binary(Bytes),
    /// A ping with its payload (answer with a pong carrying it).
    Ping(Bytes),
    /// The client's close frame: its code (if any).
    Close(Option<u16>),
}

#[cfg(test)]
thread_local! {
    /// The largest capacity the held bytes reached on this thread (tests).
    static HELD_PEAK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The decoder: see the module doc.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    /// Bytes of a frame not yet complete (empty, without capacity, when idle).
    pending: Vec<u8>,
    /// The opcode of a fragmented message in progress.
    frag_op: Option<u8>,
    /// The payload of that message so far.
    frag: Vec<u8>,
    /// A close frame was decoded: everything after it is ignored.
    closed: bool,
}

/// A frame header parsed from the front of a buffer.
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Header length in bytes.
    head: usize,
    len: usize,
}

impl Decoder {
    /// A decoder holding nothing.
    pub(crate) fn new() -> Decoder {
        Decoder::default()
    }

    /// Heap bytes held: the partial frame's and the fragmented message's
    /// capacity.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn held(&self) -> usize {
        self.pending.capacity() + self.frag.capacity()
    }

    /// Capacity of the partial frame's buffer.
    #[cfg(test)]
    pub(crate) fn pending_capacity(&self) -> usize {
        self.pending.capacity()
    }

    /// Capacity of the fragmented message's buffer.
    #[cfg(test)]
    pub(crate) fn frag_capacity(&self) -> usize {
        self.frag.capacity()
    }

    /// True while a frame is partly received (its bytes are held).
    #[cfg(test)]
    fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Decodes `data` after what is held, calling `on` for each event. `on`
    /// returns false to stop: the rest stays held for the next call (which
    /// may pass empty `data`). `Err` is the close code for a violation.
    ///
    /// Linear in the bytes fed: held bytes are appended to once and never
    /// copied back, and the buffer of a frame whose header has arrived is
    /// reserved at its full size once, so it holds at most the frame (at
    /// most `max_payload` plus a 14-byte header) plus the bytes of one
    /// `data` past it.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        max_payload: usize,
        mut on: impl FnMut(Event) -> bool,
    ) -> Result<(), u16> {
        if self.closed {
            return Ok(());
        }
        if self.pending.is_empty() {
            let used = self.decode(data, max_payload, &mut on)?;
            if used < data.len() && !self.closed {
                self.hold(&data[used..], max_payload);
            }
            return Ok(());
        }
        self.hold(data, max_payload);
        // Moved out (not copied) so `decode` can borrow the decoder.
        let mut buf = std::mem::take(&mut self.pending);
        let used = self.decode(&buf, max_payload, &mut on)?;
        if self.closed || used == buf.len() {
            // An idle decoder keeps no capacity.
            return Ok(());
        }
        if used > 0 {
            if buf.capacity() - buf.len() + used > READ_CHUNK * 2 {
                // A large frame ended: keep only the bytes after it (at most
                // one read), not the frame's capacity.
                buf = buf[used..].to_vec();
                self.reserve_frame(&mut buf, 0, max_payload);
            } else {
                buf.drain(..used);
            }
        }
        self.pending = buf;
        Ok(())
    }

    /// Appends `data` to the held bytes, reserving the whole frame once its
    /// header is known (no doubling growth, no copy per read).
    fn hold(&mut self, data: &[u8], max: usize) {
        let mut buf = std::mem::take(&mut self.pending);
        if buf.is_empty() {
            buf.reserve_exact(data.len());
            buf.extend_from_slice(data);
            self.reserve_frame(&mut buf, 0, max);
        } else {
            self.reserve_frame(&mut buf, data.len(), max);
            buf.extend_from_slice(data);
        }
        #[cfg(test)]
        HELD_PEAK.with(|p| p.set(p.get().max(buf.capacity())));
        self.pending = buf;
    }

    /// Reserves room in `buf` for `more` bytes and, once the header at its
    /// front is complete, for the whole frame.
    fn reserve_frame(&self, buf: &mut Vec<u8>, more: usize, max: usize) {
        let frame = match parse_header(buf, max, self.frag.len()) {
            Ok(Some(h)) => h.head + h.len,
            // Too short or refused: `decode` reports a refusal.
            _ => 0,
        };
        let want = frame.max(buf.len() + more);
        buf.reserve_exact(want - buf.len());
    }

    /// Decodes whole frames from `buf`; returns the bytes consumed.
    fn decode(&mut self, buf: &[u8], max: usize, on: &mut impl FnMut(Event) -> bool) -> Result<usize, u16> {
        let mut pos = 0;
        while !self.closed {
            let Some(h) = parse_header(&buf[pos..], max, self.frag.len())? else { break };
            if buf.len() - pos - h.head < h.len {
                break;
            }
            let start = pos + h.head;
            let mut payload = buf[start..start + h.len].to_vec();
            unmask(&mut payload, h.mask);
            pos = start + h.len;
            let event = self.on_frame(h.fin, h.opcode, payload, max)?;
            if let Some(ev) = event {
                if !on(ev) {
                    break;
                }
            }
        }
        Ok(pos)
    }

    fn on_frame(&mut self, fin: bool, opcode: u8, payload: Vec<u8>, max: usize) -> Result<Option<Event>, u16> {
        match opcode {
            OP_PING => Ok(Some(Event::Ping(Bytes::from(payload)))),
            OP_PONG => Ok(None),
            OP_CLOSE => {
                self.closed = true;
                self.pending = Vec::new();
                self.frag = Vec::new();
                match payload.len() {
                    0 => Ok(Some(Event::Close(None))),
                    1 => Err(CLOSE_PROTOCOL),
                    _ => {
                        let code = u16::from_be_bytes([payload[0], payload[1]]);
                        if !valid_close_code(code) || std::str::from_utf8(&payload[2..]).is_err() {
                            return Err(CLOSE_PROTOCOL);
                        }
                        Ok(Some(Event::Close(Some(code))))
                    }
                }
            }
            OP_TEXT | OP_BINARY => {
                if self.frag_op.is_some() {
                    // A new message while one is unfinished.
                    return Err(CLOSE_PROTOCOL);
                }
                if fin {
                    return message(opcode, payload).map(Some);
                }
                self.frag_op = Some(opcode);
                self.frag = payload;
                Ok(None)
            }
            OP_CONT => {
                let Some(op) = self.frag_op else { return Err(CLOSE_PROTOCOL) };
                if self.frag.len() + payload.len() > max {
                    return Err(CLOSE_TOO_BIG);
                }
                let need = self.frag.len() + payload.len();
                if need > self.frag.capacity() {
                    // Amortised growth, but never past the message limit.
                    let cap = need.max(self.frag.capacity() * 2).min(max);
                    self.frag.reserve_exact(cap - self.frag.len());
                }
                self.frag.extend_from_slice(&payload);
                if !fin {
                    return Ok(None);
                }
                self.frag_op = None;
                message(op, std::mem::take(&mut self.frag)).map(Some)
            }
            _ => Err(CLOSE_PROTOCOL),
        }
    }
}

fn message(opcode: u8, payload: Vec<u8>) -> Result<Event, u16> {
    if opcode == OP_TEXT {
        String::from_utf8(payload).map(Event::Text).map_err(|_| CLOSE_INVALID_DATA)
    } else {
        Ok(Event::Binary(Bytes::from(payload)))
    }
}

/// Close codes a peer may send (RFC 6455 7.4 and the IANA registry).
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Parses a frame header; `Ok(None)` when more bytes are needed. `frag` is
/// the size of the fragmented message so far (for the size limit).
fn parse_header(b: &[u8], max: usize, frag: usize) -> Result<Option<Header>, u16> {
    if b.len() < 2 {
        return Ok(None);
    }
    let fin = b[0] & 0x80 != 0;
    if b[0] & 0x70 != 0 {
        // Reserved bits: no extension is negotiated.
        return Err(CLOSE_PROTOCOL);
    }
    let opcode = b[0] & 0x0F;
    if !matches!(opcode, OP_CONT | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG) {
        return Err(CLOSE_PROTOCOL);
    }
    let control = opcode & 0x08 != 0;
    if b[1] & 0x80 == 0 {
        // Client frames must be masked.
        return Err(CLOSE_PROTOCOL);
    }
    let short = b[1] & 0x7F;
    if control && (!fin || short > 125) {
        return Err(CLOSE_PROTOCOL);
    }
    let (len, at) = match short {
        126 => {
            if b.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([b[2], b[3]])), 4)
        }
        127 => {
            if b.len() < 10 {
                return Ok(None);
            }
            let mut n = [0u8; 8];
            n.copy_from_slice(&b[2..10]);
            let v = u64::from_be_bytes(n);
            if v >> 63 != 0 {
                return Err(CLOSE_PROTOCOL);
            }
            (v, 10)
        }
        n => (u64::from(n), 2),
    };
    let limit = if control { 125 } else { max.saturating_sub(if opcode == OP_CONT { frag } else { 0 }) };
    if len > limit as u64 {
        return Err(CLOSE_TOO_BIG);
    }
    if b.len() < at + 4 {
        return Ok(None);
    }
    let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    Ok(Some(Header { fin, opcode, mask, head: at + 4, len: len as usize }))
}

fn unmask(p: &mut [u8], mask: [u8; 4]) {
    for (i, b) in p.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Appends one unmasked server frame (FIN set).
pub(crate) fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    let n = payload.len();
    if n < 126 {
        out.push(n as u8);
    } else if n <= usize::from(u16::MAX) {
        out.push(126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// A masked client frame (tests, fuzzing and benchmarks build input with it).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(u8::from(fin) << 7 | opcode);
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n <= 65535 {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    out
}

/// Appends a text frame.
pub(crate) fn text_frame(out: &mut Vec<u8>, payload: &[u8]) {
    encode_frame(out, OP_TEXT, payload);
}

/// Appends a binary frame.
pub(crate) fn binary_frame(out: &mut Vec<u8>, payload: &[u8]) {
    encode_frame(out, OP_BINARY, payload);
}

/// Appends a pong frame.
pub(crate) fn pong_frame(out: &mut Vec<u8>, payload: &[u8]) {
    encode_frame(out, OP_PONG, payload);
}

/// Appends a close frame with `code` (none: an empty close frame).
pub(crate) fn close_frame(out: &mut Vec<u8>, code: Option<u16>) {
    match code {
        Some(c) => encode_frame(out, OP_CLOSE, &c.to_be_bytes()),
        None => encode_frame(out, OP_CLOSE, &[]),
    }
}

/// The byte stream under a WebSocket: the TCP stream itself when the
/// HTTP server hands it back, else the upgraded stream (held inline, not
/// boxed: one allocation less per connection).
enum Stream {
    Tcp(tokio::net::TcpStream),
    Upgraded(hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => $e,
            Stream::Upgraded($s) => $e,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

/// What a read round produced.
pub(crate) enum ReadOutcome {
    /// Decoded events (possibly none when only part of a frame came).
    Events(Vec<Event>),
    /// The peer closed the stream.
    Eof,
    /// A protocol violation: close with this code.
    Violation(u16),
    /// The stream failed.
    Failed,
}

/// A server WebSocket over a byte stream.
pub(crate) struct Conn {
    io: Stream,
    decoder: Decoder,
    max_payload: usize,
    /// The decoder holds bytes the HTTP server read past the opening
    /// request, not decoded yet.
    prefix: bool,
}

impl Conn {
    /// The WebSocket over an upgraded HTTP connection: the TCP stream
    /// itself when the server is a plain tokio TCP server (one layer and
    /// a layer less per connection), the upgraded stream otherwise.
    pub(crate) fn from_upgraded(up: hyper::upgrade::Upgraded, max_payload: usize) -> Conn {
        use hyper_util::rt::TokioIo;
        match up.downcast::<TokioIo<tokio::net::TcpStream>>() {
            Ok(parts) => Conn {
                io: Stream::Tcp(parts.io.into_inner()),
                decoder: Decoder { pending: parts.read_buf.to_vec(), ..Decoder::default() },
                max_payload,
                prefix: !parts.read_buf.is_empty(),
            },
            Err(up) => {
                Conn { io: Stream::Upgraded(TokioIo::new(up)), decoder: Decoder::new(), max_payload, prefix: false }
            }
        }
    }

    /// Waits for the next read and decodes it. Cancel-safe: nothing is
    /// lost when the future is dropped (bytes of a partial frame are in the
    /// decoder). Holds no buffer while waiting.
    pub(crate) async fn read(&mut self) -> ReadOutcome {
        poll_fn(|cx| self.poll_read(cx)).await
    }

    /// Polls for the next read and decodes it (see [`read`](Conn::read)).
    pub(crate) fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<ReadOutcome> {
        let mut events = Vec::new();
        let max = self.max_payload;
        if std::mem::take(&mut self.prefix) {
            let r = self.decoder.feed(&[], max, |ev| {
                events.push(ev);
                true
            });
            if let Err(code) = r {
                return Poll::Ready(ReadOutcome::Violation(code));
            }
            if !events.is_empty() {
                return Poll::Ready(ReadOutcome::Events(events));
            }
        }
        let mut waiting = false;
        for _ in 0..READS_PER_POLL {
            let mut stack = [0u8; READ_CHUNK];
            let mut rb = ReadBuf::new(&mut stack);
            match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                Poll::Pending => {
                    waiting = true;
                    break;
                }
                Poll::Ready(Err(_)) => return Poll::Ready(ReadOutcome::Failed),
                Poll::Ready(Ok(())) => {
                    let data = rb.filled();
                    if data.is_empty() {
                        return Poll::Ready(if events.is_empty() {
                            ReadOutcome::Eof
                        } else {
                            // Deliver what came first; the next read sees EOF again.
                            ReadOutcome::Events(events)
                        });
                    }
                    let mut closed = false;
                    let r = self.decoder.feed(data, max, |ev| {
                        closed |= matches!(ev, Event::Close(_));
                        events.push(ev);
                        true
                    });
                    if let Err(code) = r {
                        return Poll::Ready(ReadOutcome::Violation(code));
                    }
                    if closed || !events.is_empty() && data.len() < READ_CHUNK {
                        break;
                    }
                }
            }
        }
        if events.is_empty() && waiting {
            // The stream will wake the task when more comes.
            Poll::Pending
        } else {
            // Events, or a large frame still coming in: the caller polls
            // again after a turn of its loop (nothing registered a wakeup).
            Poll::Ready(ReadOutcome::Events(events))
        }
    }

    /// Writes `bytes` and flushes.
    pub(crate) async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Sends a close frame (best effort) and shuts the stream down.
    pub(crate) async fn close(&mut self, code: Option<u16>) {
        let mut out = Vec::with_capacity(4);
        close_frame(&mut out, code);
        if self.write_all(&out).await.is_ok() {
            let _ = self.io.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A masked client frame.
    fn client(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        client_frame(fin, opcode, payload, [0x11, 0x22, 0x33, 0x44])
    }

    fn decode_all(d: &mut Decoder, data: &[u8], max: usize) -> Result<Vec<Event>, u16> {
        let mut evs = Vec::new();
        d.feed(data, max, |e| {
            evs.push(e);
            true
        })?;
        Ok(evs)
    }

    #[test]
    fn text_and_binary_messages_decode() {
        let mut d = Decoder::new();
        let mut data = client(true, OP_TEXT, b"4hello");
        data.extend(client(true, OP_BINARY, &[1, 2, 3]));
        let evs = decode_all(&mut d, &data, 1000).unwrap();
        assert_eq!(evs, vec![Event::Text("4hello".into()), Event::Binary(Bytes::from_static(&[1, 2, 3]))]);
        assert!(!d.has_pending());
        assert_eq!(d.pending.capacity(), 0, "an idle decoder holds no buffer");
    }

    #[test]
    fn frames_split_at_every_byte_decode_the_same() {
        let mut data = client(true, OP_TEXT, "héllo wörld".as_bytes());
        data.extend(client(true, OP_BINARY, &vec![7u8; 300]));
        data.extend(client(true, OP_BINARY, &vec![9u8; 70_000]));
        let mut d = Decoder::new();
        let mut evs = Vec::new();
        for b in &data {
            d.feed(std::slice::from_ref(b), 100_000, |e| {
                evs.push(e);
                true
            })
            .unwrap();
        }
        assert_eq!(evs.len(), 3);
        assert_eq!(evs[0], Event::Text("héllo wörld".into()));
        assert_eq!(evs[1], Event::Binary(Bytes::from(vec![7u8; 300])));
        assert_eq!(evs[2], Event::Binary(Bytes::from(vec![9u8; 70_000])));
        assert!(!d.has_pending());
    }

    #[test]
    fn unmasked_client_frame_is_a_protocol_error() {
        let mut d = Decoder::new();
        assert_eq!(decode_all(&mut d, &[0x81, 0x02, b'4', b'x'], 1000), Err(CLOSE_PROTOCOL));
    }

    #[test]
    fn reserved_bits_and_opcodes_are_protocol_errors() {
        for first in [0xC1u8, 0xA1, 0x91, 0x83, 0x87, 0x8B, 0x8F] {
            let mut data = client(true, OP_TEXT, b"x");
            data[0] = first;
            assert_eq!(decode_all(&mut Decoder::new(), &data, 1000), Err(CLOSE_PROTOCOL), "{first:#x}");
        }
    }

    #[test]
    fn fragments_with_interleaved_control_frames() {
        let mut d = Decoder::new();
        let mut data = client(false, OP_TEXT, b"4he");
        data.extend(client(true, OP_PING, b"p"));
        data.extend(client(false, OP_CONT, b"ll"));
        data.extend(client(true, OP_PONG, b""));
        data.extend(client(true, OP_CONT, b"o"));
        let evs = decode_all(&mut d, &data, 1000).unwrap();
        assert_eq!(evs, vec![Event::Ping(Bytes::from_static(b"p")), Event::Text("4hello".into())]);
        assert_eq!(d.frag_op, None);
    }

    #[test]
    fn fragmentation_errors() {
        // A continuation without a started message.
        assert_eq!(decode_all(&mut Decoder::new(), &client(true, OP_CONT, b"x"), 100), Err(CLOSE_PROTOCOL));
        // A new message inside a fragmented one.
        let mut data = client(false, OP_TEXT, b"a");
        data.extend(client(true, OP_TEXT, b"b"));
        assert_eq!(decode_all(&mut Decoder::new(), &data, 100), Err(CLOSE_PROTOCOL));
        // A fragmented control frame.
        assert_eq!(decode_all(&mut Decoder::new(), &client(false, OP_PING, b""), 100), Err(CLOSE_PROTOCOL));
        // A control frame longer than 125 bytes.
        assert_eq!(decode_all(&mut Decoder::new(), &client(true, OP_PING, &[0; 126]), 1000), Err(CLOSE_PROTOCOL));
    }

    #[test]
    fn ping_is_reported_with_its_payload() {
        let evs = decode_all(&mut Decoder::new(), &client(true, OP_PING, b"abc"), 10).unwrap();
        assert_eq!(evs, vec![Event::Ping(Bytes::from_static(b"abc"))]);
        let mut out = Vec::new();
        pong_frame(&mut out, b"abc");
        assert_eq!(out, [0x8A, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn close_frames() {
        let evs = decode_all(&mut Decoder::new(), &client(true, OP_CLOSE, &1001u16.to_be_bytes()), 10).unwrap();
        assert_eq!(evs, vec![Event::Close(Some(1001))]);
        let evs = decode_all(&mut Decoder::new(), &client(true, OP_CLOSE, b""), 10).unwrap();
        assert_eq!(evs, vec![Event::Close(None)]);
        // Registered codes are taken; reserved ones (never sent on the wire) are not.
        for (code, ok) in [(1012u16, true), (4999, true), (1004, false), (1006, false), (1015, false), (2999, false)] {
            let r = decode_all(&mut Decoder::new(), &client(true, OP_CLOSE, &code.to_be_bytes()), 10);
            assert_eq!(r.is_ok(), ok, "{code}");
        }
        // One byte, a reserved code, invalid UTF-8 reason.
        assert_eq!(decode_all(&mut Decoder::new(), &client(true, OP_CLOSE, &[3]), 10), Err(CLOSE_PROTOCOL));
        assert_eq!(
            decode_all(&mut Decoder::new(), &client(true, OP_CLOSE, &1005u16.to_be_bytes()), 10),
            Err(CLOSE_PROTOCOL)
        );
        assert_eq!(decode_all(&mut Decoder::new(), &client(true, OP_CLOSE, &[3, 232, 0xFF]), 10), Err(CLOSE_PROTOCOL));
        // Nothing after a close frame is decoded.
        let mut data = client(true, OP_CLOSE, &1000u16.to_be_bytes());
        data.extend(client(true, OP_TEXT, b"late"));
        let mut d = Decoder::new();
        assert_eq!(decode_all(&mut d, &data, 10).unwrap(), vec![Event::Close(Some(1000))]);
        assert!(!d.has_pending());
        let mut out = Vec::new();
        close_frame(&mut out, Some(1001));
        assert_eq!(out, [0x88, 2, 0x03, 0xE9]);
    }

    #[test]
    fn too_big_messages_are_refused() {
        assert_eq!(decode_all(&mut Decoder::new(), &client(true, OP_TEXT, &[b'a'; 11]), 10), Err(CLOSE_TOO_BIG));
        // The limit is on the whole fragmented message.
        let mut data = client(false, OP_BINARY, &[0; 6]);
        data.extend(client(true, OP_CONT, &[0; 6]));
        assert_eq!(decode_all(&mut Decoder::new(), &data, 10), Err(CLOSE_TOO_BIG));
        // Refused from the header alone, before the payload arrives.
        let head = &client(true, OP_BINARY, &vec![0; 70_000])[..14];
        assert_eq!(decode_all(&mut Decoder::new(), head, 65_536), Err(CLOSE_TOO_BIG));
        // A 64-bit length with the top bit set.
        let mut h = vec![0x82, 0xFF];
        h.extend_from_slice(&u64::MAX.to_be_bytes());
        h.extend_from_slice(&[0; 4]);
        assert_eq!(decode_all(&mut Decoder::new(), &h, usize::MAX), Err(CLOSE_PROTOCOL));
    }

    #[test]
    fn invalid_utf8_text_is_invalid_data() {
        assert_eq!(decode_all(&mut Decoder::new(), &client(true, OP_TEXT, &[0xC3, 0x28]), 10), Err(CLOSE_INVALID_DATA));
        // A code point split across fragments is fine.
        let mut data = client(false, OP_TEXT, &[0xC3]);
        data.extend(client(true, OP_CONT, &[0xA9]));
        assert_eq!(decode_all(&mut Decoder::new(), &data, 10).unwrap(), vec![Event::Text("é".into())]);
    }

    #[test]
    fn sixty_four_bit_lengths_round_trip() {
        let payload = vec![5u8; 70_000];
        let evs = decode_all(&mut Decoder::new(), &client(true, OP_BINARY, &payload), 100_000).unwrap();
        assert_eq!(evs, vec![Event::Binary(Bytes::from(payload.clone()))]);
        let mut out = Vec::new();
        binary_frame(&mut out, &payload);
        assert_eq!(&out[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(out.len(), 10 + 70_000);
        out.clear();
        text_frame(&mut out, &[b'a'; 200]);
        assert_eq!(&out[..4], &[0x81, 126, 0, 200]);
    }

    #[test]
    fn stopping_keeps_the_rest_for_the_next_call() {
        let mut data = client(true, OP_TEXT, b"5");
        data.extend(client(true, OP_TEXT, b"40"));
        let mut d = Decoder::new();
        let mut first = Vec::new();
        d.feed(&data, 10, |e| {
            first.push(e);
            false
        })
        .unwrap();
        assert_eq!(first, vec![Event::Text("5".into())]);
        assert!(d.has_pending());
        assert_eq!(decode_all(&mut d, &[], 10).unwrap(), vec![Event::Text("40".into())]);
        assert!(!d.has_pending());
    }

    /// Bytes the decoder copies, moves or allocates while a 4 MB frame
    /// arrives in 8 KB reads: linear in the frame (a copy of the unconsumed
    /// bytes on every read would be about 256 times the frame).
    #[test]
    fn a_large_frame_in_small_reads_costs_linear_work() {
        const SIZE: usize = 4 << 20;
        let data = client(true, OP_BINARY, &vec![0x5A; SIZE]);
        let mut d = Decoder::new();
        let mut got = 0;
        let before = counting::take();
        for c in data.chunks(READ_CHUNK) {
            d.feed(c, SIZE, |e| {
                if let Event::Binary(b) = e {
                    got += b.len();
                }
                true
            })
            .unwrap();
        }
        let work = counting::take() - before;
        assert_eq!(got, SIZE);
        assert!(!d.has_pending());
        assert!(work <= 4 * SIZE, "{work} bytes allocated for a {SIZE} B frame");
    }

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    /// Counts the bytes allocated (and reallocated) by the thread that asks.
    mod counting {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        struct Counting;

        thread_local! {
            static BYTES: Cell<usize> = const { Cell::new(0) };
        }

        fn add(n: usize) {
            let _ = BYTES.try_with(|b| b.set(b.get() + n));
        }

        // SAFETY: every call forwards to the system allocator unchanged;
        // the counter is a const-initialised thread local (no allocation).
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, l: Layout) -> *mut u8 {
                add(l.size());
                // SAFETY: the caller's contract is passed on.
                unsafe { System.alloc(l) }
            }
            unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
                // SAFETY: the caller's contract is passed on.
                unsafe { System.dealloc(p, l) }
            }
            unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
                add(l.size());
                // SAFETY: the caller's contract is passed on.
                unsafe { System.alloc_zeroed(l) }
            }
            unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
                // A realloc may copy the old bytes: counted as a new block.
                add(new);
                // SAFETY: the caller's contract is passed on.
                unsafe { System.realloc(p, l, new) }
            }
        }

        #[global_allocator]
        static A: Counting = Counting;

        /// Bytes allocated by this thread so far.
        pub(super) fn take() -> usize {
            BYTES.with(Cell::get)
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16), max in 0usize..200) {
            let mut d = Decoder::new();
            for c in &chunks {
                if d.feed(c, max, |_| true).is_err() {
                    break;
                }
            }
        }

        #[test]
        fn valid_frames_in_arbitrary_chunks_decode(msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8), cut in 1usize..50) {
            let mut data = Vec::new();
            for m in &msgs {
                data.extend(client(true, OP_BINARY, m));
            }
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for c in data.chunks(cut) {
                d.feed(c, 1000, |e| { got.push(e); true }).unwrap();
            }
            let want: Vec<Event> = msgs.iter().map(|m| Event::Binary(Bytes::from(m.clone()))).collect();
            prop_assert_eq!(got, want);
            prop_assert!(!d.has_pending());
        }
    }
}
