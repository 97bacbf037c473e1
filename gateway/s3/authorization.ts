/**
 * Who may do what: every routed request is authorized here, after routing
 * and name checks and before its operation runs.
 *
 * The model:
 * - an admin (the root credentials, or a user with role `admin`) may do
 *   everything, bucket policies included: an admin can always repair a
 *   policy that locks everyone else out;
 * - a regular user may do everything on the buckets it owns (the creator,
 *   recorded in the bucket record; buckets without a recorded owner belong
 *   to the admins) and what bucket policies grant it elsewhere;
 * - an explicit Deny in a bucket policy applies to every non-admin principal,
 *   the owner included, except the owner's Get/Put/DeleteBucketPolicy (so the
 *   owner can undo its own Deny, as S3 lets a bucket owner do);
 * - an anonymous request is allowed only where a policy grants it to `*`;
 *   ListBuckets and CreateBucket need a signed request.
 * - a request to a bucket that does not exist goes on to its operation,
 *   which answers NoSuchBucket (as S3 does).
 *
 * A bucket's owner and policy are cached per gateway for `accessCacheTtlMs`
 * (a policy change made through this gateway applies at once: its
 * operations call `forget`); other gateways of a fleet apply it within the
 * TTL.
 */
import type { ObjectBackend } from "../backend.ts";
import { S3Error } from "../errors.ts";
import type { Authenticated } from "../sigv4/index.ts";
import type { OperationName } from "./router.ts";
import { evaluateBucketPolicy, parseBucketPolicy, resourceArn, type BucketPolicy, type PolicyRequester } from "./policy.ts";

export type UserRole = "admin" | "user";

/** The signer of a request, or nobody. */
export type Requester =
  | { readonly kind: "anonymous" }
  | { readonly kind: "user"; readonly name: string; readonly accessKeyId: string; readonly role: UserRole };

/** Who an access key belongs to; undefined for a key the gateway's SecretLookup knows but no user table does. */
export type UserLookup = (accessKeyId: string) => { readonly name: string; readonly role: UserRole } | undefined;

/** The owner name of buckets created before owners were recorded, and of the root credentials. */
export const adminOwnerName = "root";

/** What a request asks to do, in policy terms. */
export interface RequestedAction {
  /** `s3:GetObject` etc. */
  readonly action: string;
  /** The object key for object actions; undefined for bucket actions. */
  readonly key?: string;
  /** ListBucket / ListBucketVersions condition values. */
  readonly prefix?: string;
  readonly delimiter?: string;
}

const bucketActions: Readonly<Partial<Record<OperationName, string>>> = {
  HeadBucket: "s3:ListBucket",
  DeleteBucket: "s3:DeleteBucket",
  GetBucketLocation: "s3:GetBucketLocation",
  ListObjectsV2: "s3:ListBucket",
  ListObjects: "s3:ListBucket",
  GetBucketVersioning: "s3:GetBucketVersioning",
  PutBucketVersioning: "s3:PutBucketVersioning",
  ListObjectVersions: "s3:ListBucketVersions",
  ListMultipartUploads: "s3:ListBucketMultipartUploads",
  GetBucketTagging: "s3:GetBucketTagging",
  PutBucketTagging: "s3:PutBucketTagging",
  DeleteBucketTagging: "s3:PutBucketTagging",
  GetBucketCors: "s3:GetBucketCORS",
  PutBucketCors: "s3:PutBucketCORS",
  DeleteBucketCors: "s3:PutBucketCORS",
  GetBucketPolicy: "s3:GetBucketPolicy",
  PutBucketPolicy: "s3:PutBucketPolicy",
  DeleteBucketPolicy: "s3:DeleteBucketPolicy",
  GetBucketPolicyStatus: "s3:GetBucketPolicyStatus",
  GetBucketAcl: "s3:GetBucketAcl",
  PutBucketAcl: "s3:PutBucketAcl",
};

/** Object actions; `[plain, with versionId]` where S3 names a separate version permission. */
const objectActions: Readonly<Partial<Record<OperationName, readonly [string, string]>>> = {
  PutObject: ["s3:PutObject", "s3:PutObject"],
  GetObject: ["s3:GetObject", "s3:GetObjectVersion"],
  HeadObject: ["s3:GetObject", "s3:GetObjectVersion"],
  DeleteObject: ["s3:DeleteObject", "s3:DeleteObjectVersion"],
  CreateMultipartUpload: ["s3:PutObject", "s3:PutObject"],
  UploadPart: ["s3:PutObject", "s3:PutObject"],
  UploadPartCopy: ["s3:PutObject", "s3:PutObject"],
  CompleteMultipartUpload: ["s3:PutObject", "s3:PutObject"],
  AbortMultipartUpload: ["s3:AbortMultipartUpload", "s3:AbortMultipartUpload"],
  ListParts: ["s3:ListMultipartUploadParts", "s3:ListMultipartUploadParts"],
  CopyObject: ["s3:PutObject", "s3:PutObject"],
  GetObjectTagging: ["s3:GetObjectTagging", "s3:GetObjectVersionTagging"],
  PutObjectTagging: ["s3:PutObjectTagging", "s3:PutObjectVersionTagging"],
  DeleteObjectTagging: ["s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"],
  GetObjectAcl: ["s3:GetObjectAcl", "s3:GetObjectVersionAcl"],
  PutObjectAcl: ["s3:PutObjectAcl", "s3:PutObjectVersionAcl"],
};

/** The policy operations a bucket's owner keeps through its own Deny. */
const ownerKeeps: ReadonlySet<string> = new Set(["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"]);

/**
 * The action an operation asks for, in policy terms. Undefined for
 * ListBuckets and CreateBucket (no bucket to hold a policy yet: any signed
 * request may) and DeleteObjects (authorized key by key, `s3:DeleteObject`,
 * inside the operation).
 */
export function requestedAction(name: OperationName, key: string, query: ReadonlyMap<string, string>): RequestedAction | undefined {
  const bucketAction = bucketActions[name];
  if (bucketAction !== undefined) {
    if (bucketAction === "s3:ListBucket" || bucketAction === "s3:ListBucketVersions") {
      // HeadBucket lists nothing: no prefix key, as S3 sets it only on listings.
      if (name === "HeadBucket") return { action: bucketAction };
      return { action: bucketAction, prefix: query.get("prefix") ?? "", ...(query.has("delimiter") ? { delimiter: query.get("delimiter")! } : {}) };
    }
    return { action: bucketAction };
  }
  const pair = objectActions[name];
  if (pair !== undefined) return { action: query.has("versionId") ? pair[1] : pair[0], key };
  return undefined;
}

/** A bucket as authorization sees it. */
export interface BucketAccess {
  readonly owner: string;
  readonly policy: BucketPolicy | undefined;
}

/** Where a request came from, for conditions. */
export interface RequestOrigin {
  readonly sourceIp: string;
  readonly secureTransport: boolean;
}

function policyRequester(requester: Requester): PolicyRequester {
  return requester.kind === "anonymous" ? requester : { kind: "user", name: requester.name, accessKeyId: requester.accessKeyId };
}

/** True when `requester` may do `requested` on `bucket` (see the model at the top of this file). */
export function isAllowed(requester: Requester, bucket: string, access: BucketAccess, requested: RequestedAction, origin: RequestOrigin): boolean {
  if (requester.kind === "user" && requester.role === "admin") return true;
  const decision =
    access.policy === undefined
      ? "NoDecision"
      : evaluateBucketPolicy(access.policy, {
          requester: policyRequester(requester),
          action: requested.action,
          resource: resourceArn(bucket, requested.key),
          sourceIp: origin.sourceIp,
          secureTransport: origin.secureTransport,
          ...(requested.prefix === undefined ? {} : { prefix: requested.prefix }),
          ...(requested.delimiter === undefined ? {} : { delimiter: requested.delimiter }),
        });
  const isOwner = requester.kind === "user" && requester.name === access.owner;
  if (decision === "Deny") return isOwner && ownerKeeps.has(requested.action);
  return isOwner || decision === "Allow";
}

/** True when `requester` owns `owner`'s buckets for listing and CreateBucket replies (admins see every bucket). */
export function ownsBucket(requester: Requester, owner: string | undefined): boolean {
  if (requester.kind === "anonymous") return false;
  return requester.role === "admin" || requester.name === (owner ?? adminOwnerName);
}

/** The owner name a bucket created by `requester` records. */
export function ownerNameOf(requester: Requester): string {
  return requester.kind === "user" ? requester.name : adminOwnerName;
}

/** How long a gateway trusts its cached copy of a bucket's owner and policy. */
export const accessCacheTtlMs = 1_000;
/** Buckets whose owner and policy a gateway caches; the oldest entry goes first. */
export const accessCacheEntriesMax = 4_096;

interface CachedAccess {
  readonly access: BucketAccess | "no-such-bucket";
  readonly loadedMs: number;
}

/**
 * Per-gateway cache of each bucket's owner and parsed policy: one
 * `headBucket` and one policy read per bucket per TTL instead of two reads
 * per request.
 */
export class BucketAccessCache {
  readonly #backend: ObjectBackend;
  readonly #ttlMs: number;
  readonly #entries = new Map<string, CachedAccess>();

  constructor(backend: ObjectBackend, ttlMs = accessCacheTtlMs) {
    this.#backend = backend;
    this.#ttlMs = ttlMs;
  }

  /** The bucket's owner and policy, read from the backend when not cached or older than the TTL. */
  async get(bucket: string, nowMs: number): Promise<BucketAccess | "no-such-bucket"> {
    const cached = this.#entries.get(bucket);
    if (cached !== undefined && nowMs - cached.loadedMs < this.#ttlMs && nowMs >= cached.loadedMs) return cached.access;
    const access = await this.#load(bucket);
    this.#entries.delete(bucket);
    if (this.#entries.size >= accessCacheEntriesMax) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(bucket, { access, loadedMs: nowMs });
    return access;
  }

  /** Drops a bucket's entry: its policy or existence changed through this gateway. */
  forget(bucket: string): void {
    this.#entries.delete(bucket);
  }

  async #load(bucket: string): Promise<BucketAccess | "no-such-bucket"> {
    const info = await this.#backend.headBucket(bucket);
    if (info === undefined) return "no-such-bucket";
    const text = await this.#backend.getBucketConfiguration(bucket, "policy");
    if (text === "no-such-bucket") return "no-such-bucket";
    // A stored policy passed this parser when it was put; should a later,
    // stricter parser refuse it, the request fails (500) rather than run
    // unprotected.
    const policy = text === undefined ? undefined : parseBucketPolicy(text, bucket);
    return { owner: info.owner ?? adminOwnerName, policy };
  }
}

/** Throws AccessDenied unless allowed. */
export function assertAllowed(requester: Requester, bucket: string, access: BucketAccess, requested: RequestedAction, origin: RequestOrigin): void {
  if (!isAllowed(requester, bucket, access, requested, origin)) throw new S3Error("AccessDenied");
}

export interface AuthorizeInput {
  readonly name: OperationName;
  readonly requester: Requester;
  readonly bucket: string;
  readonly key: string;
  readonly query: ReadonlyMap<string, string>;
  readonly headers: ReadonlyMap<string, string>;
  readonly origin: RequestOrigin;
  readonly cache: BucketAccessCache;
  readonly nowMs: number;
}

/**
 * Authorizes a routed request; throws AccessDenied when it may not run.
 * Returns the bucket's access (for per-key checks inside DeleteObjects), or
 * undefined when none applies (admins, bucket-less operations, a bucket that
 * does not exist).
 */
export async function authorizeOperation(input: AuthorizeInput): Promise<BucketAccess | undefined> {
  const { requester } = input;
  if (input.name === "ListBuckets" || input.name === "CreateBucket") {
    if (requester.kind === "anonymous") throw new S3Error("AccessDenied");
    return undefined;
  }
  if (requester.kind === "user" && requester.role === "admin") return undefined;
  const access = await input.cache.get(input.bucket, input.nowMs);
  if (access === "no-such-bucket") return undefined;
  const requested = requestedAction(input.name, input.key, input.query);
  if (requested !== undefined) assertAllowed(requester, input.bucket, access, requested, input.origin);
  if (input.name === "CopyObject" || input.name === "UploadPartCopy") {
    const source = parseCopySource(input.headers.get("x-amz-copy-source"));
    if (source !== undefined) {
      const sourceAccess = await input.cache.get(source.bucket, input.nowMs);
      if (sourceAccess !== "no-such-bucket") {
        const action = source.versionId === undefined ? "s3:GetObject" : "s3:GetObjectVersion";
        assertAllowed(requester, source.bucket, sourceAccess, { action, key: source.key }, input.origin);
      }
    }
  }
  return access;
}

/**
 * `x-amz-copy-source`: `[/]bucket/key[?versionId=id]`, URL-encoded. Undefined
 * when it cannot be read; the operation then refuses it with its own error.
 */
export function parseCopySource(header: string | undefined): { bucket: string; key: string; versionId?: string } | undefined {
  if (header === undefined) return undefined;
  const [pathPart, queryPart] = header.split("?", 2) as [string, string | undefined];
  let path: string;
  try {
    path = decodeURIComponent(pathPart.startsWith("/") ? pathPart.slice(1) : pathPart);
  } catch {
    return undefined;
  }
  const slash = path.indexOf("/");
  if (slash <= 0 || slash === path.length - 1) return undefined;
  const versionId = queryPart === undefined ? undefined : (new URLSearchParams(queryPart).get("versionId") ?? undefined);
  return { bucket: path.slice(0, slash), key: path.slice(slash + 1), ...(versionId === undefined ? {} : { versionId }) };
}

const hexSha256Pattern = /^[0-9a-fA-F]{64}$/;

/**
 * How the body of an anonymous request is checked: there is no signature,
 * so a hex `x-amz-content-sha256` is still verified, an unsigned trailer is
 * accepted, and a signed streaming mode (which needs a signature to chain
 * from) is refused.
 */
export function anonymousAuthentication(headers: ReadonlyMap<string, string>): Authenticated {
  const line = headers.get("x-amz-content-sha256");
  const anonymous = { accessKeyId: "", presigned: false };
  if (line === undefined || line === "UNSIGNED-PAYLOAD") return { ...anonymous, payload: { kind: "unsigned" } };
  if (hexSha256Pattern.test(line)) return { ...anonymous, payload: { kind: "sha256", expectedHex: line.toLowerCase() } };
  if (line === "STREAMING-UNSIGNED-PAYLOAD-TRAILER") return { ...anonymous, payload: { kind: "streaming", signed: false, trailer: true } };
  throw new S3Error("InvalidRequest", `x-amz-content-sha256 ${line} needs a signed request`);
}

/** The requester behind an authentication result. */
export function requesterOf(auth: Authenticated | undefined, lookupUser: UserLookup | undefined): Requester {
  if (auth === undefined) return { kind: "anonymous" };
  // Without a user table every signed request is an admin: the one-tenant behaviour.
  const user = lookupUser === undefined ? { name: adminOwnerName, role: "admin" as const } : lookupUser(auth.accessKeyId);
  // The signature verified, so the key was known a moment ago: a user removed since is refused.
  if (user === undefined) throw new S3Error("InvalidAccessKeyId", undefined, { AWSAccessKeyId: auth.accessKeyId });
  return { kind: "user", name: user.name, accessKeyId: auth.accessKeyId, role: user.role };
}
