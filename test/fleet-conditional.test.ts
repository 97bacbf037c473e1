/**
 * Conditional writes across gateways: a real 3-node fleet, where a key's
 * partition actor runs on one node and the writers reach it through all
 * three gateways. 16 writers race `If-None-Match: *` on each of several new
 * keys: exactly one 200, the rest 412, and every gateway then reads the
 * winner's bytes. A copy crosses gateways too. Seeds printed; CAIRN_SEED
 * replays one.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CopyObjectCommand, CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3ServiceException } from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { startFleet, type TestFleet } from "./support/fleet.ts";

const nodeIds = ["k1", "k2", "k3"];
const seed = Number(process.env.CAIRN_SEED ?? 6203);
let fleet: TestFleet;

beforeAll(async () => {
  console.log(`fleet-conditional seed=${seed} (CAIRN_SEED=${seed} bun test test/fleet-conditional.test.ts replays it)`);
  fleet = await startFleet({ nodeIds, disksPerNode: 2, placementGroupCount: 16, storageClasses: "STANDARD=3+2" });
}, 120_000);

afterAll(async () => {
  await fleet?.dispose();
}, 60_000);

function md5Hex(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

function bodyFor(round: number, writer: number, sizeBytes: number): Uint8Array {
  const bytes = new Uint8Array(sizeBytes);
  let state = (seed * 7919 + round * 131 + writer) >>> 0;
  for (let index = 0; index < sizeBytes; index += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[index] = state >>> 24;
  }
  return bytes;
}

test("16 writers through three gateways race If-None-Match: * on each new key: one winner, seen by every gateway", async () => {
  const gateways = nodeIds.map((nodeId) => fleet.clients.get(nodeId)!);
  await gateways[0]!.send(new CreateBucketCommand({ Bucket: "fleet-cond" }));
  for (let round = 0; round < 4; round += 1) {
    const key = `race/${seed}/${round}`;
    const sizeBytes = round % 2 === 0 ? 2_000 + ((seed + round) % 3_000) : 150_000 + ((seed * (round + 1)) % 200_000);
    const outcomes = await Promise.all(
      Array.from({ length: 16 }, async (_, writer) => {
        const body = bodyFor(round, writer, sizeBytes);
        // Writer i goes through gateway (i + seed + round) mod 3, so every round mixes all three.
        const client = gateways[(writer + seed + round) % gateways.length]!;
        try {
          await client.send(new PutObjectCommand({ Bucket: "fleet-cond", Key: key, Body: body, IfNoneMatch: "*" }));
          return { status: 200, body };
        } catch (error) {
          if (error instanceof S3ServiceException) return { status: error.$metadata.httpStatusCode, body };
          throw error;
        }
      }),
    );
    const winners = outcomes.filter((outcome) => outcome.status === 200);
    expect({ round, winners: winners.length }).toEqual({ round, winners: 1 });
    expect(outcomes.filter((outcome) => outcome.status === 412 || outcome.status === 409).length).toBe(15);
    for (const gateway of gateways) {
      const got = await gateway.send(new GetObjectCommand({ Bucket: "fleet-cond", Key: key }));
      expect(md5Hex(await got.Body!.transformToByteArray())).toBe(md5Hex(winners[0]!.body));
    }
  }
}, 60_000);

test("CopyObject through one gateway of a key another gateway wrote, read back through the third; a second copy with If-None-Match: * is 412", async () => {
  const [first, second, third] = nodeIds.map((nodeId) => fleet.clients.get(nodeId)!);
  const body = bodyFor(99, 0, 700_000);
  await first!.send(new PutObjectCommand({ Bucket: "fleet-cond", Key: "copy/source", Body: body }));
  await second!.send(new CopyObjectCommand({ Bucket: "fleet-cond", Key: "copy/target", CopySource: "fleet-cond/copy/source", IfNoneMatch: "*" }));
  const got = await third!.send(new GetObjectCommand({ Bucket: "fleet-cond", Key: "copy/target" }));
  expect(md5Hex(await got.Body!.transformToByteArray())).toBe(md5Hex(body));
  let status: number | undefined;
  try {
    await third!.send(new CopyObjectCommand({ Bucket: "fleet-cond", Key: "copy/target", CopySource: "fleet-cond/copy/source", IfNoneMatch: "*" }));
  } catch (error) {
    if (!(error instanceof S3ServiceException)) throw error;
    status = error.$metadata.httpStatusCode;
  }
  expect(status).toBe(412);
}, 60_000);
