import { describe, expect, test } from "bun:test";
import { S3Error } from "../errors.ts";
import { MemoryBackend } from "../testing/memory-backend.ts";
import {
  anonymousAuthentication,
  authorizeOperation,
  BucketAccessCache,
  isAllowed,
  ownsBucket,
  parseCopySource,
  requestedAction,
  requesterOf,
  type BucketAccess,
  type Requester,
} from "./authorization.ts";
import { parseBucketPolicy } from "./policy.ts";

const admin: Requester = { kind: "user", name: "root", accessKeyId: "ROOT", role: "admin" };
const alice: Requester = { kind: "user", name: "alice", accessKeyId: "ALICE", role: "user" };
const bob: Requester = { kind: "user", name: "bob", accessKeyId: "BOB", role: "user" };
const anonymous: Requester = { kind: "anonymous" };
const origin = { sourceIp: "127.0.0.1", secureTransport: false };
const noQuery: ReadonlyMap<string, string> = new Map();

function access(owner: string, ...statements: object[]): BucketAccess {
  return {
    owner,
    policy: statements.length === 0 ? undefined : parseBucketPolicy(JSON.stringify({ Version: "2012-10-17", Statement: statements }), "b"),
  };
}

describe("requestedAction: each operation's S3 action", () => {
  test("object operations, with the version permission when a versionId is given", () => {
    expect(requestedAction("GetObject", "k", noQuery)).toEqual({ action: "s3:GetObject", key: "k" });
    expect(requestedAction("HeadObject", "k", new Map([["versionId", "v"]]))).toEqual({ action: "s3:GetObjectVersion", key: "k" });
    expect(requestedAction("DeleteObject", "k", new Map([["versionId", "v"]]))).toEqual({ action: "s3:DeleteObjectVersion", key: "k" });
    for (const name of ["PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "CopyObject", "UploadPartCopy"] as const) {
      expect(requestedAction(name, "k", noQuery)?.action).toBe("s3:PutObject");
    }
    expect(requestedAction("AbortMultipartUpload", "k", noQuery)?.action).toBe("s3:AbortMultipartUpload");
    expect(requestedAction("ListParts", "k", noQuery)?.action).toBe("s3:ListMultipartUploadParts");
    expect(requestedAction("PutObjectTagging", "k", new Map([["versionId", "v"]]))?.action).toBe("s3:PutObjectVersionTagging");
  });

  test("bucket operations; listings carry s3:prefix (\"\" when absent) and s3:delimiter", () => {
    expect(requestedAction("ListObjectsV2", "", new Map([["prefix", "a/"], ["delimiter", "/"]]))).toEqual({ action: "s3:ListBucket", prefix: "a/", delimiter: "/" });
    expect(requestedAction("ListObjects", "", noQuery)).toEqual({ action: "s3:ListBucket", prefix: "" });
    expect(requestedAction("ListObjectVersions", "", noQuery)).toEqual({ action: "s3:ListBucketVersions", prefix: "" });
    expect(requestedAction("HeadBucket", "", noQuery)).toEqual({ action: "s3:ListBucket" });
    expect(requestedAction("DeleteBucketCors", "", noQuery)).toEqual({ action: "s3:PutBucketCORS" });
    expect(requestedAction("DeleteBucketTagging", "", noQuery)).toEqual({ action: "s3:PutBucketTagging" });
    expect(requestedAction("GetBucketPolicyStatus", "", noQuery)).toEqual({ action: "s3:GetBucketPolicyStatus" });
  });

  test("ListBuckets, CreateBucket and DeleteObjects have no bucket-level action", () => {
    expect(requestedAction("ListBuckets", "", noQuery)).toBeUndefined();
    expect(requestedAction("CreateBucket", "", noQuery)).toBeUndefined();
    expect(requestedAction("DeleteObjects", "", noQuery)).toBeUndefined();
  });
});

describe("isAllowed: the model", () => {
  const get = { action: "s3:GetObject", key: "k" };
  const grantBob = { Effect: "Allow", Principal: { AWS: "bob" }, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*" };
  const denyAll = { Effect: "Deny", Principal: "*", Action: "s3:*", Resource: ["arn:aws:s3:::b", "arn:aws:s3:::b/*"] };

  test("owner yes, another user no, unless a policy grants it", () => {
    expect(isAllowed(alice, "b", access("alice"), get, origin)).toBe(true);
    expect(isAllowed(bob, "b", access("alice"), get, origin)).toBe(false);
    expect(isAllowed(bob, "b", access("alice", grantBob), get, origin)).toBe(true);
    expect(isAllowed(bob, "b", access("alice", grantBob), { action: "s3:PutObject", key: "k" }, origin)).toBe(false);
  });

  test("admins pass whatever the policy says; a Deny binds owners and users", () => {
    expect(isAllowed(admin, "b", access("alice", denyAll), get, origin)).toBe(true);
    expect(isAllowed(alice, "b", access("alice", denyAll), get, origin)).toBe(false);
    expect(isAllowed(bob, "b", access("alice", grantBob, denyAll), get, origin)).toBe(false);
  });

  test("the owner keeps its policy operations through its own Deny; nobody else does", () => {
    for (const action of ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"]) {
      expect(isAllowed(alice, "b", access("alice", denyAll), { action }, origin)).toBe(true);
      expect(isAllowed(bob, "b", access("alice", denyAll), { action }, origin)).toBe(false);
    }
    expect(isAllowed(alice, "b", access("alice", denyAll), { action: "s3:DeleteBucket" }, origin)).toBe(false);
  });

  test("anonymous: only a grant to `*`", () => {
    expect(isAllowed(anonymous, "b", access("alice"), get, origin)).toBe(false);
    expect(isAllowed(anonymous, "b", access("alice", grantBob), get, origin)).toBe(false);
    expect(isAllowed(anonymous, "b", access("alice", { ...grantBob, Principal: "*" }), get, origin)).toBe(true);
  });

  test("ownership for listings: admins own everything, an unrecorded owner is the admins'", () => {
    expect(ownsBucket(admin, "alice")).toBe(true);
    expect(ownsBucket(alice, "alice")).toBe(true);
    expect(ownsBucket(alice, undefined)).toBe(false);
    expect(ownsBucket(bob, "alice")).toBe(false);
    expect(ownsBucket(anonymous, undefined)).toBe(false);
  });
});

describe("authorizeOperation", () => {
  async function setup(): Promise<{ backend: MemoryBackend; cache: BucketAccessCache }> {
    const backend = new MemoryBackend({ nowMs: () => 0 });
    await backend.createBucket("b", "alice");
    await backend.createBucket("legacy");
    return { backend, cache: new BucketAccessCache(backend, 1_000) };
  }
  const base = { key: "k", query: noQuery, headers: new Map<string, string>(), origin, nowMs: 0 };

  async function denied(run: Promise<unknown>): Promise<string> {
    try {
      await run;
    } catch (error) {
      if (error instanceof S3Error) return error.code;
      throw error;
    }
    return "allowed";
  }

  test("anonymous ListBuckets and CreateBucket are refused; signed ones pass", async () => {
    const { cache } = await setup();
    expect(await denied(authorizeOperation({ ...base, name: "ListBuckets", requester: anonymous, bucket: "", cache }))).toBe("AccessDenied");
    expect(await denied(authorizeOperation({ ...base, name: "CreateBucket", requester: anonymous, bucket: "x", cache }))).toBe("AccessDenied");
    expect(await denied(authorizeOperation({ ...base, name: "CreateBucket", requester: bob, bucket: "x", cache }))).toBe("allowed");
  });

  test("a missing bucket goes on to its operation (NoSuchBucket); a legacy bucket is the admins'", async () => {
    const { cache } = await setup();
    expect(await denied(authorizeOperation({ ...base, name: "GetObject", requester: bob, bucket: "missing", cache }))).toBe("allowed");
    expect(await denied(authorizeOperation({ ...base, name: "GetObject", requester: alice, bucket: "legacy", cache }))).toBe("AccessDenied");
    expect(await denied(authorizeOperation({ ...base, name: "GetObject", requester: admin, bucket: "legacy", cache }))).toBe("allowed");
  });

  test("the cache holds a policy for its TTL; forget applies a change at once", async () => {
    const { backend, cache } = await setup();
    const request = { ...base, name: "GetObject" as const, requester: bob, bucket: "b", cache };
    expect(await denied(authorizeOperation(request))).toBe("AccessDenied");
    const grant = { Effect: "Allow", Principal: { AWS: "bob" }, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*" };
    await backend.putBucketConfiguration("b", "policy", JSON.stringify({ Statement: [grant] }));
    expect(await denied(authorizeOperation({ ...request, nowMs: 999 }))).toBe("AccessDenied");
    expect(await denied(authorizeOperation({ ...request, nowMs: 1_000 }))).toBe("allowed");
    await backend.deleteBucketConfiguration("b", "policy");
    expect(await denied(authorizeOperation({ ...request, nowMs: 1_001 }))).toBe("allowed");
    cache.forget("b");
    expect(await denied(authorizeOperation({ ...request, nowMs: 1_002 }))).toBe("AccessDenied");
  });

  test("a copy needs s3:GetObject on its source too", async () => {
    const { backend, cache } = await setup();
    await backend.createBucket("mine", "bob");
    const copy = { ...base, name: "CopyObject" as const, requester: bob, bucket: "mine", cache };
    expect(await denied(authorizeOperation({ ...copy, headers: new Map([["x-amz-copy-source", "/mine/a"]]) }))).toBe("allowed");
    expect(await denied(authorizeOperation({ ...copy, headers: new Map([["x-amz-copy-source", "b/secret"]]) }))).toBe("AccessDenied");
  });
});

describe("request helpers", () => {
  test("parseCopySource reads [/]bucket/key[?versionId=]", () => {
    expect(parseCopySource("/b/a%20b/c")).toEqual({ bucket: "b", key: "a b/c" });
    expect(parseCopySource("b/k?versionId=v1")).toEqual({ bucket: "b", key: "k", versionId: "v1" });
    expect(parseCopySource("b")).toBeUndefined();
    expect(parseCopySource("b/")).toBeUndefined();
    expect(parseCopySource("%zz/k")).toBeUndefined();
    expect(parseCopySource(undefined)).toBeUndefined();
  });

  test("anonymous bodies: a hex hash is still verified, signed streaming is refused", () => {
    expect(anonymousAuthentication(new Map()).payload).toEqual({ kind: "unsigned" });
    expect(anonymousAuthentication(new Map([["x-amz-content-sha256", "A".repeat(64)]])).payload).toEqual({ kind: "sha256", expectedHex: "a".repeat(64) });
    expect(anonymousAuthentication(new Map([["x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"]])).payload).toEqual({
      kind: "streaming",
      signed: false,
      trailer: true,
    });
    expect(() => anonymousAuthentication(new Map([["x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"]]))).toThrow(S3Error);
  });

  test("requesterOf: no user table means admin; a key the table lost is InvalidAccessKeyId", () => {
    const auth = { accessKeyId: "K", payload: { kind: "unsigned" as const }, presigned: false };
    expect(requesterOf(undefined, undefined)).toEqual({ kind: "anonymous" });
    expect(requesterOf(auth, undefined)).toEqual({ kind: "user", name: "root", accessKeyId: "K", role: "admin" });
    expect(requesterOf(auth, () => ({ name: "bob", role: "user" }))).toEqual({ kind: "user", name: "bob", accessKeyId: "K", role: "user" });
    expect(() => requesterOf(auth, () => undefined)).toThrow(S3Error);
  });
});
