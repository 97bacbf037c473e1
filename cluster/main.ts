/**
 * `npm start`: runs a one-node Cairn on 127.0.0.1:9000 with data under ./data.
 *
 * Environment overrides: CAIRN_PORT, CAIRN_HOST, CAIRN_DATA_DIR, CAIRN_DISKS,
 * CAIRN_DOMAIN (virtual-hosted-style base domain), CAIRN_REGION,
 * CAIRN_ACCESS_KEY and CAIRN_SECRET_KEY, CAIRN_STORAGE_CLASSES (`NAME=K+M,…`),
 * CAIRN_WRITE_QUORUM (`k+N`), CAIRN_PREPARING_MAX_AGE_MS (a PUT PREPARING for
 * longer is taken for crashed and its data reclaimed, so it must exceed the
 * longest PUT: one still streaming past it fails with a Timeout; default 1 h),
 * CAIRN_JANITOR_INTERVAL_MS (time between Janitor runs; default 1 min),
 * CAIRN_MULTIPART_UPLOAD_MAX_AGE_MS (an incomplete multipart upload older than
 * this is aborted by the Janitor and its parts freed; default 7 days),
 * CAIRN_HEAL_INTERVAL_MS (time between repair runs; default 10 s),
 * CAIRN_SCRUB_INTERVAL_MS (time between scrubs of each disk; default 24 h) and
 * CAIRN_LOG_LEVEL (debug, info, warn or error; default info: runtime/log.ts).
 */
import { resolve } from "node:path";
import { mkdirSync } from "node:fs";
import { configureLogging, parseLogLevel } from "../runtime/index.ts";
import { loadRootCredentials } from "./credentials.ts";
import { ConfigurationError, startSingleNode } from "./single-node.ts";
import { defaultStorageClasses, defaultWriteQuorum, parseStorageClasses, parseWriteQuorum } from "./storage-classes.ts";

function integerFromEnvironment(name: string, fallback: number, minimum: number, maximum: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum || value > maximum) {
    console.error(`cairn: ${name} must be an integer from ${minimum} to ${maximum}, got "${text}"`);
    process.exit(2);
  }
  return value;
}

const log = (entry: Record<string, unknown>): void => {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
};

const dataDir = resolve(process.env.CAIRN_DATA_DIR ?? "./data");
const hostname = process.env.CAIRN_HOST ?? "127.0.0.1";
const port = integerFromEnvironment("CAIRN_PORT", 9000, 0, 65535);
const diskCount = integerFromEnvironment("CAIRN_DISKS", 6, 1, 64);
const region = process.env.CAIRN_REGION ?? "us-east-1";
const preparingMaxAgeMs = integerFromEnvironment("CAIRN_PREPARING_MAX_AGE_MS", 3_600_000, 0, 30 * 24 * 3_600_000);
const janitorIntervalMs = integerFromEnvironment("CAIRN_JANITOR_INTERVAL_MS", 60_000, 1, 24 * 3_600_000);
const multipartUploadMaxAgeMs = integerFromEnvironment("CAIRN_MULTIPART_UPLOAD_MAX_AGE_MS", 7 * 24 * 3_600_000, 1_000, 365 * 24 * 3_600_000);
const healIntervalMs = integerFromEnvironment("CAIRN_HEAL_INTERVAL_MS", 10_000, 100, 24 * 3_600_000);
const scrubIntervalMs = integerFromEnvironment("CAIRN_SCRUB_INTERVAL_MS", 24 * 3_600_000, 1_000, 365 * 24 * 3_600_000);
const orphanSweepIntervalMs = integerFromEnvironment("CAIRN_ORPHAN_SWEEP_INTERVAL_MS", 3_600_000, 1_000, 365 * 24 * 3_600_000);
const virtualHostDomains = (process.env.CAIRN_DOMAIN ?? "localhost").split(",").filter((domain) => domain !== "");

const logLevel = parseLogLevel(process.env.CAIRN_LOG_LEVEL);
if (logLevel instanceof Error) {
  console.error(`cairn: CAIRN_LOG_LEVEL: ${logLevel.message}`);
  process.exit(2);
}
configureLogging({ level: logLevel });

mkdirSync(dataDir, { recursive: true });
let credentials;
try {
  credentials = loadRootCredentials({ dataDir, environment: process.env });
} catch (error) {
  console.error(`cairn: ${(error as Error).message}`);
  process.exit(2);
}

let storageClasses;
let writeQuorum;
try {
  storageClasses = parseStorageClasses(process.env.CAIRN_STORAGE_CLASSES ?? defaultStorageClasses, diskCount);
} catch (error) {
  console.error(`cairn: CAIRN_STORAGE_CLASSES: ${(error as Error).message}`);
  process.exit(2);
}
try {
  writeQuorum = parseWriteQuorum(process.env.CAIRN_WRITE_QUORUM ?? defaultWriteQuorum);
} catch (error) {
  console.error(`cairn: CAIRN_WRITE_QUORUM: ${(error as Error).message}`);
  process.exit(2);
}

let node;
try {
  node = await startSingleNode({
    dataDir,
    hostname,
    port,
    diskCount,
    storageClasses,
    writeQuorum,
    credentials: credentials.credentials,
    region,
    virtualHostDomains,
    log,
    preparingMaxAgeMs,
    janitorIntervalMs,
    multipartUploadMaxAgeMs,
    healIntervalMs,
    scrubIntervalMs,
    orphanSweepIntervalMs,
  });
} catch (error) {
  if (!(error instanceof ConfigurationError)) throw error;
  console.error(`cairn: cannot serve ${dataDir}: ${error.message}`);
  process.exit(2);
}
const endpoint = `http://${hostname}:${node.port}`;
if (credentials.source === "generated") {
  const { accessKeyId, secretAccessKey } = credentials.credentials;
  console.log(`cairn: generated root credentials, stored in ${dataDir}/credentials.json (shown only this once):`);
  console.log(`  AWS_ACCESS_KEY_ID=${accessKeyId} AWS_SECRET_ACCESS_KEY='${secretAccessKey}' AWS_DEFAULT_REGION=${region} aws --endpoint-url ${endpoint} s3 ls`);
}
console.log(`cairn: ready, serving S3 at ${endpoint} (data ${dataDir}, ${diskCount} disks)`);

let signalled = false;
const shutDown = (signal: string): void => {
  if (signalled) return;
  signalled = true;
  console.log(`cairn: ${signal} received, finishing in-flight requests and syncing`);
  node.stop().then(
    () => {
      console.log("cairn: stopped cleanly");
      process.exit(0);
    },
    (error: unknown) => {
      console.error(`cairn: unclean stop: ${String(error)}`);
      process.exit(1);
    },
  );
};
process.on("SIGTERM", () => shutDown("SIGTERM"));
process.on("SIGINT", () => shutDown("SIGINT"));
