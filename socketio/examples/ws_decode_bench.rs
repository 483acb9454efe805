//! CPU cost of decoding client WebSocket frames of different sizes, fed in
//! 8 KB reads as the server reads a socket: milliseconds per MB of frames.
//!
//! ```text
//! cargo run --release -p roomcast-socketio --features fuzzing --example ws_decode_bench
//! ```
//!
//! A decoder that is linear in its input costs about the same per MB
//! whatever the frame size; one that copies what it holds on every read
//! costs more per MB the larger the frame.

use std::time::Instant;

use roomcast_socketio::fuzzing::{client_frame, WsDecoder};

/// The server's read size.
const READ: usize = 8192;

fn main() {
    println!("| frame size | frames | MB decoded | ms per MB |");
    println!("| ---: | ---: | ---: | ---: |");
    for (size, frames) in [(64 << 10, 512), (1 << 20, 32), (16 << 20, 2)] {
        let frame = client_frame(true, 2, &vec![0xA5; size], [1, 2, 3, 4]);
        let mut best = f64::MAX;
        // Best of 3 runs; each decodes `frames` frames (32 MB in all).
        for _ in 0..3 {
            let mut d = WsDecoder::new();
            let mut bytes = 0;
            let t = Instant::now();
            for _ in 0..frames {
                for c in frame.chunks(READ) {
                    bytes += d.feed(c, size).expect("valid frame").bytes;
                }
            }
            let el = t.elapsed().as_secs_f64();
            assert_eq!(bytes, size * frames);
            best = best.min(el * 1e3 / (bytes as f64 / (1 << 20) as f64));
        }
        println!("| {} KB | {frames} | {} | {best:.2} |", size >> 10, (size * frames) >> 20);
    }
}
