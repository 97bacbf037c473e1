import { operatorActorPath, type OperatorMessage } from "../../../actors/operator/index.ts";
import type { StartScrubReply } from "../../../actors/operator/protocol.ts";
import { ReplError } from "../session.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";

export const scrubStart: ReplCommand = {
  name: "scrub.start",
  summary: "start a scrub pass of one disk now (CRC-checked reads; corrupt shards go to their PG's heal list)",
  usage: "scrub.start DISK --apply",
  help:
    "Asks the operator endpoint of the disk's node to run its Scrubber over the disk now, at the fleet's scrub pace, " +
    "besides the daily schedule. It answers at once; heal.status shows the pass as running, then its counts.",
  mutates: true,
  complete(map, index) {
    return index === 0 ? map.placement.hosts.flatMap((host) => host.disks.map((disk) => disk.diskId)) : [];
  },
  async run(session, args) {
    const { positional } = parseArguments(this, args);
    expectPositionals(this, positional, 1, 1);
    const diskId = positional[0]!;
    const map = await session.map();
    const host = map.placement.hosts.find((candidate) => candidate.disks.some((disk) => disk.diskId === diskId));
    if (host === undefined) throw new ReplError(`scrub.start: no disk ${diskId} in map epoch ${map.epoch}`);
    const reply = await session.ask<OperatorMessage, StartScrubReply>(
      session.refOn(map, host.hostId, operatorActorPath),
      (replyTo) => ({ kind: "StartScrub", diskId, replyTo }),
      `scrub.start on ${host.hostId}`,
    );
    if (reply.outcome === "not-here") throw new ReplError(`scrub.start: ${host.hostId} does not run disk ${diskId}`);
    return { text: reply.outcome === "started" ? `scrub of ${diskId} started on ${host.hostId}` : `a scrub of ${diskId} is running already`, json: { nodeId: host.hostId, ...reply } };
  },
};
