import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isFault } from "../../runtime/index.ts";
import { createMemoryStorage, openLmdbStore, openMemoryStore, type MetaStore } from "../metadata/index.ts";
import { emptyFleetMap, readFleetMap, writeFleetMap } from "./fleet-map.ts";
import { acquireManagerLease, checkManagerTerm, readManagerLease, registerNode, releaseManagerLease, renewNodeLease } from "./leases.ts";
import type { FleetMap } from "./records.ts";
import { checkOwner, claimOwner, readOwner, type Unit } from "./unit-owner.ts";

/** Each backend opens a fresh store, and reopens the same data after `close`. */
interface Backend {
  readonly name: string;
  setUp(): Promise<MetaStore>;
  reopen(): Promise<MetaStore>;
  tearDown(): void;
}

function lmdbBackend(): Backend {
  let directory = "";
  return {
    name: "lmdb",
    async setUp() {
      directory = mkdtempSync(join(tmpdir(), "cairn-membership-"));
      return openLmdbStore({ path: directory });
    },
    reopen: () => openLmdbStore({ path: directory }),
    tearDown: () => rmSync(directory, { recursive: true, force: true }),
  };
}

function memoryBackend(): Backend {
  let storage = createMemoryStorage();
  return {
    name: "memory",
    async setUp() {
      storage = createMemoryStorage();
      return openMemoryStore({ storage });
    },
    reopen: async () => openMemoryStore({ storage }),
    tearDown: () => undefined,
  };
}

for (const backend of [lmdbBackend(), memoryBackend()]) {
  describe(`membership on the ${backend.name} store`, () => {
    let store: MetaStore;

    beforeEach(async () => {
      store = await backend.setUp();
    });

    afterEach(async () => {
      await store.close();
      backend.tearDown();
    });

    const registration = { nodeId: "n1", address: "ws://127.0.0.1:1", roles: ["storage", "gateway"] as const, disks: [{ diskId: "n1/d0", weight: 1 }] };
    const terms = (nowMs: number) => ({ nowMs, leaseMs: 1_000, clockSkewMsMax: 200 });

    function mapAt(epoch: number, term: number): FleetMap {
      const empty = emptyFleetMap(4);
      return { ...empty, epoch, managerTerm: term, placement: { ...empty.placement, epoch } };
    }

    describe("node registration and leases", () => {
      test("every registration allocates a strictly larger incarnation, also after the store is reopened", async () => {
        const first = await registerNode(store, registration, 1_000, 500);
        const second = await registerNode(store, registration, 2_000, 500);
        expect([first.record.incarnation, second.record.incarnation]).toEqual([1, 2]);
        expect(second.lease).toEqual({ nodeId: "n1", incarnation: 2, expiresAtMs: 2_500, renewedAtMs: 2_000 });
        await store.close();
        store = await backend.reopen();
        const third = await registerNode(store, { ...registration, nodeId: "n1" }, 3_000, 500);
        expect(third.record.incarnation).toBe(3);
        const other = await registerNode(store, { ...registration, nodeId: "n2" }, 3_000, 500);
        expect(other.record.incarnation).toBe(1);
      });

      test("a replaced run cannot renew its lease (it must stop); the current run can", async () => {
        await registerNode(store, registration, 0, 500);
        await registerNode(store, registration, 10, 500);
        const stale = await store.transact((tx) => renewNodeLease(tx, { nodeId: "n1", incarnation: 1 }, 20, 500));
        expect(isFault(stale) && stale.fault).toBe("Fenced");
        const current = await store.transact((tx) => renewNodeLease(tx, { nodeId: "n1", incarnation: 2 }, 20, 500));
        expect(current).toEqual({ nodeId: "n1", incarnation: 2, expiresAtMs: 520, renewedAtMs: 20 });
        const unknown = await store.transact((tx) => renewNodeLease(tx, { nodeId: "nobody", incarnation: 1 }, 20, 500));
        expect(isFault(unknown) && unknown.fault).toBe("Fenced");
      });
    });

    describe("manager lease and term", () => {
      test("the lease goes to one holder; another gets it only after expiry plus skew, with the next term", async () => {
        const a = { nodeId: "a", incarnation: 1 };
        const b = { nodeId: "b", incarnation: 1 };
        const first = await store.transact((tx) => acquireManagerLease(tx, a, terms(0)));
        expect(first).toMatchObject({ nodeId: "a", term: 1, expiresAtMs: 1_000 });
        // Expired on the holder's clock but within the skew allowance: still a's.
        const early = await store.transact((tx) => acquireManagerLease(tx, b, terms(1_200)));
        expect(isFault(early) && early.fault).toBe("Fenced");
        const renewed = await store.transact((tx) => acquireManagerLease(tx, a, terms(900)));
        expect(renewed).toMatchObject({ nodeId: "a", term: 1, expiresAtMs: 1_900 });
        const taken = await store.transact((tx) => acquireManagerLease(tx, b, terms(2_101)));
        expect(taken).toMatchObject({ nodeId: "b", term: 2 });
        // A new run of the old holder is another candidate: no silent inheritance of the term.
        const newRun = await store.transact((tx) => acquireManagerLease(tx, { nodeId: "b", incarnation: 2 }, terms(2_200)));
        expect(isFault(newRun) && newRun.fault).toBe("Fenced");
      });

      test("a deposed manager's map write is refused; the current one's is accepted", async () => {
        const a = { nodeId: "a", incarnation: 1 };
        const b = { nodeId: "b", incarnation: 1 };
        await store.transact((tx) => acquireManagerLease(tx, a, terms(0)));
        expect(await store.transact((tx) => writeFleetMap(tx, 1, mapAt(1, 1)))).toBeUndefined();
        await store.transact((tx) => acquireManagerLease(tx, b, terms(5_000)));
        const refused = await store.transact((tx) => writeFleetMap(tx, 1, mapAt(2, 1)));
        expect(isFault(refused) && refused.fault).toBe("Fenced");
        expect((await store.transact((tx) => readFleetMap(tx)))?.epoch).toBe(1);
        expect(await store.transact((tx) => writeFleetMap(tx, 2, mapAt(2, 2)))).toBeUndefined();
        expect((await store.transact((tx) => readFleetMap(tx)))?.managerTerm).toBe(2);
        expect(await store.transact((tx) => checkManagerTerm(tx, 2))).toBeUndefined();
      });

      test("a deposed manager whose write raced the takeover is refused on retry (same transaction check)", async () => {
        const a = { nodeId: "a", incarnation: 1 };
        await store.transact((tx) => acquireManagerLease(tx, a, terms(0)));
        let attempts = 0;
        const outcome = await store.transact(async (tx) => {
          attempts += 1;
          const fenced = await writeFleetMap(tx, 1, mapAt(1, 1));
          // The takeover commits between a's check and a's commit (first attempt only).
          if (attempts === 1) await store.transact((other) => acquireManagerLease(other, { nodeId: "b", incarnation: 1 }, terms(10_000)));
          return fenced;
        });
        expect(attempts).toBe(2);
        expect(isFault(outcome) && outcome.fault).toBe("Fenced");
        expect(await store.transact((tx) => readFleetMap(tx))).toBeUndefined();
      });

      test("a released lease is free at once and the term still grows", async () => {
        const a = { nodeId: "a", incarnation: 1 };
        await store.transact((tx) => acquireManagerLease(tx, a, terms(0)));
        await store.transact((tx) => releaseManagerLease(tx, { nodeId: "b", incarnation: 1 }, 1)); // not the holder: ignored
        expect((await store.transact((tx) => readManagerLease(tx)))?.expiresAtMs).toBe(1_000);
        await store.transact((tx) => releaseManagerLease(tx, a, 1));
        const taken = await store.transact((tx) => acquireManagerLease(tx, { nodeId: "b", incarnation: 1 }, terms(10)));
        expect(taken).toMatchObject({ nodeId: "b", term: 2 });
      });
    });

    describe("unit owners and epochs", () => {
      const pg: Unit = { kind: "placementGroup", placementGroupId: 7 };
      const partition: Unit = { kind: "bucketPartition", bucket: "photos", partition: 3 };

      test("a newer epoch takes the unit; the stale owner's metadata write is refused", async () => {
        const old = { nodeId: "a", incarnation: 1, epoch: 4 };
        const next = { nodeId: "b", incarnation: 1, epoch: 5 };
        expect(await store.transact((tx) => claimOwner(tx, pg, old))).toBeUndefined();
        expect(await store.transact((tx) => claimOwner(tx, pg, old))).toBeUndefined(); // repeating a claim is harmless
        expect(await store.transact((tx) => checkOwner(tx, pg, old))).toBeUndefined();
        expect(await store.transact((tx) => claimOwner(tx, pg, next))).toBeUndefined();
        // The old owner's write, fenced in its own transaction: refused and nothing written.
        const write = await store.transact(async (tx) => {
          const fenced = await checkOwner(tx, pg, old);
          if (fenced !== undefined) return fenced;
          tx.set(new Uint8Array([0x10]), new Uint8Array([1]));
          return undefined;
        });
        expect(isFault(write) && write.fault).toBe("Fenced");
        expect(await store.transact((tx) => tx.get(new Uint8Array([0x10])))).toBeUndefined();
        // An old epoch cannot take the unit back, nor can another run claim the same epoch.
        const back = await store.transact((tx) => claimOwner(tx, pg, old));
        expect(isFault(back) && back.fault).toBe("Fenced");
        const sameEpoch = await store.transact((tx) => claimOwner(tx, pg, { nodeId: "c", incarnation: 1, epoch: 5 }));
        expect(isFault(sameEpoch) && sameEpoch.fault).toBe("Fenced");
        expect(await store.transact((tx) => readOwner(tx, pg))).toEqual(next);
      });

      test("owners of different units are independent; an unclaimed unit fences every writer", async () => {
        const claim = { nodeId: "a", incarnation: 2, epoch: 1 };
        const unclaimed = await store.transact((tx) => checkOwner(tx, partition, claim));
        expect(isFault(unclaimed) && unclaimed.fault).toBe("Fenced");
        await store.transact((tx) => claimOwner(tx, partition, claim));
        expect(await store.transact((tx) => checkOwner(tx, partition, claim))).toBeUndefined();
        expect(await store.transact((tx) => readOwner(tx, pg))).toBeUndefined();
        // Same node, another run: stale.
        const otherRun = await store.transact((tx) => checkOwner(tx, partition, { ...claim, incarnation: 1 }));
        expect(isFault(otherRun) && otherRun.fault).toBe("Fenced");
      });

      test("a write racing a newer claim conflicts, retries and is refused", async () => {
        const old = { nodeId: "a", incarnation: 1, epoch: 1 };
        await store.transact((tx) => claimOwner(tx, pg, old));
        let attempts = 0;
        const outcome = await store.transact(async (tx) => {
          attempts += 1;
          const fenced = await checkOwner(tx, pg, old);
          if (attempts === 1) await store.transact((other) => claimOwner(other, pg, { nodeId: "b", incarnation: 1, epoch: 2 }));
          if (fenced !== undefined) return fenced;
          tx.set(new Uint8Array([0x11]), new Uint8Array([1]));
          return undefined;
        });
        expect(attempts).toBe(2);
        expect(isFault(outcome) && outcome.fault).toBe("Fenced");
        expect(await store.transact((tx) => tx.get(new Uint8Array([0x11])))).toBeUndefined();
      });
    });
  });
}
