/**
 * The status page (issue 8) on a real server: a seeded workload through the
 * AWS SDK, then `/_cairn/status.json` checked against what the workload did
 * (request totals exact, the ring's rates adding up to them, every disk and
 * PG up, the bucket count and no bucket name), then the page rendered by
 * Debian's chromium, headless: `--dump-dom` must show the same figures in the
 * DOM (node count, one row per disk, one cell per PG, non-zero throughput) and
 * `--screenshot` writes test-output/status-page/status.png. Then a
 * three-node fleet: any gateway shows the whole fleet (remote disks and PGs
 * asked over the transport); after one node is SIGKILLed another gateway's
 * page turns amber and names it, and status-degraded.png is written.
 *
 * Without chromium the browser tests say "skipped: chromium not installed"
 * and are counted as skipped (CAIRN_CHROMIUM=/nonexistent shows it).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { randomSeed, seededRandom, systemClock } from "../runtime/index.ts";
import type { StatusReport } from "../gateway/index.ts";
import { outputOf, sdkClient } from "./support/clients.ts";
import { startFleet, type TestFleet } from "./support/fleet.ts";
import { repositoryRoot, startServer, type ServerProcess } from "./support/server.ts";

const seed = Number(process.env.CAIRN_SEED ?? randomSeed());
console.log(`status-page.test.ts seed ${seed} (replay: CAIRN_SEED=${seed} bun test test/status-page.test.ts)`);
const random = seededRandom(seed);
const clock = systemClock();

// CAIRN_CHROMIUM names another binary (a path that does not exist shows the skip).
const chromiumPath = (process.env.CAIRN_CHROMIUM === undefined ? ["/usr/bin/chromium", "/usr/bin/chromium-browser"] : [process.env.CAIRN_CHROMIUM]).find((path) => existsSync(path));
if (chromiumPath === undefined) console.log("status-page.test.ts: skipped: chromium not installed (apt-get install chromium); the JSON checks still run");
const outputDirectory = join(repositoryRoot, "test-output", "status-page");
/** Bound on one chromium run; it usually takes about two seconds. */
const chromiumTimeoutMs = 45_000;
const diskCount = 6;
const placementGroupCount = 64;

interface ChromiumRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs headless chromium once on `url` with `extra` flags, in its own throwaway profile. */
async function runChromium(url: string, extra: readonly string[]): Promise<ChromiumRun> {
  const profile = mkdtempSync(join(tmpdir(), "cairn-chromium-"));
  try {
    const child = spawn(
      chromiumPath!,
      [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        `--user-data-dir=${profile}`,
        "--window-size=1400,1000",
        "--virtual-time-budget=5000",
        ...extra,
        url,
      ],
      { stdio: ["ignore", "pipe", "pipe"], timeout: chromiumTimeoutMs, killSignal: "SIGKILL" },
    );
    return outputOf(child);
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** The text inside the element with this id, in the dumped DOM. */
function textOf(dom: string, id: string): string | undefined {
  return new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(dom)?.[1];
}

describe("status page on one node after an SDK workload", () => {
  let server: ServerProcess;
  let s3: S3Client;
  let requestCount = 0;
  let bytesPut = 0;
  const bucketNames = [`status-${random.integer(1_000_000)}`, `figures-${random.integer(1_000_000)}`];

  beforeAll(async () => {
    server = await startServer({ env: { CAIRN_DISKS: String(diskCount) } });
    s3 = sdkClient(server);
    for (const bucket of bucketNames) {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      requestCount += 1;
    }
    const putCount = 5 + random.integer(6);
    for (let index = 0; index < putCount; index += 1) {
      const body = random.bytes(1 + random.integer(400_000));
      bytesPut += body.byteLength;
      await s3.send(new PutObjectCommand({ Bucket: bucketNames[index % 2]!, Key: `key-${index}`, Body: body }));
      requestCount += 1;
    }
    const getCount = 3 + random.integer(5);
    for (let index = 0; index < getCount; index += 1) {
      const key = random.integer(putCount);
      const reply = await s3.send(new GetObjectCommand({ Bucket: bucketNames[key % 2]!, Key: `key-${key}` }));
      await reply.Body!.transformToByteArray();
      requestCount += 1;
    }
    const missing = (await s3.send(new GetObjectCommand({ Bucket: bucketNames[0]!, Key: "absent" })).catch((error: unknown) => error)) as S3ServiceException;
    expect(missing.$metadata.httpStatusCode).toBe(404);
    requestCount += 1;
  }, 60_000);

  afterAll(async () => {
    s3?.destroy();
    await server?.dispose();
  });

  test("status.json: one node up, every disk up with the bytes written, every PG active, totals exact, no bucket name", async () => {
    const response = await fetch(`${server.endpoint}/_cairn/status.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    const text = await response.text();
    const report = JSON.parse(text) as StatusReport;
    expect(report.version).toBe(1);
    expect(report.health.level).toBe("ok");
    expect(report.health.problem).toBe(`all ${placementGroupCount} PGs active on ${diskCount} disks, 1 node up`);
    expect(report.nodes).toEqual([{ nodeId: "node-1", state: "up", incarnation: 1, roles: ["storage", "gateway"] }]);
    expect(report.disks.map((disk) => [disk.diskId, disk.state])).toEqual(Array.from({ length: diskCount }, (_, index) => [`disk-${index}`, "up"]));
    // Erasure coding and replication store more than was put, never less.
    const liveBytes = report.disks.reduce((sum, disk) => sum + disk.liveBytes!, 0);
    expect(liveBytes).toBeGreaterThanOrEqual(bytesPut);
    for (const disk of report.disks) expect(disk.filesystemSizeBytes!).toBeGreaterThan(disk.filesystemAvailableBytes!);
    expect(report.placementGroups.count).toBe(placementGroupCount);
    expect(report.placementGroups.counts.active).toBe(placementGroupCount);
    expect(report.placementGroups.cells.map((cell) => cell.placementGroupId)).toEqual(Array.from({ length: placementGroupCount }, (_, index) => index));
    expect(report.buckets.count).toBe(bucketNames.length);
    // The status requests themselves are not S3 requests: the totals are exactly the workload's.
    expect(report.throughput.totals.requests).toBe(requestCount);
    expect(report.throughput.totals.errors).toBe(1);
    expect(report.throughput.totals.bytesReceived).toBeGreaterThanOrEqual(bytesPut);
    // The ring covers the whole (young) process, so its rates integrate back to the totals.
    const integrated = report.throughput.samples.reduce((sum, sample) => sum + (sample.requestsPerSecond * sample.intervalMs) / 1000, 0);
    expect(Math.abs(integrated - requestCount)).toBeLessThan(1e-6 * requestCount + 1e-9);
    expect(report.throughput.windowMs).toBe(300_000);
    expect(report.heal).not.toBeNull();
    for (const bucket of bucketNames) expect(text).not.toContain(bucket);
    expect(text).not.toContain(server.accessKeyId);
    expect(text).not.toContain(server.secretAccessKey);
  });

  test("the page is one self-contained document; the routes answer only GET and HEAD", async () => {
    const response = await fetch(`${server.endpoint}/_cairn/status`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await response.text();
    expect(html).toStartWith("<!doctype html>");
    // Nothing loaded from anywhere: no src or href attribute (but the empty inline icon), no import, no URL but the SVG namespace.
    expect([...html.matchAll(/\s(?:src|href)\s*=\s*("[^"]*"|\S+)/gi)].map((match) => match[1])).toEqual(['"data:,"']);
    expect(html).not.toMatch(/@import|url\(/i);
    expect([...html.matchAll(/https?:\/\/[^\s"']+/g)].map((match) => match[0])).toEqual(["http://www.w3.org/2000/svg"]);
    const post = await fetch(`${server.endpoint}/_cairn/status.json`, { method: "POST" });
    expect(post.status).toBe(405);
    const head = await fetch(`${server.endpoint}/_cairn/status`, { method: "HEAD" });
    expect(head.status).toBe(200);
    // Virtual-hosted style: the same path is key `_cairn/status.json` of bucket `b`, an S3 request (unsigned: an S3 error).
    const virtualHosted = await fetch(`${server.endpoint}/_cairn/status.json`, { headers: { host: `b.localhost:${server.port}` } });
    requestCount += 1;
    expect(virtualHosted.status).toBeGreaterThanOrEqual(400);
    expect(virtualHosted.headers.get("content-type")).toBe("application/xml");
    expect(await virtualHosted.text()).toContain("<Error>");
  });

  test.skipIf(chromiumPath === undefined)("chromium renders the figures: node count, a row per disk, a cell per PG, non-zero throughput", async () => {
    const run = await runChromium(`${server.endpoint}/_cairn/status`, ["--dump-dom"]);
    if (run.code !== 0) console.log(`chromium exited with ${run.code}:\n${run.stderr}`);
    expect(run.code).toBe(0);
    const dom = run.stdout;
    // Compared as one object, so a failure shows every figure the page drew.
    const drawn = {
      rendered: dom.includes('data-rendered="'),
      headerClass: /<header id="header" class="([^"]*)"/.exec(dom)?.[1],
      level: textOf(dom, "health-level"),
      problem: textOf(dom, "health-problem"),
      nodeCount: textOf(dom, "node-count"),
      nodesUp: textOf(dom, "nodes-up"),
      diskCount: textOf(dom, "disk-count"),
      pgCount: textOf(dom, "pg-count"),
      pgsActive: textOf(dom, "pgs-active"),
      bucketCount: textOf(dom, "bucket-count"),
      diskRows: dom.match(/<tr class="disk-row"/g)?.length,
      nodeRows: dom.match(/<tr class="node-row"/g)?.length,
      activeCells: dom.match(/class="pg-cell active"/g)?.length,
      requestsTotal: textOf(dom, "requests-total"),
    };
    expect(drawn).toEqual({
      rendered: true,
      headerClass: "ok",
      level: "healthy",
      problem: `all ${placementGroupCount} PGs active on ${diskCount} disks, 1 node up`,
      nodeCount: "1",
      nodesUp: "1",
      diskCount: String(diskCount),
      pgCount: String(placementGroupCount),
      pgsActive: String(placementGroupCount),
      bucketCount: String(bucketNames.length),
      diskRows: diskCount,
      nodeRows: 1,
      activeCells: placementGroupCount,
      requestsTotal: `${requestCount} requests`,
    });
    const peak = Number(/id="spark-requests"[^>]*data-peak="([^"]+)"/.exec(dom)?.[1]);
    expect(peak).toBeGreaterThan(0);
    expect(dom.match(/<rect /g)?.length ?? 0).toBeGreaterThan(0);
    for (const bucket of bucketNames) expect(dom).not.toContain(bucket);
  }, 60_000);

  test.skipIf(chromiumPath === undefined)("chromium takes a screenshot into test-output/status-page/", async () => {
    mkdirSync(outputDirectory, { recursive: true });
    const screenshot = join(outputDirectory, "status.png");
    rmSync(screenshot, { force: true });
    const run = await runChromium(`${server.endpoint}/_cairn/status`, [`--screenshot=${screenshot}`]);
    expect(run.code).toBe(0);
    const png = readFileSync(screenshot);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // IHDR: width and height as asked by --window-size.
    expect(png.readUInt32BE(16)).toBe(1400);
    expect(png.readUInt32BE(20)).toBe(1000);
    expect(statSync(screenshot).size).toBeGreaterThan(20_000);
    console.log(`status-page.test.ts: screenshot written to ${screenshot}`);
    // Two page loads and their polls made no S3 request (no favicon.ico, nothing but the admin paths).
    const after = (await (await fetch(`${server.endpoint}/_cairn/status.json`)).json()) as StatusReport;
    expect(after.throughput.totals.requests).toBe(requestCount);
  }, 60_000);
});

/** Reads a gateway's status.json until `condition` holds; throws after `boundMs` with the last report. */
async function waitForStatus(endpoint: string, label: string, condition: (report: StatusReport) => boolean, boundMs = 30_000): Promise<StatusReport> {
  const deadline = clock.monotonicMs() + boundMs;
  for (;;) {
    const report = (await (await fetch(`${endpoint}/_cairn/status.json`)).json()) as StatusReport;
    if (condition(report)) return report;
    if (clock.monotonicMs() > deadline) throw new Error(`${label}: not within ${boundMs} ms; last: ${JSON.stringify({ ...report, placementGroups: report.placementGroups.counts })}`);
    await clock.sleep(100);
  }
}

describe("status page on a three-node fleet, before and after a node dies", () => {
  const nodeIds = ["s1", "s2", "s3"];
  const disksPerNode = 2;
  const fleetPlacementGroupCount = 24;
  let fleet: TestFleet;
  let endpoints: Map<string, string>;

  beforeAll(async () => {
    fleet = await startFleet({ nodeIds, disksPerNode, placementGroupCount: fleetPlacementGroupCount, storageClasses: "STANDARD=2+1" });
    // Each gateway's S3 port, as the fleet file gives it.
    const file = JSON.parse(readFileSync(fleet.fleetPath, "utf8")) as { nodes: { id: string; address: string; s3Port: number }[] };
    endpoints = new Map(file.nodes.map((node) => [node.id, `http://${node.address}:${node.s3Port}`]));
  }, 90_000);
  afterAll(async () => {
    await fleet?.dispose();
  });

  test("any gateway shows every node, disk and PG; throughput is the answering node's own", async () => {
    const bucket = `fleet-status-${random.integer(1_000_000)}`;
    const s1 = fleet.clients.get("s1")!;
    const s2 = fleet.clients.get("s2")!;
    await s1.send(new CreateBucketCommand({ Bucket: bucket }));
    const putCount = 3 + random.integer(4);
    for (let index = 0; index < putCount; index += 1) {
      await s1.send(new PutObjectCommand({ Bucket: bucket, Key: `key-${index}`, Body: random.bytes(1 + random.integer(200_000)) }));
    }
    const reply = await s2.send(new GetObjectCommand({ Bucket: bucket, Key: "key-0" }));
    await reply.Body!.transformToByteArray();

    const fromS2 = await waitForStatus(endpoints.get("s2")!, "every PG active seen from s2", (report) => report.placementGroups.counts.active === fleetPlacementGroupCount);
    expect(fromS2.nodeId).toBe("s2");
    expect(fromS2.health.level).toBe("ok");
    expect(fromS2.nodes.map((node) => [node.nodeId, node.state])).toEqual(nodeIds.map((nodeId) => [nodeId, "up"]));
    expect(fromS2.disks.length).toBe(nodeIds.length * disksPerNode);
    expect(fromS2.disks.every((disk) => disk.state === "up" && disk.liveBytes !== null)).toBe(true);
    // Filesystem figures only for the answering node's own disks.
    expect(fromS2.disks.filter((disk) => disk.filesystemSizeBytes !== null).map((disk) => disk.nodeId)).toEqual(Array.from({ length: disksPerNode }, () => "s2"));
    expect(new Set(fromS2.placementGroups.cells.map((cell) => cell.nodeId))).toEqual(new Set(nodeIds));
    expect(fromS2.buckets.count).toBe(1);
    expect(fromS2.throughput.totals.requests).toBe(1);
    const fromS1 = (await (await fetch(`${endpoints.get("s1")}/_cairn/status.json`)).json()) as StatusReport;
    expect(fromS1.throughput.totals.requests).toBe(1 + putCount);
  }, 60_000);

  test("after s3 is SIGKILLed, s1's status.json turns amber and names s3 and its disks", async () => {
    process.kill(fleet.pidOf("s3"), "SIGKILL");
    const report = await waitForStatus(
      endpoints.get("s1")!,
      "s3 down seen from s1",
      // Settled: while its PGs move, they are briefly unassigned, then unresponsive until their new actors start (red, rightly).
      (candidate) => {
        const counts = candidate.placementGroups.counts;
        return candidate.nodes.some((node) => node.nodeId === "s3" && node.state === "down") && counts.unassigned + counts.unresponsive + counts.fenced === 0;
      },
    );
    expect(report.disks.filter((disk) => disk.state === "down").map((disk) => disk.nodeId)).toEqual(Array.from({ length: disksPerNode }, () => "s3"));
    expect(report.health.level).toBe("warning");
    expect(report.health.problem).toBe("1 node down: s3");
    expect(report.placementGroups.cells.every((cell) => cell.nodeId !== "s3")).toBe(true);
  }, 60_000);

  test.skipIf(chromiumPath === undefined)("chromium draws s1's page amber with s3 and its disks down; screenshot status-degraded.png", async () => {
    const run = await runChromium(`${endpoints.get("s1")}/_cairn/status`, ["--dump-dom"]);
    expect(run.code).toBe(0);
    const dom = run.stdout;
    expect({
      headerClass: /<header id="header" class="([^"]*)"/.exec(dom)?.[1],
      problem: textOf(dom, "health-problem"),
      nodesUp: textOf(dom, "nodes-up"),
      nodeCount: textOf(dom, "node-count"),
      downBadges: dom.match(/class="badge down"/g)?.length,
      diskRows: dom.match(/<tr class="disk-row"/g)?.length,
    }).toEqual({ headerClass: "warning", problem: "1 node down: s3", nodesUp: "2", nodeCount: "3", downBadges: 1 + disksPerNode, diskRows: nodeIds.length * disksPerNode });
    mkdirSync(outputDirectory, { recursive: true });
    const screenshot = join(outputDirectory, "status-degraded.png");
    rmSync(screenshot, { force: true });
    const shot = await runChromium(`${endpoints.get("s1")}/_cairn/status`, [`--screenshot=${screenshot}`]);
    expect(shot.code).toBe(0);
    expect(statSync(screenshot).size).toBeGreaterThan(20_000);
    console.log(`status-page.test.ts: screenshot written to ${screenshot}`);
  }, 60_000);
});
