/**
 * PUT/GET benchmark against a real Cairn server process.
 *
 *   npm run bench -- [--concurrency N] [--sizes 4KiB,1MiB,64MiB] [--seconds S]
 *                    [--classes STANDARD,ONEZONE_IA] [--endpoint URL]
 *
 * Without --endpoint it starts its own server on a temporary data directory,
 * with STANDARD = 4+2 (erasure-coded over the 6 disks) and ONEZONE_IA = 1+0
 * (one copy on one disk: the foundation issue's single-copy path), so both
 * run in the same invocation against the same server.
 * For each object size it runs PUTs for --seconds (or at least a few
 * operations for large objects), then GETs of the objects it wrote, and
 * prints ops/s, MiB/s and latency p50/p99 per operation.
 */
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { Agent } from "node:http";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { startServer, type ServerProcess } from "../test/support/server.ts";

const { values } = parseArgs({
  options: {
    concurrency: { type: "string", default: "8" },
    sizes: { type: "string", default: "4KiB,1MiB,64MiB" },
    seconds: { type: "string", default: "10" },
    endpoint: { type: "string" },
    classes: { type: "string", default: "STANDARD,ONEZONE_IA" },
    "access-key": { type: "string" },
    "secret-key": { type: "string" },
  },
});

function parseSize(text: string): number {
  const match = /^(\d+)(B|KiB|MiB|GiB)$/.exec(text.trim());
  if (!match) throw new Error(`bad size "${text}" (use e.g. 4KiB, 1MiB, 64MiB)`);
  const units: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
  return Number(match[1]) * units[match[2]!]!;
}

const concurrency = Number(values.concurrency);
const sizes = values.sizes!.split(",").map((text) => ({ text: text.trim(), bytes: parseSize(text) }));
const durationMs = Number(values.seconds) * 1000;
const storageClasses = values.classes!.split(",").map((name) => name.trim()).filter((name) => name !== "");
const serverStorageClasses = "STANDARD=4+2,ONEZONE_IA=1+0";

let server: ServerProcess | undefined;
let endpoint = values.endpoint;
let accessKeyId = values["access-key"] ?? process.env.AWS_ACCESS_KEY_ID ?? "";
let secretAccessKey = values["secret-key"] ?? process.env.AWS_SECRET_ACCESS_KEY ?? "";
if (endpoint === undefined) {
  server = await startServer({ env: { CAIRN_STORAGE_CLASSES: serverStorageClasses } });
  endpoint = server.endpoint;
  accessKeyId = server.accessKeyId;
  secretAccessKey = server.secretAccessKey;
}

const s3 = new S3Client({
  endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId, secretAccessKey },
  maxAttempts: 1,
  requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: concurrency }) }),
});

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

function report(operation: string, storageClass: string, sizeText: string, sizeBytes: number, latenciesMs: number[], elapsedMs: number): void {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const opsPerSecond = (latenciesMs.length * 1000) / elapsedMs;
  const mibPerSecond = (opsPerSecond * sizeBytes) / 1048576;
  console.log(
    `${operation.padEnd(4)} ${storageClass.padEnd(10)} ${sizeText.padStart(6)}  c=${concurrency}  ops=${String(latenciesMs.length).padStart(6)}  ` +
      `${opsPerSecond.toFixed(1).padStart(8)} ops/s  ${mibPerSecond.toFixed(1).padStart(8)} MiB/s  ` +
      `p50 ${percentile(sorted, 0.5).toFixed(2)} ms  p99 ${percentile(sorted, 0.99).toFixed(2)} ms`,
  );
}

/** Runs `operation` from `concurrency` workers until the deadline (and at least `minimumOps` in all). */
async function drive(operation: (index: number) => Promise<void>, minimumOps: number, opsMax: number): Promise<{ latenciesMs: number[]; elapsedMs: number }> {
  const latenciesMs: number[] = [];
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const now = performance.now();
      if (next >= opsMax || (now - started > durationMs && next >= minimumOps)) return;
      const index = next;
      next += 1;
      const begin = performance.now();
      await operation(index);
      latenciesMs.push(performance.now() - begin);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latenciesMs, elapsedMs: performance.now() - started };
}

console.log(`cairn bench: ${endpoint}, ${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, bun ${Bun.version}`);
const bucket = "bench";
await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: { name?: string }) => {
  if (error.name !== "BucketAlreadyOwnedByYou") throw error;
});
if (server !== undefined) console.log(`server storage classes: ${serverStorageClasses}`);
for (const storageClass of storageClasses) {
  for (const size of sizes) {
    const body = new Uint8Array(size.bytes);
    for (let offset = 0; offset < body.length; offset += 65536) crypto.getRandomValues(body.subarray(offset, Math.min(body.length, offset + 65536)));
    // Keep the data written per size bounded so a long run does not fill the disk.
    const opsMax = Math.max(concurrency * 2, Math.floor((4 * 1024 ** 3) / size.bytes));
    const prefix = `${storageClass}/${size.text}`;
    const put = await drive(
      async (index) => {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${index}`, Body: body, StorageClass: storageClass as "STANDARD" }));
      },
      concurrency * 2,
      opsMax,
    );
    report("PUT", storageClass, size.text, size.bytes, put.latenciesMs, put.elapsedMs);
    const written = put.latenciesMs.length;
    const get = await drive(
      async (index) => {
        const reply = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/${index % written}` }));
        const bytes = await reply.Body!.transformToByteArray();
        if (bytes.length !== size.bytes) throw new Error(`GET returned ${bytes.length} bytes, expected ${size.bytes}`);
      },
      concurrency * 2,
      Number.MAX_SAFE_INTEGER,
    );
    report("GET", storageClass, size.text, size.bytes, get.latenciesMs, get.elapsedMs);
    // Free the space before the next run (deletes are not measured).
    for (let index = 0; index < written; index += 1) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${prefix}/${index}` }));
  }
}
if (server !== undefined) console.log(`server peak RSS ${(server.peakRssBytes() / 1048576).toFixed(1)} MiB`);
s3.destroy();
await server?.dispose();
