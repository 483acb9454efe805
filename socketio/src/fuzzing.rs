//! The crate's internal parsers of network bytes, reachable from outside
//! for the fuzz targets in `fuzz/` and the decoder benchmark (feature
//! `fuzzing`). Not a stable API. The public parsers ([`crate::eio`],
//! [`crate::sio`]) are fuzzed through their own API.

use std::collections::HashMap;

use crate::ws;

/// The server's WebSocket frame decoder.
#[derive(Debug, Default)]
pub struct WsDecoder(ws::Decoder);

/// What [`WsDecoder::feed`] decoded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Complete messages (text and binary).
    pub messages: usize,
    /// Their payload bytes.
    pub bytes: usize,
    /// Pings and close frames.
    pub control: usize,
}

impl WsDecoder {
    /// A decoder holding nothing.
    pub fn new() -> WsDecoder {
        WsDecoder::default()
    }

    /// Decodes `data` after what is held; `Err` is the close code of a
    /// protocol violation.
    pub fn feed(&mut self, data: &[u8], max_payload: usize) -> Result<Decoded, u16> {
        let mut d = Decoded::default();
        self.0.feed(data, max_payload, |ev| {
            match ev {
                ws::Event::Text(t) => {
                    d.messages += 1;
                    d.bytes += t.len();
                }
                ws::Event::Binary(b) => {
                    d.messages += 1;
                    d.bytes += b.len();
                }
                ws::Event::Ping(_) | ws::Event::Close(_) => d.control += 1,
            }
            true
        })?;
        Ok(d)
    }

    /// Heap bytes the decoder holds (partial frame and message capacity).
    pub fn held(&self) -> usize {
        self.0.held()
    }
}

/// A masked client frame (`opcode` 1 text, 2 binary, 0 continuation, 8
/// close, 9 ping, 10 pong).
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    ws::client_frame(fin, opcode, payload, mask)
}

/// Decodes a query string as the HTTP handler does.
pub fn query(q: &str) -> HashMap<String, String> {
    crate::query::parse(q)
}
