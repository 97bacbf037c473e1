/**
 * The DiskActor: the only code that touches a disk directory's volume files.
 * It serves the messages of `protocol.ts` from a `VolumeStore`.
 *
 * Writes and reads are started in `receive` but not awaited there: awaiting an
 * append would let only one record per fdatasync through, which defeats group
 * commit. Each request's reply is told when its own promise settles, so
 * replies may arrive in a different order than the requests.
 */
import {
  assertNever,
  fault,
  isFault,
  type ActorContext,
  type ActorRef,
  type Behavior,
  type Fault,
} from "../../runtime/index.ts";
import type {
  AppendShardReply,
  CheckShardsReply,
  CompactDiskReply,
  DeleteShardReply,
  DiskMessage,
  ReadShardReply,
  ScrubShardsReply,
  StatDiskReply,
  SyncDiskReply,
} from "./protocol.ts";
import { VolumeStore } from "./volume/volume-store.ts";

export interface DiskBehaviorOptions {
  readonly diskId: string;
  readonly directory: string;
  readonly volumeBytesMax?: number;
  readonly pendingBytesMax?: number;
  readonly pendingCountMax?: number;
}

export interface DiskState {
  readonly diskId: string;
  readonly store: VolumeStore;
  /** The highest epoch any request carried; a request below it is fenced. */
  readonly epochMax: number;
  /** Set by `SyncDisk`: the files are closed and every later request gets a fault. */
  readonly closed: boolean;
  /**
   * Errors thrown by store operations that settled after `receive` returned.
   * They are bugs (the store reports operating failures as faults); the next
   * `receive` rethrows the first one so the host stops the actor.
   */
  readonly detachedErrors: unknown[];
  /** The current scrub pass's keys, sorted once when the pass began (undefined between passes). */
  scrubKeys?: readonly string[];
}

/** The path under a node's root at which the disk actor for `diskId` is spawned. */
export function diskActorPath(diskId: string): string {
  return `disks/${diskId}`;
}

/** The DiskActor behaviour for one disk directory. */
export function diskBehavior(options: DiskBehaviorOptions): Behavior<DiskState, DiskMessage> {
  return {
    async initialState(): Promise<DiskState> {
      const store = await VolumeStore.open({
        directory: options.directory,
        diskId: options.diskId,
        ...(options.volumeBytesMax === undefined ? {} : { volumeBytesMax: options.volumeBytesMax }),
        ...(options.pendingBytesMax === undefined ? {} : { pendingBytesMax: options.pendingBytesMax }),
        ...(options.pendingCountMax === undefined ? {} : { pendingCountMax: options.pendingCountMax }),
      });
      return { diskId: options.diskId, store, epochMax: 0, closed: false, detachedErrors: [] };
    },

    async receive(state, message, context): Promise<DiskState> {
      const detached = state.detachedErrors[0];
      if (detached !== undefined) throw detached;
      switch (message.kind) {
        case "AppendShard": {
          const refused = refusal(state, message.epoch);
          if (refused !== null) {
            context.tell<Fault>(message.replyTo, refused);
            return state;
          }
          const { shardKey, bytes } = message;
          replyWhenSettled(context, state, message.replyTo, async (): Promise<AppendShardReply | Fault> => {
            const outcome = await state.store.append(shardKey, bytes);
            return outcome ?? { kind: "AppendShardReply", shardKey, lengthBytes: bytes.length };
          });
          return withEpoch(state, message.epoch);
        }
        case "ReadShard": {
          const refused = refusal(state, message.epoch);
          if (refused !== null) {
            context.tell<Fault>(message.replyTo, refused);
            return state;
          }
          const { shardKey, offsetBytes, lengthBytes } = message;
          replyWhenSettled(context, state, message.replyTo, async (): Promise<ReadShardReply | Fault> => {
            const bytes = await state.store.read(shardKey, offsetBytes ?? 0, lengthBytes);
            return isFault(bytes) ? bytes : { kind: "ReadShardReply", shardKey, bytes };
          });
          return withEpoch(state, message.epoch);
        }
        case "DeleteShard": {
          const refused = refusal(state, message.epoch);
          if (refused !== null) {
            context.tell<Fault>(message.replyTo, refused);
            return state;
          }
          const { shardKey } = message;
          replyWhenSettled(context, state, message.replyTo, async (): Promise<DeleteShardReply | Fault> => {
            const existed = await state.store.delete(shardKey);
            return isFault(existed) ? existed : { kind: "DeleteShardReply", shardKey, existed };
          });
          return withEpoch(state, message.epoch);
        }
        case "StatDisk": {
          // Figures stay available after SyncDisk: they are in memory and an operator may still ask.
          const stats = state.store.stats();
          context.tell<StatDiskReply>(message.replyTo, {
            kind: "StatDiskReply",
            diskId: state.diskId,
            shardCount: stats.shardCount,
            liveBytes: stats.liveBytes,
            deadBytes: stats.deadBytes,
            volumeCount: stats.volumeCount,
          });
          return state;
        }
        case "CheckShards": {
          const refused = refusal(state, message.epoch);
          if (refused !== null) {
            context.tell<Fault>(message.replyTo, refused);
            return state;
          }
          context.tell<CheckShardsReply>(message.replyTo, { kind: "CheckShardsReply", present: message.shardKeys.map((key) => state.store.has(key)) });
          return withEpoch(state, message.epoch);
        }
        case "ScrubShards": {
          const refused = refusal(state, message.epoch);
          if (refused !== null) {
            context.tell<Fault>(message.replyTo, refused);
            return state;
          }
          if (message.after === undefined || state.scrubKeys === undefined) state.scrubKeys = state.store.shardKeys().sort();
          const keys = state.scrubKeys;
          const { after, countMax, bytesMax } = message;
          replyWhenSettled(context, state, message.replyTo, async (): Promise<ScrubShardsReply | Fault> => {
            let index = after === undefined ? 0 : firstAfter(keys, after);
            let checked = 0;
            let bytesChecked = 0;
            const corrupt: string[] = [];
            // One record at a time: a scrub must leave the disk to clients (the caller paces the pages too).
            while (index < keys.length && checked < countMax && bytesChecked < bytesMax) {
              const shardKey = keys[index]!;
              index += 1;
              if (!state.store.has(shardKey)) continue;
              const bytes = await state.store.read(shardKey);
              checked += 1;
              if (isFault(bytes)) {
                if (bytes.fault === "Corrupt") corrupt.push(shardKey);
                else if (bytes.fault !== "NotFound") return bytes;
              } else {
                bytesChecked += bytes.byteLength;
              }
            }
            const last = keys[index - 1];
            return { kind: "ScrubShardsReply", checked, bytesChecked, corrupt, ...(index < keys.length && last !== undefined ? { next: last } : {}) };
          });
          return withEpoch(state, message.epoch);
        }
        case "CompactDisk": {
          // Driven by a message rather than a timer inside the actor: the actor stays passive (it runs unchanged on
          // the deterministic host), and the node's maintenance loop, which already paces scrub and heal, decides
          // when disk bandwidth goes to compaction. Each step is bounded by `bytesMax`, so the caller sets its cost.
          const refused = refusal(state, message.epoch);
          if (refused !== null) {
            context.tell<Fault>(message.replyTo, refused);
            return state;
          }
          const { deadFractionMin, bytesMax } = message;
          replyWhenSettled(context, state, message.replyTo, async (): Promise<CompactDiskReply | Fault> => {
            const report = await state.store.compact({ deadFractionMin, bytesMax });
            if (isFault(report)) return report;
            return {
              kind: "CompactDiskReply",
              volumesCompacted: report.volumesCompacted,
              bytesReclaimed: report.bytesReclaimed,
              bytesCopied: report.bytesCopied,
              tombstonesCarried: report.tombstonesCarried,
              volumesSkipped: report.volumesSkipped,
              more: report.more,
            };
          });
          return withEpoch(state, message.epoch);
        }
        case "SyncDisk": {
          // Awaited on purpose: nothing may be handled after this until the files are closed.
          const failure = await state.store.flush();
          await state.store.close();
          context.tell<SyncDiskReply | Fault>(message.replyTo, failure ?? { kind: "SyncDiskReply" });
          return { ...state, closed: true };
        }
        default:
          return assertNever(message, "unknown disk message");
      }
    },

    async stopped(state): Promise<void> {
      await state.store.close();
    },
  };
}

/** The fault a request must get instead of being served, or null to serve it. */
function refusal(state: DiskState, epoch: number): Fault | null {
  if (epoch < state.epochMax) {
    return fault("Fenced", `disk ${state.diskId}: epoch ${epoch} is below ${state.epochMax}`);
  }
  if (state.closed) return fault("Unreachable", `disk ${state.diskId} is closed`);
  return null;
}

function withEpoch(state: DiskState, epoch: number): DiskState {
  return epoch > state.epochMax ? { ...state, epochMax: epoch } : state;
}

/** Runs `operation` without blocking `receive` and tells its result (a reply or a fault) to `replyTo`. */
function replyWhenSettled<R>(
  context: ActorContext<DiskMessage>,
  state: DiskState,
  replyTo: ActorRef<R | Fault>,
  operation: () => Promise<R | Fault>,
): void {
  operation().then(
    (reply) => context.tell<R | Fault>(replyTo, reply),
    (error: unknown) => {
      // The caller must not wait forever on a bug; the actor is stopped on its next message.
      context.tell<R | Fault>(replyTo, fault("Unreachable", `disk ${state.diskId} failed: ${String(error)}`));
      state.detachedErrors.push(error);
    },
  );
}

/** The index of the first key in sorted `keys` greater than `after`. */
function firstAfter(keys: readonly string[], after: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (keys[middle]! <= after) low = middle + 1;
    else high = middle;
  }
  return low;
}
