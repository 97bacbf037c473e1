/**
 * The operator endpoint on one nact host with an in-memory store: the
 * operator actor answers from the wiring's callbacks and the store (users),
 * refuses disk actors, and the keeper starts again a unit actor that was
 * stopped, at its epoch, unless the NodeAgent no longer runs it at that epoch.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { operatorActorPath, type OperatorMessage } from "../../actors/operator/index.ts";
import type { AddUserReply, ListUsersReply, StatOperatorNodeReply, StopActorReply } from "../../actors/operator/protocol.ts";
import { nodeAgentActorPath, type NodeAgentMessage } from "../../actors/node-agent/protocol.ts";
import type { PlacementGroupMessage } from "../../actors/placement-group/protocol.ts";
import { actorRef, createNactHost, isFault, seededRandom, systemClock, type ActorRef, type Behavior, type Host } from "../../runtime/index.ts";
import type { Unit } from "../membership/index.ts";
import { openMemoryStore, type MetaStore } from "../metadata/index.ts";
import { startOperatorEndpoint, type LocalActor, type OperatorEndpoint } from "./operator-endpoint.ts";

const clock = systemClock();
const askTimeoutMs = 2_000;

/** A stand-in PG actor: answers GetActingSet, which is all the keeper asks. */
const fakePlacementGroup: Behavior<null, PlacementGroupMessage> = {
  initialState: () => null,
  receive(state, message, context) {
    if (message.kind === "GetActingSet") context.tell(message.replyTo as ActorRef<unknown>, { kind: "GetActingSetReply", placementGroupId: 7, epoch: message.epoch, diskIds: [] });
    return state;
  },
};
const idle: Behavior<null, unknown> = { initialState: () => null, receive: (state) => state };
/** What the stand-in NodeAgent says it runs. */
let agentUnits: { unit: Unit; epoch: number }[];
const fakeAgent: Behavior<null, NodeAgentMessage> = {
  initialState: () => null,
  receive(state, message, context) {
    if (message.kind === "StatNodeAgent") {
      context.tell(message.replyTo as ActorRef<unknown>, { kind: "StatNodeAgentReply", nodeId: "n1", incarnation: 3, epoch: 4, selfFenced: false, replaced: false, units: agentUnits });
    }
    return state;
  },
};

let host: Host;
let store: MetaStore;
let endpoint: OperatorEndpoint;
let placementGroup: ActorRef<PlacementGroupMessage> | undefined;
let restarts: { unit: Unit; epoch: number }[];
/** How many times the endpoint listed the node's actors: once per keeper round, besides the operator's asks. */
let listings = 0;

beforeEach(async () => {
  host = createNactHost({ nodeId: "n1", incarnation: 3, random: seededRandom(1), log: () => undefined });
  store = openMemoryStore();
  restarts = [];
  agentUnits = [{ unit: { kind: "placementGroup", placementGroupId: 7 }, epoch: 4 }];
  await host.spawn(nodeAgentActorPath, fakeAgent);
  placementGroup = await host.spawn("pgs/7", fakePlacementGroup);
  const disk = await host.spawn("disks/n1/d0", idle);
  endpoint = await startOperatorEndpoint({
    host,
    store,
    actingSetWidth: 1,
    localActors: (): LocalActor[] => {
      listings += 1;
      return [
        { path: "disks/n1/d0", kind: "disk", ref: disk },
        ...(placementGroup === undefined ? [] : [{ path: "pgs/7", kind: "placementGroup" as const, ref: placementGroup, unit: { kind: "placementGroup" as const, placementGroupId: 7 }, epoch: 4 }]),
      ];
    },
    restartUnit: async (unit, epoch) => {
      restarts.push({ unit, epoch });
      await host.stop(placementGroup!);
      placementGroup = await host.spawn("pgs/7", fakePlacementGroup);
    },
    scrubDisk: async () => ({ checked: 3, bytesChecked: 30, corrupt: 0, reported: 0, unplaced: 0 }),
    sweepPlacementGroup: async () => undefined,
    healProgress: () => ({ healed: 2, bytesWritten: 20, deferred: 1, bytesPerSecondMax: 100 }),
    keeperIntervalMs: 20,
    log: () => undefined,
  });
});

afterEach(async () => {
  await endpoint.stop();
  await host.shutdown();
  await store.close();
});

const operator = (): ActorRef<OperatorMessage> => actorRef("n1", 3, operatorActorPath);

async function waitFor(label: string, condition: () => boolean, boundMs = 5_000): Promise<void> {
  const deadline = clock.monotonicMs() + boundMs;
  while (!condition()) {
    if (clock.monotonicMs() > deadline) throw new Error(`${label}: not within ${boundMs} ms`);
    await clock.sleep(5);
  }
}

describe("operator endpoint", () => {
  test("StatOperatorNode lists the node's actors with their epochs and the heal totals", async () => {
    const reply = await host.ask<OperatorMessage, StatOperatorNodeReply>(operator(), (replyTo) => ({ kind: "StatOperatorNode", replyTo }), askTimeoutMs);
    if (isFault(reply)) throw new Error(reply.detail);
    expect(reply.nodeId).toBe("n1");
    expect(reply.incarnation).toBe(3);
    expect(reply.actors).toEqual([
      { path: "disks/n1/d0", kind: "disk" },
      { path: "pgs/7", kind: "placementGroup", epoch: 4 },
    ]);
    expect(reply.heal).toEqual({ healed: 2, bytesWritten: 20, deferred: 1, bytesPerSecondMax: 100 });
    expect(reply.unitRestarts).toBe(0);
  });

  test("a stopped PG actor is started again by the keeper at its epoch; a disk is refused", async () => {
    const refused = await host.ask<OperatorMessage, StopActorReply>(operator(), (replyTo) => ({ kind: "StopActor", path: "disks/n1/d0", replyTo }), askTimeoutMs);
    expect(isFault(refused) ? refused.fault : refused.outcome).toBe("refused");
    const missing = await host.ask<OperatorMessage, StopActorReply>(operator(), (replyTo) => ({ kind: "StopActor", path: "pgs/8", replyTo }), askTimeoutMs);
    expect(isFault(missing) ? missing.fault : missing.outcome).toBe("not-here");

    const stopped = await host.ask<OperatorMessage, StopActorReply>(operator(), (replyTo) => ({ kind: "StopActor", path: "pgs/7", replyTo }), askTimeoutMs);
    expect(isFault(stopped) ? stopped.fault : stopped.outcome).toBe("stopped");
    await waitFor("keeper restart", () => restarts.length > 0);
    expect(restarts).toEqual([{ unit: { kind: "placementGroup", placementGroupId: 7 }, epoch: 4 }]);
    const probe = await host.ask<PlacementGroupMessage, unknown>(placementGroup!, (replyTo) => ({ kind: "GetActingSet", epoch: 4, replyTo }), askTimeoutMs);
    expect(isFault(probe)).toBe(false);
    const stat = await host.ask<OperatorMessage, StatOperatorNodeReply>(operator(), (replyTo) => ({ kind: "StatOperatorNode", replyTo }), askTimeoutMs);
    expect(isFault(stat) ? stat.fault : stat.unitRestarts).toBe(1);
  });

  test("the keeper leaves stopped a unit the NodeAgent no longer runs at that epoch", async () => {
    // The agent is stopping it (a new map moved it, or it was fenced) while the node still lists it.
    agentUnits = [{ unit: { kind: "placementGroup", placementGroupId: 7 }, epoch: 5 }];
    await host.stop(placementGroup!);
    // Each keeper round lists the node's actors once (and restarts within that round): wait for five more rounds.
    const listedBefore = listings;
    await waitFor("five keeper rounds", () => listings >= listedBefore + 5);
    expect(restarts).toEqual([]);
    // Once the agent runs it at that epoch again, the keeper restarts it.
    agentUnits = [{ unit: { kind: "placementGroup", placementGroupId: 7 }, epoch: 4 }];
    await waitFor("keeper restart", () => restarts.length > 0);
  });

  test("users go to the store; a bad name is refused with a reason", async () => {
    const added = await host.ask<OperatorMessage, AddUserReply>(operator(), (replyTo) => ({ kind: "AddUser", name: "alice", role: "admin", replyTo }), askTimeoutMs);
    if (isFault(added)) throw new Error(added.detail);
    expect(added.outcome).toBe("added");
    expect(added.secretAccessKey?.length).toBeGreaterThan(20);
    const again = await host.ask<OperatorMessage, AddUserReply>(operator(), (replyTo) => ({ kind: "AddUser", name: "alice", role: "user", replyTo }), askTimeoutMs);
    expect(isFault(again) ? again.fault : again.outcome).toBe("name-taken");
    const bad = await host.ask<OperatorMessage, AddUserReply>(operator(), (replyTo) => ({ kind: "AddUser", name: "no spaces", role: "user", replyTo }), askTimeoutMs);
    expect(isFault(bad) ? bad.fault : bad.outcome).toBe("invalid-name");
    const list = await host.ask<OperatorMessage, ListUsersReply>(operator(), (replyTo) => ({ kind: "ListUsers", replyTo }), askTimeoutMs);
    if (isFault(list)) throw new Error(list.detail);
    expect(list.users.map((user) => [user.name, user.role])).toEqual([["alice", "admin"]]);
    expect(JSON.stringify(list.users)).not.toContain(added.secretAccessKey!);
  });
});
