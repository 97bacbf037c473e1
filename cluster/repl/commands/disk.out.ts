import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { sendPlacementDirective } from "../directive.ts";

export const diskOut: ReplCommand = {
  name: "disk.out",
  summary: "mark a disk out: placement stops using it and its shards move to other disks",
  usage: "disk.out DISK --apply",
  help:
    "Writes the directive \"DISK is out\" to the metadata store through the entry node's operator endpoint; the " +
    "ClusterManager's next map (within a tick, about a second) gives the disk state out, and every PG that had a position " +
    "on it gets another disk there (straw2's next best; no other position moves). Those PGs backfill: each shard is copied " +
    "from DISK while it still answers, rebuilt from k others when it does not, and deleted from DISK once the PG has every " +
    "shard on its new set. Use it before pulling a disk, or for a dead one (its shards are rebuilt elsewhere). Refused when " +
    "fewer disks than a stripe's width would remain. Follow the move with `watch backfill.status`; undo with disk.in.",
  mutates: true,
  complete(map, index) {
    return index === 0 ? map.placement.hosts.flatMap((host) => host.disks.filter((disk) => disk.state === "in").map((disk) => disk.diskId)) : [];
  },
  async run(session, args) {
    const { positional } = parseArguments(this, args);
    expectPositionals(this, positional, 1, 1);
    return sendPlacementDirective(session, this.name, "disk", positional[0]!, true);
  },
};
