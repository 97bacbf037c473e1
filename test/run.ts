/**
 * The project's test command (`npm test`). Runs every `*.test.ts` under the
 * source folders with `bun test`, passes its output through, and ends with
 * the one summary line CI reads: `N passed, N failed, N skipped`.
 *
 * Extra arguments go to `bun test` (e.g. `npm test -- gateway/`).
 */
import { spawn } from "node:child_process";

const roots = ["runtime", "actors", "cluster", "gateway", "test"];
const extra = process.argv.slice(2);
// `bun test` ignores bunfig.toml's timeout when given paths, so it is passed here:
// integration tests start real processes and move a gigabyte; this only bounds a hung test.
const args = ["test", "--timeout", "300000", ...(extra.length > 0 ? extra : roots.map((root) => `./${root}/`))];

const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
let tail = "";
const keepTail = (text: string): void => {
  // The summary is in the last few lines; keep a bounded tail only.
  tail = (tail + text).slice(-8192);
};
child.stdout.on("data", (chunk: Buffer) => {
  process.stdout.write(chunk);
  keepTail(chunk.toString("utf8"));
});
child.stderr.on("data", (chunk: Buffer) => {
  process.stderr.write(chunk);
  keepTail(chunk.toString("utf8"));
});

const exitCode: number = await new Promise((resolve) => child.on("close", (code) => resolve(code ?? 1)));

function count(label: string): number | undefined {
  const matches = [...tail.matchAll(new RegExp(`^\\s*(\\d+) ${label}\\s*$`, "gm"))];
  const last = matches.at(-1);
  return last === undefined ? undefined : Number(last[1]);
}

const passed = count("pass");
const failed = count("fail");
const skipped = (count("skip") ?? 0) + (count("todo") ?? 0);
if (passed === undefined || failed === undefined) {
  // bun test died before printing its summary: that is a failure, never a pass.
  console.log(`\nbun test exited with code ${exitCode} without a summary`);
  console.log(`0 passed, 1 failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
  process.exit(1);
}
const failedTotal = failed + (exitCode !== 0 && failed === 0 ? 1 : 0);
console.log(`\n${passed} passed, ${failedTotal} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exit(failedTotal > 0 ? 1 : 0);
