// What the Node interop suites share: their command line
// (`node SUITE.mjs URL websocket|polling|polling-only`), waiting for an
// event with a timeout, and the test runner.
//   websocket:    transports ["websocket"] only;
//   polling:      transports ["polling", "websocket"] (starts on polling, upgrades);
//   polling-only: transports ["polling"] (long-polling throughout).
// The runner prints one line per test ("ok - name" / "not ok - name: error")
// and a closing "<label> results: P passed, F failed"; exits 1 on failure.

export const url = process.argv[2];
export const mode = process.argv[3] || "websocket";
export const transports = { websocket: ["websocket"], polling: ["polling", "websocket"], "polling-only": ["polling"] }[
  mode
];
if (!transports) throw new Error(`unknown mode ${mode}`);

// Resolves with the event's arguments; rejects after `ms`.
export function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${event}`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}

const tests = [];
export const test = (name, fn) => tests.push({ name, fn });

// Runs every test (each bounded to 20 s), calling `after` between tests,
// then prints the totals under `label` and exits.
export async function run(label, after) {
  let passed = 0;
  let failed = 0;
  for (const { name, fn } of tests) {
    try {
      await Promise.race([fn(), new Promise((_, rej) => setTimeout(() => rej(new Error("test timeout")), 20000))]);
      console.log(`ok - [${label}] ${name}`);
      passed++;
    } catch (e) {
      console.log(`not ok - [${label}] ${name}: ${e && e.stack ? e.stack : e}`);
      failed++;
    }
    after();
  }
  console.log(`${label} results: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
