/**
 * The request observer and the admin routes in front of the S3 core, over the
 * memory backend behind Bun.serve on 127.0.0.1, driven by the AWS SDK: the
 * scrape's counts must equal the requests made, its byte counters the sums of
 * the log lines, and every request must log one line carrying the request id
 * the client saw.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Readable } from "node:stream";
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { expositionContentType, MetricsRegistry, randomSeed, seededRandom, systemClock } from "../../runtime/index.ts";
import { parseExposition, sampleValue, type ParsedFamily } from "../../runtime/metrics/testing/exposition-parser.ts";
import { serveBun, type BunS3Server } from "../adapter/bun/index.ts";
import { createS3Handler } from "../s3/index.ts";
import { MemoryBackend } from "../testing/memory-backend.ts";
import { healthPath, metricsPath, withAdminRoutes } from "./admin-routes.ts";
import { createRequestObserver } from "./request-observer.ts";

const credentials = { accessKeyId: "AKIACAIRNMETRICS0001", secretAccessKey: "cairn-metrics-test-secret-0000000000000001" };
const seed = Number(process.env.CAIRN_SEED ?? randomSeed());
console.log(`request-observer.test.ts seed ${seed} (replay: CAIRN_SEED=${seed} bun test gateway/metrics)`);
const random = seededRandom(seed);
const clock = systemClock();

let server: BunS3Server;
let endpoint: string;
let client: S3Client;
const logs: Record<string, unknown>[] = [];
let healthy = true;

beforeAll(async () => {
  const registry = new MetricsRegistry();
  let counter = 0;
  const handler = createS3Handler({
    backend: new MemoryBackend({ nowMs: clock.nowMs, readChunkBytes: 64 * 1024 }),
    lookupSecret: (accessKeyId) => (accessKeyId === credentials.accessKeyId ? credentials.secretAccessKey : undefined),
    nowMs: clock.nowMs,
    newRequestId: () => `REQ${(counter += 1).toString().padStart(8, "0")}`,
    virtualHostDomains: ["localhost"],
    region: "us-east-1",
    log: (entry) => logs.push(entry),
    observer: createRequestObserver({ registry, clock, log: (entry) => logs.push(entry) }),
  });
  server = await serveBun({
    handler: withAdminRoutes(handler, {
      metrics: () => registry.render(),
      metricsContentType: expositionContentType,
      health: async () => ({ nodeId: "node-test", checks: { metadata: healthy ? { ok: true } : { ok: false, detail: "store closed" } } }),
      virtualHostDomains: ["localhost"],
    }),
    hostname: "127.0.0.1",
    port: 0,
  });
  endpoint = `http://127.0.0.1:${server.port}`;
  client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials, maxAttempts: 1 });
});

afterAll(async () => {
  client.destroy();
  await server.stop();
});

async function scrape(): Promise<Map<string, ParsedFamily>> {
  const response = await fetch(`${endpoint}${metricsPath}`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe(expositionContentType);
  return parseExposition(await response.text());
}

/** Scrapes until `condition` holds (a streamed body's end is recorded just after its last byte), at most `boundMs`. */
async function scrapeUntil(condition: (families: Map<string, ParsedFamily>) => boolean, boundMs = 5_000): Promise<Map<string, ParsedFamily>> {
  const deadline = clock.monotonicMs() + boundMs;
  for (;;) {
    const families = await scrape();
    if (condition(families) || clock.monotonicMs() > deadline) return families;
    await clock.sleep(10);
  }
}

const requestLines = (): Record<string, unknown>[] => logs.filter((entry) => entry.event === "request");

describe("request metrics and logs", () => {
  test("a known workload: counts match exactly, bytes match the log lines, one line per request with the id the client saw", async () => {
    const putCount = 3 + random.integer(4);
    const getCount = 2 + random.integer(3);
    const missingCount = 1 + random.integer(4);
    const seen: string[] = [];
    seen.push((await client.send(new CreateBucketCommand({ Bucket: "metrics-test" }))).$metadata.requestId!);
    const sizes: number[] = [];
    for (let index = 0; index < putCount; index += 1) {
      // One object above 1 MiB, so a GET of it streams through the adapter rather than being collected.
      const size = index === 0 ? 1536 * 1024 + random.integer(1000) : random.integer(200_000);
      sizes.push(size);
      const reply = await client.send(new PutObjectCommand({ Bucket: "metrics-test", Key: `object-${index}`, Body: random.bytes(size) }));
      seen.push(reply.$metadata.requestId!);
    }
    let bytesRead = 0;
    for (let index = 0; index < getCount; index += 1) {
      const reply = await client.send(new GetObjectCommand({ Bucket: "metrics-test", Key: `object-${index % putCount}` }));
      bytesRead += (await reply.Body!.transformToByteArray()).byteLength;
      seen.push(reply.$metadata.requestId!);
    }
    for (let index = 0; index < missingCount; index += 1) {
      const error = await client.send(new GetObjectCommand({ Bucket: "metrics-test", Key: `missing-${index}` })).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(S3ServiceException);
      expect((error as S3ServiceException).$metadata.httpStatusCode).toBe(404);
      seen.push((error as S3ServiceException).$metadata.requestId!);
    }
    const head = await client.send(new HeadObjectCommand({ Bucket: "metrics-test", Key: "object-1" }));
    seen.push(head.$metadata.requestId!);
    const noBucket = await client.send(new ListObjectsV2Command({ Bucket: "no-such-bucket" })).catch((caught: unknown) => caught as S3ServiceException);
    expect(noBucket.$metadata.httpStatusCode).toBe(404);
    seen.push(noBucket.$metadata.requestId!);
    const requestCount = 1 + putCount + getCount + missingCount + 2;

    const families = await scrapeUntil((current) => sampleValue(current, "cairn_s3_requests_in_flight") === 0 && requestLines().length === requestCount);
    const requests = (operation: string, status: string): number | undefined => sampleValue(families, "cairn_s3_requests_total", { operation, status });
    expect(requests("CreateBucket", "200")).toBe(1);
    expect(requests("PutObject", "200")).toBe(putCount);
    expect(requests("GetObject", "200")).toBe(getCount);
    expect(requests("GetObject", "404")).toBe(missingCount);
    expect(requests("HeadObject", "200")).toBe(1);
    expect(requests("ListObjectsV2", "404")).toBe(1);
    expect(families.get("cairn_s3_requests_total")!.samples.reduce((sum, sample) => sum + sample.value, 0)).toBe(requestCount);
    expect(sampleValue(families, "cairn_s3_errors_total", { operation: "GetObject", code: "NoSuchKey" })).toBe(missingCount);
    expect(sampleValue(families, "cairn_s3_errors_total", { operation: "ListObjectsV2", code: "NoSuchBucket" })).toBe(1);
    expect(sampleValue(families, "cairn_s3_request_duration_seconds_count", { operation: "GetObject" })).toBe(getCount + missingCount);
    expect(sampleValue(families, "cairn_s3_request_duration_seconds_count", { operation: "PutObject" })).toBe(putCount);
    expect(sampleValue(families, "cairn_s3_requests_in_flight")).toBe(0);

    // One line per request, in the order answered, each naming the id its client saw.
    const lines = requestLines();
    expect(lines.map((line) => line.requestId)).toEqual(seen);
    for (const line of lines) {
      expect(typeof line.durationMs).toBe("number");
      expect(line.remote).toBe("127.0.0.1");
      expect(line).not.toHaveProperty("body");
    }
    const sum = (field: string): number => lines.reduce((total, line) => total + (line[field] as number), 0);
    expect(sampleValue(families, "cairn_s3_bytes_received_total")).toBe(sum("bytesReceived"));
    expect(sampleValue(families, "cairn_s3_bytes_sent_total")).toBe(sum("bytesSent"));
    // GETs send exactly the object; the SDK's PUTs carry the body plus aws-chunked framing.
    const gets = lines.filter((line) => line.operation === "GetObject" && line.status === 200);
    expect(gets.reduce((total, line) => total + (line.bytesSent as number), 0)).toBe(bytesRead);
    lines.filter((line) => line.operation === "PutObject").forEach((line, index) => expect(line.bytesReceived as number).toBeGreaterThanOrEqual(sizes[index]!));
    expect(lines.find((line) => line.operation === "HeadObject")!.bytesSent).toBe(0);
    // The handler's own per-request entry is replaced by the observer's, not written twice.
    expect(logs.filter((entry) => entry.requestId === seen[0] && entry.event !== "request" && entry.level === undefined)).toEqual([]);
  });

  test("a response body the client abandons still ends the request: logged as cancelled, nothing left in flight", async () => {
    await client.send(new PutObjectCommand({ Bucket: "metrics-test", Key: "large", Body: random.bytes(8 * 1024 * 1024) }));
    const reply = await client.send(new GetObjectCommand({ Bucket: "metrics-test", Key: "large" }));
    const body = reply.Body as Readable;
    body.on("error", () => undefined);
    await new Promise((resolve) => body.once("data", resolve));
    body.destroy();
    const families = await scrapeUntil((current) => sampleValue(current, "cairn_s3_requests_in_flight") === 0 && requestLines().at(-1)?.requestId === reply.$metadata.requestId);
    expect(sampleValue(families, "cairn_s3_requests_in_flight")).toBe(0);
    const line = requestLines().at(-1)!;
    expect(line.requestId).toBe(reply.$metadata.requestId);
    expect(line.body).toBe("cancelled");
    expect(line.bytesSent as number).toBeLessThan(8 * 1024 * 1024);
  });
});

describe("admin routes", () => {
  test("/_cairn/health answers 200 with the checks, 503 when one fails; HEAD gives the status alone", async () => {
    healthy = true;
    let response = await fetch(`${endpoint}${healthPath}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok", nodeId: "node-test", checks: { metadata: { ok: true } } });
    healthy = false;
    response = await fetch(`${endpoint}${healthPath}`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: "unavailable", nodeId: "node-test", checks: { metadata: { ok: false, detail: "store closed" } } });
    response = await fetch(`${endpoint}${healthPath}`, { method: "HEAD" });
    expect(response.status).toBe(503);
    healthy = true;
  });

  test("only GET and HEAD; other paths, and the same path in virtual-hosted style, are S3's", async () => {
    const before = requestLines().length;
    expect((await fetch(`${endpoint}${metricsPath}`, { method: "POST" })).status).toBe(405);
    expect(requestLines().length).toBe(before);
    // `/metrics` is the bucket "metrics": S3 answers it (an S3 error reply, with a request id).
    const bucketPath = await fetch(`${endpoint}/metrics`);
    expect(bucketPath.headers.get("x-amz-request-id")).not.toBeNull();
    expect(await bucketPath.text()).toContain("<Error>");
    // With Host b.localhost the path names key "_cairn/metrics" of bucket "b".
    const virtualHost = await fetch(`${endpoint}${metricsPath}`, { headers: { host: `metrics-test.localhost:${server.port}` } });
    expect(virtualHost.headers.get("x-amz-request-id")).not.toBeNull();
    expect(await virtualHost.text()).toContain("<Error>");
    expect(requestLines().slice(before).map((line) => line.path)).toEqual(["/metrics", metricsPath]);
  });
});
