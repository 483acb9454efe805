// Interop tests: the official socket.io-client against examples/interop_server.rs.
//
// node interop.mjs URL websocket|polling|polling-only (see harness.mjs); the
// results line is "node-<mode> results: P passed, F failed".

import { io, Manager } from "socket.io-client";
import assert from "node:assert/strict";
import { mode, once, run, test, transports, url } from "./harness.mjs";

const opts = (extra = {}) => ({ transports, forceNew: true, reconnection: false, ...extra });

const sockets = [];
function client(nsp = "/", extra = {}) {
  const s = io(url + nsp, opts(extra));
  sockets.push(s);
  return s;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function connected(s) {
  if (!s.connected) await once(s, "connect");
  return s;
}

test("connect with auth", async () => {
  const s = await connected(client("/admin", { auth: { token: "s3cret" } }));
  assert.ok(s.id && s.id.length > 0);
  assert.deepEqual(await s.timeout(2000).emitWithAck("echo", { a: 1 }), { a: 1 });
});

test("middleware rejection is a connect_error with data", async () => {
  const s = client("/admin", { auth: { token: "wrong" } });
  const [err] = await once(s, "connect_error");
  assert.equal(err.message, "not authorized");
  assert.deepEqual(err.data, { reason: "bad token" });
  assert.equal(s.connected, false);
});

test("invalid namespace", async () => {
  const s = client("/nowhere");
  const [err] = await once(s, "connect_error");
  assert.equal(err.message, "Invalid namespace");
});

test("two namespaces on one connection", async () => {
  const m = new Manager(url, { transports, reconnection: false });
  const a = m.socket("/");
  const b = m.socket("/admin", { auth: { token: "s3cret" } });
  sockets.push(a, b);
  await Promise.all([connected(a), connected(b)]);
  assert.equal(a.io, b.io);
  assert.equal(a.io.engine, b.io.engine);
  const [x, y] = await Promise.all([
    a.timeout(2000).emitWithAck("echo", "root"),
    b.timeout(2000).emitWithAck("echo", "admin"),
  ]);
  assert.deepEqual([x, y], ["root", "admin"]);
  if (mode === "polling-only") assert.equal(m.engine.transport.name, "polling");
  if (mode === "polling") {
    // Started on polling; the upgrade moves it to WebSocket.
    for (let i = 0; i < 50 && m.engine.transport.name !== "websocket"; i++) await sleep(50);
    assert.equal(m.engine.transport.name, "websocket");
    assert.equal(await a.timeout(2000).emitWithAck("echo", "after upgrade"), "after upgrade");
  }
});

test("join a room through an event, broadcast to the room except the sender", async () => {
  const room = `room-${mode}`;
  const [s1, s2, s3] = await Promise.all([client(), client(), client()].map(connected));
  const outsider = await connected(client());
  for (const s of [s1, s2, s3]) assert.equal(await s.timeout(2000).emitWithAck("join", room), "joined");
  const got = [];
  for (const [i, s] of [s1, s2, s3, outsider].entries()) s.on("room message", (m) => got.push([i, m]));
  s1.emit("to room", { room, msg: { text: "hi" } });
  await sleep(400);
  got.sort((a, b) => a[0] - b[0]);
  assert.deepEqual(got, [[1, { text: "hi" }], [2, { text: "hi" }]]);
});

test("acks in both directions, with timeouts", async () => {
  const s = await connected(client());
  // Client -> server.
  assert.deepEqual(await s.timeout(2000).emitWithAck("echo", [1, "two"]), [1, "two"]);
  await assert.rejects(s.timeout(200).emitWithAck("reasons-not-handled", 1), /operation has timed out/);
  // Server -> client: the server asks, the client answers through its ack.
  s.on("question", (q, cb) => {
    if (q !== "stay silent") cb(`answer to ${q}`);
  });
  assert.equal(await s.timeout(3000).emitWithAck("ask", "life"), "answer to life");
  // Server -> client timeout: the client never answers.
  assert.equal(await s.timeout(3000).emitWithAck("ask", "stay silent"), "timeout");
});

test("binary payloads in both directions", async () => {
  const s = await connected(client());
  const buf = Buffer.from([0, 1, 2, 253, 254, 255]);
  s.emit("binary", buf);
  const [back] = await once(s, "binary");
  assert.ok(Buffer.isBuffer(back));
  assert.deepEqual(Buffer.from(back), buf);
  // Nested binary and several arguments round-trip exactly.
  const reply = await s.timeout(2000).emitWithAck("echo", { file: buf, n: 1, empty: Buffer.alloc(0) });
  assert.deepEqual(Buffer.from(reply.file), buf);
  assert.equal(reply.n, 1);
  assert.equal(Buffer.from(reply.empty).length, 0);
  s.emit("echo", "a", Buffer.from("b"), 3);
  const args = await once(s, "echo");
  assert.equal(args.length, 3);
  assert.equal(args[0], "a");
  assert.deepEqual(Buffer.from(args[1]), Buffer.from("b"));
  assert.equal(args[2], 3);
});

test("server-side disconnect", async () => {
  const s = await connected(client());
  s.emit("disconnect me");
  const [reason] = await once(s, "disconnect");
  assert.equal(reason, "io server disconnect");
});

test("client disconnect and reconnect", async () => {
  const s = await connected(client());
  const first = s.id;
  s.disconnect();
  s.connect();
  await once(s, "connect");
  assert.notEqual(s.id, first);
  assert.equal(await s.timeout(2000).emitWithAck("echo", "again"), "again");
  const reasons = await s.timeout(2000).emitWithAck("reasons");
  assert.ok(reasons.includes(`${first} client namespace disconnect`), JSON.stringify(reasons));
});

test("heartbeat timeout when the client stops answering pings", async () => {
  const s = await connected(client());
  const id = s.id;
  if (mode === "polling") {
    for (let i = 0; i < 50 && s.io.engine.transport.name !== "websocket"; i++) await sleep(50);
  }
  // Swallow every packet the client would send: pongs included.
  // (engine.io-client 6.x sends pongs through its `_sendPacket`.)
  s.io.engine._sendPacket = () => {};
  const [reason] = await once(s, "disconnect", 5000);
  assert.ok(["transport close", "ping timeout"].includes(reason), reason);
  const observer = await connected(client());
  const reasons = await observer.timeout(2000).emitWithAck("reasons");
  assert.ok(reasons.includes(`${id} ping timeout`), JSON.stringify(reasons));
});

// Connection state recovery (namespaces /recover, kept 5 s, and
// /recover-short, 300 ms). `engine.close()` drops the transport the way a
// network change does (the server sees "transport close"); the client
// reconnects by itself and presents its pid and last offset.
const reconnecting = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200, randomizationFactor: 0 };

/** Collects the numbers of `m` events (the offset, a string, is the last argument). */
function numbers(s) {
  const got = [];
  s.on("m", (n, offset) => {
    assert.equal(typeof offset, "string", "the offset is appended as the last argument");
    got.push(n);
  });
  got.until = async (len, ms = 4000) => {
    const end = Date.now() + ms;
    while (got.length < len && Date.now() < end) await sleep(10);
    assert.equal(got.length, len, `got ${JSON.stringify(got)}`);
  };
  return got;
}

async function dropAndReconnect(s) {
  const back = once(s, "connect", 6000);
  s.io.engine.close();
  await back;
}

test("connection state recovery: a short drop restores id, rooms, data and the missed events once, in order", async () => {
  const room = `rec-${mode}`;
  const a = await connected(client("/recover", reconnecting));
  assert.equal(a.recovered, false);
  const got = numbers(a);
  assert.equal(await a.timeout(2000).emitWithAck("join", room), "joined");
  assert.equal(await a.timeout(2000).emitWithAck("set", "ada"), "set");
  const b = await connected(client("/recover"));
  assert.equal(await b.timeout(2000).emitWithAck("push", { room, from: 0, n: 3 }), "pushed");
  await got.until(3);
  const id = a.id;
  const gone = once(a, "disconnect");
  const back = once(a, "connect", 6000);
  a.io.engine.close();
  await gone;
  // While a is away (its reconnect waits 100 ms).
  assert.equal(await b.timeout(2000).emitWithAck("push", { room, from: 3, n: 5 }), "pushed");
  await back;
  assert.equal(a.recovered, true);
  assert.equal(a.id, id);
  assert.equal(await b.timeout(2000).emitWithAck("push", { room, from: 8, n: 1 }), "pushed");
  await got.until(9);
  assert.deepEqual([...got], [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const who = await a.timeout(2000).emitWithAck("whoami");
  assert.deepEqual(who, { id, rooms: [id, room], data: "ada", recovered: true });
});

test("connection state recovery: no event before the drop, then a second and third drop", async () => {
  const room = `rec2-${mode}`;
  const a = await connected(client("/recover", reconnecting));
  const got = numbers(a);
  await a.timeout(2000).emitWithAck("join", room);
  const id = a.id;
  await dropAndReconnect(a); // it never received an event: no offset to present
  assert.equal(a.recovered, true);
  const b = await connected(client("/recover"));
  for (let round = 0; round < 2; round++) {
    await b.timeout(2000).emitWithAck("push", { room, from: round * 2, n: 1 });
    await got.until(round * 2 + 1);
    const back = once(a, "connect", 6000);
    a.io.engine.close();
    await b.timeout(2000).emitWithAck("push", { room, from: round * 2 + 1, n: 1 });
    await back;
    assert.equal(a.recovered, true, `drop ${round + 2}`);
    assert.equal(a.id, id);
  }
  await got.until(4);
  assert.deepEqual([...got], [0, 1, 2, 3]);
});

test("connection state recovery: a reconnect after the window gets a fresh socket", async () => {
  const a = await connected(client("/recover-short", { ...reconnecting, reconnectionDelay: 900, reconnectionDelayMax: 900 }));
  await a.timeout(2000).emitWithAck("join", "late");
  const id = a.id;
  await dropAndReconnect(a);
  assert.equal(a.recovered, false);
  assert.notEqual(a.id, id);
  const who = await a.timeout(2000).emitWithAck("whoami");
  assert.deepEqual(who.rooms, [a.id], "a fresh socket: no rooms of the old one");
});

await run(`node-${mode}`, () => {
  while (sockets.length) sockets.pop().disconnect();
});
