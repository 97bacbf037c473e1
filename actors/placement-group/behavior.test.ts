import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openLmdbStore, placementGroupHealRange, type MetaStore } from "../../cluster/metadata/index.ts";
import { createNactHost, isFault, seededRandom, type ActorRef, type Fault, type Host } from "../../runtime/index.ts";
import { checkOwner, claimOwner } from "../../cluster/membership/index.ts";
import { placementGroupActorPath, placementGroupBehavior } from "./behavior.ts";
import type {
  GetActingSetReply,
  PlacementGroupMessage,
  StatPlacementGroupReply,
} from "./protocol.ts";

let directory = "";
let store: MetaStore;
let host: Host;
let pg: ActorRef<PlacementGroupMessage>;
const askTimeoutMs = 10_000;

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "cairn-pg-"));
  store = await openLmdbStore({ path: directory });
  host = createNactHost({ nodeId: "node-test", random: seededRandom(7), log: () => undefined });
  pg = await host.spawn(
    placementGroupActorPath(5),
    placementGroupBehavior({ placementGroupId: 5, store, diskIds: ["d1", "d2", "d3"], epoch: 3 }),
  );
});

afterEach(async () => {
  await host.shutdown();
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

async function ask<R>(build: (replyTo: ActorRef<R>) => PlacementGroupMessage): Promise<R> {
  const reply = await host.ask<PlacementGroupMessage, R>(pg, build, askTimeoutMs);
  if (isFault(reply)) throw new Error(`fault: ${reply.fault} ${reply.detail}`);
  return reply;
}

function stat(): Promise<StatPlacementGroupReply> {
  return ask<StatPlacementGroupReply>((replyTo) => ({ kind: "StatPlacementGroup", epoch: 3, replyTo }));
}

describe("PlacementGroupActor", () => {
  test("answers its acting set and fences a stale epoch", async () => {
    const reply = await ask<GetActingSetReply>((replyTo) => ({ kind: "GetActingSet", epoch: 3, replyTo }));
    expect(reply).toEqual({ kind: "GetActingSetReply", placementGroupId: 5, epoch: 3, diskIds: ["d1", "d2", "d3"] });
    const stale = await host.ask<PlacementGroupMessage, unknown>(pg, (replyTo) => ({ kind: "GetActingSet", epoch: 2, replyTo }), askTimeoutMs);
    expect(isFault(stale) && stale.fault).toBe("Fenced");
  });

  test("indexes data and damaged shards durably, and forgets both", async () => {
    // Many concurrent writes (the actor groups them into shared transactions): every one is answered and durable.
    const writes = [];
    for (let index = 0; index < 200; index += 1) {
      writes.push(ask((replyTo) => ({ kind: "IndexData", epoch: 3, dataId: `data-${index}`, bucket: "b", key: `k${index}`, replyTo })));
    }
    await Promise.all(writes);
    await ask((replyTo) => ({
      kind: "RecordDamagedShards",
      epoch: 3,
      dataId: "data-7",
      shards: [
        { stripeIndex: 0, shardIndex: 2, damage: "write-failed" },
        { stripeIndex: 1, shardIndex: 0, damage: "corrupt" },
      ],
      replyTo,
    }));
    await ask((replyTo) => ({ kind: "RecordDamagedShards", epoch: 3, dataId: "data-8", shards: [{ stripeIndex: 0, shardIndex: 1, damage: "missing" }], replyTo }));
    expect(await stat()).toMatchObject({ dataCount: 200, damagedShardCount: 3, countsTruncated: false });

    await ask((replyTo) => ({ kind: "ForgetData", epoch: 3, dataId: "data-7", replyTo }));
    const after = await stat();
    expect(after).toMatchObject({ dataCount: 199, damagedShardCount: 1 });
    // data-8's heal entry is untouched by forgetting data-7.
    const heal = placementGroupHealRange(5);
    const left = await store.transact((tx) => tx.getRange(heal.begin, heal.end, { limit: 10 }));
    expect(left.length).toBe(1);
  });

  test("the index survives the actor's restart (it lives in the metadata store)", async () => {
    await ask((replyTo) => ({ kind: "IndexData", epoch: 3, dataId: "kept", bucket: "b", key: "k", replyTo }));
    await host.stop(pg);
    pg = await host.spawn(placementGroupActorPath(5), placementGroupBehavior({ placementGroupId: 5, store, diskIds: ["d1", "d2", "d3"], epoch: 3 }));
    expect((await stat()).dataCount).toBe(1);
  });

  test("a new acting set that arrives while index writes are being flushed does not stall later writes", async () => {
    // A store whose transactions wait for a gate, so a flush is surely in progress when UpdateActingSet comes.
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const gated = new Proxy(store, {
      get(target, name, receiver) {
        if (name !== "transact") return Reflect.get(target, name, receiver);
        return async (work: Parameters<MetaStore["transact"]>[0]) => {
          await gate;
          return target.transact(work);
        };
      },
    });
    const slow = await host.spawn(placementGroupActorPath(9), placementGroupBehavior({ placementGroupId: 9, store: gated, diskIds: ["d1", "d2", "d3"], epoch: 3 }));
    const askSlow = async <R>(build: (replyTo: ActorRef<R>) => PlacementGroupMessage): Promise<R> => {
      const reply = await host.ask<PlacementGroupMessage, R>(slow, build, askTimeoutMs);
      if (isFault(reply)) throw new Error(`fault: ${reply.fault} ${reply.detail}`);
      return reply;
    };
    const during = askSlow((replyTo) => ({ kind: "IndexData", epoch: 3, dataId: "during", bucket: "b", key: "k", replyTo }));
    await askSlow((replyTo) => ({ kind: "UpdateActingSet", epoch: 4, diskIds: ["d1", "d2", "d4"], replyTo }));
    open();
    await during;
    // After the flush that was running ended: a new write must start a new flush.
    await askSlow((replyTo) => ({ kind: "IndexData", epoch: 4, dataId: "after", bucket: "b", key: "a", replyTo }));
    expect((await askSlow<StatPlacementGroupReply>((replyTo) => ({ kind: "StatPlacementGroup", epoch: 4, replyTo }))).dataCount).toBe(2);
  });

  test("a new acting set takes effect at a higher epoch; a conflicting one at the same epoch is fenced", async () => {
    const conflicting = await host.ask<PlacementGroupMessage, unknown>(pg, (replyTo) => ({ kind: "UpdateActingSet", epoch: 3, diskIds: ["d9"], replyTo }), askTimeoutMs);
    expect(isFault(conflicting) && conflicting.fault).toBe("Fenced");
    await ask((replyTo) => ({ kind: "UpdateActingSet", epoch: 4, diskIds: ["d3", "d2", "d4"], replyTo }));
    const reply = await ask<GetActingSetReply>((replyTo) => ({ kind: "GetActingSet", epoch: 4, replyTo }));
    expect(reply.diskIds).toEqual(["d3", "d2", "d4"]);
    const old = await host.ask<PlacementGroupMessage, unknown>(pg, (replyTo) => ({ kind: "IndexData", epoch: 3, dataId: "x", bucket: "b", key: "k", replyTo }), askTimeoutMs);
    expect(isFault(old) && old.fault).toBe("Fenced");
  });

  test("in a fleet every index write checks this run still owns the PG; a newer owner refuses the batch and the actor is told", async () => {
    const unit = { kind: "placementGroup" as const, placementGroupId: 6 };
    const run = { nodeId: "node-test", incarnation: 1, epoch: 3 };
    expect(await store.transact((tx) => claimOwner(tx, unit, run))).toBeUndefined();
    const refusals: Fault[] = [];
    const owned = await host.spawn(
      placementGroupActorPath(6),
      placementGroupBehavior({
        placementGroupId: 6,
        store,
        diskIds: ["d1", "d2", "d3"],
        epoch: 3,
        fence: (tx) => checkOwner(tx, unit, run),
        onFenced: (refusal) => refusals.push(refusal),
      }),
    );
    const index = (dataId: string): Promise<unknown> =>
      host.ask<PlacementGroupMessage, unknown>(owned, (replyTo) => ({ kind: "IndexData", epoch: 3, dataId, bucket: "b", key: dataId, replyTo }), askTimeoutMs);
    expect(await index("while-owner")).toEqual({ kind: "IndexDataReply", dataId: "while-owner" });
    // Another node takes the PG over at a later epoch.
    expect(await store.transact((tx) => claimOwner(tx, unit, { nodeId: "node-other", incarnation: 1, epoch: 4 }))).toBeUndefined();
    const refused = await Promise.all([index("after-1"), index("after-2")]);
    for (const reply of refused) expect(isFault(reply) && reply.fault).toBe("Fenced");
    expect(refusals.map((refusal) => refusal.fault)).toEqual(["Fenced"]);
    const counted = await host.ask<PlacementGroupMessage, StatPlacementGroupReply>(owned, (replyTo) => ({ kind: "StatPlacementGroup", epoch: 3, replyTo }), askTimeoutMs);
    expect(isFault(counted) ? counted : counted.dataCount).toBe(1);
  });
});
