import { operatorActorPath, type OperatorMessage } from "../../../actors/operator/index.ts";
import type { RestartActorReply } from "../../../actors/operator/protocol.ts";
import { actorCandidates, resolveActor } from "../actor-spec.ts";
import { ReplError } from "../session.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";

export const actorRestart: ReplCommand = {
  name: "actor.restart",
  summary: "stop and start again a PG or partition actor at its assigned epoch, or a disk actor",
  usage: "actor.restart pg/N|bucket/NAME/P|disk/ID|NODE:PATH --apply",
  help:
    "Finds the node the map assigns the actor to and asks its operator endpoint to restart it: the node's own start of the " +
    "unit (stop the running actor, spawn a fresh one at the epoch this run owns), so its state is rebuilt from the store " +
    "as after a crash. A disk actor is stopped (its pending writes settle, its files close) and spawned again, which " +
    "reopens and rescans its volumes.",
  mutates: true,
  complete(map, index) {
    return index === 0 ? actorCandidates(map) : [];
  },
  async run(session, args) {
    const { positional } = parseArguments(this, args);
    expectPositionals(this, positional, 1, 1);
    const map = await session.map();
    const location = resolveActor(map, positional[0]!);
    const reply = await session.ask<OperatorMessage, RestartActorReply>(
      session.refOn(map, location.nodeId, operatorActorPath),
      (replyTo) => ({ kind: "RestartActor", path: location.path, replyTo }),
      `actor.restart on ${location.nodeId}`,
    );
    if (reply.outcome !== "restarted") throw new ReplError(`actor.restart ${location.nodeId}:${location.path}: ${reply.outcome}: ${reply.detail}`);
    return { text: `${location.nodeId}:${location.path} ${reply.detail}`, json: { nodeId: location.nodeId, ...reply } };
  },
};
