/**
 * TEST-ONLY: an in-memory `ObjectBackend` for exercising the S3 core and its
 * adapters. It buffers whole objects and has no durability; never use it
 * outside tests.
 *
 * It keeps the contract the real backend keeps: an error thrown by the body
 * iterable propagates out of `putObject` unchanged and nothing is stored.
 */
import { createHash } from "node:crypto";
import { storageClasses as s3StorageClasses } from "../s3/validation.ts";
import type {
  BucketInfo,
  ListObjectsInput,
  ListObjectsPage,
  ObjectBackend,
  ObjectInfo,
  PutObjectInput,
} from "../backend.ts";

type MethodName = keyof ObjectBackend;

interface StoredObject {
  readonly info: ObjectInfo;
  readonly data: Uint8Array;
}

interface MemoryBucket {
  readonly info: BucketInfo;
  readonly objects: Map<string, StoredObject>;
}

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

  /** The stored bytes of an object, for assertions. */
  storedBytes(bucket: string, key: string): Uint8Array | undefined {
    return this.#buckets.get(bucket)?.objects.get(key)?.data;
  }

  /** How many objects a bucket holds. */
  objectCount(bucket: string): number {
    return this.#buckets.get(bucket)?.objects.size ?? 0;
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

  async createBucket(name: string): Promise<"created" | "exists"> {
    this.#maybeFail("createBucket");
    if (this.#buckets.has(name)) return "exists";
    this.#buckets.set(name, { info: { name, createdMs: this.#nowMs() }, objects: new Map() });
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
    if (bucket.objects.size > 0) return "not-empty";
    this.#buckets.delete(name);
    return "deleted";
  }

  async putObject(input: PutObjectInput): Promise<ObjectInfo | "no-such-bucket"> {
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
      this.#dataCounter += 1;
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
      };
      bucket.objects.set(input.key, { info, data });
      this.#settle({ key: input.key, stored: true });
      return info;
    } catch (error) {
      this.#settle({ key: input.key, stored: false, error });
      throw error;
    }
  }

  #settle(settlement: PutSettlement): void {
    for (const listener of this.#putListeners) listener(settlement);
  }

  async headObject(bucket: string, key: string): Promise<ObjectInfo | "no-such-bucket" | "no-such-key"> {
    this.#maybeFail("headObject");
    const found = this.#buckets.get(bucket);
    if (found === undefined) return "no-such-bucket";
    return found.objects.get(key)?.info ?? "no-such-key";
  }

  async *readObject(info: ObjectInfo, startBytes: number, endBytesExclusive: number): AsyncIterable<Uint8Array> {
    this.#maybeFail("readObject");
    const stored = this.#buckets.get(info.bucket)?.objects.get(info.key);
    if (stored === undefined || stored.info.dataId !== info.dataId) throw new Error(`memory backend: ${info.key} was replaced or deleted`);
    for (let position = startBytes; position < endBytesExclusive; position += this.#readChunkBytes) {
      yield stored.data.slice(position, Math.min(endBytesExclusive, position + this.#readChunkBytes));
    }
  }

  async deleteObject(bucket: string, key: string): Promise<"deleted" | "no-such-bucket"> {
    this.#maybeFail("deleteObject");
    const found = this.#buckets.get(bucket);
    if (found === undefined) return "no-such-bucket";
    found.objects.delete(key);
    return "deleted";
  }

  async listObjects(input: ListObjectsInput): Promise<ListObjectsPage | "no-such-bucket"> {
    this.#maybeFail("listObjects");
    const bucket = this.#buckets.get(input.bucket);
    if (bucket === undefined) return "no-such-bucket";
    const keys = [...bucket.objects.keys()].filter((key) => key.startsWith(input.prefix)).sort(compareUtf8);
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
      else objects.push(bucket.objects.get(key)!.info);
      lastReturned = entry;
      count += 1;
    }
    return { objects, commonPrefixes, isTruncated: false };
  }
}

function rollUp(key: string, prefix: string, delimiter: string): string | undefined {
  if (delimiter === "") return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at < 0 ? undefined : key.slice(0, at + delimiter.length);
}

function compareUtf8(first: string, second: string): number {
  return Buffer.compare(Buffer.from(first, "utf8"), Buffer.from(second, "utf8"));
}
