/**
 * Degraded reads on a real server process (4+2 over 6 disk directories, the
 * one-node default): objects of 0 B, 1 B, 100 KiB, 5 MiB and 100 MiB are
 * written, the server is stopped, and then
 * - any 2 disk directories are removed: every GET returns identical bytes;
 * - the volume files of 2 disks are corrupted: every GET returns identical bytes;
 * - 3 disk directories are removed: a GET answers identical bytes or a clean
 *   503 with an S3 error body, never wrong bytes; coded objects answer 503.
 * Each scenario runs on its own copy of the data directory.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, openSync, readdirSync, closeSync, fstatSync, readSync, writeSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomSeed, seededRandom, type Random } from "../runtime/index.ts";
import { signedFetch } from "./support/signer.ts";
import { startServer, type ServerProcess } from "./support/server.ts";

const seed = Number(process.env.CAIRN_TEST_SEED ?? randomSeed());
console.log(`degraded-read: seed ${seed} (replay with CAIRN_TEST_SEED=${seed} npm test -- test/degraded-read.test.ts)`);
const random = seededRandom(seed);

const bucket = "degraded";
const diskIds = ["disk-0", "disk-1", "disk-2", "disk-3", "disk-4", "disk-5"];
const objects = [
  { key: "empty", sizeBytes: 0 },
  { key: "one-byte", sizeBytes: 1 },
  { key: "small/100KiB", sizeBytes: 100 * 1024 },
  { key: "medium/5MiB", sizeBytes: 5 * 1024 * 1024 },
  { key: "large/100MiB", sizeBytes: 100 * 1024 * 1024 },
].map((object) => ({ ...object, bytes: randomBytes(random.fork(object.key), object.sizeBytes) }));
const largeObject = objects[4]!;

let original = "";
const scratch: string[] = [];

function randomBytes(source: Random, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const block = 64 * 1024;
  for (let offset = 0; offset < length; offset += block) out.set(source.bytes(Math.min(block, length - offset)), offset);
  return out;
}

function sha256(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

/** Picks `count` distinct disks with the test's random source. */
function pickDisks(count: number): string[] {
  const pool = [...diskIds];
  const picked: string[] = [];
  while (picked.length < count) picked.push(pool.splice(random.integer(pool.length), 1)[0]!);
  return picked;
}

function copyOfOriginal(): string {
  const copy = mkdtempSync(join(tmpdir(), "cairn-degraded-copy-"));
  scratch.push(copy);
  cpSync(original, copy, { recursive: true });
  return copy;
}

/** Flips one byte in every 4 KiB of every volume file of the disk (a random byte of each block). */
function corruptVolumes(dataDir: string, diskId: string): number {
  const directory = join(dataDir, "disks", diskId);
  let flipped = 0;
  for (const name of readdirSync(directory).filter((file) => file.startsWith("data."))) {
    const descriptor = openSync(join(directory, name), "r+");
    try {
      const size = fstatSync(descriptor).size;
      const one = new Uint8Array(1);
      for (let block = 0; block < size; block += 4096) {
        const position = block + random.integer(Math.min(4096, size - block));
        readSync(descriptor, one, 0, 1, position);
        one[0] = one[0]! ^ (1 + random.integer(255));
        writeSync(descriptor, one, 0, 1, position);
        flipped += 1;
      }
    } finally {
      closeSync(descriptor);
    }
  }
  return flipped;
}

async function get(server: ServerProcess, key: string, range?: string): Promise<{ status: number; body: Uint8Array }> {
  const response = await signedFetch(server, {
    method: "GET",
    path: `/${bucket}/${key}`,
    ...(range === undefined ? {} : { headers: { range } }),
  });
  return { status: response.status, body: new Uint8Array(await response.arrayBuffer()) };
}

/** Every object reads back bit-identical, whole and in a range across stripes. */
async function expectAllIdentical(server: ServerProcess): Promise<void> {
  for (const object of objects) {
    const got = await get(server, object.key);
    expect({ key: object.key, status: got.status }).toEqual({ key: object.key, status: 200 });
    expect({ key: object.key, sha256: sha256(got.body) }).toEqual({ key: object.key, sha256: sha256(object.bytes) });
  }
  // A range that starts inside one stripe and ends inside another.
  const ranged = await get(server, largeObject.key, "bytes=3000000-9500000");
  expect(ranged.status).toBe(206);
  expect(sha256(ranged.body)).toBe(sha256(largeObject.bytes.subarray(3_000_000, 9_500_001)));
}

beforeAll(async () => {
  original = mkdtempSync(join(tmpdir(), "cairn-degraded-"));
  scratch.push(original);
  const server = await startServer({ dataDir: original });
  try {
    expect((await signedFetch(server, { method: "PUT", path: `/${bucket}` })).status).toBe(200);
    for (const object of objects) {
      const put = await signedFetch(server, { method: "PUT", path: `/${bucket}/${object.key}`, body: object.bytes });
      expect({ key: object.key, status: put.status }).toEqual({ key: object.key, status: 200 });
    }
    await expectAllIdentical(server);
  } finally {
    expect(await server.stop()).toBe(0);
  }
});

afterAll(() => {
  for (const directory of scratch) rmSync(directory, { recursive: true, force: true });
});

describe("degraded reads (4+2 on 6 disks)", () => {
  test("any 2 disk directories removed: every GET returns identical bytes", async () => {
    const dataDir = copyOfOriginal();
    const removed = pickDisks(2);
    console.log(`degraded-read: removing ${removed.join(", ")}`);
    for (const diskId of removed) rmSync(join(dataDir, "disks", diskId), { recursive: true, force: true });
    const server = await startServer({ dataDir });
    try {
      await expectAllIdentical(server);
    } finally {
      await server.stop();
    }
  });

  test("the volume files of 2 disks corrupted: every GET returns identical bytes", async () => {
    const dataDir = copyOfOriginal();
    const corrupted = pickDisks(2);
    for (const diskId of corrupted) console.log(`degraded-read: corrupted ${corruptVolumes(dataDir, diskId)} bytes on ${diskId}`);
    const server = await startServer({ dataDir });
    try {
      await expectAllIdentical(server);
    } finally {
      await server.stop();
    }
  });

  test("3 disk directories removed: identical bytes or a clean 503, never wrong bytes", async () => {
    const dataDir = copyOfOriginal();
    const removed = pickDisks(3);
    console.log(`degraded-read: removing ${removed.join(", ")}`);
    for (const diskId of removed) rmSync(join(dataDir, "disks", diskId), { recursive: true, force: true });
    const server = await startServer({ dataDir });
    try {
      for (const object of objects) {
        const response = await signedFetch(server, { method: "GET", path: `/${bucket}/${object.key}` });
        const body = new Uint8Array(await response.arrayBuffer());
        if (response.status === 200) {
          expect({ key: object.key, sha256: sha256(body) }).toEqual({ key: object.key, sha256: sha256(object.bytes) });
        } else {
          expect({ key: object.key, status: response.status }).toEqual({ key: object.key, status: 503 });
          expect(new TextDecoder().decode(body)).toContain("<Code>ServiceUnavailable</Code>");
        }
        // Objects coded across all six disks cannot survive three losses.
        if (object.sizeBytes > 128 * 1024) expect({ key: object.key, status: response.status }).toEqual({ key: object.key, status: 503 });
      }
      // The server keeps serving: metadata needs no disk.
      const listing = await signedFetch(server, { method: "GET", path: `/${bucket}?list-type=2` });
      expect(listing.status).toBe(200);
      expect(await listing.text()).toContain("<Key>large/100MiB</Key>");
    } finally {
      await server.stop();
    }
  });
});
