/**
 * The S3 core: one function from a runtime-neutral request to a response.
 *
 *   request id → addressing → authenticate → route → validate names → operation
 *
 * Every failure becomes an S3 XML error reply here and nowhere else: an
 * `S3Error` as itself, a `FaultError` through `s3ErrorFromFault`, anything
 * else as InternalError (logged). The handler never throws, so one bad
 * request cannot take the process down.
 */
import { createHash } from "node:crypto";
import { assertNever, runWithRequestId } from "../../runtime/index.ts";
import { FaultError, type ObjectBackend } from "../backend.ts";
import { S3Error, s3ErrorFromFault } from "../errors.ts";
import type { S3Handler, S3Request, S3Response } from "../http.ts";
import { authenticate, type SecretLookup } from "../sigv4/index.ts";
import { parseQuery, resolveAddress } from "./addressing.ts";
import type { Operation, OperationContext, Owner } from "./context.ts";
import { createBucket } from "./operations/create-bucket.ts";
import { deleteBucket } from "./operations/delete-bucket.ts";
import { deleteObject } from "./operations/delete-object.ts";
import { deleteObjects } from "./operations/delete-objects.ts";
import { getBucketLocation } from "./operations/get-bucket-location.ts";
import { getBucketVersioning } from "./operations/get-bucket-versioning.ts";
import { getObject } from "./operations/get-object.ts";
import { headBucket } from "./operations/head-bucket.ts";
import { headObject } from "./operations/head-object.ts";
import { listBuckets } from "./operations/list-buckets.ts";
import { listObjects } from "./operations/list-objects.ts";
import { listObjectVersions } from "./operations/list-object-versions.ts";
import { listObjectsV2 } from "./operations/list-objects-v2.ts";
import { putBucketVersioning } from "./operations/put-bucket-versioning.ts";
import { putObject } from "./operations/put-object.ts";
import { createMultipartUpload } from "./operations/create-multipart-upload.ts";
import { uploadPart } from "./operations/upload-part.ts";
import { uploadPartCopy } from "./operations/upload-part-copy.ts";
import { completeMultipartUpload } from "./operations/complete-multipart-upload.ts";
import { abortMultipartUpload } from "./operations/abort-multipart-upload.ts";
import { listParts } from "./operations/list-parts.ts";
import { listMultipartUploads } from "./operations/list-multipart-uploads.ts";
import { copyObject } from "./operations/copy-object.ts";
import { getObjectTagging } from "./operations/get-object-tagging.ts";
import { putObjectTagging } from "./operations/put-object-tagging.ts";
import { deleteObjectTagging } from "./operations/delete-object-tagging.ts";
import { getBucketTagging } from "./operations/get-bucket-tagging.ts";
import { putBucketTagging } from "./operations/put-bucket-tagging.ts";
import { deleteBucketTagging } from "./operations/delete-bucket-tagging.ts";
import { getBucketCors } from "./operations/get-bucket-cors.ts";
import { putBucketCors } from "./operations/put-bucket-cors.ts";
import { deleteBucketCors } from "./operations/delete-bucket-cors.ts";
import { getBucketPolicy } from "./operations/get-bucket-policy.ts";
import { putBucketPolicy } from "./operations/put-bucket-policy.ts";
import { deleteBucketPolicy } from "./operations/delete-bucket-policy.ts";
import { getBucketPolicyStatus } from "./operations/get-bucket-policy-status.ts";
import { getBucketAcl } from "./operations/get-bucket-acl.ts";
import { putBucketAcl } from "./operations/put-bucket-acl.ts";
import { getObjectAcl } from "./operations/get-object-acl.ts";
import { putObjectAcl } from "./operations/put-object-acl.ts";
import { isPreflight, routeRequest, type OperationName } from "./router.ts";
import { corsHeadersFor, servePreflight } from "./cors-response.ts";
import {
  anonymousAuthentication,
  authorizeOperation,
  BucketAccessCache,
  isAllowed,
  requesterOf,
  type UserLookup,
} from "./authorization.ts";
import { assertValidBucketName, assertValidKey } from "./validation.ts";
import { writeXmlDocument, xmlElement, xmlText } from "./xml.ts";
import type { RequestObserver } from "../metrics/request-observer.ts";

export interface S3HandlerOptions {
  readonly backend: ObjectBackend;
  readonly lookupSecret: SecretLookup;
  /**
   * Who an access key belongs to (name and role), for authorization
   * (`authorization.ts`). Without it every signed request acts as an admin:
   * the one-tenant behaviour tests and single-user gateways keep.
   */
  readonly lookupUser?: UserLookup;
  /** Wall-clock time, for signature expiry and skew checks. */
  readonly nowMs: () => number;
  readonly newRequestId: () => string;
  /** Domains under which `<bucket>.<domain>` selects virtual-hosted addressing, e.g. ["localhost"]. */
  readonly virtualHostDomains: readonly string[];
  readonly region: string;
  /** Receives one entry per request and one per internal error. */
  readonly log?: (entry: Record<string, unknown>) => void;
  /**
   * Measures each request (gateway/metrics). When given, the per-request
   * entry goes to the observer instead of `log`, which writes it once the
   * response body has ended, with duration and bytes.
   */
  readonly observer?: RequestObserver;
}

const operations: Readonly<Record<OperationName, Operation>> = {
  ListBuckets: listBuckets,
  CreateBucket: createBucket,
  HeadBucket: headBucket,
  DeleteBucket: deleteBucket,
  GetBucketLocation: getBucketLocation,
  PutObject: putObject,
  GetObject: getObject,
  HeadObject: headObject,
  DeleteObject: deleteObject,
  DeleteObjects: deleteObjects,
  ListObjectsV2: listObjectsV2,
  ListObjects: listObjects,
  GetBucketVersioning: getBucketVersioning,
  PutBucketVersioning: putBucketVersioning,
  ListObjectVersions: listObjectVersions,
  CreateMultipartUpload: createMultipartUpload,
  UploadPart: uploadPart,
  UploadPartCopy: uploadPartCopy,
  CompleteMultipartUpload: completeMultipartUpload,
  AbortMultipartUpload: abortMultipartUpload,
  ListParts: listParts,
  ListMultipartUploads: listMultipartUploads,
  CopyObject: copyObject,
  GetObjectTagging: getObjectTagging,
  PutObjectTagging: putObjectTagging,
  DeleteObjectTagging: deleteObjectTagging,
  GetBucketTagging: getBucketTagging,
  PutBucketTagging: putBucketTagging,
  DeleteBucketTagging: deleteBucketTagging,
  GetBucketCors: getBucketCors,
  PutBucketCors: putBucketCors,
  DeleteBucketCors: deleteBucketCors,
  GetBucketPolicy: getBucketPolicy,
  PutBucketPolicy: putBucketPolicy,
  DeleteBucketPolicy: deleteBucketPolicy,
  GetBucketPolicyStatus: getBucketPolicyStatus,
  GetBucketAcl: getBucketAcl,
  PutBucketAcl: putBucketAcl,
  GetObjectAcl: getObjectAcl,
  PutObjectAcl: putObjectAcl,
};

/** Builds the S3 request handler over a backend. */
export function createS3Handler(options: S3HandlerOptions): S3Handler {
  const accessCache = new BucketAccessCache(options.backend);
  return (arriving) => {
    const requestId = options.newRequestId();
    // Everything the request does, on this node and (through the transport's
    // envelope) on others, runs in its context, so actors' logs name it.
    return runWithRequestId(requestId, () => handleRequest(arriving, requestId));
  };
  async function handleRequest(arriving: S3Request, requestId: string): Promise<S3Response> {
    const observation = options.observer?.begin(arriving, requestId);
    const request = observation?.request ?? arriving;
    const identity = { "x-amz-request-id": requestId, "x-amz-id-2": hostIdFor(requestId) };
    let operation = "Unknown";
    let code: string | undefined;
    let response: S3Response;
    try {
      const routed = await serve(request, requestId, options, accessCache, (name) => {
        operation = name;
      });
      response = { ...routed, headers: { ...routed.headers, ...identity } };
      if (response.body !== undefined && typeof response.body !== "string" && !(response.body instanceof Uint8Array)) {
        response = { ...response, body: inRequestContext(logStreamFailure(response.body, options, requestId, operation), requestId) };
      }
    } catch (error) {
      const s3Error = toS3Error(error, options, requestId, operation);
      code = s3Error.code;
      response = errorResponse(s3Error, request, requestId, identity);
    }
    // The one place ordinary replies (errors too) gain Access-Control-* headers; a preflight built its own.
    if (request.method !== "OPTIONS" && request.headers.has("origin")) {
      const cors = await corsHeadersFor(request, bucketOf(request, options), options.backend);
      if (Object.keys(cors).length > 0) response = { ...response, headers: { ...response.headers, ...cors } };
    }
    const answer = { requestId, method: request.method, path: request.rawPath, operation, status: response.status, ...(code === undefined ? {} : { code }) };
    if (observation === undefined) {
      options.log?.(answer);
      return response;
    }
    return observation.answered(response, answer);
  }
}

async function serve(
  request: S3Request,
  requestId: string,
  options: S3HandlerOptions,
  accessCache: BucketAccessCache,
  named: (operation: string) => void,
): Promise<S3Response> {
  const address = resolveAddress(request.rawPath, request.headers.get("host"), options.virtualHostDomains);
  const query = parseQuery(request.rawQuery);
  // A CORS preflight carries no credentials (browsers never sign one): it is answered from the bucket's rules alone.
  if (isPreflight({ method: request.method, bucket: address.bucket })) {
    named("PreflightRequest");
    assertValidBucketName(address.bucket);
    return servePreflight(request, address.bucket, options.backend);
  }
  const nowMs = options.nowMs();
  const auth = authenticate(
    { method: request.method, rawPath: request.rawPath, rawQuery: request.rawQuery, headers: request.headers },
    options.lookupSecret,
    nowMs,
  );
  // An unsigned request is anonymous: authorization below lets it through only where a bucket policy grants `*`.
  const requester = requesterOf(auth, options.lookupUser);
  const route = routeRequest({ method: request.method, bucket: address.bucket, key: address.key, query, headers: request.headers });
  switch (route.kind) {
    case "method-not-allowed":
      throw new S3Error("MethodNotAllowed", undefined, { Method: request.method, ResourceType: address.key === "" ? "BUCKET" : "OBJECT" });
    case "not-implemented":
      named(route.operation);
      throw new S3Error("NotImplemented", route.reason);
    case "refused":
      named(route.operation);
      throw new S3Error(route.code);
    case "operation":
      break;
    default:
      assertNever(route);
  }
  named(route.name);
  if (address.bucket !== "") assertValidBucketName(address.bucket);
  if (address.key !== "") assertValidKey(address.key);
  const origin = { sourceIp: request.remoteAddress, secureTransport: false };
  const access = await authorizeOperation({
    name: route.name,
    requester,
    bucket: address.bucket,
    key: address.key,
    query,
    headers: request.headers,
    origin,
    cache: accessCache,
    nowMs,
  });
  const context: OperationContext = {
    request,
    bucket: address.bucket,
    key: address.key,
    query,
    auth: auth ?? anonymousAuthentication(request.headers),
    owner: ownerFor(auth?.accessKeyId ?? "anonymous"),
    requester,
    mayAccessKey: (action, key) => access === undefined || isAllowed(requester, address.bucket, access, { action, key }, origin),
    forgetBucketAccess: () => accessCache.forget(address.bucket),
    backend: options.backend,
    region: options.region,
    requestId,
    nowMs,
  };
  return operations[route.name](context);
}

/** The owner shown in listings: a stable canonical-looking id derived from the access key. */
function ownerFor(accessKeyId: string): Owner {
  return { id: createHash("sha256").update(`cairn-owner:${accessKeyId}`).digest("hex"), displayName: accessKeyId };
}

/** The bucket a request addresses, "" for none or an address that does not resolve (its error reply is already built). */
function bucketOf(request: S3Request, options: S3HandlerOptions): string {
  try {
    return resolveAddress(request.rawPath, request.headers.get("host"), options.virtualHostDomains).bucket;
  } catch {
    return "";
  }
}

/** `x-amz-id-2` is an opaque host id in S3; ours identifies the request too. */
function hostIdFor(requestId: string): string {
  return Buffer.from(`cairn/${requestId}`).toString("base64");
}

function toS3Error(error: unknown, options: S3HandlerOptions, requestId: string, operation: string): S3Error {
  if (error instanceof S3Error) return error;
  if (error instanceof FaultError) {
    options.log?.({ requestId, operation, level: "warn", fault: error.value.fault, detail: error.value.detail });
    return s3ErrorFromFault(error.value);
  }
  options.log?.({ requestId, operation, level: "error", message: "internal error", error: describeError(error) });
  return new S3Error("InternalError");
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
}

function errorResponse(
  error: S3Error,
  request: S3Request,
  requestId: string,
  identity: Record<string, string>,
): S3Response {
  const headers: Record<string, string> = { ...identity };
  Object.assign(headers, error.headers);
  if (request.method === "HEAD") return { status: error.status, headers };
  headers["content-type"] = "application/xml";
  const body = writeXmlDocument(
    xmlElement("Error", [
      xmlText("Code", error.code),
      xmlText("Message", error.message),
      ...Object.entries(error.extra).map(([name, value]) => xmlText(name, value)),
      xmlText("Resource", resourceOf(request.rawPath)),
      xmlText("RequestId", requestId),
      xmlText("HostId", hostIdFor(requestId)),
    ]),
    null,
  );
  return { status: error.status, headers, body };
}

function resourceOf(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    return rawPath;
  }
}

/**
 * Once a streaming body has started, the status line is gone: a failure can
 * only cut the connection. Log it so the cut is explained.
 */
async function* logStreamFailure(
  body: AsyncIterable<Uint8Array>,
  options: S3HandlerOptions,
  requestId: string,
  operation: string,
): AsyncGenerator<Uint8Array> {
  try {
    yield* body;
  } catch (error) {
    const detail = error instanceof FaultError ? `${error.value.fault}: ${error.value.detail}` : describeError(error);
    options.log?.({ requestId, operation, level: "error", message: "response body failed mid-stream", error: detail });
    throw error;
  }
}

/**
 * A response body pulled in the request's context. The adapter pulls it after
 * the handler returned, outside that context, and a GET reads its shards
 * while it is pulled: each pull runs in the context again. An iterator
 * object, not a generator, so a body closed before it started still closes
 * the inner one.
 */
function inRequestContext(body: AsyncIterable<Uint8Array>, requestId: string): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      const inner = runWithRequestId(requestId, () => body[Symbol.asyncIterator]());
      return {
        next: () => runWithRequestId(requestId, () => inner.next()),
        async return(value?: unknown): Promise<IteratorResult<Uint8Array>> {
          const result = await runWithRequestId(requestId, () => inner.return?.(value));
          return result ?? { done: true, value: undefined };
        },
      };
    },
  };
}
