/**
 * What an orphan sweep of one disk costs (cluster/repair/orphan-sweeper.ts).
 *
 *   bun run bench/orphan-sweep.ts [--shards 200000] [--pgs 128] [--orphan-percent 10] [--seed 1]
 *   npm run bench:orphan-sweep -- --shards 200000
 *
 * Six disk actors and --pgs PG actors in one process (cluster/repair/repair-world.ts), lmdb
 * metadata. Disk 0 is given --shards small stripe shards: most belong to data a PG indexes, at
 * the position disk 0 holds in that PG's acting set (live); --orphan-percent of them are of
 * data nobody indexes (orphans). Then it times a first sweep (it only finds: one look deletes
 * nothing) and a second one that deletes, and prints shards per second for each.
 */
import { parseArgs } from "node:util";
import type { AppendShardReply, DiskMessage } from "../actors/disk/index.ts";
import { encodeRecord, placementGroupDataKey } from "../cluster/metadata/index.ts";
import { stripeShardKey } from "../cluster/object-service.ts";
import { actingSet } from "../cluster/placement/index.ts";
import { Healer, OrphanSweeper } from "../cluster/repair/index.ts";
import { openRepairWorld, repairWorldMap, repairWorldWidth } from "../cluster/repair/repair-world.ts";
import { isFault, seededRandom, systemClock, type Fault } from "../runtime/index.ts";

const { values } = parseArgs({
  options: {
    shards: { type: "string", default: "200000" },
    pgs: { type: "string", default: "128" },
    "orphan-percent": { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
  },
});
const shardCount = Number(values.shards);
const placementGroupCount = Number(values.pgs);
const orphanPercent = Number(values["orphan-percent"]);
const random = seededRandom(Number(values.seed));
const clock = systemClock();

const world = await openRepairWorld({ seed: Number(values.seed), shardBytes: 16 * 1024, replicationBytesMax: 8 * 1024, prefix: "cairn-bench-orphans-", placementGroupCount });
try {
  const map = { ...repairWorldMap, placementGroupCount };
  const sets = Array.from({ length: placementGroupCount }, (_, id) => actingSet(id, map, repairWorldWidth));
  const healer = new Healer({ host: world.host, store: world.store, view: world.view, bytesPerSecondMax: 1024 * 1024 * 1024 });
  for (let id = 0; id < placementGroupCount; id += 1) await healer.recordCompleteActingSet(id, sets[id]!);

  const disk = world.disks.get("disk-0")!;
  const payload = new Uint8Array(64);
  const hex = (): string => Array.from(random.bytes(12), (byte) => byte.toString(16).padStart(2, "0")).join("");
  let orphans = 0;
  const fillStartMs = clock.monotonicMs();
  const batch = 500;
  for (let first = 0; first < shardCount; first += batch) {
    const entries = Array.from({ length: Math.min(batch, shardCount - first) }, () => {
      const placementGroupId = random.integer(placementGroupCount);
      const orphan = random.integer(100) < orphanPercent;
      return { dataId: hex(), placementGroupId, orphan, position: sets[placementGroupId]!.indexOf("disk-0") };
    });
    await world.store.transact(async (tx) => {
      for (const entry of entries) {
        if (entry.orphan) continue;
        tx.set(placementGroupDataKey(entry.placementGroupId, entry.dataId), encodeRecord("placementGroupData", 1, { bucket: "b", key: entry.dataId, layout: { kind: "erasure", dataShards: 4, parityShards: 2 } }));
      }
    });
    await Promise.all(
      entries.map(async (entry) => {
        const reply = await world.host.ask<DiskMessage, AppendShardReply | Fault>(
          disk,
          (replyTo) => ({ kind: "AppendShard", epoch: 1, shardKey: stripeShardKey(entry.dataId, 0, entry.position), bytes: payload, replyTo }),
          60_000,
        );
        if (isFault(reply)) throw new Error(`append: ${reply.detail}`);
      }),
    );
    orphans += entries.filter((entry) => entry.orphan).length;
  }
  console.log(`disk-0: ${shardCount} shards (${orphans} orphans) over ${placementGroupCount} PGs, written in ${((clock.monotonicMs() - fillStartMs) / 1000).toFixed(1)} s`);

  const sweeper = new OrphanSweeper({
    host: world.host,
    store: world.store,
    view: world.view,
    placementGroupCount,
    mapActingSet: (id) => sets[id],
    confirmMs: 1,
  });
  for (const pass of ["first (finds)", "second (deletes)"]) {
    const startMs = clock.monotonicMs();
    const report = await sweeper.sweepDisk("disk-0");
    const seconds = (clock.monotonicMs() - startMs) / 1000;
    console.log(
      `${pass.padEnd(17)} listed ${report.listed}, orphaned ${report.orphaned}, deleted ${report.deleted} in ${seconds.toFixed(2)} s: ${Math.round(report.listed / seconds)} shards/s`,
    );
  }
} finally {
  await world.close();
}
