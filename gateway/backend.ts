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

export interface BucketInfo {
  readonly name: string;
  readonly createdMs: number;
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
}

export interface PutObjectInput {
  readonly bucket: string;
  readonly key: string;
  /** The decoded body (aws-chunked framing already removed). */
  readonly body: AsyncIterable<Uint8Array>;
  readonly headers: StoredHeaders;
  readonly userMetadata: Readonly<Record<string, string>>;
  readonly storageClass: string;
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

export interface ObjectBackend {
  /**
   * The storage classes this store is configured to keep. A PUT naming one
   * S3 knows but this set lacks gets InvalidStorageClass (as MinIO answers).
   */
  readonly storageClasses: ReadonlySet<string>;
  listBuckets(): Promise<BucketInfo[]>;
  createBucket(name: string): Promise<"created" | "exists">;
  headBucket(name: string): Promise<BucketInfo | undefined>;
  deleteBucket(name: string): Promise<"deleted" | "not-found" | "not-empty">;
  /** Stores the object; resolves once data and metadata are durable. */
  putObject(input: PutObjectInput): Promise<ObjectInfo | "no-such-bucket">;
  headObject(bucket: string, key: string): Promise<ObjectInfo | "no-such-bucket" | "no-such-key">;
  /**
   * Streams bytes [startBytes, endBytesExclusive) of an object found by
   * `headObject`. Chunks are yielded as they are read; a fault mid-stream is
   * thrown as `FaultError`.
   */
  readObject(info: ObjectInfo, startBytes: number, endBytesExclusive: number): AsyncIterable<Uint8Array>;
  /** Deleting a missing key succeeds (S3 semantics). */
  deleteObject(bucket: string, key: string): Promise<"deleted" | "no-such-bucket">;
  listObjects(input: ListObjectsInput): Promise<ListObjectsPage | "no-such-bucket">;
}
