import { isFault } from "../../../runtime/index.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { faultCell, operatorViews } from "../fleet-view.ts";
import { renderTable } from "../table.ts";

export const actorList: ReplCommand = {
  name: "actor.list",
  summary: "where each disk, PG and partition actor lives, with the epoch it runs at",
  usage: "actor.list [NODE] [--kind disk|placementGroup|bucketPartition]",
  help:
    "Asks every node's operator endpoint (or one node's) what it runs: its disk actors, and the placement-group and " +
    "bucket-partition actors the map assigned to it, with the epoch each was started at. RESTARTS is how many unit actors " +
    "the node's keeper found gone and started again since the node started.",
  mutates: false,
  complete(map, index) {
    return index === 0 ? map.nodes.map((node) => node.nodeId) : [];
  },
  async run(session, args) {
    const { positional, options } = parseArguments(this, args, ["kind"]);
    expectPositionals(this, positional, 0, 1);
    const map = await session.map();
    const kind = options.get("kind");
    const views = await operatorViews(session, map, positional[0] === undefined ? undefined : [positional[0]]);
    const rows: (string | number)[][] = [];
    const json: Record<string, unknown>[] = [];
    for (const { nodeId, view } of views) {
      if (isFault(view)) {
        rows.push([nodeId, "-", "-", "-", faultCell(view)]);
        json.push({ nodeId, fault: view });
        continue;
      }
      for (const actor of view.actors) {
        if (kind !== undefined && actor.kind !== kind) continue;
        rows.push([nodeId, actor.kind, actor.path, actor.epoch === undefined ? "-" : String(actor.epoch), String(view.unitRestarts)]);
        json.push({ nodeId, incarnation: view.incarnation, unitRestarts: view.unitRestarts, ...actor });
      }
    }
    return { text: renderTable(["NODE", "KIND", "PATH", "EPOCH", "RESTARTS"], rows), json };
  },
};
