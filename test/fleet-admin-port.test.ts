/**
 * The admin port: a storage-only node (no S3 port) given `adminPort` in the
 * fleet file serves Prometheus metrics at /metrics and its health at
 * /health, and nothing else; gateways keep /_cairn/metrics on the S3 port.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { systemClock } from "../runtime/index.ts";
import { bodyOf, freePort, startFleet, type TestFleet } from "./support/fleet.ts";
import { repositoryRoot, testAccessKeyId, testSecretAccessKey } from "./support/server.ts";

const clock = systemClock();
let fleet: TestFleet;
let adminPort: number;

beforeAll(async () => {
  fleet = await startFleet({ nodeIds: ["a1", "a2", "a3"], disksPerNode: 1, placementGroupCount: 8, storageClasses: "STANDARD=2+1" });
  // A storage-only node with an admin port, added the way an operator adds one: the fleet file, then `fleet up`.
  adminPort = await freePort();
  const file = JSON.parse(readFileSync(fleet.fleetPath, "utf8")) as { nodes: unknown[] };
  file.nodes.push({ id: "s4", roles: ["storage"], address: "127.0.0.1", clusterPort: await freePort(), adminPort, disks: ["s4/d0", "s4/d1"] });
  writeFileSync(fleet.fleetPath, JSON.stringify(file));
  const up = Bun.spawnSync([join(repositoryRoot, "bin/cairn"), "fleet", "up", fleet.fleetPath], {
    cwd: repositoryRoot,
    env: { ...process.env, CAIRN_ACCESS_KEY: testAccessKeyId, CAIRN_SECRET_KEY: testSecretAccessKey },
  });
  if (up.exitCode !== 0) throw new Error(`fleet up: ${up.stdout}\n${up.stderr}`);
  await fleet.waitForMap("s4 up", (map) => map.nodes.some((node) => node.nodeId === "s4" && node.state === "up"));
}, 120_000);

afterAll(async () => {
  await fleet?.dispose();
});

/** Samples of one metric family, by label text. */
function samples(text: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$/.exec(line);
    if (match?.[1] === name) found.set(match[2] ?? "", Number(match[3]));
  }
  return found;
}

test("a storage-only node answers /metrics with its own disks and /health, and nothing else, on its admin port", async () => {
  const s3 = fleet.clients.get("a1")!;
  await s3.send(new CreateBucketCommand({ Bucket: "scrape" }));
  for (let index = 0; index < 12; index += 1) await s3.send(new PutObjectCommand({ Bucket: "scrape", Key: `k${index}`, Body: bodyOf(`k${index}`, 100_000) }));

  const base = `http://127.0.0.1:${adminPort}`;
  const metrics = await fetch(`${base}/metrics`);
  expect(metrics.status).toBe(200);
  expect(metrics.headers.get("content-type")).toContain("text/plain");
  const text = await metrics.text();
  const up = samples(text, "cairn_disk_up");
  expect([...up.keys()].sort()).toEqual(['{disk="s4/disk-0"}', '{disk="s4/disk-1"}']);
  expect([...up.values()]).toEqual([1, 1]);
  // Every node exports its Healer's totals.
  expect(samples(text, "cairn_heal_bytes_per_second_max").get("")).toBeGreaterThan(0);
  expect(samples(text, "cairn_heal_shards_healed_total").get("")).toBeGreaterThanOrEqual(0);
  // The same exposition at the S3 port's path.
  expect(samples(await (await fetch(`${base}/_cairn/metrics`)).text(), "cairn_disk_up").size).toBe(2);

  // Health: ok once the node is up in the map (it just joined: allow it a few polls).
  const deadline = clock.monotonicMs() + 30_000;
  let health = await fetch(`${base}/health`);
  while (health.status !== 200 && clock.monotonicMs() < deadline) {
    await clock.sleep(200);
    health = await fetch(`${base}/health`);
  }
  expect(health.status).toBe(200);
  const report = (await health.json()) as { status: string; nodeId: string; checks: Record<string, { ok: boolean }> };
  expect(report.status).toBe("ok");
  expect(report.nodeId).toBe("s4");
  expect(report.checks["membership"]?.ok).toBe(true);

  // No S3 here: a bucket path is not found, a write is not allowed.
  expect((await fetch(`${base}/scrape/k1`)).status).toBe(404);
  expect((await fetch(`${base}/metrics`, { method: "POST", body: "x" })).status).toBe(405);
  const head = await fetch(`${base}/metrics`, { method: "HEAD" });
  expect(head.status).toBe(200);
  expect(await head.text()).toBe("");

  // A gateway keeps its metrics on the S3 port, beside S3.
  const gatewayPort = (JSON.parse(readFileSync(fleet.fleetPath, "utf8")) as { nodes: { id: string; s3Port?: number }[] }).nodes.find((node) => node.id === "a1")!.s3Port!;
  expect(samples(await (await fetch(`http://127.0.0.1:${gatewayPort}/_cairn/metrics`)).text(), "cairn_disk_up").get('{disk="a1/disk-0"}')).toBe(1);
}, 120_000);
