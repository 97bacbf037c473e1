/**
 * Rebuild speed after a disk is lost, next to the disk's own sequential write
 * speed measured in the same run.
 *
 *   bun run bench/rebuild.ts [--mib 512] [--object-mib 8] [--seed 1]
 *   npm run bench:rebuild -- --mib 512
 *
 * Six disk actors (directories under one temporary directory, so on one
 * device), 4+2 coding, 1 MiB shards, lmdb metadata, one process. It stores
 * --mib MiB of objects, then empties one disk (stop its actor, delete its
 * directory, start an empty one under the same id) and times the Healer's
 * sweep and heal of every placement group with no pace limit. Rebuild MiB/s
 * counts the bytes written to the new disk; each is reconstructed from 4
 * shards read from the others. The disk's sequential write speed is a
 * 256 MiB file written in 8 MiB blocks with one fsync at the end.
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { diskActorPath, diskBehavior, type DiskMessage } from "../actors/disk/index.ts";
import { placementGroupActorPath, placementGroupBehavior, type PlacementGroupMessage } from "../actors/placement-group/index.ts";
import { ObjectCatalog, openLmdbStore } from "../cluster/metadata/index.ts";
import { ObjectService } from "../cluster/object-service.ts";
import { actingSet, type ClusterMap } from "../cluster/placement/index.ts";
import { Healer } from "../cluster/repair/index.ts";
import { createNactHost, seededRandom, systemClock, type ActorRef } from "../runtime/index.ts";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "512" },
    "object-mib": { type: "string", default: "8" },
    seed: { type: "string", default: "1" },
  },
});
const mib = 1024 * 1024;
const totalMib = Number(values.mib);
const objectMib = Number(values["object-mib"]);
const seed = Number(values.seed);
const clock = systemClock();

const directory = mkdtempSync(join(tmpdir(), "cairn-bench-rebuild-"));
const diskIds = ["disk-0", "disk-1", "disk-2", "disk-3", "disk-4", "disk-5"];
const map: ClusterMap = {
  epoch: 1,
  placementGroupCount: 16,
  hosts: [{ hostId: "bench", disks: diskIds.map((diskId) => ({ diskId, weight: 1, state: "in" as const })) }],
};

function sequentialWriteMibPerSecond(): number {
  const path = join(directory, "sequential.bin");
  const block = new Uint8Array(8 * mib).fill(7);
  const startMs = clock.monotonicMs();
  const descriptor = openSync(path, "w");
  for (let written = 0; written < 256 * mib; written += block.byteLength) writeSync(descriptor, block);
  fsyncSync(descriptor);
  closeSync(descriptor);
  const seconds = (clock.monotonicMs() - startMs) / 1000;
  rmSync(path);
  return 256 / seconds;
}

const store = await openLmdbStore({ path: join(directory, "meta") });
const host = createNactHost({ nodeId: "bench", clock, random: seededRandom(seed), log: () => undefined });
const disks = new Map<string, ActorRef<DiskMessage>>();
for (const diskId of diskIds) disks.set(diskId, await host.spawn(diskActorPath(diskId), diskBehavior({ diskId, directory: join(directory, diskId) })));
const placementGroups: ActorRef<PlacementGroupMessage>[] = [];
for (let id = 0; id < map.placementGroupCount; id += 1) {
  placementGroups.push(await host.spawn(placementGroupActorPath(id), placementGroupBehavior({ placementGroupId: id, store, diskIds: actingSet(id, map, 6), epoch: 1 })));
}
const view = () => ({ epoch: 1, diskRef: (diskId: string) => disks.get(diskId), placementGroupRef: (id: number) => placementGroups[id] });
const service = new ObjectService({
  host,
  catalog: new ObjectCatalog(store),
  placementGroupCount: map.placementGroupCount,
  view,
  storageClasses: new Map([["STANDARD", { dataShards: 4, parityShards: 2 }]]),
});
await service.createBucket("bench");

const diskWrite = sequentialWriteMibPerSecond();
const random = seededRandom(seed);
const body = random.bytes(objectMib * mib);
async function* once(): AsyncGenerator<Uint8Array> {
  yield body;
}
const fillStartMs = clock.monotonicMs();
for (let index = 0; index < totalMib / objectMib; index += 1) {
  const stored = await service.putObject({ bucket: "bench", key: `k${index}`, body: once(), headers: {}, userMetadata: {}, storageClass: "STANDARD" });
  if (typeof stored === "string") throw new Error(stored);
}
const fillSeconds = (clock.monotonicMs() - fillStartMs) / 1000;

const lost = "disk-2";
await host.stop(disks.get(lost)!);
rmSync(join(directory, lost), { recursive: true, force: true });
disks.set(lost, await host.spawn(diskActorPath(lost), diskBehavior({ diskId: lost, directory: join(directory, lost) })));

const healer = new Healer({ host, store, view, bytesPerSecondMax: Number.MAX_SAFE_INTEGER });
const sweepStartMs = clock.monotonicMs();
let recorded = 0;
for (let id = 0; id < map.placementGroupCount; id += 1) recorded += await healer.sweepPlacementGroup(id);
const sweepSeconds = (clock.monotonicMs() - sweepStartMs) / 1000;
const healStartMs = clock.monotonicMs();
let healed = 0;
let bytes = 0;
for (let id = 0; id < map.placementGroupCount; id += 1) {
  const report = await healer.healPlacementGroup(id);
  healed += report.healed;
  bytes += report.bytesWritten;
}
const healSeconds = (clock.monotonicMs() - healStartMs) / 1000;

console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "unknown"}; data in ${directory}`);
console.log(`stored ${totalMib} MiB as ${totalMib / objectMib} objects of ${objectMib} MiB (4+2) in ${fillSeconds.toFixed(1)} s`);
console.log(`disk sequential write: ${diskWrite.toFixed(0)} MiB/s (256 MiB, 8 MiB blocks, one fsync)`);
console.log(`lost ${lost}: sweep found ${recorded} missing shards in ${sweepSeconds.toFixed(2)} s`);
console.log(`rebuilt ${healed} shards, ${(bytes / mib).toFixed(0)} MiB, in ${healSeconds.toFixed(1)} s: ${(bytes / mib / healSeconds).toFixed(0)} MiB/s written to the new disk (${((4 * bytes) / mib / healSeconds).toFixed(0)} MiB/s read from the others)`);
await host.shutdown();
await store.close();
rmSync(directory, { recursive: true, force: true });
