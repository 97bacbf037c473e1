/**
 * What the object operations share about versions: the `versionId` query
 * parameter, and the `x-amz-version-id` / `x-amz-delete-marker` headers.
 *
 * Version ids are opaque to the gateway; the backend makes them. The gateway
 * only refuses ids no backend could have issued, so a typo answers 400
 * InvalidArgument (as S3 does) instead of a 404 that reads like "deleted".
 */
import type { DeleteMarkerInfo } from "../backend.ts";
import { S3Error } from "../errors.ts";
import type { OperationContext } from "./context.ts";

/** The id of the null version (written while a bucket was unversioned or suspended). */
export const nullVersionId = "null";

/** The longest version id accepted; the backend's ids are far shorter (S3's are at most 1024 bytes). */
export const versionIdCharactersMax = 1024;

/** URL-safe characters, plus base64's, so any backend id format built from them passes. */
const versionIdPattern = /^[A-Za-z0-9._~+/=-]+$/;

/** Whether `value` could be a version id (the gateway's only check; the backend decides whether it exists). */
export function isWellFormedVersionId(value: string): boolean {
  return value === nullVersionId || (value.length <= versionIdCharactersMax && versionIdPattern.test(value));
}

/** Checks a version id from the query or a DeleteObjects entry; InvalidArgument as S3 words it. */
export function assertWellFormedVersionId(value: string): string {
  if (value === "") {
    throw new S3Error("InvalidArgument", "Version id cannot be the empty string", { ArgumentName: "versionId", ArgumentValue: value });
  }
  if (!isWellFormedVersionId(value)) {
    throw new S3Error("InvalidArgument", "Invalid version id specified", { ArgumentName: "versionId", ArgumentValue: value });
  }
  return value;
}

/** The `versionId` query parameter, checked; undefined when absent (= the current version). */
export function versionIdParameter(context: OperationContext): string | undefined {
  const value = context.query.get("versionId");
  return value === undefined ? undefined : assertWellFormedVersionId(value);
}

/**
 * Whether replies about this bucket carry `x-amz-version-id`: S3 sends it on
 * buckets that are or were versioned (Enabled or Suspended), never on
 * unversioned ones. Only a "null" version leaves the question open; any other
 * id proves the bucket was versioned, so no lookup is needed.
 */
export async function showsVersionIds(context: OperationContext, versionId: string): Promise<boolean> {
  if (versionId !== nullVersionId) return true;
  const versioning = await context.backend.getBucketVersioning(context.bucket);
  if (versioning === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  return versioning !== "Unversioned";
}

/** `x-amz-version-id` when the bucket shows version ids, else nothing. */
export function versionIdHeader(versionId: string, shown: boolean): Record<string, string> {
  return shown ? { "x-amz-version-id": versionId } : {};
}

/**
 * The error for GET/HEAD that lands on a delete marker: without a version id
 * the key reads as missing (404 NoSuchKey); naming the marker's id asks for
 * something a marker does not have (405 MethodNotAllowed, `Allow: DELETE`).
 * Both carry `x-amz-delete-marker: true` so clients can tell a marker from a
 * key that never existed; a marker only exists in a versioned bucket, so the
 * version id header is always shown.
 */
export function deleteMarkerError(context: OperationContext, marker: DeleteMarkerInfo, byVersionId: boolean): S3Error {
  const headers = {
    "x-amz-delete-marker": "true",
    "x-amz-version-id": marker.versionId,
    "last-modified": new Date(marker.lastModifiedMs).toUTCString(),
  };
  if (!byVersionId) return new S3Error("NoSuchKey", undefined, { Key: context.key }, headers);
  return new S3Error(
    "MethodNotAllowed",
    undefined,
    { Method: context.request.method, ResourceType: "DeleteMarker" },
    { ...headers, allow: "DELETE" },
  );
}
