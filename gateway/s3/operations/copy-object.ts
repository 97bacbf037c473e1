/**
 * CopyObject: `PUT /bucket/key` with `x-amz-copy-source: [/]bucket/key[?versionId=…]`.
 *
 * Built over the backend as a read piped into a write: `headObject(source)`,
 * then `readObject` of the whole source streamed as the body of `putObject`,
 * so a copy holds no more of the object in memory than a GET and a PUT do.
 * The destination is a new object (a new version in an Enabled bucket) with:
 *
 * | field              | `x-amz-metadata-directive: COPY` (default) | `REPLACE`                  |
 * |--------------------|---------------------------------------------|----------------------------|
 * | content-type etc.  | the source's                                | the request's              |
 * | `x-amz-meta-*`     | the source's                                | the request's              |
 * | tags               | the source's                                | the source's               |
 * | storage class      | `x-amz-storage-class`, else STANDARD (as S3) | the same                   |
 * | checksum           | recomputed while copying (see below)        | the same                   |
 *
 * Checksum: the algorithm the request names (`x-amz-checksum-algorithm`),
 * else the source's when it is a FULL_OBJECT one, is computed over the bytes
 * as they are copied and stored; when it is the source's algorithm the value
 * must equal the source's, else the copy fails (500, nothing stored): the
 * bytes read are not the bytes that were uploaded. A COMPOSITE (multipart)
 * checksum cannot be recomputed from the whole body and is dropped.
 *
 * `x-amz-copy-source-if-*` are checked on the source (412); `If-None-Match: *`
 * and `If-Match` on the destination are a write condition, decided at commit
 * like PutObject's.
 *
 * Tags follow their own directive, `x-amz-tagging-directive`: COPY (the
 * default) keeps the source's, whatever `x-amz-tagging` says (S3 reads that
 * header only with REPLACE); REPLACE takes the set `x-amz-tagging` names, or
 * none without it.
 */
import type { ChecksumAlgorithm, ObjectBackend, ObjectChecksum, ObjectInfo } from "../../backend.ts";
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { checksumAlgorithms, createChecksumHasher } from "../checksum.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { checkCopySourcePreconditions, writeConditionFrom, writeRefusalError } from "../preconditions.ts";
import { parseTaggingHeader } from "../tagging.ts";
import { assertValidBucketName, assertValidKey, objectBytesMax, storageClassFromHeader, userMetadataFromHeaders } from "../validation.ts";
import { assertWellFormedVersionId, nullVersionId, showsVersionIds, versionIdHeader } from "../versioning.ts";
import { writeXmlDocument, xmlElement, xmlText } from "../xml.ts";
import { idempotencyTokenFrom, storedHeadersFrom } from "./put-object.ts";

/** Where a copy reads from. */
export interface CopySource {
  readonly bucket: string;
  readonly key: string;
  /** Undefined: the source's current version. */
  readonly versionId?: string;
}

const badCopySource = (value: string): S3Error =>
  new S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey", {
    ArgumentName: "x-amz-copy-source",
    ArgumentValue: value,
  });

/**
 * Parses `x-amz-copy-source`: URL-encoded `bucket/key` with an optional
 * leading slash and an optional `?versionId=`. InvalidArgument when it names
 * no bucket and key or does not decode; the bucket name, key length and
 * version id are checked as for any request.
 */
export function parseCopySource(value: string): CopySource {
  const raw = value.trim();
  const queryAt = raw.indexOf("?");
  const path = queryAt < 0 ? raw : raw.slice(0, queryAt);
  let versionId: string | undefined;
  if (queryAt >= 0) {
    for (const parameter of raw.slice(queryAt + 1).split("&")) {
      if (parameter === "") continue;
      const equals = parameter.indexOf("=");
      const name = equals < 0 ? parameter : parameter.slice(0, equals);
      if (name !== "versionId") throw badCopySource(value);
      versionId = assertWellFormedVersionId(decodeOrRefuse(equals < 0 ? "" : parameter.slice(equals + 1), value));
    }
  }
  const decoded = decodeOrRefuse(path, value);
  const withoutSlash = decoded.startsWith("/") ? decoded.slice(1) : decoded;
  const slashAt = withoutSlash.indexOf("/");
  if (slashAt <= 0 || slashAt === withoutSlash.length - 1) throw badCopySource(value);
  const bucket = withoutSlash.slice(0, slashAt);
  const key = withoutSlash.slice(slashAt + 1);
  assertValidBucketName(bucket);
  assertValidKey(key);
  return versionId === undefined ? { bucket, key } : { bucket, key, versionId };
}

function decodeOrRefuse(text: string, whole: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw badCopySource(whole);
  }
}

/** `x-amz-metadata-directive`: COPY when absent; anything but COPY/REPLACE is InvalidArgument. */
export function metadataDirectiveFrom(value: string | undefined): "COPY" | "REPLACE" {
  if (value === undefined) return "COPY";
  const directive = value.trim();
  if (directive === "COPY" || directive === "REPLACE") return directive;
  throw new S3Error("InvalidArgument", "Unknown metadata directive.", { ArgumentName: "x-amz-metadata-directive", ArgumentValue: value });
}

/** `x-amz-tagging-directive`: COPY when absent; anything but COPY/REPLACE is InvalidArgument. */
export function taggingDirectiveFrom(value: string | undefined): "COPY" | "REPLACE" {
  if (value === undefined) return "COPY";
  const directive = value.trim();
  if (directive === "COPY" || directive === "REPLACE") return directive;
  throw new S3Error("InvalidArgument", "Unknown tagging directive.", { ArgumentName: "x-amz-tagging-directive", ArgumentValue: value });
}

/** The algorithm `x-amz-checksum-algorithm` names for the destination, if any. */
function requestedChecksumAlgorithm(headers: ReadonlyMap<string, string>): ChecksumAlgorithm | undefined {
  const value = headers.get("x-amz-checksum-algorithm");
  if (value === undefined) return undefined;
  const algorithm = value.trim().toUpperCase();
  const known = checksumAlgorithms.find((candidate) => candidate === algorithm);
  if (known === undefined) {
    throw new S3Error("InvalidRequest", "Value for x-amz-checksum-algorithm header is invalid.", { ArgumentValue: value });
  }
  return known;
}

/** The copy's tags field: absent for none, as PutObject stores an object without tags. */
function tagsOfCopy(tags: ObjectInfo["tags"]): { tags?: NonNullable<ObjectInfo["tags"]> } {
  return tags === undefined || tags.length === 0 ? {} : { tags };
}

/** Copies an object (see the file comment). */
export async function copyObject(context: OperationContext): Promise<S3Response> {
  const headers = context.request.headers;
  const copySourceHeader = headers.get("x-amz-copy-source") ?? "";
  const source = parseCopySource(copySourceHeader);
  const directive = metadataDirectiveFrom(headers.get("x-amz-metadata-directive"));
  const storageClassHeader = headers.get("x-amz-storage-class");
  const storageClass = storageClassFromHeader(storageClassHeader, context.backend.storageClasses);
  const condition = writeConditionFrom(headers);
  const idempotencyToken = idempotencyTokenFrom(headers);
  const requestedAlgorithm = requestedChecksumAlgorithm(headers);
  // REPLACE's metadata and tags are checked before anything is read.
  const replacement = directive === "REPLACE" ? { headers: storedHeadersFrom(headers), userMetadata: userMetadataFromHeaders(headers) } : undefined;
  const taggingHeader = headers.get("x-amz-tagging");
  const replacedTags = taggingDirectiveFrom(headers.get("x-amz-tagging-directive")) === "REPLACE" ? (taggingHeader === undefined ? [] : parseTaggingHeader(taggingHeader)) : undefined;

  const info = await findSource(context.backend, source);
  checkCopySourcePreconditions(info, headers, context.nowMs);
  const sameObject = source.bucket === context.bucket && source.key === context.key && source.versionId === undefined;
  const changesStorageClass = storageClassHeader !== undefined && storageClass !== info.storageClass;
  if (sameObject && directive === "COPY" && !changesStorageClass) {
    throw new S3Error(
      "InvalidRequest",
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  if (info.sizeBytes > objectBytesMax) {
    throw new S3Error("InvalidRequest", `The specified copy source is larger than the maximum allowable size for a copy source: ${objectBytesMax}`);
  }

  const copied = copyStream(context.backend, info, requestedAlgorithm);
  const outcome = await context.backend.putObject({
    bucket: context.bucket,
    key: context.key,
    body: copied.body,
    // Our own read of the source: a write that stores nothing need not read it all.
    bodyIsLocal: true,
    headers: replacement?.headers ?? info.headers,
    userMetadata: replacement?.userMetadata ?? info.userMetadata,
    ...tagsOfCopy(replacedTags ?? info.tags),
    storageClass,
    checksum: copied.checksum,
    ...(idempotencyToken === undefined ? {} : { idempotencyToken }),
    ...(condition === undefined ? {} : { condition }),
  });
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (outcome === "precondition-failed" || outcome === "no-such-key") throw writeRefusalError(outcome, context.key, condition ?? {});

  const sourceShowsVersions = info.versionId !== nullVersionId || (await context.backend.getBucketVersioning(source.bucket)) !== "Unversioned";
  const replyHeaders: Record<string, string> = {
    ...xmlHeaders(),
    ...versionIdHeader(outcome.versionId, await showsVersionIds(context, outcome.versionId)),
    ...(sourceShowsVersions ? { "x-amz-copy-source-version-id": info.versionId } : {}),
  };
  if (outcome.storageClass !== "STANDARD") replyHeaders["x-amz-storage-class"] = outcome.storageClass;
  const stored = outcome.checksum;
  const body = writeXmlDocument(
    xmlElement("CopyObjectResult", [
      xmlText("ETag", `"${outcome.etag}"`),
      xmlText("LastModified", new Date(outcome.lastModifiedMs).toISOString()),
      ...(stored === undefined ? [] : [xmlText(`Checksum${stored.algorithm}`, stored.value), xmlText("ChecksumType", stored.type)]),
    ]),
  );
  return { status: 200, headers: replyHeaders, body };
}

/** The source version, or its S3 error (NoSuchBucket, NoSuchKey, NoSuchVersion; a delete marker by id is InvalidRequest). */
export async function findSource(backend: ObjectBackend, source: CopySource): Promise<ObjectInfo> {
  const found = await backend.headObject(source.bucket, source.key, source.versionId);
  if (found === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: source.bucket });
  if (found === "no-such-key") throw new S3Error("NoSuchKey", undefined, { Key: source.key });
  if (found === "no-such-version") throw new S3Error("NoSuchVersion", undefined, { Key: source.key, VersionId: source.versionId ?? "" });
  if ("deleteMarker" in found) {
    if (source.versionId !== undefined) {
      throw new S3Error("InvalidRequest", "The source of a copy request may not specifically refer to a delete marker by version id.");
    }
    throw new S3Error("NoSuchKey", undefined, { Key: source.key }, { "x-amz-delete-marker": "true" });
  }
  return found;
}

/**
 * The source's bytes as a stream, hashed with the destination's checksum
 * algorithm on the way. When that is the source's own FULL_OBJECT
 * algorithm, the end of the stream compares the values and throws on a
 * mismatch, which makes `putObject` store nothing.
 */
function copyStream(
  backend: ObjectBackend,
  info: ObjectInfo,
  requested: ChecksumAlgorithm | undefined,
): { body: AsyncIterable<Uint8Array>; checksum: () => ObjectChecksum | undefined } {
  const sourceChecksum = info.checksum?.type === "FULL_OBJECT" ? info.checksum : undefined;
  const algorithm = requested ?? sourceChecksum?.algorithm;
  let computed: ObjectChecksum | undefined;
  async function* body(): AsyncGenerator<Uint8Array> {
    const hasher = algorithm === undefined ? undefined : createChecksumHasher(algorithm);
    if (info.sizeBytes > 0) {
      for await (const chunk of backend.readObject(info, 0, info.sizeBytes)) {
        hasher?.update(chunk);
        yield chunk;
      }
    }
    if (hasher === undefined || algorithm === undefined) return;
    const value = Buffer.from(hasher.digest()).toString("base64");
    if (sourceChecksum !== undefined && sourceChecksum.algorithm === algorithm && sourceChecksum.value !== value) {
      throw new S3Error("InternalError", `The copy source's data does not match its stored ${algorithm} checksum.`);
    }
    computed = { algorithm, value, type: "FULL_OBJECT" };
  }
  return { body: body(), checksum: () => computed };
}
