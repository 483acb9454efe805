// Helpers shared by the chat browser tests (chat.test.js, cluster.test.js):
// starting and stopping a chat server, opening the page, waiting for lines.
import net from "node:net";
import { spawn } from "node:child_process";

export const WAIT = 10000;

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port: p } = s.address();
      s.close(() => resolve(p));
    });
  });
}

/**
 * Starts `cmd` (an array: the command line without --port) on `port` with
 * `args` appended; resolves with the child once it printed "listening on".
 * `log.text` collects its output.
 */
export function startServer(cmd, port, args, log = { text: "" }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0], [...cmd.slice(1), "--addr", "127.0.0.1", "--port", String(port), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.log = log;
    const timer = setTimeout(() => reject(new Error(`server did not print "listening on" in time:\n${log.text}`)), 30000);
    child.stdout.on("data", (d) => {
      log.text += d;
      if (log.text.includes(`listening on *:${port}`)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr.on("data", (d) => (log.text += d));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (${code}):\n${log.text}`));
    });
  });
}

export function stopServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.removeAllListeners("exit");
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 3000);
  });
}

/** Opens the chat page at `url` in a new tab of `browser` and logs in as `name`. */
export async function openPage(browser, url, key, name) {
  const page = await browser.newPage();
  page.on("pageerror", (err) => console.error(`[${key}] page error:`, err));
  await page.goto(url);
  await page.fill("#nickname", name);
  await page.click("#login button[type=submit]");
  await page.waitForSelector('#status[data-state="online"]', { timeout: WAIT });
  return page;
}

export async function joinByForm(page, room) {
  await page.fill("#room-name", room);
  await page.click("#join-form button");
  await page.waitForFunction((r) => document.getElementById("room-title").textContent === `#${r}`, room, { timeout: WAIT });
}

export async function send(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

/** Waits until the page shows a chat line whose text is `text` (not a notice), of class `cls` if given. */
export function waitLine(page, text, cls = "") {
  return page.waitForFunction(
    ([t, c]) => [...document.querySelectorAll("#messages li:not(.notice)")].some((li) => li.querySelector(".text")?.textContent === t && (!c || li.classList.contains(c))),
    [text, cls],
    { timeout: WAIT },
  );
}

export function countLines(page, text) {
  return page.$$eval("#messages li .text", (els, t) => els.filter((e) => e.textContent === t).length, text);
}

export function waitNotice(page, text) {
  return page.waitForFunction((t) => [...document.querySelectorAll("#messages li.notice")].some((li) => li.textContent === t), text, { timeout: WAIT });
}

export function once(emitter, event, ms = WAIT) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

export function slugOf(testName) {
  return testName.replace(/[^a-z0-9]+/gi, "-").slice(0, 40);
}

/** Screenshots every open page of `pages` ({key: page}) to `${prefix}-${key}.png`. */
export async function screenshots(pages, prefix) {
  for (const [key, page] of Object.entries(pages)) {
    if (!page.isClosed()) await page.screenshot({ path: `${prefix}-${key}.png` }).catch(() => {});
  }
}
