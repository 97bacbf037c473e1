/**
 * The status source against real actors on an in-process host: disks that
 * answer, one that never does, one whose node is down and one taken out;
 * PGs that are active, degraded (an acting-set disk silent), fenced,
 * unassigned and unresponsive; a metadata read that hangs. Each becomes the
 * state the page shows, within the ask bound. Then: concurrent requests
 * share one gathering, and a report is reused only for `reuseMs`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { DiskMessage, StatDiskReply } from "../../actors/disk/protocol.ts";
import type { GetActingSetReply, PlacementGroupMessage } from "../../actors/placement-group/protocol.ts";
import { ThroughputRing } from "../../gateway/index.ts";
import { createNactHost, fault, systemClock, type ActorRef, type Behavior, type Host } from "../../runtime/index.ts";
import { createStatusSource, gatherStatus, type StatusMap, type StatusSourceOptions } from "./status-source.ts";

const askTimeoutMs = 150;
const clock = systemClock();

/** A disk actor that answers StatDisk with fixed figures, or never answers at all. */
function diskBehavior(diskId: string, answers: boolean): Behavior<null, DiskMessage> {
  return {
    initialState: () => null,
    receive(state, message, context) {
      if (message.kind === "StatDisk" && answers) {
        context.tell<StatDiskReply>(message.replyTo, { kind: "StatDiskReply", diskId, shardCount: 3, liveBytes: 3_000, deadBytes: 100, volumeCount: 1 });
      }
      return state;
    },
  };
}

/**
 * A PG actor at `epoch` that answers GetActingSet with `diskIds` or stays
 * silent; like the real one it refuses an older epoch as Fenced.
 */
function placementGroupBehavior(placementGroupId: number, epoch: number, answer: readonly string[] | "silent"): Behavior<null, PlacementGroupMessage> {
  return {
    initialState: () => null,
    receive(state, message, context) {
      if (message.kind !== "GetActingSet" || answer === "silent") return state;
      if (message.epoch < epoch) context.tell(message.replyTo, fault("Fenced", `pg ${placementGroupId}: epoch ${message.epoch} is below ${epoch}`));
      else context.tell<GetActingSetReply>(message.replyTo, { kind: "GetActingSetReply", placementGroupId, epoch, diskIds: [...answer] });
      return state;
    },
  };
}

describe("status source", () => {
  let host: Host;
  const disks = new Map<string, ActorRef<DiskMessage>>();
  const placementGroups = new Map<number, ActorRef<PlacementGroupMessage>>();
  const map: StatusMap = {
    epoch: 7,
    nodes: [
      { nodeId: "a", state: "up", incarnation: 1, roles: ["storage", "gateway"] },
      { nodeId: "b", state: "down", incarnation: 4, roles: ["storage"] },
    ],
    placement: {
      epoch: 7,
      placementGroupCount: 5,
      hosts: [
        {
          hostId: "a",
          disks: [
            { diskId: "a/0", weight: 1, state: "in" },
            { diskId: "a/1", weight: 1, state: "in" },
            { diskId: "a/2", weight: 1, state: "out" },
          ],
        },
        { hostId: "b", disks: [{ diskId: "b/0", weight: 1, state: "in" }] },
      ],
    },
    // PG 3 has no owner in this map.
    placementGroupOwner: (placementGroupId) => (placementGroupId === 3 ? undefined : "a"),
  };
  let bucketCountCalls = 0;
  let metadataHangs = false;

  const options = (overrides: Partial<StatusSourceOptions> = {}): StatusSourceOptions => ({
    nodeId: "a",
    host,
    map: () => map,
    diskRef: (diskId) => disks.get(diskId),
    placementGroupRef: (placementGroupId) => placementGroups.get(placementGroupId),
    localDiskDirectory: () => undefined,
    bucketCount: () => {
      bucketCountCalls += 1;
      return metadataHangs ? new Promise<number>(() => undefined) : Promise.resolve(4);
    },
    throughput: new ThroughputRing({ read: () => ({ requests: 0, errors: 0, bytesReceived: 0, bytesSent: 0 }), clock }),
    healProgress: () => ({ healed: 2, bytesWritten: 2_048, deferred: 1, bytesPerSecondMax: 1_000 }),
    askTimeoutMs,
    ...overrides,
  });

  beforeAll(async () => {
    host = createNactHost({ nodeId: "a", log: () => undefined });
    disks.set("a/0", await host.spawn("disk-a0", diskBehavior("a/0", true)));
    disks.set("a/1", await host.spawn("disk-a1", diskBehavior("a/1", false)));
    disks.set("a/2", await host.spawn("disk-a2", diskBehavior("a/2", true)));
    // b/0 has no ref: its node is down.
    // PG 0 was assigned at epoch 3 and its acting set updated at the map's epoch 7: asked at 7, it answers.
    placementGroups.set(0, await host.spawn("pg-0", placementGroupBehavior(0, 7, ["a/0"])));
    placementGroups.set(1, await host.spawn("pg-1", placementGroupBehavior(1, 5, ["a/0", "a/1"])));
    // PG 2's actor is at a newer epoch than this node's map.
    placementGroups.set(2, await host.spawn("pg-2", placementGroupBehavior(2, 9, ["a/0"])));
    placementGroups.set(4, await host.spawn("pg-4", placementGroupBehavior(4, 7, "silent")));
  });
  afterAll(async () => {
    await host?.shutdown();
  });

  test("every disk and PG gets the state the page shows; a hanging metadata read is critical, not a hang", async () => {
    metadataHangs = true;
    const report = await gatherStatus(options());
    metadataHangs = false;
    expect(report.mapEpoch).toBe(7);
    expect(report.disks.map((disk) => [disk.diskId, disk.nodeId, disk.state, disk.liveBytes])).toEqual([
      ["a/0", "a", "up", 3_000],
      ["a/1", "a", "down", null],
      ["a/2", "a", "out", 3_000],
      ["b/0", "b", "down", null],
    ]);
    expect(report.placementGroups.cells.map((cell) => [cell.placementGroupId, cell.state, cell.nodeId])).toEqual([
      [0, "active", "a"],
      [1, "degraded", "a"],
      [2, "fenced", "a"],
      [3, "unassigned", null],
      [4, "unresponsive", "a"],
    ]);
    expect(report.placementGroups.counts).toEqual({ active: 1, degraded: 1, unassigned: 1, fenced: 1, unresponsive: 1, unprobed: 0 });
    expect(report.buckets.count).toBeNull();
    expect(report.heal).toEqual({ healed: 2, bytesWritten: 2_048, deferred: 1, bytesPerSecondMax: 1_000 });
    expect(report.health.level).toBe("critical");
    expect(report.health.problems.map((problem) => problem.text)).toEqual([
      "metadata store not answering: objects cannot be read or written",
      "1 PG hosted by no live node: their objects cannot be read or written",
      "1 PG not answering",
      "1 PG fenced: owner at a newer epoch than this node's map",
      "1 node down: b",
      "2 disks not answering: a/1, b/0",
      "1 PG degraded: a disk of their acting set is unusable, reads decode from the rest",
      "1 disk out of placement",
    ]);
    // Nothing from the map beyond ids and states: no address field, no bucket names (counted only).
    expect(JSON.stringify(report)).not.toContain("address");
  });

  test("concurrent requests share one gathering; asked figures are reused for reuseMs (request counts never), then gathered again", async () => {
    bucketCountCalls = 0;
    const reuseMs = 1_000;
    let requests = 5;
    const throughput = new ThroughputRing({ read: () => ({ requests, errors: 0, bytesReceived: 0, bytesSent: 0 }), clock });
    const status = createStatusSource(options({ reuseMs, throughput }));
    const [first, second, third] = await Promise.all([status(), status(), status()]);
    expect(bucketCountCalls).toBe(1);
    expect(second).toBe(first);
    expect(third).toBe(first);
    requests = 6;
    const reused = await status();
    expect(bucketCountCalls).toBe(1);
    expect(reused.disks).toBe(first.disks);
    expect(first.throughput.totals.requests).toBe(5);
    expect(reused.throughput.totals.requests).toBe(6);
    // Wait for the reuse period to pass (a condition on the clock, bounded by the test's timeout).
    const gatheredAtMs = clock.monotonicMs();
    while (clock.monotonicMs() - gatheredAtMs < reuseMs) await clock.sleep(20);
    const later = await status();
    expect(later.disks).not.toBe(first.disks);
    expect(bucketCountCalls).toBe(2);
    expect(later.buckets.count).toBe(4);
  });

  test("before any map is read: no rows, and the verdict says so", async () => {
    const report = await gatherStatus(options({ map: () => undefined }));
    expect(report.nodes).toEqual([]);
    expect(report.placementGroups.count).toBe(0);
    expect(report.health).toMatchObject({ level: "critical", problem: "this node has not read a cluster map yet" });
  });
});
