import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openLmdbStore, placementGroupHealRange, type MetaStore } from "../../cluster/metadata/index.ts";
import { createNactHost, isFault, seededRandom, type ActorRef, type Host } from "../../runtime/index.ts";
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

  test("a new acting set takes effect at a higher epoch; a conflicting one at the same epoch is fenced", async () => {
    const conflicting = await host.ask<PlacementGroupMessage, unknown>(pg, (replyTo) => ({ kind: "UpdateActingSet", epoch: 3, diskIds: ["d9"], replyTo }), askTimeoutMs);
    expect(isFault(conflicting) && conflicting.fault).toBe("Fenced");
    await ask((replyTo) => ({ kind: "UpdateActingSet", epoch: 4, diskIds: ["d3", "d2", "d4"], replyTo }));
    const reply = await ask<GetActingSetReply>((replyTo) => ({ kind: "GetActingSet", epoch: 4, replyTo }));
    expect(reply.diskIds).toEqual(["d3", "d2", "d4"]);
    const old = await host.ask<PlacementGroupMessage, unknown>(pg, (replyTo) => ({ kind: "IndexData", epoch: 3, dataId: "x", bucket: "b", key: "k", replyTo }), askTimeoutMs);
    expect(isFault(old) && old.fault).toBe("Fenced");
  });
});
