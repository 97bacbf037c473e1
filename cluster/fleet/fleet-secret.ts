/**
 * The fleet secret: node-to-node connections prove they know it (the
 * transport's challenge–response), so a process that does not cannot join or
 * speak to the fleet. One line of hex in a file of mode 0600, the same file on
 * every machine of the fleet.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";

const secretBytes = 32;

/** Creates the secret file with a fresh random secret when it does not exist. */
export function ensureFleetSecret(path: string): void {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  // The operating system's CSPRNG: a secret must never come from a seeded source.
  writeFileSync(path, `${randomBytes(secretBytes).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
}

/** Reads the secret; refuses a missing, short, or group- or world-readable file. */
export function readFleetSecret(path: string): string {
  if (!existsSync(path)) throw new Error(`${path}: no fleet secret (\`cairn fleet up\` creates one; copy the same file to every machine)`);
  const mode = statSync(path).mode & 0o077;
  if (mode !== 0) throw new Error(`${path}: the fleet secret is readable by other users (mode ${(statSync(path).mode & 0o777).toString(8)}); chmod 600 it`);
  const secret = readFileSync(path, "utf8").trim();
  if (secret.length < 32) throw new Error(`${path}: the fleet secret is shorter than 32 characters`);
  return secret;
}
