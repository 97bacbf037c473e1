/**
 * Node metrics and health over a real nact host with real disk actors: a
 * disk that stops answering shows as down and fails health; a metadata probe
 * that hangs fails health within its bound; heal totals follow the Healer's.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diskActorPath, diskBehavior } from "../actors/disk/index.ts";
import type { DiskMessage } from "../actors/disk/protocol.ts";
import { createNactHost, MetricsRegistry, seededRandom, type ActorRef, type Host } from "../runtime/index.ts";
import { parseExposition, sampleValue } from "../runtime/metrics/testing/exposition-parser.ts";
import { checkNodeHealth, registerNodeMetrics, type LocalDisk } from "./node-metrics.ts";

let directory = "";
let host: Host;
let disks: LocalDisk[];

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "cairn-node-metrics-"));
  host = createNactHost({ nodeId: "node-test", random: seededRandom(5), log: () => undefined });
  disks = [];
  for (const diskId of ["d0", "d1"]) {
    const diskDirectory = join(directory, diskId);
    const ref: ActorRef<DiskMessage> = await host.spawn(diskActorPath(diskId), diskBehavior({ diskId, directory: diskDirectory }));
    disks.push({ diskId, ref, directory: diskDirectory });
  }
});

afterEach(async () => {
  await host.shutdown();
  await rm(directory, { recursive: true, force: true });
});

describe("node metrics", () => {
  test("disks answer and then one stops: up 1 → 0, its usage series go; heal totals follow the Healer; actors by kind", async () => {
    const registry = new MetricsRegistry();
    const progress = { healed: 0, bytesWritten: 0, deferred: 0, bytesPerSecondMax: 1024 };
    registerNodeMetrics({
      registry,
      host,
      disks: () => disks,
      placementGroups: () => [],
      remoteDiskUsable: () => false,
      actorCounts: () => ({ disk: disks.length }),
      healProgress: () => progress,
      askTimeoutMs: 1_000,
    });
    let families = parseExposition(await registry.render());
    expect(sampleValue(families, "cairn_disk_up", { disk: "d0" })).toBe(1);
    expect(sampleValue(families, "cairn_disk_up", { disk: "d1" })).toBe(1);
    expect(sampleValue(families, "cairn_disk_volumes", { disk: "d1" })).toBeNumber();
    expect(sampleValue(families, "cairn_disk_filesystem_size_bytes", { disk: "d0" })).toBeGreaterThan(0);
    expect(sampleValue(families, "cairn_actors", { kind: "disk" })).toBe(2);
    expect(sampleValue(families, "cairn_heal_shards_healed_total")).toBe(0);
    expect(sampleValue(families, "cairn_placement_groups", { state: "active" })).toBe(0);

    progress.healed = 3;
    progress.bytesWritten = 3 * 4096;
    await host.stop(disks[1]!.ref);
    families = parseExposition(await registry.render());
    expect(sampleValue(families, "cairn_disk_up", { disk: "d1" })).toBe(0);
    expect(sampleValue(families, "cairn_disk_live_bytes", { disk: "d1" })).toBeUndefined();
    expect(sampleValue(families, "cairn_disk_up", { disk: "d0" })).toBe(1);
    expect(sampleValue(families, "cairn_heal_shards_healed_total")).toBe(3);
    expect(sampleValue(families, "cairn_heal_bytes_written_total")).toBe(3 * 4096);
    expect(sampleValue(families, "cairn_heal_bytes_per_second_max")).toBe(1024);
    // The ask to the stopped disk is a dead letter, and counted.
    expect(sampleValue(families, "cairn_dead_letters_total")).toBeGreaterThan(0);
  });
});

describe("node health", () => {
  test("ok when the store reads and every disk answers; names what fails otherwise", async () => {
    let report = await checkNodeHealth({ nodeId: "node-test", host, disks: () => disks, probeMetadata: async () => undefined, timeoutMs: 1_000 });
    expect(report.checks).toEqual({ metadata: { ok: true }, disks: { ok: true, detail: "2 answering" } });

    await host.stop(disks[0]!.ref);
    report = await checkNodeHealth({
      nodeId: "node-test",
      host,
      disks: () => disks,
      // A store that never answers: the check gives up at its bound.
      probeMetadata: () => new Promise(() => undefined),
      extraChecks: () => ({ serving: { ok: false, detail: "stopping" } }),
      timeoutMs: 50,
    });
    expect(report.checks.metadata).toEqual({ ok: false, detail: "no answer within 50 ms" });
    expect(report.checks.disks).toEqual({ ok: false, detail: "not answering: d0" });
    expect(report.checks.serving?.ok).toBe(false);

    report = await checkNodeHealth({ nodeId: "node-test", host, disks: () => [], probeMetadata: () => Promise.reject(new Error("store closed")), timeoutMs: 1_000 });
    expect(report.checks.metadata).toEqual({ ok: false, detail: "store closed" });
  });
});
