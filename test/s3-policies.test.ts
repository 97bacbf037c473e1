/**
 * Users, bucket ownership and bucket policies on the real server process:
 * users made with the admin command (`bin/cairn user add`, a child process
 * on the server's data directory), each with its own AWS SDK client; plain
 * unsigned `fetch` and `aws --no-sign-request` for anonymous access.
 *
 * Allowed: the owner on its bucket, what a policy grants. Denied: another
 * user's bucket, an explicit Deny (the owner too), a SourceIp or prefix
 * condition that does not hold. Anonymous: only where a policy grants `*`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBucketCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectsCommand,
  GetBucketPolicyCommand,
  GetBucketPolicyStatusCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { awsCli, outputOf } from "./support/clients.ts";
import { repositoryRoot, startServer, type ServerProcess } from "./support/server.ts";
import { failure } from "../gateway/testing/sdk-failure.ts";

let server: ServerProcess;
let root: S3Client;
let alice: Credentials & { client: S3Client };
let bob: Credentials & { client: S3Client };
let scratch: string;

interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `bin/cairn ARGS` as its own process, as an operator would. */
async function cairn(args: string[]): Promise<CommandResult> {
  const child = spawn(join(repositoryRoot, "bin/cairn"), args, { cwd: repositoryRoot, stdio: ["ignore", "pipe", "pipe"] });
  return outputOf(child);
}

async function addUser(name: string, admin = false): Promise<Credentials> {
  const result = await cairn(["user", "add", name, ...(admin ? ["--admin"] : []), "--data", server.dataDir]);
  if (result.code !== 0) throw new Error(`cairn user add ${name} exited ${result.code}: ${result.stderr}`);
  const match = /AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY='([^']+)'/.exec(result.stdout);
  if (match === null) throw new Error(`no keys in: ${result.stdout}`);
  return { accessKeyId: match[1]!, secretAccessKey: match[2]! };
}

function clientFor(credentials: Credentials): S3Client {
  return new S3Client({ endpoint: server.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { ...credentials }, maxAttempts: 1 });
}

/** Retries `attempt` until it resolves to true, at most `attemptsMax` times, 50 ms apart. */
async function eventually(attempt: () => Promise<boolean>, attemptsMax = 100): Promise<boolean> {
  for (let index = 0; index < attemptsMax; index += 1) {
    if (await attempt()) return true;
    await Bun.sleep(50);
  }
  return false;
}

async function read(client: S3Client, bucket: string, key: string): Promise<string> {
  return (await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString());
}

async function putPolicy(client: S3Client, bucket: string, ...statements: object[]): Promise<void> {
  await client.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }) }));
}

/** An unsigned request, as a browser or `curl` sends it. */
function anonymous(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${server.endpoint}${path}`, init);
}

beforeAll(async () => {
  server = await startServer();
  root = clientFor(server);
  scratch = mkdtempSync(join(tmpdir(), "cairn-policies-"));
  alice = { ...(await addUser("alice")), client: undefined as unknown as S3Client };
  alice = { ...alice, client: clientFor(alice) };
  bob = { ...(await addUser("bob")), client: undefined as unknown as S3Client };
  bob = { ...bob, client: clientFor(bob) };
  // A user added while the server runs works within the table's refresh bound (1 s).
  const ready = await eventually(async () => {
    try {
      await alice.client.send(new ListBucketsCommand({}));
      await bob.client.send(new ListBucketsCommand({}));
      return true;
    } catch {
      return false;
    }
  });
  if (!ready) throw new Error("users added with the admin command did not work within 5 s");
  await alice.client.send(new CreateBucketCommand({ Bucket: "alice-photos" }));
  await alice.client.send(new PutObjectCommand({ Bucket: "alice-photos", Key: "public/cat.jpg", Body: "meow" }));
  await alice.client.send(new PutObjectCommand({ Bucket: "alice-photos", Key: "secret/diary.txt", Body: "dear diary" }));
  await bob.client.send(new CreateBucketCommand({ Bucket: "bob-files" }));
});

afterAll(async () => {
  for (const client of [root, alice?.client, bob?.client]) client?.destroy();
  await server?.dispose();
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

describe("users and ownership", () => {
  test("the admin command lists users, refuses mistakes clearly", async () => {
    const listed = await cairn(["user", "list", "--data", server.dataDir]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^alice\tuser\t/m);
    expect(listed.stdout).toMatch(/^bob\tuser\t/m);
    expect(listed.stdout).not.toContain(alice.secretAccessKey);
    const taken = await cairn(["user", "add", "alice", "--data", server.dataDir]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain("a user named alice exists already");
    const badName = await cairn(["user", "add", "no spaces", "--data", server.dataDir]);
    expect(badName.code).toBe(2);
    const missingStore = await cairn(["user", "add", "x", "--data", join(scratch, "nothing-here")]);
    expect(missingStore.code).toBe(2);
    expect(missingStore.stderr).toContain("holds no Cairn data");
    const unknown = await cairn(["user", "remove", "nobody", "--data", server.dataDir]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no user named nobody");
  });

  test("a user reaches its own bucket; another user's is AccessDenied; ListBuckets shows each its own", async () => {
    expect(await read(alice.client, "alice-photos", "public/cat.jpg")).toBe("meow");
    expect(await failure(read(bob.client, "alice-photos", "public/cat.jpg"))).toEqual(["AccessDenied", 403]);
    expect(await failure(bob.client.send(new PutObjectCommand({ Bucket: "alice-photos", Key: "x", Body: "x" })))).toEqual(["AccessDenied", 403]);
    expect(await failure(bob.client.send(new ListObjectsV2Command({ Bucket: "alice-photos" })))).toEqual(["AccessDenied", 403]);
    expect(await failure(bob.client.send(new GetBucketPolicyCommand({ Bucket: "alice-photos" })))).toEqual(["AccessDenied", 403]);
    const mine = (await bob.client.send(new ListBucketsCommand({}))).Buckets?.map((bucket) => bucket.Name);
    expect(mine).toEqual(["bob-files"]);
    const all = (await root.send(new ListBucketsCommand({}))).Buckets?.map((bucket) => bucket.Name);
    expect(all).toEqual(["alice-photos", "bob-files"]);
    // The name is alice's: bob is told it is taken, alice that she has it.
    expect(await failure(bob.client.send(new CreateBucketCommand({ Bucket: "alice-photos" })))).toEqual(["BucketAlreadyExists", 409]);
    expect(await failure(alice.client.send(new CreateBucketCommand({ Bucket: "alice-photos" })))).toEqual(["BucketAlreadyOwnedByYou", 409]);
    // The root credentials are an admin: everything, everywhere.
    expect(await read(root, "alice-photos", "secret/diary.txt")).toBe("dear diary");
  });
});

describe("bucket policies", () => {
  test("Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus with the SDK; MalformedPolicy says why", async () => {
    const text = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Sid: "bob-reads", Effect: "Allow", Principal: { AWS: "arn:aws:iam::000000000000:user/bob" }, Action: "s3:GetObject", Resource: "arn:aws:s3:::bob-files/*" }],
    });
    await bob.client.send(new PutBucketPolicyCommand({ Bucket: "bob-files", Policy: text }));
    expect((await bob.client.send(new GetBucketPolicyCommand({ Bucket: "bob-files" }))).Policy).toBe(text);
    expect((await bob.client.send(new GetBucketPolicyStatusCommand({ Bucket: "bob-files" }))).PolicyStatus?.IsPublic).toBe(false);
    await bob.client.send(new DeleteBucketPolicyCommand({ Bucket: "bob-files" }));
    expect(await failure(bob.client.send(new GetBucketPolicyCommand({ Bucket: "bob-files" })))).toEqual(["NoSuchBucketPolicy", 404]);
    expect(await failure(bob.client.send(new GetBucketPolicyStatusCommand({ Bucket: "bob-files" })))).toEqual(["NoSuchBucketPolicy", 404]);

    try {
      await bob.client.send(new PutBucketPolicyCommand({ Bucket: "bob-files", Policy: text.replace("bob-files/*", "alice-photos/*") }));
      throw new Error("a policy naming another bucket was accepted");
    } catch (error) {
      if (!(error instanceof S3ServiceException)) throw error;
      expect(error.name).toBe("MalformedPolicy");
      expect(error.message).toContain("within bucket bob-files");
    }
    expect(await failure(bob.client.send(new PutBucketPolicyCommand({ Bucket: "bob-files", Policy: "{not json" })))).toEqual(["MalformedPolicy", 400]);
  });

  test("aws s3api put-bucket-policy and get-bucket-policy", async () => {
    const path = join(scratch, "policy.json");
    const text = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::bob-files/*" }] });
    writeFileSync(path, text);
    const bobEnv = { AWS_ACCESS_KEY_ID: bob.accessKeyId, AWS_SECRET_ACCESS_KEY: bob.secretAccessKey };
    const put = await awsCli(server, ["s3api", "put-bucket-policy", "--bucket", "bob-files", "--policy", `file://${path}`], bobEnv);
    expect(put.code).toBe(0);
    const got = await awsCli(server, ["s3api", "get-bucket-policy", "--bucket", "bob-files", "--output", "json"], bobEnv);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout).Policy).toBe(text);
    const bad = await awsCli(server, ["s3api", "put-bucket-policy", "--bucket", "bob-files", "--policy", '{"Statement": []}'], bobEnv);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("MalformedPolicy");
    // Each CLI run costs seconds of Python start-up; the rest of the policy API is exercised through the SDK.
    expect((await bob.client.send(new GetBucketPolicyStatusCommand({ Bucket: "bob-files" }))).PolicyStatus?.IsPublic).toBe(true);
    await bob.client.send(new DeleteBucketPolicyCommand({ Bucket: "bob-files" }));
  });

  test("a grant gives another user access; an explicit Deny takes it away again", async () => {
    const grant = { Sid: "bob-reads", Effect: "Allow", Principal: { AWS: ["arn:aws:iam::000000000000:user/bob"] }, Action: ["s3:GetObject"], Resource: ["arn:aws:s3:::alice-photos/*"] };
    await putPolicy(alice.client, "alice-photos", grant);
    expect(await read(bob.client, "alice-photos", "public/cat.jpg")).toBe("meow");
    expect(await read(bob.client, "alice-photos", "secret/diary.txt")).toBe("dear diary");
    // Only what was granted: no writes, no listing.
    expect(await failure(bob.client.send(new PutObjectCommand({ Bucket: "alice-photos", Key: "x", Body: "x" })))).toEqual(["AccessDenied", 403]);
    expect(await failure(bob.client.send(new ListObjectsV2Command({ Bucket: "alice-photos" })))).toEqual(["AccessDenied", 403]);

    const deny = { Sid: "no-secrets", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: "arn:aws:s3:::alice-photos/secret/*" };
    await putPolicy(alice.client, "alice-photos", grant, deny);
    expect(await read(bob.client, "alice-photos", "public/cat.jpg")).toBe("meow");
    expect(await failure(read(bob.client, "alice-photos", "secret/diary.txt"))).toEqual(["AccessDenied", 403]);
    // The Deny binds the owner too, but not an admin, and the owner can still change its policy.
    expect(await failure(read(alice.client, "alice-photos", "secret/diary.txt"))).toEqual(["AccessDenied", 403]);
    expect(await read(root, "alice-photos", "secret/diary.txt")).toBe("dear diary");
    await alice.client.send(new DeleteBucketPolicyCommand({ Bucket: "alice-photos" }));
    expect(await read(alice.client, "alice-photos", "secret/diary.txt")).toBe("dear diary");
    expect(await failure(read(bob.client, "alice-photos", "public/cat.jpg"))).toEqual(["AccessDenied", 403]);
  });

  test("DeleteObjects checks each key: a denied key is an AccessDenied entry, the others go", async () => {
    await alice.client.send(new PutObjectCommand({ Bucket: "alice-photos", Key: "tmp/scratch", Body: "x" }));
    await putPolicy(alice.client, "alice-photos", { Effect: "Allow", Principal: { AWS: "bob" }, Action: "s3:DeleteObject", Resource: "arn:aws:s3:::alice-photos/tmp/*" });
    const reply = await bob.client.send(new DeleteObjectsCommand({ Bucket: "alice-photos", Delete: { Objects: [{ Key: "tmp/scratch" }, { Key: "public/cat.jpg" }] } }));
    expect(reply.Deleted?.map((entry) => entry.Key)).toEqual(["tmp/scratch"]);
    expect(reply.Errors?.map((entry) => [entry.Key, entry.Code])).toEqual([["public/cat.jpg", "AccessDenied"]]);
    expect(await read(alice.client, "alice-photos", "public/cat.jpg")).toBe("meow");
    await alice.client.send(new DeleteBucketPolicyCommand({ Bucket: "alice-photos" }));
  });

  test("s3:prefix limits what ListObjectsV2 may list", async () => {
    await putPolicy(alice.client, "alice-photos", {
      Effect: "Allow",
      Principal: { AWS: "bob" },
      Action: "s3:ListBucket",
      Resource: "arn:aws:s3:::alice-photos",
      Condition: { StringLike: { "s3:prefix": "public/*" } },
    });
    const listed = await bob.client.send(new ListObjectsV2Command({ Bucket: "alice-photos", Prefix: "public/" }));
    expect(listed.Contents?.map((object) => object.Key)).toEqual(["public/cat.jpg"]);
    expect(await failure(bob.client.send(new ListObjectsV2Command({ Bucket: "alice-photos", Prefix: "secret/" })))).toEqual(["AccessDenied", 403]);
    expect(await failure(bob.client.send(new ListObjectsV2Command({ Bucket: "alice-photos" })))).toEqual(["AccessDenied", 403]);
    await alice.client.send(new DeleteBucketPolicyCommand({ Bucket: "alice-photos" }));
  });

  test("aws:SourceIp: a CIDR holding 127.0.0.1 allows, one that excludes it does not; NotIpAddress denies", async () => {
    const grant = (cidr: string): object => ({
      Effect: "Allow",
      Principal: { AWS: "bob" },
      Action: "s3:GetObject",
      Resource: "arn:aws:s3:::alice-photos/*",
      Condition: { IpAddress: { "aws:SourceIp": [cidr] } },
    });
    await putPolicy(alice.client, "alice-photos", grant("127.0.0.0/8"));
    expect(await read(bob.client, "alice-photos", "public/cat.jpg")).toBe("meow");
    await putPolicy(alice.client, "alice-photos", grant("192.0.2.0/24"));
    expect(await failure(read(bob.client, "alice-photos", "public/cat.jpg"))).toEqual(["AccessDenied", 403]);
    await putPolicy(alice.client, "alice-photos", grant("127.0.0.0/8"), {
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Resource: "arn:aws:s3:::alice-photos/*",
      Condition: { NotIpAddress: { "aws:SourceIp": "192.0.2.0/24" } },
    });
    expect(await failure(read(bob.client, "alice-photos", "public/cat.jpg"))).toEqual(["AccessDenied", 403]);
    await alice.client.send(new DeleteBucketPolicyCommand({ Bucket: "alice-photos" }));
  });
});

describe("anonymous access", () => {
  test("refused without a policy; a public-read policy opens GET only; ListBucket only when granted", async () => {
    await alice.client.send(new CreateBucketCommand({ Bucket: "alice-public" }));
    await alice.client.send(new PutObjectCommand({ Bucket: "alice-public", Key: "index.html", Body: "<h1>hi</h1>", ContentType: "text/html" }));
    const before = await anonymous("/alice-public/index.html");
    expect(before.status).toBe(403);
    expect(await before.text()).toContain("<Code>AccessDenied</Code>");
    expect((await anonymous("/")).status).toBe(403);

    await putPolicy(alice.client, "alice-public", { Sid: "public-read", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::alice-public/*" });
    const after = await anonymous("/alice-public/index.html");
    expect(after.status).toBe(200);
    expect(after.headers.get("content-type")).toBe("text/html");
    expect(await after.text()).toBe("<h1>hi</h1>");
    expect((await anonymous("/alice-public/index.html", { method: "HEAD" })).status).toBe(200);
    expect((await anonymous("/alice-public/missing")).status).toBe(404);
    // Reads only: no writes, no deletes, no listing, no other bucket.
    expect((await anonymous("/alice-public/new.txt", { method: "PUT", body: "x" })).status).toBe(403);
    expect((await anonymous("/alice-public/index.html", { method: "DELETE" })).status).toBe(403);
    expect((await anonymous("/alice-public?list-type=2")).status).toBe(403);
    expect((await anonymous("/alice-photos/public/cat.jpg")).status).toBe(403);
    expect((await anonymous("/alice-public?policy")).status).toBe(403);
    expect((await alice.client.send(new GetBucketPolicyStatusCommand({ Bucket: "alice-public" }))).PolicyStatus?.IsPublic).toBe(true);

    await putPolicy(
      alice.client,
      "alice-public",
      { Sid: "public-read", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::alice-public/*" },
      { Sid: "public-list", Effect: "Allow", Principal: { AWS: "*" }, Action: "s3:ListBucket", Resource: "arn:aws:s3:::alice-public" },
    );
    expect((await anonymous("/alice-public?list-type=2")).status).toBe(200);
    const listed = await awsCli(server, ["s3", "ls", "s3://alice-public/", "--no-sign-request"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain("index.html");
    const copied = join(scratch, "index.html");
    const download = await awsCli(server, ["s3", "cp", "s3://alice-public/index.html", copied, "--no-sign-request"]);
    expect(download.code).toBe(0);
    expect(await Bun.file(copied).text()).toBe("<h1>hi</h1>");
  });

  test("a public grant limited to a CIDR that excludes 127.0.0.1 keeps anonymous clients out", async () => {
    await alice.client.send(new CreateBucketCommand({ Bucket: "alice-office" }));
    await alice.client.send(new PutObjectCommand({ Bucket: "alice-office", Key: "memo", Body: "memo" }));
    const statement = (cidr: string): object => ({
      Effect: "Allow",
      Principal: "*",
      Action: "s3:GetObject",
      Resource: "arn:aws:s3:::alice-office/*",
      Condition: { IpAddress: { "aws:SourceIp": cidr } },
    });
    await putPolicy(alice.client, "alice-office", statement("10.0.0.0/8"));
    expect((await anonymous("/alice-office/memo")).status).toBe(403);
    expect((await alice.client.send(new GetBucketPolicyStatusCommand({ Bucket: "alice-office" }))).PolicyStatus?.IsPublic).toBe(false);
    await putPolicy(alice.client, "alice-office", statement("127.0.0.1/32"));
    expect((await anonymous("/alice-office/memo")).status).toBe(200);
  });
});

describe("admins and removed users", () => {
  test("an admin user may do everything; a removed user is refused within the refresh bound", async () => {
    const carol = await addUser("carol", true);
    const carolClient = clientFor(carol);
    expect(await eventually(async () => {
      try {
        return (await read(carolClient, "alice-photos", "secret/diary.txt")) === "dear diary";
      } catch {
        return false;
      }
    })).toBe(true);
    carolClient.destroy();

    expect(await read(bob.client, "alice-office", "memo")).toBe("memo");
    const removed = await cairn(["user", "remove", "bob", "--data", server.dataDir]);
    expect(removed.code).toBe(0);
    // Refresh every 1 s: 100 attempts 50 ms apart are ample, and none may succeed once refused.
    let refusal: [string, number | undefined] | undefined;
    const refused = await eventually(async () => {
      try {
        await bob.client.send(new ListBucketsCommand({}));
        return false;
      } catch (error) {
        if (!(error instanceof S3ServiceException)) throw error;
        refusal = [error.name, error.$metadata.httpStatusCode];
        return true;
      }
    });
    expect(refused).toBe(true);
    expect(refusal).toEqual(["InvalidAccessKeyId", 403]);
    expect(await failure(bob.client.send(new ListBucketsCommand({})))).toEqual(["InvalidAccessKeyId", 403]);
  });
});
