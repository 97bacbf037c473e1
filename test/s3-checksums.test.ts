/**
 * Checksums against the real server process (the cluster's object service and
 * metadata records, not the memory backend): the AWS SDK for JavaScript v3
 * with its DEFAULT settings (a CRC32 in an aws-chunked trailer for streams, a
 * header for in-memory bodies) and with each ChecksumAlgorithm, a wrong
 * checksum refused with BadDigest and nothing stored, the stored value
 * returned with ChecksumMode ENABLED; and the AWS CLI's `s3api put-object
 * --checksum-algorithm`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type ChecksumAlgorithm as SdkAlgorithm,
} from "@aws-sdk/client-s3";
import { Crc32cJs, Crc32Js, Crc64NvmeJs } from "@aws-sdk/checksums/crc";
import { awsCli } from "./support/clients.ts";
import { sdkClient } from "./support/clients.ts";
import { startServer, type ServerProcess } from "./support/server.ts";

let server: ServerProcess;
let s3: S3Client;
let workDir: string;
const bucket = "checksums";

beforeAll(async () => {
  server = await startServer();
  s3 = sdkClient(server);
  workDir = mkdtempSync(join(tmpdir(), "cairn-checksums-"));
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  s3?.destroy();
  await server?.dispose();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** Expected values computed by other code than the server's: the SDK's JS CRCs and node:crypto. */
async function expectedChecksum(algorithm: string, data: Uint8Array): Promise<string> {
  switch (algorithm) {
    case "CRC32":
    case "CRC32C":
    case "CRC64NVME": {
      const hasher = algorithm === "CRC32" ? new Crc32Js() : algorithm === "CRC32C" ? new Crc32cJs() : new Crc64NvmeJs();
      hasher.update(data);
      return Buffer.from(await hasher.digest()).toString("base64");
    }
    case "SHA1":
      return createHash("sha1").update(data).digest("base64");
    case "SHA256":
      return createHash("sha256").update(data).digest("base64");
    default:
      throw new Error(`no reference for ${algorithm}`);
  }
}

async function errorName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { name: string }).name;
  }
  return "no error";
}

const field = (response: object, algorithm: string): unknown => (response as Record<string, unknown>)[`Checksum${algorithm}`];

function patterned(lengthBytes: number, salt: number): Buffer {
  return Buffer.from(new Uint8Array(lengthBytes).map((_, index) => (index * 31 + salt) % 251));
}

describe("the AWS SDK with default settings", () => {
  test("a stream body: CRC32 in the trailer, verified, stored in the record, returned with ChecksumMode ENABLED", async () => {
    // Large enough for the erasure-coded layout, not the replicated one.
    const parts = [patterned(1_500_000, 1), patterned(900_001, 2)];
    const whole = Buffer.concat(parts);
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "default/stream", Body: Readable.from(parts), ContentLength: whole.length }));
    const crc = await expectedChecksum("CRC32", whole);
    expect(put.ChecksumCRC32).toBe(crc);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "default/stream", ChecksumMode: "ENABLED" }));
    expect(got.ChecksumCRC32).toBe(crc);
    expect(got.ChecksumType).toBe("FULL_OBJECT");
    expect(Buffer.from((await got.Body?.transformToByteArray())!).equals(whole)).toBe(true);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "default/stream", ChecksumMode: "ENABLED" }));
    expect(head.ChecksumCRC32).toBe(crc);
  });

  test("an in-memory body: CRC32 in a header", async () => {
    const body = "small object, default checksum";
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "default/small", Body: body }));
    expect(put.ChecksumCRC32).toBe(await expectedChecksum("CRC32", Buffer.from(body)));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "default/small", ChecksumMode: "ENABLED" }));
    expect(got.ChecksumCRC32).toBe(put.ChecksumCRC32);
    expect(await got.Body?.transformToString()).toBe(body);
  });
});

describe("each ChecksumAlgorithm", () => {
  for (const algorithm of ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"] as const) {
    test(algorithm, async () => {
      const data = patterned(300_000 + algorithm.length, algorithm.length);
      const expected = await expectedChecksum(algorithm, data);
      for (const [key, body] of [
        [`${algorithm}/stream`, Readable.from([data.subarray(0, 123_456), data.subarray(123_456)])],
        [`${algorithm}/bytes`, data],
      ] as const) {
        const put = await s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: data.length, ChecksumAlgorithm: algorithm as SdkAlgorithm }),
        );
        expect(field(put, algorithm)).toBe(expected);
        const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
        expect(field(got, algorithm)).toBe(expected);
        expect(Buffer.from((await got.Body?.transformToByteArray())!).equals(data)).toBe(true);
      }
    });
  }
});

describe("refusals store nothing", () => {
  test("a wrong checksum value → BadDigest, and the key does not exist", async () => {
    for (const [algorithm, wrong] of [
      ["CRC32", { ChecksumCRC32: "AAAAAA==" }],
      ["SHA256", { ChecksumSHA256: createHash("sha256").update("not the body").digest("base64") }],
      ["CRC64NVME", { ChecksumCRC64NVME: "AAAAAAAAAAA=" }],
    ] as const) {
      const key = `wrong/${algorithm}`;
      expect(await errorName(s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "the real body", ...wrong })))).toBe("BadDigest");
      expect(await errorName(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })))).toBe("NotFound");
    }
  });

  test("a wrong checksum does not replace an existing object", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "keep", Body: "version one" }));
    expect(await errorName(s3.send(new PutObjectCommand({ Bucket: bucket, Key: "keep", Body: "version two", ChecksumCRC32C: "AAAAAA==" })))).toBe(
      "BadDigest",
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "keep" }));
    expect(await got.Body?.transformToString()).toBe("version one");
  });

});

describe("the AWS CLI", () => {
  // The CLI here (Debian's awscli 2.9) offers CRC32, CRC32C, SHA1 and SHA256 for --checksum-algorithm.
  for (const algorithm of ["CRC32", "CRC32C", "SHA1", "SHA256"] as const) {
    test(`s3api put-object --checksum-algorithm ${algorithm}, get-object and head-object --checksum-mode ENABLED`, async () => {
      const data = patterned(70_000, 3 + algorithm.length);
      const file = join(workDir, `${algorithm}.bin`);
      writeFileSync(file, data);
      const key = `cli/${algorithm}`;
      const put = await awsCli(server, ["s3api", "put-object", "--bucket", bucket, "--key", key, "--body", file, "--checksum-algorithm", algorithm]);
      if (put.code !== 0) throw new Error(`put-object failed: ${put.stderr}`);
      const expected = await expectedChecksum(algorithm, data);
      expect((JSON.parse(put.stdout) as Record<string, unknown>)[`Checksum${algorithm}`]).toBe(expected);

      const out = join(workDir, `${algorithm}.out`);
      const got = await awsCli(server, ["s3api", "get-object", "--bucket", bucket, "--key", key, "--checksum-mode", "ENABLED", out]);
      if (got.code !== 0) throw new Error(`get-object failed: ${got.stderr}`);
      expect((JSON.parse(got.stdout) as Record<string, unknown>)[`Checksum${algorithm}`]).toBe(expected);
      expect(readFileSync(out).equals(data)).toBe(true);

      const head = await awsCli(server, ["s3api", "head-object", "--bucket", bucket, "--key", key, "--checksum-mode", "ENABLED"]);
      if (head.code !== 0) throw new Error(`head-object failed: ${head.stderr}`);
      expect((JSON.parse(head.stdout) as Record<string, unknown>)[`Checksum${algorithm}`]).toBe(expected);
    });
  }

  test("s3api put-object with a wrong --checksum-crc32 → BadDigest, nothing stored", async () => {
    const file = join(workDir, "wrong.bin");
    writeFileSync(file, "cli body");
    const put = await awsCli(server, ["s3api", "put-object", "--bucket", bucket, "--key", "cli/wrong", "--body", file, "--checksum-crc32", "AAAAAA=="]);
    expect(put.code).not.toBe(0);
    expect(put.stderr).toContain("BadDigest");
    const head = await awsCli(server, ["s3api", "head-object", "--bucket", bucket, "--key", "cli/wrong"]);
    expect(head.code).not.toBe(0);
    expect(head.stderr).toContain("404");
  });
});
