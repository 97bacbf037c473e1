/**
 * The BucketPartitionActor: the single writer of one bucket partition's keys
 * (PREPARE/COMMIT of PUTs, DELETEs), fenced by its assignment's epoch, with
 * a coherent cache of the keys' current records.
 *
 * Operations that need the metadata store go through one queue and run in
 * group-committed transactions: while one transaction is in flight, later
 * operations wait, and the next transaction takes the oldest waiting
 * operation of each key (at most `batchOperationsMax`). So operations on one
 * key run one after another in arrival order, operations on different keys
 * share a transaction, and no two operations in flight ever touch one key:
 * the cache can be updated from each transaction's results without races.
 *
 * Every transaction first calls `fence(tx)` (in a fleet: `checkOwner`, this
 * run still owns the partition at this epoch); a refusal answers the whole
 * batch `Fenced`, writes nothing, calls `onFenced` once, and the actor
 * refuses everything after.
 */
import {
  actorLog,
  assert,
  assertNever,
  fault,
  isAssertionError,
  type ActorContext,
  type ActorRef,
  type Behavior,
  type Fault,
} from "../../runtime/index.ts";
import {
  commitPutStep,
  deleteCurrentStep,
  deleteVersionStep,
  headStep,
  preparePutStep,
  setObjectTagsStep,
  type HeadResult,
  type MetaStore,
  type MetaTransaction,
} from "../../cluster/metadata/index.ts";
import type {
  BucketPartitionMessage,
  CommitPut,
  CommitPutReply,
  DeleteObject,
  DeleteObjectReply,
  HeadObject,
  HeadObjectReply,
  PreparePut,
  PreparePutReply,
  SetObjectTags,
  SetObjectTagsReply,
  StatBucketPartitionReply,
} from "./protocol.ts";
import { RecordCache, type CachedState } from "./record-cache.ts";

export interface BucketPartitionBehaviorOptions {
  readonly bucket: string;
  readonly partition: number;
  readonly store: MetaStore;
  /** The epoch of this run's assignment; requests at another epoch are refused. */
  readonly epoch: number;
  /**
   * Checked inside every transaction (in a fleet: `checkOwner(tx, unit,
   * {nodeId, incarnation, epoch})`). A fault refuses the whole batch with
   * that fault, and `onFenced` is told once: a newer owner exists.
   */
  readonly fence?: (tx: MetaTransaction) => Promise<Fault | undefined>;
  readonly onFenced?: (refusal: Fault) => void;
  /** Cache bounds (defaults 10,000 entries, 16 MiB). */
  readonly cacheEntriesMax?: number;
  readonly cacheBytesMax?: number;
  /** Bound on waiting operations; beyond it requests get `Overloaded` (default 10,000). */
  readonly queuedOperationsMax?: number;
  /** Operations per transaction (default 64): keeps each far inside FDB's 5 s and 10 MB. */
  readonly batchOperationsMax?: number;
}

/** An operation that needs the store: a write, or a read the cache could not answer. */
type StoreOperation = PreparePut | CommitPut | DeleteObject | HeadObject | SetObjectTags;

export interface BucketPartitionState {
  readonly bucket: string;
  readonly partition: number;
  readonly epoch: number;
  /** Operations waiting for the next transaction, oldest first (replaced by the flusher). */
  queue: StoreOperation[];
  /** Keys with an operation waiting or in flight → how many. A key here is never answered from the cache. */
  readonly busyKeys: Map<string, number>;
  readonly cache: RecordCache;
  /**
   * Grows each time the cache is emptied (ClearCache, a newer epoch seen): a
   * transaction that began before cannot fill the emptied cache with what it
   * read (a key of a bucket deleted meanwhile must not come back as "absent").
   */
  cacheGeneration: number;
  flushing: boolean;
  /** A newer owner exists: everything is refused. */
  fenced: boolean;
  /**
   * The host stopped (or is restarting) this run: what waited was answered
   * `Fenced`, and the flusher ends after the batch in flight.
   */
  halted: boolean;
  cacheHits: number;
  cacheMisses: number;
  transactions: number;
  operations: number;
  /** Bugs thrown by a flush that settled after `receive` returned; rethrown on the next message. */
  readonly detachedErrors: unknown[];
}

/** The path under a node's root at which partition `partition` of `bucket` is spawned. */
export function bucketPartitionActorPath(bucket: string, partition: number): string {
  return `buckets/${encodeURIComponent(bucket)}/${partition}`;
}

/** What one operation produced: its reply, and the key's current state after it (undefined: unknown, drop it). */
interface Outcome {
  readonly reply: PreparePutReply | CommitPutReply | DeleteObjectReply | HeadObjectReply | SetObjectTagsReply;
  readonly current: CachedState | undefined;
  /** Whether `current` may be cached: false when the operation changed nothing the cache holds. */
  readonly updatesCache: boolean;
}

/** The BucketPartitionActor behaviour for one partition of one bucket. */
export function bucketPartitionBehavior(options: BucketPartitionBehaviorOptions): Behavior<BucketPartitionState, BucketPartitionMessage> {
  const queuedOperationsMax = options.queuedOperationsMax ?? 10_000;
  const batchOperationsMax = options.batchOperationsMax ?? 64;
  assert(Number.isInteger(batchOperationsMax) && batchOperationsMax >= 1, "a batch holds at least one operation");
  return {
    initialState(): BucketPartitionState {
      // A new run starts cold: it knows nothing it did not read or write itself.
      return {
        bucket: options.bucket,
        partition: options.partition,
        epoch: options.epoch,
        queue: [],
        busyKeys: new Map(),
        cache: new RecordCache({ entriesMax: options.cacheEntriesMax ?? 10_000, bytesMax: options.cacheBytesMax ?? 16 * 1024 * 1024 }),
        cacheGeneration: 0,
        flushing: false,
        fenced: false,
        halted: false,
        cacheHits: 0,
        cacheMisses: 0,
        transactions: 0,
        operations: 0,
        detachedErrors: [],
      };
    },

    receive(state, message, context): BucketPartitionState {
      const detached = state.detachedErrors[0];
      if (detached !== undefined) throw detached;
      const name = `bp ${state.bucket}/${state.partition}`;
      if (message.kind === "StatBucketPartition") {
        context.tell(message.replyTo as ActorRef<StatBucketPartitionReply>, stat(state));
        return state;
      }
      if (state.fenced) {
        context.tell<Fault>(message.replyTo, fault("Fenced", `${name}: a newer owner claimed this partition`));
        return state;
      }
      if (message.epoch !== state.epoch) {
        // A newer epoch means another assignment exists (maybe elsewhere): what this run cached may be stale.
        if (message.epoch > state.epoch) clearCache(state);
        context.tell<Fault>(message.replyTo, fault("Fenced", `${name}: request epoch ${message.epoch}, partition epoch ${state.epoch}`));
        return state;
      }
      switch (message.kind) {
        case "ClearCache":
          context.tell(message.replyTo, { kind: "ClearCacheReply", dropped: clearCache(state) });
          return state;
        case "HeadObject": {
          if (message.bucket !== state.bucket) return refuseOtherBucket(state, message, context);
          const cached = state.busyKeys.has(message.key) ? undefined : state.cache.get(message.key);
          const reply = cached === undefined ? undefined : headFromCache(cached, message.versionId);
          if (reply !== undefined) {
            state.cacheHits += 1;
            actorLog(context, "debug", "head-cached", { key: message.key, ...(message.versionId === undefined ? {} : { versionId: message.versionId }) });
            context.tell(message.replyTo, reply);
            return state;
          }
          state.cacheMisses += 1;
          enqueue(state, message, context, queuedOperationsMax, batchOperationsMax, options);
          return state;
        }
        case "PreparePut":
        case "DeleteObject":
        case "SetObjectTags":
          if (message.bucket !== state.bucket) return refuseOtherBucket(state, message, context);
          enqueue(state, message, context, queuedOperationsMax, batchOperationsMax, options);
          return state;
        case "CommitPut":
          if (message.record.bucket !== state.bucket) return refuseOtherBucket(state, message, context);
          actorLog(context, "debug", "commit-requested", { key: message.record.key, dataId: message.record.dataId, sizeBytes: message.record.sizeBytes });
          enqueue(state, message, context, queuedOperationsMax, batchOperationsMax, options);
          return state;
        default:
          return assertNever(message);
      }
    },

    stopped(state, context): void {
      state.cache.clear();
      // Stopped: the unit moved to another node, the node lost its lease, the
      // bucket was retired, or this run is restarting. Operations still
      // waiting never reached a transaction, so they had no effect: they are
      // answered `Fenced` now (their senders retry with a newer map, at the
      // new owner) instead of running on a stopped actor's behalf or waiting
      // for an answer that would never come. The batch in flight is answered
      // by the flusher when its transaction ends; nothing starts after it.
      state.halted = true;
      const waiting = state.queue;
      state.queue = [];
      const refusal = fault("Fenced", `bp ${state.bucket}/${state.partition}: stopped at epoch ${state.epoch} before this operation ran`);
      for (const operation of waiting) {
        settle(state, keyOf(operation));
        context.tell<Fault>(operation.replyTo, refusal);
      }
    },
  };
}

function clearCache(state: BucketPartitionState): number {
  state.cacheGeneration += 1;
  return state.cache.clear();
}

function refuseOtherBucket(state: BucketPartitionState, message: StoreOperation, context: ActorContext<BucketPartitionMessage>): BucketPartitionState {
  const bucket = message.kind === "CommitPut" ? message.record.bucket : message.bucket;
  context.tell<Fault>(message.replyTo, fault("NotFound", `bp ${state.bucket}/${state.partition} does not hold bucket ${bucket}`));
  return state;
}

function keyOf(operation: StoreOperation): string {
  return operation.kind === "CommitPut" ? operation.record.key : operation.key;
}

/** The reply the cache gives, or undefined when the store must be read. */
function headFromCache(cached: CachedState, versionId: string | undefined): HeadObjectReply | undefined {
  switch (cached.kind) {
    case "object":
      if (versionId !== undefined && versionId !== cached.record.versionId) return undefined;
      return { kind: "HeadObjectReply", outcome: "object", record: cached.record, cached: true };
    case "deleteMarker":
      if (versionId !== undefined && versionId !== cached.marker.versionId) return undefined;
      return { kind: "HeadObjectReply", outcome: "deleteMarker", marker: cached.marker, cached: true };
    case "absent":
      // No current version says nothing about noncurrent ones.
      return versionId === undefined ? { kind: "HeadObjectReply", outcome: "no-such-key", cached: true } : undefined;
    default:
      return assertNever(cached);
  }
}

function enqueue(
  state: BucketPartitionState,
  operation: StoreOperation,
  context: ActorContext<BucketPartitionMessage>,
  queuedOperationsMax: number,
  batchOperationsMax: number,
  options: BucketPartitionBehaviorOptions,
): void {
  if (state.queue.length >= queuedOperationsMax) {
    actorLog(context, "warn", "bp-overloaded", { kind: operation.kind, queued: state.queue.length });
    context.tell<Fault>(operation.replyTo, fault("Overloaded", `bp ${state.bucket}/${state.partition}: ${state.queue.length} operations queued`));
    return;
  }
  const key = keyOf(operation);
  state.busyKeys.set(key, (state.busyKeys.get(key) ?? 0) + 1);
  state.queue.push(operation);
  if (!state.flushing) startFlushing(state, options, context, batchOperationsMax);
}

function settle(state: BucketPartitionState, key: string): void {
  const count = state.busyKeys.get(key);
  assert(count !== undefined && count > 0, `bp ${state.bucket}/${state.partition}: settled key ${key} was not busy`);
  if (count === 1) state.busyKeys.delete(key);
  else state.busyKeys.set(key, count - 1);
}

/** The next batch: the oldest waiting operation of each key, oldest first, at most `max`. */
function takeBatch(state: BucketPartitionState, max: number): StoreOperation[] {
  const batch: StoreOperation[] = [];
  const rest: StoreOperation[] = [];
  const keys = new Set<string>();
  for (const operation of state.queue) {
    const key = keyOf(operation);
    if (batch.length < max && !keys.has(key)) {
      keys.add(key);
      batch.push(operation);
    } else {
      // A later operation of a key already in the batch waits, and so keeps its order behind it.
      keys.add(key);
      rest.push(operation);
    }
  }
  state.queue = rest;
  return batch;
}

/** Drains the queue, one transaction per batch, answering each operation after its batch is durable. */
function startFlushing(
  state: BucketPartitionState,
  options: BucketPartitionBehaviorOptions,
  context: ActorContext<BucketPartitionMessage>,
  batchOperationsMax: number,
): void {
  state.flushing = true;
  const name = `bp ${state.bucket}/${state.partition}`;
  const loop = async (): Promise<void> => {
    while (state.queue.length > 0 && !state.fenced && !state.halted) {
      const batch = takeBatch(state, batchOperationsMax);
      const generation = state.cacheGeneration;
      let failure: unknown;
      let result: { readonly refusal: Fault } | { readonly outcomes: Outcome[] } | undefined;
      try {
        result = await options.store.transact(async (tx) => {
          const refusal = options.fence === undefined ? undefined : await options.fence(tx);
          if (refusal !== undefined) return { refusal };
          const outcomes: Outcome[] = [];
          for (const operation of batch) outcomes.push(await apply(tx, operation));
          return { outcomes };
        });
      } catch (error) {
        failure = error;
      }
      if (result !== undefined && "refusal" in result) {
        fenceSelf(state, options, context, result.refusal, batch);
        return;
      }
      if (result !== undefined) {
        state.transactions += 1;
        state.operations += batch.length;
      }
      batch.forEach((operation, index) => {
        const key = keyOf(operation);
        settle(state, key);
        const outcome = result?.outcomes[index];
        // Named by the operation's own request: the loop runs in the context of whichever operation started it.
        actorLog(context, outcome === undefined ? "warn" : "debug", operation.kind === "CommitPut" ? "commit-done" : "bp-operation-done", { kind: operation.kind, key, outcome: outcome === undefined ? `failed: ${String(failure)}` : (outcome.reply as { outcome?: unknown }).outcome, transaction: state.transactions }, operation);
        if (outcome === undefined) {
          // The transaction failed: a write's outcome is unknown, so nothing cached for its key can be trusted.
          state.cache.delete(key);
          context.tell<Fault>(operation.replyTo, fault("Unreachable", `${name}: metadata transaction failed: ${String(failure)}`));
          return;
        }
        // Updated before the reply is sent, so a read that follows the reply sees the write.
        if (outcome.updatesCache) {
          if (outcome.current === undefined || generation !== state.cacheGeneration) state.cache.delete(key);
          else state.cache.set(key, outcome.current);
        }
        context.tell(operation.replyTo as ActorRef<unknown>, outcome.reply);
      });
      if (failure !== undefined && isAssertionError(failure)) throw failure;
    }
  };
  loop().then(
    () => {
      state.flushing = false;
    },
    (error: unknown) => {
      state.flushing = false;
      state.detachedErrors.push(error);
    },
  );
}

/** A newer owner exists: refuse the batch and everything waiting, empty the cache, tell the node once. */
function fenceSelf(
  state: BucketPartitionState,
  options: BucketPartitionBehaviorOptions,
  context: ActorContext<BucketPartitionMessage>,
  refusal: Fault,
  batch: readonly StoreOperation[],
): void {
  state.fenced = true;
  actorLog(context, "warn", "bp-fenced", { detail: refusal.detail, refused: batch.length + state.queue.length });
  state.cache.clear();
  const waiting = state.queue;
  state.queue = [];
  for (const operation of [...batch, ...waiting]) {
    settle(state, keyOf(operation));
    context.tell<Fault>(operation.replyTo, refusal);
  }
  options.onFenced?.(refusal);
}

/** Runs one operation inside the batch's transaction; its effects on the key are read back in the same transaction. */
async function apply(tx: MetaTransaction, operation: StoreOperation): Promise<Outcome> {
  switch (operation.kind) {
    case "PreparePut": {
      const found = await preparePutStep(
        tx,
        operation.pending,
        {
          bucket: operation.bucket,
          key: operation.key,
          ...(operation.idempotencyToken === undefined ? {} : { idempotencyToken: operation.idempotencyToken }),
          ...(operation.condition === undefined ? {} : { condition: operation.condition }),
        },
        operation.nowMs,
      );
      const reply: PreparePutReply =
        found === "no-such-bucket"
          ? { kind: "PreparePutReply", outcome: "no-such-bucket" }
          : found.kind === "prepared"
            ? { kind: "PreparePutReply", outcome: "prepared" }
            : found.kind === "refused"
              ? { kind: "PreparePutReply", outcome: found.refusal }
              : { kind: "PreparePutReply", outcome: "duplicate", record: found.record };
      // A pending record is invisible: the key's current state did not change.
      return { reply, current: undefined, updatesCache: false };
    }
    case "CommitPut": {
      const { record } = operation;
      const committed = await commitPutStep(tx, {
        record,
        versionSuffix: operation.versionSuffix,
        ...(operation.idempotencyToken === undefined ? {} : { idempotencyToken: operation.idempotencyToken }),
        tokenLifetimeMs: operation.tokenLifetimeMs,
        ...(operation.multipartUploadId === undefined ? {} : { multipartUploadId: operation.multipartUploadId }),
        nowMs: operation.nowMs,
        ...(operation.condition === undefined ? {} : { condition: operation.condition }),
      });
      const reply: CommitPutReply =
        typeof committed === "string"
          ? { kind: "CommitPutReply", outcome: committed }
          : { kind: "CommitPutReply", outcome: "committed", record: committed.record, freed: [...committed.freed], duplicate: committed.duplicate };
      return { reply, current: await currentOf(tx, record.bucket, record.key), updatesCache: true };
    }
    case "DeleteObject": {
      assert(operation.versionId === undefined || operation.condition === undefined, "a conditional delete applies to the current version only");
      const deleted =
        operation.versionId === undefined
          ? await deleteCurrentStep(tx, operation.bucket, operation.key, operation.nowMs, operation.versionSuffix, operation.condition)
          : await deleteVersionStep(tx, operation.bucket, operation.key, operation.versionId, operation.nowMs);
      const reply: DeleteObjectReply =
        typeof deleted === "string"
          ? { kind: "DeleteObjectReply", outcome: deleted }
          : {
              kind: "DeleteObjectReply",
              outcome: "deleted",
              deleteMarker: deleted.deleteMarker,
              ...(deleted.versionId === undefined ? {} : { versionId: deleted.versionId }),
              freed: [...deleted.freed],
            };
      return { reply, current: await currentOf(tx, operation.bucket, operation.key), updatesCache: true };
    }
    case "SetObjectTags": {
      const found = await setObjectTagsStep(tx, operation.bucket, operation.key, operation.versionId, operation.tags);
      const reply: SetObjectTagsReply =
        typeof found === "string"
          ? { kind: "SetObjectTagsReply", outcome: found }
          : found.kind === "object"
            ? { kind: "SetObjectTagsReply", outcome: "object", record: found.record }
            : { kind: "SetObjectTagsReply", outcome: "deleteMarker", marker: found.marker };
      // The cached current record carries tags (GET's x-amz-tagging-count): it is read back, changed or not.
      return { reply, current: await currentOf(tx, operation.bucket, operation.key), updatesCache: true };
    }
    case "HeadObject": {
      const found = await headStep(tx, operation.bucket, operation.key, operation.versionId);
      const reply = headReply(found);
      if (operation.versionId !== undefined) return { reply, current: undefined, updatesCache: false };
      return { reply, current: stateOf(found), updatesCache: true };
    }
    default:
      return assertNever(operation);
  }
}

/** The key's current state as this transaction sees it (after its writes). */
async function currentOf(tx: MetaTransaction, bucket: string, key: string): Promise<CachedState | undefined> {
  return stateOf(await headStep(tx, bucket, key, undefined));
}

function stateOf(found: HeadResult): CachedState | undefined {
  if (found === "no-such-key") return { kind: "absent" };
  // A missing bucket is not cached: the bucket may be created again, and its keys are not this actor's to vouch for.
  if (found === "no-such-bucket" || found === "no-such-version") return undefined;
  return found.kind === "object" ? { kind: "object", record: found.record } : { kind: "deleteMarker", marker: found.marker };
}

function headReply(found: HeadResult): HeadObjectReply {
  if (typeof found === "string") return { kind: "HeadObjectReply", outcome: found, cached: false };
  return found.kind === "object"
    ? { kind: "HeadObjectReply", outcome: "object", record: found.record, cached: false }
    : { kind: "HeadObjectReply", outcome: "deleteMarker", marker: found.marker, cached: false };
}

function stat(state: BucketPartitionState): StatBucketPartitionReply {
  return {
    kind: "StatBucketPartitionReply",
    bucket: state.bucket,
    partition: state.partition,
    epoch: state.epoch,
    fenced: state.fenced,
    cacheEntries: state.cache.size,
    cacheBytes: state.cache.bytes,
    cacheHits: state.cacheHits,
    cacheMisses: state.cacheMisses,
    queuedOperations: state.queue.length,
    transactions: state.transactions,
    operations: state.operations,
  };
}
