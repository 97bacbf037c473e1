/**
 * Local directory trees for the client tests (s3cmd, rclone, AWS CLI sync):
 * write a tree of named files, read one back as path → SHA-256, so a round
 * trip through the server is compared byte for byte.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { Random } from "../../runtime/index.ts";

/** Relative path (with `/`) → file contents. */
export type TreeContents = ReadonlyMap<string, Uint8Array>;

/** Writes every file of `contents` under `root`, creating directories as needed. */
export function writeTree(root: string, contents: TreeContents): void {
  for (const [path, bytes] of contents) {
    const target = join(root, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, bytes);
  }
}

/** Every regular file under `root` as relative path → SHA-256 hex, sorted by path. */
export function hashTree(root: string): Map<string, string> {
  const found: [string, string][] = [];
  const walk = (directory: string): void => {
    for (const name of readdirSync(directory)) {
      const path = join(directory, name);
      if (statSync(path).isDirectory()) walk(path);
      else found.push([relative(root, path).split("\\").join("/"), sha256Hex(readFileSync(path))]);
    }
  };
  walk(root);
  found.sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
  return new Map(found);
}

/** `contents` as `hashTree` would report it once written. */
export function hashContents(contents: TreeContents): Map<string, string> {
  const entries = [...contents].map(([path, bytes]): [string, string] => [path, sha256Hex(bytes)]);
  entries.sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
  return new Map(entries);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * A tree that exercises what clients get wrong with names: nesting three
 * deep, spaces, non-ASCII letters, a file of random bytes larger than one
 * read buffer, and an empty file.
 */
export function sampleTree(random: Random): Map<string, Uint8Array> {
  const text = (value: string): Uint8Array => new TextEncoder().encode(value);
  return new Map<string, Uint8Array>([
    ["top.txt", text("top level\n")],
    ["empty.txt", new Uint8Array(0)],
    ["sub/with space.txt", text("a name with a space\n")],
    ["sub/ünïcödé ñame.txt", text("ünïcödé contents ✓\n")],
    ["sub/deeper/random.bin", random.bytes(300_000 + random.integer(4096))],
    ["sub/deeper/still/日本語.txt", text("三つ目の階層\n")],
  ]);
}
