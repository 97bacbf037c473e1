/**
 * Metrics, health and request logs on real processes (issue 8): a known
 * workload through the AWS SDK, then `/_cairn/metrics` scraped and parsed —
 * the request counts must equal the requests made, the disks must hold what
 * was written — `/_cairn/health` answered, and one JSON log line per request
 * carrying the request id the client saw. Then a two-node fleet: both nodes
 * scrape, the transport is counted, and the PGs reported over both nodes are
 * the fleet's PGs, all active.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { randomSeed, seededRandom, systemClock } from "../runtime/index.ts";
import { parseExposition, sampleValue, type ParsedFamily } from "../runtime/metrics/testing/exposition-parser.ts";
import { sdkClient } from "./support/clients.ts";
import { startFleet, type TestFleet } from "./support/fleet.ts";
import { startServer, type ServerProcess } from "./support/server.ts";

const seed = Number(process.env.CAIRN_SEED ?? randomSeed());
console.log(`metrics.test.ts seed ${seed} (replay: CAIRN_SEED=${seed} bun test test/metrics.test.ts)`);
const random = seededRandom(seed);
const clock = systemClock();

async function scrape(endpoint: string): Promise<Map<string, ParsedFamily>> {
  const response = await fetch(`${endpoint}/_cairn/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
  return parseExposition(await response.text());
}

/** Request log lines the process wrote so far (JSON lines on stderr, among other output). */
function requestLines(output: string): Record<string, unknown>[] {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{") && line.includes('"event":"request"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function waitFor(label: string, condition: () => boolean | Promise<boolean>, boundMs = 10_000): Promise<void> {
  const deadline = clock.monotonicMs() + boundMs;
  while (!(await condition())) {
    if (clock.monotonicMs() > deadline) throw new Error(`${label}: not within ${boundMs} ms`);
    await clock.sleep(20);
  }
}

describe("one node: metrics after a workload", () => {
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

  test("N PUTs, M GETs, K 404s: the scrape's counts are exactly those; disks hold the bytes; one log line per request with the client's id", async () => {
    const putCount = 4 + random.integer(5);
    const getCount = 3 + random.integer(5);
    const missingCount = 2 + random.integer(4);
    const seen: string[] = [];
    seen.push((await s3.send(new CreateBucketCommand({ Bucket: "metrics" }))).$metadata.requestId!);
    let bytesPut = 0;
    for (let index = 0; index < putCount; index += 1) {
      const body = random.bytes(1 + random.integer(300_000));
      bytesPut += body.byteLength;
      seen.push((await s3.send(new PutObjectCommand({ Bucket: "metrics", Key: `key-${index}`, Body: body }))).$metadata.requestId!);
    }
    let bytesGot = 0;
    for (let index = 0; index < getCount; index += 1) {
      const reply = await s3.send(new GetObjectCommand({ Bucket: "metrics", Key: `key-${random.integer(putCount)}` }));
      bytesGot += (await reply.Body!.transformToByteArray()).byteLength;
      seen.push(reply.$metadata.requestId!);
    }
    for (let index = 0; index < missingCount; index += 1) {
      const error = (await s3.send(new GetObjectCommand({ Bucket: "metrics", Key: `absent-${index}` })).catch((caught: unknown) => caught)) as S3ServiceException;
      expect(error.$metadata.httpStatusCode).toBe(404);
      seen.push(error.$metadata.requestId!);
    }

    await waitFor("a log line for every request", () => requestLines(server.output()).length >= seen.length);
    const families = await scrape(server.endpoint);
    const requests = (operation: string, status: string): number | undefined => sampleValue(families, "cairn_s3_requests_total", { operation, status });
    expect(requests("CreateBucket", "200")).toBe(1);
    expect(requests("PutObject", "200")).toBe(putCount);
    expect(requests("GetObject", "200")).toBe(getCount);
    expect(requests("GetObject", "404")).toBe(missingCount);
    expect(families.get("cairn_s3_requests_total")!.samples.reduce((sum, sample) => sum + sample.value, 0)).toBe(seen.length);
    expect(sampleValue(families, "cairn_s3_errors_total", { operation: "GetObject", code: "NoSuchKey" })).toBe(missingCount);
    expect(sampleValue(families, "cairn_s3_request_duration_seconds_count", { operation: "PutObject" })).toBe(putCount);
    expect(sampleValue(families, "cairn_s3_request_duration_seconds_count", { operation: "GetObject" })).toBe(getCount + missingCount);
    expect(sampleValue(families, "cairn_s3_requests_in_flight")).toBe(0);
    // Request bodies carry aws-chunked framing around the data; response bodies add the 404s' XML.
    expect(sampleValue(families, "cairn_s3_bytes_received_total")).toBeGreaterThanOrEqual(bytesPut);
    expect(sampleValue(families, "cairn_s3_bytes_sent_total")).toBeGreaterThan(bytesGot);

    // The six disks of `npm start` answer; what they hold live is at least the data written (replicas, parity).
    const disks = families.get("cairn_disk_up")!.samples;
    expect(disks.length).toBe(6);
    expect(disks.every((sample) => sample.value === 1)).toBe(true);
    const liveBytes = families.get("cairn_disk_live_bytes")!.samples.reduce((sum, sample) => sum + sample.value, 0);
    expect(liveBytes).toBeGreaterThanOrEqual(bytesPut);
    expect(sampleValue(families, "cairn_disk_filesystem_available_bytes", { disk: "disk-0" })).toBeGreaterThan(0);
    expect(sampleValue(families, "cairn_placement_groups", { state: "active" })).toBe(64);
    expect(sampleValue(families, "cairn_placement_groups", { state: "unresponsive" })).toBe(0);
    expect(sampleValue(families, "cairn_actors", { kind: "disk" })).toBe(6);
    expect(sampleValue(families, "cairn_actors", { kind: "bucketPartition" })).toBeGreaterThan(0);
    expect(sampleValue(families, "cairn_dead_letters_total")).toBe(0);
    expect(sampleValue(families, "cairn_process_resident_memory_bytes")).toBeGreaterThan(0);
    // The one-node server runs a Healer: its totals are exported (nothing was damaged, so nothing healed).
    expect(sampleValue(families, "cairn_heal_shards_healed_total")).toBe(0);
    expect(sampleValue(families, "cairn_heal_bytes_per_second_max")).toBeGreaterThan(0);

    // One line per request, in order, each with the id the client saw, its status and its timing.
    const lines = requestLines(server.output());
    expect(lines.map((line) => line.requestId)).toEqual(seen);
    for (const line of lines) {
      expect(line.time).toBeString();
      expect(line.durationMs).toBeNumber();
      expect(line.bytesReceived).toBeNumber();
      expect(line.bytesSent).toBeNumber();
      expect(line.remote).toBe("127.0.0.1");
    }
    expect(lines.filter((line) => line.status === 404).map((line) => line.code)).toEqual(new Array(missingCount).fill("NoSuchKey"));
    expect(lines.filter((line) => line.operation === "GetObject" && line.status === 200).reduce((sum, line) => sum + (line.bytesSent as number), 0)).toBe(bytesGot);
  });

  test("/_cairn/health: 200 with its checks", async () => {
    const response = await fetch(`${server.endpoint}/_cairn/health`);
    expect(response.status).toBe(200);
    const report = (await response.json()) as { status: string; nodeId: string; checks: Record<string, { ok: boolean }> };
    expect(report.status).toBe("ok");
    expect(report.nodeId).toBe("node-1");
    expect(Object.keys(report.checks).sort()).toEqual(["disks", "metadata", "serving"]);
  });

  test("scrapes and health checks are not S3 requests: they leave the S3 counters alone", async () => {
    const before = sampleValue(await scrape(server.endpoint), "cairn_s3_requests_total", { operation: "GetObject", status: "200" });
    await fetch(`${server.endpoint}/_cairn/health`).then((response) => response.arrayBuffer());
    const after = await scrape(server.endpoint);
    expect(sampleValue(after, "cairn_s3_requests_total", { operation: "GetObject", status: "200" })).toBe(before);
  });
});

describe("two-node fleet: every node scrapes", () => {
  let fleet: TestFleet;
  const placementGroupCount = 16;
  beforeAll(async () => {
    fleet = await startFleet({ nodeIds: ["m1", "m2"], disksPerNode: 3, placementGroupCount, storageClasses: "STANDARD=2+1" });
  }, 90_000);
  afterAll(async () => {
    await fleet?.dispose();
  });

  test("after a PUT and a GET through one node, both report; the PGs over both nodes are the fleet's, all active; links are counted", async () => {
    const s3 = fleet.clients.get("m1")!;
    await s3.send(new CreateBucketCommand({ Bucket: "fleet-metrics" }));
    const body = random.bytes(200_000 + random.integer(100_000));
    const put = await s3.send(new PutObjectCommand({ Bucket: "fleet-metrics", Key: "object", Body: body }));
    expect(put.$metadata.httpStatusCode).toBe(200);
    const got = await s3.send(new GetObjectCommand({ Bucket: "fleet-metrics", Key: "object" }));
    expect((await got.Body!.transformToByteArray()).byteLength).toBe(body.byteLength);

    const endpoints = ["m1", "m2"].map((nodeId) => (fleet.clients.get(nodeId)!.config.endpoint as unknown as () => Promise<{ hostname: string; port: number }>));
    const scrapes: Map<string, ParsedFamily>[] = [];
    for (const endpoint of endpoints) {
      const { hostname, port } = await endpoint();
      const base = `http://${hostname}:${port}`;
      scrapes.push(await scrape(base));
      const health = await fetch(`${base}/_cairn/health`);
      expect(health.status).toBe(200);
      const report = (await health.json()) as { checks: Record<string, { ok: boolean }> };
      expect(report.checks.membership?.ok).toBe(true);
    }
    const [first, second] = scrapes as [Map<string, ParsedFamily>, Map<string, ParsedFamily>];
    expect(sampleValue(first, "cairn_s3_requests_total", { operation: "PutObject", status: "200" })).toBe(1);
    expect(sampleValue(second, "cairn_s3_requests_total", { operation: "PutObject", status: "200" })).toBeUndefined();
    const active = (families: Map<string, ParsedFamily>): number => sampleValue(families, "cairn_placement_groups", { state: "active" }) ?? 0;
    expect(active(first) + active(second)).toBe(placementGroupCount);
    for (const families of scrapes) {
      expect(families.get("cairn_disk_up")!.samples.map((sample) => sample.value)).toEqual([1, 1, 1]);
      expect(sampleValue(families, "cairn_transport_messages_sent_total")).toBeGreaterThan(0);
      expect(sampleValue(families, "cairn_transport_messages_received_total")).toBeGreaterThan(0);
      expect(sampleValue(families, "cairn_transport_outbox_messages")).toBeNumber();
    }
    // A 2+1 object has shards on both nodes: the gateway sent some as binary parts.
    expect(sampleValue(first, "cairn_transport_part_bytes_sent_total")).toBeGreaterThan(0);
  }, 60_000);
});
