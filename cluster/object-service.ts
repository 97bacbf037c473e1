/**
 * The object service: the `ObjectBackend` the S3 core calls, over the object
 * catalog (metadata), the placement-group actors (where) and the disk actors
 * (bytes). ARCHITECTURE §3 is the map of this file.
 *
 * PUT: the first `replicationBytesMax + 1` bytes decide the layout. A body
 * that ends within them is replicated to m + 1 disks of the acting set; a
 * longer one is cut into stripes of k × `shardBytes`, each encoded into
 * k + m shards written to the acting set in parallel. A stripe counts once a
 * write quorum of its shards (k + 1 by default) is durable; shards that
 * missed are recorded with the PG for healing. The record is committed only
 * after every stripe has its quorum.
 *
 * Metadata: a bucket's keys are hash-partitioned (`bucketPartitionOf` with
 * the count stored in the bucket record), and PREPARE, COMMIT, DELETE and
 * HEAD (GET's lookup, by version id too) go to the key's BucketPartition
 * actor, the single writer of its keys, wherever the view says it runs.
 * Listings, bucket operations and the Janitor's work read and write the
 * store directly (they touch no key's current state; see the actor's README).
 * A view without `partitionRef` (tests of the data path alone) makes the
 * service call the catalog's steps directly.
 *
 * GET: only the data shards a range needs are read; parity is read and
 * decoded only when a data shard is missing, unreadable or fails its CRC32C
 * (the disk actor checks it), and the damage is reported to the PG.
 *
 * Multipart: each part is written as a PUT's data is (PREPARING first, in
 * the key's PG) and recorded with its upload; a completion freezes the
 * upload, checks the part list, frees the parts it leaves out (budgeted
 * transactions: 10,000 parts never need one) and commits a record of layout
 * `multipart` through the key's partition. A multipart object is read and
 * freed part by part (cluster/metadata/multipart-uploads.ts says who owns
 * the parts' bytes at each step).
 *
 * Invariants:
 * - A PUT is visible only after every stripe reached its quorum and the
 *   commit transaction is durable; a failed or abandoned PUT leaves only a
 *   pending record, which `collectGarbage` turns back into free space.
 * - The PG's index learns a dataId before any of its shards is written.
 * - Bytes are never buffered whole: at most `stripesInFlightMax` stripes per
 *   PUT and `stripesAheadMax` per GET are held in memory.
 */
import { createHash } from "node:crypto";
import type {
  AppendShardReply,
  DeleteShardReply,
  DiskMessage,
  ReadShardReply,
} from "../actors/disk/protocol.ts";
import type {
  GetActingSetReply,
  PlacementGroupMessage,
  ShardDamage,
} from "../actors/placement-group/protocol.ts";
import type {
  BucketPartitionMessage,
  ClearCacheReply,
  CommitPutReply,
  DeleteObjectReply,
  HeadObjectReply,
  PreparePutReply,
  SetObjectTagsReply,
} from "../actors/bucket-partition/protocol.ts";
import { bucketPartitionOf } from "../actors/bucket-partition/index.ts";
import { availableKernels, createErasureCodec, type ErasureCodec, type ErasureKernel, type ErasureScheme } from "./erasure/index.ts";
import {
  multipartData,
  partNumberMax,
  partitionCountOf,
  type PartRecord,
  type UploadRecord,
  versionSuffixFrom,
  versionSuffixLength,
  type BucketConfigurationName,
  type BucketRecord,
  type CommitPutInput,
  type CommitPutResult,
  type CommitRefusal,
  type DataLayout,
  type DeleteMarkerRecord,
  type DeleteResult,
  type HeadResult,
  type ObjectHeaders,
  type ObjectCatalog,
  type ObjectRecord,
  type ObjectTag,
  type PendingRecord,
  type SetTagsResult,
} from "./metadata/index.ts";
import { placementGroupOf } from "./placement/index.ts";
import { assert, assertNever, fault, isFault, memoryNudge, type ActorRef, type Fault, type Host } from "../runtime/index.ts";
import {
  compositeChecksum as compositeChecksumOf,
  fullObjectChecksum as fullObjectChecksumOf,
  FaultError,
  type CompletedPart,
  type CompleteMultipartUploadInput,
  type CompletionRefusal,
  type CreateMultipartUploadInput,
  type ListMultipartUploadsInput,
  type ListMultipartUploadsPage,
  type ListPartsPage,
  type MultipartUploadInfo,
  type ObjectChecksum,
  type PartInfo,
  type UploadPartInput,
  type BucketInfo,
  type BucketVersioning,
  type DeleteMarkerInfo,
  type ListObjectVersionsInput,
  type ListObjectVersionsPage,
  type ListObjectsInput,
  type ListObjectsPage,
  type ObjectBackend,
  type ObjectInfo,
  type ObjectPartWindow,
  type PutObjectInput,
  type WriteCondition,
  type WriteRefusal,
} from "../gateway/index.ts";

/**
 * Where the service sends shard and PG requests under one cluster map epoch.
 * On one node it never changes; in a fleet it follows the map (actors move
 * between nodes and nodes restart with new incarnations), so the service asks
 * for the current view at the start of each step rather than keeping refs.
 */
/** Where a read finds a PG's shards: the acting set and, while the PG backfills, the set it last had complete. */
interface ReadPlacement {
  readonly diskIds: readonly string[];
  readonly formerDiskIds?: readonly string[];
}

export interface PlacementView {
  /** The cluster map epoch the refs belong to; requests carry it and stale ones are fenced. */
  readonly epoch: number;
  /** The disk's actor, or undefined when no live node has it now. */
  diskRef(diskId: string): ActorRef<DiskMessage> | undefined;
  /** The PG's actor, or undefined when it is not hosted anywhere now. */
  placementGroupRef(placementGroupId: number): ActorRef<PlacementGroupMessage> | undefined;
  /**
   * A bucket partition's actor and the epoch of its assignment (requests
   * carry it), or undefined when it is not hosted anywhere now. Absent: the
   * service has no partition actors and calls the catalog directly.
   */
  partitionRef?(bucket: string, partition: number): PartitionRoute | undefined;
}

/** Where a bucket partition's actor runs, and under which assignment epoch. */
export interface PartitionRoute {
  readonly ref: ActorRef<BucketPartitionMessage>;
  readonly epoch: number;
}

/** How a deployment hosts bucket partitions: one node spawns them; a fleet has the ClusterManager assign them. */
export interface PartitionHosting {
  /** Makes every partition of the bucket reachable through the view, or answers why not (bounded in time). */
  ensure(bucket: string, partitionCount: number): Promise<Fault | undefined>;
  /** The bucket was deleted: its partitions stop being used (stopped, or their caches emptied). Never throws. */
  retire(bucket: string, partitionCount: number): Promise<void>;
}

export interface ObjectServiceOptions {
  readonly host: Host;
  readonly catalog: ObjectCatalog;
  readonly placementGroupCount: number;
  /** The current view; called often, so it should return a cached value. */
  readonly view: () => PlacementView;
  /** Storage class name → erasure scheme (STANDARD must be present). */
  readonly storageClasses: ReadonlyMap<string, ErasureScheme>;
  /** Objects of at most this many bytes are replicated to m + 1 disks instead of coded. */
  readonly replicationBytesMax?: number;
  /** Bytes per shard of a full stripe (a stripe holds k of them). */
  readonly shardBytes?: number;
  /** Shards of a stripe that must be durable before it counts; default k + 1 (at most k + m). */
  readonly writeQuorum?: (scheme: ErasureScheme) => number;
  readonly stripesInFlightMax?: number;
  readonly stripesAheadMax?: number;
  /** Bound on every ask to a disk or PG actor. */
  readonly askTimeoutMs?: number;
  /** PREPARING records older than this are treated as abandoned by `collectGarbage` (default 1 h). */
  readonly preparingMaxAgeMs?: number;
  /** How long a committed PUT's idempotency token makes its retries return the same version (default 15 min). */
  readonly idempotencyTokenLifetimeMs?: number;
  /** Incomplete multipart uploads initiated longer ago than this are aborted by `abortStaleUploads` (default 7 days). */
  readonly multipartUploadMaxAgeMs?: number;
  /** The smallest part a completion accepts, except the last (default S3's 5 MiB). */
  readonly partBytesMin?: number;
  /** Spawns or assigns bucket partitions; needed when the view has `partitionRef`. */
  readonly partitions?: PartitionHosting;
  /**
   * Attempts of a request to a partition or PG actor that answered `Fenced`
   * (it had no effect: a map change is under way) or is not reachable (yet:
   * a moved actor starts on its new node up to a NodeAgent tick after the
   * map names it), with `retryDelayMs` between them (defaults 20 and 100 ms:
   * about the time a fleet takes to move an actor off a dead node). PG
   * messages are all idempotent; partition writes are retried only on
   * `Fenced`.
   *
   * A partition request backs off instead: `retryDelayMs` doubling up to
   * `retryDelayMsMax` (default 1 s) between attempts, and all its attempts
   * share one deadline of `askTimeoutMs` from its first ask, so a partition
   * that moves (its old actor stopped, its new one not started yet) is
   * followed for as long as one ask could have waited, and no longer. It is
   * retried on `Unreachable` too when repeating it is safe: reads, PREPARE,
   * tags, and a COMMIT that carries an idempotency token.
   */
  readonly retryAttemptsMax?: number;
  readonly retryDelayMs?: number;
  readonly retryDelayMsMax?: number;
}

/** Default bound on a PUT's PREPARING time before its data may be reclaimed. */
export const preparingMaxAgeMsDefault = 3_600_000;
/** Default lifetime of an idempotency token: far longer than any SDK's retry schedule. */
export const idempotencyTokenLifetimeMsDefault = 15 * 60_000;
/** Default time an upload may stay incomplete before the Janitor aborts it and frees its parts (S3 keeps them until a lifecycle rule says otherwise; 7 days is MinIO's default expiry). */
export const multipartUploadMaxAgeMsDefault = 7 * 24 * 3_600_000;
/** The smallest part S3 accepts in a completion, except the last. */
export const partBytesMinDefault = 5 * 1024 * 1024;
/** Part records read per page when freeing a multipart object. */
const partsPerFreeMax = 100;
/** Part records read per page when reading or completing a multipart object. */
const partsPerPageMax = 1_000;
/** Buckets whose partition count a service remembers (least recently created first out). */
const partitionCountsCachedMax = 10_000;
/** Bucket configuration documents are strings to the S3 core and bytes to the catalog. */
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** Shard key of chunk `index` of a single-disk or replicated object. */
export function chunkShardKey(dataId: string, index: number): string {
  return `${dataId}/${index}`;
}

/** Shard key of shard `shardIndex` of stripe `stripeIndex` of an erasure-coded object. */
export function stripeShardKey(dataId: string, stripeIndex: number, shardIndex: number): string {
  return `${dataId}/${stripeIndex}.${shardIndex}`;
}

/** A shard that must be healed, as reported to the PG. */
interface DamagedShard {
  readonly stripeIndex: number;
  readonly shardIndex: number;
  readonly damage: ShardDamage;
}

type ErasureLayout = Extract<DataLayout, { kind: "erasure" }>;
/** The partition that is the single writer of one key. */
interface KeyRoute {
  readonly bucket: string;
  readonly partition: number;
  readonly partitionCount: number;
}
type ReplicatedLayout = Extract<DataLayout, { kind: "replicated" }>;
type MultipartLayout = Extract<DataLayout, { kind: "multipart" }>;
/** New data, written and durable, not yet committed anywhere. */
interface WrittenData {
  readonly dataId: string;
  /** With its final chunk or stripe count. */
  readonly layout: DataLayout;
  readonly sizeBytes: number;
  /** MD5 of the bytes (the S3 ETag of a single-part object). */
  readonly md5: Buffer;
}

/** The gateway's view of a bucket record (the owner only when one was recorded). */
function bucketInfoOf(bucket: BucketRecord): BucketInfo {
  return { name: bucket.name, createdMs: bucket.createdMs, ...(bucket.owner === undefined ? {} : { owner: bucket.owner }) };
}

export class ObjectService implements ObjectBackend {
  readonly storageClasses: ReadonlySet<string>;
  readonly #host: Host;
  readonly #catalog: ObjectCatalog;
  readonly #placementGroupCount: number;
  readonly #view: () => PlacementView;
  readonly #schemes: ReadonlyMap<string, ErasureScheme>;
  /** Codecs by scheme (`k+m`): a record names its scheme, so reads never depend on today's class table. */
  readonly #codecs = new Map<string, ErasureCodec>();
  readonly #replicationBytesMax: number;
  readonly #shardBytes: number;
  readonly #writeQuorum: (scheme: ErasureScheme) => number;
  readonly #stripesInFlightMax: number;
  readonly #stripesAheadMax: number;
  readonly #askTimeoutMs: number;
  readonly #preparingMaxAgeMs: number;
  readonly #tokenLifetimeMs: number;
  readonly #multipartUploadMaxAgeMs: number;
  readonly #partBytesMin: number;
  readonly #partitions: PartitionHosting | undefined;
  readonly #retryAttemptsMax: number;
  readonly #retryDelayMs: number;
  readonly #retryDelayMsMax: number;
  /**
   * Bucket → partition count. A count never changes while its bucket exists;
   * a bucket deleted and created again under the name (through any gateway)
   * gets the same count, because every bucket is created with
   * `bucketPartitionCountDefault` (ObjectCatalog.createBucket): were counts
   * ever chosen per bucket, this cache would have to be dropped on every
   * bucket creation fleet-wide.
   */
  readonly #partitionCounts = new Map<string, number>();
  /** Where the bytes of an ObjectInfo handed out by headObject live. */
  readonly #records = new WeakMap<ObjectInfo, ObjectRecord>();
  #dataIdCounter = 0;
  /** The fastest kernel here: ISA-L where `libisal2` is installed, else WebAssembly SIMD (identical bytes either way). */
  readonly #kernel: ErasureKernel = availableKernels().at(-1) ?? "portable";
  /** Shard buffers of GETs are dropped as soon as the client has them; see `runtime/memory.ts`. */
  readonly #readNudge = memoryNudge();

  constructor(options: ObjectServiceOptions) {
    assert(options.storageClasses.has("STANDARD"), "the STANDARD storage class must be configured");
    this.#host = options.host;
    this.#catalog = options.catalog;
    this.#placementGroupCount = options.placementGroupCount;
    this.#view = options.view;
    this.#schemes = options.storageClasses;
    this.storageClasses = new Set(options.storageClasses.keys());
    this.#replicationBytesMax = options.replicationBytesMax ?? 128 * 1024;
    this.#shardBytes = options.shardBytes ?? 1024 * 1024;
    this.#writeQuorum = options.writeQuorum ?? ((scheme) => Math.min(scheme.dataShards + 1, scheme.dataShards + scheme.parityShards));
    this.#stripesInFlightMax = options.stripesInFlightMax ?? 2;
    this.#stripesAheadMax = options.stripesAheadMax ?? 2;
    this.#askTimeoutMs = options.askTimeoutMs ?? 30_000;
    this.#preparingMaxAgeMs = options.preparingMaxAgeMs ?? preparingMaxAgeMsDefault;
    this.#tokenLifetimeMs = options.idempotencyTokenLifetimeMs ?? idempotencyTokenLifetimeMsDefault;
    this.#multipartUploadMaxAgeMs = options.multipartUploadMaxAgeMs ?? multipartUploadMaxAgeMsDefault;
    this.#partBytesMin = options.partBytesMin ?? partBytesMinDefault;
    this.#partitions = options.partitions;
    this.#retryAttemptsMax = options.retryAttemptsMax ?? 20;
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    this.#retryDelayMsMax = Math.max(this.#retryDelayMs, options.retryDelayMsMax ?? 1_000);
    for (const [name, scheme] of options.storageClasses) {
      const quorum = this.#writeQuorum(scheme);
      assert(
        Number.isInteger(quorum) && quorum >= scheme.dataShards && quorum <= scheme.dataShards + scheme.parityShards,
        `storage class ${name}: write quorum ${quorum} must lie in [k, k + m]`,
      );
    }
  }

  async listBuckets(): Promise<BucketInfo[]> {
    return (await this.#catalog.listBuckets()).map(bucketInfoOf);
  }

  /**
   * Creates the bucket, then makes its partitions reachable before answering.
   * When they cannot be (yet), the bucket stays created and the request
   * fails with a 503; a retry finds it existing and waits for them again.
   */
  async createBucket(name: string, owner?: string): Promise<"created" | "exists"> {
    const outcome = await this.#catalog.createBucket(name, this.#host.clock.nowMs(), undefined, owner);
    if (this.#partitions !== undefined) {
      const count = await this.#partitionCount(name);
      if (count !== undefined) {
        const refused = await this.#partitions.ensure(name, count);
        if (refused !== undefined) throw new FaultError(refused);
      }
    }
    return outcome;
  }

  async headBucket(name: string): Promise<BucketInfo | undefined> {
    const bucket = await this.#catalog.getBucket(name);
    return bucket === undefined ? undefined : bucketInfoOf(bucket);
  }

  async deleteBucket(name: string): Promise<"deleted" | "not-found" | "not-empty"> {
    const count = await this.#partitionCount(name);
    const outcome = await this.#catalog.deleteBucket(name);
    if (outcome === "deleted") {
      this.#partitionCounts.delete(name);
      if (count !== undefined) await this.#partitions?.retire(name, count);
    }
    return outcome;
  }

  putObject(input: PutObjectInput & { readonly condition?: undefined }): Promise<ObjectInfo | "no-such-bucket">;
  putObject(input: PutObjectInput): Promise<ObjectInfo | "no-such-bucket" | WriteRefusal>;
  async putObject(input: PutObjectInput): Promise<ObjectInfo | "no-such-bucket" | WriteRefusal> {
    const route = await this.#route(input.bucket, input.key);
    if (route === "no-such-bucket") return route;
    const written = await this.#writeData(input, async (pending) => {
      const prepared = await this.#preparePut(route, input, pending);
      return prepared === "prepared" ? prepared : { stop: prepared };
    });
    if ("stop" in written) {
      // A retry of a PUT that already committed (its body was read to the end, stored nowhere): the
      // first attempt's version answers. Or a condition that already failed at PREPARE: nothing stored.
      return typeof written.stop === "string" ? written.stop : this.#info(written.stop);
    }
    const { dataId, layout: finalLayout } = written;
    const record: Omit<ObjectRecord, "versionId"> = {
      bucket: input.bucket,
      key: input.key,
      sizeBytes: written.sizeBytes,
      etag: written.md5.toString("hex"),
      lastModifiedMs: this.#host.clock.nowMs(),
      storageClass: input.storageClass,
      headers: { ...input.headers },
      userMetadata: { ...input.userMetadata },
      dataId,
      layout: finalLayout,
    };
    // Read only now: the body has ended without error, so a trailer's checksum has arrived and was verified.
    const checksum = input.checksum?.();
    if (checksum !== undefined) record.checksum = { ...checksum };
    if (input.tags !== undefined && input.tags.length > 0) record.tags = input.tags.map((tag) => ({ key: tag.key, value: tag.value }));
    const committed = await this.#commitPut(route, {
      record,
      versionSuffix: this.#newVersionSuffix(),
      ...(input.idempotencyToken === undefined ? {} : { idempotencyToken: input.idempotencyToken }),
      tokenLifetimeMs: this.#tokenLifetimeMs,
      ...(input.condition === undefined ? {} : { condition: input.condition }),
      nowMs: this.#host.clock.nowMs(),
    });
    if (committed === "no-such-bucket") {
      // The bucket was deleted while the body streamed in.
      void this.#freeData({ dataId, layout: finalLayout, createdMs: 0 }).catch(() => undefined);
      return "no-such-bucket";
    }
    if (committed === "abandoned") {
      // The PUT outlived the PREPARING bound and the Janitor reclaimed its data: it must not become
      // visible, and what it wrote after the reclaim is freed here (the Janitor no longer knows it).
      void this.#freeData({ dataId, layout: finalLayout, createdMs: 0 }).catch(() => undefined);
      throw new FaultError(fault("Timeout", `PUT ${input.bucket}/${input.key} took longer than ${this.#preparingMaxAgeMs} ms to commit`));
    }
    if (committed === "precondition-failed" || committed === "no-such-key") {
      // The condition refused the write in the commit, which made this attempt's data garbage: free it now.
      this.#freeSoon([{ dataId, layout: finalLayout, createdMs: 0 }]);
      return committed;
    }
    this.#freeSoon(committed.freed);
    return this.#info(committed.record);
  }

  async getBucketVersioning(bucket: string): Promise<BucketVersioning | "no-such-bucket"> {
    return (await this.#catalog.getBucketVersioning(bucket)) ?? "no-such-bucket";
  }

  putBucketVersioning(bucket: string, status: "Enabled" | "Suspended"): Promise<"ok" | "no-such-bucket"> {
    return this.#catalog.putBucketVersioning(bucket, status);
  }

  // Bucket configuration documents live in the store beside the bucket record,
  // outside every key's partition: no partition actor caches them.
  async getBucketConfiguration(bucket: string, name: BucketConfigurationName): Promise<string | undefined | "no-such-bucket"> {
    const document = await this.#catalog.getBucketConfiguration(bucket, name);
    return document instanceof Uint8Array ? utf8Decoder.decode(document) : document;
  }

  putBucketConfiguration(bucket: string, name: BucketConfigurationName, document: string): Promise<"ok" | "no-such-bucket"> {
    return this.#catalog.putBucketConfiguration(bucket, name, utf8Encoder.encode(document));
  }

  deleteBucketConfiguration(bucket: string, name: BucketConfigurationName): Promise<"ok" | "no-such-bucket"> {
    return this.#catalog.deleteBucketConfiguration(bucket, name);
  }

  async setObjectTags(
    bucket: string,
    key: string,
    versionId: string | undefined,
    tags: readonly ObjectTag[],
  ): Promise<{ readonly versionId: string } | { readonly deleteMarker: DeleteMarkerInfo } | "no-such-bucket" | "no-such-key" | "no-such-version"> {
    const route = await this.#route(bucket, key);
    if (route === "no-such-bucket") return route;
    const found = await this.#setObjectTags(route, key, versionId, tags);
    if (typeof found === "string") return found;
    return found.kind === "object" ? { versionId: found.record.versionId } : { deleteMarker: markerInfo(found.marker) };
  }

  async headObject(
    bucket: string,
    key: string,
    versionId?: string,
  ): Promise<ObjectInfo | { readonly deleteMarker: DeleteMarkerInfo } | "no-such-bucket" | "no-such-key" | "no-such-version"> {
    const route = await this.#route(bucket, key);
    if (route === "no-such-bucket") return route;
    const found = await this.#headObject(route, key, versionId);
    if (typeof found === "string") return found;
    return found.kind === "object" ? this.#info(found.record) : { deleteMarker: markerInfo(found.marker) };
  }

  readObject(info: ObjectInfo, startBytes: number, endBytesExclusive: number): AsyncIterable<Uint8Array> {
    const record = this.#records.get(info);
    assert(record !== undefined, "readObject takes an ObjectInfo returned by this service");
    assert(0 <= startBytes && startBytes <= endBytesExclusive && endBytesExclusive <= record.sizeBytes, "range within object");
    return this.#readData(record, startBytes, endBytesExclusive);
  }

  async objectPart(info: ObjectInfo, partNumber: number): Promise<ObjectPartWindow | "no-such-part"> {
    const record = this.#records.get(info);
    assert(record !== undefined, "objectPart takes an ObjectInfo returned by this service");
    const layout = record.layout;
    if (layout.kind !== "multipart") return partNumber === 1 ? { startBytes: 0, endBytesExclusive: record.sizeBytes } : "no-such-part";
    // The parts as completed, a page at a time: the offset of the wanted one and the count of all.
    let offset = 0;
    let ordinal = 0;
    let after = 0;
    let window: { startBytes: number; endBytesExclusive: number } | undefined;
    for (;;) {
      const parts = await this.#catalog.multipart.listParts(layout.bucket, layout.uploadId, after, partsPerPageMax);
      for (const part of parts) {
        ordinal += 1;
        if (ordinal === partNumber) window = { startBytes: offset, endBytesExclusive: offset + part.sizeBytes };
        offset += part.sizeBytes;
        after = part.partNumber;
      }
      if (parts.length < partsPerPageMax) break;
    }
    return window === undefined ? "no-such-part" : { ...window, partsCount: ordinal };
  }

  /** Bytes [startBytes, endBytesExclusive) of the data a record (or one part of a multipart object) names. */
  #readData(record: ObjectRecord, startBytes: number, endBytesExclusive: number): AsyncIterable<Uint8Array> {
    const layout = record.layout;
    // One acting-set lookup per GET, made when the first unit is read.
    let actingSet: Promise<ReadPlacement> | undefined;
    const actingSetOnce = (placementGroupId: number): Promise<ReadPlacement> => (actingSet ??= this.#readPlacement(placementGroupId));
    switch (layout.kind) {
      case "single":
        return this.#readChunks(record, layout.chunkBytes, startBytes, endBytesExclusive, (index) =>
          this.#readSingleChunk(record.dataId, layout.diskId, index, layout.chunkBytes, startBytes, endBytesExclusive),
        );
      case "replicated":
        return this.#readChunks(record, layout.chunkBytes, startBytes, endBytesExclusive, (index) =>
          this.#readReplicatedChunk(record, layout, actingSetOnce(layout.placementGroupId), index, startBytes, endBytesExclusive),
        );
      case "erasure":
        return this.#readChunks(record, layout.dataShards * layout.shardBytes, startBytes, endBytesExclusive, (index) =>
          this.#readStripe(record, layout, actingSetOnce(layout.placementGroupId), index, startBytes, endBytesExclusive),
        );
      case "multipart":
        return this.#readParts(record, layout, startBytes, endBytesExclusive);
      default:
        return assertNever(layout);
    }
  }

  async deleteObject(
    bucket: string,
    key: string,
    versionId?: string,
    condition?: WriteCondition,
  ): Promise<{ readonly deleteMarker: boolean; readonly versionId?: string } | "no-such-bucket" | WriteRefusal> {
    const route = await this.#route(bucket, key);
    if (route === "no-such-bucket") return route;
    const outcome = await this.#deleteObject(route, key, {
      ...(versionId === undefined ? {} : { versionId }),
      nowMs: this.#host.clock.nowMs(),
      versionSuffix: this.#newVersionSuffix(),
      ...(condition === undefined ? {} : { condition }),
    });
    if (typeof outcome === "string") return outcome;
    this.#freeSoon(outcome.freed);
    return { deleteMarker: outcome.deleteMarker, ...(outcome.versionId === undefined ? {} : { versionId: outcome.versionId }) };
  }

  async listObjectVersions(input: ListObjectVersionsInput): Promise<ListObjectVersionsPage | "no-such-bucket"> {
    const page = await this.#catalog.listObjectVersions(input);
    if (page === "no-such-bucket") return page;
    return {
      entries: page.entries.map((entry) =>
        entry.kind === "version"
          ? { kind: "version" as const, info: this.#info(entry.record), isLatest: entry.isLatest }
          : { kind: "deleteMarker" as const, marker: markerInfo(entry.marker), isLatest: entry.isLatest },
      ),
      commonPrefixes: page.commonPrefixes,
      isTruncated: page.isTruncated,
      ...(page.nextKeyMarker === undefined ? {} : { nextKeyMarker: page.nextKeyMarker }),
      ...(page.nextVersionIdMarker === undefined ? {} : { nextVersionIdMarker: page.nextVersionIdMarker }),
    };
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

  // ---- multipart uploads ----

  async createMultipartUpload(input: CreateMultipartUploadInput): Promise<MultipartUploadInfo | "no-such-bucket"> {
    const record: UploadRecord = {
      bucket: input.bucket,
      key: input.key,
      uploadId: this.#newUploadId(),
      initiatedMs: this.#host.clock.nowMs(),
      storageClass: input.storageClass,
      headers: definedHeaders({ ...input.headers }),
      userMetadata: { ...input.userMetadata },
      ...(input.checksumAlgorithm === undefined ? {} : { checksumAlgorithm: input.checksumAlgorithm }),
      ...(input.checksumType === undefined ? {} : { checksumType: input.checksumType }),
      ...(input.tags === undefined || input.tags.length === 0 ? {} : { tags: input.tags.map((tag) => ({ key: tag.key, value: tag.value })) }),
      state: "open",
    };
    const outcome = await this.#catalog.multipart.createUpload(record);
    return outcome === "no-such-bucket" ? outcome : uploadInfo(record);
  }

  /**
   * Writes the part like a PUT's data (PREPARING first, in the key's PG),
   * then records it with its upload in one transaction. An upload aborted or
   * completing meanwhile refuses it, and what was written is freed.
   */
  async uploadPart(input: UploadPartInput): Promise<PartInfo | "no-such-bucket" | "no-such-upload"> {
    assert(Number.isInteger(input.partNumber) && input.partNumber >= 1 && input.partNumber <= partNumberMax, "part number in [1, 10000] (the gateway checked)");
    if ((await this.#partitionCount(input.bucket)) === undefined) return "no-such-bucket";
    const upload = await this.#catalog.multipart.getUpload(input.bucket, input.key, input.uploadId);
    if (upload === undefined || upload.state !== "open") return "no-such-upload";
    const written = await this.#writeData({ ...input, storageClass: upload.storageClass }, async (pending) => {
      await this.#catalog.preparePut(pending);
      return "prepared" as const;
    });
    assert(!("stop" in written), "a part's PREPARE never stops");
    const checksum = input.checksum?.();
    const part: PartRecord = {
      partNumber: input.partNumber,
      dataId: written.dataId,
      layout: written.layout,
      sizeBytes: written.sizeBytes,
      etag: written.md5.toString("hex"),
      lastModifiedMs: this.#host.clock.nowMs(),
      ...(checksum === undefined ? {} : { checksum: { algorithm: checksum.algorithm, value: checksum.value } }),
    };
    const committed = await this.#catalog.multipart.commitPart(input.bucket, input.key, input.uploadId, part, this.#host.clock.nowMs());
    if (committed === "no-such-upload" || committed === "abandoned") {
      void this.#freeData({ dataId: part.dataId, layout: part.layout, createdMs: 0 }).catch(() => undefined);
      if (committed === "abandoned") {
        throw new FaultError(fault("Timeout", `UploadPart ${input.bucket}/${input.key} took longer than ${this.#preparingMaxAgeMs} ms to commit`));
      }
      return committed;
    }
    this.#freeSoon(committed.freed);
    return partInfo(part);
  }

  /**
   * Freezes the upload (state `completing`, with the completion's PREPARING
   * record), checks the request's part list against the stored parts, frees
   * the parts it leaves out, then commits the object through the key's
   * partition like a PUT; the commit removes the upload record. A refused
   * list reopens the upload. See cluster/metadata/multipart-uploads.ts for
   * who owns the parts' bytes at each step.
   */
  async completeMultipartUpload(
    input: CompleteMultipartUploadInput,
  ): Promise<ObjectInfo | "no-such-bucket" | "no-such-upload" | CompletionRefusal | WriteRefusal> {
    const route = await this.#route(input.bucket, input.key);
    if (route === "no-such-bucket") return route;
    const multipart = this.#catalog.multipart;
    const placementGroupId = placementGroupOf(input.bucket, input.key, this.#placementGroupCount);
    const completion = multipartData(input, placementGroupId, -1, this.#host.clock.nowMs());
    const upload = await multipart.beginCompletion(input.bucket, input.key, input.uploadId, completion);
    if (upload === "no-such-upload") {
      // A retry of a completion whose reply was lost finds the object it made.
      const current = await this.#headObject(route, input.key, undefined);
      if (typeof current !== "string" && current.kind === "object" && current.record.dataId === completion.dataId) return this.#info(current.record);
      return "no-such-upload";
    }
    const checked = await this.#checkCompletion(upload, input.parts, input.expectedChecksum);
    if ("refused" in checked) {
      await multipart.reopen(input.bucket, input.key, input.uploadId);
      return checked;
    }
    this.#freeSoon(await multipart.dropUnlistedParts(input.bucket, input.uploadId, new Set(input.parts.map((part) => part.partNumber)), this.#host.clock.nowMs()));
    const record: Omit<ObjectRecord, "versionId"> = {
      bucket: input.bucket,
      key: input.key,
      sizeBytes: checked.sizeBytes,
      etag: checked.etag,
      lastModifiedMs: this.#host.clock.nowMs(),
      storageClass: upload.storageClass,
      headers: upload.headers,
      userMetadata: upload.userMetadata,
      dataId: completion.dataId,
      layout: { ...(completion.layout as MultipartLayout), partCount: input.parts.length },
      ...(checked.checksum === undefined ? {} : { checksum: checked.checksum }),
      ...(upload.tags === undefined ? {} : { tags: upload.tags }),
    };
    const committed = await this.#commitPut(route, {
      record,
      versionSuffix: this.#newVersionSuffix(),
      tokenLifetimeMs: this.#tokenLifetimeMs,
      nowMs: this.#host.clock.nowMs(),
      multipartUploadId: input.uploadId,
      ...(input.condition === undefined ? {} : { condition: input.condition }),
    });
    if (typeof committed !== "string") {
      this.#freeSoon(committed.freed);
      return this.#info(committed.record);
    }
    // "abandoned": an abort (or the Janitor) took the upload meanwhile; its parts are its garbage now.
    if (committed === "abandoned") return "no-such-upload";
    // The bucket is gone, or the write's condition did not hold: nothing committed, the upload stands.
    await multipart.reopen(input.bucket, input.key, input.uploadId);
    return committed;
  }

  /**
   * The part list of a completion against the stored parts (frozen: the
   * upload is completing): every listed part exists with that ETag (and
   * checksum, when given), numbers ascend, every part but the last has at
   * least `partBytesMin` bytes. Returns the object's size, ETag (MD5 of the
   * parts' MD5s, `-N`) and composite checksum.
   */
  async #checkCompletion(
    upload: UploadRecord,
    listed: readonly CompletedPart[],
    expected: CompleteMultipartUploadInput["expectedChecksum"],
  ): Promise<CompletionRefusal | { sizeBytes: number; etag: string; checksum?: ObjectChecksum }> {
    if (expected !== undefined && upload.checksumType === "FULL_OBJECT" && expected.algorithm !== upload.checksumAlgorithm) {
      return { refused: "InvalidRequest", message: `The upload's checksum is ${upload.checksumAlgorithm}; the completion sent ${expected.algorithm}.` };
    }
    if (listed.length === 0) return { refused: "InvalidRequest", message: "You must specify at least one part." };
    for (let index = 1; index < listed.length; index += 1) {
      if (listed[index]!.partNumber <= listed[index - 1]!.partNumber) {
        return { refused: "InvalidPartOrder", message: "The list of parts was not in ascending order. Parts must be ordered by part number." };
      }
    }
    const md5s = createHash("md5");
    const checksumValues: { value: string; sizeBytes: number }[] = [];
    let sizeBytes = 0;
    let position = 0;
    let after = 0;
    while (position < listed.length) {
      const page = await this.#catalog.multipart.listParts(upload.bucket, upload.uploadId, after, partsPerPageMax);
      if (page.length === 0) break;
      after = page.at(-1)!.partNumber;
      for (const stored of page) {
        const wanted = listed[position];
        if (wanted === undefined) break;
        if (stored.partNumber < wanted.partNumber) continue;
        if (stored.partNumber > wanted.partNumber) break;
        if (stored.etag !== wanted.etag.toLowerCase()) return invalidPart(wanted.partNumber, "its ETag does not match");
        if (wanted.checksum !== undefined && stored.checksum?.value !== wanted.checksum) {
          return invalidPart(wanted.partNumber, `its ${upload.checksumAlgorithm ?? "checksum"} does not match`);
        }
        if (position < listed.length - 1 && stored.sizeBytes < this.#partBytesMin) {
          return {
            refused: "EntityTooSmall",
            message: `Part ${wanted.partNumber} has ${stored.sizeBytes} bytes; every part but the last must have at least ${this.#partBytesMin}.`,
          };
        }
        md5s.update(Buffer.from(stored.etag, "hex"));
        if (stored.checksum !== undefined && stored.checksum.algorithm === upload.checksumAlgorithm) checksumValues.push({ value: stored.checksum.value, sizeBytes: stored.sizeBytes });
        sizeBytes += stored.sizeBytes;
        position += 1;
      }
      if (page.length < partsPerPageMax) break;
    }
    if (position < listed.length) return invalidPart(listed[position]!.partNumber, "it was not uploaded");
    const etag = `${md5s.digest("hex")}-${listed.length}`;
    // The object's checksum exists only when every listed part carries the upload's algorithm: a
    // checksum of the parts' checksums (COMPOSITE), or their CRCs combined (FULL_OBJECT).
    const algorithm = upload.checksumAlgorithm;
    const checksum =
      algorithm === undefined || checksumValues.length !== listed.length
        ? undefined
        : upload.checksumType === "FULL_OBJECT"
          ? fullObjectChecksumOf(algorithm, checksumValues)
          : compositeChecksumOf(algorithm, checksumValues.map((part) => part.value));
    if (expected !== undefined && checksum?.type === "FULL_OBJECT" && expected.value !== checksum.value) {
      return { refused: "BadDigest", message: `The ${checksum.algorithm} you specified (${expected.value}) did not match the parts' combined ${checksum.value}.` };
    }
    return { sizeBytes, etag, ...(checksum === undefined ? {} : { checksum }) };
  }

  async abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<"aborted" | "no-such-bucket" | "no-such-upload"> {
    if ((await this.#partitionCount(bucket)) === undefined) return "no-such-bucket";
    const placementGroupId = placementGroupOf(bucket, key, this.#placementGroupCount);
    const garbage = await this.#catalog.multipart.abortUpload(bucket, key, uploadId, placementGroupId, this.#host.clock.nowMs());
    if (garbage === "no-such-upload") return garbage;
    this.#freeSoon([garbage]);
    return "aborted";
  }

  async listParts(
    bucket: string,
    key: string,
    uploadId: string,
    afterPartNumber: number,
    maxParts: number,
  ): Promise<ListPartsPage | "no-such-bucket" | "no-such-upload"> {
    assert(Number.isInteger(maxParts) && maxParts >= 0 && maxParts <= partsPerPageMax, `listParts: bad maxParts ${maxParts}`);
    if ((await this.#partitionCount(bucket)) === undefined) return "no-such-bucket";
    const upload = await this.#catalog.multipart.getUpload(bucket, key, uploadId);
    if (upload === undefined) return "no-such-upload";
    const parts = await this.#catalog.multipart.listParts(bucket, uploadId, afterPartNumber, Math.min(maxParts + 1, partsPerPageMax));
    const isTruncated = parts.length > maxParts;
    const page = parts.slice(0, maxParts);
    const last = page.at(-1);
    return {
      upload: uploadInfo(upload),
      parts: page.map(partInfo),
      isTruncated,
      ...(isTruncated && last !== undefined ? { nextPartNumberMarker: last.partNumber } : {}),
    };
  }

  async listMultipartUploads(input: ListMultipartUploadsInput): Promise<ListMultipartUploadsPage | "no-such-bucket"> {
    const page = await this.#catalog.multipart.listUploads(input);
    if (page === "no-such-bucket") return page;
    return { ...page, uploads: page.uploads.map(uploadInfo) };
  }

  /**
   * Aborts uploads initiated more than `multipartUploadMaxAgeMs` ago, at most
   * `limit` per call (the Janitor's schedule); their parts become garbage.
   */
  async abortStaleUploads(limit = 1_000): Promise<number> {
    const buckets = (await this.#catalog.listBuckets()).map((bucket) => bucket.name);
    const stale = await this.#catalog.multipart.staleUploads(buckets, this.#host.clock.nowMs() - this.#multipartUploadMaxAgeMs, limit);
    let aborted = 0;
    for (const upload of stale) {
      if ((await this.abortMultipartUpload(upload.bucket, upload.key, upload.uploadId)) === "aborted") aborted += 1;
    }
    return aborted;
  }

  /**
   * A multipart object's bytes: its parts in order, each read through its own
   * layout. Part records are read a page at a time; a part list that ends
   * before the object's size is damage, reported as a fault.
   */
  async *#readParts(record: ObjectRecord, layout: MultipartLayout, startBytes: number, endBytesExclusive: number): AsyncGenerator<Uint8Array> {
    let offset = 0;
    let after = 0;
    while (offset < endBytesExclusive) {
      const parts = await this.#catalog.multipart.listParts(layout.bucket, layout.uploadId, after, partsPerPageMax);
      if (parts.length === 0) break;
      for (const part of parts) {
        const partStart = offset;
        offset += part.sizeBytes;
        after = part.partNumber;
        if (offset <= startBytes || part.sizeBytes === 0) continue;
        if (partStart >= endBytesExclusive) return;
        const partRecord: ObjectRecord = { ...record, sizeBytes: part.sizeBytes, dataId: part.dataId, layout: part.layout };
        yield* this.#readData(partRecord, Math.max(startBytes, partStart) - partStart, Math.min(endBytesExclusive, offset) - partStart);
      }
    }
    if (offset < endBytesExclusive) {
      throw new FaultError(fault("Corrupt", `${record.bucket}/${record.key}: its parts hold ${offset} bytes, the object ${record.sizeBytes}`));
    }
  }

  /**
   * Frees the bytes of replaced and deleted versions and of abandoned PUTs
   * (PREPARING for longer than `preparingMaxAgeMs`: first turned into garbage
   * in one transaction, so they can no longer commit), at most `runMax` per
   * call. The Janitor runs it on a schedule; every step is idempotent, so a
   * crash part-way only leaves work for the next run. A data item that cannot
   * be freed now (a disk unreachable) stays recorded and is retried later.
   */
  async collectGarbage(batchMax = 100, runMax = 10_000): Promise<{ readonly freed: number; readonly abandoned: number; readonly failed: number }> {
    assert(Number.isInteger(batchMax) && batchMax > 0 && Number.isInteger(runMax) && runMax > 0, "garbage bounds are positive");
    let abandoned = 0;
    for (;;) {
      const batch = await this.#catalog.abandonStalePending(this.#host.clock.nowMs(), this.#preparingMaxAgeMs, batchMax);
      abandoned += batch.length;
      if (batch.length < batchMax || abandoned >= runMax) break;
    }
    let freed = 0;
    let failed = 0;
    // One pass in dataId order: what cannot be freed now (a disk unreachable) is left for the
    // next run and never blocks the garbage after it.
    let after = "";
    while (freed + failed < runMax) {
      const batch = await this.#catalog.listGarbage(Math.min(batchMax, runMax - freed - failed), after);
      for (const garbage of batch) {
        const done = await this.#freeData(garbage).catch(() => false);
        if (done) freed += 1;
        else failed += 1;
        after = garbage.dataId;
      }
      if (batch.length < batchMax) break;
    }
    return { freed, abandoned, failed };
  }

  /**
   * Streams `target.body` into new data in the key's placement group: the
   * first `replicationBytesMax + 1` bytes decide the layout (replicated or
   * erasure-coded); `prepare` records the data as PREPARING before any byte is
   * written, or answers `stop` (the body is then drained and stored nowhere).
   * On a failure the shards already written are freed in the background and
   * the PREPARING record stays for the garbage collector.
   */
  async #writeData<S>(
    target: {
      readonly bucket: string;
      readonly key: string;
      readonly storageClass: string;
      readonly body: AsyncIterable<Uint8Array>;
      readonly bodyIsLocal?: boolean;
    },
    prepare: (pending: PendingRecord) => Promise<"prepared" | { readonly stop: S }>,
  ): Promise<WrittenData | { readonly stop: S }> {
    const scheme = this.#schemes.get(target.storageClass);
    assert(scheme !== undefined, `storage class ${target.storageClass} is configured (the gateway checked)`);
    const codec = this.#codecFor(scheme);
    const placementGroupId = placementGroupOf(target.bucket, target.key, this.#placementGroupCount);
    const actingSet = await this.#actingSet(placementGroupId);
    assert(actingSet.length >= scheme.dataShards + scheme.parityShards, `pg ${placementGroupId}: acting set smaller than ${target.storageClass}`);

    const body = target.body[Symbol.asyncIterator]();
    const md5 = createHash("md5");
    // The head of the body decides the layout: small objects are replicated.
    const head = await readUpTo(body, this.#replicationBytesMax + 1, md5);
    const replicated = head.ended && head.bytes.byteLength <= this.#replicationBytesMax;
    const dataId = this.#newDataId();
    const layout: ReplicatedLayout | ErasureLayout = replicated
      ? { kind: "replicated", placementGroupId, copies: scheme.parityShards + 1, chunkBytes: this.#replicationBytesMax, chunkCount: -1 }
      : {
          kind: "erasure",
          placementGroupId,
          dataShards: scheme.dataShards,
          parityShards: scheme.parityShards,
          shardBytes: this.#shardBytes,
          stripeCount: -1,
        };
    // Recorded before any byte is written, so that a crash mid-stream leaves
    // something the garbage collector can find and free.
    const prepared = await prepare({ dataId, layout, createdMs: this.#host.clock.nowMs() });
    if (prepared !== "prepared") {
      // A client's body is read to the end (it was sent, and the gateway checks its digests);
      // the server's own stream (a copy's source) is closed instead of being read for nothing.
      if (target.bodyIsLocal === true) await body.return?.();
      else for (let next = await body.next(); next.done !== true; next = await body.next()) md5.update(next.value);
      return prepared;
    }
    const indexed = this.#askPlacementGroup(placementGroupId, (replyTo) => ({
      kind: "IndexData",
      epoch: this.#view().epoch,
      dataId,
      bucket: target.bucket,
      key: target.key,
      // What repair needs to rebuild a shard without finding the object's record.
      layout:
        layout.kind === "replicated"
          ? { kind: "replicated", copies: layout.copies }
          : { kind: "erasure", dataShards: layout.dataShards, parityShards: layout.parityShards },
      replyTo,
    }));
    indexed.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile

    let written: { unitCount: number; sizeBytes: number; damaged: DamagedShard[] };
    try {
      written =
        layout.kind === "replicated"
          ? await this.#writeReplicated(dataId, layout, actingSet, head.bytes, scheme)
          : await this.#writeStriped(dataId, layout, actingSet, head.bytes, body, md5, codec, scheme);
      await indexed;
    } catch (error) {
      await indexed.catch(() => undefined);
      // The pending record stays: the shards already written are freed by the
      // garbage collector, now or after a restart.
      void this.#freeData({ dataId, layout, createdMs: 0 }).catch(() => undefined);
      throw error;
    }
    if (written.damaged.length > 0) await this.#recordDamage(placementGroupId, dataId, written.damaged);
    const finalLayout: DataLayout =
      layout.kind === "replicated" ? { ...layout, chunkCount: written.unitCount } : { ...layout, stripeCount: written.unitCount };
    return { dataId, layout: finalLayout, sizeBytes: written.sizeBytes, md5: md5.digest() };
  }

  // ---- writing ----

  async #writeReplicated(
    dataId: string,
    layout: ReplicatedLayout,
    actingSet: readonly string[],
    bytes: Uint8Array,
    scheme: ErasureScheme,
  ): Promise<{ unitCount: number; sizeBytes: number; damaged: DamagedShard[] }> {
    if (bytes.byteLength === 0) return { unitCount: 0, sizeBytes: 0, damaged: [] };
    // The same margin as a coded stripe: quorum - k more copies than one.
    const quorum = Math.min(layout.copies, this.#writeQuorum(scheme) - scheme.dataShards + 1);
    const outcomes = await Promise.all(
      actingSet.slice(0, layout.copies).map((diskId) => this.#append(diskId, chunkShardKey(dataId, 0), bytes)),
    );
    const damaged: DamagedShard[] = [];
    outcomes.forEach((outcome, position) => {
      if (outcome !== undefined) damaged.push({ stripeIndex: 0, shardIndex: position, damage: "write-failed" });
    });
    if (outcomes.length - damaged.length < quorum) {
      throw new FaultError(fault("QuorumLost", `${outcomes.length - damaged.length} of ${layout.copies} copies written, ${quorum} needed`));
    }
    return { unitCount: 1, sizeBytes: bytes.byteLength, damaged };
  }

  async #writeStriped(
    dataId: string,
    layout: ErasureLayout,
    actingSet: readonly string[],
    head: Uint8Array,
    body: AsyncIterator<Uint8Array>,
    md5: ReturnType<typeof createHash>,
    codec: ErasureCodec,
    scheme: ErasureScheme,
  ): Promise<{ unitCount: number; sizeBytes: number; damaged: DamagedShard[] }> {
    const k = layout.dataShards;
    const stripeBytes = k * layout.shardBytes;
    const quorum = this.#writeQuorum(scheme);
    const damaged: DamagedShard[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let stripeCount = 0;
    let sizeBytes = 0;

    // Stripe buffers (data and parity) are reused once their writes settle:
    // a PUT allocates at most `stripesInFlightMax + 1` of them whatever its size.
    const free: StripeBuffers[] = [];
    const takeBuffers = (): StripeBuffers =>
      free.pop() ?? { data: new Uint8Array(stripeBytes), parity: new Uint8Array(layout.parityShards * layout.shardBytes) };

    const sendStripe = async (buffers: StripeBuffers, length: number): Promise<void> => {
      const stripeIndex = stripeCount;
      stripeCount += 1;
      while (inFlight.size >= this.#stripesInFlightMax) await Promise.race(inFlight);
      if (failure !== undefined) throw failure;
      const shards = encodeStripe(codec, layout, buffers, length);
      const write = Promise.all(
        shards.map((shard, shardIndex) => this.#append(actingSet[shardIndex]!, stripeShardKey(dataId, stripeIndex, shardIndex), shard)),
      ).then((outcomes) => {
        let durable = 0;
        outcomes.forEach((outcome, shardIndex) => {
          if (outcome === undefined) durable += 1;
          else damaged.push({ stripeIndex, shardIndex, damage: "write-failed" });
        });
        if (durable < quorum) {
          failure ??= new FaultError(fault("QuorumLost", `stripe ${stripeIndex}: ${durable} of ${shards.length} shards durable, ${quorum} needed`));
        }
        // A timed-out append may still be reading the bytes: only settled writes return their buffers.
        if (outcomes.every((outcome) => outcome === undefined || outcome.fault !== "Timeout")) free.push(buffers);
      });
      const tracked: Promise<void> = write.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    };

    try {
      let stripe = takeBuffers();
      let filled = 0;
      const take = async (piece: Uint8Array): Promise<void> => {
        sizeBytes += piece.byteLength;
        let offset = 0;
        while (offset < piece.byteLength) {
          const count = Math.min(piece.byteLength - offset, stripeBytes - filled);
          stripe.data.set(piece.subarray(offset, offset + count), filled);
          filled += count;
          offset += count;
          if (filled === stripeBytes) {
            await sendStripe(stripe, filled);
            stripe = takeBuffers();
            filled = 0;
          }
        }
        if (failure !== undefined) throw failure;
      };
      await take(head);
      for (;;) {
        const next = await body.next();
        if (next.done === true) break;
        md5.update(next.value);
        await take(next.value);
      }
      if (filled > 0) await sendStripe(stripe, filled);
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure;
    } catch (error) {
      await Promise.allSettled(inFlight);
      throw error;
    }
    return { unitCount: stripeCount, sizeBytes, damaged };
  }

  /** Appends one shard; resolves to undefined when durable, or to the fault that kept it from being written. */
  async #append(diskId: string, shardKey: string, bytes: Uint8Array): Promise<Fault | undefined> {
    const reply = await this.#askDisk<AppendShardReply>(diskId, (epoch, replyTo) => ({ kind: "AppendShard", epoch, shardKey, bytes, replyTo }));
    return isFault(reply) ? reply : undefined;
  }

  /**
   * Asks a disk at the view's epoch. A disk that has seen a newer map
   * refuses with `Fenced` (the request had no effect), so the ask is repeated
   * with the view as it is then, bounded: while the map changes (a node
   * joins) another gateway's newer epoch must not fail this one's request.
   * Reads and appends of one shard key are idempotent.
   */
  async #askDisk<R>(diskId: string, build: (epoch: number, replyTo: ActorRef<R | Fault>) => DiskMessage): Promise<R | Fault> {
    let last: Fault = fault("Unreachable", `disk ${diskId} is not reachable now`);
    for (let attempt = 0; attempt < this.#retryAttemptsMax; attempt += 1) {
      if (attempt > 0) await this.#host.clock.sleep(this.#retryDelayMs);
      const view = this.#view();
      const disk = view.diskRef(diskId);
      if (disk === undefined) return last;
      const reply = await this.#host.ask<DiskMessage, R | Fault>(disk, (replyTo) => build(view.epoch, replyTo), this.#askTimeoutMs);
      if (!isFault(reply) || reply.fault !== "Fenced") return reply;
      last = reply;
    }
    return last;
  }

  // ---- reading ----

  /**
   * Yields the requested bytes unit by unit (chunk or stripe), reading a few
   * units ahead of the client so disks and network overlap, never more: a
   * slow client holds at most `stripesAheadMax` units.
   */
  async *#readChunks(
    record: ObjectRecord,
    unitBytes: number,
    startBytes: number,
    endBytesExclusive: number,
    readUnit: (index: number) => Promise<Uint8Array | readonly Uint8Array[]>,
  ): AsyncGenerator<Uint8Array> {
    if (startBytes === endBytesExclusive || record.sizeBytes === 0) return;
    const first = Math.floor(startBytes / unitBytes);
    const last = Math.floor((endBytesExclusive - 1) / unitBytes);
    const ahead: Promise<Uint8Array | readonly Uint8Array[]>[] = [];
    let next = first;
    try {
      while (next <= last || ahead.length > 0) {
        while (next <= last && ahead.length < this.#stripesAheadMax) {
          const pending = readUnit(next);
          pending.catch(() => undefined); // observed below; avoid an unhandled rejection meanwhile
          ahead.push(pending);
          next += 1;
        }
        const unit = await ahead.shift()!;
        // A stripe comes as its data shards' slices, yielded as they are (no copy).
        if (unit instanceof Uint8Array) {
          yield unit;
          this.#readNudge.noteBytesReleased(unit.byteLength);
        } else {
          for (const piece of unit) {
            yield piece;
            this.#readNudge.noteBytesReleased(piece.byteLength);
          }
        }
      }
    } finally {
      await Promise.allSettled(ahead);
    }
  }

  async #readSingleChunk(dataId: string, diskId: string, index: number, chunkBytes: number, startBytes: number, endBytesExclusive: number): Promise<Uint8Array> {
    const { from, to } = window(index * chunkBytes, chunkBytes, startBytes, endBytesExclusive);
    const reply = await this.#read(diskId, chunkShardKey(dataId, index), from, to - from);
    if (isFault(reply)) throw new FaultError(reply);
    return reply;
  }

  async #readReplicatedChunk(
    record: ObjectRecord,
    layout: ReplicatedLayout,
    actingSetPending: Promise<ReadPlacement>,
    index: number,
    startBytes: number,
    endBytesExclusive: number,
  ): Promise<Uint8Array> {
    const placement = await actingSetPending;
    const { from, to } = window(index * layout.chunkBytes, layout.chunkBytes, startBytes, endBytesExclusive);
    const damaged: DamagedShard[] = [];
    let lastFault: Fault | undefined;
    try {
      for (let position = 0; position < layout.copies; position += 1) {
        const reply = await this.#readAt(placement, position, chunkShardKey(record.dataId, index), from, to - from);
        if (!isFault(reply)) return reply;
        lastFault = reply;
        damaged.push({ stripeIndex: index, shardIndex: position, damage: damageOf(reply) });
      }
    } finally {
      if (damaged.length > 0) void this.#recordDamage(layout.placementGroupId, record.dataId, damaged).catch(() => undefined);
    }
    throw new FaultError(fault("QuorumLost", `no copy of ${record.bucket}/${record.key} chunk ${index} is readable (last: ${lastFault?.fault ?? "none"})`));
  }

  /**
   * The requested bytes of one stripe: the data shards they lie in, read in
   * parallel; when one of those fails, every other shard is read too and the
   * missing data shards are rebuilt from any k.
   */
  async #readStripe(
    record: ObjectRecord,
    layout: ErasureLayout,
    actingSetPending: Promise<ReadPlacement>,
    stripeIndex: number,
    startBytes: number,
    endBytesExclusive: number,
  ): Promise<Uint8Array | readonly Uint8Array[]> {
    const k = layout.dataShards;
    const width = k + layout.parityShards;
    const stripeBytes = k * layout.shardBytes;
    const stripeStart = stripeIndex * stripeBytes;
    const stripeLength = Math.min(stripeBytes, record.sizeBytes - stripeStart);
    const shardBytes = Math.ceil(stripeLength / k);
    const { from, to } = window(stripeStart, stripeLength, startBytes, endBytesExclusive);
    const firstShard = Math.floor(from / shardBytes);
    const lastShard = Math.floor((to - 1) / shardBytes);
    const placement = await actingSetPending;
    const shardKey = (shardIndex: number): string => stripeShardKey(record.dataId, stripeIndex, shardIndex);

    // The healthy path: read just the needed slices of the needed data shards.
    const needed: number[] = [];
    for (let shardIndex = firstShard; shardIndex <= lastShard; shardIndex += 1) needed.push(shardIndex);
    const slices = await Promise.all(
      needed.map((shardIndex) => {
        const shardFrom = Math.max(from - shardIndex * shardBytes, 0);
        const shardTo = Math.min(to - shardIndex * shardBytes, shardBytes);
        return this.#readAt(placement, shardIndex, shardKey(shardIndex), shardFrom, shardTo - shardFrom);
      }),
    );
    if (slices.every((slice) => !isFault(slice))) return slices as Uint8Array[];

    // The degraded path: collect any k whole shards, rebuild the missing data shards.
    const damaged: DamagedShard[] = [];
    const shards: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(width).fill(undefined);
    const noteFault = (shardIndex: number, reply: Fault): void => {
      damaged.push({ stripeIndex, shardIndex, damage: damageOf(reply) });
    };
    needed.forEach((shardIndex, position) => {
      const slice = slices[position]!;
      if (isFault(slice)) noteFault(shardIndex, slice);
    });
    const failedNeeded = new Set(damaged.map((shard) => shard.shardIndex));
    const others: number[] = [];
    for (let shardIndex = 0; shardIndex < width; shardIndex += 1) if (!failedNeeded.has(shardIndex)) others.push(shardIndex);
    const wholes = await Promise.all(others.map((shardIndex) => this.#readAt(placement, shardIndex, shardKey(shardIndex), 0, shardBytes)));
    let present = 0;
    others.forEach((shardIndex, position) => {
      const reply = wholes[position]!;
      if (isFault(reply)) noteFault(shardIndex, reply);
      else if (reply.byteLength !== shardBytes) noteFault(shardIndex, fault("Corrupt", `shard ${shardKey(shardIndex)} has ${reply.byteLength} bytes, expected ${shardBytes}`));
      else {
        shards[shardIndex] = reply;
        present += 1;
      }
    });
    void this.#recordDamage(layout.placementGroupId, record.dataId, damaged).catch(() => undefined);
    if (present < k) {
      throw new FaultError(
        fault("QuorumLost", `${record.bucket}/${record.key} stripe ${stripeIndex}: ${present} of ${width} shards readable, ${k} needed`),
      );
    }
    this.#codecFor({ dataShards: k, parityShards: layout.parityShards }).reconstruct(shards, { dataOnly: true });
    const out: Uint8Array[] = [];
    for (let shardIndex = firstShard; shardIndex <= lastShard; shardIndex += 1) {
      const shard = shards[shardIndex]!;
      const shardFrom = Math.max(from - shardIndex * shardBytes, 0);
      const shardTo = Math.min(to - shardIndex * shardBytes, shardBytes);
      out.push(shard.subarray(shardFrom, shardTo));
    }
    return out;
  }

  /**
   * `#read` of the shard at `position` of a PG's acting set. While the PG
   * backfills, a position whose disk changed may not hold its shard yet:
   * then its former disk is read (it keeps the shard until backfill is
   * complete), and only when that fails too is the shard missing. The
   * position's own fault is the one returned, so damage is recorded there.
   */
  async #readAt(placement: ReadPlacement, position: number, shardKey: string, offsetBytes: number, lengthBytes: number): Promise<Uint8Array | Fault> {
    const diskId = placement.diskIds[position]!;
    const reply = await this.#read(diskId, shardKey, offsetBytes, lengthBytes);
    const former = placement.formerDiskIds?.[position];
    if (!isFault(reply) || former === undefined || former === diskId) return reply;
    const fromFormer = await this.#read(former, shardKey, offsetBytes, lengthBytes);
    return isFault(fromFormer) ? reply : fromFormer;
  }

  /** Reads `lengthBytes` of a shard from `offsetBytes`; a fault (missing, corrupt, unreachable) as a value. */
  async #read(diskId: string, shardKey: string, offsetBytes: number, lengthBytes: number): Promise<Uint8Array | Fault> {
    const reply = await this.#askDisk<ReadShardReply>(diskId, (epoch, replyTo) => ({ kind: "ReadShard", epoch, shardKey, offsetBytes, lengthBytes, replyTo }));
    if (isFault(reply)) return reply;
    if (reply.bytes.byteLength !== lengthBytes) {
      return fault("Corrupt", `shard ${shardKey} on ${diskId}: ${reply.bytes.byteLength} bytes where ${lengthBytes} were asked`);
    }
    return reply.bytes;
  }

  #codecFor(scheme: ErasureScheme): ErasureCodec {
    const name = `${scheme.dataShards}+${scheme.parityShards}`;
    let codec = this.#codecs.get(name);
    if (codec === undefined) {
      codec = createErasureCodec(scheme, { kernel: this.#kernel });
      this.#codecs.set(name, codec);
    }
    return codec;
  }

  // ---- placement groups ----

  async #actingSet(placementGroupId: number): Promise<readonly string[]> {
    return (await this.#readPlacement(placementGroupId)).diskIds;
  }

  /** The PG's acting set, and while it backfills the set it last had complete (`formerDiskIds`). */
  async #readPlacement(placementGroupId: number): Promise<ReadPlacement> {
    const reply = await this.#askPlacementGroup<GetActingSetReply>(placementGroupId, (replyTo) => ({
      kind: "GetActingSet",
      epoch: this.#view().epoch,
      replyTo,
    }));
    return reply.formerDiskIds === undefined ? { diskIds: reply.diskIds } : { diskIds: reply.diskIds, formerDiskIds: reply.formerDiskIds };
  }

  async #recordDamage(placementGroupId: number, dataId: string, shards: readonly DamagedShard[]): Promise<void> {
    if (shards.length === 0) return;
    await this.#askPlacementGroup(placementGroupId, (replyTo) => ({
      kind: "RecordDamagedShards",
      epoch: this.#view().epoch,
      dataId,
      shards: [...shards],
      replyTo,
    }));
  }

  /**
   * Asks the PG's actor wherever the view says it runs. Every PG message is
   * idempotent (reads, and index entries set or cleared), so a PG not hosted
   * anywhere yet, one not started yet on its new node (`Unreachable`), or a
   * refusal at a stale epoch (`Fenced`) is retried, bounded, with the view
   * as it is then.
   */
  async #askPlacementGroup<R>(placementGroupId: number, build: (replyTo: ActorRef<R | Fault>) => PlacementGroupMessage): Promise<R> {
    let last: Fault = fault("Unreachable", `placement group ${placementGroupId} is not hosted anywhere now`);
    for (let attempt = 0; attempt < this.#retryAttemptsMax; attempt += 1) {
      if (attempt > 0) await this.#host.clock.sleep(this.#retryDelayMs);
      const ref = this.#view().placementGroupRef(placementGroupId);
      if (ref === undefined) continue;
      const reply = await this.#host.ask<PlacementGroupMessage, R | Fault>(ref, build, this.#askTimeoutMs);
      if (!isFault(reply)) return reply as R;
      last = reply;
      if (reply.fault !== "Unreachable" && reply.fault !== "Fenced") break;
    }
    throw new FaultError(last);
  }

  // ---- bucket partitions ----

  /** A bucket's partition count, from the cache or the bucket record; undefined when there is no such bucket. */
  async #partitionCount(bucket: string): Promise<number | undefined> {
    const known = this.#partitionCounts.get(bucket);
    if (known !== undefined) return known;
    const record = await this.#catalog.getBucket(bucket);
    if (record === undefined) return undefined;
    const count = partitionCountOf(record);
    if (this.#partitionCounts.size >= partitionCountsCachedMax) {
      const oldest = this.#partitionCounts.keys().next().value;
      if (oldest !== undefined) this.#partitionCounts.delete(oldest);
    }
    this.#partitionCounts.set(bucket, count);
    return count;
  }

  async #route(bucket: string, key: string): Promise<KeyRoute | "no-such-bucket"> {
    const count = await this.#partitionCount(bucket);
    if (count === undefined) return "no-such-bucket";
    return { bucket, partition: bucketPartitionOf(key, count), partitionCount: count };
  }

  /**
   * Asks the key's partition actor. A `Fenced` answer means the request had
   * no effect (the sender's map is behind, the actor was deposed, or it was
   * stopped before it ran the request), so it is retried with the view as it
   * is then; so is a partition not hosted anywhere yet. `Unreachable` (the
   * actor is gone from the node the view names — moved, not started yet —
   * or the link to it dropped) is retried only when `idempotent`: a write
   * whose link dropped may have been applied.
   *
   * Attempts back off (`retryDelayMs` doubling up to `retryDelayMsMax`) and
   * share one deadline, `askTimeoutMs` after the first ask: each ask waits
   * only for what is left of it, so following a moved partition never takes
   * longer than one unanswered ask would have.
   */
  async #askPartition<R>(
    route: KeyRoute,
    build: (epoch: number, replyTo: ActorRef<R | Fault>) => BucketPartitionMessage,
    idempotent: boolean,
  ): Promise<R> {
    const clock = this.#host.clock;
    let last: Fault = fault("Unreachable", `partition ${route.bucket}/${route.partition} is not hosted anywhere now`);
    // A partition no map names (a bucket made before partitions existed, or one whose creation
    // answered 503) is made reachable once per request: `ensure` itself waits, bounded.
    let ensured = false;
    // Set at the first ask, so the time `ensure` took is not taken from it.
    let deadlineMs: number | undefined;
    for (let attempt = 0; attempt < this.#retryAttemptsMax; attempt += 1) {
      if (attempt > 0) {
        const delayMs = Math.min(this.#retryDelayMsMax, this.#retryDelayMs * 2 ** Math.min(attempt - 1, 30));
        if (deadlineMs !== undefined && clock.monotonicMs() + delayMs >= deadlineMs) break;
        await clock.sleep(delayMs);
      }
      let target = this.#view().partitionRef?.(route.bucket, route.partition);
      if (target === undefined && this.#partitions !== undefined && !ensured) {
        ensured = true;
        const refused = await this.#partitions.ensure(route.bucket, route.partitionCount);
        if (refused !== undefined) last = refused;
        target = this.#view().partitionRef?.(route.bucket, route.partition);
      }
      if (target === undefined) continue;
      const found = target;
      deadlineMs ??= clock.monotonicMs() + this.#askTimeoutMs;
      const remainingMs = deadlineMs - clock.monotonicMs();
      if (remainingMs <= 0) break;
      const reply = await this.#host.ask<BucketPartitionMessage, R | Fault>(found.ref, (replyTo) => build(found.epoch, replyTo), remainingMs);
      if (!isFault(reply)) return reply;
      last = reply;
      if (reply.fault === "Fenced") continue;
      if (reply.fault === "Unreachable" && idempotent) continue;
      break;
    }
    throw new FaultError(last);
  }

  /** Whether the view routes keys to partition actors (else the catalog is called directly). */
  #partitioned(): boolean {
    return this.#view().partitionRef !== undefined;
  }

  async #preparePut(route: KeyRoute, input: PutObjectInput, pending: PendingRecord): Promise<"prepared" | "no-such-bucket" | CommitRefusal | ObjectRecord> {
    if (!this.#partitioned()) {
      if ((await this.#catalog.getBucket(input.bucket)) === undefined) return "no-such-bucket";
      await this.#catalog.preparePut(pending);
      return "prepared";
    }
    const reply = await this.#askPartition<PreparePutReply>(
      route,
      (epoch, replyTo) => ({
        kind: "PreparePut",
        epoch,
        bucket: input.bucket,
        key: input.key,
        pending,
        ...(input.idempotencyToken === undefined ? {} : { idempotencyToken: input.idempotencyToken }),
        // Checked early so a write that would be refused is not stored; the commit decides again.
        ...(input.condition === undefined ? {} : { condition: input.condition }),
        nowMs: this.#host.clock.nowMs(),
        replyTo,
      }),
      // Writing the same pending record twice is harmless.
      true,
    );
    if (reply.outcome === "duplicate") return reply.record;
    return reply.outcome;
  }

  async #commitPut(route: KeyRoute, input: CommitPutInput): Promise<CommitPutResult | "no-such-bucket" | "abandoned" | CommitRefusal> {
    if (!this.#partitioned()) return this.#catalog.commitPut(input);
    const reply = await this.#askPartition<CommitPutReply>(
      route,
      (epoch, replyTo) => ({
        kind: "CommitPut",
        epoch,
        record: { ...input.record, headers: definedHeaders(input.record.headers) },
        versionSuffix: input.versionSuffix,
        ...(input.idempotencyToken === undefined ? {} : { idempotencyToken: input.idempotencyToken }),
        tokenLifetimeMs: input.tokenLifetimeMs,
        nowMs: input.nowMs,
        ...(input.condition === undefined ? {} : { condition: input.condition }),
        ...(input.multipartUploadId === undefined ? {} : { multipartUploadId: input.multipartUploadId }),
        replyTo,
      }),
      // A commit retried after it was applied and then overtaken by another write would read as
      // "abandoned" and free live data, unless it carries an idempotency token: the commit step
      // looks the token up first, so a retry of an applied commit gets the first answer
      // (`duplicate`) and frees nothing live. Only then is it retried on an ambiguous fault.
      input.idempotencyToken !== undefined,
    );
    if (reply.outcome !== "committed") return reply.outcome;
    return { record: reply.record, freed: reply.freed, duplicate: reply.duplicate };
  }

  async #setObjectTags(route: KeyRoute, key: string, versionId: string | undefined, tags: readonly ObjectTag[]): Promise<SetTagsResult> {
    if (!this.#partitioned()) return this.#catalog.setObjectTags(route.bucket, key, versionId, tags);
    const reply = await this.#askPartition<SetObjectTagsReply>(
      route,
      (epoch, replyTo) => ({
        kind: "SetObjectTags",
        epoch,
        bucket: route.bucket,
        key,
        ...(versionId === undefined ? {} : { versionId }),
        tags: tags.map((tag) => ({ key: tag.key, value: tag.value })),
        replyTo,
      }),
      // Writing the same tags again leaves the same record: a retry after an ambiguous fault is harmless.
      true,
    );
    switch (reply.outcome) {
      case "object":
        return { kind: "object", record: reply.record };
      case "deleteMarker":
        return { kind: "deleteMarker", marker: reply.marker };
      default:
        return reply.outcome;
    }
  }

  async #headObject(route: KeyRoute, key: string, versionId: string | undefined): Promise<HeadResult> {
    if (!this.#partitioned()) return this.#catalog.headObject(route.bucket, key, versionId);
    const reply = await this.#askPartition<HeadObjectReply>(
      route,
      (epoch, replyTo) => ({ kind: "HeadObject", epoch, bucket: route.bucket, key, ...(versionId === undefined ? {} : { versionId }), replyTo }),
      true,
    );
    switch (reply.outcome) {
      case "object":
        return { kind: "object", record: reply.record };
      case "deleteMarker":
        return { kind: "deleteMarker", marker: reply.marker };
      default:
        return reply.outcome;
    }
  }

  async #deleteObject(
    route: KeyRoute,
    key: string,
    options: { readonly versionId?: string; readonly nowMs: number; readonly versionSuffix: string; readonly condition?: WriteCondition },
  ): Promise<DeleteResult | "no-such-bucket" | WriteRefusal> {
    if (!this.#partitioned()) return this.#catalog.deleteObject(route.bucket, key, options);
    const reply = await this.#askPartition<DeleteObjectReply>(
      route,
      (epoch, replyTo) => ({
        kind: "DeleteObject",
        epoch,
        bucket: route.bucket,
        key,
        ...(options.versionId === undefined ? {} : { versionId: options.versionId }),
        versionSuffix: options.versionSuffix,
        nowMs: options.nowMs,
        ...(options.condition === undefined ? {} : { condition: { ...options.condition } }),
        replyTo,
      }),
      // A second delete of the current version would add a second delete marker.
      false,
    );
    if (reply.outcome !== "deleted") return reply.outcome;
    return { deleteMarker: reply.deleteMarker, ...(reply.versionId === undefined ? {} : { versionId: reply.versionId }), freed: reply.freed };
  }

  /**
   * Empties the caches of a deleted bucket's partitions wherever they run
   * (best effort, one bounded ask each): their "absent" entries must not
   * answer for a bucket that is gone. Hostings that keep the actors
   * running after a deletion call it from `retire`.
   */
  async clearPartitionCaches(bucket: string, partitionCount: number): Promise<void> {
    await Promise.all(
      Array.from({ length: partitionCount }, async (_, partition) => {
        const target = this.#view().partitionRef?.(bucket, partition);
        if (target === undefined) return;
        await this.#host.ask<BucketPartitionMessage, ClearCacheReply | Fault>(
          target.ref,
          (replyTo) => ({ kind: "ClearCache", epoch: target.epoch, replyTo }),
          this.#askTimeoutMs,
        );
      }),
    );
  }

  // ---- freeing ----

  /** Frees data that a commit just made garbage, in the background; what fails stays for the Janitor. */
  #freeSoon(garbage: readonly PendingRecord[]): void {
    for (const data of garbage) void this.#freeData(data).catch(() => undefined);
  }

  /**
   * Deletes every shard of the data on every disk that may hold one, tells its PG, then forgets the
   * garbage record. False (or a thrown fault) when it could not now; the record then stays.
   */
  async #freeData(data: PendingRecord): Promise<boolean> {
    const layout = data.layout;
    const remove = async (diskId: string, shardKey: string): Promise<boolean> => {
      const view = this.#view();
      const disk = view.diskRef(diskId);
      if (disk === undefined) throw new FaultError(fault("Unreachable", `disk ${diskId} is not reachable now`));
      const reply = await this.#host.ask<DiskMessage, DeleteShardReply | Fault>(
        disk,
        (replyTo) => ({ kind: "DeleteShard", epoch: view.epoch, shardKey, replyTo }),
        this.#askTimeoutMs,
      );
      if (isFault(reply)) throw new FaultError(reply);
      return reply.existed;
    };
    // Units (chunks or stripes) are written in order with at most
    // `stripesInFlightMax` in flight, so when an abandoned PUT's count is
    // unknown, a run of that many absent units means there is no later one.
    const removeUnits = async (count: number, removeUnit: (index: number) => Promise<boolean>): Promise<void> => {
      if (count >= 0) {
        for (let index = 0; index < count; index += 1) await removeUnit(index);
        return;
      }
      let absentRun = 0;
      for (let index = 0; absentRun < this.#stripesInFlightMax + 4; index += 1) {
        absentRun = (await removeUnit(index)) ? 0 : absentRun + 1;
      }
    };
    switch (layout.kind) {
      case "single":
        // Not reachable now: the record stays and a later collection frees it.
        if (this.#view().diskRef(layout.diskId) === undefined) return false;
        await removeUnits(layout.chunkCount, (index) => remove(layout.diskId, chunkShardKey(data.dataId, index)));
        break;
      case "replicated": {
        const actingSet = await this.#actingSet(layout.placementGroupId);
        await removeUnits(layout.chunkCount, async (index) => {
          const existed = await Promise.all(actingSet.slice(0, layout.copies).map((diskId) => remove(diskId, chunkShardKey(data.dataId, index))));
          return existed.some(Boolean);
        });
        break;
      }
      case "erasure": {
        const actingSet = await this.#actingSet(layout.placementGroupId);
        const width = layout.dataShards + layout.parityShards;
        await removeUnits(layout.stripeCount, async (stripeIndex) => {
          const existed = await Promise.all(
            actingSet.slice(0, width).map((diskId, shardIndex) => remove(diskId, stripeShardKey(data.dataId, stripeIndex, shardIndex))),
          );
          return existed.some(Boolean);
        });
        break;
      }
      case "multipart": {
        // Every part the list still names, a page at a time, then that page of the list: a crash part-way
        // leaves the rest listed for the next collection.
        for (;;) {
          const parts = await this.#catalog.multipart.listParts(layout.bucket, layout.uploadId, 0, partsPerFreeMax);
          const last = parts.at(-1);
          if (last === undefined) break;
          for (const part of parts) {
            if (!(await this.#freeData({ dataId: part.dataId, layout: part.layout, createdMs: 0 }))) return false;
          }
          await this.#catalog.multipart.forgetParts(layout.bucket, layout.uploadId, last.partNumber);
        }
        break;
      }
      default:
        assertNever(layout);
    }
    if (layout.kind === "replicated" || layout.kind === "erasure") {
      await this.#askPlacementGroup(layout.placementGroupId, (replyTo) => ({
        kind: "ForgetData",
        epoch: this.#view().epoch,
        dataId: data.dataId,
        replyTo,
      }));
    }
    await this.#catalog.forgetGarbage(data.dataId);
    return true;
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
      versionId: record.versionId,
      ...(record.checksum === undefined ? {} : { checksum: record.checksum }),
      ...(record.tags === undefined || record.tags.length === 0 ? {} : { tags: record.tags }),
    };
    this.#records.set(info, record);
    return info;
  }

  #newVersionSuffix(): string {
    return versionSuffixFrom(this.#host.random.bytes(versionSuffixLength));
  }

  /** Time-ordered (so a key's uploads list in initiation order), unique across nodes and restarts, URL-safe. */
  #newUploadId(): string {
    const randomHex = Buffer.from(this.#host.random.bytes(12)).toString("hex");
    return `${this.#host.clock.nowMs().toString(36).padStart(10, "0")}.${randomHex}`;
  }

  #newDataId(): string {
    // Clock, counter and randomness together: two PUTs never share an id,
    // even across restarts with the same random seed.
    this.#dataIdCounter += 1;
    const randomHex = Buffer.from(this.#host.random.bytes(8)).toString("hex");
    return `${this.#host.clock.nowMs().toString(36)}-${this.#dataIdCounter.toString(36)}-${randomHex}`;
  }
}

/** Reads from `body` until `limit` bytes or its end, hashing what it reads. */
async function readUpTo(
  body: AsyncIterator<Uint8Array>,
  limit: number,
  md5: ReturnType<typeof createHash>,
): Promise<{ bytes: Uint8Array; ended: boolean }> {
  const pieces: Uint8Array[] = [];
  let total = 0;
  while (total < limit) {
    const next = await body.next();
    if (next.done === true) return { bytes: concatenate(pieces, total), ended: true };
    md5.update(next.value);
    pieces.push(next.value);
    total += next.value.byteLength;
  }
  return { bytes: concatenate(pieces, total), ended: false };
}

/** A stripe's data bytes and room for its parity. */
interface StripeBuffers {
  readonly data: Uint8Array;
  readonly parity: Uint8Array;
}

/**
 * The k + m shards of one stripe of `length` bytes, as views of `buffers`.
 * A short last stripe has shorter shards, the last data shard zero-padded.
 */
function encodeStripe(codec: ErasureCodec, layout: ErasureLayout, buffers: StripeBuffers, length: number): Uint8Array[] {
  const k = layout.dataShards;
  const shardBytes = Math.ceil(length / k);
  // The buffer may hold an earlier stripe's bytes past `length`: clear the padding.
  buffers.data.fill(0, length, k * shardBytes);
  const data: Uint8Array[] = [];
  for (let index = 0; index < k; index += 1) data.push(buffers.data.subarray(index * shardBytes, (index + 1) * shardBytes));
  const parity: Uint8Array[] = [];
  for (let index = 0; index < layout.parityShards; index += 1) parity.push(buffers.parity.subarray(index * shardBytes, (index + 1) * shardBytes));
  codec.encode(data, parity);
  return [...data, ...parity];
}

/** The part [from, to) of the unit starting at `unitStart` of `unitBytes` that the range covers, relative to the unit. */
function window(unitStart: number, unitBytes: number, startBytes: number, endBytesExclusive: number): { from: number; to: number } {
  return {
    from: Math.max(startBytes, unitStart) - unitStart,
    to: Math.min(endBytesExclusive, unitStart + unitBytes) - unitStart,
  };
}

function concatenate(pieces: readonly Uint8Array[], total: number): Uint8Array {
  if (pieces.length === 1 && pieces[0]!.byteLength === total) return pieces[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.byteLength;
  }
  return out;
}

/** Headers without undefined fields: a message that crosses the wire carries only present ones. */
function definedHeaders(headers: ObjectHeaders): ObjectHeaders {
  const out: ObjectHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name as keyof ObjectHeaders] = value;
  return out;
}

function markerInfo(marker: DeleteMarkerRecord): DeleteMarkerInfo {
  return { bucket: marker.bucket, key: marker.key, versionId: marker.versionId, lastModifiedMs: marker.lastModifiedMs };
}

function damageOf(reply: Fault): ShardDamage {
  if (reply.fault === "Corrupt") return "corrupt";
  return "missing";
}

function uploadInfo(upload: UploadRecord): MultipartUploadInfo {
  return {
    bucket: upload.bucket,
    key: upload.key,
    uploadId: upload.uploadId,
    initiatedMs: upload.initiatedMs,
    storageClass: upload.storageClass,
    ...(upload.checksumAlgorithm === undefined ? {} : { checksumAlgorithm: upload.checksumAlgorithm }),
    ...(upload.checksumType === undefined ? {} : { checksumType: upload.checksumType }),
  };
}

function partInfo(part: PartRecord): PartInfo {
  return {
    partNumber: part.partNumber,
    etag: part.etag,
    sizeBytes: part.sizeBytes,
    lastModifiedMs: part.lastModifiedMs,
    ...(part.checksum === undefined ? {} : { checksum: part.checksum }),
  };
}

function invalidPart(partNumber: number, why: string): CompletionRefusal {
  return { refused: "InvalidPart", message: `Part ${partNumber} cannot be used: ${why}.` };
}
