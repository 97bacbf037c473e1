import type { StatDiskReply } from "../../../actors/disk/protocol.ts";
import { isFault } from "../../../runtime/index.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { diskViews, faultCell } from "../fleet-view.ts";
import { formatBytes, renderTable } from "../table.ts";

export const diskList: ReplCommand = {
  name: "disk.list",
  summary: "every disk: node, in/out, weight, shards, live and dead bytes, volumes, free space",
  usage: "disk.list [NODE]",
  help:
    "Lists the disks of the fleet map (optionally of one node) and asks each disk actor for StatDisk. STATE is the map's " +
    "in/out (an out disk receives no shards); NODE STATE is its node's membership state. A disk whose node is down or " +
    "whose actor does not answer shows the fault instead of its usage. FREE is the free space of the disk's filesystem as " +
    "the disk actor counts it, marked full while it refuses shard writes (its reserve is reached; reads and deletes go on).",
  mutates: false,
  complete(map, index) {
    return index === 0 ? map.nodes.map((node) => node.nodeId) : [];
  },
  async run(session, args) {
    const { positional } = parseArguments(this, args);
    expectPositionals(this, positional, 0, 1);
    const map = await session.map();
    const views = (await diskViews(session, map)).filter((view) => positional[0] === undefined || view.nodeId === positional[0]);
    const text = renderTable(
      ["DISK", "NODE", "STATE", "WEIGHT", "NODE STATE", "SHARDS", "LIVE", "DEAD", "VOLUMES", "FREE"],
      views.map((view) =>
        isFault(view.stat)
          ? [view.diskId, view.nodeId, view.state, view.weight, view.nodeState, faultCell(view.stat), "-", "-", "-", "-"]
          : [view.diskId, view.nodeId, view.state, view.weight, view.nodeState, String(view.stat.shardCount), formatBytes(view.stat.liveBytes), formatBytes(view.stat.deadBytes), String(view.stat.volumeCount), freeCell(view.stat)],
      ),
    );
    return {
      text,
      json: views.map((view) => ({
        diskId: view.diskId,
        nodeId: view.nodeId,
        state: view.state,
        weight: view.weight,
        nodeState: view.nodeState,
        ...(isFault(view.stat) ? { fault: view.stat } : { shardCount: view.stat.shardCount, liveBytes: view.stat.liveBytes, deadBytes: view.stat.deadBytes, volumeCount: view.stat.volumeCount, freeBytes: view.stat.freeBytes, full: view.stat.full }),
      })),
    };
  },
};

/** Free space, and "full" while the disk refuses shard writes; "-" from a node too old to say. */
function freeCell(stat: StatDiskReply): string {
  if (stat.freeBytes === undefined) return "-";
  return stat.full === true ? `${formatBytes(stat.freeBytes)} full` : formatBytes(stat.freeBytes);
}
