import { actorCandidates, askActorOperation } from "../actor-spec.ts";
import type { ReplCommand } from "../command.ts";

export const actorStop: ReplCommand = {
  name: "actor.stop",
  summary: "stop a PG, partition or disk actor, as a crash would (a drill); the node's keeper starts it again",
  usage: "actor.stop pg/N|bucket/NAME/P|disk/ID|NODE:PATH --apply",
  help:
    "Finds the node the map assigns the actor to and asks its operator endpoint to stop it (host.stop, as a crash that " +
    "exhausted its restarts would leave it). Within about a second the node's keeper finds it gone and starts it again at " +
    "the epoch it was assigned; pg.show shows it unresponsive, then clean again. A disk actor (disk/ID, the node the map " +
    "places the disk on) closes its volume files once its pending writes settle; the keeper spawns it again, which reopens " +
    "and rescans its volumes. Meanwhile reads of its shards are rebuilt from the other shards and writes to its PGs go " +
    "degraded (recorded for the Healer, which fills the gap once the disk is back).",
  mutates: true,
  complete(map, index) {
    return index === 0 ? actorCandidates(map) : [];
  },
  run(session, args) {
    return askActorOperation(session, this, args, "StopActor", "stopped");
  },
};
