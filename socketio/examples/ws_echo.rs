//! A WebSocket echo host on the crate's own WebSocket layer, on loopback,
//! for the Autobahn test suite (`scripts/autobahn.sh`).
//!
//! ```text
//! cargo run --release -p roomcast-socketio --features fuzzing --example ws_echo -- [PORT]
//! ```

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(9001);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("echo on ws://{}", listener.local_addr()?);
    // Section 9 sends messages of up to 16 MB.
    roomcast_socketio::fuzzing::ws_echo(listener, 64 << 20).await
}
