/**
 * A retried PUT lands once. The first attempt's response is lost after its
 * body was sent (and after the server committed it), the client sends the
 * same PUT again with the same idempotency token, and ListObjectVersions
 * shows one version, whose id the retry is answered with.
 *
 * Two ways to lose the response, both against the real server process:
 * - a raw client that writes the whole signed request and closes the socket
 *   without reading the reply, then retries with the same token;
 * - the AWS SDK v3 with its default retry policy, through a TCP relay that
 *   swallows the first response and resets the connection: the SDK retries
 *   on its own, with the same `amz-sdk-invocation-id`.
 * A control PUT with a new token writes a second version, so the check can
 * tell one version from two.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CreateBucketCommand, GetObjectCommand, ListObjectVersionsCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { connect } from "node:net";
import { sdkClient } from "./support/clients.ts";
import { startDroppingRelay } from "./support/dropping-relay.ts";
import { startServer, type ServerProcess } from "./support/server.ts";
import { signedFetch, signedHeaders } from "./support/signer.ts";

let server: ServerProcess;
let s3: S3Client;

beforeAll(async () => {
  server = await startServer();
  s3 = sdkClient(server);
});
afterAll(async () => {
  s3?.destroy();
  await server?.dispose();
});

/** A body big enough to take several socket writes, with no randomness (every byte is a function of its offset). */
function bodyOf(sizeBytes: number, salt: number): Uint8Array {
  const bytes = new Uint8Array(sizeBytes);
  for (let offset = 0; offset < sizeBytes; offset += 1) bytes[offset] = (offset * 31 + salt) & 0xff;
  return bytes;
}

async function versionIdsOf(bucket: string, key: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
  return (listed.Versions ?? []).filter((version) => version.Key === key).map((version) => version.VersionId!);
}

async function enabledBucket(name: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: "Enabled" } }));
}

/** Polls until `count` versions are listed; each poll is a round trip, at most `attemptsMax` of them. */
async function waitForVersions(bucket: string, key: string, count: number, attemptsMax = 500): Promise<string[]> {
  for (let attempt = 0; attempt < attemptsMax; attempt += 1) {
    const ids = await versionIdsOf(bucket, key);
    if (ids.length >= count) return ids;
    await Bun.sleep(10);
  }
  throw new Error(`${bucket}/${key}: fewer than ${count} versions after ${attemptsMax} listings`);
}

/** Writes the whole signed PUT on a raw socket, then closes it without reading a byte of the reply. */
async function putAndDropResponse(path: string, body: Uint8Array, headers: Record<string, string>): Promise<void> {
  const signed = await signedHeaders(server, { method: "PUT", path, body, headers: { ...headers, "content-length": String(body.byteLength) } });
  const head = [`PUT ${path} HTTP/1.1`, ...Object.entries(signed).map(([name, value]) => `${name}: ${value}`), "", ""].join("\r\n");
  await new Promise<void>((resolve, reject) => {
    const socket = connect(server.port, "127.0.0.1", () => {
      socket.write(head);
      // The callback runs once the last byte is handed to the kernel: the request is sent, the reply unread.
      socket.write(body, () => {
        socket.destroy();
        resolve();
      });
    });
    socket.on("error", reject);
  });
}

describe("a PUT whose response was lost, sent again with the same token", () => {
  test("raw client: x-cairn-idempotency-token, then amz-sdk-invocation-id; one version each", async () => {
    await enabledBucket("retry-raw");
    for (const [round, tokenHeader] of ["x-cairn-idempotency-token", "amz-sdk-invocation-id"].entries()) {
      const key = `object-${round}`;
      const body = bodyOf(512 * 1024, round);
      const headers = { [tokenHeader]: `retry-raw-token-${round}` };
      await putAndDropResponse(`/retry-raw/${key}`, body, headers);
      // The first attempt committed even though nobody read its reply.
      const [committed] = await waitForVersions("retry-raw", key, 1);

      const retry = await signedFetch(server, { method: "PUT", path: `/retry-raw/${key}`, body, headers });
      expect(retry.status).toBe(200);
      expect(retry.headers.get("x-amz-version-id")).toBe(committed!);
      expect(await versionIdsOf("retry-raw", key)).toEqual([committed!]);

      // Control: the same bytes under a new token are a new PUT.
      const fresh = await signedFetch(server, { method: "PUT", path: `/retry-raw/${key}`, body, headers: { [tokenHeader]: `retry-raw-other-${round}` } });
      expect(fresh.status).toBe(200);
      expect((await versionIdsOf("retry-raw", key)).length).toBe(2);
    }
  });

  test("a retry sent while the first attempt is still in flight: both answered with one version", async () => {
    await enabledBucket("retry-overlap");
    const body = bodyOf(1024 * 1024, 3);
    const headers = { "x-cairn-idempotency-token": "overlap-1" };
    const [first, second] = await Promise.all([
      signedFetch(server, { method: "PUT", path: "/retry-overlap/k", body, headers }),
      signedFetch(server, { method: "PUT", path: "/retry-overlap/k", body, headers }),
    ]);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.headers.get("x-amz-version-id")).toBe(first.headers.get("x-amz-version-id")!);
    expect(await versionIdsOf("retry-overlap", "k")).toEqual([first.headers.get("x-amz-version-id")!]);
  });

  test("a late retry, after another PUT replaced the null version, is answered and overwrites nothing", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "retry-late" }));
    const first = await signedFetch(server, { method: "PUT", path: "/retry-late/k", body: "first", headers: { "x-cairn-idempotency-token": "late-a" } });
    expect(first.status).toBe(200);
    await signedFetch(server, { method: "PUT", path: "/retry-late/k", body: "second", headers: { "x-cairn-idempotency-token": "late-b" } });
    const late = await signedFetch(server, { method: "PUT", path: "/retry-late/k", body: "first", headers: { "x-cairn-idempotency-token": "late-a" } });
    expect(late.status).toBe(200);
    expect(late.headers.get("etag")).toBe(first.headers.get("etag")!);
    expect(await (await s3.send(new GetObjectCommand({ Bucket: "retry-late", Key: "k" }))).Body!.transformToString()).toBe("second");
    expect(await versionIdsOf("retry-late", "k")).toEqual(["null"]);
  });

  test("AWS SDK: the first response is reset by a relay, the SDK retries by itself, one version", async () => {
    await enabledBucket("retry-sdk");
    const relay = await startDroppingRelay(server.port);
    const client = new S3Client({
      endpoint: `http://127.0.0.1:${relay.port}`,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      maxAttempts: 3,
    });
    try {
      const body = bodyOf(256 * 1024, 7);
      const reply = await client.send(new PutObjectCommand({ Bucket: "retry-sdk", Key: "k", Body: body }));
      expect(relay.droppedResponses()).toBe(1);
      expect(reply.$metadata.attempts).toBe(2);
      expect(await versionIdsOf("retry-sdk", "k")).toEqual([reply.VersionId!]);

      // Control: a second call (a new invocation id) writes a second version.
      await client.send(new PutObjectCommand({ Bucket: "retry-sdk", Key: "k", Body: body }));
      expect((await versionIdsOf("retry-sdk", "k")).length).toBe(2);
    } finally {
      client.destroy();
      await relay.stop();
    }
  });
});
