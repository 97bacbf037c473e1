/**
 * The PlacementGroupActor: owns one PG's acting set for the current cluster
 * map epoch and the PG's index of what it stores and what it must heal.
 *
 * The index lives in the metadata store (keys `("pg", id, …)`), so it
 * survives restarts and any node that later hosts the PG reads the same one.
 * Index writes from concurrent PUTs are grouped: while one transaction is in
 * flight, later writes queue and go together in the next one, and each
 * request is answered only after the transaction holding it is durable.
 */
import {
  actorLog,
  assertNever,
  fault,
  type ActorContext,
  type ActorRef,
  type Behavior,
  type Fault,
} from "../../runtime/index.ts";
import {
  decodeRecordOf,
  encodeRecord,
  healShardFromStoredKey,
  keyAfter,
  placementGroupCompleteKey,
  placementGroupDataKey,
  placementGroupDataRange,
  placementGroupHealDataRange,
  placementGroupHealKey,
  placementGroupHealRange,
  type MetaStore,
  type MetaTransaction,
} from "../../cluster/metadata/index.ts";
import type {
  DamagedShardEntry,
  ForgetData,
  IndexData,
  ListDamagedShards,
  ListDamagedShardsReply,
  PlacementGroupMessage,
  RecordCompleteActingSet,
  RecordDamagedShards,
  RepairLayout,
  ResolveDamagedShards,
  StatPlacementGroupReply,
} from "./protocol.ts";

export interface PlacementGroupBehaviorOptions {
  readonly placementGroupId: number;
  readonly store: MetaStore;
  /** The acting set at `epoch`; position = shard index. */
  readonly diskIds: readonly string[];
  readonly epoch: number;
  /** Bound on entries counted by `StatPlacementGroup`. */
  readonly statScanMax?: number;
  /** Bound on queued index writes; beyond it requests get `Overloaded`. */
  readonly queuedWritesMax?: number;
  /**
   * Checked inside every index-write transaction (in a fleet: this run's
   * ownership of the PG at `epoch`, `checkOwner`). A fault refuses the whole
   * batch with that fault, and `onFenced` is told once: a newer owner exists,
   * so this actor must stop.
   */
  readonly fence?: (tx: MetaTransaction) => Promise<Fault | undefined>;
  readonly onFenced?: (refusal: Fault) => void;
}

type IndexWrite = IndexData | ForgetData | RecordDamagedShards | ResolveDamagedShards | RecordCompleteActingSet;

export interface PlacementGroupState {
  readonly placementGroupId: number;
  readonly epoch: number;
  readonly diskIds: readonly string[];
  /**
   * The flusher's state, mutated in place by the flush loop. One object
   * shared by every state that follows (a new acting set makes a new state):
   * a loop running when the state is replaced must still be seen to end,
   * or no later write would start a flush.
   */
  readonly io: PlacementGroupIo;
}

export interface PlacementGroupIo {
  /** Writes waiting for the next transaction. */
  readonly queue: IndexWrite[];
  /** Whether a flush loop is running. */
  flushing: boolean;
  /** Whether a write was refused by `fence`: a newer owner exists. */
  fenced: boolean;
  /** Errors from a flush that settled after `receive` returned: bugs, rethrown on the next message. */
  readonly detachedErrors: unknown[];
  /**
   * The acting set the PG last had every shard on, as stored at
   * ("pg", pg, "c"): read once, then kept by the flusher's own writes of it
   * (this actor is that key's only writer). `undefined`: not read yet.
   */
  completeDiskIds: readonly string[] | null | undefined;
}

/** The path under a node's root at which PG `placementGroupId` is spawned. */
export function placementGroupActorPath(placementGroupId: number): string {
  return `pgs/${placementGroupId}`;
}

/**
 * Index entry `("pg", id, "d", dataId)`, kind `placementGroupData`, version 1:
 * `{ bucket, key, layout? }`. `layout` (a `RepairLayout`) was added to the
 * same version as an optional field: entries written before it lack it, and
 * repair reports their shards as unhealable rather than guessing.
 */
const pgDataVersion = 1;
const pgHealVersion = 1;
/** `("pg", id, "c")`, kind `placementGroupComplete`, version 1: `{ diskIds }`. */
const pgCompleteVersion = 1;

/** The PlacementGroupActor behaviour for one PG. */
export function placementGroupBehavior(options: PlacementGroupBehaviorOptions): Behavior<PlacementGroupState, PlacementGroupMessage> {
  const statScanMax = options.statScanMax ?? 100_000;
  const queuedWritesMax = options.queuedWritesMax ?? 10_000;
  return {
    initialState(): PlacementGroupState {
      return {
        placementGroupId: options.placementGroupId,
        epoch: options.epoch,
        diskIds: [...options.diskIds],
        io: { queue: [], flushing: false, fenced: false, detachedErrors: [], completeDiskIds: undefined },
      };
    },

    async receive(state, message, context): Promise<PlacementGroupState> {
      const detached = state.io.detachedErrors[0];
      if (detached !== undefined) throw detached;
      if (message.epoch < state.epoch) {
        actorLog(context, "info", "pg-fenced", { kind: message.kind, epoch: message.epoch, epochCurrent: state.epoch });
        context.tell<Fault>(message.replyTo, fault("Fenced", `pg ${state.placementGroupId}: epoch ${message.epoch} is below ${state.epoch}`));
        return state;
      }
      switch (message.kind) {
        case "GetActingSet": {
          const complete = await completeActingSet(state, options.store);
          // While backfilling, the disks the changed positions had: readers try them before rebuilding a shard.
          const former = complete !== null && complete.join(",") !== state.diskIds.join(",") ? { formerDiskIds: [...complete] } : {};
          context.tell(message.replyTo, {
            kind: "GetActingSetReply",
            placementGroupId: state.placementGroupId,
            epoch: state.epoch,
            diskIds: [...state.diskIds],
            ...former,
          });
          return state;
        }
        case "IndexData":
        case "ForgetData":
        case "RecordDamagedShards":
        case "ResolveDamagedShards":
        case "RecordCompleteActingSet":
          if (state.io.queue.length >= queuedWritesMax) {
            actorLog(context, "warn", "pg-overloaded", { kind: message.kind, queued: state.io.queue.length });
            context.tell<Fault>(message.replyTo, fault("Overloaded", `pg ${state.placementGroupId}: ${state.io.queue.length} index writes queued`));
            return state;
          }
          actorLog(context, "debug", "pg-index-write", { kind: message.kind, ...("dataId" in message ? { dataId: message.dataId } : {}), queued: state.io.queue.length });
          state.io.queue.push(message);
          if (!state.io.flushing) startFlushing(state, options, context);
          return state;
        case "GetCompleteActingSet": {
          const diskIds = await readCompleteActingSet(state.placementGroupId, options.store);
          state.io.completeDiskIds = diskIds;
          context.tell(message.replyTo, { kind: "GetCompleteActingSetReply", diskIds: diskIds === null ? null : [...diskIds] });
          return state;
        }
        case "ListDamagedShards":
          context.tell(message.replyTo, await listDamaged(state.placementGroupId, options.store, message));
          return state;
        case "StatPlacementGroup": {
          const reply = await stat(state, options.store, statScanMax);
          context.tell(message.replyTo, reply);
          return state;
        }
        case "UpdateActingSet":
          if (message.epoch === state.epoch) {
            const same = message.diskIds.length === state.diskIds.length && message.diskIds.every((id, index) => id === state.diskIds[index]);
            if (!same) {
              context.tell<Fault>(message.replyTo, fault("Fenced", `pg ${state.placementGroupId}: epoch ${message.epoch} already has another acting set`));
              return state;
            }
          }
          context.tell(message.replyTo, { kind: "UpdateActingSetReply", epoch: message.epoch });
          return { ...state, epoch: message.epoch, diskIds: [...message.diskIds] };
        default:
          return assertNever(message);
      }
    },
  };
}

/** Drains the queue, one transaction per batch, answering each write after its batch is durable. */
function startFlushing(state: PlacementGroupState, options: PlacementGroupBehaviorOptions, context: ActorContext<PlacementGroupMessage>): void {
  const store = options.store;
  state.io.flushing = true;
  const loop = async (): Promise<void> => {
    while (state.io.queue.length > 0) {
      const batch = state.io.queue.splice(0, state.io.queue.length);
      let failure: unknown;
      let refusal: Fault | undefined;
      try {
        refusal = await store.transact(async (tx): Promise<Fault | undefined> => {
          const fenced = options.fence === undefined ? undefined : await options.fence(tx);
          if (fenced !== undefined) return fenced;
          for (const write of batch) applyWrite(tx, state.placementGroupId, write);
          return undefined;
        });
      } catch (error) {
        failure = error;
      }
      if (refusal !== undefined && !state.io.fenced) {
        state.io.fenced = true;
        options.onFenced?.(refusal);
      }
      for (const write of batch) {
        // The write's own request names the line (the loop runs in the context of whichever write started it).
        actorLog(context, refusal === undefined && failure === undefined ? "debug" : "warn", "pg-index-write-done", { kind: write.kind, outcome: refusal?.fault ?? (failure === undefined ? "written" : String(failure)) }, write);
        if (refusal !== undefined) {
          context.tell<Fault>(write.replyTo, refusal);
        } else if (failure !== undefined) {
          context.tell<Fault>(write.replyTo, fault("Unreachable", `pg ${state.placementGroupId}: index write failed: ${String(failure)}`));
        } else {
          if (write.kind === "RecordCompleteActingSet") state.io.completeDiskIds = [...write.diskIds];
          context.tell(write.replyTo as ActorRef<unknown>, replyFor(write));
        }
      }
    }
  };
  loop().then(
    () => {
      state.io.flushing = false;
    },
    (error: unknown) => {
      state.io.flushing = false;
      state.io.detachedErrors.push(error);
    },
  );
}

function applyWrite(tx: MetaTransaction, placementGroupId: number, write: IndexWrite): void {
  switch (write.kind) {
    case "IndexData":
      tx.set(
        placementGroupDataKey(placementGroupId, write.dataId),
        encodeRecord("placementGroupData", pgDataVersion, {
          bucket: write.bucket,
          key: write.key,
          ...(write.layout === undefined ? {} : { layout: write.layout }),
        }),
      );
      return;
    case "ForgetData": {
      tx.clear(placementGroupDataKey(placementGroupId, write.dataId));
      // Heal entries of data that no longer exists are moot.
      const heal = placementGroupHealDataRange(placementGroupId, write.dataId);
      tx.clearRange(heal.begin, heal.end);
      return;
    }
    case "RecordDamagedShards":
      for (const shard of write.shards) {
        tx.set(
          placementGroupHealKey(placementGroupId, write.dataId, shard.stripeIndex, shard.shardIndex),
          encodeRecord("placementGroupHeal", pgHealVersion, { damage: shard.damage }),
        );
      }
      return;
    case "ResolveDamagedShards":
      for (const shard of write.shards) tx.clear(placementGroupHealKey(placementGroupId, write.dataId, shard.stripeIndex, shard.shardIndex));
      return;
    case "RecordCompleteActingSet":
      tx.set(placementGroupCompleteKey(placementGroupId), encodeRecord("placementGroupComplete", pgCompleteVersion, { diskIds: [...write.diskIds] }));
      return;
    default:
      assertNever(write);
  }
}

function replyFor(write: IndexWrite): unknown {
  switch (write.kind) {
    case "IndexData":
      return { kind: "IndexDataReply", dataId: write.dataId };
    case "ForgetData":
      return { kind: "ForgetDataReply", dataId: write.dataId };
    case "RecordDamagedShards":
      return { kind: "RecordDamagedShardsReply", recorded: write.shards.length };
    case "ResolveDamagedShards":
      return { kind: "ResolveDamagedShardsReply", resolved: write.shards.length };
    case "RecordCompleteActingSet":
      return { kind: "RecordCompleteActingSetReply" };
    default:
      return assertNever(write);
  }
}

/** The stored complete acting set, or null before the first record. */
async function readCompleteActingSet(placementGroupId: number, store: MetaStore): Promise<readonly string[] | null> {
  const bytes = await store.transact((tx) => tx.get(placementGroupCompleteKey(placementGroupId)));
  return bytes === undefined ? null : (decodeRecordOf("placementGroupComplete", bytes).value as { diskIds: string[] }).diskIds;
}

/** The complete acting set, read from the store the first time only. */
async function completeActingSet(state: PlacementGroupState, store: MetaStore): Promise<readonly string[] | null> {
  // `null` (no record yet) is an answer too: only `undefined` means not read.
  if (state.io.completeDiskIds === undefined) state.io.completeDiskIds = await readCompleteActingSet(state.placementGroupId, store);
  return state.io.completeDiskIds;
}

async function stat(state: PlacementGroupState, store: MetaStore, scanMax: number): Promise<StatPlacementGroupReply> {
  const count = async (range: { begin: Uint8Array; end: Uint8Array }): Promise<number> =>
    store.transact(async (tx) => (await tx.getRange(range.begin, range.end, { limit: scanMax })).length);
  const dataCount = await count(placementGroupDataRange(state.placementGroupId));
  const damagedShardCount = await count(placementGroupHealRange(state.placementGroupId));
  const complete = await completeActingSet(state, store);
  const completeDiskIds = complete === null ? null : [...complete];
  return {
    kind: "StatPlacementGroupReply",
    placementGroupId: state.placementGroupId,
    epoch: state.epoch,
    diskIds: [...state.diskIds],
    dataCount,
    damagedShardCount,
    countsTruncated: dataCount >= scanMax || damagedShardCount >= scanMax,
    completeDiskIds,
  };
}

/** One page of the heal list, each entry with what the index knows of its data (one read transaction). */
async function listDamaged(placementGroupId: number, store: MetaStore, request: ListDamagedShards): Promise<ListDamagedShardsReply> {
  return store.transact(async (tx) => {
    const range = placementGroupHealRange(placementGroupId);
    const begin =
      request.after === undefined
        ? range.begin
        : keyAfter(placementGroupHealKey(placementGroupId, request.after.dataId, request.after.stripeIndex, request.after.shardIndex));
    const pairs = await tx.getRange(begin, range.end, { limit: request.limit + 1 });
    const known = new Map<string, { indexed: boolean; layout?: RepairLayout }>();
    const entries: DamagedShardEntry[] = [];
    for (const pair of pairs.slice(0, request.limit)) {
      const shard = healShardFromStoredKey(pair.key);
      let data = known.get(shard.dataId);
      if (data === undefined) {
        const bytes = await tx.get(placementGroupDataKey(placementGroupId, shard.dataId));
        const value = bytes === undefined ? undefined : (decodeRecordOf("placementGroupData", bytes).value as { layout?: RepairLayout });
        data = value === undefined ? { indexed: false } : { indexed: true, ...(value.layout === undefined ? {} : { layout: value.layout }) };
        known.set(shard.dataId, data);
      }
      const damage = (decodeRecordOf("placementGroupHeal", pair.value).value as { damage: DamagedShardEntry["damage"] }).damage;
      entries.push({ ...shard, damage, indexed: data.indexed, ...(data.layout === undefined ? {} : { layout: data.layout }) });
    }
    return { kind: "ListDamagedShardsReply", entries, done: pairs.length <= request.limit };
  });
}
