// The Node socket.io reference server of the head-to-head benchmark: the chat
// handlers of examples/chat/PROTOCOL.md (namespace "/"), WebSocket only.
// node server.js [port]
const { Server } = require("socket.io");
const port = Number(process.argv[2] || 3000);
const io = new Server(port, { transports: ["websocket"], serveClient: false });
const key = (room) => "#" + room;
const leave = (s) => {
  const room = s.data.room;
  if (room == null) return;
  s.data.room = null;
  s.leave(key(room));
  s.to(key(room)).emit("user left", { id: s.id, name: s.data.name, room });
};
io.use((s, next) => {
  const name = String((s.handshake.auth && s.handshake.auth.name) || "").trim();
  if (!name || name.length > 24) return next(new Error("name required"));
  s.data.name = name;
  s.data.room = null;
  next();
});
io.on("connection", (s) => {
  s.on("join", ({ room } = {}, ack) => {
    room = String(room || "").trim();
    if (!room || room.length > 32) return ack && ack({ error: "room names are 1 to 32 characters" });
    if (s.data.room !== room) {
      leave(s);
      s.join(key(room));
      s.data.room = room;
      s.to(key(room)).emit("user joined", { id: s.id, name: s.data.name, room });
    }
    const members = [...(io.of("/").adapter.rooms.get(key(room)) || [])].map((id) => ({ id, name: io.of("/").sockets.get(id).data.name }));
    ack && ack({ room, members });
  });
  s.on("leave", (_, ack) => { leave(s); ack && ack({ room: null }); });
  s.on("message", ({ text } = {}) => {
    if (s.data.room == null || typeof text !== "string" || !text || text.length > 1000) return;
    s.to(key(s.data.room)).emit("message", { id: s.id, name: s.data.name, room: s.data.room, text, time: Date.now() });
  });
  s.on("typing", ({ typing } = {}) => s.data.room != null && s.to(key(s.data.room)).emit("typing", { id: s.id, name: s.data.name, typing: !!typing }));
  s.on("private message", ({ to, text } = {}, ack) => {
    const ok = io.of("/").sockets.has(to) && typeof text === "string" && !!text && text.length <= 1000;
    if (ok) io.to(to).emit("private message", { id: s.id, name: s.data.name, text, time: Date.now() });
    ack && ack({ ok });
  });
  s.on("list rooms", (_, ack) => {
    const rooms = [...io.of("/").adapter.rooms].filter(([k]) => k.startsWith("#")).map(([k, v]) => ({ name: k.slice(1), members: v.size }));
    ack && ack(rooms.sort((a, b) => (a.name < b.name ? -1 : 1)));
  });
  s.on("disconnect", () => leave(s));
});
console.log(`listening on *:${port}`);
