/**
 * The routing table: (method, bucket?/key?, sub-resource query parameters,
 * a few headers) → the S3 operation, named as AWS names it.
 *
 * Anything this gateway does not implement is routed to NotImplemented (501)
 * rather than falling through to a neighbouring operation: a request that
 * asks for tagging, a multipart step or a copy must never get a
 * plain GET/PUT's success. For the same reason every operation lists the
 * query parameters it understands, and any other parameter is a 501.
 *
 * ACL headers on writes are not a 501: S3 with ACLs disabled (every bucket
 * here, see acl.ts) accepts the canned ACLs that change nothing and refuses
 * the rest with a 400, and so does this router, before any body is read.
 */
import { S3Error, type S3ErrorCode } from "../errors.ts";
import { createBucketAclRule, objectWriteAclRule, refusedAclHeader, type AclHeaderRule } from "./acl.ts";

export type OperationName =
  | "ListBuckets"
  | "CreateBucket"
  | "HeadBucket"
  | "DeleteBucket"
  | "GetBucketLocation"
  | "PutObject"
  | "GetObject"
  | "HeadObject"
  | "DeleteObject"
  | "DeleteObjects"
  | "ListObjectsV2"
  | "ListObjects"
  | "GetBucketVersioning"
  | "PutBucketVersioning"
  | "ListObjectVersions"
  | "CreateMultipartUpload"
  | "UploadPart"
  | "UploadPartCopy"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "ListParts"
  | "ListMultipartUploads"
  | "CopyObject"
  | "GetObjectTagging"
  | "PutObjectTagging"
  | "DeleteObjectTagging"
  | "GetBucketTagging"
  | "PutBucketTagging"
  | "DeleteBucketTagging"
  | "GetBucketCors"
  | "PutBucketCors"
  | "DeleteBucketCors"
  | "GetBucketPolicy"
  | "PutBucketPolicy"
  | "DeleteBucketPolicy"
  | "GetBucketPolicyStatus"
  | "GetBucketAcl"
  | "PutBucketAcl"
  | "GetObjectAcl"
  | "PutObjectAcl";

export type Route =
  | { readonly kind: "operation"; readonly name: OperationName }
  /** `operation` is the AWS name when known (e.g. "GetBucketTagging"), for the message and logs. */
  | { readonly kind: "not-implemented"; readonly operation: string; readonly reason: string }
  | { readonly kind: "method-not-allowed" }
  /** A request S3 refuses outright from its headers (an ACL on a bucket with ACLs disabled): `code` is the error reply. */
  | { readonly kind: "refused"; readonly operation: OperationName; readonly code: S3ErrorCode };

export interface RouteInput {
  readonly method: string;
  readonly bucket: string;
  readonly key: string;
  readonly query: ReadonlyMap<string, string>;
  readonly headers: ReadonlyMap<string, string>;
}

/** Query parameters that carry a signature or SDK bookkeeping, accepted everywhere. */
const signatureParameters: ReadonlySet<string> = new Set([
  "x-amz-algorithm",
  "x-amz-credential",
  "x-amz-date",
  "x-amz-expires",
  "x-amz-signedheaders",
  "x-amz-signature",
  "x-amz-security-token",
  "x-amz-content-sha256",
  "x-amz-user-agent",
  "x-id",
]);

/** Bucket sub-resources and the noun AWS uses in the operation's name. */
const bucketSubresources: Readonly<Record<string, string>> = {
  accelerate: "BucketAccelerateConfiguration",
  acl: "BucketAcl",
  analytics: "BucketAnalyticsConfiguration",
  cors: "BucketCors",
  encryption: "BucketEncryption",
  "intelligent-tiering": "BucketIntelligentTieringConfiguration",
  inventory: "BucketInventoryConfiguration",
  lifecycle: "BucketLifecycleConfiguration",
  location: "BucketLocation",
  logging: "BucketLogging",
  metadataTable: "BucketMetadataTableConfiguration",
  metrics: "BucketMetricsConfiguration",
  notification: "BucketNotificationConfiguration",
  "object-lock": "ObjectLockConfiguration",
  ownershipControls: "BucketOwnershipControls",
  policy: "BucketPolicy",
  policyStatus: "BucketPolicyStatus",
  publicAccessBlock: "PublicAccessBlock",
  replication: "BucketReplication",
  requestPayment: "BucketRequestPayment",
  session: "Session",
  tagging: "BucketTagging",
  uploads: "MultipartUploads",
  versioning: "BucketVersioning",
  versions: "ObjectVersions",
  website: "BucketWebsite",
  delete: "Objects",
};

/** Object sub-resources (and version/part selectors) and the noun AWS uses. */
const objectSubresources: Readonly<Record<string, string>> = {
  acl: "ObjectAcl",
  attributes: "ObjectAttributes",
  "legal-hold": "ObjectLegalHold",
  partNumber: "ObjectPart",
  renameObject: "RenameObject",
  restore: "RestoreObject",
  retention: "ObjectRetention",
  select: "SelectObjectContent",
  tagging: "ObjectTagging",
  torrent: "ObjectTorrent",
  uploadId: "MultipartUpload",
  uploads: "MultipartUpload",
};

const verbByMethod: Readonly<Record<string, string>> = { GET: "Get", HEAD: "Head", PUT: "Put", DELETE: "Delete", POST: "Post" };

const listObjectsParameters = ["prefix", "delimiter", "marker", "max-keys", "encoding-type"];
const listObjectVersionsParameters = ["versions", "prefix", "delimiter", "key-marker", "version-id-marker", "max-keys", "encoding-type"];
const listObjectsV2Parameters = ["list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after", "fetch-owner", "encoding-type"];
const responseOverrideParameters = [
  "response-content-type",
  "response-content-language",
  "response-expires",
  "response-cache-control",
  "response-content-disposition",
  "response-content-encoding",
];

const readObjectParameters = ["versionId", ...responseOverrideParameters];
const listMultipartUploadsParameters = ["uploads", "prefix", "delimiter", "key-marker", "upload-id-marker", "max-uploads", "encoding-type"];
const listPartsParameters = ["uploadId", "max-parts", "part-number-marker"];

/** Bucket sub-resources implemented with GET, PUT and DELETE (configuration documents). */
const bucketConfigurations: Readonly<Record<string, { readonly noun: string; readonly methods: readonly string[] }>> = {
  tagging: { noun: "BucketTagging", methods: ["GET", "PUT", "DELETE"] },
  cors: { noun: "BucketCors", methods: ["GET", "PUT", "DELETE"] },
  policy: { noun: "BucketPolicy", methods: ["GET", "PUT", "DELETE"] },
  policyStatus: { noun: "BucketPolicyStatus", methods: ["GET"] },
  // With ACLs disabled GET always shows the owner's full control and PUT is refused (acl.ts).
  acl: { noun: "BucketAcl", methods: ["GET", "PUT"] },
};

function notImplemented(operation: string, reason: string): Route {
  return { kind: "not-implemented", operation, reason };
}

/** The first query parameter neither a signature parameter nor in `allowed`. */
function unexpectedParameter(query: ReadonlyMap<string, string>, allowed: readonly string[]): string | undefined {
  for (const name of query.keys()) {
    if (signatureParameters.has(name.toLowerCase())) continue;
    if (!allowed.includes(name)) return name;
  }
  return undefined;
}

/** A header whose presence (optionally with a value other than `acceptedValue`) asks for unimplemented behaviour. */
function unsupportedHeader(headers: ReadonlyMap<string, string>, rules: readonly HeaderRule[]): string | undefined {
  for (const [name, value] of headers) {
    for (const rule of rules) {
      const matches = rule.prefix ? name.startsWith(rule.name) : name === rule.name;
      if (!matches) continue;
      if (rule.acceptedValues !== undefined && rule.acceptedValues.includes(value.trim())) continue;
      return name;
    }
  }
  return undefined;
}

interface HeaderRule {
  readonly name: string;
  readonly prefix?: boolean;
  readonly acceptedValues?: readonly string[];
}

const putObjectRules: readonly HeaderRule[] = [
  { name: "x-amz-server-side-encryption", prefix: true },
  { name: "x-amz-object-lock-", prefix: true },
  { name: "x-amz-website-redirect-location" },
  { name: "x-amz-write-offset-bytes" },
  // A write's If-None-Match takes only "*" (S3 knows no other); If-Match is implemented.
  { name: "if-none-match", acceptedValues: ["*"] },
];
const copyObjectRules: readonly HeaderRule[] = [
  { name: "x-amz-server-side-encryption", prefix: true },
  { name: "x-amz-copy-source-server-side-encryption-customer-", prefix: true },
  { name: "x-amz-object-lock-", prefix: true },
  { name: "x-amz-website-redirect-location" },
  { name: "if-none-match", acceptedValues: ["*"] },
];
const createMultipartUploadRules: readonly HeaderRule[] = [
  { name: "x-amz-server-side-encryption", prefix: true },
  { name: "x-amz-object-lock-", prefix: true },
  { name: "x-amz-website-redirect-location" },
];
const uploadPartRules: readonly HeaderRule[] = [
  { name: "x-amz-server-side-encryption-customer-", prefix: true },
  { name: "x-amz-copy-source-server-side-encryption-customer-", prefix: true },
];
const completeMultipartUploadRules: readonly HeaderRule[] = [
  // As on PutObject: If-None-Match takes only "*"; If-Match is a commit-time condition.
  { name: "if-none-match", acceptedValues: ["*"] },
  { name: "x-amz-mp-object-size" },
];
const createBucketRules: readonly HeaderRule[] = [
  { name: "x-amz-bucket-object-lock-enabled", acceptedValues: ["false"] },
  { name: "x-amz-object-ownership", acceptedValues: ["BucketOwnerEnforced"] },
];
const readObjectRules: readonly HeaderRule[] = [{ name: "x-amz-server-side-encryption-customer-", prefix: true }];
const deleteObjectRules: readonly HeaderRule[] = [
  // If-Match is implemented (a conditional delete); these two are S3's for directory buckets only.
  { name: "x-amz-if-match-last-modified-time" },
  { name: "x-amz-if-match-size" },
];

/**
 * Routes to `name` unless a query parameter or header asks for what is not
 * implemented (501) or, with `aclRule`, the request asks for an ACL the
 * bucket cannot have (refused). The 501s come first: a request that also
 * asks for, say, ObjectWriter ownership is told that is not implemented,
 * rather than that its ACL clashes with an ownership it did not ask for.
 */
function withChecks(
  name: OperationName,
  input: RouteInput,
  allowedParameters: readonly string[],
  headerRules: readonly HeaderRule[],
  aclRule?: AclHeaderRule,
): Route {
  const parameter = unexpectedParameter(input.query, allowedParameters);
  if (parameter !== undefined) return notImplemented(name, `The query parameter '${parameter}' is not implemented for ${name}.`);
  const header = unsupportedHeader(input.headers, headerRules);
  if (header !== undefined) return notImplemented(name, `The header '${header}' is not implemented for ${name}.`);
  if (aclRule !== undefined && refusedAclHeader(input.headers, aclRule.acceptedCannedAcls) !== undefined) {
    return { kind: "refused", operation: name, code: aclRule.refusal };
  }
  return { kind: "operation", name };
}

function routeService(input: RouteInput): Route {
  if (input.method !== "GET") return { kind: "method-not-allowed" };
  // Paging and filtering of ListBuckets come later; answering them with the
  // full list would be a wrong success.
  return withChecks("ListBuckets", input, [], []);
}

function routeBucket(input: RouteInput): Route {
  const { method, query } = input;
  const verb = verbByMethod[method];
  if (verb === undefined) return { kind: "method-not-allowed" };
  for (const name of query.keys()) {
    const noun = bucketSubresources[name];
    if (noun === undefined) continue;
    if (name === "location" && method === "GET") return withChecks("GetBucketLocation", input, ["location"], []);
    if (name === "delete" && method === "POST") return withChecks("DeleteObjects", input, ["delete"], []);
    if (name === "delete") return { kind: "method-not-allowed" };
    if (name === "versioning" && method === "GET") return withChecks("GetBucketVersioning", input, ["versioning"], []);
    if (name === "versioning" && method === "PUT") return withChecks("PutBucketVersioning", input, ["versioning"], []);
    if (name === "versions" && method === "GET") return withChecks("ListObjectVersions", input, listObjectVersionsParameters, []);
    // S3 has no other method on these two; answering 501 would suggest one is coming.
    if (name === "versioning" || name === "versions") return { kind: "method-not-allowed" };
    if (name === "uploads" && method === "GET") return withChecks("ListMultipartUploads", input, listMultipartUploadsParameters, []);
    const configuration = bucketConfigurations[name];
    if (configuration !== undefined && configuration.methods.includes(method)) {
      return withChecks(`${verb}${configuration.noun}` as OperationName, input, [name], []);
    }
    const operation = name === "uploads" && method === "GET" ? "ListMultipartUploads" : name === "versions" ? "ListObjectVersions" : `${verb}${noun}`;
    return notImplemented(operation, `The ${operation} operation is not implemented.`);
  }
  switch (method) {
    case "GET": {
      const listType = query.get("list-type");
      if (listType === undefined) return withChecks("ListObjects", input, listObjectsParameters, []);
      if (listType !== "2") throw new S3Error("InvalidArgument", "Invalid list type.", { ArgumentName: "list-type", ArgumentValue: listType });
      return withChecks("ListObjectsV2", input, listObjectsV2Parameters, []);
    }
    case "HEAD":
      return withChecks("HeadBucket", input, [], []);
    case "PUT":
      return withChecks("CreateBucket", input, [], createBucketRules, createBucketAclRule);
    case "DELETE":
      return withChecks("DeleteBucket", input, [], []);
    case "POST":
      return notImplemented("PostObject", "Browser-based uploads (POST Object) are not implemented.");
    default:
      return { kind: "method-not-allowed" };
  }
}

function routeObject(input: RouteInput): Route {
  const { method, query, headers } = input;
  const verb = verbByMethod[method];
  if (verb === undefined) return { kind: "method-not-allowed" };
  const multipart = multipartOperation(method, query, headers);
  if (multipart !== undefined) return multipart;
  if (query.has("tagging") && (method === "GET" || method === "PUT" || method === "DELETE")) {
    return withChecks(`${verb}ObjectTagging` as OperationName, input, ["tagging", "versionId"], []);
  }
  if (query.has("acl") && (method === "GET" || method === "PUT")) {
    return withChecks(`${verb}ObjectAcl` as OperationName, input, ["acl", "versionId"], []);
  }
  // `partNumber` on a GET or HEAD (without an uploadId, which the multipart steps took above) reads one part.
  if (query.has("partNumber") && (method === "GET" || method === "HEAD")) {
    return withChecks(method === "GET" ? "GetObject" : "HeadObject", input, [...readObjectParameters, "partNumber"], readObjectRules);
  }
  for (const name of query.keys()) {
    const noun = objectSubresources[name];
    if (noun === undefined) continue;
    const operation = `${verb}${noun}`;
    return notImplemented(operation, `The ${operation} operation is not implemented.`);
  }
  switch (method) {
    case "GET":
      return withChecks("GetObject", input, readObjectParameters, readObjectRules);
    case "HEAD":
      return withChecks("HeadObject", input, readObjectParameters, readObjectRules);
    case "PUT":
      if (headers.has("x-amz-copy-source")) return withChecks("CopyObject", input, [], copyObjectRules, objectWriteAclRule);
      return withChecks("PutObject", input, [], putObjectRules, objectWriteAclRule);
    case "DELETE":
      return withChecks("DeleteObject", input, ["versionId"], deleteObjectRules);
    case "POST":
      return notImplemented("PostObject", "POST on an object is not implemented.");
    default:
      return { kind: "method-not-allowed" };
  }
}

/** The multipart steps, told apart by `uploads`, `uploadId` and the method; undefined for any other request. */
function multipartOperation(method: string, query: ReadonlyMap<string, string>, headers: ReadonlyMap<string, string>): Route | undefined {
  const input = { method, bucket: "", key: "", query, headers };
  if (query.has("uploads")) {
    if (method !== "POST") return { kind: "method-not-allowed" };
    return withChecks("CreateMultipartUpload", input, ["uploads"], createMultipartUploadRules, objectWriteAclRule);
  }
  if (!query.has("uploadId")) return undefined;
  switch (method) {
    case "PUT":
      if (headers.has("x-amz-copy-source")) return withChecks("UploadPartCopy", input, ["uploadId", "partNumber"], uploadPartRules);
      return withChecks("UploadPart", input, ["uploadId", "partNumber"], uploadPartRules);
    case "POST":
      return withChecks("CompleteMultipartUpload", input, ["uploadId"], completeMultipartUploadRules);
    case "GET":
      return withChecks("ListParts", input, listPartsParameters, []);
    case "DELETE":
      return withChecks("AbortMultipartUpload", input, ["uploadId"], []);
    default:
      return { kind: "method-not-allowed" };
  }
}

/**
 * Whether a request is a CORS preflight: `OPTIONS` on a bucket or an object.
 * The handler answers it before authentication from the bucket's CORS rules
 * (cors.ts); `routeRequest` never sees one. `OPTIONS` on the service (no
 * bucket) is not a preflight S3 answers: it stays 405.
 */
export function isPreflight(input: Pick<RouteInput, "method" | "bucket">): boolean {
  return input.method === "OPTIONS" && input.bucket !== "";
}

/** Picks the operation for a request whose bucket and key are resolved. */
export function routeRequest(input: RouteInput): Route {
  const route = input.bucket === "" ? routeService(input) : input.key === "" ? routeBucket(input) : routeObject(input);
  // The SDKs name the operation they mean in `x-id`; one this gateway would answer as another
  // operation (ListDirectoryBuckets is a GET of the service, like ListBuckets) is not implemented.
  const named = input.query.get("x-id");
  const routedTo = route.kind === "operation" ? route.name : route.kind === "refused" ? route.operation : undefined;
  if (named !== undefined && routedTo !== undefined && named !== routedTo) {
    return notImplemented(named, `The ${named} operation is not implemented.`);
  }
  return route;
}
