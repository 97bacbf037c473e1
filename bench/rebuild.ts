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
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { diskActorPath, diskBehavior } from "../actors/disk/index.ts";
import { Healer } from "../cluster/repair/index.ts";
import { openRepairWorld } from "../cluster/repair/repair-world.ts";
import { seededRandom, systemClock } from "../runtime/index.ts";

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

const placementGroupCount = 16;
// Six disk actors, their PGs, the object service and lmdb: the world the repair tests run in, with 1 MiB shards.
const world = await openRepairWorld({ seed, shardBytes: mib, replicationBytesMax: 128 * 1024, prefix: "cairn-bench-rebuild-", placementGroupCount });
const { directory, host, store, disks, service, view } = world;

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

const diskWrite = sequentialWriteMibPerSecond();
const random = seededRandom(seed);
const body = random.bytes(objectMib * mib);
async function* once(): AsyncGenerator<Uint8Array> {
  yield body;
}
const fillStartMs = clock.monotonicMs();
for (let index = 0; index < totalMib / objectMib; index += 1) {
  const stored = await service.putObject({ bucket: "b", key: `k${index}`, body: once(), headers: {}, userMetadata: {}, storageClass: "STANDARD" });
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
for (let id = 0; id < placementGroupCount; id += 1) recorded += await healer.sweepPlacementGroup(id);
const sweepSeconds = (clock.monotonicMs() - sweepStartMs) / 1000;
const healStartMs = clock.monotonicMs();
let healed = 0;
let bytes = 0;
for (let id = 0; id < placementGroupCount; id += 1) {
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
await world.close();
