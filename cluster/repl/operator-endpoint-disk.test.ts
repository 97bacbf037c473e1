/**
 * Disk actors through the operator endpoint: a real disk actor (a volume
 * store in a temporary directory) stopped with StopActor is found gone by the
 * keeper and spawned again, with every shard it held; RestartActor does the
 * same at once; `disk/ID` names the disk's node by the map.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diskActorPath, diskBehavior, DiskMessage, type AppendShardReply, type ReadShardReply } from "../../actors/disk/index.ts";
import { operatorActorPath, type OperatorMessage } from "../../actors/operator/index.ts";
import type { RestartActorReply, StatOperatorNodeReply, StopActorReply } from "../../actors/operator/protocol.ts";
import { actorRef, createNactHost, isFault, seededRandom, systemClock, type ActorRef, type Host } from "../../runtime/index.ts";
import type { FleetMap } from "../membership/index.ts";
import { openMemoryStore, type MetaStore } from "../metadata/index.ts";
import { resolveActor } from "./actor-spec.ts";
import { startOperatorEndpoint, type LocalActor, type OperatorEndpoint } from "./operator-endpoint.ts";
import { ReplError } from "./session.ts";

const clock = systemClock();
const askTimeoutMs = 2_000;
const diskId = "n1/d0";

let directory = "";
let host: Host;
let store: MetaStore;
let endpoint: OperatorEndpoint;
let disk: ActorRef<DiskMessage>;
let spawns = 0;
const logged: Record<string, unknown>[] = [];

async function spawnDisk(): Promise<ActorRef<DiskMessage>> {
  spawns += 1;
  return host.spawn(diskActorPath(diskId), diskBehavior({ diskId, directory }), { wireSchema: DiskMessage });
}

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "cairn-operator-disk-"));
  host = createNactHost({ nodeId: "n1", incarnation: 3, random: seededRandom(1), log: () => undefined });
  store = openMemoryStore();
  spawns = 0;
  logged.length = 0;
  disk = await spawnDisk();
  endpoint = await startOperatorEndpoint({
    host,
    store,
    actingSetWidth: 1,
    localActors: (): LocalActor[] => [{ path: diskActorPath(diskId), kind: "disk", ref: disk }],
    restartUnit: async () => {
      throw new Error("no units here");
    },
    restartDisk: async (id) => {
      expect(id).toBe(diskId);
      await host.stop(disk);
      disk = await spawnDisk();
    },
    scrubDisk: async () => ({ checked: 0, bytesChecked: 0, corrupt: 0, reported: 0, unplaced: 0 }),
    sweepPlacementGroup: async () => undefined,
    healProgress: () => ({ healed: 0, bytesWritten: 0, deferred: 0, bytesPerSecondMax: 100 }),
    keeperIntervalMs: 20,
    log: (entry) => logged.push(entry),
  });
});

afterEach(async () => {
  await endpoint.stop();
  await host.shutdown();
  await store.close();
  await rm(directory, { recursive: true, force: true });
});

const operator = (): ActorRef<OperatorMessage> => actorRef("n1", 3, operatorActorPath);

async function waitFor(label: string, condition: () => Promise<boolean>, boundMs = 5_000): Promise<void> {
  const deadline = clock.monotonicMs() + boundMs;
  while (!(await condition())) {
    if (clock.monotonicMs() > deadline) throw new Error(`${label}: not within ${boundMs} ms`);
    await clock.sleep(5);
  }
}

async function append(shardKey: string, text: string): Promise<void> {
  const reply = await host.ask<DiskMessage, AppendShardReply>(disk, (replyTo) => ({ kind: "AppendShard", epoch: 1, shardKey, bytes: new TextEncoder().encode(text), replyTo }), askTimeoutMs);
  if (isFault(reply)) throw new Error(`append: ${reply.detail}`);
}

async function read(shardKey: string): Promise<string> {
  const reply = await host.ask<DiskMessage, ReadShardReply>(disk, (replyTo) => ({ kind: "ReadShard", epoch: 1, shardKey, replyTo }), askTimeoutMs);
  return isFault(reply) ? reply.fault : new TextDecoder().decode(reply.bytes);
}

describe("operator endpoint: disk actors", () => {
  test("a stopped disk actor is spawned again by the keeper with its shards", async () => {
    for (let index = 0; index < 20; index += 1) await append(`s-${index}`, `value ${index}`);
    const stopped = await host.ask<OperatorMessage, StopActorReply>(operator(), (replyTo) => ({ kind: "StopActor", path: diskActorPath(diskId), replyTo }), askTimeoutMs);
    expect(isFault(stopped) ? stopped.fault : stopped.outcome).toBe("stopped");
    // Gone until the keeper's next round (or answering again already, if that round came first).
    const meanwhile = await read("s-0");
    expect(["Unreachable", "value 0"]).toContain(meanwhile);
    await waitFor("keeper restart", async () => spawns === 2 && (await read("s-0")) === "value 0");
    for (let index = 0; index < 20; index += 1) expect(await read(`s-${index}`)).toBe(`value ${index}`);
    expect(logged.some((entry) => entry.event === "disk-actor-restarted")).toBe(true);
    const view = await host.ask<OperatorMessage, StatOperatorNodeReply>(operator(), (replyTo) => ({ kind: "StatOperatorNode", replyTo }), askTimeoutMs);
    expect(isFault(view) ? view.fault : view.unitRestarts).toBe(1);
    // Writes go on after the restart.
    await append("after", "later");
    expect(await read("after")).toBe("later");
  });

  test("RestartActor stops the disk actor and spawns it again at once", async () => {
    await append("k", "v");
    const restarted = await host.ask<OperatorMessage, RestartActorReply>(operator(), (replyTo) => ({ kind: "RestartActor", path: diskActorPath(diskId), replyTo }), askTimeoutMs);
    expect(isFault(restarted) ? restarted.fault : restarted.outcome).toBe("restarted");
    expect(spawns).toBe(2);
    expect(await read("k")).toBe("v");
  });

  test("disk/ID resolves to the node the map places the disk on", () => {
    const map = {
      epoch: 9,
      placementGroups: [],
      partitions: [],
      placement: { hosts: [{ hostId: "n1", disks: [{ diskId: "n1/d0" }] }, { hostId: "n2", disks: [{ diskId: "n2/d1" }] }] },
    } as unknown as FleetMap;
    expect(resolveActor(map, "disk/n2/d1")).toEqual({ nodeId: "n2", path: diskActorPath("n2/d1") });
    expect(resolveActor(map, "disks/n1/d0")).toEqual({ nodeId: "n1", path: diskActorPath("n1/d0") });
    expect(() => resolveActor(map, "disk/n9/d0")).toThrow(ReplError);
  });
});
