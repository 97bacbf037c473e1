import { actorCandidates, askActorOperation } from "../actor-spec.ts";
import type { ReplCommand } from "../command.ts";

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
  run(session, args) {
    return askActorOperation(session, this, args, "RestartActor", "restarted");
  },
};
