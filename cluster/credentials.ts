/**
 * Root credentials of a Cairn (one node, or a fleet's state directory). Taken
 * from the environment when set; otherwise generated on first start, stored
 * in the data directory with mode 0600 and reported as `generated` so the
 * caller prints them once. The root key is always an admin; further users
 * live in the metadata store (`users.ts`).
 */
import { existsSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { randomInt } from "node:crypto";

export interface RootCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Format version of the credentials file; readers accept every version ever written. */
const credentialsFileVersion = 1;
const accessKeyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * Secrets come from the operating system's CSPRNG, not from the runtime's
 * seeded source: a seeded sequence is replayable by design, a secret must not be.
 */
function randomText(alphabet: string, length: number): string {
  let text = "";
  for (let index = 0; index < length; index += 1) text += alphabet[randomInt(alphabet.length)];
  return text;
}

/**
 * A new access key id (`CAIRN` and 15 of A-Z0-9, 20 characters like AWS's)
 * and secret (40 base64-alphabet characters), from the OS CSPRNG.
 */
export function generateCredentials(): RootCredentials {
  return { accessKeyId: `CAIRN${randomText(accessKeyAlphabet, 15)}`, secretAccessKey: randomText(secretAlphabet, 40) };
}

/**
 * Resolves the root credentials: environment first, then the stored file,
 * else new ones (written to `<dataDir>/credentials.json`, mode 0600).
 */
export function loadRootCredentials(options: {
  dataDir: string;
  environment: Record<string, string | undefined>;
}): { credentials: RootCredentials; source: "environment" | "stored" | "generated" } {
  const accessKeyId = options.environment.CAIRN_ACCESS_KEY;
  const secretAccessKey = options.environment.CAIRN_SECRET_KEY;
  if (accessKeyId !== undefined && secretAccessKey !== undefined && accessKeyId !== "" && secretAccessKey !== "") {
    return { credentials: { accessKeyId, secretAccessKey }, source: "environment" };
  }
  if ((accessKeyId ?? "") !== "" || (secretAccessKey ?? "") !== "") {
    throw new Error("set both CAIRN_ACCESS_KEY and CAIRN_SECRET_KEY, or neither");
  }
  const path = join(options.dataDir, "credentials.json");
  if (existsSync(path)) {
    const stored = JSON.parse(readFileSync(path, "utf8")) as { version?: number; accessKeyId?: string; secretAccessKey?: string };
    if (stored.version !== credentialsFileVersion || typeof stored.accessKeyId !== "string" || typeof stored.secretAccessKey !== "string") {
      throw new Error(`${path} is not a Cairn credentials file (version ${String(stored.version)})`);
    }
    return { credentials: { accessKeyId: stored.accessKeyId, secretAccessKey: stored.secretAccessKey }, source: "stored" };
  }
  const credentials = generateCredentials();
  writeFileSync(path, `${JSON.stringify({ version: credentialsFileVersion, ...credentials }, null, 2)}\n`, { mode: 0o600, flag: "wx" });
  // `mode` is filtered by the umask; make sure the file is private whatever it is.
  chmodSync(path, 0o600);
  return { credentials, source: "generated" };
}
