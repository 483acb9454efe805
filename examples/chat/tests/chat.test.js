// Browser tests of the chat example: headless Chromium (Debian's package,
// driven by playwright-core) opens the page twice, and the official
// socket.io-client takes part from Node. The server under test is started
// here from CHAT_SERVER (a JSON array: the command line without --port),
// on a free loopback port; CHAT_SERVER_NAME names the screenshots.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { io as connectClient } from "socket.io-client";
import {
  WAIT,
  freePort,
  startServer as startOn,
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
const NAME = process.env.CHAT_SERVER_NAME || "server";
const ARTIFACTS = process.env.CHAT_ARTIFACTS || path.resolve("target/chat-artifacts");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TOKEN = "s3cret-admin";

if (!SERVER) throw new Error("CHAT_SERVER is not set (a JSON array: the server's command line)");
mkdirSync(ARTIFACTS, { recursive: true });

let port;
let server;
const serverLog = { text: "" };
let browser;
let url;
const pages = {};
const clients = [];

async function openChat(key, name) {
  const page = await openPage(browser, url, key, name);
  pages[key] = page;
  return page;
}

function startServer() {
  return startOn(SERVER, port, ["--admin-token", TOKEN], serverLog);
}

function client(name) {
  const c = connectClient(url, { transports: ["websocket"], auth: { name }, reconnection: false, forceNew: true });
  clients.push(c);
  return c;
}

/** Collects the "message" events a socket.io-client receives. */
function inbox(c) {
  const got = [];
  c.on("message", (m) => got.push(m));
  got.waitFor = async (text) => {
    const end = Date.now() + WAIT;
    while (Date.now() < end) {
      const m = got.find((x) => x.text === text);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`the Node client never got "${text}"`);
  };
  return got;
}

let step = 0;
afterEach(async (t) => {
  step += 1;
  await screenshots(pages, path.join(ARTIFACTS, `${NAME}-${String(step).padStart(2, "0")}-${slugOf(t.name)}`));
});

before(async () => {
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
});

after(async () => {
  for (const c of clients) c.close();
  if (browser) await browser.close();
  if (server) await stopServer(server);
});

test("the page is served and a nickname is required", async () => {
  const c = client("   ");
  const [err] = await once(c, "connect_error");
  assert.equal(err.message, "name required");
  const page = await browser.newPage();
  const res = await page.goto(url);
  assert.equal(res.status(), 200);
  assert.equal(await page.title(), "roomcast chat");
  await page.close();
});

test("two pages join one room; a message reaches the other page, never the sender", async () => {
  const ada = await openChat("ada", "ada");
  const bob = await openChat("bob", "bob");
  await joinByForm(ada, "lobby");
  await joinByForm(bob, "lobby");
  await waitNotice(ada, "bob joined #lobby");
  await ada.waitForSelector('#members li:has-text("bob")', { timeout: WAIT });
  await bob.waitForSelector('#rooms li[data-room="lobby"] .count:text-is("2")', { timeout: WAIT });

  await send(ada, "hello from ada");
  await waitLine(bob, "hello from ada");
  const from = await bob.$$eval("#messages li:not(.notice)", (lis) => lis.map((li) => li.querySelector(".name").textContent));
  assert.deepEqual(from, ["ada"]);
  assert.match(await bob.textContent("#messages li:not(.notice) time"), /\d/);
  await send(bob, "hi ada");
  await waitLine(ada, "hi ada");
  // ada's own line is the local one; an echo from the server would add a second.
  assert.equal(await countLines(ada, "hello from ada"), 1);
  assert.equal(await countLines(bob, "hi ada"), 1);
});

test("the official socket.io-client takes part in the room with the pages", async () => {
  const cy = client("cy");
  await once(cy, "connect");
  const got = inbox(cy);
  const reply = await cy.timeout(WAIT).emitWithAck("join", { room: "lobby" });
  assert.equal(reply.room, "lobby");
  assert.deepEqual(reply.members.map((m) => m.name).sort(), ["ada", "bob", "cy"]);
  await waitNotice(pages.ada, "cy joined #lobby");

  await send(pages.ada, "ada to everyone");
  const m = await got.waitFor("ada to everyone");
  assert.equal(m.name, "ada");
  assert.equal(m.room, "lobby");
  assert.ok(Math.abs(m.time - Date.now()) < 60000, "time is the server clock in ms");

  cy.emit("message", { text: "cy from node" });
  await waitLine(pages.ada, "cy from node");
  await waitLine(pages.bob, "cy from node");
  const rooms = await cy.timeout(WAIT).emitWithAck("list rooms", {});
  assert.deepEqual(rooms, [{ name: "lobby", members: 3 }]);
});

test("switching rooms isolates the conversations", async () => {
  const { ada, bob } = pages;
  const cy = clients[clients.length - 1];
  const got = inbox(cy);
  await joinByForm(bob, "games");
  await waitNotice(ada, "bob left #lobby");
  await ada.waitForSelector('#rooms li[data-room="games"] .count:text-is("1")', { timeout: WAIT });

  await send(ada, "only for the lobby");
  await got.waitFor("only for the lobby"); // delivered to the lobby by now
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await countLines(bob, "only for the lobby"), 0, "a lobby message leaked into games");

  await send(bob, "only for games");
  await cy.timeout(WAIT).emitWithAck("join", { room: "games" });
  await send(bob, "games again");
  await got.waitFor("games again");
  assert.equal(got.some((x) => x.text === "only for games"), false, "cy was not in games yet");
  assert.equal(await countLines(ada, "only for games"), 0);
  assert.equal(await countLines(ada, "games again"), 0);

  // Back to the lobby by clicking it in the room list.
  await bob.click('#rooms li[data-room="lobby"]');
  await bob.waitForFunction(() => document.getElementById("room-title").textContent === "#lobby", null, { timeout: WAIT });
  await waitNotice(ada, "bob joined #lobby");
  cy.close();
});

test("a private message reaches only its addressee", async () => {
  const { ada, bob } = pages;
  const dan = client("dan");
  await once(dan, "connect");
  const got = inbox(dan);
  const privates = [];
  dan.on("private message", (m) => privates.push(m));
  await dan.timeout(WAIT).emitWithAck("join", { room: "lobby" });

  await ada.click('#members li:has-text("bob")');
  await ada.waitForSelector("#dm-target:not([hidden])", { timeout: WAIT });
  await send(ada, "psst bob");
  await waitLine(bob, "psst bob", "private");
  assert.equal(await bob.textContent("#messages li.private .name"), "ada → you");

  // dan sends a public line after: once it arrived, the private one would have too.
  dan.emit("message", { text: "dan marks the lobby" });
  await waitLine(ada, "dan marks the lobby");
  await waitLine(bob, "dan marks the lobby");
  assert.equal(privates.length, 0);
  assert.equal(got.some((x) => x.text === "psst bob"), false);

  // From Node to a page, through the page's socket id (its own-id room).
  const bobId = await bob.evaluate(() => window.chat.socket.id);
  const ok = await dan.timeout(WAIT).emitWithAck("private message", { to: bobId, text: "psst from dan" });
  assert.deepEqual(ok, { ok: true });
  await waitLine(bob, "psst from dan", "private");
  const missing = await dan.timeout(WAIT).emitWithAck("private message", { to: "no-such-socket", text: "x" });
  assert.deepEqual(missing, { ok: false });
  await ada.click("#dm-cancel");
  dan.close();
});

test("the typing indicator shows while the other user types", async () => {
  const { ada, bob } = pages;
  await bob.click("#text");
  await bob.keyboard.type("typing slowly");
  await ada.waitForFunction(() => document.getElementById("typing").textContent === "bob is typing…", null, { timeout: WAIT });
  await bob.press("#text", "Enter");
  await waitLine(ada, "typing slowly");
  await ada.waitForFunction(() => document.getElementById("typing").textContent === "", null, { timeout: WAIT });
});

test("a tab that loses its connection for a few seconds gets the messages it missed and says it recovered", { skip: NAME !== "roomcast" && "roomcast's connection state recovery" }, async () => {
  const { ada, bob } = pages;
  const id = await bob.evaluate(() => window.chat.socket.id);
  const leftBefore = await ada.$$eval("#messages li.notice", (lis) => lis.filter((li) => li.textContent === "bob left #lobby").length);
  // Cut bob's link (the server sees "transport close"); his page waits a
  // few seconds before reconnecting.
  await bob.evaluate(() => {
    const s = window.chat.socket;
    s.delayMin = 3000;
    s.ws.close();
  });
  await bob.waitForSelector('#status:not([data-state="online"])', { timeout: WAIT });
  const missed = ["while bob was away 1", "while bob was away 2", "while bob was away 3"];
  for (const t of missed) await send(ada, t);
  await bob.waitForSelector('#status[data-state="online"]', { timeout: 20000 });
  await waitNotice(bob, "connection recovered: nothing was missed");
  for (const t of missed) await waitLine(bob, t);
  const texts = await bob.$$eval("#messages li:not(.notice) .text", (els) => els.map((e) => e.textContent));
  assert.deepEqual(texts.filter((t) => t.startsWith("while bob was away")), missed, "each once, in order");
  assert.equal(await bob.evaluate(() => window.chat.socket.id), id, "the same socket id");
  assert.equal(await bob.textContent("#room-title"), "#lobby", "still in the room, without joining again");
  const leftAfter = await ada.$$eval("#messages li.notice", (lis) => lis.filter((li) => li.textContent === "bob left #lobby").length);
  assert.equal(leftAfter, leftBefore, "the room heard nothing of the short absence");
  await send(ada, "after bob is back");
  await waitLine(bob, "after bob is back");
  await bob.evaluate(() => (window.chat.socket.delayMin = 500));
});

test("a dropped connection reconnects and restores the room", async () => {
  const { ada, bob } = pages;
  await stopServer(server);
  await ada.waitForSelector('#status:not([data-state="online"])', { timeout: WAIT });
  await bob.waitForSelector('#status:not([data-state="online"])', { timeout: WAIT });
  server = await startServer();
  await ada.waitForSelector('#status[data-state="online"]', { timeout: 20000 });
  await bob.waitForSelector('#status[data-state="online"]', { timeout: 20000 });
  await waitNotice(ada, "back in #lobby");
  await waitNotice(bob, "back in #lobby");
  // The new server knows both are in the lobby again.
  await ada.waitForSelector('#rooms li[data-room="lobby"] .count:text-is("2")', { timeout: WAIT });
  await send(ada, "after the restart");
  await waitLine(bob, "after the restart");
});

test("the admin page needs the token, lists rooms and users live, and disconnects a user", async () => {
  const { ada, bob } = pages;
  const admin = await browser.newPage();
  pages.admin = admin;
  await admin.goto(`${url}/admin`);
  await admin.fill("#token", "wrong");
  await admin.click("#login button[type=submit]");
  await admin.waitForFunction(() => document.getElementById("login-error").textContent === "unauthorized", null, { timeout: WAIT });

  await admin.fill("#token", TOKEN);
  await admin.click("#login button[type=submit]");
  await admin.waitForSelector('#rooms tr[data-room="lobby"] td:text-is("2")', { timeout: WAIT });
  await admin.waitForFunction(() => document.querySelectorAll("#sockets tr").length === 2, null, { timeout: WAIT });
  const names = await admin.$$eval("#sockets tr", (trs) => trs.map((tr) => tr.dataset.name));
  assert.deepEqual(names, ["ada", "bob"]);

  // Live: a new user shows up without reloading.
  const eve = client("eve");
  await once(eve, "connect");
  await admin.waitForSelector('#sockets tr[data-name="eve"]', { timeout: WAIT });
  eve.close();
  await admin.waitForFunction(() => !document.querySelector('#sockets tr[data-name="eve"]'), null, { timeout: WAIT });

  await admin.click('#sockets tr[data-name="bob"] button.kick');
  await waitNotice(bob, "disconnected by the server");
  await waitNotice(ada, "bob left #lobby");
  await admin.waitForFunction(() => document.querySelectorAll("#sockets tr").length === 1, null, { timeout: WAIT });
  await admin.waitForSelector('#rooms tr[data-room="lobby"] td:text-is("1")', { timeout: WAIT });
  // A server-side disconnect is final: bob stays offline.
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(await bob.getAttribute("#status", "data-state"), "offline");
});

test("a name or room with control characters is refused: no posting into a room never joined", { skip: NAME !== "roomcast" && "roomcast's checks" }, async () => {
  const dee = await openChat("dee", "dee");
  await joinByForm(dee, "secret");
  // "eve\0secret" once read back as the name "eve" in the room "secret".
  const eve = client("eve\u0000secret");
  const [err] = await once(eve, "connect_error");
  assert.equal(err.message, "names may not contain control characters");
  const mal = client("mal");
  await once(mal, "connect");
  const reply = await mal.timeout(WAIT).emitWithAck("join", { room: "sec\u0007ret" });
  assert.equal(reply.error, "room names may not contain control characters");
  mal.emit("message", { text: "from outside" });
  mal.emit("typing", { typing: true });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await countLines(dee, "from outside"), 0, "a message reached a room its sender never joined");
  mal.close();
  await dee.close();
  delete pages.dee;
});
