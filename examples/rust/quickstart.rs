//! The 30-second tour: a namespace, three clients, a room, a broadcast
//! that skips its sender, a private message, and a disconnect.
//!
//! Run: `cargo run --example quickstart`

use roomcast::{Config, DisconnectReason, Engine, Handshake, Payload};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::new(Config::default());
    let chat = engine.of("/chat")?;

    // The host's transport would do this once per client link.
    let mut clients = Vec::new();
    for name in ["ana", "ben", "cy"] {
        let (conn, outbox) = engine.connect();
        let socket = conn.join_namespace("/chat", Handshake::new())?;
        socket.set_data(Payload::text(name));
        clients.push((name, conn, outbox, socket));
    }
    let (ana, ben) = (&clients[0].3, &clients[1].3);
    ana.join("lobby")?;
    ben.join("lobby")?;

    // ana talks to the lobby: ben hears it, ana does not, cy is not there.
    let report =
        ana.to("lobby").emit("chat message", Payload::json(&serde_json::json!({"from": "ana", "text": "hi"}))?)?;
    println!("lobby message: {} recipient(s), {} queued", report.recipients, report.queued);

    // A private message through ben's own-id room.
    chat.to(ben.id()).emit("dm", "just for you")?;

    // Everyone in the namespace.
    chat.emit("announcement", "server restarts at noon")?;

    for (name, _conn, outbox, _socket) in &clients {
        let mut batch = Vec::new();
        outbox.try_recv_many(&mut batch, 64)?;
        for msg in batch {
            let text = msg.payload().and_then(|p| p.as_str()).unwrap_or("");
            println!("{name} <- {} {}", msg.event_name().unwrap_or("?"), text);
        }
    }

    clients[1].1.close(DisconnectReason::TransportClose);
    println!("after ben leaves: lobby has {} member(s); stats {:?}", chat.room_size("lobby"), engine.stats());
    Ok(())
}
