/**
 * ACLs on the real server process, answered as S3 answers them on a bucket
 * with ACLs disabled (BucketOwnerEnforced): with the AWS SDK for JavaScript
 * v3, the AWS CLI (Debian's `awscli`) and s3cmd, given nothing but an
 * endpoint and keys.
 *
 * Accepted: `bucket-owner-full-control` and `private` on writes (what
 * cross-account pipelines and `aws s3 cp --acl bucket-owner-full-control`
 * send). Refused with AccessControlListNotSupported, nothing stored: any
 * other canned ACL, a grant, setting an ACL that grants anything. Read: the
 * owner ListBuckets shows, with FULL_CONTROL. Writing that same ACL back (as
 * s3cmd cp/mv/modify do) succeeds and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBucketCommand,
  GetBucketAclCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectAclCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { awsCli, s3cmd, sdkClient, type CommandResult } from "./support/clients.ts";
import { startServer, type ServerProcess } from "./support/server.ts";
import { failure } from "../gateway/testing/sdk-failure.ts";

let server: ServerProcess;
let client: S3Client;
let workDir: string;

beforeAll(async () => {
  server = await startServer();
  client = sdkClient(server);
  workDir = mkdtempSync(join(tmpdir(), "cairn-acl-"));
});
afterAll(async () => {
  client?.destroy();
  await server?.dispose();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** When a hung client run is given up on: each CLI or s3cmd run costs about a second of Python start-up, more under load. */
const clientTestTimeoutMs = 60_000;

function expectOk(result: CommandResult): void {
  if (result.code !== 0) throw new Error(`exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

describe("ACLs with ACLs disabled, on the real server", () => {
  test("AWS SDK v3: bucket-owner-full-control is stored, public-read is refused and stores nothing, ACLs read as the owner's FULL_CONTROL, PutObjectAcl refused", async () => {
    const Bucket = "acl-sdk";
    await client.send(new CreateBucketCommand({ Bucket }));
    await client.send(new PutObjectCommand({ Bucket, Key: "handed-over.txt", Body: "cross-account upload", ACL: "bucket-owner-full-control" }));
    const back = await client.send(new GetObjectCommand({ Bucket, Key: "handed-over.txt" }));
    expect(await back.Body!.transformToString()).toBe("cross-account upload");

    expect(await failure(client.send(new PutObjectCommand({ Bucket, Key: "public.txt", Body: "should not be stored", ACL: "public-read" })))).toEqual([
      "AccessControlListNotSupported",
      400,
    ]);
    expect(await failure(client.send(new GetObjectCommand({ Bucket, Key: "public.txt" })))).toEqual(["NoSuchKey", 404]);
    const listed = await client.send(new ListObjectsV2Command({ Bucket }));
    expect((listed.Contents ?? []).map((item) => item.Key)).toEqual(["handed-over.txt"]);

    const owner = (await client.send(new ListBucketsCommand({}))).Owner!;
    expect(owner.ID).toBeString();
    const fullControl = [{ Grantee: { Type: "CanonicalUser" as const, ID: owner.ID, DisplayName: owner.DisplayName }, Permission: "FULL_CONTROL" as const }];
    const objectAcl = await client.send(new GetObjectAclCommand({ Bucket, Key: "handed-over.txt" }));
    expect(objectAcl.Owner).toEqual({ ID: owner.ID, DisplayName: owner.DisplayName });
    expect(objectAcl.Grants).toEqual(fullControl);
    const bucketAcl = await client.send(new GetBucketAclCommand({ Bucket }));
    expect(bucketAcl.Owner).toEqual({ ID: owner.ID, DisplayName: owner.DisplayName });
    expect(bucketAcl.Grants).toEqual(fullControl);

    expect(await failure(client.send(new PutObjectAclCommand({ Bucket, Key: "handed-over.txt", ACL: "public-read" })))).toEqual([
      "AccessControlListNotSupported",
      400,
    ]);
    expect(await failure(client.send(new GetObjectAclCommand({ Bucket, Key: "public.txt" })))).toEqual(["NoSuchKey", 404]);
  }, clientTestTimeoutMs);

  test("AWS CLI: s3 cp --acl bucket-owner-full-control, s3api get-object-acl and get-bucket-acl; --acl public-read refused", async () => {
    const Bucket = "acl-cli";
    await client.send(new CreateBucketCommand({ Bucket }));
    const local = join(workDir, "cli.txt");
    writeFileSync(local, "copied with the owner's full control\n");
    const owner = (await client.send(new ListBucketsCommand({}))).Owner!;

    expectOk(await awsCli(server, ["s3", "cp", local, `s3://${Bucket}/cli.txt`, "--acl", "bucket-owner-full-control"]));
    const [objectAcl, bucketAcl, refusedCp, refusedPut] = await Promise.all([
      awsCli(server, ["s3api", "get-object-acl", "--bucket", Bucket, "--key", "cli.txt"]),
      awsCli(server, ["s3api", "get-bucket-acl", "--bucket", Bucket]),
      awsCli(server, ["s3", "cp", local, `s3://${Bucket}/public.txt`, "--acl", "public-read"]),
      awsCli(server, ["s3api", "put-object-acl", "--bucket", Bucket, "--key", "cli.txt", "--acl", "public-read"]),
    ]);
    for (const result of [objectAcl, bucketAcl]) {
      expectOk(result);
      const parsed = JSON.parse(result.stdout) as { Owner: { ID: string }; Grants: { Grantee: { Type: string; ID: string }; Permission: string }[] };
      expect(parsed.Owner.ID).toBe(owner.ID!);
      expect(parsed.Grants.map((grant) => [grant.Grantee.Type, grant.Grantee.ID, grant.Permission])).toEqual([["CanonicalUser", owner.ID!, "FULL_CONTROL"]]);
    }
    for (const result of [refusedCp, refusedPut]) {
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain("AccessControlListNotSupported");
    }
    const back = await client.send(new GetObjectCommand({ Bucket, Key: "cli.txt" }));
    expect(await back.Body!.transformToString()).toBe("copied with the owner's full control\n");
    expect(await failure(client.send(new GetObjectCommand({ Bucket, Key: "public.txt" })))).toEqual(["NoSuchKey", 404]);
  }, clientTestTimeoutMs);

  test("s3cmd: info shows the owner's FULL_CONTROL; cp and mv (which write the source's ACL back) work; setacl --acl-public is refused", async () => {
    const Bucket = "acl-s3cmd";
    await client.send(new CreateBucketCommand({ Bucket }));
    await client.send(new PutObjectCommand({ Bucket, Key: "info.txt", Body: "info" }));
    const owner = (await client.send(new ListBucketsCommand({}))).Owner!;
    const [objectInfo, bucketInfo, setAcl] = await Promise.all([
      s3cmd(server, workDir, ["info", `s3://${Bucket}/info.txt`]),
      s3cmd(server, workDir, ["info", `s3://${Bucket}`]),
      s3cmd(server, workDir, ["setacl", "--acl-public", `s3://${Bucket}/info.txt`]),
    ]);
    for (const info of [objectInfo, bucketInfo]) {
      expectOk(info);
      expect(info.stdout).toMatch(new RegExp(`ACL:\\s+${owner.DisplayName}: FULL_CONTROL`));
    }
    expect(setAcl.code).not.toBe(0);
    expect(setAcl.stderr + setAcl.stdout).toContain("AccessControlListNotSupported");
    expectOk(await s3cmd(server, workDir, ["cp", `s3://${Bucket}/info.txt`, `s3://${Bucket}/copied.txt`]));
    expectOk(await s3cmd(server, workDir, ["mv", `s3://${Bucket}/copied.txt`, `s3://${Bucket}/moved.txt`]));
    expectOk(await s3cmd(server, workDir, ["setacl", "--acl-private", `s3://${Bucket}/moved.txt`]));
    const moved = await client.send(new GetObjectCommand({ Bucket, Key: "moved.txt" }));
    expect(await moved.Body!.transformToString()).toBe("info");
    expect(await failure(client.send(new GetObjectCommand({ Bucket, Key: "copied.txt" })))).toEqual(["NoSuchKey", 404]);
  }, clientTestTimeoutMs);
});
