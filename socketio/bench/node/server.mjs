// Baseline for scripts/bench-socketio.sh: Node's socket.io server with the
// same `go` handler as socketio/examples/bench_fanout.rs. Prints
// "listening on 127.0.0.1:PORT".
import { createServer } from "node:http";
import { Server } from "socket.io";

const http = createServer();
const io = new Server(http, { serveClient: false });
io.on("connection", (socket) => {
  socket.on("go", ({ count, size }) => {
    const text = "x".repeat(size);
    for (let i = 0; i < count; i++) io.emit("m", [i, text]);
  });
});
http.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  console.log(`listening on 127.0.0.1:${http.address().port}`);
});
