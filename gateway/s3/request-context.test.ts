/**
 * The handler runs each request in its request context (runtime/log.ts):
 * what the backend does for a PUT, and the reads a GET makes while the
 * adapter pulls the body (after the handler returned), see the request's
 * `x-amz-request-id`; so do the actors those calls message, on any node.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { currentRequestId, systemClock } from "../../runtime/index.ts";
import { serveBun, type BunS3Server } from "../adapter/bun/index.ts";
import type { ObjectInfo } from "../backend.ts";
import { MemoryBackend } from "../testing/memory-backend.ts";
import { testCredentials, testRegion } from "../testing/test-gateway.ts";
import { createS3Handler } from "./index.ts";

/** Records the request context each backend call and each body chunk ran in. */
class ContextRecordingBackend extends MemoryBackend {
  readonly seen: { readonly call: string; readonly requestId: string | undefined }[] = [];

  constructor(options: ConstructorParameters<typeof MemoryBackend>[0]) {
    super(options);
    this.onPutStarted(() => this.seen.push({ call: "putObject", requestId: currentRequestId() }));
  }

  override async *readObject(info: ObjectInfo, startBytes: number, endBytesExclusive: number): AsyncIterable<Uint8Array> {
    for await (const chunk of super.readObject(info, startBytes, endBytesExclusive)) {
      this.seen.push({ call: "readObject chunk", requestId: currentRequestId() });
      yield chunk;
    }
  }
}

const clock = systemClock();
const backend = new ContextRecordingBackend({ nowMs: clock.nowMs, readChunkBytes: 5 });
let server: BunS3Server;
let client: S3Client;
let counter = 0;

beforeAll(async () => {
  const handler = createS3Handler({
    backend,
    lookupSecret: (accessKeyId) => (accessKeyId === testCredentials.accessKeyId ? testCredentials.secretAccessKey : undefined),
    nowMs: clock.nowMs,
    newRequestId: () => `CTX${(counter += 1)}`,
    virtualHostDomains: ["localhost"],
    region: testRegion,
  });
  server = await serveBun({ handler, hostname: "127.0.0.1", port: 0 });
  client = new S3Client({ endpoint: `http://127.0.0.1:${server.port}`, region: testRegion, forcePathStyle: true, credentials: { ...testCredentials }, maxAttempts: 1 });
});

afterAll(async () => {
  client?.destroy();
  await server?.stop();
});

test("a PUT's backend call and every chunk of a GET's streamed body run in the request's context", async () => {
  await client.send(new CreateBucketCommand({ Bucket: "context" }));
  const put = await client.send(new PutObjectCommand({ Bucket: "context", Key: "k", Body: "0123456789abcdefghij" }));
  const get = await client.send(new GetObjectCommand({ Bucket: "context", Key: "k" }));
  expect(await get.Body!.transformToString()).toBe("0123456789abcdefghij");
  const putId = put.$metadata.requestId;
  const getId = get.$metadata.requestId;
  expect(putId).toMatch(/^CTX\d+$/);
  expect(getId).toMatch(/^CTX\d+$/);
  expect(backend.seen.filter((entry) => entry.call === "putObject")).toEqual([{ call: "putObject", requestId: putId }]);
  const chunks = backend.seen.filter((entry) => entry.call === "readObject chunk");
  expect(chunks.length).toBe(4);
  for (const chunk of chunks) expect(chunk.requestId).toBe(getId);
  // Nothing leaks out of the request.
  expect(currentRequestId()).toBeUndefined();
});
