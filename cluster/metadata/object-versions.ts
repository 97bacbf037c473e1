/**
 * The versioned object model (S3 versioning) as transaction steps over a
 * `MetaTransaction`; `ObjectCatalog` runs them in transactions.
 *
 * | key                            | value: kind, version | fields                                             |
 * |--------------------------------|----------------------|----------------------------------------------------|
 * | `("o", bucket, key)`           | `object`, 3          | `ObjectRecord`: the current version, only when it is live (not a delete marker) |
 * | `("ov", bucket, key, order)`   | `object`, 3          | `ObjectRecord`: a version with data                |
 * | `("ov", bucket, key, order)`   | `deleteMarker`, 1    | `bucket`, `key`, `versionId`, `lastModifiedMs`     |
 * | `("on", bucket, key)`          | `nullVersion`, 1     | `order`: where the key's null version is           |
 * | `("it", bucket, key, token)`   | `idempotencyToken`, 1 | `versionId`, `dataId` committed by that token, `expiresMs` |
 * | `("ix", expiresMs, bucket, key, token)` | `idempotencyExpiry`, 1 | `{}` (the key says it all)          |
 *
 * `order` is a safe integer that decreases as a key gains versions: a new
 * version's order is the key's newest order minus one (`orderTop` for a key
 * with none), so `("ov")` reads newest first. It is per key, not per bucket,
 * so PUTs to different keys of one bucket never conflict on a shared counter.
 * A version id other than "null" is the sequence `orderTop - order` in 11
 * base-36 digits followed by 21 random base-36 characters: the id locates its
 * version with one read, and the random part keeps ids unique even when an
 * order is used again after the newest version was removed.
 *
 * Version-2 (and 1) object records in `("o")` were written before versioning:
 * they decode as the null version of an unversioned bucket. Such a legacy
 * record has no `("ov")` entry; the first write to its key moves it to
 * `("ov")` at `orderTop` (`migrateLegacyObjects` does it for a whole bucket).
 *
 * Invariants (after every commit):
 * - `("o", b, k)` equals the newest `("ov", b, k, …)` entry when that entry is
 *   an object version, and is absent otherwise.
 * - A key has at most one null version, and `("on", b, k)` names its order.
 * - A `dataId` is referenced by at most one of: a version record (the current
 *   one is referenced twice, by `("o")` and `("ov")`, as the same version), a
 *   pending record, a garbage record. A removed or replaced version's data
 *   becomes garbage in the transaction that removes it.
 * - A PUT commits only while its pending record exists: the Janitor turns
 *   stale pending records into garbage in one transaction, so data it frees
 *   can never be committed afterwards.
 */
import { assert } from "../../runtime/index.ts";
import { compareBytes, keyAfter, strinc } from "./bytes.ts";
import {
  bucketKey,
  multipartUploadKey,
  garbageKey,
  idempotencyExpiryFromStoredKey,
  idempotencyExpiryKey,
  idempotencyExpiryRange,
  idempotencyTokenKey,
  nullVersionKey,
  objectKey,
  objectVersionFromStoredKey,
  objectVersionKey,
  objectVersionKeyPrefix,
  objectVersionsOfKeyRange,
  pendingKey,
} from "./keyspace.ts";
import {
  decodeBucketRecord,
  decodeDataRecord,
  decodeObjectRecord,
  encodeDataRecord,
  encodeObjectRecord,
  type BucketRecord,
  type BucketVersioning,
  type ObjectRecord,
  type ObjectTag,
  type PendingRecord,
} from "./object-catalog.ts";
import { decodeRecord, decodeRecordOf, encodeRecord } from "./record-codec.ts";
import type { MetaTransaction } from "./store.ts";

/** The order of a key's first version; later versions count down from it. */
export const orderTop = Number.MAX_SAFE_INTEGER;
/** The id S3 gives the version written while a bucket is unversioned or suspended. */
export const nullVersionId = "null";
const sequenceDigits = 11;
/** Random base-36 characters after the sequence in a version id. */
export const versionSuffixLength = 21;
const versionIdPattern = /^[0-9a-z]{32}$/;
const deleteMarkerRecordVersion = 1;
const nullVersionRecordVersion = 1;
const tokenRecordVersion = 1;
/** Pending records per range read while looking for stale ones. */
const pendingBatchMax = 1_000;

/** A delete marker: a version with no data. */
export interface DeleteMarkerRecord {
  bucket: string;
  key: string;
  versionId: string;
  lastModifiedMs: number;
}

export type VersionRecord =
  | { readonly kind: "object"; readonly record: ObjectRecord }
  | { readonly kind: "deleteMarker"; readonly marker: DeleteMarkerRecord };

interface StoredVersion {
  readonly order: number;
  readonly version: VersionRecord;
}

interface TokenRecord {
  versionId: string;
  dataId: string;
  expiresMs: number;
}

/** A committed PUT (or the one a retried token already committed). */
export interface CommitPutResult {
  /** The version this PUT stands for. */
  readonly record: ObjectRecord;
  /** Data that became garbage in this commit (a replaced null version, or this attempt's data when `duplicate`). */
  readonly freed: readonly PendingRecord[];
  /** True when the token (or the same data) had already committed: nothing new was written. */
  readonly duplicate: boolean;
}

/**
 * A conditional write's precondition, decided inside the commit's
 * transaction against the key's current version (S3's `If-None-Match: *`
 * and `If-Match: <etag>`; "*" as `ifMatch` accepts any current object).
 */
export interface CommitCondition {
  readonly ifNoneMatch?: "*";
  readonly ifMatch?: string;
}

/**
 * A refused conditional commit: the condition did not hold, or `ifMatch`
 * found no current object version. Nothing became visible and this attempt's
 * data became garbage in the same transaction.
 */
export type CommitRefusal = "precondition-failed" | "no-such-key";

export interface CommitPutInput {
  /** The new version's record; its `versionId` is chosen by the commit. */
  readonly record: Omit<ObjectRecord, "versionId">;
  /** `versionSuffixLength` random base-36 characters, for the version id. */
  readonly versionSuffix: string;
  readonly idempotencyToken?: string;
  readonly tokenLifetimeMs: number;
  readonly nowMs: number;
  /** Checked against the current version after the idempotency check: a retry that already committed is not refused. */
  readonly condition?: CommitCondition;
  /**
   * Set by CompleteMultipartUpload: the upload's record is removed in the
   * commit's transaction. Its pending record (written when the completion
   * began, cleared by an abort in the abort's transaction) is what proves the
   * upload still stands, so the ordinary pending check covers it.
   */
  readonly multipartUploadId?: string;
}

export interface DeleteResult {
  readonly deleteMarker: boolean;
  readonly versionId?: string;
  /** Data that became garbage in this transaction. */
  readonly freed: readonly PendingRecord[];
}

export type HeadResult =
  | { readonly kind: "object"; readonly record: ObjectRecord }
  | { readonly kind: "deleteMarker"; readonly marker: DeleteMarkerRecord }
  | "no-such-bucket"
  | "no-such-key"
  | "no-such-version";

/** The versioning state of a bucket record (version-1 records had none: unversioned). */
export function versioningOf(bucket: BucketRecord): BucketVersioning {
  return bucket.versioning ?? "Unversioned";
}

/** A version id for the version at `order`. */
export function versionIdOf(order: number, suffix: string): string {
  assert(Number.isSafeInteger(order) && order >= 0 && order <= orderTop, `bad order ${order}`);
  assert(suffix.length === versionSuffixLength && /^[0-9a-z]+$/.test(suffix), "version suffix is base 36");
  return `${(orderTop - order).toString(36).padStart(sequenceDigits, "0")}${suffix}`;
}

/** The order a (non-null) version id names, or undefined when it is not one this code writes. */
export function orderOfVersionId(versionId: string): number | undefined {
  if (!versionIdPattern.test(versionId)) return undefined;
  const sequence = Number.parseInt(versionId.slice(0, sequenceDigits), 36);
  if (!Number.isSafeInteger(sequence) || sequence > orderTop) return undefined;
  return orderTop - sequence;
}

/** `versionSuffixLength` base-36 characters from as many random bytes. */
export function versionSuffixFrom(randomBytes: Uint8Array): string {
  assert(randomBytes.length >= versionSuffixLength, "enough random bytes for a version suffix");
  let out = "";
  for (let index = 0; index < versionSuffixLength; index += 1) out += (randomBytes[index]! % 36).toString(36);
  return out;
}

export function encodeDeleteMarker(marker: DeleteMarkerRecord): Uint8Array {
  return encodeRecord("deleteMarker", deleteMarkerRecordVersion, {
    bucket: marker.bucket,
    key: marker.key,
    versionId: marker.versionId,
    lastModifiedMs: marker.lastModifiedMs,
  });
}

/** Decodes a `("ov")` value: an object version or a delete marker. */
export function decodeVersion(bytes: Uint8Array): VersionRecord {
  const decoded = decodeRecord(bytes);
  if (decoded.kind === "object") return { kind: "object", record: decodeObjectRecord(bytes) };
  assert(decoded.kind === "deleteMarker", `a version is an object or a delete marker, found ${decoded.kind}`);
  assert(decoded.version === deleteMarkerRecordVersion, `unknown delete marker version ${decoded.version}`);
  return { kind: "deleteMarker", marker: decoded.value as DeleteMarkerRecord };
}

function versionIdOfVersion(version: VersionRecord): string {
  return version.kind === "object" ? version.record.versionId : version.marker.versionId;
}

async function readBucket(tx: MetaTransaction, bucket: string): Promise<BucketRecord | undefined> {
  const bytes = await tx.get(bucketKey(bucket));
  return bytes === undefined ? undefined : decodeBucketRecord(bytes);
}

async function readNullOrder(tx: MetaTransaction, bucket: string, key: string): Promise<number | undefined> {
  const bytes = await tx.get(nullVersionKey(bucket, key));
  if (bytes === undefined) return undefined;
  const record = decodeRecordOf("nullVersion", bytes);
  assert(record.version === nullVersionRecordVersion, `unknown null version pointer version ${record.version}`);
  return (record.value as { order: number }).order;
}

function writeNullOrder(tx: MetaTransaction, bucket: string, key: string, order: number): void {
  tx.set(nullVersionKey(bucket, key), encodeRecord("nullVersion", nullVersionRecordVersion, { order }));
}

/** The newest stored version of a key, without migrating a legacy record. */
async function readNewestStored(tx: MetaTransaction, bucket: string, key: string): Promise<StoredVersion | undefined> {
  const range = objectVersionsOfKeyRange(bucket, key);
  const [first] = await tx.getRange(range.begin, range.end, { limit: 1 });
  if (first === undefined) return undefined;
  return { order: objectVersionFromStoredKey(first.key).order, version: decodeVersion(first.value) };
}

/**
 * The record in `("o")` when it predates versioning (it has no `("ov")`
 * entry): the null version of a then unversioned bucket.
 */
async function readLegacy(tx: MetaTransaction, bucket: string, key: string): Promise<ObjectRecord | undefined> {
  const bytes = await tx.get(objectKey(bucket, key));
  if (bytes === undefined) return undefined;
  const record = decodeObjectRecord(bytes);
  assert(record.versionId === nullVersionId, `${bucket}/${key}: a current record without versions must be a legacy null version`);
  return record;
}

/**
 * The newest version of a key, for a write: a legacy record is first moved
 * into `("ov")` (as the null version at `orderTop`) so the write sees one model.
 */
async function readNewestForWrite(tx: MetaTransaction, bucket: string, key: string): Promise<StoredVersion | undefined> {
  const stored = await readNewestStored(tx, bucket, key);
  if (stored !== undefined) return stored;
  const legacy = await readLegacy(tx, bucket, key);
  if (legacy === undefined) return undefined;
  const encoded = encodeObjectRecord(legacy);
  tx.set(objectVersionKey(bucket, key, orderTop), encoded);
  tx.set(objectKey(bucket, key), encoded);
  writeNullOrder(tx, bucket, key, orderTop);
  return { order: orderTop, version: { kind: "object", record: legacy } };
}

/** Finds one version by id (read only; a legacy record counts as the null version). */
async function findVersion(tx: MetaTransaction, bucket: string, key: string, versionId: string): Promise<StoredVersion | undefined> {
  let order: number | undefined;
  if (versionId === nullVersionId) {
    order = await readNullOrder(tx, bucket, key);
    if (order === undefined) {
      if ((await readNewestStored(tx, bucket, key)) !== undefined) return undefined;
      const legacy = await readLegacy(tx, bucket, key);
      return legacy === undefined ? undefined : { order: orderTop, version: { kind: "object", record: legacy } };
    }
  } else {
    order = orderOfVersionId(versionId);
    if (order === undefined) return undefined;
  }
  const bytes = await tx.get(objectVersionKey(bucket, key, order));
  if (bytes === undefined) return undefined;
  const version = decodeVersion(bytes);
  // The order may have been used again by a later version after this one was removed.
  return versionIdOfVersion(version) === versionId ? { order, version } : undefined;
}

function garbageOf(record: ObjectRecord): PendingRecord {
  return { dataId: record.dataId, layout: record.layout, createdMs: record.lastModifiedMs };
}

export function markGarbage(tx: MetaTransaction, data: PendingRecord, nowMs: number): PendingRecord {
  const garbage = { dataId: data.dataId, layout: data.layout, createdMs: nowMs };
  tx.set(garbageKey(data.dataId), encodeDataRecord("garbage", garbage));
  return garbage;
}

/** Removes one version; its data (if any) becomes garbage. */
function removeVersion(tx: MetaTransaction, bucket: string, key: string, stored: StoredVersion, nowMs: number): PendingRecord[] {
  tx.clear(objectVersionKey(bucket, key, stored.order));
  if (versionIdOfVersion(stored.version) === nullVersionId) tx.clear(nullVersionKey(bucket, key));
  if (stored.version.kind === "deleteMarker") return [];
  return [markGarbage(tx, garbageOf(stored.version.record), nowMs)];
}

/** Makes `("o")` match the key's newest version again. */
async function refreshCurrent(tx: MetaTransaction, bucket: string, key: string): Promise<void> {
  const newest = await readNewestStored(tx, bucket, key);
  if (newest !== undefined && newest.version.kind === "object") tx.set(objectKey(bucket, key), encodeObjectRecord(newest.version.record));
  else tx.clear(objectKey(bucket, key));
}

function nextOrder(newest: StoredVersion | undefined): number {
  const order = newest === undefined ? orderTop : newest.order - 1;
  // 2^53 versions of one key: never reached, but an overflow would corrupt the order.
  assert(order >= 0, "version order exhausted");
  return order;
}

/** The PUT's commit: see `ObjectCatalog.commitPut`. */
export async function commitPutStep(
  tx: MetaTransaction,
  input: CommitPutInput,
): Promise<CommitPutResult | "no-such-bucket" | "abandoned" | CommitRefusal> {
  const { record, nowMs } = input;
  const { bucket, key, dataId } = record;
  const bucketRecord = await readBucket(tx, bucket);
  if (bucketRecord === undefined) return "no-such-bucket";
  const pendingBytes = await tx.get(pendingKey(dataId));

  const token = input.idempotencyToken;
  const tokenKey = token === undefined ? undefined : idempotencyTokenKey(bucket, key, token);
  const previousToken = tokenKey === undefined ? undefined : await readToken(tx, tokenKey);
  if (previousToken !== undefined && previousToken.expiresMs > nowMs) {
    // A retry of a PUT that already committed: nothing new, and this attempt's bytes are garbage.
    const freed: PendingRecord[] = [];
    if (pendingBytes !== undefined) {
      tx.clear(pendingKey(dataId));
      freed.push(markGarbage(tx, { ...decodeDataRecord("pending", pendingBytes), layout: record.layout }, nowMs));
    }
    const found = await findVersion(tx, bucket, key, previousToken.versionId);
    const committed =
      found !== undefined && found.version.kind === "object" && found.version.record.dataId === previousToken.dataId
        ? found.version.record
        : // The version was since removed or replaced: report what the token committed, by id.
          { ...record, versionId: previousToken.versionId, dataId: previousToken.dataId };
    return { record: committed, freed, duplicate: true };
  }

  const newest = await readNewestForWrite(tx, bucket, key);
  if (pendingBytes === undefined) {
    // A commit retried after it succeeded finds its own data current.
    if (newest !== undefined && newest.version.kind === "object" && newest.version.record.dataId === dataId) {
      return { record: newest.version.record, freed: [], duplicate: true };
    }
    // The Janitor reclaimed this PUT's data (it outlived the PREPARING bound): it must not become visible.
    return "abandoned";
  }
  const refusal = input.condition === undefined ? undefined : conditionRefusal(input.condition, newest);
  if (refusal !== undefined) {
    // Decided here, where the key's writes are serialized and the read is part of the
    // transaction: a concurrent writer either committed before (and is seen) or after.
    // The data becomes garbage in this transaction, so it is freed even if the writer dies now.
    tx.clear(pendingKey(dataId));
    markGarbage(tx, { ...decodeDataRecord("pending", pendingBytes), layout: record.layout }, nowMs);
    return refusal;
  }

  const order = nextOrder(newest);
  const freed: PendingRecord[] = [];
  let versionId: string;
  if (versioningOf(bucketRecord) === "Enabled") {
    versionId = versionIdOf(order, input.versionSuffix);
  } else {
    versionId = nullVersionId;
    const previousNull = await findVersion(tx, bucket, key, nullVersionId);
    if (previousNull !== undefined) freed.push(...removeVersion(tx, bucket, key, previousNull, nowMs));
    writeNullOrder(tx, bucket, key, order);
  }
  const full: ObjectRecord = { ...record, versionId };
  const encoded = encodeObjectRecord(full);
  tx.set(objectVersionKey(bucket, key, order), encoded);
  tx.set(objectKey(bucket, key), encoded);
  tx.clear(pendingKey(dataId));
  if (input.multipartUploadId !== undefined) tx.clear(multipartUploadKey(bucket, key, input.multipartUploadId));
  if (tokenKey !== undefined && token !== undefined) {
    if (previousToken !== undefined) tx.clear(idempotencyExpiryKey(previousToken.expiresMs, bucket, key, token));
    const expiresMs = nowMs + input.tokenLifetimeMs;
    tx.set(tokenKey, encodeRecord("idempotencyToken", tokenRecordVersion, { versionId, dataId, expiresMs }));
    tx.set(idempotencyExpiryKey(expiresMs, bucket, key, token), encodeRecord("idempotencyExpiry", tokenRecordVersion, {}));
  }
  return { record: full, freed, duplicate: false };
}

/** Why `condition` refuses a write over `newest` (the key's newest version), or undefined when it holds. */
function conditionRefusal(condition: CommitCondition, newest: StoredVersion | undefined): CommitRefusal | undefined {
  const current = newest !== undefined && newest.version.kind === "object" ? newest.version.record : undefined;
  if (condition.ifMatch !== undefined) {
    // S3 answers If-Match on a key without a current object (none, or a delete marker) with 404 NoSuchKey.
    if (current === undefined) return "no-such-key";
    if (condition.ifMatch !== "*" && condition.ifMatch !== current.etag) return "precondition-failed";
  }
  if (condition.ifNoneMatch === "*" && current !== undefined) return "precondition-failed";
  return undefined;
}

/**
 * What a PUT's PREPARE found: a new PREPARING record, the version a retried
 * token already committed, or (a conditional PUT) a condition that already
 * fails, so the body need not be stored at all.
 */
export type PreparePutResult =
  | { readonly kind: "prepared" }
  | { readonly kind: "duplicate"; readonly record: ObjectRecord }
  | { readonly kind: "refused"; readonly refusal: CommitRefusal }
  | "no-such-bucket";

/**
 * A PUT's PREPARE: when `idempotencyToken` already committed a version of
 * this key that still exists (and the token has not expired), writes
 * nothing and returns that version, so a retry need not store its body
 * again. Otherwise records `pending` (PREPARING). A token whose version was
 * since removed or replaced prepares normally; the commit then reports the
 * token's version by id (`commitPutStep`). A `condition` that fails against
 * the current version now is refused here without a pending record (after
 * the token check: a retry that committed is never refused); one that holds
 * is decided again at commit, which is what makes it correct under races.
 */
export async function preparePutStep(
  tx: MetaTransaction,
  pending: PendingRecord,
  target: { readonly bucket: string; readonly key: string; readonly idempotencyToken?: string; readonly condition?: CommitCondition },
  nowMs: number,
): Promise<PreparePutResult> {
  if ((await readBucket(tx, target.bucket)) === undefined) return "no-such-bucket";
  if (target.idempotencyToken !== undefined) {
    const token = await readToken(tx, idempotencyTokenKey(target.bucket, target.key, target.idempotencyToken));
    if (token !== undefined && token.expiresMs > nowMs) {
      const found = await findVersion(tx, target.bucket, target.key, token.versionId);
      if (found !== undefined && found.version.kind === "object" && found.version.record.dataId === token.dataId) {
        return { kind: "duplicate", record: found.version.record };
      }
    }
  }
  if (target.condition !== undefined) {
    const stored = await readNewestStored(tx, target.bucket, target.key);
    const legacy = stored === undefined ? await readLegacy(tx, target.bucket, target.key) : undefined;
    const newest: StoredVersion | undefined = legacy === undefined ? stored : { order: orderTop, version: { kind: "object", record: legacy } };
    const refusal = conditionRefusal(target.condition, newest);
    if (refusal !== undefined) return { kind: "refused", refusal };
  }
  tx.set(pendingKey(pending.dataId), encodeDataRecord("pending", pending));
  return { kind: "prepared" };
}

async function readToken(tx: MetaTransaction, tokenKey: Uint8Array): Promise<TokenRecord | undefined> {
  const bytes = await tx.get(tokenKey);
  if (bytes === undefined) return undefined;
  const record = decodeRecordOf("idempotencyToken", bytes);
  assert(record.version === tokenRecordVersion, `unknown idempotency token version ${record.version}`);
  return record.value as TokenRecord;
}

/** DELETE without a version id: see `ObjectCatalog.deleteObject`. */
export async function deleteCurrentStep(
  tx: MetaTransaction,
  bucket: string,
  key: string,
  nowMs: number,
  versionSuffix: string,
  condition?: CommitCondition,
): Promise<DeleteResult | CommitRefusal | "no-such-bucket"> {
  const bucketRecord = await readBucket(tx, bucket);
  if (bucketRecord === undefined) return "no-such-bucket";
  const versioning = versioningOf(bucketRecord);
  const newest = await readNewestForWrite(tx, bucket, key);
  // A conditional delete (S3's If-Match on DELETE) is decided here, in the delete's own transaction,
  // against the current version: a write between the client's read and this delete refuses it.
  if (condition !== undefined) {
    const refusal = conditionRefusal(condition, newest);
    if (refusal !== undefined) return refusal;
  }
  if (versioning === "Unversioned") {
    // Every version of an unversioned bucket is its null version: at most one.
    const previous = await findVersion(tx, bucket, key, nullVersionId);
    const freed = previous === undefined ? [] : removeVersion(tx, bucket, key, previous, nowMs);
    tx.clear(objectKey(bucket, key));
    return { deleteMarker: false, freed };
  }
  const order = nextOrder(newest);
  const freed: PendingRecord[] = [];
  let versionId: string;
  if (versioning === "Enabled") {
    versionId = versionIdOf(order, versionSuffix);
  } else {
    versionId = nullVersionId;
    const previous = await findVersion(tx, bucket, key, nullVersionId);
    if (previous !== undefined) freed.push(...removeVersion(tx, bucket, key, previous, nowMs));
    writeNullOrder(tx, bucket, key, order);
  }
  tx.set(objectVersionKey(bucket, key, order), encodeDeleteMarker({ bucket, key, versionId, lastModifiedMs: nowMs }));
  tx.clear(objectKey(bucket, key));
  return { deleteMarker: true, versionId, freed };
}

/** DELETE of one version: see `ObjectCatalog.deleteObject`. */
export async function deleteVersionStep(
  tx: MetaTransaction,
  bucket: string,
  key: string,
  versionId: string,
  nowMs: number,
): Promise<DeleteResult | "no-such-bucket"> {
  if ((await readBucket(tx, bucket)) === undefined) return "no-such-bucket";
  const newest = await readNewestForWrite(tx, bucket, key);
  const found = await findVersion(tx, bucket, key, versionId);
  if (found === undefined) return { deleteMarker: false, versionId, freed: [] };
  const freed = removeVersion(tx, bucket, key, found, nowMs);
  if (newest !== undefined && found.order === newest.order) await refreshCurrent(tx, bucket, key);
  return { deleteMarker: found.version.kind === "deleteMarker", versionId, freed };
}

/** What setting a version's tags found: the version as rewritten, a delete marker (left alone), or nothing. */
export type SetTagsResult = HeadResult;

/** PutObjectTagging / DeleteObjectTagging: see `ObjectCatalog.setObjectTags`. */
export async function setObjectTagsStep(
  tx: MetaTransaction,
  bucket: string,
  key: string,
  versionId: string | undefined,
  tags: readonly ObjectTag[],
): Promise<SetTagsResult> {
  if ((await readBucket(tx, bucket)) === undefined) return "no-such-bucket";
  const newest = await readNewestForWrite(tx, bucket, key);
  const found = versionId === undefined ? newest : await findVersion(tx, bucket, key, versionId);
  if (found === undefined) return versionId === undefined ? "no-such-key" : "no-such-version";
  if (found.version.kind === "deleteMarker") return { kind: "deleteMarker", marker: found.version.marker };
  const { tags: _previous, ...untagged } = found.version.record;
  const record: ObjectRecord = tags.length === 0 ? untagged : { ...untagged, tags: tags.map((tag) => ({ key: tag.key, value: tag.value })) };
  const encoded = encodeObjectRecord(record);
  tx.set(objectVersionKey(bucket, key, found.order), encoded);
  // The current record is a copy of the newest version: it must say the same.
  if (newest !== undefined && found.order === newest.order) tx.set(objectKey(bucket, key), encoded);
  return { kind: "object", record };
}

/** HEAD/GET's lookup: the current version (undefined `versionId`) or one version. */
export async function headStep(tx: MetaTransaction, bucket: string, key: string, versionId: string | undefined): Promise<HeadResult> {
  if (versionId === undefined) {
    const current = await tx.get(objectKey(bucket, key));
    if (current !== undefined) return { kind: "object", record: decodeObjectRecord(current) };
    if ((await readBucket(tx, bucket)) === undefined) return "no-such-bucket";
    const newest = await readNewestStored(tx, bucket, key);
    if (newest === undefined) return "no-such-key";
    assert(newest.version.kind === "deleteMarker", `${bucket}/${key}: a live newest version must be current`);
    return { kind: "deleteMarker", marker: newest.version.marker };
  }
  if ((await readBucket(tx, bucket)) === undefined) return "no-such-bucket";
  const found = await findVersion(tx, bucket, key, versionId);
  if (found === undefined) return "no-such-version";
  return found.version.kind === "object" ? { kind: "object", record: found.version.record } : { kind: "deleteMarker", marker: found.version.marker };
}

/**
 * Moves PREPARING records older than `maxAgeMs` to garbage, at most `limit`,
 * examining at most `scanMax` pending records. One transaction: a commit of
 * the same data either happened before (the record is gone) or will find no
 * pending record and refuse.
 */
export async function abandonStalePendingStep(
  tx: MetaTransaction,
  range: { begin: Uint8Array; end: Uint8Array },
  nowMs: number,
  maxAgeMs: number,
  limit: number,
  scanMax: number,
): Promise<PendingRecord[]> {
  const out: PendingRecord[] = [];
  let cursor = range.begin;
  let examined = 0;
  while (out.length < limit && examined < scanMax) {
    const batchLimit = Math.min(pendingBatchMax, scanMax - examined);
    const batch = await tx.getRange(cursor, range.end, { limit: batchLimit });
    for (const pair of batch) {
      const pending = decodeDataRecord("pending", pair.value);
      if (nowMs - pending.createdMs > maxAgeMs && out.length < limit) {
        tx.clear(pair.key);
        tx.set(garbageKey(pending.dataId), encodeDataRecord("garbage", pending));
        out.push(pending);
      }
    }
    examined += batch.length;
    const last = batch[batch.length - 1];
    if (last === undefined || batch.length < batchLimit) break;
    cursor = keyAfter(last.key);
  }
  return out;
}

/** Removes idempotency tokens that expired before `nowMs`, at most `limit`; returns how many. */
export async function removeExpiredTokensStep(tx: MetaTransaction, nowMs: number, limit: number): Promise<number> {
  const range = idempotencyExpiryRange(nowMs);
  const batch = await tx.getRange(range.begin, range.end, { limit });
  for (const pair of batch) {
    const { expiresMs, bucket, key, token } = idempotencyExpiryFromStoredKey(pair.key);
    tx.clear(pair.key);
    const tokenKey = idempotencyTokenKey(bucket, key, token);
    const current = await readToken(tx, tokenKey);
    // A token reused after expiry has a newer expiry (and its own index entry): keep it.
    if (current !== undefined && current.expiresMs === expiresMs) tx.clear(tokenKey);
  }
  return batch.length;
}

/** Copies a bucket's legacy records (written before versioning) into `("ov")`, at most `limit` keys of `("o")` from `cursor`. */
export async function migrateLegacyStep(
  tx: MetaTransaction,
  range: { begin: Uint8Array; end: Uint8Array },
  limit: number,
): Promise<{ migrated: number; next: Uint8Array | undefined }> {
  const batch = await tx.getRange(range.begin, range.end, { limit });
  let migrated = 0;
  for (const pair of batch) {
    const record = decodeObjectRecord(pair.value);
    if (record.versionId !== nullVersionId) continue;
    if ((await readNewestStored(tx, record.bucket, record.key)) !== undefined) continue;
    await readNewestForWrite(tx, record.bucket, record.key);
    migrated += 1;
  }
  const last = batch[batch.length - 1];
  return { migrated, next: last === undefined || batch.length < limit ? undefined : keyAfter(last.key) };
}

// ---- listing versions ----

export interface ListVersionsRequest {
  bucket: string;
  prefix: string;
  /** Empty string means no delimiter. */
  delimiter: string;
  /** Empty means from the start; else only keys after it (or its versions after `versionIdMarker`). */
  keyMarker: string;
  versionIdMarker: string;
  maxKeys: number;
}

export type VersionListEntry =
  | { readonly kind: "version"; readonly record: ObjectRecord; readonly isLatest: boolean }
  | { readonly kind: "deleteMarker"; readonly marker: DeleteMarkerRecord; readonly isLatest: boolean };

export interface ListVersionsResult {
  entries: VersionListEntry[];
  commonPrefixes: string[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

export interface VersionListState {
  /** The next stored key to read from. */
  cursor: Uint8Array;
  entries: VersionListEntry[];
  commonPrefixes: string[];
  /** The key of the last version read: the next one of the same key is not the latest. */
  previousKey: string | undefined;
  last: { key: string; versionId?: string } | undefined;
  isTruncated: boolean;
  done: boolean;
  batchLimit: number;
}

/** The common prefix `key` rolls up into, or undefined when it is listed as itself. */
function commonPrefixOf(key: string, prefix: string, delimiter: string): string | undefined {
  if (delimiter === "" || !key.startsWith(prefix)) return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at === -1 ? undefined : key.slice(0, at + delimiter.length);
}

/**
 * Where a version listing starts, and whether the first version read there
 * may be a non-latest one (the listing resumes inside a key's versions).
 */
export async function versionListStart(
  tx: MetaTransaction,
  request: ListVersionsRequest,
): Promise<{ cursor: Uint8Array; previousKey: string | undefined }> {
  const { bucket, prefix, delimiter, keyMarker, versionIdMarker } = request;
  let start = objectVersionKeyPrefix(bucket, prefix);
  if (keyMarker === "") return { cursor: start, previousKey: undefined };
  const keyVersions = objectVersionsOfKeyRange(bucket, keyMarker);
  let after = keyVersions.end;
  let previousKey: string | undefined;
  if (versionIdMarker !== "") {
    const order = versionIdMarker === nullVersionId ? await readNullOrder(tx, bucket, keyMarker) : orderOfVersionId(versionIdMarker);
    if (order !== undefined) {
      after = keyAfter(objectVersionKey(bucket, keyMarker, order));
      // The first version after the marker is the latest only when no version of the key precedes it.
      previousKey = (await tx.firstKey(keyVersions.begin, after)) !== undefined ? keyMarker : undefined;
    }
  }
  if (compareBytes(after, start) > 0) start = after;
  const rolledUp = commonPrefixOf(keyMarker, prefix, delimiter);
  if (rolledUp !== undefined) {
    const pastPrefix = strinc(objectVersionKeyPrefix(bucket, rolledUp));
    if (compareBytes(pastPrefix, start) > 0) {
      start = pastPrefix;
      previousKey = undefined;
    }
  }
  return { cursor: start, previousKey };
}

/** Advances a version listing by up to `readsMax` range reads inside one transaction. */
export async function listVersionsSteps(
  tx: MetaTransaction,
  state: VersionListState,
  request: ListVersionsRequest,
  readsMax: number,
  batchMax: number,
  batchInitial: number,
): Promise<VersionListState> {
  const { bucket, prefix, delimiter, maxKeys } = request;
  const end = strinc(objectVersionKeyPrefix(bucket, prefix));
  const count = (): number => state.entries.length + state.commonPrefixes.length;
  for (let reads = 0; reads < readsMax && !state.done; reads += 1) {
    if (compareBytes(state.cursor, end) >= 0) {
      state.done = true;
      break;
    }
    const limit = Math.min(state.batchLimit, maxKeys - count() + 1);
    const batch = await tx.getRange(state.cursor, end, { limit });
    let rolledUp = false;
    for (const pair of batch) {
      if (count() === maxKeys) {
        state.isTruncated = true;
        state.done = true;
        break;
      }
      const { key } = objectVersionFromStoredKey(pair.key);
      const common = commonPrefixOf(key, prefix, delimiter);
      if (common !== undefined) {
        state.commonPrefixes.push(common);
        state.last = { key: common };
        state.previousKey = undefined;
        // Seek past every version under the common prefix instead of reading them.
        state.cursor = strinc(objectVersionKeyPrefix(bucket, common));
        rolledUp = true;
        break;
      }
      const version = decodeVersion(pair.value);
      const isLatest = state.previousKey !== key;
      state.entries.push(
        version.kind === "object"
          ? { kind: "version", record: version.record, isLatest }
          : { kind: "deleteMarker", marker: version.marker, isLatest },
      );
      state.previousKey = key;
      state.last = { key, versionId: versionIdOfVersion(version) };
      state.cursor = keyAfter(pair.key);
    }
    if (state.done) break;
    if (!rolledUp && batch.length < limit) {
      state.done = true;
      break;
    }
    if (delimiter !== "") state.batchLimit = rolledUp ? batchInitial : Math.min(state.batchLimit * 2, batchMax);
  }
  return state;
}
