/**
 * How an operator names an actor: `pg/N` (or `pgs/N`), `bucket/NAME/P`,
 * `disk/ID` (or `disks/ID`; disk ids may hold slashes, e.g. `n1/d0`), or
 * `NODE:PATH` for any path on a node. The fleet map says where a PG, a
 * partition or a disk lives.
 */
import { bucketPartitionActorPath } from "../../actors/bucket-partition/index.ts";
import { diskActorPath } from "../../actors/disk/index.ts";
import { placementGroupActorPath } from "../../actors/placement-group/index.ts";
import { operatorActorPath, type OperatorMessage } from "../../actors/operator/index.ts";
import type { RestartActorReply, StopActorReply } from "../../actors/operator/protocol.ts";
import type { FleetMap } from "../membership/index.ts";
import { expectPositionals, parseArguments, type CommandOutput, type ReplCommand } from "./command.ts";
import { ReplError, type ReplSession } from "./session.ts";

export interface ActorLocation {
  readonly nodeId: string;
  readonly path: string;
}

/** Where the actor `spec` names lives now, by the map. */
export function resolveActor(map: FleetMap, spec: string): ActorLocation {
  const placementGroup = /^pgs?\/([0-9]+)$/.exec(spec);
  if (placementGroup !== null) {
    const placementGroupId = Number(placementGroup[1]);
    const assignment = map.placementGroups.find((entry) => entry.placementGroupId === placementGroupId);
    if (assignment === undefined) throw new ReplError(`pg ${placementGroupId} is not assigned to any node in map epoch ${map.epoch}`);
    return { nodeId: assignment.nodeId, path: placementGroupActorPath(placementGroupId) };
  }
  const partition = /^buckets?\/(.+)\/([0-9]+)$/.exec(spec);
  if (partition !== null) {
    const bucket = decodeURIComponent(partition[1]!);
    const assignment = map.partitions.find((entry) => entry.bucket === bucket && entry.partition === Number(partition[2]));
    if (assignment === undefined) throw new ReplError(`partition ${partition[2]} of bucket ${bucket} is not assigned in map epoch ${map.epoch}`);
    return { nodeId: assignment.nodeId, path: bucketPartitionActorPath(bucket, assignment.partition) };
  }
  const disk = /^disks?\/(.+)$/.exec(spec);
  if (disk !== null) {
    const diskId = disk[1]!;
    const host = map.placement.hosts.find((candidate) => candidate.disks.some((entry) => entry.diskId === diskId));
    if (host === undefined) throw new ReplError(`disk ${diskId} is not in map epoch ${map.epoch}`);
    return { nodeId: host.hostId, path: diskActorPath(diskId) };
  }
  const colon = spec.indexOf(":");
  if (colon > 0) return { nodeId: spec.slice(0, colon), path: spec.slice(colon + 1) };
  throw new ReplError(`cannot tell where ${spec} lives: give pg/N, bucket/NAME/P, disk/ID or NODE:PATH`);
}

/** Completion candidates for an actor argument. */
export function actorCandidates(map: FleetMap): string[] {
  return [
    ...map.placementGroups.map((entry) => `pg/${entry.placementGroupId}`),
    ...map.partitions.map((entry) => `bucket/${entry.bucket}/${entry.partition}`),
    ...map.placement.hosts.flatMap((host) => host.disks.map((disk) => `disk/${disk.diskId}`)),
  ];
}

/**
 * What `actor.stop` and `actor.restart` share: resolve the actor named by
 * the one positional argument, ask its node's operator endpoint `kind`, and
 * fail unless the outcome is `done`.
 */
export async function askActorOperation(
  session: ReplSession,
  command: ReplCommand,
  args: readonly string[],
  kind: "StopActor" | "RestartActor",
  done: "stopped" | "restarted",
): Promise<CommandOutput> {
  const { positional } = parseArguments(command, args);
  expectPositionals(command, positional, 1, 1);
  const map = await session.map();
  const location = resolveActor(map, positional[0]!);
  const reply = await session.ask<OperatorMessage, StopActorReply | RestartActorReply>(
    session.refOn(map, location.nodeId, operatorActorPath),
    (replyTo) => ({ kind, path: location.path, replyTo }),
    `${command.name} on ${location.nodeId}`,
  );
  if (reply.outcome !== done) throw new ReplError(`${command.name} ${location.nodeId}:${location.path}: ${reply.outcome}: ${reply.detail}`);
  return { text: `${location.nodeId}:${location.path} ${reply.detail}`, json: { nodeId: location.nodeId, ...reply } };
}
