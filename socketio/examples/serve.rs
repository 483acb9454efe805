//! The README's "serve Socket.IO clients in 10 lines", kept compiling here:
//! `cargo run -p roomcast-socketio --example serve`, then connect a
//! Socket.IO client to http://127.0.0.1:3000.

use roomcast::{Config, Engine};
use roomcast_socketio::{Cors, SocketIoServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::new(Config::default());
    engine.of("/")?.on("chat message", |socket, ev, _ack| {
        socket.broadcast().emit("chat message", ev.payload().clone())?; // everyone but the sender
        Ok(())
    })?;
    SocketIoServer::new(engine).cors(Cors::any()).serve("127.0.0.1:3000").await?;
    Ok(())
}
