/**
 * Failover time of a real fleet: a 5-node fleet on 127.0.0.1 (2 disks per
 * node, STANDARD = 3+2), then `--kills` rounds of: SIGKILL a random node,
 * time until every placement group it hosted serves a GET again through
 * another node's gateway, restart it with `cairn fleet up`, wait until it
 * has rejoined and hosts PGs again.
 *
 *   npm run bench:failover -- [--kills 20] [--seed S]
 *
 * Prints each kill and the median and worst failover.
 */
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { placementGroupOf } from "../cluster/placement/index.ts";
import { randomSeed, seededRandom, systemClock } from "../runtime/index.ts";
import { bodyOf, md5, startFleet } from "../test/support/fleet.ts";

const { values } = parseArgs({ options: { kills: { type: "string", default: "20" }, seed: { type: "string" } } });
const kills = Number(values.kills);
const seed = values.seed === undefined ? randomSeed() : Number(values.seed);
const random = seededRandom(seed);
const clock = systemClock();
const nodeIds = ["n1", "n2", "n3", "n4", "n5"];
const placementGroupCount = 32;
const bucket = "failover";

console.log(`cairn failover bench: ${kills} kills, seed ${seed}, ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, bun ${Bun.version}`);
const fleet = await startFleet({ nodeIds, disksPerNode: 2, placementGroupCount, storageClasses: "STANDARD=3+2" });
const results: number[] = [];
try {
  await fleet.clients.get("n1")!.send(new CreateBucketCommand({ Bucket: bucket }));
  // One key per PG, so every PG's actor is needed by some probe.
  const probes = new Map<number, string>();
  for (let index = 0; probes.size < placementGroupCount; index += 1) {
    const key = `probe/${index}`;
    const placementGroupId = placementGroupOf(bucket, key, placementGroupCount);
    if (!probes.has(placementGroupId)) probes.set(placementGroupId, key);
  }
  for (const key of probes.values()) await fleet.clients.get("n1")!.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bodyOf(key, 4_000) }));

  for (let round = 1; round <= kills; round += 1) {
    const before = await fleet.currentMap();
    const victim = nodeIds[random.integer(nodeIds.length)]!;
    const prober = nodeIds.filter((id) => id !== victim)[random.integer(nodeIds.length - 1)]!;
    const incarnation = before.nodes.find((node) => node.nodeId === victim)!.incarnation;
    const hosted = before.placementGroups.filter((entry) => entry.nodeId === victim).map((entry) => entry.placementGroupId);
    const killedAtMs = clock.monotonicMs();
    process.kill(fleet.pidOf(victim), "SIGKILL");
    const pending = new Set(hosted);
    while (pending.size > 0) {
      if (clock.monotonicMs() - killedAtMs > 60_000) throw new Error(`round ${round}: PGs ${[...pending].join(", ")} of ${victim} not served within 60 s`);
      for (const placementGroupId of [...pending]) {
        const key = probes.get(placementGroupId)!;
        try {
          const reply = await fleet.clients.get(prober)!.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          if (md5(await reply.Body!.transformToByteArray()) !== md5(bodyOf(key, 4_000))) throw new Error(`round ${round}: wrong bytes for ${key}`);
          pending.delete(placementGroupId);
        } catch (error) {
          if (String(error).includes("wrong bytes")) throw error;
        }
      }
      await clock.sleep(10);
    }
    const failoverMs = clock.monotonicMs() - killedAtMs;
    results.push(failoverMs);
    const up = fleet.cairn("fleet", "up", fleet.fleetPath);
    if (up.code !== 0) throw new Error(`round ${round}: fleet up failed:\n${up.stdout}\n${up.stderr}`);
    await fleet.waitForMap(
      `round ${round}: ${victim} rejoined`,
      (map) =>
        map.nodes.every((node) => node.state === "up") &&
        map.nodes.some((node) => node.nodeId === victim && node.incarnation > incarnation) &&
        map.placementGroups.some((entry) => entry.nodeId === victim),
    );
    console.log(`kill ${String(round).padStart(2)}: ${victim} (${hosted.length} PGs) served again via ${prober} after ${failoverMs.toFixed(0)} ms`);
  }
} finally {
  await fleet.dispose();
}
const sorted = [...results].sort((left, right) => left - right);
const median = sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
console.log(`failover over ${results.length} kills: median ${median.toFixed(0)} ms, worst ${sorted.at(-1)!.toFixed(0)} ms, best ${sorted[0]!.toFixed(0)} ms`);
