/**
 * The parts of STYLE.md a machine can check: no `export *` and no default
 * exports; time, timers and randomness only inside `runtime/`; imports across
 * top-level folders only through a folder's `index.ts` or an actor's
 * `protocol.ts`; a strict tsconfig.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";

const root = resolve(import.meta.dir, "..");
const sourceFolders = ["runtime", "actors", "cluster", "gateway"];

function sourceFiles(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".ts")) found.push(path);
    }
  };
  walk(join(root, folder));
  return found;
}

const files = sourceFolders.flatMap(sourceFiles);
const productionFiles = files.filter((path) => !path.endsWith(".test.ts") && !relative(root, path).includes("/testing/"));

/**
 * Places outside runtime/ allowed to read time or use timers, each with the
 * reason. Keep this list short.
 */
const timeExceptions = new Map<string, string>([
  // The process entry point stamps its log lines before any host exists.
  ["cluster/main.ts", "log timestamps in the entry point"],
]);

describe("style rules from STYLE.md", () => {
  test("no `export *` and no default exports", () => {
    const offenders = files.filter((path) => /^\s*export\s+\*|^\s*export\s+default\b/m.test(readFileSync(path, "utf8")));
    expect(offenders.map((path) => relative(root, path))).toEqual([]);
  });

  test("Date.now, Math.random, timers and performance.now only inside runtime/", () => {
    const banned = /\bDate\.now\(|\bMath\.random\(|\bsetTimeout\(|\bsetInterval\(|\bperformance\.now\(|new Date\(\)/;
    const offenders = productionFiles
      .map((path) => relative(root, path))
      .filter((path) => !path.startsWith("runtime/") && !timeExceptions.has(path))
      .filter((path) => banned.test(readFileSync(join(root, path), "utf8").replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "")));
    expect(offenders).toEqual([]);
  });

  test("imports across top-level folders go through index.ts or protocol.ts", () => {
    const offenders: string[] = [];
    for (const path of productionFiles) {
      const from = relative(root, path);
      const fromTop = from.split("/")[0];
      for (const match of readFileSync(path, "utf8").matchAll(/from\s+"(\.[^"]+)"/g)) {
        const target = relative(root, resolve(dirname(path), match[1]!));
        const targetTop = target.split("/")[0];
        if (targetTop === fromTop || !sourceFolders.includes(targetTop!)) continue;
        if (!/(^|\/)(index|protocol)\.ts$/.test(target)) offenders.push(`${from} imports ${target}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  test("nact is imported only inside runtime/", () => {
    const offenders = productionFiles
      .map((path) => relative(root, path))
      .filter((path) => !path.startsWith("runtime/") && /from\s+"nact"/.test(readFileSync(join(root, path), "utf8")));
    expect(offenders).toEqual([]);
  });

  test("tsconfig.json is strict", () => {
    const config = JSON.parse(readFileSync(join(root, "tsconfig.json"), "utf8")) as { compilerOptions: Record<string, unknown> };
    expect(config.compilerOptions.strict).toBe(true);
    expect(config.compilerOptions.noUncheckedIndexedAccess).toBe(true);
  });
});
