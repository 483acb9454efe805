//! Engine.IO: a polling POST body and a WebSocket text packet.
#![no_main]
use libfuzzer_sys::fuzz_target;
use roomcast_socketio::eio;

fuzz_target!(|data: &[u8]| {
    if let Ok(packets) = eio::decode_payload(data) {
        assert!(!packets.is_empty());
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = eio::decode_text(s);
    }
});
