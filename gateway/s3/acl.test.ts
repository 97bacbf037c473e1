/**
 * ACLs with ACLs disabled (acl.ts and the four ACL operations): the header
 * rule, the owner an ACL names, and the whole S3 core (serveBun +
 * createS3Handler over the memory backend) answering the AWS SDK and raw
 * signed requests: reads show the owner's FULL_CONTROL, writes with a
 * refused ACL store nothing, setting an ACL is refused after the existence
 * checks.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetBucketAclCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  PutBucketAclCommand,
  PutBucketVersioningCommand,
  PutObjectAclCommand,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { MemoryBackend } from "../testing/memory-backend.ts";
import { startTestGateway, type TestGateway } from "../testing/test-gateway.ts";
import { S3Error } from "../errors.ts";
import { accessControlPolicyDocument, asksOnlyOwnerFullControl, bucketOwnerShown, refusedAclHeader } from "./acl.ts";
import { authorizeOperation, BucketAccessCache, requestedAction, type Requester } from "./authorization.ts";
import type { OperationContext, Owner } from "./context.ts";
import { getBucketAcl } from "./operations/get-bucket-acl.ts";
import { getObjectAcl } from "./operations/get-object-acl.ts";
import { putBucketAcl } from "./operations/put-bucket-acl.ts";
import { putObjectAcl } from "./operations/put-object-acl.ts";
import { parseXml, childElement, childElements, type XmlElement } from "./xml.ts";
import { errorCodeOf as codeOf, failure } from "../testing/sdk-failure.ts";

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.stop();
});

function textOf(element: XmlElement | undefined): string | undefined {
  return element?.text;
}

describe("refusedAclHeader", () => {
  test("only the accepted canned ACLs pass; every grant header is refused", () => {
    const accepted = ["private", "bucket-owner-full-control"];
    expect(refusedAclHeader(new Map(), accepted)).toBeUndefined();
    expect(refusedAclHeader(new Map([["x-amz-acl", "bucket-owner-full-control"]]), accepted)).toBeUndefined();
    expect(refusedAclHeader(new Map([["x-amz-acl", "public-read"]]), accepted)).toBe("x-amz-acl");
    expect(refusedAclHeader(new Map([["x-amz-acl", "bucket-owner-full-control"]]), ["private"])).toBe("x-amz-acl");
    expect(refusedAclHeader(new Map([["x-amz-acl", "private"], ["x-amz-grant-read", "id=1"]]), accepted)).toBe("x-amz-grant-read");
    // Other x-amz-* headers are not ACLs.
    expect(refusedAclHeader(new Map([["x-amz-acl-note", "x"], ["x-amz-granted", "x"]]), accepted)).toBeUndefined();
  });
});

describe("asksOnlyOwnerFullControl: the one ACL a PutObjectAcl/PutBucketAcl may set", () => {
  const owner: Owner = { id: "0123abcd", displayName: "KEY" };
  const accepted = ["private", "bucket-owner-full-control"];
  const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
  const none = new Uint8Array(0);
  const headers = (entries: Record<string, string> = {}): Map<string, string> => new Map(Object.entries(entries));
  const grant = (grantee: string, permission = "FULL_CONTROL"): string =>
    `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">${grantee}</Grantee><Permission>${permission}</Permission></Grant>`;
  const policy = (grants: string, ownerPart = "<Owner><ID>0123abcd</ID></Owner>"): Uint8Array =>
    encode(`<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${ownerPart}<AccessControlList>${grants}</AccessControlList></AccessControlPolicy>`);

  test("accepted: a canned ACL that changes nothing, or the document GetObjectAcl shows (as s3cmd writes it back)", () => {
    expect(asksOnlyOwnerFullControl(headers({ "x-amz-acl": "private" }), none, owner, accepted)).toBe(true);
    expect(asksOnlyOwnerFullControl(headers({ "x-amz-acl": "bucket-owner-full-control" }), none, owner, accepted)).toBe(true);
    expect(asksOnlyOwnerFullControl(headers(), encode(accessControlPolicyDocument(owner)), owner, accepted)).toBe(true);
    expect(asksOnlyOwnerFullControl(headers(), policy(grant("<ID>0123abcd</ID>")), owner, accepted)).toBe(true);
    expect(asksOnlyOwnerFullControl(headers(), policy(grant("<ID>0123abcd</ID>"), ""), owner, accepted)).toBe(true);
  });

  test("refused: anything that grants, names another owner, or asks for nothing", () => {
    expect(asksOnlyOwnerFullControl(headers(), none, owner, accepted)).toBe(false);
    expect(asksOnlyOwnerFullControl(headers({ "x-amz-acl": "public-read" }), none, owner, accepted)).toBe(false);
    expect(asksOnlyOwnerFullControl(headers({ "x-amz-acl": "bucket-owner-full-control" }), none, owner, ["private"])).toBe(false);
    expect(asksOnlyOwnerFullControl(headers({ "x-amz-grant-full-control": 'id="0123abcd"' }), none, owner, accepted)).toBe(false);
    expect(asksOnlyOwnerFullControl(headers({ "x-amz-acl": "private" }), policy(grant("<ID>0123abcd</ID>")), owner, accepted)).toBe(false);
    const allUsers = `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>`;
    expect(asksOnlyOwnerFullControl(headers(), policy(grant("<ID>0123abcd</ID>") + allUsers), owner, accepted)).toBe(false);
    expect(asksOnlyOwnerFullControl(headers(), policy(grant("<ID>someone-else</ID>")), owner, accepted)).toBe(false);
    expect(asksOnlyOwnerFullControl(headers(), policy(grant("<ID>0123abcd</ID>", "READ")), owner, accepted)).toBe(false);
    expect(asksOnlyOwnerFullControl(headers(), policy(grant("<EmailAddress>a@b.c</EmailAddress>")), owner, accepted)).toBe(false);
    expect(asksOnlyOwnerFullControl(headers(), policy(grant("<ID>0123abcd</ID>"), "<Owner><ID>someone-else</ID></Owner>"), owner, accepted)).toBe(false);
    expect(asksOnlyOwnerFullControl(headers(), policy(""), owner, accepted)).toBe(false);
    expect(asksOnlyOwnerFullControl(headers(), encode("<AccessControlPolicy><Owner>"), owner, accepted)).toBe(false);
    expect(asksOnlyOwnerFullControl(headers(), encode("<Tagging/>"), owner, accepted)).toBe(false);
  });
});

describe("the AccessControlPolicy document", () => {
  test("one FULL_CONTROL grant to the owner, a CanonicalUser grantee, values escaped", () => {
    const document = accessControlPolicyDocument({ id: "abc", displayName: "a<b&c" });
    expect(document).toContain('<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">');
    const root = parseXml(document);
    expect(root.name).toBe("AccessControlPolicy");
    const owner = childElement(root, "Owner")!;
    expect(textOf(childElement(owner, "ID"))).toBe("abc");
    expect(textOf(childElement(owner, "DisplayName"))).toBe("a<b&c");
    const grants = childElements(childElement(root, "AccessControlList")!, "Grant");
    expect(grants.length).toBe(1);
    expect(textOf(childElement(grants[0]!, "Permission"))).toBe("FULL_CONTROL");
    expect(textOf(childElement(childElement(grants[0]!, "Grantee")!, "ID"))).toBe("abc");
  });
});

describe("the owner an ACL names", () => {
  const aliceOwner: Owner = { id: "alice-key-id", displayName: "ALICEKEY" };
  const alice: Requester = { kind: "user", name: "alice", accessKeyId: "ALICEKEY", role: "user" };
  const bob: Requester = { kind: "user", name: "bob", accessKeyId: "BOBKEY", role: "user" };
  const root: Requester = { kind: "user", name: "root", accessKeyId: "ROOTKEY", role: "admin" };

  test("the bucket's owner sees itself as ListBuckets shows it; anyone else sees the owner's name", () => {
    expect(bucketOwnerShown({ requester: alice, owner: aliceOwner }, "alice")).toBe(aliceOwner);
    const seenByBob = bucketOwnerShown({ requester: bob, owner: { id: "bob-id", displayName: "BOBKEY" } }, "alice");
    const seenByRoot = bucketOwnerShown({ requester: root, owner: { id: "root-id", displayName: "ROOTKEY" } }, "alice");
    const seenByAnonymous = bucketOwnerShown({ requester: { kind: "anonymous" }, owner: { id: "anon-id", displayName: "anonymous" } }, "alice");
    expect(seenByBob.displayName).toBe("alice");
    expect(seenByBob.id).toMatch(/^[0-9a-f]{64}$/);
    expect(seenByRoot).toEqual(seenByBob);
    expect(seenByAnonymous).toEqual(seenByBob);
    // A bucket without a recorded owner is the admins'.
    expect(bucketOwnerShown({ requester: root, owner: { id: "root-id", displayName: "ROOTKEY" } }, undefined)).toEqual({ id: "root-id", displayName: "ROOTKEY" });
  });

  test("the operations name that owner, read from the bucket record", async () => {
    const backend = new MemoryBackend({ nowMs: () => 1_700_000_000_000 });
    await backend.createBucket("alice-bucket", "alice");
    await backend.putObject({
      bucket: "alice-bucket",
      key: "k",
      body: (async function* () {
        yield new TextEncoder().encode("x");
      })(),
      headers: {},
      userMetadata: {},
      storageClass: "STANDARD",
    });
    const contextFor = (requester: Requester, owner: Owner, key: string): OperationContext =>
      ({
        request: { method: "GET", rawPath: "/", rawQuery: "acl", headers: new Map(), body: (async function* () {})(), remoteAddress: "127.0.0.1" },
        bucket: "alice-bucket",
        key,
        query: new Map([["acl", ""]]),
        auth: { accessKeyId: "", presigned: false, payload: { kind: "unsigned" } },
        owner,
        requester,
        backend,
      }) as unknown as OperationContext;
    const ownerIdOf = async (reply: Promise<{ body?: unknown }>): Promise<string | undefined> =>
      textOf(childElement(childElement(parseXml(String((await reply).body)), "Owner")!, "ID"));
    expect(await ownerIdOf(getBucketAcl(contextFor(alice, aliceOwner, "")))).toBe("alice-key-id");
    expect(await ownerIdOf(getObjectAcl(contextFor(alice, aliceOwner, "k")))).toBe("alice-key-id");
    const bobSees = await ownerIdOf(getBucketAcl(contextFor(bob, { id: "bob-id", displayName: "BOBKEY" }, "")));
    expect(bobSees).toBe(bucketOwnerShown({ requester: bob, owner: { id: "bob-id", displayName: "BOBKEY" } }, "alice").id);
    expect(await ownerIdOf(getObjectAcl(contextFor(bob, { id: "bob-id", displayName: "BOBKEY" }, "k")))).toBe(bobSees);
    // Setting one that asks for nothing is refused even for the owner.
    const refusal = async (reply: Promise<unknown>): Promise<string> => {
      try {
        await reply;
      } catch (error) {
        if (error instanceof S3Error) return error.code;
        throw error;
      }
      return "no error";
    };
    expect(await refusal(putBucketAcl(contextFor(alice, aliceOwner, "")))).toBe("AccessControlListNotSupported");
    expect(await refusal(putObjectAcl(contextFor(alice, aliceOwner, "k")))).toBe("AccessControlListNotSupported");
    expect(await refusal(putObjectAcl(contextFor(alice, aliceOwner, "missing")))).toBe("NoSuchKey");
  });

  test("authorization asks for the ACL actions, the version ones with a versionId", () => {
    const noQuery = new Map<string, string>();
    const withVersion = new Map([["versionId", "v"]]);
    expect(requestedAction("GetBucketAcl", "", noQuery)).toEqual({ action: "s3:GetBucketAcl" });
    expect(requestedAction("PutBucketAcl", "", noQuery)).toEqual({ action: "s3:PutBucketAcl" });
    expect(requestedAction("GetObjectAcl", "k", noQuery)).toEqual({ action: "s3:GetObjectAcl", key: "k" });
    expect(requestedAction("GetObjectAcl", "k", withVersion)).toEqual({ action: "s3:GetObjectVersionAcl", key: "k" });
    expect(requestedAction("PutObjectAcl", "k", noQuery)).toEqual({ action: "s3:PutObjectAcl", key: "k" });
    expect(requestedAction("PutObjectAcl", "k", withVersion)).toEqual({ action: "s3:PutObjectVersionAcl", key: "k" });
  });

  test("reading an ACL is the owner's, an admin's, or what a policy grants; never anyone's by default", async () => {
    const backend = new MemoryBackend({ nowMs: () => 0 });
    await backend.createBucket("alice-bucket", "alice");
    const cache = new BucketAccessCache(backend, 1_000);
    const origin = { sourceIp: "127.0.0.1", secureTransport: false };
    const outcome = async (name: "GetBucketAcl" | "GetObjectAcl" | "PutObjectAcl", requester: Requester): Promise<string> => {
      try {
        await authorizeOperation({ name, requester, bucket: "alice-bucket", key: name === "GetBucketAcl" ? "" : "k", query: new Map(), headers: new Map(), origin, cache, nowMs: 0 });
      } catch (error) {
        if (error instanceof S3Error) return error.code;
        throw error;
      }
      return "allowed";
    };
    for (const name of ["GetBucketAcl", "GetObjectAcl", "PutObjectAcl"] as const) {
      expect(await outcome(name, alice)).toBe("allowed");
      expect(await outcome(name, root)).toBe("allowed");
      expect(await outcome(name, bob)).toBe("AccessDenied");
      expect(await outcome(name, { kind: "anonymous" })).toBe("AccessDenied");
    }
    const policy = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: "bob" }, Action: "s3:GetObjectAcl", Resource: "arn:aws:s3:::alice-bucket/*" }] };
    await backend.putBucketConfiguration("alice-bucket", "policy", JSON.stringify(policy));
    cache.forget("alice-bucket");
    expect(await outcome("GetObjectAcl", bob)).toBe("allowed");
    expect(await outcome("GetBucketAcl", bob)).toBe("AccessDenied");
    expect(await outcome("PutObjectAcl", bob)).toBe("AccessDenied");
  });
});

describe("ACLs through the S3 core", () => {
  test("GetBucketAcl and GetObjectAcl: the owner ListBuckets shows, with FULL_CONTROL", async () => {
    const Bucket = "acl-read";
    await gateway.client.send(new CreateBucketCommand({ Bucket }));
    await gateway.client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "hello" }));
    const listed = await gateway.client.send(new ListBucketsCommand({}));
    const owner = listed.Owner!;
    expect(owner.ID).toMatch(/^[0-9a-f]{64}$/);
    for (const acl of [
      await gateway.client.send(new GetBucketAclCommand({ Bucket })),
      await gateway.client.send(new GetObjectAclCommand({ Bucket, Key: "k" })),
    ]) {
      expect(acl.Owner).toEqual({ ID: owner.ID, DisplayName: owner.DisplayName });
      expect(acl.Grants).toEqual([{ Grantee: { Type: "CanonicalUser", ID: owner.ID, DisplayName: owner.DisplayName }, Permission: "FULL_CONTROL" }]);
    }
  });

  test("GetObjectAcl finds versions as GetObject does: NoSuchBucket, NoSuchKey, NoSuchVersion, delete markers", async () => {
    const Bucket = "acl-versions";
    await gateway.client.send(new CreateBucketCommand({ Bucket }));
    await gateway.client.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: "Enabled" } }));
    const first = await gateway.client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "one" }));
    const byId = await gateway.client.send(new GetObjectAclCommand({ Bucket, Key: "k", VersionId: first.VersionId! }));
    expect(byId.Grants?.[0]?.Permission).toBe("FULL_CONTROL");
    expect(await failure(gateway.client.send(new GetObjectAclCommand({ Bucket: "acl-absent", Key: "k" })))).toEqual(["NoSuchBucket", 404]);
    expect(await failure(gateway.client.send(new GetObjectAclCommand({ Bucket, Key: "absent" })))).toEqual(["NoSuchKey", 404]);
    expect(await failure(gateway.client.send(new GetObjectAclCommand({ Bucket, Key: "k", VersionId: "no-such-version-0000" })))).toEqual(["NoSuchVersion", 404]);
    expect(await failure(gateway.client.send(new GetBucketAclCommand({ Bucket: "acl-absent" })))).toEqual(["NoSuchBucket", 404]);
    // A delete marker as the current version: 404 NoSuchKey, as GetObject.
    await gateway.signedFetch({ method: "DELETE", rawPath: `/${Bucket}/k` });
    expect(await failure(gateway.client.send(new GetObjectAclCommand({ Bucket, Key: "k" })))).toEqual(["NoSuchKey", 404]);
    expect((await gateway.client.send(new GetObjectAclCommand({ Bucket, Key: "k", VersionId: first.VersionId! }))).Grants?.length).toBe(1);
  });

  test("PutObject: bucket-owner-full-control and private are stored; public-read and grants are refused and store nothing", async () => {
    const Bucket = "acl-put";
    await gateway.client.send(new CreateBucketCommand({ Bucket }));
    await gateway.client.send(new PutObjectCommand({ Bucket, Key: "full", Body: "full control", ACL: "bucket-owner-full-control" }));
    await gateway.client.send(new PutObjectCommand({ Bucket, Key: "private", Body: "private", ACL: "private" }));
    expect(await (await gateway.client.send(new GetObjectCommand({ Bucket, Key: "full" }))).Body!.transformToString()).toBe("full control");
    expect(await failure(gateway.client.send(new PutObjectCommand({ Bucket, Key: "public", Body: "public", ACL: "public-read" })))).toEqual([
      "AccessControlListNotSupported",
      400,
    ]);
    expect(await failure(gateway.client.send(new PutObjectCommand({ Bucket, Key: "granted", Body: "x", GrantRead: 'uri="http://acs.amazonaws.com/groups/global/AllUsers"' })))).toEqual([
      "AccessControlListNotSupported",
      400,
    ]);
    expect(await failure(gateway.client.send(new GetObjectCommand({ Bucket, Key: "public" })))).toEqual(["NoSuchKey", 404]);
    expect(await failure(gateway.client.send(new GetObjectCommand({ Bucket, Key: "granted" })))).toEqual(["NoSuchKey", 404]);
    const refused = await gateway.signedFetch({ method: "PUT", rawPath: `/${Bucket}/raw`, headers: { "x-amz-acl": "authenticated-read" }, body: "raw" });
    expect(refused.status).toBe(400);
    const text = await refused.text();
    expect(text).toContain("<Code>AccessControlListNotSupported</Code>");
    expect(text).toContain("<Message>The bucket does not allow ACLs</Message>");
    expect(gateway.logs.some((entry) => entry.operation === "PutObject" && entry.code === "AccessControlListNotSupported")).toBe(true);
  });

  test("CreateMultipartUpload and CopyObject: the same rule, nothing started or stored", async () => {
    const Bucket = "acl-multipart";
    await gateway.client.send(new CreateBucketCommand({ Bucket }));
    await gateway.client.send(new PutObjectCommand({ Bucket, Key: "source", Body: "source" }));
    const started = await gateway.client.send(new CreateMultipartUploadCommand({ Bucket, Key: "ok", ACL: "bucket-owner-full-control" }));
    expect(started.UploadId).toBeString();
    expect(await failure(gateway.client.send(new CreateMultipartUploadCommand({ Bucket, Key: "public", ACL: "public-read-write" })))).toEqual([
      "AccessControlListNotSupported",
      400,
    ]);
    const uploads = await gateway.client.send(new ListMultipartUploadsCommand({ Bucket }));
    expect((uploads.Uploads ?? []).map((upload) => upload.Key)).toEqual(["ok"]);
    await gateway.client.send(new CopyObjectCommand({ Bucket, Key: "copy-ok", CopySource: `${Bucket}/source`, ACL: "bucket-owner-full-control" }));
    expect(await failure(gateway.client.send(new CopyObjectCommand({ Bucket, Key: "copy-public", CopySource: `${Bucket}/source`, ACL: "public-read" })))).toEqual([
      "AccessControlListNotSupported",
      400,
    ]);
    expect(await failure(gateway.client.send(new GetObjectCommand({ Bucket, Key: "copy-public" })))).toEqual(["NoSuchKey", 404]);
  });

  test("CreateBucket: private accepted, any other ACL is InvalidBucketAclWithObjectOwnership and no bucket is made", async () => {
    await gateway.client.send(new CreateBucketCommand({ Bucket: "acl-bucket-private", ACL: "private" }));
    expect(await failure(gateway.client.send(new CreateBucketCommand({ Bucket: "acl-bucket-public", ACL: "public-read" })))).toEqual([
      "InvalidBucketAclWithObjectOwnership",
      400,
    ]);
    expect(await failure(gateway.client.send(new CreateBucketCommand({ Bucket: "acl-bucket-granted", GrantFullControl: 'id="0123"' })))).toEqual([
      "InvalidBucketAclWithObjectOwnership",
      400,
    ]);
    const names = ((await gateway.client.send(new ListBucketsCommand({}))).Buckets ?? []).map((bucket) => bucket.Name);
    expect(names).toContain("acl-bucket-private");
    expect(names).not.toContain("acl-bucket-public");
    expect(names).not.toContain("acl-bucket-granted");
  });

  test("PutBucketAcl and PutObjectAcl: after the existence checks, refused unless they restate the owner's full control", async () => {
    const Bucket = "acl-set";
    await gateway.client.send(new CreateBucketCommand({ Bucket }));
    await gateway.client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "x" }));
    const owner = (await gateway.client.send(new GetBucketAclCommand({ Bucket }))).Owner!;
    const policy = { Owner: owner, Grants: [{ Grantee: { Type: "CanonicalUser" as const, ID: owner.ID! }, Permission: "FULL_CONTROL" as const }] };
    // Restating what every bucket and object has changes nothing and succeeds.
    expect((await gateway.client.send(new PutBucketAclCommand({ Bucket, ACL: "private" }))).$metadata.httpStatusCode).toBe(200);
    expect((await gateway.client.send(new PutBucketAclCommand({ Bucket, AccessControlPolicy: policy }))).$metadata.httpStatusCode).toBe(200);
    expect((await gateway.client.send(new PutObjectAclCommand({ Bucket, Key: "k", ACL: "bucket-owner-full-control" }))).$metadata.httpStatusCode).toBe(200);
    expect((await gateway.client.send(new PutObjectAclCommand({ Bucket, Key: "k", AccessControlPolicy: policy }))).$metadata.httpStatusCode).toBe(200);
    // Anything that grants is refused.
    expect(await failure(gateway.client.send(new PutBucketAclCommand({ Bucket, ACL: "public-read" })))).toEqual(["AccessControlListNotSupported", 400]);
    // bucket-owner-full-control is an object ACL (the SDK will not send it for a bucket).
    const bucketOwnerFullControl = await gateway.signedFetch({ method: "PUT", rawPath: `/${Bucket}`, rawQuery: "acl", headers: { "x-amz-acl": "bucket-owner-full-control" } });
    expect([bucketOwnerFullControl.status, await codeOf(bucketOwnerFullControl)]).toEqual([400, "AccessControlListNotSupported"]);
    expect(await failure(gateway.client.send(new PutObjectAclCommand({ Bucket, Key: "k", ACL: "public-read" })))).toEqual(["AccessControlListNotSupported", 400]);
    expect(await failure(gateway.client.send(new PutObjectAclCommand({ Bucket, Key: "k", GrantRead: 'uri="http://acs.amazonaws.com/groups/global/AllUsers"' })))).toEqual([
      "AccessControlListNotSupported",
      400,
    ]);
    const publicRead = { Owner: owner, Grants: [...policy.Grants, { Grantee: { Type: "Group" as const, URI: "http://acs.amazonaws.com/groups/global/AllUsers" }, Permission: "READ" as const }] };
    expect(await failure(gateway.client.send(new PutObjectAclCommand({ Bucket, Key: "k", AccessControlPolicy: publicRead })))).toEqual(["AccessControlListNotSupported", 400]);
    const other = { Owner: owner, Grants: [{ Grantee: { Type: "CanonicalUser" as const, ID: "f".repeat(64) }, Permission: "FULL_CONTROL" as const }] };
    expect(await failure(gateway.client.send(new PutBucketAclCommand({ Bucket, AccessControlPolicy: other })))).toEqual(["AccessControlListNotSupported", 400]);
    expect((await gateway.client.send(new GetObjectAclCommand({ Bucket, Key: "k" }))).Grants).toEqual([{ Grantee: { Type: "CanonicalUser", ID: owner.ID, DisplayName: owner.DisplayName }, Permission: "FULL_CONTROL" }]);
    expect(await failure(gateway.client.send(new PutBucketAclCommand({ Bucket: "acl-absent", ACL: "private" })))).toEqual(["NoSuchBucket", 404]);
    expect(await failure(gateway.client.send(new PutObjectAclCommand({ Bucket: "acl-absent", Key: "k", ACL: "private" })))).toEqual(["NoSuchBucket", 404]);
    expect(await failure(gateway.client.send(new PutObjectAclCommand({ Bucket, Key: "absent", ACL: "private" })))).toEqual(["NoSuchKey", 404]);
    // The object is untouched, and a body the signature does not cover is still refused as such.
    expect(await (await gateway.client.send(new GetObjectCommand({ Bucket, Key: "k" }))).Body!.transformToString()).toBe("x");
    const mismatched = await gateway.signedFetch({ method: "PUT", rawPath: `/${Bucket}/k`, rawQuery: "acl", body: "<AccessControlPolicy/>", payloadHash: "0".repeat(64) });
    expect(mismatched.status).toBe(400);
    expect(await codeOf(mismatched)).toBe("XAmzContentSHA256Mismatch");
  });
});
