/**
 * TEST-ONLY: an in-memory `ObjectBackend` for exercising the S3 core and its
 * adapters. It buffers whole objects and has no durability; never use it
 * outside tests.
 *
 * It keeps the contract the real backend keeps: an error thrown by the body
 * iterable propagates out of `putObject` unchanged and nothing is stored; the
 * versioning rules of `ObjectBackend` (version ids, the null version, delete
 * markers, ListObjectVersions order and markers, idempotency tokens) hold as
 * written in `gateway/backend.ts`. A write's `condition` is decided after the
 * body ended, with no await between the check and the store (the "commit"),
 * after the token check, by the real store's rule (`conditionRefusal`).
 */
import { createHash } from "node:crypto";
import { assert } from "../../runtime/index.ts";
import { storageClasses as s3StorageClasses } from "../s3/validation.ts";
import { bucketConfigurationBytesMax } from "../backend.ts";
import type {
  BucketConfigurationName,
  BucketInfo,
  BucketVersioning,
  CompleteMultipartUploadInput,
  CompletionRefusal,
  CreateMultipartUploadInput,
  DeleteMarkerInfo,
  ListMultipartUploadsInput,
  ListMultipartUploadsPage,
  ListPartsPage,
  MultipartUploadInfo,
  PartInfo,
  StoredHeaders,
  UploadPartInput,
  ListObjectsInput,
  ListObjectsPage,
  ListObjectVersionsInput,
  ListObjectVersionsPage,
  ObjectBackend,
  ObjectChecksum,
  ObjectInfo,
  ObjectPartWindow,
  ObjectTag,
  PutObjectInput,
  VersionEntry,
  WriteCondition,
  WriteRefusal,
} from "../backend.ts";

type MethodName = keyof ObjectBackend;

/** One version of a key: stored bytes, or a delete marker. */
type StoredVersion =
  | { readonly kind: "version"; readonly info: ObjectInfo; readonly data: Uint8Array; readonly partSizes?: readonly number[] }
  | { readonly kind: "deleteMarker"; readonly marker: DeleteMarkerInfo };

interface MemoryBucket {
  readonly info: BucketInfo;
  versioning: BucketVersioning;
  /** Per key, every version newest first; a key with no versions is removed. */
  readonly versions: Map<string, StoredVersion[]>;
  /**
   * `key \n token` → what that token's PUT committed, oldest first (bounded,
   * see `idempotencyTokensMax`). A retry is answered with it and writes
   * nothing, even when the version was since replaced or deleted (as the real
   * store does): the request already happened.
   */
  readonly tokens: Map<string, ObjectInfo>;
  /** Configuration documents by name (tagging, cors, policy). */
  readonly configurations: Map<BucketConfigurationName, string>;
}

/** An upload in progress: its parts buffered whole. */
interface MemoryUpload {
  readonly info: MultipartUploadInfo;
  readonly headers: StoredHeaders;
  readonly userMetadata: Readonly<Record<string, string>>;
  readonly tags: readonly ObjectTag[];
  readonly parts: Map<number, { readonly info: PartInfo; readonly data: Uint8Array }>;
}

/** S3's smallest part but the last. */
const memoryPartBytesMin = 5 * 1024 * 1024;

/** Tokens remembered per bucket; the oldest is forgotten first (the real store expires them by time). */
const idempotencyTokensMax = 10_000;

export interface MemoryBackendOptions {
  /** Time stamps for buckets and objects (tests pass a fake or the runtime clock). */
  readonly nowMs: () => number;
  /** Bytes per chunk yielded by `readObject`; small values exercise streaming. */
  readonly readChunkBytes?: number;
  /** The classes it accepts; every class S3 knows by default. */
  readonly storageClasses?: ReadonlySet<string>;
}

/** How a `putObject` call ended, reported to `onPutSettled` listeners. */
export type PutSettlement = { readonly key: string; readonly stored: boolean; readonly error?: unknown };

/** A test-only backend holding everything in maps. */
export class MemoryBackend implements ObjectBackend {
  /** Every class S3 knows, unless the options narrow it. */
  readonly storageClasses: ReadonlySet<string>;
  readonly #buckets = new Map<string, MemoryBucket>();
  readonly #nowMs: () => number;
  readonly #readChunkBytes: number;
  readonly #failures = new Map<MethodName, unknown>();
  readonly #putListeners: ((settlement: PutSettlement) => void)[] = [];
  readonly #putStartListeners: ((key: string) => void)[] = [];
  #dataCounter = 0;
  #uploadCounter = 0;
  readonly #uploads = new Map<string, MemoryUpload>();
  #versionCounter = 0;

  constructor(options: MemoryBackendOptions) {
    this.#nowMs = options.nowMs;
    this.#readChunkBytes = options.readChunkBytes ?? 64 * 1024;
    this.storageClasses = options.storageClasses ?? s3StorageClasses;
  }

  /** Makes the next call of `method` throw `error` (once). */
  failNext(method: MethodName, error: unknown): void {
    this.#failures.set(method, error);
  }

  /** Calls `listener` whenever a `putObject` call finishes, stored or not. */
  onPutSettled(listener: (settlement: PutSettlement) => void): void {
    this.#putListeners.push(listener);
  }

  /** Calls `listener` whenever a `putObject` call begins. */
  onPutStarted(listener: (key: string) => void): void {
    this.#putStartListeners.push(listener);
  }

  /** The stored bytes of a key's current version, for assertions. */
  storedBytes(bucket: string, key: string): Uint8Array | undefined {
    const current = this.#buckets.get(bucket)?.versions.get(key)?.[0];
    return current?.kind === "version" ? current.data : undefined;
  }

  /** How many keys have a live current version. */
  objectCount(bucket: string): number {
    let count = 0;
    for (const versions of this.#buckets.get(bucket)?.versions.values() ?? []) if (versions[0]?.kind === "version") count += 1;
    return count;
  }

  /** How many versions (delete markers included) a bucket holds. */
  versionCount(bucket: string): number {
    let count = 0;
    for (const versions of this.#buckets.get(bucket)?.versions.values() ?? []) count += versions.length;
    return count;
  }

  #maybeFail(method: MethodName): void {
    if (!this.#failures.has(method)) return;
    const error = this.#failures.get(method);
    this.#failures.delete(method);
    throw error;
  }

  async listBuckets(): Promise<BucketInfo[]> {
    this.#maybeFail("listBuckets");
    return [...this.#buckets.values()].map((bucket) => bucket.info);
  }

  async createBucket(name: string, owner?: string): Promise<"created" | "exists"> {
    this.#maybeFail("createBucket");
    if (this.#buckets.has(name)) return "exists";
    this.#buckets.set(name, { info: { name, createdMs: this.#nowMs(), ...(owner === undefined ? {} : { owner }) }, versioning: "Unversioned", versions: new Map(), tokens: new Map(), configurations: new Map() });
    return "created";
  }

  async headBucket(name: string): Promise<BucketInfo | undefined> {
    this.#maybeFail("headBucket");
    return this.#buckets.get(name)?.info;
  }

  async deleteBucket(name: string): Promise<"deleted" | "not-found" | "not-empty"> {
    this.#maybeFail("deleteBucket");
    const bucket = this.#buckets.get(name);
    if (bucket === undefined) return "not-found";
    // Delete markers and noncurrent versions keep a bucket non-empty, as in S3.
    if (bucket.versions.size > 0) return "not-empty";
    for (const upload of this.#uploads.values()) if (upload.info.bucket === name) return "not-empty";
    this.#buckets.delete(name);
    return "deleted";
  }

  async getBucketVersioning(name: string): Promise<BucketVersioning | "no-such-bucket"> {
    this.#maybeFail("getBucketVersioning");
    return this.#buckets.get(name)?.versioning ?? "no-such-bucket";
  }

  async putBucketVersioning(name: string, status: "Enabled" | "Suspended"): Promise<"ok" | "no-such-bucket"> {
    this.#maybeFail("putBucketVersioning");
    const bucket = this.#buckets.get(name);
    if (bucket === undefined) return "no-such-bucket";
    bucket.versioning = status;
    return "ok";
  }

  async getBucketConfiguration(name: string, configuration: BucketConfigurationName): Promise<string | undefined | "no-such-bucket"> {
    this.#maybeFail("getBucketConfiguration");
    const bucket = this.#buckets.get(name);
    return bucket === undefined ? "no-such-bucket" : bucket.configurations.get(configuration);
  }

  async putBucketConfiguration(name: string, configuration: BucketConfigurationName, document: string): Promise<"ok" | "no-such-bucket"> {
    this.#maybeFail("putBucketConfiguration");
    const bucket = this.#buckets.get(name);
    if (bucket === undefined) return "no-such-bucket";
    if (Buffer.byteLength(document, "utf8") > bucketConfigurationBytesMax[configuration]) {
      throw new Error(`memory backend: a ${configuration} document over ${bucketConfigurationBytesMax[configuration]} bytes (the S3 core checks first)`);
    }
    bucket.configurations.set(configuration, document);
    return "ok";
  }

  async deleteBucketConfiguration(name: string, configuration: BucketConfigurationName): Promise<"ok" | "no-such-bucket"> {
    this.#maybeFail("deleteBucketConfiguration");
    const bucket = this.#buckets.get(name);
    if (bucket === undefined) return "no-such-bucket";
    bucket.configurations.delete(configuration);
    return "ok";
  }

  putObject(input: PutObjectInput & { readonly condition?: undefined }): Promise<ObjectInfo | "no-such-bucket">;
  putObject(input: PutObjectInput): Promise<ObjectInfo | "no-such-bucket" | WriteRefusal>;
  async putObject(input: PutObjectInput): Promise<ObjectInfo | "no-such-bucket" | WriteRefusal> {
    for (const listener of this.#putStartListeners) listener(input.key);
    try {
      this.#maybeFail("putObject");
      if (!this.#buckets.has(input.bucket)) {
        this.#settle({ key: input.key, stored: false });
        return "no-such-bucket";
      }
      const chunks: Uint8Array[] = [];
      const hash = createHash("md5");
      let sizeBytes = 0;
      for await (const chunk of input.body) {
        chunks.push(chunk.slice());
        hash.update(chunk);
        sizeBytes += chunk.byteLength;
      }
      const data = new Uint8Array(sizeBytes);
      let offset = 0;
      for (const chunk of chunks) {
        data.set(chunk, offset);
        offset += chunk.byteLength;
      }
      // Looked up again: the bucket may have been deleted while the body streamed.
      const bucket = this.#buckets.get(input.bucket);
      if (bucket === undefined) {
        this.#settle({ key: input.key, stored: false });
        return "no-such-bucket";
      }
      const tokenKey = input.idempotencyToken === undefined ? undefined : `${input.key}\n${input.idempotencyToken}`;
      if (tokenKey !== undefined) {
        const committed = bucket.tokens.get(tokenKey);
        if (committed !== undefined) {
          this.#settle({ key: input.key, stored: false });
          return committed;
        }
      }
      // Decided after the body ended, with no await before the write below: the "commit" is atomic here.
      const refusal = input.condition === undefined ? undefined : conditionRefusal(input.condition, bucket.versions.get(input.key)?.[0]);
      if (refusal !== undefined) {
        this.#settle({ key: input.key, stored: false });
        return refusal;
      }
      this.#dataCounter += 1;
      const versionId = bucket.versioning === "Enabled" ? this.#newVersionId() : "null";
      const info: ObjectInfo = {
        bucket: input.bucket,
        key: input.key,
        sizeBytes,
        etag: hash.digest("hex"),
        lastModifiedMs: this.#nowMs(),
        storageClass: input.storageClass,
        headers: { ...input.headers },
        userMetadata: { ...input.userMetadata },
        dataId: `memory-${this.#dataCounter}`,
        versionId,
        // Read only now: the body has ended, so a trailer's value has arrived.
        ...checksumField(input.checksum?.()),
        ...tagsField(input.tags ?? []),
      };
      this.#addVersion(bucket, input.key, { kind: "version", info, data });
      if (tokenKey !== undefined) {
        bucket.tokens.delete(tokenKey);
        bucket.tokens.set(tokenKey, info);
        if (bucket.tokens.size > idempotencyTokensMax) bucket.tokens.delete(bucket.tokens.keys().next().value!);
      }
      this.#settle({ key: input.key, stored: true });
      return info;
    } catch (error) {
      this.#settle({ key: input.key, stored: false, error });
      throw error;
    }
  }

  /** Opaque, unique, URL-safe, 32 characters, like the real store's ids (but from a counter: tests stay deterministic). */
  #newVersionId(): string {
    this.#versionCounter += 1;
    return createHash("sha256").update(`memory-version-${this.#versionCounter}`).digest("base64url").slice(0, 32);
  }

  /** Makes `version` current; a null version replaces the key's earlier null version (object or marker). */
  // ---- multipart uploads (the same rules as the real store; parts buffered whole) ----

  async createMultipartUpload(input: CreateMultipartUploadInput): Promise<MultipartUploadInfo | "no-such-bucket"> {
    this.#maybeFail("createMultipartUpload");
    if (!this.#buckets.has(input.bucket)) return "no-such-bucket";
    this.#uploadCounter += 1;
    const info: MultipartUploadInfo = {
      bucket: input.bucket,
      key: input.key,
      uploadId: `upload-${this.#uploadCounter.toString().padStart(8, "0")}`,
      initiatedMs: this.#nowMs(),
      storageClass: input.storageClass,
      ...(input.checksumAlgorithm === undefined ? {} : { checksumAlgorithm: input.checksumAlgorithm }),
      ...(input.checksumType === undefined ? {} : { checksumType: input.checksumType }),
    };
    this.#uploads.set(info.uploadId, { info, headers: { ...input.headers }, userMetadata: { ...input.userMetadata }, tags: [...(input.tags ?? [])], parts: new Map() });
    return info;
  }

  async uploadPart(input: UploadPartInput): Promise<PartInfo | "no-such-bucket" | "no-such-upload"> {
    this.#maybeFail("uploadPart");
    if (!this.#buckets.has(input.bucket)) return "no-such-bucket";
    const upload = this.#upload(input.bucket, input.key, input.uploadId);
    if (upload === undefined) return "no-such-upload";
    const data = await collect(input.body);
    const checksum = input.checksum?.();
    const part: PartInfo = {
      partNumber: input.partNumber,
      etag: createHash("md5").update(data).digest("hex"),
      sizeBytes: data.byteLength,
      lastModifiedMs: this.#nowMs(),
      ...(checksum === undefined ? {} : { checksum: { algorithm: checksum.algorithm, value: checksum.value } }),
    };
    upload.parts.set(input.partNumber, { info: part, data });
    return part;
  }

  async completeMultipartUpload(
    input: CompleteMultipartUploadInput,
  ): Promise<ObjectInfo | "no-such-bucket" | "no-such-upload" | CompletionRefusal | WriteRefusal> {
    this.#maybeFail("completeMultipartUpload");
    const bucket = this.#buckets.get(input.bucket);
    if (bucket === undefined) return "no-such-bucket";
    const upload = this.#upload(input.bucket, input.key, input.uploadId);
    if (upload === undefined) return "no-such-upload";
    if (input.parts.length === 0) return { refused: "InvalidRequest", message: "You must specify at least one part." };
    const md5s = createHash("md5");
    const pieces: Uint8Array[] = [];
    let previous = 0;
    for (const [index, wanted] of input.parts.entries()) {
      if (wanted.partNumber <= previous) return { refused: "InvalidPartOrder", message: "The list of parts was not in ascending order." };
      previous = wanted.partNumber;
      const stored = upload.parts.get(wanted.partNumber);
      if (stored === undefined || stored.info.etag !== wanted.etag.toLowerCase()) {
        return { refused: "InvalidPart", message: `Part ${wanted.partNumber} cannot be used.` };
      }
      if (index < input.parts.length - 1 && stored.data.byteLength < memoryPartBytesMin) {
        return { refused: "EntityTooSmall", message: `Part ${wanted.partNumber} is smaller than the minimum.` };
      }
      md5s.update(Buffer.from(stored.info.etag, "hex"));
      pieces.push(stored.data);
    }
    const refusal = input.condition === undefined ? undefined : conditionRefusal(input.condition, bucket.versions.get(input.key)?.[0]);
    if (refusal !== undefined) return refusal;
    const data = concatenate(pieces);
    this.#dataCounter += 1;
    const info: ObjectInfo = {
      bucket: input.bucket,
      key: input.key,
      sizeBytes: data.byteLength,
      etag: `${md5s.digest("hex")}-${input.parts.length}`,
      lastModifiedMs: this.#nowMs(),
      storageClass: upload.info.storageClass,
      headers: upload.headers,
      userMetadata: upload.userMetadata,
      dataId: `memory-${this.#dataCounter}`,
      versionId: bucket.versioning === "Enabled" ? this.#newVersionId() : "null",
      ...tagsField(upload.tags),
    };
    this.#addVersion(bucket, input.key, { kind: "version", info, data, partSizes: pieces.map((piece) => piece.byteLength) });
    this.#uploads.delete(input.uploadId);
    return info;
  }

  async abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<"aborted" | "no-such-bucket" | "no-such-upload"> {
    this.#maybeFail("abortMultipartUpload");
    if (!this.#buckets.has(bucket)) return "no-such-bucket";
    if (this.#upload(bucket, key, uploadId) === undefined) return "no-such-upload";
    this.#uploads.delete(uploadId);
    return "aborted";
  }

  async listParts(
    bucket: string,
    key: string,
    uploadId: string,
    afterPartNumber: number,
    maxParts: number,
  ): Promise<ListPartsPage | "no-such-bucket" | "no-such-upload"> {
    this.#maybeFail("listParts");
    if (!this.#buckets.has(bucket)) return "no-such-bucket";
    const upload = this.#upload(bucket, key, uploadId);
    if (upload === undefined) return "no-such-upload";
    const after = [...upload.parts.values()].map((part) => part.info).filter((part) => part.partNumber > afterPartNumber);
    after.sort((a, b) => a.partNumber - b.partNumber);
    const parts = after.slice(0, maxParts);
    const isTruncated = after.length > maxParts;
    return { upload: upload.info, parts, isTruncated, ...(isTruncated && parts.length > 0 ? { nextPartNumberMarker: parts.at(-1)!.partNumber } : {}) };
  }

  async listMultipartUploads(input: ListMultipartUploadsInput): Promise<ListMultipartUploadsPage | "no-such-bucket"> {
    this.#maybeFail("listMultipartUploads");
    if (!this.#buckets.has(input.bucket)) return "no-such-bucket";
    const all = [...this.#uploads.values()]
      .map((upload) => upload.info)
      .filter((info) => info.bucket === input.bucket && info.key.startsWith(input.prefix))
      .filter((info) => input.keyMarker === "" || utf8Compare(info.key, input.keyMarker) > 0 || (info.key === input.keyMarker && input.uploadIdMarker !== "" && info.uploadId > input.uploadIdMarker))
      .sort((a, b) => utf8Compare(a.key, b.key) || (a.uploadId < b.uploadId ? -1 : a.uploadId > b.uploadId ? 1 : 0));
    const uploads: MultipartUploadInfo[] = [];
    const commonPrefixes: string[] = [];
    let last: { key: string; uploadId?: string } | undefined;
    for (const info of all) {
      const at = input.delimiter === "" ? -1 : info.key.indexOf(input.delimiter, input.prefix.length);
      const commonPrefix = at < 0 ? undefined : info.key.slice(0, at + input.delimiter.length);
      if (commonPrefix !== undefined && (commonPrefixes.at(-1) === commonPrefix || commonPrefix === input.keyMarker)) continue;
      if (uploads.length + commonPrefixes.length >= input.maxUploads) {
        return {
          uploads,
          commonPrefixes,
          isTruncated: true,
          ...(last === undefined ? {} : { nextKeyMarker: last.key }),
          ...(last?.uploadId === undefined ? {} : { nextUploadIdMarker: last.uploadId }),
        };
      }
      if (commonPrefix !== undefined) {
        commonPrefixes.push(commonPrefix);
        last = { key: commonPrefix };
      } else {
        uploads.push(info);
        last = { key: info.key, uploadId: info.uploadId };
      }
    }
    return { uploads, commonPrefixes, isTruncated: false };
  }

  #upload(bucket: string, key: string, uploadId: string): MemoryUpload | undefined {
    const upload = this.#uploads.get(uploadId);
    return upload !== undefined && upload.info.bucket === bucket && upload.info.key === key ? upload : undefined;
  }

  #addVersion(bucket: MemoryBucket, key: string, version: StoredVersion): void {
    const versionId = version.kind === "version" ? version.info.versionId : version.marker.versionId;
    const earlier = (bucket.versions.get(key) ?? []).filter((old) => versionId !== "null" || versionIdOf(old) !== "null");
    bucket.versions.set(key, [version, ...earlier]);
  }

  #settle(settlement: PutSettlement): void {
    for (const listener of this.#putListeners) listener(settlement);
  }

  async headObject(
    bucket: string,
    key: string,
    versionId?: string,
  ): Promise<ObjectInfo | { readonly deleteMarker: DeleteMarkerInfo } | "no-such-bucket" | "no-such-key" | "no-such-version"> {
    this.#maybeFail("headObject");
    const found = this.#buckets.get(bucket);
    if (found === undefined) return "no-such-bucket";
    const versions = found.versions.get(key) ?? [];
    const version = versionId === undefined ? versions[0] : versions.find((candidate) => versionIdOf(candidate) === versionId);
    if (version === undefined) return versionId === undefined ? "no-such-key" : "no-such-version";
    return version.kind === "version" ? version.info : { deleteMarker: version.marker };
  }

  async setObjectTags(
    bucket: string,
    key: string,
    versionId: string | undefined,
    tags: readonly ObjectTag[],
  ): Promise<{ readonly versionId: string } | { readonly deleteMarker: DeleteMarkerInfo } | "no-such-bucket" | "no-such-key" | "no-such-version"> {
    this.#maybeFail("setObjectTags");
    const found = this.#buckets.get(bucket);
    if (found === undefined) return "no-such-bucket";
    const versions = found.versions.get(key) ?? [];
    const index = versionId === undefined ? (versions.length === 0 ? -1 : 0) : versions.findIndex((candidate) => versionIdOf(candidate) === versionId);
    const version = versions[index];
    if (version === undefined) return versionId === undefined ? "no-such-key" : "no-such-version";
    if (version.kind === "deleteMarker") return { deleteMarker: version.marker };
    // A new info object (infos are immutable); readObject finds the data by dataId, which does not change.
    const { tags: _previous, ...untagged } = version.info;
    versions[index] = { ...version, info: { ...untagged, ...tagsField(tags) } };
    return { versionId: version.info.versionId };
  }

  async *readObject(info: ObjectInfo, startBytes: number, endBytesExclusive: number): AsyncIterable<Uint8Array> {
    this.#maybeFail("readObject");
    const stored = this.#buckets.get(info.bucket)?.versions.get(info.key)?.find((version) => version.kind === "version" && version.info.dataId === info.dataId);
    if (stored?.kind !== "version") throw new Error(`memory backend: ${info.key} was replaced or deleted`);
    for (let position = startBytes; position < endBytesExclusive; position += this.#readChunkBytes) {
      yield stored.data.slice(position, Math.min(endBytesExclusive, position + this.#readChunkBytes));
    }
  }

  async objectPart(info: ObjectInfo, partNumber: number): Promise<ObjectPartWindow | "no-such-part"> {
    const stored = this.#buckets.get(info.bucket)?.versions.get(info.key)?.find((version) => version.kind === "version" && version.info.dataId === info.dataId);
    if (stored?.kind !== "version") throw new Error(`memory backend: ${info.key} was replaced or deleted`);
    if (stored.partSizes === undefined) return partNumber === 1 ? { startBytes: 0, endBytesExclusive: info.sizeBytes } : "no-such-part";
    if (partNumber > stored.partSizes.length) return "no-such-part";
    const startBytes = stored.partSizes.slice(0, partNumber - 1).reduce((sum, size) => sum + size, 0);
    return { startBytes, endBytesExclusive: startBytes + stored.partSizes[partNumber - 1]!, partsCount: stored.partSizes.length };
  }

  async deleteObject(
    bucket: string,
    key: string,
    versionId?: string,
    condition?: WriteCondition,
  ): Promise<{ readonly deleteMarker: boolean; readonly versionId?: string } | "no-such-bucket" | WriteRefusal> {
    this.#maybeFail("deleteObject");
    const found = this.#buckets.get(bucket);
    if (found === undefined) return "no-such-bucket";
    const versions = found.versions.get(key) ?? [];
    if (condition !== undefined) {
      assert(versionId === undefined, "a conditional delete applies to the current version only");
      const refusal = conditionRefusal(condition, versions[0]);
      if (refusal !== undefined) return refusal;
    }
    if (versionId !== undefined) {
      const removed = versions.find((version) => versionIdOf(version) === versionId);
      const remaining = versions.filter((version) => version !== removed);
      if (remaining.length === 0) found.versions.delete(key);
      else found.versions.set(key, remaining);
      return { deleteMarker: removed?.kind === "deleteMarker", versionId };
    }
    switch (found.versioning) {
      case "Unversioned":
        found.versions.delete(key);
        return { deleteMarker: false };
      case "Enabled":
      case "Suspended": {
        const markerId = found.versioning === "Enabled" ? this.#newVersionId() : "null";
        this.#addVersion(found, key, { kind: "deleteMarker", marker: { bucket, key, versionId: markerId, lastModifiedMs: this.#nowMs() } });
        return { deleteMarker: true, versionId: markerId };
      }
      default: {
        const unknown: never = found.versioning;
        throw new Error(`unknown versioning state ${String(unknown)}`);
      }
    }
  }

  async listObjects(input: ListObjectsInput): Promise<ListObjectsPage | "no-such-bucket"> {
    this.#maybeFail("listObjects");
    const bucket = this.#buckets.get(input.bucket);
    if (bucket === undefined) return "no-such-bucket";
    const live = new Map<string, ObjectInfo>();
    for (const [key, versions] of bucket.versions) {
      const current = versions[0];
      if (current?.kind === "version" && key.startsWith(input.prefix)) live.set(key, current.info);
    }
    const keys = [...live.keys()].sort(compareUtf8);
    const objects: ObjectInfo[] = [];
    const commonPrefixes: string[] = [];
    let lastReturned: string | undefined;
    let count = 0;
    for (const key of keys) {
      const rolledUp = rollUp(key, input.prefix, input.delimiter);
      const entry = rolledUp ?? key;
      if (compareUtf8(entry, input.after) <= 0) continue;
      if (rolledUp !== undefined && commonPrefixes[commonPrefixes.length - 1] === rolledUp) continue;
      if (count === input.maxKeys) return { objects, commonPrefixes, isTruncated: true, ...(lastReturned === undefined ? {} : { lastReturned }) };
      if (rolledUp !== undefined) commonPrefixes.push(rolledUp);
      else objects.push(live.get(key)!);
      lastReturned = entry;
      count += 1;
    }
    return { objects, commonPrefixes, isTruncated: false };
  }

  /**
   * Versions in key order, newest first within a key. With a key marker
   * alone, listing starts after that key; with a version id marker too, it
   * starts after that version of that key (an unknown one skips the key). A
   * common prefix counts once against `maxKeys`.
   */
  async listObjectVersions(input: ListObjectVersionsInput): Promise<ListObjectVersionsPage | "no-such-bucket"> {
    this.#maybeFail("listObjectVersions");
    const bucket = this.#buckets.get(input.bucket);
    if (bucket === undefined) return "no-such-bucket";
    const keys = [...bucket.versions.keys()].filter((key) => key.startsWith(input.prefix)).sort(compareUtf8);
    const entries: VersionEntry[] = [];
    const commonPrefixes: string[] = [];
    let last: { key: string; versionId?: string } | undefined;
    const truncated = (): ListObjectVersionsPage => ({
      entries,
      commonPrefixes,
      isTruncated: true,
      ...(last === undefined ? {} : { nextKeyMarker: last.key }),
      ...(last?.versionId === undefined ? {} : { nextVersionIdMarker: last.versionId }),
    });
    for (const key of keys) {
      const rolledUp = rollUp(key, input.prefix, input.delimiter);
      if (rolledUp !== undefined) {
        if (input.keyMarker !== "" && compareUtf8(rolledUp, input.keyMarker) <= 0) continue;
        if (commonPrefixes[commonPrefixes.length - 1] === rolledUp) continue;
        if (entries.length + commonPrefixes.length === input.maxKeys) return truncated();
        commonPrefixes.push(rolledUp);
        last = { key: rolledUp };
        continue;
      }
      const order = input.keyMarker === "" ? 1 : compareUtf8(key, input.keyMarker);
      if (order < 0) continue;
      let versions = bucket.versions.get(key)!;
      if (order === 0) {
        if (input.versionIdMarker === "") continue;
        const at = versions.findIndex((version) => versionIdOf(version) === input.versionIdMarker);
        if (at < 0) continue;
        versions = versions.slice(at + 1);
      }
      for (const version of versions) {
        if (entries.length + commonPrefixes.length === input.maxKeys) return truncated();
        const isLatest = version === bucket.versions.get(key)![0];
        entries.push(version.kind === "version" ? { kind: "version", info: version.info, isLatest } : { kind: "deleteMarker", marker: version.marker, isLatest });
        last = { key, versionId: versionIdOf(version) };
      }
    }
    return { entries, commonPrefixes, isTruncated: false };
  }
}

/** The real store's rule (cluster/metadata `commitPutStep`): If-Match needs a current object, If-None-Match: * needs none. */
function conditionRefusal(condition: WriteCondition, newest: StoredVersion | undefined): WriteRefusal | undefined {
  const current = newest?.kind === "version" ? newest.info : undefined;
  if (condition.ifMatch !== undefined) {
    if (current === undefined) return "no-such-key";
    if (condition.ifMatch !== "*" && condition.ifMatch !== current.etag) return "precondition-failed";
  }
  if (condition.ifNoneMatch === "*" && current !== undefined) return "precondition-failed";
  return undefined;
}

function versionIdOf(version: StoredVersion): string {
  return version.kind === "version" ? version.info.versionId : version.marker.versionId;
}

function rollUp(key: string, prefix: string, delimiter: string): string | undefined {
  if (delimiter === "") return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at < 0 ? undefined : key.slice(0, at + delimiter.length);
}

function compareUtf8(first: string, second: string): number {
  return Buffer.compare(Buffer.from(first, "utf8"), Buffer.from(second, "utf8"));
}

function tagsField(tags: readonly ObjectTag[]): { tags?: readonly ObjectTag[] } {
  return tags.length === 0 ? {} : { tags: tags.map((tag) => ({ key: tag.key, value: tag.value })) };
}

function checksumField(checksum: ObjectChecksum | undefined): { checksum?: ObjectChecksum } {
  return checksum === undefined ? {} : { checksum };
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for await (const chunk of body) pieces.push(chunk.slice());
  return concatenate(pieces);
}

function concatenate(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.byteLength, 0));
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.byteLength;
  }
  return out;
}

function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
