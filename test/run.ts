/**
 * The project's test command (`npm test`). Runs every `*.test.ts` under the
 * source folders with `bun test`, passes its output through, and ends with
 * the one summary line CI reads: `N passed, N failed, N skipped`. Above that
 * line it repeats every failure with its file and the output just before it
 * (where bun prints the error), since a CI log may keep only its tail.
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

/** Lines printed since the last test result, the current file, and each failure with its context. */
const contextLines = 40;
let recent: string[] = [];
let currentFile = "(no file yet)";
const failures: string[] = [];
const partialLines = new Map<NodeJS.WriteStream, string>();
const watchLines = (stream: NodeJS.WriteStream, text: string): void => {
  const lines = ((partialLines.get(stream) ?? "") + text).split("\n");
  partialLines.set(stream, lines.pop() ?? "");
  for (const line of lines) {
    if (/^\S.*\.test\.ts:$/.test(line)) {
      currentFile = line.slice(0, -1);
      recent = [];
    } else if (line.startsWith("(fail) ") && !failures.some((failure) => failure.includes(`\n${line}\n`))) {
      failures.push(`${currentFile}\n${recent.join("\n")}\n${line}\n`);
      recent = [];
    } else if (line.startsWith("(pass) ") || line.startsWith("(skip) ")) {
      recent = [];
    } else {
      recent.push(line);
      if (recent.length > contextLines) recent.shift();
    }
  }
};
const relay = (stream: NodeJS.WriteStream) => (chunk: Buffer): void => {
  const text = chunk.toString("utf8");
  stream.write(chunk);
  keepTail(text);
  watchLines(stream, text);
};
child.stdout.on("data", relay(process.stdout));
child.stderr.on("data", relay(process.stderr));

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
if (failures.length > 0) {
  console.log(`\n${failures.length} failure(s), each with its file and the last lines printed before it:`);
  for (const failure of failures) console.log(`\n--- ${failure}`);
}
const failedTotal = failed + (exitCode !== 0 && failed === 0 ? 1 : 0);
console.log(`\n${passed} passed, ${failedTotal} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exit(failedTotal > 0 ? 1 : 0);
