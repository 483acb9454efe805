//! Socket.IO: a packet, its arguments, and attachment reassembly under a
//! limit (the bytes after the first NUL are cut into attachments).
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use roomcast_socketio::sio::{self, Reassembly};

fuzz_target!(|data: &[u8]| {
    let (text, rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let Ok(p) = sio::decode(&text, 10) else { return };
    let _ = p.event_args();
    if p.kind.is_binary() {
        let limit = 4096;
        let Ok(mut r) = Reassembly::new(p, text.len(), limit) else { return };
        for part in rest.chunks(97) {
            match r.push(Bytes::copy_from_slice(part)) {
                Ok(true) | Err(_) => break,
                Ok(false) => assert!(r.bytes() <= limit),
            }
        }
    }
});
