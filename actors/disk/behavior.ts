/**
 * The DiskActor: the only code that touches a disk directory's volume files.
 * It serves the messages of `protocol.ts` from a `VolumeStore`.
 *
 * Writes and reads are started in `receive` but not awaited there: awaiting an
 * append would let only one record per fdatasync through, which defeats group
 * commit. Each request's reply is told when its own promise settles, so
 * replies may arrive in a different order than the requests.
 *
 * A full disk: shard writes are refused with `Overloaded` ("disk full") once
 * they would take the filesystem's free space below a reserve, so that
 * tombstones, compaction's copies and the volume store's own recovery still
 * find room; reads, deletes, scrubs and compaction go on. Free space is
 * measured (statfs) at start and again on a request at least
 * `spaceCheckIntervalMs` after the last measurement; in between, every
 * admitted write is subtracted from it, so a burst cannot run past the
 * reserve. A real ENOSPC from the filesystem counts as "no space" until the
 * next measurement.
 */
import {
  actorLog,
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
  ListShardKeysReply,
  CompactDiskReply,
  DeleteShardReply,
  DiskMessage,
  ReadShardReply,
  ScrubShardsReply,
  StatDiskReply,
  SyncDiskReply,
} from "./protocol.ts";
import { mkdir, statfs } from "node:fs/promises";
import { recordBytesFor } from "./volume/format.ts";
import { VolumeStore, volumeBytesMaxDefault } from "./volume/volume-store.ts";

/** What a filesystem holds and has free, as `statfs` tells it. */
export interface DiskSpace {
  readonly totalBytes: number;
  /** Bytes an unprivileged writer may still use (statfs `bavail`). */
  readonly freeBytes: number;
}

/** Default time between measurements of free space. */
export const spaceCheckIntervalMsDefault = 1_000;
const reserveBytesFloor = 16 * 1024 * 1024;
const reserveBytesCeiling = 4 * 1024 * 1024 * 1024;

/**
 * The default reserve for a filesystem of `totalBytes`: 2 %, at least 16 MiB
 * (compaction copies in 4 MiB chunks; tombstones are a few dozen bytes), at
 * most 4 GiB, and never more than a quarter of a small filesystem.
 */
export function reserveBytesDefault(totalBytes: number): number {
  return Math.floor(Math.min(Math.max(totalBytes * 0.02, reserveBytesFloor), reserveBytesCeiling, totalBytes / 4));
}

/** The smallest volume `volumeBytesMaxFor` picks (unless the default is smaller). */
const volumeBytesFloor = 16 * 1024 * 1024;

/**
 * The volume size for a filesystem of `totalBytes`: a sixteenth of it, at
 * most the store's default (1 GiB) and at least 16 MiB. Only sealed volumes
 * are compacted, so a volume that is a large part of its disk would keep
 * its dead space until it filled the disk: on a 1 GiB filesystem a 1 GiB
 * active volume never seals, and a disk full of dead records stays full.
 */
export function volumeBytesMaxFor(totalBytes: number): number {
  return Math.floor(Math.min(volumeBytesMaxDefault, Math.max(volumeBytesFloor, totalBytes / 16)));
}

async function measureSpaceWithStatfs(directory: string): Promise<DiskSpace> {
  const figures = await statfs(directory);
  return { totalBytes: figures.blocks * figures.bsize, freeBytes: figures.bavail * figures.bsize };
}

export interface DiskBehaviorOptions {
  readonly diskId: string;
  readonly directory: string;
  /** Absent: `volumeBytesMaxFor` the filesystem's size. */
  readonly volumeBytesMax?: number;
  readonly pendingBytesMax?: number;
  readonly pendingCountMax?: number;
  /** Free space kept back from shard writes; default `reserveBytesDefault(total)` of the filesystem. */
  readonly reserveBytes?: number;
  /** Free space is measured again on the first request at least this long after the last measurement; default 1 s. */
  readonly spaceCheckIntervalMs?: number;
  /** Measures the filesystem under the directory; default `statfs`. Tests give a stand-in. */
  readonly measureSpace?: (directory: string) => Promise<DiskSpace>;
}

/**
 * What the actor knows of its filesystem's space. One mutable object shared by every copy of the state
 * (like `detachedErrors`), because measurements settle after `receive` returned.
 */
export interface SpaceView {
  totalBytes: number;
  /** Free bytes at the last measurement, less the bytes of every write admitted since. */
  freeBytes: number;
  reserveBytes: number;
  measuredAtMs: number;
  /** The measurement in progress, if any. */
  measuring: Promise<void> | null;
  /** The store's `noSpaceCount` already accounted for: a higher count means ENOSPC was met since. */
  noSpaceSeen: number;
  /** A shard write was refused for space since the last measurement. */
  refusedSinceMeasured: boolean;
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
  /** The snapshot a `ListShardKeys` listing pages through (taken at its first page). */
  listKeys?: readonly string[];
  readonly space: SpaceView;
}

/** The path under a node's root at which the disk actor for `diskId` is spawned. */
export function diskActorPath(diskId: string): string {
  return `disks/${diskId}`;
}

/** The DiskActor behaviour for one disk directory. */
export function diskBehavior(options: DiskBehaviorOptions): Behavior<DiskState, DiskMessage> {
  const measureSpace = options.measureSpace ?? measureSpaceWithStatfs;
  const spaceCheckIntervalMs = options.spaceCheckIntervalMs ?? spaceCheckIntervalMsDefault;
  /** Starts a measurement if the last one is old enough; its result lands in `state.space` when it settles. */
  const remeasure = (state: DiskState, context: ActorContext<DiskMessage>): void => {
    const space = state.space;
    const nowMs = context.clock.monotonicMs();
    if (space.measuring !== null || nowMs - space.measuredAtMs < spaceCheckIntervalMs) return;
    space.measuring = measureSpace(options.directory).then(
      (measured) => {
        space.measuring = null;
        space.measuredAtMs = context.clock.monotonicMs();
        space.totalBytes = measured.totalBytes;
        space.reserveBytes = options.reserveBytes ?? reserveBytesDefault(measured.totalBytes);
        // Writes admitted but not yet written are not in the figure yet (some may be: then this is low, never high).
        space.freeBytes = measured.freeBytes - state.store.stats().unacknowledgedBytes;
        space.noSpaceSeen = state.store.noSpaceCount();
        space.refusedSinceMeasured = false;
      },
      () => {
        // The directory is the store's; if statfs fails, the next write's own outcome tells more. Try again later.
        space.measuring = null;
        space.measuredAtMs = context.clock.monotonicMs();
      },
    );
  };

  return {
    async initialState(context): Promise<DiskState> {
      // Measured before the store opens: the volume size follows the filesystem's.
      await mkdir(options.directory, { recursive: true });
      const measured = await measureSpace(options.directory);
      const store = await VolumeStore.open({
        directory: options.directory,
        diskId: options.diskId,
        volumeBytesMax: options.volumeBytesMax ?? volumeBytesMaxFor(measured.totalBytes),
        ...(options.pendingBytesMax === undefined ? {} : { pendingBytesMax: options.pendingBytesMax }),
        ...(options.pendingCountMax === undefined ? {} : { pendingCountMax: options.pendingCountMax }),
      });
      const space: SpaceView = {
        totalBytes: measured.totalBytes,
        freeBytes: measured.freeBytes,
        reserveBytes: options.reserveBytes ?? reserveBytesDefault(measured.totalBytes),
        measuredAtMs: context.clock.monotonicMs(),
        measuring: null,
        noSpaceSeen: store.noSpaceCount(),
        refusedSinceMeasured: false,
      };
      return { diskId: options.diskId, store, epochMax: 0, closed: false, detachedErrors: [], space };
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
          actorLog(context, "debug", "shard-append", { shardKey, lengthBytes: bytes.byteLength, epoch: message.epoch });
          // A write waits for a due measurement (one statfs, at most once per interval, so group commit is not
          // held up): the first write after space came back is admitted, and the first after it went is refused.
          remeasure(state, context);
          if (state.space.measuring !== null) await state.space.measuring;
          const full = admitWrite(state, shardKey, bytes.byteLength);
          if (full !== null) {
            context.tell<Fault>(message.replyTo, full);
            return withEpoch(state, message.epoch);
          }
          replyWhenSettled(context, state, message.replyTo, async (): Promise<AppendShardReply | Fault> => {
            const outcome = await state.store.append(shardKey, bytes);
            noticeNoSpace(state);
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
          actorLog(context, "debug", "shard-read", { shardKey, offsetBytes: offsetBytes ?? 0, lengthBytes, epoch: message.epoch });
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
          actorLog(context, "debug", "shard-delete", { shardKey, epoch: message.epoch });
          // Deletes are never refused for space: a tombstone is what the reserve is kept for.
          remeasure(state, context);
          state.space.freeBytes -= recordBytesFor(Buffer.byteLength(shardKey), 0);
          replyWhenSettled(context, state, message.replyTo, async (): Promise<DeleteShardReply | Fault> => {
            const existed = await state.store.delete(shardKey);
            noticeNoSpace(state);
            return isFault(existed) ? existed : { kind: "DeleteShardReply", shardKey, existed };
          });
          return withEpoch(state, message.epoch);
        }
        case "StatDisk": {
          // Figures stay available after SyncDisk: they are in memory and an operator may still ask.
          // A due measurement is waited for (one statfs), so an operator sees a disk fill or empty within the interval.
          if (!state.closed) remeasure(state, context);
          if (state.space.measuring !== null) await state.space.measuring;
          const stats = state.store.stats();
          const space = state.space;
          context.tell<StatDiskReply>(message.replyTo, {
            kind: "StatDiskReply",
            diskId: state.diskId,
            shardCount: stats.shardCount,
            liveBytes: stats.liveBytes,
            deadBytes: stats.deadBytes,
            volumeCount: stats.volumeCount,
            totalBytes: space.totalBytes,
            freeBytes: Math.max(0, space.freeBytes),
            reserveBytes: space.reserveBytes,
            full: isFull(space),
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
        case "ListShardKeys": {
          const refused = refusal(state, message.epoch);
          if (refused !== null) {
            context.tell<Fault>(message.replyTo, refused);
            return state;
          }
          if (message.after === undefined || state.listKeys === undefined) state.listKeys = state.store.shardKeys().sort();
          const keys = state.listKeys;
          let index = message.after === undefined ? 0 : firstAfter(keys, message.after);
          const shardKeys: string[] = [];
          while (index < keys.length && shardKeys.length < message.countMax) {
            const shardKey = keys[index]!;
            index += 1;
            if (state.store.has(shardKey)) shardKeys.push(shardKey);
          }
          const last = keys[index - 1];
          context.tell<ListShardKeysReply>(message.replyTo, {
            kind: "ListShardKeysReply",
            shardKeys,
            ...(index < keys.length && last !== undefined ? { next: last } : {}),
          });
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

/**
 * Admits a shard write of `payloadBytes` under `shardKey` against the space left above the reserve (and
 * counts it as used), or returns the `Overloaded` fault that refuses it.
 */
function admitWrite(state: DiskState, shardKey: string, payloadBytes: number): Fault | null {
  const space = state.space;
  const recordBytes = recordBytesFor(Buffer.byteLength(shardKey), payloadBytes);
  if (space.freeBytes - recordBytes < space.reserveBytes) {
    space.refusedSinceMeasured = true;
    return fault(
      "Overloaded",
      `disk ${state.diskId}: disk full: ${Math.max(0, space.freeBytes)} bytes free, ${space.reserveBytes} kept in reserve`,
    );
  }
  space.freeBytes -= recordBytes;
  return null;
}

/** After a write settled: if the filesystem answered ENOSPC meanwhile, take the disk as full until measured again. */
function noticeNoSpace(state: DiskState): void {
  const count = state.store.noSpaceCount();
  if (count === state.space.noSpaceSeen) return;
  state.space.noSpaceSeen = count;
  state.space.freeBytes = 0;
}

/** True while shard writes are refused for space: free space is down to the reserve, or a write was refused since measured. */
function isFull(space: SpaceView): boolean {
  return space.freeBytes <= space.reserveBytes || space.refusedSinceMeasured;
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
    (reply) => {
      if (isFault(reply)) actorLog(context, reply.fault === "NotFound" ? "debug" : "info", "disk-fault", { fault: reply.fault, detail: reply.detail });
      context.tell<R | Fault>(replyTo, reply);
    },
    (error: unknown) => {
      actorLog(context, "error", "disk-operation-failed", { error: String(error) });
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
