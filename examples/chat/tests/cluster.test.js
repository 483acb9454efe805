// Browser tests of the chat example running as two nodes on one Redis: a
// tab on each node, messages, member lists, private messages and the admin
// view cross between them. CHAT_SERVER is the roomcast chat's command line
// (a JSON array, without --port); REDIS_URL the Redis both nodes share.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { io as connectClient } from "socket.io-client";
import {
  WAIT,
  freePort,
  startServer,
  stopServer,
  openPage,
  joinByForm,
  send,
  waitLine,
  countLines,
  waitNotice,
  once,
  screenshots,
  slugOf,
} from "./helpers.js";

const SERVER = JSON.parse(process.env.CHAT_SERVER || "null");
const REDIS_URL = process.env.REDIS_URL;
const ARTIFACTS = process.env.CHAT_ARTIFACTS || path.resolve("target/chat-artifacts");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TOKEN = "s3cret-admin";

if (!SERVER) throw new Error("CHAT_SERVER is not set (a JSON array: the server's command line)");
if (!REDIS_URL) throw new Error("REDIS_URL is not set (the Redis the two nodes share)");
mkdirSync(ARTIFACTS, { recursive: true });

// Without --quiet: the test reads the nodes' logs.
const CMD = SERVER.filter((a) => a !== "--quiet");
const nodes = {};
const pages = {};
const clients = [];
let browser;

async function startNode(name) {
  const port = await freePort();
  const log = { text: "" };
  const child = await startServer(CMD, port, ["--redis", REDIS_URL, "--node", name, "--admin-token", TOKEN], log);
  nodes[name] = { child, log, url: `http://127.0.0.1:${port}` };
}

function client(node, name) {
  const c = connectClient(nodes[node].url, { transports: ["websocket"], auth: { name }, reconnection: false, forceNew: true });
  clients.push(c);
  return c;
}

/** An admin client on `node`: its snapshot lists the chat's users of every node. */
async function adminOn(node) {
  const c = connectClient(`${nodes[node].url}/admin`, { transports: ["websocket"], auth: { token: TOKEN }, reconnection: false, forceNew: true });
  clients.push(c);
  await once(c, "connect");
  return c;
}

/** Waits until `admin`'s snapshot lists a user named `name`. */
async function waitListed(admin, name) {
  const end = Date.now() + WAIT;
  while (Date.now() < end) {
    const snap = await admin.timeout(WAIT).emitWithAck("snapshot", {});
    if (snap.sockets.some((s) => s.name === name)) return snap;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no node listed ${name}`);
}

let step = 0;
afterEach(async (t) => {
  step += 1;
  await screenshots(pages, path.join(ARTIFACTS, `cluster-${String(step).padStart(2, "0")}-${slugOf(t.name)}`));
});

before(async () => {
  await startNode("a");
  await startNode("b");
  // Each node answers the other's cluster queries once it has heard its
  // heartbeat: a probe on each node, listed by the other, says so.
  const [probeA, probeB] = [client("a", "probe-a"), client("b", "probe-b")];
  await Promise.all([once(probeA, "connect"), once(probeB, "connect")]);
  await waitListed(await adminOn("b"), "probe-a");
  await waitListed(await adminOn("a"), "probe-b");
  probeA.close();
  probeB.close();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
});

after(async () => {
  for (const c of clients) c.close();
  if (browser) await browser.close();
  for (const n of Object.values(nodes)) await stopServer(n.child);
});

test("two nodes: a tab on each joins one room; messages, notices, members and counts cross", async () => {
  const ada = (pages.ada = await openPage(browser, nodes.a.url, "ada", "ada"));
  const bob = (pages.bob = await openPage(browser, nodes.b.url, "bob", "bob"));
  await joinByForm(ada, "lobby");
  await joinByForm(bob, "lobby");
  await waitNotice(ada, "bob joined #lobby");
  // bob's join ack listed ada, who is connected to the other node.
  await bob.waitForSelector('#members li:has-text("ada")', { timeout: WAIT });
  await ada.waitForSelector('#members li:has-text("bob")', { timeout: WAIT });
  await ada.waitForSelector('#rooms li[data-room="lobby"] .count:text-is("2")', { timeout: WAIT });
  await bob.waitForSelector('#rooms li[data-room="lobby"] .count:text-is("2")', { timeout: WAIT });

  await send(ada, "from node a");
  await waitLine(bob, "from node a");
  await send(bob, "from node b");
  await waitLine(ada, "from node b");
  assert.equal(await countLines(ada, "from node a"), 1, "no echo across nodes");
  assert.equal(await countLines(bob, "from node b"), 1, "no echo across nodes");
  assert.equal(await countLines(bob, "from node a"), 1, "delivered once");

  // Each node logs its own users, under its name.
  assert.match(nodes.a.log.text, /^\[a\] listening on \*:\d+ \(node a, redis redis:\/\//m);
  assert.match(nodes.a.log.text, /^\[a\] connect \S+ \(ada\)$/m);
  assert.match(nodes.b.log.text, /^\[b\] connect \S+ \(bob\)$/m);
  assert.doesNotMatch(nodes.a.log.text, /\(bob\)/);
});

test("two nodes: a private message reaches the addressee on the other node only", async () => {
  const { ada, bob } = pages;
  const cy = client("a", "cy");
  await once(cy, "connect");
  const privates = [];
  cy.on("private message", (m) => privates.push(m));
  await cy.timeout(WAIT).emitWithAck("join", { room: "lobby" });

  await ada.click('#members li:has-text("bob")');
  await ada.waitForSelector("#dm-target:not([hidden])", { timeout: WAIT });
  await send(ada, "psst bob on b");
  await waitLine(bob, "psst bob on b", "private");
  assert.equal(await bob.textContent("#messages li.private .name"), "ada → you");
  await ada.click("#dm-cancel");

  // From Node on node a to bob's socket id on node b; an id no node has is refused.
  const bobId = await bob.evaluate(() => window.chat.socket.id);
  assert.deepEqual(await cy.timeout(WAIT).emitWithAck("private message", { to: bobId, text: "psst from cy" }), { ok: true });
  await waitLine(bob, "psst from cy", "private");
  assert.deepEqual(await cy.timeout(WAIT).emitWithAck("private message", { to: "no-such-socket", text: "x" }), { ok: false });
  assert.deepEqual(await cy.timeout(WAIT).emitWithAck("private message", { to: "#lobby", text: "x" }), { ok: false });
  cy.emit("message", { text: "cy marks the lobby" });
  await waitLine(bob, "cy marks the lobby");
  assert.equal(privates.length, 0);
  assert.equal(await countLines(ada, "psst bob on b"), 1, "the sender's own line only");
  cy.close();
});

test("two nodes: the admin view on one node lists both nodes' users and disconnects one on the other", async () => {
  const { ada, bob } = pages;
  const admin = (pages.admin = await browser.newPage());
  await admin.goto(`${nodes.a.url}/admin?token=${TOKEN}`);
  await admin.waitForSelector('#rooms tr[data-room="lobby"] td:text-is("2")', { timeout: WAIT });
  await admin.waitForFunction(() => document.querySelectorAll("#sockets tr").length === 2, null, { timeout: WAIT });
  assert.deepEqual(await admin.$$eval("#sockets tr", (trs) => trs.map((tr) => tr.dataset.name)), ["ada", "bob"]);

  await admin.click('#sockets tr[data-name="bob"] button.kick');
  await waitNotice(bob, "disconnected by the server");
  await waitNotice(ada, "bob left #lobby");
  await admin.waitForFunction(() => document.querySelectorAll("#sockets tr").length === 1, null, { timeout: WAIT });
  assert.match(nodes.b.log.text, /^\[b\] disconnect \S+ \(bob\): server namespace disconnect$/m);
});

test("two nodes: a reconnect that lands on the other node starts fresh and says so", async () => {
  const { ada } = pages;
  const id = await ada.evaluate(() => window.chat.socket.id);
  // The session was kept on node a; the page comes back through node b.
  const bUrl = `${nodes.b.url.replace(/^http/, "ws")}/socket.io/`;
  await ada.evaluate((u) => {
    const s = window.chat.socket;
    s.url = u;
    s.ws.close();
  }, bUrl);
  await waitNotice(ada, "reconnected with a new session: messages sent meanwhile are not shown");
  await waitNotice(ada, "back in #lobby");
  assert.notEqual(await ada.evaluate(() => window.chat.socket.id), id, "a fresh socket");
  assert.match(nodes.a.log.text, /^\[a\] disconnect \S+ \(ada\): transport close, kept for recovery$/m);
  assert.match(nodes.b.log.text, /^\[b\] connect \S+ \(ada\)$/m);
  const dan = client("a", "dan");
  await once(dan, "connect");
  await dan.timeout(WAIT).emitWithAck("join", { room: "lobby" });
  dan.emit("message", { text: "dan on node a" });
  await waitLine(ada, "dan on node a");
  dan.close();
});
