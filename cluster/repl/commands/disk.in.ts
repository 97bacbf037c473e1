import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { sendPlacementDirective } from "../directive.ts";

export const diskIn: ReplCommand = {
  name: "disk.in",
  summary: "mark a disk in again (undo disk.out): placement uses it and shards move back onto it",
  usage: "disk.in DISK --apply",
  help:
    "Clears the directive disk.out wrote. The next map gives the disk state in; PGs whose straw2 choice includes it again " +
    "take it back at one position each (only positions moving onto DISK move) and backfill onto it. A disk of a draining " +
    "node stays out until the drain is cancelled (node.drain NODE --cancel). Follow with `watch backfill.status`.",
  mutates: true,
  complete(map, index) {
    return index === 0 ? map.placement.hosts.flatMap((host) => host.disks.filter((disk) => disk.state === "out").map((disk) => disk.diskId)) : [];
  },
  async run(session, args) {
    const { positional } = parseArguments(this, args);
    expectPositionals(this, positional, 1, 1);
    return sendPlacementDirective(session, this.name, "disk", positional[0]!, false);
  },
};
