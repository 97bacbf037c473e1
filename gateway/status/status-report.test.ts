/**
 * The verdict at the top of the status page: green only when nothing is
 * wrong, red for what clients feel now, amber for reduced redundancy or
 * space, and the worst problem named in words.
 */
import { describe, expect, test } from "bun:test";
import { assessHealth, placementGroupStates, problemsMax, type DiskStatus, type NodeStatus, type PlacementGroupState, type StatusReport } from "./status-report.ts";

type Unjudged = Omit<StatusReport, "health">;

function disk(diskId: string, nodeId: string, state: DiskStatus["state"], sizeBytes = 1_000, availableBytes = 500): DiskStatus {
  const answered = state === "up";
  return {
    diskId,
    nodeId,
    state,
    liveBytes: answered ? 10 : null,
    deadBytes: answered ? 0 : null,
    shardCount: answered ? 1 : null,
    filesystemSizeBytes: sizeBytes,
    filesystemAvailableBytes: availableBytes,
  };
}

function report(options: { nodes?: NodeStatus[]; disks?: DiskStatus[]; counts?: Partial<Record<PlacementGroupState, number>>; bucketCount?: number | null }): Unjudged {
  const counts = Object.fromEntries(placementGroupStates.map((state) => [state, options.counts?.[state] ?? 0])) as Record<PlacementGroupState, number>;
  if (options.counts === undefined) counts.active = 8;
  const count = Object.values(counts).reduce((sum, value) => sum + value, 0);
  return {
    version: 1,
    nodeId: "a",
    generatedAtMs: 0,
    mapEpoch: 3,
    nodes: options.nodes ?? [
      { nodeId: "a", state: "up", incarnation: 1, roles: ["storage", "gateway"] },
      { nodeId: "b", state: "up", incarnation: 2, roles: ["storage"] },
    ],
    disks: options.disks ?? [disk("a/0", "a", "up"), disk("b/0", "b", "up")],
    disksTruncated: false,
    placementGroups: { count, counts, cells: [] },
    buckets: { count: options.bucketCount === undefined ? 2 : options.bucketCount },
    throughput: { intervalMs: 5_000, windowMs: 300_000, samples: [], totals: { requests: 0, errors: 0, bytesReceived: 0, bytesSent: 0 } },
    heal: null,
  };
}

describe("assessHealth", () => {
  test("all well: ok, with what is well in words", () => {
    expect(assessHealth(report({}))).toEqual({ level: "ok", problem: "all 8 PGs active on 2 disks, 2 nodes up", problems: [] });
  });

  test("a node down with its disk: warning while every PG is served, named", () => {
    const health = assessHealth(
      report({
        nodes: [
          { nodeId: "a", state: "up", incarnation: 1, roles: ["gateway"] },
          { nodeId: "b", state: "down", incarnation: 2, roles: ["storage"] },
        ],
        disks: [disk("a/0", "a", "up"), disk("b/0", "b", "down")],
        counts: { active: 2, degraded: 6 },
      }),
    );
    expect(health.level).toBe("warning");
    expect(health.problem).toBe("1 node down: b");
    expect(health.problems.map((problem) => problem.text)).toEqual([
      "1 node down: b",
      "1 disk not answering: b/0",
      "6 PGs degraded: a disk of their acting set is unusable, reads decode from the rest",
    ]);
  });

  test("PGs nobody serves or that do not answer are critical and come first", () => {
    const health = assessHealth(
      report({ nodes: [{ nodeId: "a", state: "down", incarnation: 1, roles: ["storage"] }], counts: { active: 1, unassigned: 3, unresponsive: 1, degraded: 2 } }),
    );
    expect(health.level).toBe("critical");
    expect(health.problem).toBe("3 PGs hosted by no live node: their objects cannot be read or written");
    expect(health.problems.map((problem) => problem.level)).toEqual(["critical", "critical", "warning", "warning"]);
  });

  test("the metadata store not answering is critical; no map read yet is critical", () => {
    expect(assessHealth(report({ bucketCount: null })).problem).toBe("metadata store not answering: objects cannot be read or written");
    const empty = assessHealth(report({ nodes: [], disks: [], counts: {} }));
    expect(empty.level).toBe("critical");
    expect(empty.problem).toBe("this node has not read a cluster map yet");
  });

  test("a filesystem over 90% full is a warning; many ids are listed briefly", () => {
    const disks = Array.from({ length: 7 }, (_, index) => disk(`d${index}`, "a", "up", 1_000, 50));
    const health = assessHealth(report({ disks }));
    expect(health.level).toBe("warning");
    expect(health.problem).toBe("7 disks over 90% full: d0, d1, d2, d3 and 3 more");
  });

  test("every kind of problem at once: one line each, critical ones first, within problemsMax", () => {
    const health = assessHealth(
      report({
        nodes: [
          { nodeId: "a", state: "down", incarnation: 1, roles: [] },
          { nodeId: "b", state: "joining", incarnation: 1, roles: [] },
        ],
        disks: [disk("x", "a", "down"), disk("y", "a", "out"), disk("z", "a", "up", 100, 1)],
        counts: { unassigned: 1, unresponsive: 1, fenced: 1, degraded: 1 },
        bucketCount: null,
      }),
    );
    expect(health.problems.length).toBeLessThanOrEqual(problemsMax);
    expect(health.problems.map((problem): string => problem.level)).toEqual([...Array.from({ length: 3 }, () => "critical"), ...Array.from({ length: 7 }, () => "warning")]);
    expect(health.problem).toBe("metadata store not answering: objects cannot be read or written");
  });
});
