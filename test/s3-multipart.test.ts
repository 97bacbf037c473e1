/**
 * Multipart upload against the real server process with the AWS SDK for
 * JavaScript v3 (default settings: it adds CRC32 checksums to parts) and the
 * AWS CLI (`aws s3 cp` of 200 MiB goes multipart at its default 8 MiB
 * threshold): every step, the refusals S3 documents, UploadPartCopy with a
 * range, composite and FULL_OBJECT checksums, abort, and reading one part
 * (`partNumber`).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { createHash, randomFillSync } from "node:crypto";
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checksumOf } from "../gateway/s3/checksum.ts";
import { awsCli, sdkClient } from "./support/clients.ts";
import { startServer, type ServerProcess } from "./support/server.ts";
import { patternBytes } from "./support/bytes.ts";

const mib = 1024 * 1024;
let server: ServerProcess;
let s3: S3Client;
let workDir: string;

beforeAll(async () => {
  server = await startServer();
  s3 = sdkClient(server);
  workDir = mkdtempSync(join(tmpdir(), "cairn-multipart-"));
  await s3.send(new CreateBucketCommand({ Bucket: "mpu-test" }));
});
afterAll(async () => {
  s3?.destroy();
  await server?.dispose();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});


function md5(bytes: Uint8Array): Buffer {
  return createHash("md5").update(bytes).digest();
}

async function errorOf(promise: Promise<unknown>): Promise<{ name: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    const failure = error as { name: string; $metadata?: { httpStatusCode?: number } };
    return { name: failure.name, ...(failure.$metadata?.httpStatusCode === undefined ? {} : { status: failure.$metadata.httpStatusCode }) };
  }
  return { name: "no error" };
}

async function bodyOf(key: string, range?: string): Promise<Uint8Array> {
  const reply = await s3.send(new GetObjectCommand({ Bucket: "mpu-test", Key: key, ...(range === undefined ? {} : { Range: range }) }));
  return new Uint8Array(await reply.Body!.transformToByteArray());
}

function concat(...pieces: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(pieces));
}

describe("multipart upload with the AWS SDK", () => {
  test("create, upload (one part replaced), list, complete with a subset, read whole and across part boundaries", async () => {
    const created = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: "mpu-test", Key: "big/one", ContentType: "text/x-parts", Metadata: { colour: "green" }, Tagging: "team=storage&tier=hot" }),
    );
    const uploadId = created.UploadId!;
    const parts = [patternBytes(5 * mib + 17, 1), patternBytes(5 * mib, 2), patternBytes(3 * mib + 5, 3)];
    const etags: string[] = [];
    for (const [index, body] of parts.entries()) {
      const reply = await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "big/one", UploadId: uploadId, PartNumber: index + 1, Body: body }));
      etags.push(reply.ETag!);
      expect(reply.ETag).toBe(`"${md5(body).toString("hex")}"`);
    }
    // Part 2 uploaded again: the later bytes count.
    parts[1] = patternBytes(5 * mib + 1, 22);
    etags[1] = (await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "big/one", UploadId: uploadId, PartNumber: 2, Body: parts[1] }))).ETag!;
    // A part 7 that the completion leaves out: it must not appear in the object.
    await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "big/one", UploadId: uploadId, PartNumber: 7, Body: patternBytes(100, 7) }));

    const listed = await s3.send(new ListPartsCommand({ Bucket: "mpu-test", Key: "big/one", UploadId: uploadId, MaxParts: 2 }));
    expect(listed.Parts?.map((part) => part.PartNumber)).toEqual([1, 2]);
    expect(listed.IsTruncated).toBe(true);
    const rest = await s3.send(new ListPartsCommand({ Bucket: "mpu-test", Key: "big/one", UploadId: uploadId, PartNumberMarker: listed.NextPartNumberMarker }));
    expect(rest.Parts?.map((part) => [part.PartNumber, part.Size])).toEqual([
      [3, 3 * mib + 5],
      [7, 100],
    ]);
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: "mpu-test" }));
    expect(uploads.Uploads?.some((upload) => upload.UploadId === uploadId && upload.Key === "big/one")).toBe(true);

    const completed = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: "mpu-test",
        Key: "big/one",
        UploadId: uploadId,
        MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
      }),
    );
    const expectedEtag = `"${createHash("md5").update(Buffer.concat(parts.map(md5))).digest("hex")}-3"`;
    expect(completed.ETag).toBe(expectedEtag);
    const whole = concat(...parts);
    const head = await s3.send(new HeadObjectCommand({ Bucket: "mpu-test", Key: "big/one" }));
    expect(head.ContentLength).toBe(whole.byteLength);
    expect(head.ETag).toBe(expectedEtag);
    expect(head.ContentType).toBe("text/x-parts");
    expect(head.Metadata).toEqual({ colour: "green" });
    const tagging = await s3.send(new GetObjectTaggingCommand({ Bucket: "mpu-test", Key: "big/one" }));
    expect(tagging.TagSet).toEqual([
      { Key: "team", Value: "storage" },
      { Key: "tier", Value: "hot" },
    ]);
    expect(Buffer.compare(await bodyOf("big/one"), whole)).toBe(0);
    // Ranges inside one part, across the 1→2 and 2→3 boundaries, and the tail.
    for (const [first, last] of [
      [10, 1000],
      [5 * mib, 5 * mib + 40],
      [5 * mib + 17 - 3, 10 * mib + 30],
      [whole.byteLength - 7, whole.byteLength - 1],
    ] as const) {
      const got = await bodyOf("big/one", `bytes=${first}-${last}`);
      expect(Buffer.compare(got, whole.subarray(first, last + 1))).toBe(0);
    }
    // The upload is gone once completed.
    expect((await errorOf(s3.send(new ListPartsCommand({ Bucket: "mpu-test", Key: "big/one", UploadId: uploadId })))).name).toBe("NoSuchUpload");
    const after = await s3.send(new ListMultipartUploadsCommand({ Bucket: "mpu-test" }));
    expect(after.Uploads?.some((upload) => upload.UploadId === uploadId) ?? false).toBe(false);
  });

  test("GetObject and HeadObject with partNumber: each part's bytes (206, Content-Range, PartsCount); past the last part 416; a plain object is one part", async () => {
    const key = "parts/read";
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: "mpu-test", Key: key }));
    const parts = [patternBytes(5 * mib + 3, 31), patternBytes(5 * mib, 32), patternBytes(1_000, 33)];
    const completedParts = [];
    for (const [index, body] of parts.entries()) {
      const reply = await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: key, UploadId: created.UploadId, PartNumber: index + 1, Body: body }));
      completedParts.push({ ETag: reply.ETag!, PartNumber: index + 1 });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: "mpu-test", Key: key, UploadId: created.UploadId, MultipartUpload: { Parts: completedParts } }));
    const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
    let offset = 0;
    for (const [index, body] of parts.entries()) {
      const got = await s3.send(new GetObjectCommand({ Bucket: "mpu-test", Key: key, PartNumber: index + 1 }));
      expect(got.$metadata.httpStatusCode).toBe(206);
      expect(got.PartsCount).toBe(3);
      expect(got.ContentLength).toBe(body.byteLength);
      expect(got.ContentRange).toBe(`bytes ${offset}-${offset + body.byteLength - 1}/${total}`);
      expect(Buffer.compare(new Uint8Array(await got.Body!.transformToByteArray()), body)).toBe(0);
      const head = await s3.send(new HeadObjectCommand({ Bucket: "mpu-test", Key: key, PartNumber: index + 1 }));
      expect([head.ContentLength, head.PartsCount]).toEqual([body.byteLength, 3]);
      offset += body.byteLength;
    }
    expect(await errorOf(s3.send(new GetObjectCommand({ Bucket: "mpu-test", Key: key, PartNumber: 4 })))).toEqual({ name: "InvalidPartNumber", status: 416 });
    expect(await errorOf(s3.send(new GetObjectCommand({ Bucket: "mpu-test", Key: key, PartNumber: 2, Range: "bytes=0-9" })))).toEqual({ name: "InvalidRequest", status: 400 });
    // A plain object is one part: number 1 is all of it (no count), number 2 is past it.
    const plain = patternBytes(70_000, 34);
    await s3.send(new PutObjectCommand({ Bucket: "mpu-test", Key: "parts/plain", Body: plain }));
    const whole = await s3.send(new GetObjectCommand({ Bucket: "mpu-test", Key: "parts/plain", PartNumber: 1 }));
    expect([whole.$metadata.httpStatusCode, whole.PartsCount]).toEqual([200, undefined]);
    expect(Buffer.compare(new Uint8Array(await whole.Body!.transformToByteArray()), plain)).toBe(0);
    expect(await errorOf(s3.send(new GetObjectCommand({ Bucket: "mpu-test", Key: "parts/plain", PartNumber: 2 })))).toEqual({ name: "InvalidPartNumber", status: 416 });
  });

  test("refusals leave the upload open: InvalidPart, InvalidPartOrder, EntityTooSmall; then it completes", async () => {
    const uploadId = (await s3.send(new CreateMultipartUploadCommand({ Bucket: "mpu-test", Key: "refusals" }))).UploadId!;
    const small = patternBytes(1 * mib, 5);
    const big = patternBytes(5 * mib, 6);
    const first = (await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "refusals", UploadId: uploadId, PartNumber: 1, Body: small }))).ETag!;
    const second = (await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "refusals", UploadId: uploadId, PartNumber: 2, Body: big }))).ETag!;
    const complete = (parts: { ETag: string; PartNumber: number }[]) =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket: "mpu-test", Key: "refusals", UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    expect(await errorOf(complete([{ ETag: '"00000000000000000000000000000000"', PartNumber: 1 }]))).toEqual({ name: "InvalidPart", status: 400 });
    expect(await errorOf(complete([{ ETag: first, PartNumber: 3 }]))).toEqual({ name: "InvalidPart", status: 400 });
    expect(await errorOf(complete([{ ETag: second, PartNumber: 2 }, { ETag: first, PartNumber: 1 }]))).toEqual({ name: "InvalidPartOrder", status: 400 });
    expect(await errorOf(complete([{ ETag: first, PartNumber: 1 }, { ETag: second, PartNumber: 2 }]))).toEqual({ name: "EntityTooSmall", status: 400 });
    // Still open: a part can still be uploaded, and the small part is fine as the last one.
    const third = (await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "refusals", UploadId: uploadId, PartNumber: 3, Body: small }))).ETag!;
    await complete([{ ETag: second, PartNumber: 2 }, { ETag: third, PartNumber: 3 }]);
    expect(Buffer.compare(await bodyOf("refusals"), concat(big, small))).toBe(0);
    expect((await errorOf(s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "refusals", UploadId: uploadId, PartNumber: 4, Body: small })))).name).toBe("NoSuchUpload");
  });

  test("abort: the upload and its parts are gone; unknown upload ids are NoSuchUpload", async () => {
    const uploadId = (await s3.send(new CreateMultipartUploadCommand({ Bucket: "mpu-test", Key: "aborted" }))).UploadId!;
    await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "aborted", UploadId: uploadId, PartNumber: 1, Body: patternBytes(300_000, 9) }));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: "mpu-test", Key: "aborted", UploadId: uploadId }));
    expect((await errorOf(s3.send(new ListPartsCommand({ Bucket: "mpu-test", Key: "aborted", UploadId: uploadId })))).name).toBe("NoSuchUpload");
    expect((await errorOf(s3.send(new AbortMultipartUploadCommand({ Bucket: "mpu-test", Key: "aborted", UploadId: uploadId })))).name).toBe("NoSuchUpload");
    expect((await errorOf(s3.send(new HeadObjectCommand({ Bucket: "mpu-test", Key: "aborted" })))).name).toBe("NotFound");
    expect((await errorOf(s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "aborted", UploadId: "nope", PartNumber: 1, Body: "x" })))).name).toBe("NoSuchUpload");
    expect((await errorOf(s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "aborted", UploadId: uploadId, PartNumber: 10_001, Body: "x" })))).name).toBe("InvalidArgument");
  });

  test("UploadPartCopy with and without a source range", async () => {
    const source = patternBytes(7 * mib + 3, 11);
    await s3.send(new PutObjectCommand({ Bucket: "mpu-test", Key: "copy-source", Body: source }));
    const uploadId = (await s3.send(new CreateMultipartUploadCommand({ Bucket: "mpu-test", Key: "copied" }))).UploadId!;
    const first = await s3.send(
      new UploadPartCopyCommand({ Bucket: "mpu-test", Key: "copied", UploadId: uploadId, PartNumber: 1, CopySource: "mpu-test/copy-source", CopySourceRange: `bytes=0-${5 * mib - 1}` }),
    );
    const second = await s3.send(new UploadPartCopyCommand({ Bucket: "mpu-test", Key: "copied", UploadId: uploadId, PartNumber: 2, CopySource: "/mpu-test/copy-source" }));
    expect(first.CopyPartResult?.ETag).toBe(`"${md5(source.subarray(0, 5 * mib)).toString("hex")}"`);
    // A range past the source's end is refused; the upload is unchanged.
    const outside = await errorOf(
      s3.send(new UploadPartCopyCommand({ Bucket: "mpu-test", Key: "copied", UploadId: uploadId, PartNumber: 3, CopySource: "mpu-test/copy-source", CopySourceRange: "bytes=0-99999999" })),
    );
    expect(outside).toEqual({ name: "InvalidRange", status: 416 });
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: "mpu-test",
        Key: "copied",
        UploadId: uploadId,
        MultipartUpload: { Parts: [{ ETag: first.CopyPartResult!.ETag!, PartNumber: 1 }, { ETag: second.CopyPartResult!.ETag!, PartNumber: 2 }] },
      }),
    );
    expect(Buffer.compare(await bodyOf("copied"), concat(source.subarray(0, 5 * mib), source))).toBe(0);
  });

  test("a CRC32 upload gets a composite checksum, returned with checksum mode", async () => {
    const uploadId = (await s3.send(new CreateMultipartUploadCommand({ Bucket: "mpu-test", Key: "summed", ChecksumAlgorithm: "CRC32" }))).UploadId!;
    const parts = [patternBytes(5 * mib, 21), patternBytes(1000, 22)];
    const done: { ETag: string; PartNumber: number; ChecksumCRC32: string }[] = [];
    for (const [index, body] of parts.entries()) {
      const reply = await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "summed", UploadId: uploadId, PartNumber: index + 1, Body: body, ChecksumAlgorithm: "CRC32" }));
      expect(reply.ChecksumCRC32).toBeDefined();
      done.push({ ETag: reply.ETag!, PartNumber: index + 1, ChecksumCRC32: reply.ChecksumCRC32! });
    }
    const completed = await s3.send(new CompleteMultipartUploadCommand({ Bucket: "mpu-test", Key: "summed", UploadId: uploadId, MultipartUpload: { Parts: done } }));
    const raw = Buffer.concat(done.map((part) => Buffer.from(part.ChecksumCRC32, "base64")));
    const { crc32 } = await import("@node-rs/crc32");
    const expected = Buffer.alloc(4);
    expected.writeUInt32BE(crc32(raw) >>> 0);
    expect(completed.ChecksumCRC32).toBe(`${expected.toString("base64")}-2`);
    const head = await s3.send(new HeadObjectCommand({ Bucket: "mpu-test", Key: "summed", ChecksumMode: "ENABLED" }));
    expect(head.ChecksumCRC32).toBe(`${expected.toString("base64")}-2`);
    // A part checksum that does not match what was stored is InvalidPart.
    const other = (await s3.send(new CreateMultipartUploadCommand({ Bucket: "mpu-test", Key: "summed-2", ChecksumAlgorithm: "CRC32" }))).UploadId!;
    const part = await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "summed-2", UploadId: other, PartNumber: 1, Body: parts[1], ChecksumAlgorithm: "CRC32" }));
    const wrong = await errorOf(
      s3.send(new CompleteMultipartUploadCommand({ Bucket: "mpu-test", Key: "summed-2", UploadId: other, MultipartUpload: { Parts: [{ ETag: part.ETag!, PartNumber: 1, ChecksumCRC32: "AAAAAA==" }] } })),
    );
    expect(wrong.name).toBe("InvalidPart");
  });

  test("FULL_OBJECT checksums (CRC32C asked for, CRC64NVME by default): the whole body's CRC from the parts' CRCs; a wrong one is BadDigest and the upload stays open", async () => {
    const parts = [patternBytes(5 * mib + 11, 41), patternBytes(5 * mib, 42), patternBytes(777, 43)];
    const whole = concat(...parts);
    for (const [algorithm, type] of [
      ["CRC32C", "FULL_OBJECT"],
      ["CRC64NVME", undefined],
    ] as const) {
      const key = `full/${algorithm}`;
      const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: "mpu-test", Key: key, ChecksumAlgorithm: algorithm, ...(type === undefined ? {} : { ChecksumType: type }) }));
      expect(created.ChecksumType).toBe("FULL_OBJECT");
      const done: { ETag: string; PartNumber: number; ChecksumCRC32C?: string; ChecksumCRC64NVME?: string }[] = [];
      for (const [index, body] of parts.entries()) {
        const reply = await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: key, UploadId: created.UploadId, PartNumber: index + 1, Body: body, ChecksumAlgorithm: algorithm }));
        done.push({ ETag: reply.ETag!, PartNumber: index + 1, [`Checksum${algorithm}`]: algorithm === "CRC32C" ? reply.ChecksumCRC32C : reply.ChecksumCRC64NVME });
      }
      const expected = checksumOf(algorithm, whole);
      const field = `Checksum${algorithm}` as const;
      // The client's whole-object value is checked before anything is committed.
      const wrong = await errorOf(
        s3.send(new CompleteMultipartUploadCommand({ Bucket: "mpu-test", Key: key, UploadId: created.UploadId, MultipartUpload: { Parts: done }, [field]: checksumOf(algorithm, parts[0]!) })),
      );
      expect(wrong).toEqual({ name: "BadDigest", status: 400 });
      expect((await s3.send(new ListPartsCommand({ Bucket: "mpu-test", Key: key, UploadId: created.UploadId }))).Parts?.length).toBe(3);
      const completed = await s3.send(
        new CompleteMultipartUploadCommand({ Bucket: "mpu-test", Key: key, UploadId: created.UploadId, MultipartUpload: { Parts: done }, [field]: expected, ChecksumType: "FULL_OBJECT" }),
      );
      expect([completed[field], completed.ChecksumType]).toEqual([expected, "FULL_OBJECT"]);
      const head = await s3.send(new HeadObjectCommand({ Bucket: "mpu-test", Key: key, ChecksumMode: "ENABLED" }));
      expect([head[field], head.ChecksumType]).toEqual([expected, "FULL_OBJECT"]);
      // The SDK checks a whole GET against a FULL_OBJECT checksum itself.
      const got = await s3.send(new GetObjectCommand({ Bucket: "mpu-test", Key: key, ChecksumMode: "ENABLED" }));
      expect(Buffer.compare(new Uint8Array(await got.Body!.transformToByteArray()), whole)).toBe(0);
    }
  });

  test("CompleteMultipartUpload with If-None-Match: * creates only when the key is absent; If-Match compares the ETag", async () => {
    const start = async (key: string): Promise<{ uploadId: string; etag: string }> => {
      const uploadId = (await s3.send(new CreateMultipartUploadCommand({ Bucket: "mpu-test", Key: key }))).UploadId!;
      const etag = (await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: key, UploadId: uploadId, PartNumber: 1, Body: patternBytes(1000, 51) }))).ETag!;
      return { uploadId, etag };
    };
    const complete = (key: string, upload: { uploadId: string; etag: string }, condition: { IfNoneMatch?: string; IfMatch?: string }) =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket: "mpu-test", Key: key, UploadId: upload.uploadId, MultipartUpload: { Parts: [{ ETag: upload.etag, PartNumber: 1 }] }, ...condition }));
    const first = await start("conditional");
    const created = await complete("conditional", first, { IfNoneMatch: "*" });
    const second = await start("conditional");
    expect(await errorOf(complete("conditional", second, { IfNoneMatch: "*" }))).toEqual({ name: "PreconditionFailed", status: 412 });
    // Refused, the upload stays open: completing it with the right If-Match replaces the object.
    expect(await errorOf(complete("conditional", second, { IfMatch: '"0123456789abcdef0123456789abcdef"' }))).toEqual({ name: "PreconditionFailed", status: 412 });
    const replaced = await complete("conditional", second, { IfMatch: created.ETag! });
    expect(replaced.ETag).toBe(created.ETag);
    expect((await s3.send(new ListPartsCommand({ Bucket: "mpu-test", Key: "conditional", UploadId: second.uploadId })).catch((error: Error) => error)) instanceof Error).toBe(true);
  });

  test("an incomplete upload keeps its bucket from being deleted until it is aborted", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "mpu-pending" }));
    const uploadId = (await s3.send(new CreateMultipartUploadCommand({ Bucket: "mpu-pending", Key: "k" }))).UploadId!;
    await s3.send(new UploadPartCommand({ Bucket: "mpu-pending", Key: "k", UploadId: uploadId, PartNumber: 1, Body: patternBytes(1000, 41) }));
    expect(await errorOf(s3.send(new DeleteBucketCommand({ Bucket: "mpu-pending" })))).toEqual({ name: "BucketNotEmpty", status: 409 });
    await s3.send(new AbortMultipartUploadCommand({ Bucket: "mpu-pending", Key: "k", UploadId: uploadId }));
    await s3.send(new DeleteBucketCommand({ Bucket: "mpu-pending" }));
  });

  test("deleting a multipart object leaves the bucket empty", async () => {
    const uploadId = (await s3.send(new CreateMultipartUploadCommand({ Bucket: "mpu-test", Key: "gone" }))).UploadId!;
    const etag = (await s3.send(new UploadPartCommand({ Bucket: "mpu-test", Key: "gone", UploadId: uploadId, PartNumber: 1, Body: patternBytes(2 * mib, 31) }))).ETag!;
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: "mpu-test", Key: "gone", UploadId: uploadId, MultipartUpload: { Parts: [{ ETag: etag, PartNumber: 1 }] } }));
    await s3.send(new DeleteObjectCommand({ Bucket: "mpu-test", Key: "gone" }));
    expect((await errorOf(s3.send(new HeadObjectCommand({ Bucket: "mpu-test", Key: "gone" })))).name).toBe("NotFound");
  });
});

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 8 * mib })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

describe("multipart upload with the AWS CLI", () => {
  test("aws s3 cp of 200 MiB goes multipart (default settings) and comes back identical", async () => {
    const path = join(workDir, "big.bin");
    const descriptor = openSync(path, "w");
    const block = Buffer.alloc(8 * mib);
    for (let written = 0; written < 200 * mib; written += block.byteLength) writeSync(descriptor, randomFillSync(block));
    closeSync(descriptor);
    const upload = await awsCli(server, ["s3", "cp", path, "s3://mpu-test/cli/big.bin"]);
    expect(upload.code, upload.stderr).toBe(0);
    const head = await s3.send(new HeadObjectCommand({ Bucket: "mpu-test", Key: "cli/big.bin" }));
    expect(head.ContentLength).toBe(200 * mib);
    // An ETag ending in -N proves the CLI went multipart.
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}-[0-9]+"$/);
    const back = join(workDir, "big.back");
    const download = await awsCli(server, ["s3", "cp", "s3://mpu-test/cli/big.bin", back]);
    expect(download.code, download.stderr).toBe(0);
    expect(await sha256OfFile(back)).toBe(await sha256OfFile(path));
  }, 240_000);
});
