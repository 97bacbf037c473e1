import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { placementGroupViews, type PlacementGroupView } from "../fleet-view.ts";
import { renderTable } from "../table.ts";

/** The JSON form of a PG, shared with pg.show. */
export function placementGroupJson(view: PlacementGroupView): Record<string, unknown> {
  return {
    placementGroupId: view.placementGroupId,
    state: view.state,
    nodeId: view.nodeId ?? null,
    epoch: view.epoch ?? null,
    actingSet: view.stat?.diskIds ?? null,
    completeActingSet: view.stat?.completeDiskIds ?? null,
    unusableDisks: view.unusableDisks,
    dataCount: view.stat?.dataCount ?? null,
    damagedShardCount: view.stat?.damagedShardCount ?? null,
    countsTruncated: view.stat?.countsTruncated ?? null,
    fault: view.fault ?? null,
  };
}

export const pgList: ReplCommand = {
  name: "pg.list",
  summary: "every placement group: state, node, epoch, object data count, shards to heal",
  usage: "pg.list [STATE]",
  help:
    "Asks every PG actor, where the fleet map places it, for StatPlacementGroup. STATE: clean (answers, acting set usable, " +
    "nothing to heal), backfilling (its acting set changed, by disk.out, disk.in, node.drain or a node joining, and shards " +
    "are still being copied to the new members; the former disks keep theirs until then), healing (shards on its heal " +
    "list), degraded (an acting-set disk is out or on a node not up), unresponsive (its actor did not answer), " +
    "unassigned. DATA counts the data items its index holds; HEAL the shards to rebuild (a + marks a scan bound reached). " +
    "Give a STATE to list only those.",
  mutates: false,
  complete(_map, index) {
    return index === 0 ? ["clean", "backfilling", "healing", "degraded", "unresponsive", "unassigned"] : [];
  },
  async run(session, args) {
    const { positional } = parseArguments(this, args);
    expectPositionals(this, positional, 0, 1);
    const map = await session.map();
    const views = (await placementGroupViews(session, map)).filter((view) => positional[0] === undefined || view.state === positional[0]);
    const mark = (view: PlacementGroupView): string => (view.stat?.countsTruncated === true ? "+" : "");
    const text = renderTable(
      ["PG", "STATE", "NODE", "EPOCH", "DATA", "HEAL"],
      views.map((view) => [
        view.placementGroupId,
        view.state,
        view.nodeId ?? "-",
        view.epoch === undefined ? "-" : String(view.epoch),
        view.stat === undefined ? "-" : `${view.stat.dataCount}${mark(view)}`,
        view.stat === undefined ? "-" : `${view.stat.damagedShardCount}${mark(view)}`,
      ]),
    );
    return { text, json: views.map(placementGroupJson) };
  },
};
