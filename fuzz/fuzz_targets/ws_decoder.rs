//! The WebSocket frame decoder: the input is split into reads at sizes
//! taken from its first bytes; the decoder must not panic and must hold at
//! most a frame (limit + header) plus one read and its slack.
#![no_main]
use libfuzzer_sys::fuzz_target;
use roomcast_socketio::fuzzing::WsDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&[a, b], rest)) = data.split_first_chunk::<2>() else { return };
    let max = usize::from(a) * 64;
    let cut = usize::from(b) + 1;
    let mut d = WsDecoder::new();
    for chunk in rest.chunks(cut) {
        let r = d.feed(chunk, max);
        assert!(d.held() <= 2 * (max + 14) + chunk.len() + 2 * 8192, "held {}", d.held());
        if let Err(code) = r {
            assert!(matches!(code, 1002 | 1007 | 1009), "{code}");
            return;
        }
    }
});
