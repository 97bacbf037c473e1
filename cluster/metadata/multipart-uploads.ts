/**
 * Multipart uploads in the metadata store: the upload records, their parts,
 * and the transactions that move data between them, the object catalog and
 * the garbage list.
 *
 * Keys (keyspace.ts): `("u", bucket, key, uploadId)` → upload record;
 * `("up", bucket, uploadId, partNumber)` → part record.
 *
 * Upload record, kind `multipartUpload`, version 1 (MessagePack map):
 *
 * | field             | type                         | meaning                                         |
 * |-------------------|------------------------------|-------------------------------------------------|
 * | bucket, key       | string                       | where the object will be                        |
 * | uploadId          | string                       | time-ordered, unique (`newUploadId`)            |
 * | initiatedMs       | number                       | when CreateMultipartUpload ran                  |
 * | storageClass      | string                       | for every part and the object                   |
 * | headers           | ObjectHeaders                | stored with the object                          |
 * | userMetadata      | map string → string          | `x-amz-meta-*`                                  |
 * | checksumAlgorithm | string, optional             | every part must carry this checksum             |
 * | checksumType      | "COMPOSITE" / "FULL_OBJECT", optional |                                        |
 * | tags              | [{key, value}], optional     | the object's tags once completed                |
 * | state             | "open" / "completing"        | completing: the part set is frozen              |
 *
 * Part record, kind `multipartPart`, version 1: `partNumber`, `dataId`,
 * `layout` (a DataLayout, replicated or erasure), `sizeBytes`, `etag` (hex
 * MD5), `lastModifiedMs`, optional `checksum` ({algorithm, value}).
 *
 * Who owns a part's bytes (exactly one owner at any time, so nothing is
 * freed twice while live and nothing is leaked):
 * - while the upload is open: the upload. A part replaced by a new upload of
 *   its number becomes garbage in the replacing transaction; an abort turns
 *   the whole upload into one garbage record of layout `multipart` (the
 *   garbage collector then frees every part it still lists, then the list).
 * - while it completes: the upload, and the completion's pending record
 *   (dataId `mpu-<uploadId>`, layout `multipart`), written together with the
 *   state `completing`. An abort clears that pending record in its own
 *   transaction, so the commit (which needs it) can no longer succeed.
 * - once completed: the object version. The commit transaction clears the
 *   upload record and the pending record; the part records stay as the
 *   object's part list, and the version's garbage record frees them.
 */
import { pack } from "fdb-tuple";
import { assert } from "../../runtime/index.ts";
import { keyAfter, strinc } from "./bytes.ts";
import { multipartPartKey, multipartPartRange, multipartUploadKey, multipartUploadRange, pendingKey, bucketKey } from "./keyspace.ts";
import { encodeDataRecord, type DataLayout, type ObjectHeaders, type ObjectTag, type PendingRecord } from "./object-catalog.ts";
import { markGarbage } from "./object-versions.ts";
import { decodeRecordOf, encodeRecord } from "./record-codec.ts";
import { runBatchedWork } from "./batched-work.ts";
import type { MetaStore, MetaTransaction } from "./store.ts";

const uploadRecordVersion = 1;
const partRecordVersion = 1;
/** Parts read per range read. */
const partReadBatchMax = 1_000;
/** The most part numbers S3 allows. */
export const partNumberMax = 10_000;

export type MultipartChecksumAlgorithm = "CRC32" | "CRC32C" | "CRC64NVME" | "SHA1" | "SHA256";

export interface UploadRecord {
  bucket: string;
  key: string;
  uploadId: string;
  initiatedMs: number;
  storageClass: string;
  headers: ObjectHeaders;
  userMetadata: Record<string, string>;
  checksumAlgorithm?: MultipartChecksumAlgorithm;
  checksumType?: "COMPOSITE" | "FULL_OBJECT";
  tags?: ObjectTag[];
  state: "open" | "completing";
}

export interface PartRecord {
  partNumber: number;
  dataId: string;
  layout: DataLayout;
  sizeBytes: number;
  /** Lower-case hex MD5 of the part's bytes. */
  etag: string;
  lastModifiedMs: number;
  checksum?: { algorithm: MultipartChecksumAlgorithm; value: string };
}

/** The dataId of the object a completed upload becomes: fixed by the upload, so a retried completion writes the same one. */
export function multipartDataId(uploadId: string): string {
  return `mpu-${uploadId}`;
}

/** An upload's whole data as one garbage or pending record: freeing it frees every part it still lists. */
export function multipartData(upload: { bucket: string; uploadId: string }, placementGroupId: number, partCount: number, createdMs: number): PendingRecord {
  return {
    dataId: multipartDataId(upload.uploadId),
    layout: { kind: "multipart", placementGroupId, bucket: upload.bucket, uploadId: upload.uploadId, partCount },
    createdMs,
  };
}

export function encodeUploadRecord(record: UploadRecord): Uint8Array {
  return encodeRecord("multipartUpload", uploadRecordVersion, record);
}

export function decodeUploadRecord(bytes: Uint8Array): UploadRecord {
  const record = decodeRecordOf("multipartUpload", bytes);
  assert(record.version === uploadRecordVersion, `unknown multipart upload record version ${record.version}`);
  return record.value as UploadRecord;
}

export function encodePartRecord(record: PartRecord): Uint8Array {
  return encodeRecord("multipartPart", partRecordVersion, record);
}

export function decodePartRecord(bytes: Uint8Array): PartRecord {
  const record = decodeRecordOf("multipartPart", bytes);
  assert(record.version === partRecordVersion, `unknown multipart part record version ${record.version}`);
  return record.value as PartRecord;
}

export interface ListUploadsRequest {
  readonly bucket: string;
  readonly prefix: string;
  /** "" = none. */
  readonly delimiter: string;
  /** "" = from the start. */
  readonly keyMarker: string;
  /** Only with keyMarker: uploads of that key after this id. */
  readonly uploadIdMarker: string;
  /** 0 to 1000. */
  readonly maxUploads: number;
}

export interface ListUploadsResult {
  readonly uploads: UploadRecord[];
  readonly commonPrefixes: string[];
  readonly isTruncated: boolean;
  readonly nextKeyMarker?: string;
  readonly nextUploadIdMarker?: string;
}

/** What finishing a part's write found. */
export type CommitPartResult = { readonly freed: PendingRecord[] } | "no-such-upload" | "abandoned";

/** Multipart uploads over a `MetaStore`; see the file comment. */
export class MultipartCatalog {
  readonly #store: MetaStore;
  readonly #monotonicMs: () => number;

  constructor(store: MetaStore, monotonicMs: () => number) {
    this.#store = store;
    this.#monotonicMs = monotonicMs;
  }

  async createUpload(record: UploadRecord): Promise<"ok" | "no-such-bucket"> {
    assert(record.state === "open", "an upload starts open");
    return this.#store.transact(async (tx) => {
      if ((await tx.get(bucketKey(record.bucket))) === undefined) return "no-such-bucket";
      tx.set(multipartUploadKey(record.bucket, record.key, record.uploadId), encodeUploadRecord(record));
      return "ok";
    });
  }

  async getUpload(bucket: string, key: string, uploadId: string): Promise<UploadRecord | undefined> {
    return this.#store.transact((tx) => readUpload(tx, bucket, key, uploadId));
  }

  /**
   * Makes a written part part of its open upload, in one transaction: the
   * part's PREPARING record is cleared and a part it replaces becomes garbage.
   * "no-such-upload": the upload was aborted, completed or is completing (its
   * parts are frozen); "abandoned": the PREPARING record was reclaimed. In
   * both cases nothing changed and the caller frees what it wrote.
   */
  async commitPart(bucket: string, key: string, uploadId: string, part: PartRecord, nowMs: number): Promise<CommitPartResult> {
    return this.#store.transact(async (tx) => {
      const upload = await readUpload(tx, bucket, key, uploadId);
      if (upload === undefined || upload.state !== "open") return "no-such-upload";
      if ((await tx.get(pendingKey(part.dataId))) === undefined) return "abandoned";
      tx.clear(pendingKey(part.dataId));
      const freed: PendingRecord[] = [];
      const partKey = multipartPartKey(bucket, uploadId, part.partNumber);
      const previous = await tx.get(partKey);
      if (previous !== undefined) {
        const replaced = decodePartRecord(previous);
        freed.push(markGarbage(tx, { dataId: replaced.dataId, layout: replaced.layout, createdMs: replaced.lastModifiedMs }, nowMs));
      }
      tx.set(partKey, encodePartRecord(part));
      return { freed };
    });
  }

  /** Up to `limit` parts of an upload (or of a completed object's part list) with numbers above `afterPartNumber`. */
  async listParts(bucket: string, uploadId: string, afterPartNumber: number, limit: number): Promise<PartRecord[]> {
    assert(Number.isInteger(limit) && limit >= 0 && limit <= partReadBatchMax, `listParts: bad limit ${limit}`);
    if (limit === 0) return [];
    return this.#store.transact(async (tx) => {
      const range = multipartPartRange(bucket, uploadId);
      const begin = afterPartNumber <= 0 ? range.begin : keyAfter(multipartPartKey(bucket, uploadId, afterPartNumber));
      return (await tx.getRange(begin, range.end, { limit })).map((pair) => decodePartRecord(pair.value));
    });
  }

  /**
   * Freezes an upload's parts for its completion: state `completing`, and
   * the completion's pending record (`completion`) in the same transaction.
   * Idempotent: a retried completion finds it completing already.
   */
  async beginCompletion(bucket: string, key: string, uploadId: string, completion: PendingRecord): Promise<UploadRecord | "no-such-upload"> {
    return this.#store.transact(async (tx) => {
      const upload = await readUpload(tx, bucket, key, uploadId);
      if (upload === undefined) return "no-such-upload";
      const completing: UploadRecord = { ...upload, state: "completing" };
      tx.set(multipartUploadKey(bucket, key, uploadId), encodeUploadRecord(completing));
      tx.set(pendingKey(completion.dataId), encodeDataRecord("pending", completion));
      return completing;
    });
  }

  /** A completion refused (a part list that does not match): the upload is open again, as S3 leaves it. */
  async reopen(bucket: string, key: string, uploadId: string): Promise<void> {
    await this.#store.transact(async (tx) => {
      const upload = await readUpload(tx, bucket, key, uploadId);
      if (upload === undefined || upload.state !== "completing") return;
      tx.set(multipartUploadKey(bucket, key, uploadId), encodeUploadRecord({ ...upload, state: "open" }));
      tx.clear(pendingKey(multipartDataId(uploadId)));
    });
  }

  /**
   * Turns every part of a completing upload that the completion does not
   * list into garbage, in budgeted transactions (10,000 parts never have to
   * fit one). Only a completing upload's parts: its part set is frozen.
   */
  async dropUnlistedParts(bucket: string, uploadId: string, listed: ReadonlySet<number>, nowMs: number): Promise<PendingRecord[]> {
    const freed: PendingRecord[] = [];
    // A step may run more than once (a conflicted transaction is retried): only a committed attempt's garbage counts.
    let attempt: PendingRecord[] = [];
    const range = multipartPartRange(bucket, uploadId);
    const report = await runBatchedWork<Uint8Array>(
      this.#store,
      {
        cursor: range.begin,
        step: async (tx, cursor, budget) => {
          attempt = [];
          let next = cursor;
          for (;;) {
            const batch = await tx.getRange(next, range.end, { limit: partReadBatchMax });
            for (const pair of batch) {
              if (budget.exhausted()) return { done: false, cursor: next };
              const part = decodePartRecord(pair.value);
              if (!listed.has(part.partNumber)) {
                tx.clear(pair.key);
                attempt.push(markGarbage(tx, { dataId: part.dataId, layout: part.layout, createdMs: part.lastModifiedMs }, nowMs));
              }
              budget.itemDone();
              next = keyAfter(pair.key);
            }
            if (batch.length < partReadBatchMax) return { done: true };
          }
        },
      },
      {
        monotonicMs: this.#monotonicMs,
        transactionsMax: partNumberMax,
        onCommitted: () => {
          freed.push(...attempt);
        },
      },
    );
    assert(report.done, "dropUnlistedParts: at most one transaction per part");
    return freed;
  }

  /**
   * Aborts an upload in one transaction: its record and any completion's
   * pending record go, and its data becomes one garbage record of layout
   * `multipart` (the collector frees the parts it lists). "no-such-upload"
   * when it was aborted or completed already.
   */
  async abortUpload(bucket: string, key: string, uploadId: string, placementGroupId: number, nowMs: number): Promise<PendingRecord | "no-such-upload"> {
    return this.#store.transact(async (tx) => {
      const upload = await readUpload(tx, bucket, key, uploadId);
      if (upload === undefined) return "no-such-upload";
      tx.clear(multipartUploadKey(bucket, key, uploadId));
      tx.clear(pendingKey(multipartDataId(uploadId)));
      return markGarbage(tx, multipartData(upload, placementGroupId, -1, nowMs), nowMs);
    });
  }

  /**
   * Removes part records of a freed multipart object (or aborted upload) up
   * to and including `throughPartNumber`, once their bytes are freed.
   */
  async forgetParts(bucket: string, uploadId: string, throughPartNumber: number): Promise<void> {
    await this.#store.transact(async (tx) => {
      const range = multipartPartRange(bucket, uploadId);
      tx.clearRange(range.begin, keyAfter(multipartPartKey(bucket, uploadId, throughPartNumber)));
    });
  }

  /**
   * One page of a bucket's uploads in (key, upload id) order, S3's
   * ListMultipartUploads: after (keyMarker, uploadIdMarker); with a delimiter
   * the keys beneath each common prefix roll up into it, skipped by seeking
   * past the prefix, never by reading what is under it.
   */
  async listUploads(request: ListUploadsRequest): Promise<ListUploadsResult | "no-such-bucket"> {
    assert(Number.isInteger(request.maxUploads) && request.maxUploads >= 0 && request.maxUploads <= 1000, "listUploads: bad maxUploads");
    return this.#store.transact(async (tx) => {
      if ((await tx.get(bucketKey(request.bucket))) === undefined) return "no-such-bucket";
      const range = multipartUploadRange(request.bucket);
      const prefixBegin = uploadKeyPrefix(request.bucket, request.prefix);
      let cursor = maxBytes(range.begin, prefixBegin);
      const end = request.prefix === "" ? range.end : strinc(prefixBegin);
      if (request.keyMarker !== "") {
        const after =
          request.uploadIdMarker === ""
            ? strinc(uploadKeyPrefix(request.bucket, request.keyMarker, true))
            : keyAfter(multipartUploadKey(request.bucket, request.keyMarker, request.uploadIdMarker));
        cursor = maxBytes(cursor, after);
      }
      const uploads: UploadRecord[] = [];
      const commonPrefixes: string[] = [];
      let last: { key: string; uploadId?: string } | undefined;
      for (;;) {
        const batch = await tx.getRange(cursor, end, { limit: partReadBatchMax });
        let seeked = false;
        for (const pair of batch) {
          if (uploads.length + commonPrefixes.length >= request.maxUploads) return truncated(uploads, commonPrefixes, last);
          const upload = decodeUploadRecord(pair.value);
          const rest = upload.key.slice(request.prefix.length);
          const at = request.delimiter === "" ? -1 : rest.indexOf(request.delimiter);
          if (at >= 0) {
            const commonPrefix = upload.key.slice(0, request.prefix.length + at + request.delimiter.length);
            // A marker that is a common prefix (the previous page ended with it) is passed, not repeated.
            if (commonPrefix !== request.keyMarker) {
              commonPrefixes.push(commonPrefix);
              last = { key: commonPrefix };
            }
            cursor = strinc(uploadKeyPrefix(request.bucket, commonPrefix));
            seeked = true;
            break;
          }
          uploads.push(upload);
          last = { key: upload.key, uploadId: upload.uploadId };
          cursor = keyAfter(pair.key);
        }
        if (!seeked && batch.length < partReadBatchMax) return { uploads, commonPrefixes, isTruncated: false };
      }
    });
  }

  /**
   * Uploads initiated before `initiatedBeforeMs`, at most `limit`, scanning
   * the buckets named (the Janitor passes every bucket).
   */
  async staleUploads(buckets: readonly string[], initiatedBeforeMs: number, limit: number): Promise<UploadRecord[]> {
    const stale: UploadRecord[] = [];
    for (const bucket of buckets) {
      const range = multipartUploadRange(bucket);
      let cursor = range.begin;
      while (stale.length < limit) {
        const from = cursor;
        const batch = await this.#store.transact((tx) => tx.getRange(from, range.end, { limit: partReadBatchMax }));
        for (const pair of batch) {
          const upload = decodeUploadRecord(pair.value);
          if (upload.initiatedMs < initiatedBeforeMs && stale.length < limit) stale.push(upload);
        }
        const lastPair = batch[batch.length - 1];
        if (lastPair === undefined || batch.length < partReadBatchMax) break;
        cursor = keyAfter(lastPair.key);
      }
      if (stale.length >= limit) break;
    }
    return stale;
  }
}

function truncated(uploads: UploadRecord[], commonPrefixes: string[], last: { key: string; uploadId?: string } | undefined): ListUploadsResult {
  return {
    uploads,
    commonPrefixes,
    isTruncated: true,
    ...(last === undefined ? {} : { nextKeyMarker: last.key }),
    ...(last?.uploadId === undefined ? {} : { nextUploadIdMarker: last.uploadId }),
  };
}

async function readUpload(tx: MetaTransaction, bucket: string, key: string, uploadId: string): Promise<UploadRecord | undefined> {
  const bytes = await tx.get(multipartUploadKey(bucket, key, uploadId));
  return bytes === undefined ? undefined : decodeUploadRecord(bytes);
}

/**
 * The bytes that begin the stored key of every upload whose object key starts
 * with `keyPrefix` (the encoded key without its terminator); `whole`: of
 * every upload of exactly that key (terminator included).
 */
function uploadKeyPrefix(bucket: string, keyPrefix: string, whole = false): Uint8Array {
  const full = new Uint8Array(pack(["u", bucket, keyPrefix]));
  return whole ? full : full.subarray(0, full.length - 1);
}

function maxBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  return Buffer.compare(a, b) >= 0 ? a : b;
}
