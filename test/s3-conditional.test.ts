/**
 * Conditional writes, conditional reads and CopyObject on the real server
 * process (partition actors, erasure-coded data, the LMDB store), driven by
 * the AWS SDK for JavaScript v3 and the AWS CLI.
 *
 * The race: 16 separate SDK clients PUT the same new key with
 * `If-None-Match: *` at once, over several keys and body sizes (replicated
 * and erasure-coded): exactly one gets 200, the others 412, and the stored
 * object is the winner's bytes. A compare-and-swap counter (If-Match) shows
 * that no update is lost. Conditional deletes (If-Match, and DeleteObjects'
 * per-key ETag) are decided in the delete's transaction. Seeds are printed;
 * CAIRN_SEED replays one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { awsCli, sdkClient } from "./support/clients.ts";
import { startServer, type ServerProcess } from "./support/server.ts";
import { patternBytes } from "./support/bytes.ts";
import { failure } from "../gateway/testing/sdk-failure.ts";

let server: ServerProcess;
let s3: S3Client;
const seed = Number(process.env.CAIRN_SEED ?? 20261129);

beforeAll(async () => {
  console.log(`s3-conditional seed=${seed} (CAIRN_SEED=${seed} bun test test/s3-conditional.test.ts replays it)`);
  server = await startServer();
  s3 = sdkClient(server);
  await s3.send(new CreateBucketCommand({ Bucket: "cond" }));
});
afterAll(async () => {
  s3?.destroy();
  await server?.dispose();
});

/** A deterministic byte pattern (an LCG from `patternSeed`). */

/** A small seeded generator for the test's own choices. */
function random(fromSeed: number): () => number {
  let state = fromSeed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function md5Hex(data: Uint8Array | string): string {
  return createHash("md5").update(data).digest("hex");
}

async function getBytes(bucket: string, key: string): Promise<Uint8Array> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return got.Body!.transformToByteArray();
}

/** Live shards on all disks, from the node's metrics. */
async function liveShards(): Promise<number> {
  const text = await (await fetch(`${server.endpoint}/_cairn/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) if (line.startsWith("cairn_disk_shards{")) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  return total;
}

/** Polls `read` until it returns `expected`, at most `attemptsMax` times `delayMs` apart; the last value read. */
async function settlesTo(read: () => Promise<number>, expected: number, attemptsMax = 200, delayMs = 50): Promise<number> {
  let value = await read();
  for (let attempt = 0; attempt < attemptsMax && value !== expected; attempt += 1) {
    await Bun.sleep(delayMs);
    value = await read();
  }
  return value;
}

describe("conditional writes on the real server", () => {
  // First in the file, so no other test's replaced data is still being freed while shards are counted.
  test("refused writers store nothing in the end: live shards after a 16-writer race equal one write's", async () => {
    const sizeBytes = 300_000; // erasure-coded
    const before = await liveShards();
    await s3.send(new PutObjectCommand({ Bucket: "cond", Key: "freed/baseline", Body: patternBytes(sizeBytes, seed) }));
    const oneWrite = (await liveShards()) - before;
    expect(oneWrite).toBeGreaterThan(0);
    const clients = Array.from({ length: 16 }, () => sdkClient(server));
    try {
      const statuses = await Promise.all(
        clients.map(async (client, index) => {
          try {
            await client.send(new PutObjectCommand({ Bucket: "cond", Key: "freed/raced", Body: patternBytes(sizeBytes, seed + index + 1), IfNoneMatch: "*" }));
            return 200;
          } catch (error) {
            if (error instanceof S3ServiceException) return error.$metadata.httpStatusCode;
            throw error;
          }
        }),
      );
      expect(statuses.filter((status) => status === 200).length).toBe(1);
    } finally {
      for (const client of clients) client.destroy();
    }
    // Writers refused at commit wrote their shards first; those are freed after the reply.
    expect(await settlesTo(liveShards, before + 2 * oneWrite)).toBe(before + 2 * oneWrite);
  }, 30_000);

  test("If-None-Match: * and If-Match through the SDK: 200, 412, 404 NoSuchKey", async () => {
    const first = await s3.send(new PutObjectCommand({ Bucket: "cond", Key: "create-only", Body: "first", IfNoneMatch: "*" }));
    expect(first.ETag).toBe(`"${md5Hex("first")}"`);
    expect(await failure(s3.send(new PutObjectCommand({ Bucket: "cond", Key: "create-only", Body: "second", IfNoneMatch: "*" })))).toEqual([
      "PreconditionFailed",
      412,
    ]);
    expect(new TextDecoder().decode(await getBytes("cond", "create-only"))).toBe("first");
    const swapped = await s3.send(new PutObjectCommand({ Bucket: "cond", Key: "create-only", Body: "swapped", IfMatch: first.ETag }));
    expect(swapped.ETag).toBe(`"${md5Hex("swapped")}"`);
    expect(await failure(s3.send(new PutObjectCommand({ Bucket: "cond", Key: "create-only", Body: "stale", IfMatch: first.ETag })))).toEqual([
      "PreconditionFailed",
      412,
    ]);
    expect(await failure(s3.send(new PutObjectCommand({ Bucket: "cond", Key: "never-written", Body: "x", IfMatch: first.ETag })))).toEqual([
      "NoSuchKey",
      404,
    ]);
    expect(new TextDecoder().decode(await getBytes("cond", "create-only"))).toBe("swapped");
  });

  test("conditional deletes (If-Match on DeleteObject, ETag in DeleteObjects): a stale ETag is 412 and deletes nothing, a missing key 404, the current ETag or * deletes", async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: "cond", Key: "doomed", Body: "v1" }));
    const current = await s3.send(new PutObjectCommand({ Bucket: "cond", Key: "doomed", Body: "v2" }));
    expect(await failure(s3.send(new DeleteObjectCommand({ Bucket: "cond", Key: "doomed", IfMatch: put.ETag })))).toEqual(["PreconditionFailed", 412]);
    expect(new TextDecoder().decode(await getBytes("cond", "doomed"))).toBe("v2");
    await s3.send(new DeleteObjectCommand({ Bucket: "cond", Key: "doomed", IfMatch: current.ETag }));
    expect(await failure(getBytes("cond", "doomed"))).toEqual(["NoSuchKey", 404]);
    expect(await failure(s3.send(new DeleteObjectCommand({ Bucket: "cond", Key: "doomed", IfMatch: "*" })))).toEqual(["NoSuchKey", 404]);
    await s3.send(new PutObjectCommand({ Bucket: "cond", Key: "any", Body: "x" }));
    await s3.send(new DeleteObjectCommand({ Bucket: "cond", Key: "any", IfMatch: "*" }));
    expect(await failure(getBytes("cond", "any"))).toEqual(["NoSuchKey", 404]);
    // In one DeleteObjects request: each key's ETag decides for that key alone.
    const kept = await s3.send(new PutObjectCommand({ Bucket: "cond", Key: "batch-kept", Body: "kept" }));
    const gone = await s3.send(new PutObjectCommand({ Bucket: "cond", Key: "batch-gone", Body: "gone" }));
    const batch = await s3.send(
      new DeleteObjectsCommand({
        Bucket: "cond",
        Delete: {
          Objects: [
            { Key: "batch-kept", ETag: `"${md5Hex("not this")}"` },
            { Key: "batch-gone", ETag: gone.ETag },
            { Key: "batch-absent", ETag: kept.ETag },
          ],
        },
      }),
    );
    expect((batch.Deleted ?? []).map((entry) => entry.Key)).toEqual(["batch-gone"]);
    expect((batch.Errors ?? []).map((entry) => [entry.Key, entry.Code]).sort()).toEqual([
      ["batch-absent", "NoSuchKey"],
      ["batch-kept", "PreconditionFailed"],
    ]);
    expect(new TextDecoder().decode(await getBytes("cond", "batch-kept"))).toBe("kept");
    expect(await failure(getBytes("cond", "batch-gone"))).toEqual(["NoSuchKey", 404]);
  });

  test("a conditional delete in a versioned bucket adds a delete marker only when the ETag holds; with a versionId it is refused", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "cond-versioned" }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: "cond-versioned", VersioningConfiguration: { Status: "Enabled" } }));
    const v1 = await s3.send(new PutObjectCommand({ Bucket: "cond-versioned", Key: "k", Body: "one" }));
    const v2 = await s3.send(new PutObjectCommand({ Bucket: "cond-versioned", Key: "k", Body: "two" }));
    expect(await failure(s3.send(new DeleteObjectCommand({ Bucket: "cond-versioned", Key: "k", IfMatch: v1.ETag })))).toEqual(["PreconditionFailed", 412]);
    expect(await failure(s3.send(new DeleteObjectCommand({ Bucket: "cond-versioned", Key: "k", VersionId: v1.VersionId, IfMatch: v1.ETag })))).toEqual([
      "InvalidArgument",
      400,
    ]);
    const marked = await s3.send(new DeleteObjectCommand({ Bucket: "cond-versioned", Key: "k", IfMatch: v2.ETag }));
    expect(marked.DeleteMarker).toBe(true);
    // The current version is now a delete marker: If-Match finds no current object.
    expect(await failure(s3.send(new DeleteObjectCommand({ Bucket: "cond-versioned", Key: "k", IfMatch: "*" })))).toEqual(["NoSuchKey", 404]);
    // Both versions are still there behind the marker.
    const old = await s3.send(new GetObjectCommand({ Bucket: "cond-versioned", Key: "k", VersionId: v1.VersionId }));
    expect(await old.Body!.transformToString()).toBe("one");
  });

  test("16 clients race If-None-Match: * on each of several new keys: one 200, the rest 412, the winner's bytes stored", async () => {
    const clients = Array.from({ length: 16 }, () => sdkClient(server));
    const next = random(seed);
    try {
      for (let round = 0; round < 4; round += 1) {
        const key = `race/${seed}/${round}`;
        // Small bodies are replicated, larger ones erasure-coded: both paths commit through the partition.
        const sizeBytes = round % 2 === 0 ? 1 + Math.floor(next() * 4096) : 200_000 + Math.floor(next() * 400_000);
        const outcomes = await Promise.all(
          clients.map(async (client, index) => {
            const body = patternBytes(sizeBytes, seed + round * 100 + index);
            try {
              const put = await client.send(new PutObjectCommand({ Bucket: "cond", Key: key, Body: body, IfNoneMatch: "*" }));
              return { status: 200, body, etag: put.ETag };
            } catch (error) {
              if (error instanceof S3ServiceException) return { status: error.$metadata.httpStatusCode, body, etag: undefined };
              throw error;
            }
          }),
        );
        const statuses = outcomes.map((outcome) => outcome.status);
        const winners = outcomes.filter((outcome) => outcome.status === 200);
        expect({ round, winners: winners.length }).toEqual({ round, winners: 1 });
        expect(statuses.filter((status) => status === 412 || status === 409).length).toBe(15);
        const stored = await getBytes("cond", key);
        expect(md5Hex(stored)).toBe(md5Hex(winners[0]!.body));
        expect(winners[0]!.etag).toBe(`"${md5Hex(stored)}"`);
      }
    } finally {
      for (const client of clients) client.destroy();
    }
  }, 60_000);

  test("a compare-and-swap counter with If-Match loses no update (6 clients × 4 increments)", async () => {
    await s3.send(new PutObjectCommand({ Bucket: "cond", Key: "counter", Body: "0" }));
    const clients = Array.from({ length: 6 }, () => sdkClient(server));
    const attemptsMax = 500;
    let refusals = 0;
    try {
      await Promise.all(
        clients.map(async (client) => {
          for (let increment = 0; increment < 4; increment += 1) {
            for (let attempt = 0; ; attempt += 1) {
              expect(attempt).toBeLessThan(attemptsMax);
              const current = await client.send(new GetObjectCommand({ Bucket: "cond", Key: "counter" }));
              const value = Number(await current.Body!.transformToString());
              try {
                await client.send(new PutObjectCommand({ Bucket: "cond", Key: "counter", Body: String(value + 1), IfMatch: current.ETag }));
                break;
              } catch (error) {
                if (!(error instanceof S3ServiceException) || error.$metadata.httpStatusCode !== 412) throw error;
                refusals += 1;
              }
            }
          }
        }),
      );
    } finally {
      for (const client of clients) client.destroy();
    }
    console.log(`compare-and-swap counter: 24 increments, ${refusals} refused attempts retried`);
    expect(new TextDecoder().decode(await getBytes("cond", "counter"))).toBe("24");
  }, 60_000);
});

describe("conditional reads on the real server", () => {
  test("GET and HEAD answer 304 and 412 as the SDK surfaces them", async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: "cond", Key: "read", Body: "readable" }));
    const { LastModified: lastModified } = await s3.send(new HeadObjectCommand({ Bucket: "cond", Key: "read" }));
    const later = new Date(lastModified!.getTime() + 60_000);
    const earlier = new Date(lastModified!.getTime() - 60_000);
    expect((await failure(s3.send(new GetObjectCommand({ Bucket: "cond", Key: "read", IfNoneMatch: put.ETag }))))[1]).toBe(304);
    expect((await failure(s3.send(new HeadObjectCommand({ Bucket: "cond", Key: "read", IfNoneMatch: put.ETag }))))[1]).toBe(304);
    expect((await failure(s3.send(new GetObjectCommand({ Bucket: "cond", Key: "read", IfModifiedSince: later }))))[1]).toBe(304);
    expect(await failure(s3.send(new GetObjectCommand({ Bucket: "cond", Key: "read", IfMatch: '"00"' })))).toEqual(["PreconditionFailed", 412]);
    expect((await failure(s3.send(new HeadObjectCommand({ Bucket: "cond", Key: "read", IfUnmodifiedSince: earlier }))))[1]).toBe(412);
    const proceed = await s3.send(new GetObjectCommand({ Bucket: "cond", Key: "read", IfMatch: put.ETag, IfModifiedSince: earlier }));
    expect(await proceed.Body!.transformToString()).toBe("readable");
  });
});

describe("CopyObject on the real server", () => {
  test("COPY and REPLACE directives, copy-source conditions, a named source version", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "copies" }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: "copies", VersioningConfiguration: { Status: "Enabled" } }));
    const v1 = await s3.send(
      new PutObjectCommand({ Bucket: "copies", Key: "src", Body: "one", ContentType: "text/plain", Metadata: { origin: "sdk" }, ChecksumAlgorithm: "CRC32" }),
    );
    await s3.send(new PutObjectCommand({ Bucket: "copies", Key: "src", Body: "two", ContentType: "text/plain" }));

    const copied = await s3.send(new CopyObjectCommand({ Bucket: "cond", Key: "copy-of-v1", CopySource: `copies/src?versionId=${v1.VersionId}` }));
    expect(copied.CopyObjectResult?.ETag).toBe(`"${md5Hex("one")}"`);
    expect(copied.CopyObjectResult?.ChecksumCRC32).toBe(v1.ChecksumCRC32);
    expect(copied.CopySourceVersionId).toBe(v1.VersionId);
    const head = await s3.send(new HeadObjectCommand({ Bucket: "cond", Key: "copy-of-v1" }));
    expect([head.ContentType, head.Metadata]).toEqual(["text/plain", { origin: "sdk" }]);

    await s3.send(
      new CopyObjectCommand({ Bucket: "copies", Key: "replaced", CopySource: "copies/src", MetadataDirective: "REPLACE", ContentType: "application/json", Metadata: { new: "1" } }),
    );
    const replaced = await s3.send(new HeadObjectCommand({ Bucket: "copies", Key: "replaced" }));
    expect([replaced.ContentType, replaced.Metadata]).toEqual(["application/json", { new: "1" }]);
    expect(new TextDecoder().decode(await getBytes("copies", "replaced"))).toBe("two");

    expect(await failure(s3.send(new CopyObjectCommand({ Bucket: "cond", Key: "guarded", CopySource: "copies/src", CopySourceIfMatch: v1.ETag })))).toEqual([
      "PreconditionFailed",
      412,
    ]);
    expect(await failure(s3.send(new CopyObjectCommand({ Bucket: "cond", Key: "copy-of-v1", CopySource: "copies/src", IfNoneMatch: "*" })))).toEqual([
      "PreconditionFailed",
      412,
    ]);
    expect(await failure(s3.send(new CopyObjectCommand({ Bucket: "cond", Key: "x", CopySource: "copies/absent" })))).toEqual(["NoSuchKey", 404]);
    expect(await failure(s3.send(new CopyObjectCommand({ Bucket: "copies", Key: "replaced", CopySource: "copies/replaced" })))).toEqual([
      "InvalidRequest",
      400,
    ]);
  });

  test("a multi-MiB object copies byte for byte (streamed through the erasure-coded write)", async () => {
    const body = patternBytes(9 * 1024 * 1024 + 12_345, seed);
    await s3.send(new PutObjectCommand({ Bucket: "cond", Key: "big/source.bin", Body: body }));
    const copied = await s3.send(new CopyObjectCommand({ Bucket: "cond", Key: "big/copy.bin", CopySource: "cond/big/source.bin" }));
    expect(copied.CopyObjectResult?.ETag).toBe(`"${md5Hex(body)}"`);
    const stored = await getBytes("cond", "big/copy.bin");
    expect(stored.byteLength).toBe(body.byteLength);
    expect(Buffer.compare(Buffer.from(stored), Buffer.from(body))).toBe(0);
  }, 60_000);

  test("the AWS CLI: aws s3 cp s3://… s3://… (a server-side copy) and aws s3api copy-object", async () => {
    await s3.send(new PutObjectCommand({ Bucket: "cond", Key: "cli/source file.txt", Body: "from the cli", ContentType: "text/plain" }));
    const cp = await awsCli(server, ["s3", "cp", "s3://cond/cli/source file.txt", "s3://cond/cli/copied by cp.txt"]);
    expect({ code: cp.code, stderr: cp.stderr }).toEqual({ code: 0, stderr: "" });
    expect(cp.stdout).toContain("copy: s3://cond/cli/source file.txt to s3://cond/cli/copied by cp.txt");
    expect(new TextDecoder().decode(await getBytes("cond", "cli/copied by cp.txt"))).toBe("from the cli");

    const api = await awsCli(server, [
      "s3api",
      "copy-object",
      "--bucket",
      "cond",
      "--key",
      "cli/copied by s3api.txt",
      "--copy-source",
      // botocore URL-encodes the copy source itself: the key is given as it is.
      "cond/cli/source file.txt",
      "--metadata-directive",
      "REPLACE",
      "--content-type",
      "text/x-copied",
    ]);
    expect({ code: api.code, stderr: api.stderr }).toEqual({ code: 0, stderr: "" });
    const reply = JSON.parse(api.stdout) as { CopyObjectResult?: { ETag?: string } };
    expect(reply.CopyObjectResult?.ETag).toBe(`"${md5Hex("from the cli")}"`);
    const head = await s3.send(new HeadObjectCommand({ Bucket: "cond", Key: "cli/copied by s3api.txt" }));
    expect(head.ContentType).toBe("text/x-copied");
  }, 60_000);
});
