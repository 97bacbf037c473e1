import { isFault } from "../../../runtime/index.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { diskViews, faultCell, placementGroupViews } from "../fleet-view.ts";
import { sessionRate } from "../rate.ts";
import { formatBytes, formatDuration, progressBar, renderTable } from "../table.ts";

/** What this session has seen, kept across a `watch` for the bars' totals. */
interface BackfillTotals {
  /** Every PG seen backfilling in this session: the PG bar's total. */
  readonly seenBackfilling: Set<number>;
  /** The most shards seen on each out disk in this session: the shard bar's total. */
  readonly shardsMax: Map<string, number>;
}

export const backfillStatus: ReplCommand = {
  name: "backfill.status",
  summary: "data moving after disk.out, disk.in, node.drain or a join: PGs backfilling, shards left on out disks, units left on draining nodes; bars and ETA",
  usage: "backfill.status",
  help:
    "Asks every PG actor for StatPlacementGroup (a PG backfills while the acting set it last had every shard on differs " +
    "from its current one) and every out disk for StatDisk (shards it still holds: they are deleted once their PGs " +
    "are complete on the new set). Draining nodes are listed with the PGs and partitions the map still gives them. " +
    "The bars count from what this session has seen (the most shards seen on the out disks, every PG seen backfilling), so " +
    "run it under `watch backfill.status` from the start of a move; the ETA needs a rate over the last 15 s of calls. " +
    "A drain is complete when nothing is listed: then the node or disk can be removed.",
  mutates: false,
  async run(session, args) {
    expectPositionals(this, parseArguments(this, args).positional, 0, 0);
    const map = await session.map();
    const outDiskIds = new Set(map.placement.hosts.flatMap((host) => host.disks.filter((disk) => disk.state === "out").map((disk) => disk.diskId)));
    const [pgs, disks] = await Promise.all([placementGroupViews(session, map), outDiskIds.size === 0 ? Promise.resolve([]) : diskViews(session, map)]);
    const outDisks = disks.filter((view) => outDiskIds.has(view.diskId));
    const backfilling = pgs.filter((view) => view.state === "backfilling");
    const draining = map.nodes
      .filter((node) => node.draining === true)
      .map((node) => ({
        nodeId: node.nodeId,
        state: node.state,
        placementGroups: map.placementGroups.filter((entry) => entry.nodeId === node.nodeId).length,
        partitions: map.partitions.filter((entry) => entry.nodeId === node.nodeId).length,
      }));

    const totalsKey = `${this.name}:totals`;
    const memory = (session.memory.get(totalsKey) as BackfillTotals | undefined) ?? { seenBackfilling: new Set<number>(), shardsMax: new Map<string, number>() };
    session.memory.set(totalsKey, memory);
    for (const view of backfilling) memory.seenBackfilling.add(view.placementGroupId);
    let shardsOnOut = 0;
    let shardsTotal = 0;
    for (const view of outDisks) {
      if (isFault(view.stat)) continue;
      const max = Math.max(memory.shardsMax.get(view.diskId) ?? 0, view.stat.shardCount);
      memory.shardsMax.set(view.diskId, max);
      shardsOnOut += view.stat.shardCount;
      shardsTotal += max;
    }
    const ratePerSecond = sessionRate(session, this.name, shardsOnOut, "down");
    const etaMs = shardsOnOut === 0 && backfilling.length === 0 ? 0 : ratePerSecond === undefined ? undefined : (shardsOnOut / ratePerSecond) * 1000;
    const unitsLeft = draining.reduce((sum, node) => sum + node.placementGroups + node.partitions, 0);
    // An out disk that does not answer (its node is down) cannot be emptied: its copies were rebuilt
    // elsewhere and stay on it (wipe it before reuse). It does not hold the move up.
    const unreachableOut = outDisks.filter((view) => isFault(view.stat)).map((view) => view.diskId);
    const done = backfilling.length === 0 && shardsOnOut === 0 && unitsLeft === 0;

    const pgTotal = memory.seenBackfilling.size;
    const lines = [
      `pgs    ${progressBar(pgTotal - backfilling.length, pgTotal)}  ${backfilling.length} backfilling (${pgTotal} seen this session)`,
      `shards ${progressBar(shardsTotal - shardsOnOut, shardsTotal)}  ${shardsOnOut} left on out disks; rate ${ratePerSecond === undefined ? "unknown" : `${ratePerSecond.toFixed(1)} shards/s`}, ETA ${formatDuration(etaMs)}`,
    ];
    if (draining.length > 0) {
      lines.push(renderTable(["DRAINING", "STATE", "PGS", "PARTS"], draining.map((node) => [node.nodeId, node.state, node.placementGroups, node.partitions])));
    }
    if (outDisks.length > 0) {
      lines.push(
        renderTable(
          ["OUT DISK", "NODE", "SHARDS", "LIVE"],
          outDisks.map((view) => (isFault(view.stat) ? [view.diskId, view.nodeId, faultCell(view.stat), "-"] : [view.diskId, view.nodeId, String(view.stat.shardCount), formatBytes(view.stat.liveBytes)])),
        ),
      );
    }
    if (backfilling.length > 0) {
      lines.push(
        renderTable(
          ["PG", "NODE", "MOVING", "TO HEAL"],
          backfilling.map((view) => {
            const current = view.stat?.diskIds ?? [];
            const former = view.stat?.completeDiskIds ?? [];
            const moving = current.flatMap((diskId, position) => (former[position] !== undefined && former[position] !== diskId ? [`${position}:${former[position]}->${diskId}`] : []));
            return [view.placementGroupId, view.nodeId ?? "-", moving.join(" "), view.stat === undefined ? "-" : String(view.stat.damagedShardCount)];
          }),
        ),
      );
    }
    if (unreachableOut.length > 0) lines.push(`out disks not answering (their copies stay on them; wipe before reuse): ${unreachableOut.join(", ")}`);
    lines.push(done ? "nothing is moving: every out disk that answers is empty, no PG is backfilling, no draining node holds a unit" : "moving");
    return {
      text: lines.join("\n"),
      json: {
        done,
        backfilling: backfilling.map((view) => ({ placementGroupId: view.placementGroupId, actingSet: view.stat?.diskIds ?? null, completeActingSet: view.stat?.completeDiskIds ?? null })),
        outDisks: outDisks.map((view) => ({ diskId: view.diskId, nodeId: view.nodeId, ...(isFault(view.stat) ? { fault: view.stat } : { shardCount: view.stat.shardCount, liveBytes: view.stat.liveBytes }) })),
        draining,
        unreachableOut,
        shardsOnOut,
        ratePerSecond: ratePerSecond ?? null,
        etaMs: etaMs ?? null,
      },
    };
  },
};
