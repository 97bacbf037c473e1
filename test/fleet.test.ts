/**
 * A real 5-node fleet on 127.0.0.1, started and stopped with `bin/cairn
 * fleet up|status|down`: two disk directories per node, STANDARD = 3+2 with
 * nodes as the failure domain. Under steady PUT/GET load through the
 * gateways, one node is killed with SIGKILL: its placement groups must run
 * again on other nodes, no acknowledged object may be lost, and every error
 * in the gap must be a 503 with an S3 error body, never wrong bytes. Then the
 * node is started again and must rejoin and take placement groups back.
 *
 * The failover time is measured and printed, never asserted (tests do not
 * assert wall-clock times); `bench/failover.ts` records it over many kills.
 *
 * Bucket partitions: a bucket created through one gateway has its
 * partitions assigned and running before CreateBucket answers; its objects
 * are written, read, overwritten and deleted through every gateway (all
 * metadata writes of a key go through its partition's one owner); and when
 * the node hosting some of its partitions is killed, those partitions run
 * elsewhere and their keys stay writable and readable.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { bucketPartitionOf } from "../actors/bucket-partition/index.ts";
import { placementGroupOf } from "../cluster/placement/index.ts";
import { randomSeed, seededRandom, systemClock } from "../runtime/index.ts";
import { bodyOf, md5, startFleet, type TestFleet } from "./support/fleet.ts";

const seed = process.env.CAIRN_SEED === undefined ? randomSeed() : Number(process.env.CAIRN_SEED);
console.log(`fleet: seed ${seed} (replay: CAIRN_SEED=${seed} bun test test/fleet.test.ts)`);
const random = seededRandom(seed);
const clock = systemClock();
const nodeIds = ["n1", "n2", "n3", "n4", "n5"];
const placementGroupCount = 32;
const victim = "n3";

let fleet: TestFleet;

type Outcome = { ok: true } | { ok: false; status: number | undefined; code: string; hasS3Body: boolean };

async function attempt(run: () => Promise<void>): Promise<Outcome> {
  try {
    await run();
    return { ok: true };
  } catch (error) {
    if (error instanceof S3ServiceException) {
      // The SDK parsed an S3 error document when it found a Code in it.
      return { ok: false, status: error.$metadata.httpStatusCode, code: error.name, hasS3Body: error.name !== "UnknownError" && error.name !== "Unknown" };
    }
    return { ok: false, status: undefined, code: String(error), hasS3Body: false };
  }
}

beforeAll(async () => {
  fleet = await startFleet({ nodeIds, disksPerNode: 2, placementGroupCount, storageClasses: "STANDARD=3+2" });
}, 180_000);

afterAll(async () => {
  await fleet?.dispose();
}, 120_000);

describe("a 5-node fleet on 127.0.0.1", () => {
  test("fleet status lists every node running", () => {
    const status = fleet.cairn("fleet", "status", fleet.fleetPath);
    expect(status.code).toBe(0);
    for (const id of nodeIds) expect(status.stdout).toMatch(new RegExp(`^${id}\\s+gateway,storage\\s+running\\s+\\d+`, "m"));
  });

  test("any gateway serves any object; a SIGKILLed node's PGs run elsewhere; nothing acknowledged is lost; it rejoins", async () => {
    const bucket = "fleet-test";
    await fleet.clients.get("n1")!.send(new CreateBucketCommand({ Bucket: bucket }));
    const sizes = [0, 1, 10_000, 200_000, 3 * 1024 * 1024 + 7];
    const acknowledged = new Map<string, number>();
    // Written through one gateway, read through every other.
    for (let index = 0; index < 20; index += 1) {
      const key = `before/${index}`;
      const sizeBytes = sizes[index % sizes.length]!;
      const gateway = nodeIds[index % nodeIds.length]!;
      await fleet.clients.get(gateway)!.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bodyOf(key, sizeBytes) }));
      acknowledged.set(key, sizeBytes);
    }
    for (const [key, sizeBytes] of acknowledged) {
      for (const gateway of nodeIds) {
        const reply = await fleet.clients.get(gateway)!.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        expect(md5(await reply.Body!.transformToByteArray())).toBe(md5(bodyOf(key, sizeBytes)));
      }
    }

    const before = await fleet.currentMap();
    const victimPlacementGroups = before.placementGroups.filter((entry) => entry.nodeId === victim).map((entry) => entry.placementGroupId);
    expect(victimPlacementGroups.length).toBeGreaterThan(0);
    // One key per PG hosted by the victim: reading it needs that PG's actor.
    const probes = new Map<number, string>();
    for (let index = 0; probes.size < victimPlacementGroups.length && index < 100_000; index += 1) {
      const key = `probe/${index}`;
      const placementGroupId = placementGroupOf(bucket, key, placementGroupCount);
      if (victimPlacementGroups.includes(placementGroupId) && !probes.has(placementGroupId)) probes.set(placementGroupId, key);
    }
    for (const key of probes.values()) {
      await fleet.clients.get("n1")!.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bodyOf(key, 5_000) }));
      acknowledged.set(key, 5_000);
    }

    // Steady load through the survivors' gateways while the victim dies.
    const survivors = nodeIds.filter((id) => id !== victim);
    const failures: Outcome[] = [];
    let wrongBytes = 0;
    let loadOperations = 0;
    let stopLoad = false;
    const load = (async () => {
      for (let index = 0; !stopLoad; index += 1) {
        const gateway = fleet.clients.get(survivors[random.integer(survivors.length)]!)!;
        const key = `during/${index}`;
        const sizeBytes = sizes[random.integer(sizes.length)]!;
        const put = await attempt(async () => {
          await gateway.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bodyOf(key, sizeBytes) }));
        });
        loadOperations += 1;
        if (put.ok) acknowledged.set(key, sizeBytes);
        else failures.push(put);
        const readKey = [...acknowledged.keys()][random.integer(acknowledged.size)]!;
        const get = await attempt(async () => {
          const reply = await gateway.send(new GetObjectCommand({ Bucket: bucket, Key: readKey }));
          const bytes = await reply.Body!.transformToByteArray();
          if (md5(bytes) !== md5(bodyOf(readKey, acknowledged.get(readKey)!))) wrongBytes += 1;
        });
        loadOperations += 1;
        if (!get.ok) failures.push(get);
      }
    })();
    await clock.sleep(500);

    const pid = fleet.pidOf(victim);
    const killedAtMs = clock.monotonicMs();
    process.kill(pid, "SIGKILL");
    // Serving again = every probe key, whose PG lived on the victim, reads back through a survivor.
    const pending = new Map(probes);
    const servedAfterMs = new Map<number, number>();
    const deadline = killedAtMs + 60_000;
    while (pending.size > 0 && clock.monotonicMs() < deadline) {
      for (const [placementGroupId, key] of [...pending]) {
        const outcome = await attempt(async () => {
          const reply = await fleet.clients.get("n1")!.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          const bytes = await reply.Body!.transformToByteArray();
          if (md5(bytes) !== md5(bodyOf(key, 5_000))) wrongBytes += 1;
        });
        if (outcome.ok) {
          pending.delete(placementGroupId);
          servedAfterMs.set(placementGroupId, clock.monotonicMs() - killedAtMs);
        } else {
          failures.push(outcome);
        }
      }
      await clock.sleep(20);
    }
    const failoverMs = Math.round(Math.max(...servedAfterMs.values()));
    const probeFailures = failures.length;
    console.log(
      `fleet: ${victim} killed; its ${probes.size} PGs served again through n1 after ${failoverMs} ms ` +
        `(first ${Math.round(Math.min(...servedAfterMs.values()))} ms); ${probeFailures} probe reads failed before that (all checked below)`,
    );
    expect(pending.size).toBe(0);
    const after = await fleet.waitForMap("victim down", (map) => map.nodes.some((node) => node.nodeId === victim && node.state === "down"));
    expect(after.placementGroups.filter((entry) => entry.nodeId === victim)).toEqual([]);

    await clock.sleep(1_000);
    stopLoad = true;
    await load;
    expect(wrongBytes).toBe(0);
    console.log(`fleet: load through the survivors: ${loadOperations} operations, ${failures.length - probeFailures} failed, ${wrongBytes} wrong bytes`);
    // Every failure in the gap is a 503 with an S3 error body.
    for (const failure of failures) {
      if (failure.ok) continue;
      expect({ status: failure.status, hasS3Body: failure.hasS3Body, code: failure.code }).toMatchObject({ status: 503, hasS3Body: true });
    }

    // Restart: the node rejoins under a new incarnation and takes PGs back.
    const victimIncarnation = before.nodes.find((node) => node.nodeId === victim)!.incarnation;
    const up = fleet.cairn("fleet", "up", fleet.fleetPath);
    expect(up.code).toBe(0);
    const rejoined = await fleet.waitForMap(
      "victim rejoined with PGs",
      (map) =>
        map.nodes.some((node) => node.nodeId === victim && node.state === "up" && node.incarnation > victimIncarnation) &&
        map.placementGroups.some((entry) => entry.nodeId === victim),
    );
    console.log(`fleet: ${victim} rejoined at epoch ${rejoined.epoch}, hosting ${rejoined.placementGroups.filter((entry) => entry.nodeId === victim).length} PGs`);

    // Nothing acknowledged was lost: every object reads back through a
    // random gateway. PGs are still moving back to the rejoined node, so a
    // read may meet a 503 while one moves; it is retried, a bounded number of times.
    for (const [key, sizeBytes] of acknowledged) {
      let bytes: Uint8Array | undefined;
      for (let tries = 0; bytes === undefined; tries += 1) {
        const gateway = nodeIds[random.integer(nodeIds.length)]!;
        const outcome = await attempt(async () => {
          const reply = await fleet.clients.get(gateway)!.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          bytes = await reply.Body!.transformToByteArray();
        });
        if (!outcome.ok) {
          expect({ key, status: outcome.status }).toEqual({ key, status: 503 });
          expect(tries).toBeLessThan(50);
          await clock.sleep(100);
        }
      }
      expect({ key, md5: md5(bytes) }).toEqual({ key, md5: md5(bodyOf(key, sizeBytes)) });
    }
  }, 240_000);
  test("a bucket's partitions run before CreateBucket answers; every gateway writes and reads through them; a killed node's partitions move and their keys stay writable", async () => {
    const bucket = "partitioned";
    const partitionCount = 4;
    await fleet.clients.get("n2")!.send(new CreateBucketCommand({ Bucket: bucket }));
    const created = await fleet.currentMap();
    const assigned = created.partitions.filter((entry) => entry.bucket === bucket);
    expect(assigned.map((entry) => entry.partition).sort()).toEqual([0, 1, 2, 3]);

    // Written through each gateway, read back through every gateway (HEAD and GET).
    const contents = new Map<string, Uint8Array>();
    for (const [index, gateway] of nodeIds.entries()) {
      for (let copy = 0; copy < 4; copy += 1) {
        const key = `from-${gateway}/${copy}`;
        const body = bodyOf(`${key}#${index}`, 1_000 + copy);
        await fleet.clients.get(gateway)!.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        contents.set(key, body);
      }
    }
    const partitionsUsed = new Set([...contents.keys()].map((key) => bucketPartitionOf(key, partitionCount)));
    expect(partitionsUsed.size).toBe(partitionCount);
    for (const [key, body] of contents) {
      for (const gateway of nodeIds) {
        const client = fleet.clients.get(gateway)!;
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        expect({ key, gateway, size: head.ContentLength }).toEqual({ key, gateway, size: body.byteLength });
        const reply = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        expect({ key, gateway, md5: md5(await reply.Body!.transformToByteArray()) }).toEqual({ key, gateway, md5: md5(body) });
      }
    }
    // An overwrite through one gateway and a delete through another are seen by every gateway at once:
    // the owner's cache is updated by the write itself.
    const [overwritten, deleted] = [...contents.keys()];
    const newer = bodyOf(`${overwritten}#newer`, 777);
    await fleet.clients.get("n4")!.send(new PutObjectCommand({ Bucket: bucket, Key: overwritten, Body: newer }));
    contents.set(overwritten!, newer);
    await fleet.clients.get("n5")!.send(new DeleteObjectCommand({ Bucket: bucket, Key: deleted }));
    contents.delete(deleted!);
    for (const gateway of nodeIds) {
      const client = fleet.clients.get(gateway)!;
      const reply = await client.send(new GetObjectCommand({ Bucket: bucket, Key: overwritten }));
      expect({ gateway, md5: md5(await reply.Body!.transformToByteArray()) }).toEqual({ gateway, md5: md5(newer) });
      const gone = await attempt(async () => {
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key: deleted }));
      });
      expect({ gateway, status: gone.ok ? 200 : gone.status }).toEqual({ gateway, status: 404 });
    }

    // Kill the node that hosts partition 0 (the map after the first test: every node is up again).
    const before = await fleet.waitForMap("all nodes up", (map) => map.nodes.every((node) => node.state === "up"));
    const owner = before.partitions.find((entry) => entry.bucket === bucket && entry.partition === 0)!.nodeId;
    const moved = before.partitions.filter((entry) => entry.bucket === bucket && entry.nodeId === owner).map((entry) => entry.partition);
    const survivors = nodeIds.filter((id) => id !== owner);
    const probes = [...contents.keys()].filter((key) => moved.includes(bucketPartitionOf(key, partitionCount)));
    expect(probes.length).toBeGreaterThan(0);
    process.kill(fleet.pidOf(owner), "SIGKILL");
    const killedAtMs = clock.monotonicMs();

    // Every probe key is overwritten through a survivor as soon as it can be: retried through the gap,
    // where every failure must be a 503 with an S3 error body.
    const writableAfterMs: number[] = [];
    for (const key of probes) {
      const body = bodyOf(`${key}#after-kill`, 2_000);
      for (let tries = 0; ; tries += 1) {
        const gateway = fleet.clients.get(survivors[random.integer(survivors.length)]!)!;
        const outcome = await attempt(async () => {
          await gateway.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        });
        if (outcome.ok) break;
        expect({ key, status: outcome.status, hasS3Body: outcome.hasS3Body }).toEqual({ key, status: 503, hasS3Body: true });
        expect(clock.monotonicMs() - killedAtMs).toBeLessThan(60_000);
        await clock.sleep(50);
      }
      writableAfterMs.push(clock.monotonicMs() - killedAtMs);
      contents.set(key, body);
    }
    console.log(
      `fleet: ${owner} (hosting partitions ${moved.join(", ")} of ${bucket}) killed; its ${probes.length} keys writable again through survivors after ` +
        `${Math.round(Math.max(...writableAfterMs))} ms`,
    );
    const after = await fleet.waitForMap("owner down", (map) => map.nodes.some((node) => node.nodeId === owner && node.state === "down"));
    expect(after.partitions.filter((entry) => entry.bucket === bucket && entry.nodeId === owner)).toEqual([]);
    // Everything reads back, the overwritten keys with their new bytes, through every survivor.
    for (const [key, body] of contents) {
      for (const gateway of survivors) {
        const reply = await fleet.clients.get(gateway)!.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        expect({ key, gateway, md5: md5(await reply.Body!.transformToByteArray()) }).toEqual({ key, gateway, md5: md5(body) });
      }
    }

    // Back to a full fleet for whatever runs next.
    expect(fleet.cairn("fleet", "up", fleet.fleetPath).code).toBe(0);
    await fleet.waitForMap("owner rejoined", (map) => map.nodes.every((node) => node.state === "up"));
  }, 240_000);

  test("DeleteBucket releases the bucket's partitions: the map drops them; creating it again brings them back", async () => {
    const bucket = "short-lived";
    const gateway = fleet.clients.get("n2")!;
    await gateway.send(new CreateBucketCommand({ Bucket: bucket }));
    const assigned = await fleet.currentMap();
    expect(assigned.partitions.filter((entry) => entry.bucket === bucket).length).toBeGreaterThan(0);
    await gateway.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: bodyOf("k", 100) }));
    await gateway.send(new DeleteObjectCommand({ Bucket: bucket, Key: "k" }));
    await gateway.send(new DeleteBucketCommand({ Bucket: bucket }));
    await fleet.waitForMap("partitions dropped", (map) => map.partitions.every((entry) => entry.bucket !== bucket));
    await fleet.clients.get("n4")!.send(new CreateBucketCommand({ Bucket: bucket }));
    await fleet.clients.get("n4")!.send(new PutObjectCommand({ Bucket: bucket, Key: "again", Body: bodyOf("again", 100) }));
    const reply = await fleet.clients.get("n5")!.send(new GetObjectCommand({ Bucket: bucket, Key: "again" }));
    expect(md5(await reply.Body!.transformToByteArray())).toBe(md5(bodyOf("again", 100)));
  }, 120_000);
});
