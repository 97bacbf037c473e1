/**
 * What the S3 core needs from the layers below it (metadata model and data
 * path). The core is written against this interface only, so it can be tested
 * and reused whatever sits underneath.
 *
 * Methods return plain results; "not found" style outcomes are values, not
 * exceptions. Errors thrown by the body iterable passed to `putObject` (for
 * instance an `S3Error("BadDigest")` from a verifying wrapper) must propagate
 * out of `putObject` unchanged, and the object must then not be stored.
 * Operating faults (`Fault`) are thrown wrapped in `FaultError`.
 */
import type { Fault } from "../runtime/index.ts";

export class FaultError extends Error {
  readonly value: Fault;
  constructor(value: Fault) {
    super(`${value.fault}: ${value.detail}`);
    this.name = "FaultError";
    this.value = value;
  }
}

/** A bucket's versioning state; "Unversioned" until PutBucketVersioning was ever called. */
export type BucketVersioning = "Unversioned" | "Enabled" | "Suspended";

/** The per-bucket configuration documents a backend keeps for the S3 core. */
export type BucketConfigurationName = "tagging" | "cors" | "policy";

/**
 * The largest document of each name the backend must accept, in UTF-8 bytes
 * (cluster/metadata's `bucketConfigurationBytesMax`): the S3 core refuses a
 * larger one before calling `putBucketConfiguration`.
 */
export const bucketConfigurationBytesMax: Readonly<Record<BucketConfigurationName, number>> = {
  tagging: 80 * 1024,
  cors: 64 * 1024,
  policy: 20 * 1024,
};

export interface BucketInfo {
  readonly name: string;
  readonly createdMs: number;
  /** The user name that created it; absent for buckets created before owners were recorded (the admins' buckets). */
  readonly owner?: string;
}

/** Standard headers stored with an object and returned on GET and HEAD. */
export interface StoredHeaders {
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly contentDisposition?: string;
  readonly contentLanguage?: string;
  readonly cacheControl?: string;
  /** Stored verbatim as the client sent it. */
  readonly expires?: string;
}

/** The additional checksum algorithms S3 knows (`x-amz-checksum-<lower-case name>`). */
export type ChecksumAlgorithm = "CRC32" | "CRC32C" | "CRC64NVME" | "SHA1" | "SHA256";
/** FULL_OBJECT: over the whole body. COMPOSITE: a checksum of the parts' checksums (multipart). */
export type ChecksumType = "FULL_OBJECT" | "COMPOSITE";

/** A verified checksum, stored with an object and returned when a client asks (`x-amz-checksum-mode: ENABLED`). */
export interface ObjectChecksum {
  readonly algorithm: ChecksumAlgorithm;
  /** Base64 of the big-endian digest; a COMPOSITE value ends in `-<part count>`. */
  readonly value: string;
  readonly type: ChecksumType;
}

/** One S3 object tag (at most 10 per version; key 1-128, value 0-256 Unicode characters; keys unique). */
export interface ObjectTag {
  readonly key: string;
  readonly value: string;
}

export interface ObjectInfo {
  readonly bucket: string;
  readonly key: string;
  readonly sizeBytes: number;
  /** Lower-case hex MD5 of the body, without quotes. */
  readonly etag: string;
  readonly lastModifiedMs: number;
  readonly storageClass: string;
  readonly headers: StoredHeaders;
  /** `x-amz-meta-*` values keyed by the lower-case name without the prefix. */
  readonly userMetadata: Readonly<Record<string, string>>;
  /** Opaque identity of the stored bytes; only the backend reads it. */
  readonly dataId: string;
  /** S3 version id; "null" for the null version (written while the bucket was unversioned or suspended). */
  readonly versionId: string;
  /** The checksum the client had verified on upload; absent when it sent none (and for objects stored before). */
  readonly checksum?: ObjectChecksum;
  /** The version's tags in the order they were set; absent (never empty) when it has none. */
  readonly tags?: readonly ObjectTag[];
}

/** A part's bytes within its object, and how many parts the object has (absent: not a multipart object). */
export interface ObjectPartWindow {
  readonly startBytes: number;
  readonly endBytesExclusive: number;
  readonly partsCount?: number;
}

/** A delete marker (a version with no data). */
export interface DeleteMarkerInfo {
  readonly bucket: string;
  readonly key: string;
  readonly versionId: string;
  readonly lastModifiedMs: number;
}

/**
 * A conditional write's precondition (S3's `If-None-Match: *` / `If-Match`
 * on PutObject, CopyObject and CompleteMultipartUpload). It is decided in the
 * commit, where the key's writes are serialized, never by a read before the
 * write: of many writers racing with `ifNoneMatch: "*"` exactly one commits.
 */
export interface WriteCondition {
  /** Write only when the key has no current version (a current delete marker counts as none). */
  readonly ifNoneMatch?: "*";
  /** Write only when the current version is an object with this ETag (no quotes); "*": any current object. */
  readonly ifMatch?: string;
}

/**
 * Why a conditional write stored nothing: its condition did not hold
 * ("precondition-failed", S3's 412), or `ifMatch` found no current object
 * version at all ("no-such-key", S3's 404 NoSuchKey).
 */
export type WriteRefusal = "precondition-failed" | "no-such-key";

export interface PutObjectInput {
  readonly bucket: string;
  readonly key: string;
  /** The decoded body (aws-chunked framing already removed). */
  readonly body: AsyncIterable<Uint8Array>;
  readonly headers: StoredHeaders;
  readonly userMetadata: Readonly<Record<string, string>>;
  readonly storageClass: string;
  /** Retries of one client request carry the same token (the SDKs' `amz-sdk-invocation-id`, or
   *  `x-cairn-idempotency-token`); a PUT whose token already committed for this bucket and key returns that
   *  version instead of writing a second one. */
  readonly idempotencyToken?: string;
  /**
   * The verified checksum to store with the object, or undefined for none. A
   * function, because a trailer's value arrives only with the body's end: the
   * backend calls it once `body` has ended without error, never earlier.
   */
  readonly checksum?: () => ObjectChecksum | undefined;
  /** The new version's tags (`x-amz-tagging`, validated); absent or empty for none. */
  readonly tags?: readonly ObjectTag[];
  /**
   * Checked when the write commits; a refused write stores nothing and its
   * data is freed. A retry whose idempotency token already committed is
   * answered with that version, whatever the condition says now.
   */
  readonly condition?: WriteCondition;
  /**
   * True when `body` is the server's own stream (CopyObject's read of its
   * source), not a client's upload: when nothing is to be stored (a retry
   * answered from its token, a condition refused before the data is
   * written) the backend may close it instead of reading it to the end. A
   * client's body is always read to the end, so its digests are checked.
   */
  readonly bodyIsLocal?: boolean;
}

export interface ListObjectsInput {
  readonly bucket: string;
  readonly prefix: string;
  /** Empty string means no delimiter. */
  readonly delimiter: string;
  /** Return only keys (and common prefixes) strictly greater than this. */
  readonly after: string;
  /** 0 to 1000. */
  readonly maxKeys: number;
}

export interface ListObjectsPage {
  readonly objects: readonly ObjectInfo[];
  readonly commonPrefixes: readonly string[];
  readonly isTruncated: boolean;
  /** The last key or common prefix returned, for continuation, when truncated. */
  readonly lastReturned?: string;
}

export interface ListObjectVersionsInput {
  readonly bucket: string;
  readonly prefix: string;
  readonly delimiter: string; // "" = none
  readonly keyMarker: string; // "" = from the start
  readonly versionIdMarker: string; // "" = none; only meaningful with keyMarker
  readonly maxKeys: number; // 0..1000
}

export type VersionEntry =
  | { readonly kind: "version"; readonly info: ObjectInfo; readonly isLatest: boolean }
  | { readonly kind: "deleteMarker"; readonly marker: DeleteMarkerInfo; readonly isLatest: boolean };

export interface ListObjectVersionsPage {
  readonly entries: readonly VersionEntry[]; // key order, then newest first within a key
  readonly commonPrefixes: readonly string[];
  readonly isTruncated: boolean;
  readonly nextKeyMarker?: string;
  readonly nextVersionIdMarker?: string;
}

// ---- multipart uploads ----

export interface CreateMultipartUploadInput {
  readonly bucket: string;
  readonly key: string;
  readonly headers: StoredHeaders;
  readonly userMetadata: Readonly<Record<string, string>>;
  readonly storageClass: string;
  /** Every part must then carry this checksum, and the object gets one of `checksumType`. */
  readonly checksumAlgorithm?: ChecksumAlgorithm;
  readonly checksumType?: ChecksumType;
  /** `x-amz-tagging`: the object's tags once completed. */
  readonly tags?: readonly ObjectTag[];
}

export interface MultipartUploadInfo {
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
  readonly initiatedMs: number;
  readonly storageClass: string;
  readonly checksumAlgorithm?: ChecksumAlgorithm;
  readonly checksumType?: ChecksumType;
}

export interface UploadPartInput {
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
  /** 1 to 10,000. */
  readonly partNumber: number;
  readonly body: AsyncIterable<Uint8Array>;
  /** As `PutObjectInput.checksum`: read once the body has ended. */
  readonly checksum?: () => ObjectChecksum | undefined;
}

export interface PartInfo {
  readonly partNumber: number;
  /** Lower-case hex MD5 of the part, without quotes. */
  readonly etag: string;
  readonly sizeBytes: number;
  readonly lastModifiedMs: number;
  readonly checksum?: { readonly algorithm: ChecksumAlgorithm; readonly value: string };
}

/** One entry of a CompleteMultipartUpload request. */
export interface CompletedPart {
  readonly partNumber: number;
  /** Without quotes. */
  readonly etag: string;
  /** The part's checksum of the upload's algorithm, when the request carries one (base64). */
  readonly checksum?: string;
}

export interface CompleteMultipartUploadInput {
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
  readonly parts: readonly CompletedPart[];
  readonly idempotencyToken?: string;
  readonly condition?: WriteCondition;
  /**
   * The object's checksum as the client computed it (`x-amz-checksum-<algorithm>` on the completion):
   * for a FULL_OBJECT upload it must equal the parts' CRCs combined (BadDigest otherwise, nothing
   * committed); another algorithm than the upload's is InvalidRequest. A COMPOSITE upload ignores it.
   */
  readonly expectedChecksum?: { readonly algorithm: ChecksumAlgorithm; readonly value: string };
}

/** Why a completion was refused (the upload stays open, as S3 leaves it); `code` is the S3 error code. */
export interface CompletionRefusal {
  readonly refused: "InvalidPart" | "InvalidPartOrder" | "EntityTooSmall" | "InvalidRequest" | "BadDigest";
  readonly message: string;
}

export interface ListPartsPage {
  readonly upload: MultipartUploadInfo;
  readonly parts: readonly PartInfo[];
  readonly isTruncated: boolean;
  readonly nextPartNumberMarker?: number;
}

export interface ListMultipartUploadsInput {
  readonly bucket: string;
  readonly prefix: string;
  readonly delimiter: string;
  readonly keyMarker: string;
  readonly uploadIdMarker: string;
  /** 0 to 1000. */
  readonly maxUploads: number;
}

export interface ListMultipartUploadsPage {
  readonly uploads: readonly MultipartUploadInfo[];
  readonly commonPrefixes: readonly string[];
  readonly isTruncated: boolean;
  readonly nextKeyMarker?: string;
  readonly nextUploadIdMarker?: string;
}

/** Multipart uploads (S3's CreateMultipartUpload, UploadPart, CompleteMultipartUpload, …). */
export interface MultipartBackend {
  createMultipartUpload(input: CreateMultipartUploadInput): Promise<MultipartUploadInfo | "no-such-bucket">;
  /** Stores one part; replaces an earlier part of the same number. Resolves once it is durable. */
  uploadPart(input: UploadPartInput): Promise<PartInfo | "no-such-bucket" | "no-such-upload">;
  /**
   * Makes the listed parts the object, in one commit. Parts uploaded but not
   * listed are freed. A retry of a completion that committed answers with the
   * object it made.
   */
  completeMultipartUpload(
    input: CompleteMultipartUploadInput,
  ): Promise<ObjectInfo | "no-such-bucket" | "no-such-upload" | CompletionRefusal | WriteRefusal>;
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<"aborted" | "no-such-bucket" | "no-such-upload">;
  /** Parts above `afterPartNumber`, at most `maxParts` (0 to 1000). */
  listParts(bucket: string, key: string, uploadId: string, afterPartNumber: number, maxParts: number): Promise<ListPartsPage | "no-such-bucket" | "no-such-upload">;
  listMultipartUploads(input: ListMultipartUploadsInput): Promise<ListMultipartUploadsPage | "no-such-bucket">;
}

export interface ObjectBackend extends MultipartBackend {
  /**
   * The storage classes this store is configured to keep. A PUT naming one
   * S3 knows but this set lacks gets InvalidStorageClass (as MinIO answers).
   */
  readonly storageClasses: ReadonlySet<string>;
  listBuckets(): Promise<BucketInfo[]>;
  /** `owner`: the creating user's name, recorded with the bucket (an existing bucket keeps its owner). */
  createBucket(name: string, owner?: string): Promise<"created" | "exists">;
  headBucket(name: string): Promise<BucketInfo | undefined>;
  deleteBucket(name: string): Promise<"deleted" | "not-found" | "not-empty">;
  /** Stores the object; resolves once data and metadata are durable. Only a conditional write can be refused. */
  putObject(input: PutObjectInput & { readonly condition?: undefined }): Promise<ObjectInfo | "no-such-bucket">;
  putObject(input: PutObjectInput): Promise<ObjectInfo | "no-such-bucket" | WriteRefusal>;
  getBucketVersioning(bucket: string): Promise<BucketVersioning | "no-such-bucket">;
  putBucketVersioning(bucket: string, status: "Enabled" | "Suspended"): Promise<"ok" | "no-such-bucket">;
  /** `versionId` undefined = the current version. */
  headObject(
    bucket: string,
    key: string,
    versionId?: string,
  ): Promise<ObjectInfo | { readonly deleteMarker: DeleteMarkerInfo } | "no-such-bucket" | "no-such-key" | "no-such-version">;
  /**
   * Streams bytes [startBytes, endBytesExclusive) of an object found by
   * `headObject`. Chunks are yielded as they are read; a fault mid-stream is
   * thrown as `FaultError`.
   */
  readObject(info: ObjectInfo, startBytes: number, endBytesExclusive: number): AsyncIterable<Uint8Array>;
  /**
   * Where part `partNumber` of the object lies (GetObject/HeadObject `partNumber`): for a multipart
   * object, the `partNumber`-th part of its completion (1-based, in order) and the part count; any
   * other object is one part, number 1, with no count. "no-such-part" past the last.
   */
  objectPart(info: ObjectInfo, partNumber: number): Promise<ObjectPartWindow | "no-such-part">;
  /** Without versionId: in an Enabled bucket adds a delete marker; in a Suspended one replaces the null version by a
   *  null delete marker; in an Unversioned one removes the object. With versionId: removes exactly that version
   *  (object version or delete marker); the previous version becomes current. A missing key or version succeeds.
   *  `condition` (S3's If-Match on DELETE; only its `ifMatch`, never with versionId) is decided where the key's
   *  writes are serialized, against the current version, like a conditional write's: a refusal deletes nothing. */
  deleteObject(
    bucket: string,
    key: string,
    versionId?: string,
    condition?: WriteCondition,
  ): Promise<{ readonly deleteMarker: boolean; readonly versionId?: string } | "no-such-bucket" | WriteRefusal>;
  /** Current versions only, never delete markers (a key whose current version is a delete marker is absent). */
  listObjects(input: ListObjectsInput): Promise<ListObjectsPage | "no-such-bucket">;
  listObjectVersions(input: ListObjectVersionsInput): Promise<ListObjectVersionsPage | "no-such-bucket">;
  /** A bucket's configuration document as last stored, undefined when none is set. */
  getBucketConfiguration(bucket: string, name: BucketConfigurationName): Promise<string | undefined | "no-such-bucket">;
  /** Replaces the document (already validated by the S3 core, at most `bucketConfigurationBytesMax[name]` UTF-8 bytes). */
  putBucketConfiguration(bucket: string, name: BucketConfigurationName, document: string): Promise<"ok" | "no-such-bucket">;
  /** Removes the document; removing one that is not set succeeds. */
  deleteBucketConfiguration(bucket: string, name: BucketConfigurationName): Promise<"ok" | "no-such-bucket">;
  /**
   * Replaces the tags of the current version (`versionId` undefined) or of one
   * version; `[]` removes them. Nothing else changes (ETag, Last-Modified). A
   * delete marker found there is returned and left alone; a successful call
   * names the version it tagged.
   */
  setObjectTags(
    bucket: string,
    key: string,
    versionId: string | undefined,
    tags: readonly ObjectTag[],
  ): Promise<{ readonly versionId: string } | { readonly deleteMarker: DeleteMarkerInfo } | "no-such-bucket" | "no-such-key" | "no-such-version">;
}
