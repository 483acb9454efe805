// Drives a Socket.IO server with the official JavaScript client and prints
// what each client saw, as one JSON object on stdout.
//   node drive.cjs <scenario> <url> [websocket|polling]
// socket.io-client is resolved through NODE_PATH (the test points it at
// socketio/tests/interop/node/node_modules).
"use strict";
const { io } = require("socket.io-client");

const [scenario, url, transport = "websocket"] = process.argv.slice(2);
const transports = transport === "polling" ? ["polling"] : ["websocket"];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function client(opts = {}, nsp = "") {
  const seen = [];
  const s = io(url + nsp, { transports, forceNew: true, reconnection: false, ...opts });
  s.onAny((event, ...args) => {
    // Server ticks are timing-dependent: left out of the transcript.
    if (!(args[0] && args[0].data === "tick")) seen.push([event, ...args]);
  });
  s.on("connect_error", (e) => seen.push(["connect_error", e.message, e.data ?? null]));
  s.on("disconnect", (reason) => seen.push(["disconnect", reason]));
  return { s, seen };
}

function connected(c) {
  return new Promise((resolve, reject) => {
    if (c.s.connected) return resolve();
    c.s.once("connect", resolve);
    c.s.once("connect_error", reject);
  });
}

const scenarios = {
  async rooms() {
    const a = client();
    const b = client();
    await connected(a);
    await connected(b);
    await sleep(150);
    const step = async (c, ...args) => {
      c.s.emit(...args);
      await sleep(150);
    };
    await step(a, "my_event", { data: "hi" });
    await step(a, "join", { room: "r" });
    await step(b, "join", { room: "r" });
    await step(b, "my_room_event", { room: "r", data: "to r" });
    await step(a, "my_broadcast_event", { data: "to all" });
    await step(a, "leave", { room: "r" });
    await step(b, "my_room_event", { room: "r", data: "to r again" });
    await step(b, "close room", { room: "r" });
    await step(b, "my_room_event", { room: "r", data: "nobody" });
    // The background task reaches everyone.
    const ticks = await new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), 3000);
      a.s.on("my_response", (m) => m.data === "tick" && (clearTimeout(t), resolve(true)));
    });
    await step(a, "disconnect request");
    b.s.disconnect();
    return { a: a.seen, b: b.seen, ticks };
  },

  async greet() {
    const bad = client({ auth: { token: "wrong" } });
    await connected(bad).catch(() => {});
    const c = client({ auth: { token: "open sesame", name: "ann" } });
    await connected(c);
    await sleep(100);
    const sum = await c.s.timeout(3000).emitWithAck("add", 2, 3);
    const n1 = await c.s.timeout(3000).emitWithAck("count");
    const n2 = await c.s.timeout(3000).emitWithAck("count");
    const x = client({}, "/shout");
    const y = client({}, "/shout");
    await connected(x);
    await connected(y);
    await sleep(100);
    const ok = await x.s.timeout(3000).emitWithAck("shout", "hey");
    await sleep(150);
    for (const s of [c, x, y]) s.s.disconnect();
    const norm = (seen) => seen.map((e) => (e[0] === "ready" ? ["ready", e[1].rooms.length] : e));
    return { bad: bad.seen, c: c.seen, sum, n1, n2, ok, x: norm(x.seen), y: norm(y.seen) };
  },

  async latency() {
    const c = client();
    await connected(c);
    const argCounts = [];
    for (let i = 0; i < 20; i++) {
      const args = await new Promise((resolve) => {
        c.s.once("pong_from_server", (...args) => resolve(args));
        c.s.emit("ping_from_client");
      });
      argCounts.push(args.length);
    }
    c.s.disconnect();
    return { argCounts, seen: c.seen.filter((e) => e[0] !== "pong_from_server") };
  },
};

(async () => {
  const timer = setTimeout(() => {
    console.error("timed out");
    process.exit(2);
  }, 25000);
  try {
    const out = await scenarios[scenario]();
    console.log(JSON.stringify(out));
    clearTimeout(timer);
    process.exit(0);
  } catch (e) {
    console.error(e && e.stack ? e.stack : String(e));
    process.exit(1);
  }
})();
