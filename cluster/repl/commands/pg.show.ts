import { ReplError } from "../session.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { placementGroupViews } from "../fleet-view.ts";
import { renderTable } from "../table.ts";
import { placementGroupJson } from "./pg.list.ts";

export const pgShow: ReplCommand = {
  name: "pg.show",
  summary: "one placement group: state, node, epoch, acting set disk by disk, counts",
  usage: "pg.show PG",
  help:
    "Asks PG actor PG (where the fleet map places it) for StatPlacementGroup and shows its acting set in shard order, " +
    "each disk with its node, in/out and whether it is usable now (FORMER: while backfilling, the disk the position's shards " +
    "are copied from), then its data count and the shards on its heal list. " +
    "States as in pg.list.",
  mutates: false,
  complete(map, index) {
    if (index !== 0) return [];
    return Array.from({ length: map.placement.placementGroupCount }, (_, id) => String(id));
  },
  async run(session, args) {
    const { positional } = parseArguments(this, args);
    expectPositionals(this, positional, 1, 1);
    const placementGroupId = Number(positional[0]);
    const map = await session.map();
    if (!Number.isInteger(placementGroupId) || placementGroupId < 0 || placementGroupId >= map.placement.placementGroupCount) {
      throw new ReplError(`pg.show: no PG ${positional[0]} (the fleet has PGs 0 to ${map.placement.placementGroupCount - 1})`);
    }
    const [view] = await placementGroupViews(session, map, [placementGroupId]);
    const disks = new Map(map.placement.hosts.flatMap((host) => host.disks.map((disk) => [disk.diskId, { ...disk, nodeId: host.hostId }] as const)));
    const lines = [
      `pg ${placementGroupId}: ${view!.state}`,
      `node ${view!.nodeId ?? "-"}, epoch ${view!.epoch ?? "-"}`,
    ];
    if (view!.fault !== undefined) lines.push(`fault: ${view!.fault.fault} (${view!.fault.detail})`);
    if (view!.stat !== undefined) {
      const truncated = view!.stat.countsTruncated ? " (at least: a scan bound was reached)" : "";
      lines.push(`data ${view!.stat.dataCount}, shards to heal ${view!.stat.damagedShardCount}${truncated}`);
      lines.push(
        renderTable(
          ["SHARD", "DISK", "NODE", "STATE", "USABLE", "FORMER"],
          view!.stat.diskIds.map((diskId, position) => {
            const disk = disks.get(diskId);
            // During a backfill: the disk the position's shards are copied from (and deleted from after).
            const former = view!.stat!.completeDiskIds?.[position];
            return [position, diskId, disk?.nodeId ?? "-", disk?.state ?? "absent", view!.unusableDisks.includes(diskId) ? "no" : "yes", former === undefined || former === diskId ? "-" : former];
          }),
        ),
      );
    }
    return { text: lines.join("\n"), json: placementGroupJson(view!) };
  },
};
