// Interop tests: the official engine.io-client (v6, protocol 4) against
// examples/eio_echo.rs, the public Engine.IO layer's echo server.
//
// node eio.mjs URL websocket|polling|polling-only (see harness.mjs); the
// results line is "eio-<mode> results: P passed, F failed".

import { Socket } from "engine.io-client";
import assert from "node:assert/strict";
import { mode, once, run, test, transports, url } from "./harness.mjs";

const sockets = [];
function client(extra = {}) {
  const s = new Socket(url, { transports, ...extra });
  sockets.push(s);
  return s;
}

async function opened(s) {
  if (s.readyState !== "open") await once(s, "open");
  // With upgrades on, wait until the upgrade is done (bounded).
  if (mode === "polling") {
    if (s.transport.name !== "websocket") await once(s, "upgrade");
    assert.equal(s.transport.name, "websocket");
  }
  return s;
}

async function request(s, data) {
  const reply = once(s, "message");
  s.send(data);
  const [m] = await reply;
  return m;
}

test("handshake and text echo", async () => {
  const s = await opened(client());
  assert.ok(s.id && s.id.length > 0);
  assert.equal(await request(s, "hello"), "hello");
  assert.equal(await request(s, "héllo ✓ 🎉"), "héllo ✓ 🎉");
});

test("binary echo", async () => {
  const s = await opened(client());
  const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
  const m = await request(s, bytes);
  assert.deepEqual(new Uint8Array(m), bytes);
});

test("many messages arrive in order", async () => {
  const s = await opened(client());
  const n = 500;
  const got = [];
  const done = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`got ${got.length} of ${n}`)), 10000);
    s.on("message", (m) => {
      got.push(m);
      if (got.length === n) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  for (let i = 0; i < n; i++) s.send(`m${i}`);
  await done;
  assert.deepEqual(got, Array.from({ length: n }, (_, i) => `m${i}`));
});

test("transport as expected (upgrade seen by the server)", async () => {
  const s = await opened(client());
  const want = mode === "polling-only" ? "polling" : "upgraded";
  // A session opened on WebSocket never upgrades.
  const expected = mode === "websocket" ? "polling" : want;
  assert.equal(await request(s, "upgraded?"), expected);
  assert.equal(s.transport.name, mode === "polling-only" ? "polling" : "websocket");
});

test("handshake query reaches the server", async () => {
  const s = await opened(client({ query: { q: "v42" } }));
  assert.equal(await request(s, "query"), "v42");
});

test("server close reaches the client", async () => {
  const s = await opened(client());
  const closed = once(s, "close");
  s.send("close me");
  const [reason] = await closed;
  assert.equal(reason, "transport close");
});

test("client close", async () => {
  const s = await opened(client());
  const closed = once(s, "close");
  s.close();
  const [reason] = await closed;
  assert.equal(reason, "forced close");
});

test("heartbeat keeps a session open past the ping interval", async () => {
  const s = await opened(client());
  let closed = false;
  s.on("close", () => (closed = true));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(closed, false);
  assert.equal(await request(s, "still here"), "still here");
});

await run(`eio-${mode}`, () => {
  for (const s of sockets.splice(0)) s.close();
});
