import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { sendPlacementDirective } from "../directive.ts";

export const nodeDrain: ReplCommand = {
  name: "node.drain",
  summary: "drain a node: its disks go out, its shards move to other nodes, its PGs and partitions move away",
  usage: "node.drain NODE [--cancel] --apply",
  help:
    "Writes the directive \"NODE drains\" through the entry node's operator endpoint. The ClusterManager's next maps mark " +
    "every disk of NODE out (its PGs' positions there move to other disks and backfill, as with disk.out) and give NODE no " +
    "PG or bucket partition: its units move to other nodes a few per map (the rebalancing pace), each with a new epoch. " +
    "NODE stays in the fleet and keeps serving S3 requests. It is drained when backfill.status shows no unit on it, no shard " +
    "on its disks and no PG backfilling; then it can be stopped for good. Works for a node that is down too (its shards are " +
    "rebuilt from the others). --cancel ends the drain (its disks come back in, and shards move back).",
  mutates: true,
  complete(map, index) {
    return index === 0 ? map.nodes.map((node) => node.nodeId) : [];
  },
  async run(session, args) {
    const cancel = args.includes("--cancel");
    const { positional } = parseArguments(
      this,
      args.filter((arg) => arg !== "--cancel"),
    );
    expectPositionals(this, positional, 1, 1);
    return sendPlacementDirective(session, this.name, "node", positional[0]!, !cancel);
  },
};
