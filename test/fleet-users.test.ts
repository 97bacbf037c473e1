/**
 * Users and bucket policies across a fleet: a user added with
 * `cairn user add --fleet` works on every gateway within the user table's
 * refresh bound, and stops working on every gateway once removed; a policy
 * put through one gateway applies on the other within its access cache's
 * TTL. Two `cairn node` processes over one lmdb store.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutBucketPolicyCommand, PutObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { startFleet, type TestFleet } from "./support/fleet.ts";

const nodeIds = ["n1", "n2"];
let fleet: TestFleet;

interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** A gateway's endpoint, as the harness's root client for it knows it. */
async function endpointUrl(nodeId: string): Promise<string> {
  const provider = fleet.clients.get(nodeId)!.config.endpoint;
  if (provider === undefined) throw new Error(`no endpoint for ${nodeId}`);
  const endpoint = await provider();
  return `${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}`;
}

async function clientFor(nodeId: string, credentials: Credentials): Promise<S3Client> {
  return new S3Client({ endpoint: await endpointUrl(nodeId), region: "us-east-1", forcePathStyle: true, credentials: { ...credentials }, maxAttempts: 1 });
}

function addUser(name: string): Credentials {
  const result = fleet.cairn("user", "add", name, "--fleet", fleet.fleetPath);
  if (result.code !== 0) throw new Error(`cairn user add ${name} --fleet exited ${result.code}: ${result.stderr}`);
  const match = /AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY='([^']+)'/.exec(result.stdout);
  if (match === null) throw new Error(`no keys in: ${result.stdout}`);
  return { accessKeyId: match[1]!, secretAccessKey: match[2]! };
}

/** Retries `attempt` until it resolves to true, at most `attemptsMax` times, 50 ms apart. */
async function eventually(attempt: () => Promise<boolean>, attemptsMax = 100): Promise<boolean> {
  for (let index = 0; index < attemptsMax; index += 1) {
    if (await attempt()) return true;
    await Bun.sleep(50);
  }
  return false;
}

async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return "ok";
  } catch (error) {
    if (error instanceof S3ServiceException) return error.name;
    throw error;
  }
}

beforeAll(async () => {
  fleet = await startFleet({ nodeIds, disksPerNode: 3, placementGroupCount: 8, storageClasses: "STANDARD=2+1" });
}, 180_000);

afterAll(async () => {
  await fleet?.dispose();
}, 120_000);

describe("users across a fleet", () => {
  test("added on the shared store: works on every gateway; a policy put on one applies on the other; removed: refused everywhere", async () => {
    const dave = addUser("dave");
    const erin = addUser("erin");
    const daveOn = new Map<string, S3Client>();
    for (const nodeId of nodeIds) daveOn.set(nodeId, await clientFor(nodeId, dave));
    const erinOnN2 = await clientFor("n2", erin);
    for (const nodeId of nodeIds) {
      expect(await eventually(async () => (await outcome(() => daveOn.get(nodeId)!.send(new ListBucketsCommand({})))) === "ok")).toBe(true);
    }

    await daveOn.get("n1")!.send(new CreateBucketCommand({ Bucket: "dave-site" }));
    await daveOn.get("n1")!.send(new PutObjectCommand({ Bucket: "dave-site", Key: "index.html", Body: "hello" }));
    expect(await eventually(async () => (await outcome(() => erinOnN2.send(new ListBucketsCommand({})))) === "ok")).toBe(true);
    expect(await outcome(() => erinOnN2.send(new GetObjectCommand({ Bucket: "dave-site", Key: "index.html" })))).toBe("AccessDenied");
    const n2 = await endpointUrl("n2");
    expect((await fetch(`${n2}/dave-site/index.html`)).status).toBe(403);

    const policy = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::dave-site/*" }] };
    await daveOn.get("n1")!.send(new PutBucketPolicyCommand({ Bucket: "dave-site", Policy: JSON.stringify(policy) }));
    // n2 cached "no policy" for up to 1 s.
    expect(await eventually(async () => (await fetch(`${n2}/dave-site/index.html`)).status === 200)).toBe(true);
    expect(await outcome(() => erinOnN2.send(new GetObjectCommand({ Bucket: "dave-site", Key: "index.html" })))).toBe("ok");

    const removed = fleet.cairn("user", "remove", "dave", "--fleet", fleet.fleetPath);
    expect(removed.code).toBe(0);
    for (const nodeId of nodeIds) {
      expect(await eventually(async () => (await outcome(() => daveOn.get(nodeId)!.send(new ListBucketsCommand({})))) === "InvalidAccessKeyId")).toBe(true);
    }
    for (const client of [...daveOn.values(), erinOnN2]) client.destroy();
  }, 120_000);
});
