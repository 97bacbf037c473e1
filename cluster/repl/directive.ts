/**
 * What `disk.out`, `disk.in` and `node.drain` share: send one placement
 * directive to the entry node's operator endpoint, and say which PGs it
 * will move (the endpoint reads them from the map as it is now), so the
 * operator knows what the backfill covers before `watch backfill.status`
 * shows it happening.
 */
import { operatorActorPath, type OperatorMessage } from "../../actors/operator/index.ts";
import type { SetPlacementDirectiveReply } from "../../actors/operator/protocol.ts";
import { ReplError, type ReplSession } from "./session.ts";
import type { CommandOutput } from "./command.ts";

/** Sends the directive; a refused or unknown one is an error with the endpoint's reason. */
export async function sendPlacementDirective(
  session: ReplSession,
  commandName: string,
  target: "disk" | "node",
  id: string,
  active: boolean,
): Promise<CommandOutput> {
  const map = await session.map();
  const reply = await session.ask<OperatorMessage, SetPlacementDirectiveReply>(
    session.refOn(map, session.entryNodeId, operatorActorPath),
    (replyTo) => ({ kind: "SetPlacementDirective", target, id, active, replyTo }),
    commandName,
  );
  if (reply.outcome === "refused" || reply.outcome === "unknown") throw new ReplError(`${commandName}: ${reply.detail}`);
  const affected = reply.placementGroups ?? [];
  const lines = [reply.detail];
  if (reply.outcome === "applied") {
    if (active) lines.push(`${affected.length} PG${affected.length === 1 ? "" : "s"} have a position on ${target === "disk" ? "it" : "its disks"}; those positions move once the next map is out`);
    lines.push("follow it with: watch backfill.status");
  }
  return { text: lines.join("\n"), json: { target, id, active, outcome: reply.outcome, detail: reply.detail, placementGroups: affected } };
}
