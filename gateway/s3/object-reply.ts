/**
 * What GetObject and HeadObject share: the object's headers, `response-*`
 * overrides, conditional requests (rules in `preconditions.ts`) and the
 * range decision.
 */
import { assertNever } from "../../runtime/index.ts";
import type { ObjectInfo, ObjectPartWindow } from "../backend.ts";
import { S3Error } from "../errors.ts";
import type { S3Response } from "../http.ts";
import type { OperationContext } from "./context.ts";
import { partNumberParameter } from "./multipart.ts";
import { checkReadPreconditions, ifRangeHolds } from "./preconditions.ts";
import { parseRange } from "./range.ts";
import { deleteMarkerError, showsVersionIds, versionIdHeader, versionIdParameter } from "./versioning.ts";

/** How to answer a read: the byte window to stream, or a reply with no body. */
export type ReadPlan =
  | { readonly kind: "bytes"; readonly status: 200 | 206; readonly headers: Record<string, string>; readonly startBytes: number; readonly endBytesExclusive: number }
  | { readonly kind: "no-body"; readonly response: S3Response };

/** An object version found for GET/HEAD, and the version headers its reply carries. */
export interface FoundObject {
  readonly info: ObjectInfo;
  readonly versionHeaders: Record<string, string>;
}

/**
 * The version the request names (`versionId`, else the current one), or the
 * S3 error: NoSuchBucket, NoSuchKey, NoSuchVersion, or a delete marker's
 * 404/405 (see `deleteMarkerError`).
 */
export async function findObject(context: OperationContext): Promise<FoundObject> {
  const versionId = versionIdParameter(context);
  const found = await context.backend.headObject(context.bucket, context.key, versionId);
  if (found === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (found === "no-such-key") throw new S3Error("NoSuchKey", undefined, { Key: context.key });
  if (found === "no-such-version") throw new S3Error("NoSuchVersion", undefined, { Key: context.key, VersionId: versionId ?? "" });
  if ("deleteMarker" in found) throw deleteMarkerError(context, found.deleteMarker, versionId !== undefined);
  return { info: found, versionHeaders: versionIdHeader(found.versionId, await showsVersionIds(context, found.versionId)) };
}

/**
 * The part `partNumber` names (GetObject/HeadObject), or undefined without the parameter:
 * InvalidArgument outside 1–10,000, InvalidRequest beside a Range header (S3 takes one or the
 * other), 416 InvalidPartNumber past the object's last part.
 */
export async function partWindowOf(context: OperationContext, info: ObjectInfo): Promise<ObjectPartWindow | undefined> {
  if (!context.query.has("partNumber")) return undefined;
  const partNumber = partNumberParameter(context);
  if (context.request.headers.has("range")) throw new S3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter.");
  const window = await context.backend.objectPart(info, partNumber);
  if (window === "no-such-part") throw new S3Error("InvalidPartNumber", undefined, { PartNumberRequested: String(partNumber) });
  return window;
}

/** Decides status, headers and byte window for GET/HEAD of `info` (of one part of it, with `part`). */
export function planRead(context: OperationContext, info: ObjectInfo, part?: ObjectPartWindow): ReadPlan {
  const headers = objectHeaders(info, context.query);
  const precondition = checkReadPreconditions(info, context.request.headers, context.nowMs);
  if (precondition === "not-modified") {
    // A 304 carries the validators but no representation headers' body.
    const notModified: Record<string, string> = { etag: headers.etag!, "last-modified": headers["last-modified"]! };
    return { kind: "no-body", response: { status: 304, headers: notModified } };
  }
  if (part !== undefined) {
    const lengthBytes = part.endBytesExclusive - part.startBytes;
    headers["content-length"] = String(lengthBytes);
    // A multipart object's part is a slice of it (206, as S3 answers); part 1 of any other object is all of it.
    if (part.partsCount === undefined) return { kind: "bytes", status: 200, headers, startBytes: 0, endBytesExclusive: info.sizeBytes };
    headers["x-amz-mp-parts-count"] = String(part.partsCount);
    if (lengthBytes === 0) return { kind: "bytes", status: 200, headers, startBytes: part.startBytes, endBytesExclusive: part.endBytesExclusive };
    headers["content-range"] = `bytes ${part.startBytes}-${part.endBytesExclusive - 1}/${info.sizeBytes}`;
    return { kind: "bytes", status: 206, headers, startBytes: part.startBytes, endBytesExclusive: part.endBytesExclusive };
  }
  // If-Range (RFC 7233 §3.2): a Range whose validator no longer matches is ignored, and the whole object sent.
  const rangeHeader = ifRangeHolds(info, context.request.headers.get("if-range"), context.nowMs) ? context.request.headers.get("range") : undefined;
  const range = parseRange(rangeHeader, info.sizeBytes);
  switch (range.kind) {
    case "unsatisfiable":
      throw new RangeNotSatisfiable(info.sizeBytes, context.request.headers.get("range") ?? "");
    case "partial": {
      const lengthBytes = range.endBytesInclusive - range.startBytes + 1;
      headers["content-length"] = String(lengthBytes);
      headers["content-range"] = `bytes ${range.startBytes}-${range.endBytesInclusive}/${info.sizeBytes}`;
      return { kind: "bytes", status: 206, headers, startBytes: range.startBytes, endBytesExclusive: range.endBytesInclusive + 1 };
    }
    case "whole":
      headers["content-length"] = String(info.sizeBytes);
      return { kind: "bytes", status: 200, headers, startBytes: 0, endBytesExclusive: info.sizeBytes };
    default:
      return assertNever(range);
  }
}

/**
 * InvalidRange, carrying the `Content-Range: bytes * /size` header S3 sends
 * with a 416. The handler copies `headers` onto the error reply.
 */
export class RangeNotSatisfiable extends S3Error {
  constructor(sizeBytes: number, requested: string) {
    super("InvalidRange", undefined, { RangeRequested: requested, ActualObjectSize: String(sizeBytes) }, { "content-range": `bytes */${sizeBytes}` });
  }
}

const overrides: readonly (readonly [string, string])[] = [
  ["response-content-type", "content-type"],
  ["response-content-language", "content-language"],
  ["response-expires", "expires"],
  ["response-cache-control", "cache-control"],
  ["response-content-disposition", "content-disposition"],
  ["response-content-encoding", "content-encoding"],
];

/** The stored headers of an object as reply headers, with any `response-*` overrides applied. */
export function objectHeaders(info: ObjectInfo, query: ReadonlyMap<string, string>): Record<string, string> {
  const headers: Record<string, string> = {
    etag: `"${info.etag}"`,
    "last-modified": new Date(info.lastModifiedMs).toUTCString(),
    "accept-ranges": "bytes",
    "content-type": info.headers.contentType ?? "binary/octet-stream",
  };
  const stored = info.headers;
  if (stored.contentEncoding !== undefined) headers["content-encoding"] = stored.contentEncoding;
  if (stored.contentDisposition !== undefined) headers["content-disposition"] = stored.contentDisposition;
  if (stored.contentLanguage !== undefined) headers["content-language"] = stored.contentLanguage;
  if (stored.cacheControl !== undefined) headers["cache-control"] = stored.cacheControl;
  if (stored.expires !== undefined) headers.expires = stored.expires;
  for (const [name, value] of Object.entries(info.userMetadata)) headers[`x-amz-meta-${name}`] = value;
  // S3 omits the header for STANDARD objects.
  if (info.storageClass !== "STANDARD") headers["x-amz-storage-class"] = info.storageClass;
  // Only the count: reading the tags themselves is GetObjectTagging's (and its permission's) business.
  if (info.tags !== undefined && info.tags.length > 0) headers["x-amz-tagging-count"] = String(info.tags.length);
  for (const [parameter, header] of overrides) {
    const value = query.get(parameter);
    if (value !== undefined) headers[header] = value;
  }
  return headers;
}
