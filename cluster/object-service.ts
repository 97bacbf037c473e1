/**
 * The object service: the `ObjectBackend` the S3 core calls, over the object
 * catalog (metadata) and the disk actors (bytes).
 *
 * In this issue an object is stored whole on one disk actor chosen by a stable
 * hash of (bucket, key), as a sequence of shards of `chunkBytes` each. Erasure
 * coding across a placement group's acting set replaces this in issue 3; the
 * shape (prepare → stream shards → commit) is the one it keeps.
 *
 * Invariants:
 * - A PUT is visible only after every shard is durable and the commit
 *   transaction is durable; a failed or abandoned PUT leaves only a pending
 *   record, which `collectGarbage` turns back into free space.
 * - Bytes are never buffered whole: at most `appendsInFlightMax` shards per
 *   PUT and `readsAheadMax` shards per GET are held in memory.
 */
import { createHash } from "node:crypto";
import { crc32c } from "@node-rs/crc32";
import type {
  AppendShardReply,
  DeleteShardReply,
  DiskMessage,
  ReadShardReply,
} from "../actors/disk/protocol.ts";
import type { ObjectCatalog, ObjectRecord } from "./metadata/index.ts";
import { assert, isFault, type ActorRef, type Fault, type Host } from "../runtime/index.ts";
import {
  FaultError,
  type BucketInfo,
  type ListObjectsInput,
  type ListObjectsPage,
  type ObjectBackend,
  type ObjectInfo,
  type PutObjectInput,
} from "../gateway/index.ts";

export interface ObjectServiceOptions {
  readonly host: Host;
  readonly catalog: ObjectCatalog;
  /** The disk actors, in a fixed order: an object's disk is chosen by hash modulo this list. */
  readonly disks: readonly { readonly diskId: string; readonly ref: ActorRef<DiskMessage> }[];
  /** Bytes per stored shard; the last shard of an object may be shorter. */
  readonly chunkBytes?: number;
  readonly appendsInFlightMax?: number;
  readonly readsAheadMax?: number;
  /** Bound on every ask to a disk actor. */
  readonly diskAskTimeoutMs?: number;
  /** PREPARING records older than this are treated as abandoned by `collectGarbage`. */
  readonly preparingMaxAgeMs?: number;
}

const epochCurrent = 0;

/** Shard key of chunk `index` of the data `dataId`. */
export function chunkShardKey(dataId: string, index: number): string {
  return `${dataId}/${index}`;
}

export class ObjectService implements ObjectBackend {
  readonly #host: Host;
  readonly #catalog: ObjectCatalog;
  readonly #disks: ObjectServiceOptions["disks"];
  readonly #chunkBytes: number;
  readonly #appendsInFlightMax: number;
  readonly #readsAheadMax: number;
  readonly #diskAskTimeoutMs: number;
  readonly #preparingMaxAgeMs: number;
  /** Where the bytes of an ObjectInfo handed out by headObject live. */
  readonly #records = new WeakMap<ObjectInfo, ObjectRecord>();
  #dataIdCounter = 0;

  constructor(options: ObjectServiceOptions) {
    assert(options.disks.length > 0, "an object service needs at least one disk");
    this.#host = options.host;
    this.#catalog = options.catalog;
    this.#disks = options.disks;
    this.#chunkBytes = options.chunkBytes ?? 1024 * 1024;
    this.#appendsInFlightMax = options.appendsInFlightMax ?? 4;
    this.#readsAheadMax = options.readsAheadMax ?? 2;
    this.#diskAskTimeoutMs = options.diskAskTimeoutMs ?? 30_000;
    this.#preparingMaxAgeMs = options.preparingMaxAgeMs ?? 24 * 3600_000;
  }

  async listBuckets(): Promise<BucketInfo[]> {
    return (await this.#catalog.listBuckets()).map((bucket) => ({ name: bucket.name, createdMs: bucket.createdMs }));
  }

  createBucket(name: string): Promise<"created" | "exists"> {
    return this.#catalog.createBucket(name, this.#host.clock.nowMs());
  }

  async headBucket(name: string): Promise<BucketInfo | undefined> {
    const bucket = await this.#catalog.getBucket(name);
    return bucket === undefined ? undefined : { name: bucket.name, createdMs: bucket.createdMs };
  }

  deleteBucket(name: string): Promise<"deleted" | "not-found" | "not-empty"> {
    return this.#catalog.deleteBucket(name);
  }

  async putObject(input: PutObjectInput): Promise<ObjectInfo | "no-such-bucket"> {
    if ((await this.#catalog.getBucket(input.bucket)) === undefined) return "no-such-bucket";
    const disk = this.#diskFor(input.bucket, input.key);
    const dataId = this.#newDataId();
    const createdMs = this.#host.clock.nowMs();
    // Recorded before any byte is written, so that a crash mid-stream leaves
    // something the garbage collector can find and free.
    await this.#catalog.preparePut({ dataId, diskId: disk.diskId, chunkCount: -1, createdMs });

    const md5 = createHash("md5");
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let chunkCount = 0;
    let sizeBytes = 0;
    let buffer = new Uint8Array(this.#chunkBytes);
    let filled = 0;

    const sendChunk = async (bytes: Uint8Array): Promise<void> => {
      const index = chunkCount;
      chunkCount += 1;
      while (inFlight.size >= this.#appendsInFlightMax) await Promise.race(inFlight);
      if (failure !== undefined) throw failure;
      const append = this.#ask<AppendShardReply>(disk.ref, (replyTo) => ({
        kind: "AppendShard",
        epoch: epochCurrent,
        shardKey: chunkShardKey(dataId, index),
        bytes,
        replyTo,
      })).then(
        () => undefined,
        (error: unknown) => {
          failure ??= error;
        },
      );
      const tracked = append.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    };

    try {
      for await (const piece of input.body) {
        md5.update(piece);
        sizeBytes += piece.byteLength;
        let offset = 0;
        while (offset < piece.byteLength) {
          const take = Math.min(piece.byteLength - offset, this.#chunkBytes - filled);
          buffer.set(piece.subarray(offset, offset + take), filled);
          filled += take;
          offset += take;
          if (filled === this.#chunkBytes) {
            await sendChunk(buffer);
            buffer = new Uint8Array(this.#chunkBytes);
            filled = 0;
          }
        }
        if (failure !== undefined) throw failure;
      }
      if (filled > 0) await sendChunk(buffer.subarray(0, filled));
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure;
    } catch (error) {
      await Promise.allSettled(inFlight);
      // The pending record stays: the shards already written are freed by the
      // garbage collector, now or after a restart.
      void this.#freeData({ dataId, diskId: disk.diskId, chunkCount: chunkCount }).catch(() => undefined);
      throw error;
    }

    const record: ObjectRecord = {
      bucket: input.bucket,
      key: input.key,
      sizeBytes,
      etag: md5.digest("hex"),
      lastModifiedMs: this.#host.clock.nowMs(),
      storageClass: input.storageClass,
      headers: { ...input.headers },
      userMetadata: { ...input.userMetadata },
      dataId,
      diskId: disk.diskId,
      chunkBytes: this.#chunkBytes,
      chunkCount,
    };
    const committed = await this.#catalog.commitPut(record);
    if (committed === "no-such-bucket") {
      // The bucket was deleted while the body streamed in.
      void this.#freeData({ dataId, diskId: disk.diskId, chunkCount }).catch(() => undefined);
      return "no-such-bucket";
    }
    if (committed.replaced !== undefined) void this.#freeRecord(committed.replaced).catch(() => undefined);
    return this.#info(record);
  }

  async headObject(bucket: string, key: string): Promise<ObjectInfo | "no-such-bucket" | "no-such-key"> {
    const record = await this.#catalog.getObject(bucket, key);
    if (record !== undefined) return this.#info(record);
    return (await this.#catalog.getBucket(bucket)) === undefined ? "no-such-bucket" : "no-such-key";
  }

  async *readObject(info: ObjectInfo, startBytes: number, endBytesExclusive: number): AsyncIterable<Uint8Array> {
    const record = this.#records.get(info);
    assert(record !== undefined, "readObject takes an ObjectInfo returned by this service");
    assert(0 <= startBytes && startBytes <= endBytesExclusive && endBytesExclusive <= record.sizeBytes, "range within object");
    if (startBytes === endBytesExclusive) return;
    const disk = this.#disks.find((candidate) => candidate.diskId === record.diskId);
    if (disk === undefined) throw new FaultError({ fault: "Unreachable", detail: `disk ${record.diskId} is not on this node` });

    const first = Math.floor(startBytes / record.chunkBytes);
    const last = Math.floor((endBytesExclusive - 1) / record.chunkBytes);
    const readChunk = (index: number): Promise<Uint8Array> => {
      const chunkStart = index * record.chunkBytes;
      const from = Math.max(startBytes, chunkStart) - chunkStart;
      const to = Math.min(endBytesExclusive, chunkStart + record.chunkBytes) - chunkStart;
      return this.#ask<ReadShardReply>(disk.ref, (replyTo) => ({
        kind: "ReadShard",
        epoch: epochCurrent,
        shardKey: chunkShardKey(record.dataId, index),
        offsetBytes: from,
        lengthBytes: to - from,
        replyTo,
      })).then((reply) => reply.bytes);
    };
    // Reads run a few shards ahead of the client so disk and network overlap,
    // never more: a slow client holds at most `readsAheadMax` shards.
    const ahead: Promise<Uint8Array>[] = [];
    let next = first;
    try {
      while (next <= last || ahead.length > 0) {
        while (next <= last && ahead.length < this.#readsAheadMax) {
          const pending = readChunk(next);
          pending.catch(() => undefined); // observed below; avoid an unhandled rejection meanwhile
          ahead.push(pending);
          next += 1;
        }
        const bytes = await ahead.shift()!;
        yield bytes;
      }
    } finally {
      await Promise.allSettled(ahead);
    }
  }

  async deleteObject(bucket: string, key: string): Promise<"deleted" | "no-such-bucket"> {
    const outcome = await this.#catalog.deleteObject(bucket, key);
    if (outcome === "no-such-bucket") return outcome;
    if (outcome.removed !== undefined) void this.#freeRecord(outcome.removed).catch(() => undefined);
    return "deleted";
  }

  async listObjects(input: ListObjectsInput): Promise<ListObjectsPage | "no-such-bucket"> {
    const page = await this.#catalog.listObjects(input);
    if (page === "no-such-bucket") return page;
    return {
      objects: page.objects.map((record) => this.#info(record)),
      commonPrefixes: page.commonPrefixes,
      isTruncated: page.isTruncated,
      ...(page.lastReturned === undefined ? {} : { lastReturned: page.lastReturned }),
    };
  }

  /**
   * Frees the bytes of replaced and deleted objects and of abandoned PUTs.
   * Runs at start and may run on a schedule; every step is idempotent, so a
   * crash part-way only leaves work for the next run.
   */
  async collectGarbage(batchMax = 100): Promise<number> {
    let freed = 0;
    for (;;) {
      const batch = await this.#catalog.listGarbage(this.#host.clock.nowMs(), this.#preparingMaxAgeMs, batchMax);
      if (batch.length === 0) return freed;
      for (const garbage of batch) {
        await this.#freeData(garbage);
        freed += 1;
      }
      if (batch.length < batchMax) return freed;
    }
  }

  async #freeRecord(record: ObjectRecord): Promise<void> {
    await this.#freeData({ dataId: record.dataId, diskId: record.diskId, chunkCount: record.chunkCount });
  }

  /** Deletes every shard of `dataId`, then forgets the garbage record. */
  async #freeData(data: { dataId: string; diskId: string; chunkCount: number }): Promise<void> {
    const disk = this.#disks.find((candidate) => candidate.diskId === data.diskId);
    if (disk === undefined) return; // Not ours to free; the node that has the disk will.
    const deleteChunk = async (index: number): Promise<boolean> => {
      const reply = await this.#ask<DeleteShardReply>(disk.ref, (replyTo) => ({
        kind: "DeleteShard",
        epoch: epochCurrent,
        shardKey: chunkShardKey(data.dataId, index),
        replyTo,
      }));
      return reply.existed;
    };
    if (data.chunkCount >= 0) {
      for (let index = 0; index < data.chunkCount; index += 1) await deleteChunk(index);
    } else {
      // An abandoned PUT does not know how many shards it wrote. Shards are
      // appended with up to `appendsInFlightMax` in flight, so once that many
      // consecutive indexes are absent there can be no later one.
      let absentRun = 0;
      for (let index = 0; absentRun < this.#appendsInFlightMax + 1; index += 1) {
        absentRun = (await deleteChunk(index)) ? 0 : absentRun + 1;
      }
    }
    await this.#catalog.forgetGarbage(data.dataId);
  }

  #info(record: ObjectRecord): ObjectInfo {
    const info: ObjectInfo = {
      bucket: record.bucket,
      key: record.key,
      sizeBytes: record.sizeBytes,
      etag: record.etag,
      lastModifiedMs: record.lastModifiedMs,
      storageClass: record.storageClass,
      headers: record.headers,
      userMetadata: record.userMetadata,
      dataId: record.dataId,
    };
    this.#records.set(info, record);
    return info;
  }

  #diskFor(bucket: string, key: string): { diskId: string; ref: ActorRef<DiskMessage> } {
    const hash = crc32c(`${bucket}\u0000${key}`);
    const disk = this.#disks[hash % this.#disks.length];
    assert(disk !== undefined, "disk index in range");
    return disk;
  }

  #newDataId(): string {
    // Clock, counter and randomness together: two PUTs never share an id,
    // even across restarts with the same random seed.
    this.#dataIdCounter += 1;
    const randomHex = Buffer.from(this.#host.random.bytes(8)).toString("hex");
    return `${this.#host.clock.nowMs().toString(36)}-${this.#dataIdCounter.toString(36)}-${randomHex}`;
  }

  async #ask<R>(to: ActorRef<DiskMessage>, build: (replyTo: ActorRef<R | Fault>) => DiskMessage): Promise<R> {
    const reply = await this.#host.ask<DiskMessage, R | Fault>(to, build, this.#diskAskTimeoutMs);
    if (isFault(reply)) throw new FaultError(reply);
    return reply as R;
  }
}
