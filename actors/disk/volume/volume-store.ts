/**
 * A directory of append-only volume files (`data.000001`, `data.000002`, …)
 * and the in-memory index over them. The highest-numbered volume is active
 * (appended to); every other volume is sealed and never written again.
 *
 * Writes use group commit: records queued while a write + fdatasync is in
 * progress are written together with one `writev` and made durable with one
 * `fdatasync`; every one of their promises settles only after that sync, and
 * only then does the index learn about them. A reader therefore never sees a
 * record that was not acknowledged.
 *
 * On open every volume is scanned from the start. A torn tail on the last
 * volume (a header that does not verify, a record that runs past the end of
 * the file, or trailing records whose payload CRC fails) is truncated away;
 * damage in the middle of a volume is skipped and counted as dead bytes, and a
 * record whose header verifies but whose payload does not stays indexed so
 * that reading it returns `Corrupt` rather than stale or missing data.
 */
import { mkdir, open, readdir, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { assert, fault, isFault, type Fault } from "../../../runtime/index.ts";
import { shardBytesMax, shardKeyBytesMax } from "../protocol.ts";
import {
  decodeHeader,
  decodeRecord,
  encodeKey,
  encodeRecord,
  hasMagicAt,
  recordAlignmentBytes,
  recordHeaderBytes,
  type EncodedRecord,
  type HeaderDecode,
  type RecordHeader,
  type RecordKind,
} from "./format.ts";

/** Default size at which the active volume is sealed and a new one started. */
export const volumeBytesMaxDefault = 1024 * 1024 * 1024;
/** Default bound on bytes queued or being written but not yet acknowledged. */
export const pendingBytesMaxDefault = 64 * 1024 * 1024;
/** Default bound on records queued or being written but not yet acknowledged. */
export const pendingCountMaxDefault = 4096;

// iovec arrays above IOV_MAX (1024 on Linux) are refused or cut short by the kernel.
const writevBuffersMax = 512;
// Scanning reads this much at a time so that small records do not cost one read each.
const scanWindowBytes = 256 * 1024;
const volumeNamePattern = /^data\.(\d{6,})$/;
const emptyPayload = new Uint8Array(0);
// Compaction copies are made durable in chunks of about this size, which bounds the memory a step holds.
const compactionChunkBytes = 4 * 1024 * 1024;

export interface VolumeStoreOptions {
  readonly directory: string;
  readonly diskId: string;
  /** A volume is sealed before a record would take it past this size (a single larger record gets a volume of its own). */
  readonly volumeBytesMax?: number;
  /** Bound on unacknowledged bytes; beyond it writes get an `Overloaded` fault. */
  readonly pendingBytesMax?: number;
  /** Bound on unacknowledged records; beyond it writes get an `Overloaded` fault. */
  readonly pendingCountMax?: number;
  /**
   * Called synchronously at each step of a compaction (see `CompactionProbe`).
   * Only the crash test sets it, to SIGKILL the process at an exact point.
   */
  readonly compactionProbe?: (event: CompactionProbe) => void;
}

/** What `compact` may do in one step. */
export interface CompactionOptions {
  /** A sealed volume is compacted once `deadBytes / sizeBytes` reaches this (0 < fraction ≤ 1). */
  readonly deadFractionMin: number;
  /**
   * Bound on the bytes of source volumes scanned in this step (copies are a part of them). A volume larger
   * than what is left is compacted over several steps; the step ends once the bound is reached.
   */
  readonly bytesMax: number;
}

/** What one compaction step did. */
export interface CompactionReport {
  /** Volume files removed. */
  readonly volumesCompacted: number;
  /** Total size of the removed volume files (the net space freed is this minus `bytesCopied`). */
  readonly bytesReclaimed: number;
  /** Bytes of records appended as copies: live records and the tombstones carried over. */
  readonly bytesCopied: number;
  readonly tombstonesCarried: number;
  /** Copies not written because a client overwrote or deleted the key between the read and the write. */
  readonly copiesDropped: number;
  /** Bytes of source volumes scanned (at most the step's `bytesMax`, rounded up to a whole record). */
  readonly bytesScanned: number;
  /** Sealed volumes left alone because a record the index points at fails its CRC (they wait for healing). */
  readonly volumesSkipped: number;
  /** True when some volume still passes the threshold (another step has work). */
  readonly more: boolean;
}

/**
 * The points of a compaction at which `compactionProbe` is called, in order:
 * `copyQueued` (the record of `shardKey` in `volumeNumber` is read and its copy is about to be queued),
 * `copyWritten` (copies written to `volumeNumber` at [fromBytes, toBytes), not yet synced),
 * `copiesDurable` (a chunk of copies out of source `volumeNumber` is synced and indexed),
 * `volumeCopied` (every live record of `volumeNumber` has a durable copy; the file is still there),
 * `volumeUnlinked` (its file is unlinked; the directory is not synced yet),
 * `volumeRemoved` (the directory is synced).
 */
export type CompactionProbe =
  | { readonly point: "copyQueued"; readonly volumeNumber: number; readonly shardKey: string }
  | { readonly point: "copyWritten"; readonly volumeNumber: number; readonly fromBytes: number; readonly toBytes: number }
  | { readonly point: "copiesDurable" | "volumeCopied" | "volumeUnlinked" | "volumeRemoved"; readonly volumeNumber: number };

/** Usage of one volume file. */
export interface VolumeStats {
  readonly volumeNumber: number;
  readonly sizeBytes: number;
  /** Bytes of records that were overwritten or deleted, of tombstones, and of damaged spans. Compaction uses this. */
  readonly deadBytes: number;
  readonly sealed: boolean;
}

export interface VolumeStoreStats {
  readonly shardCount: number;
  /** Bytes (whole records, padding included) of the records the index points at. */
  readonly liveBytes: number;
  /** Sum of every volume's dead bytes; `liveBytes + deadBytes` is the total size of the volumes. */
  readonly deadBytes: number;
  readonly volumeCount: number;
  /** fdatasync calls on volume files since open; group commit keeps this below the number of writes. */
  readonly syncCount: number;
  /** Batches refused since open because the filesystem was full mid-write (`Overloaded`, "disk full"). */
  readonly noSpaceCount: number;
  /** Bytes of records queued or being written, not yet acknowledged (not yet on disk, or not yet synced). */
  readonly unacknowledgedBytes: number;
  readonly volumes: readonly VolumeStats[];
}

/** What the scan on open found and repaired. */
export interface RecoveryReport {
  /** Bytes truncated from the tail of the last volume. */
  readonly tornBytesCut: number;
  /** Spans in the middle of volumes whose header did not verify and that were skipped. */
  readonly damagedSpans: number;
  readonly damagedBytes: number;
}

interface Volume {
  readonly volumeNumber: number;
  readonly path: string;
  readonly handle: FileHandle;
  /** Bytes of acknowledged (synced) records; the next batch is written here. */
  sizeBytes: number;
  deadBytes: number;
  sealed: boolean;
  /**
   * Keys of the live-kind records in this volume, current or superseded. Compaction asks it whether a
   * tombstone in a newer volume still shadows a record here (and so must be carried over, not dropped).
   */
  readonly liveRecordKeys: Set<string>;
}

interface IndexEntry {
  readonly volumeNumber: number;
  readonly offsetBytes: number;
  readonly recordBytes: number;
  readonly keyBytes: number;
  readonly payloadBytes: number;
}

/** `written` is false only for a compaction copy dropped because the key changed since it was read. */
type WriteOutcome = { readonly existed: boolean; readonly written: boolean } | Fault;

/**
 * A compaction copy names what it copies: the index entry of the live record (the copy is written only if
 * the index still holds exactly that entry), or `absent` for a carried tombstone (written only if the key is
 * still absent). Checked when the batch is written, so a copy never lands after a newer write of its key.
 */
type CopyOf = IndexEntry | "absent";

interface PendingWrite {
  readonly kind: RecordKind;
  readonly key: string;
  readonly encoded: EncodedRecord;
  readonly copyOf: CopyOf | null;
  readonly settle: (outcome: WriteOutcome) => void;
}

type ScanItem =
  | { readonly type: "record"; readonly offsetBytes: number; readonly header: RecordHeader; readonly key: string }
  | { readonly type: "damage"; readonly offsetBytes: number; readonly lengthBytes: number };

/** The volume files of one disk directory and the index over them. */
export class VolumeStore {
  readonly #directory: string;
  readonly #diskId: string;
  readonly #volumeBytesMax: number;
  readonly #pendingBytesMax: number;
  readonly #pendingCountMax: number;
  readonly #compactionProbe: ((event: CompactionProbe) => void) | undefined;
  readonly #volumes = new Map<number, Volume>();
  readonly #index = new Map<string, IndexEntry>();
  readonly #readsInFlight = new Set<Promise<unknown>>();
  #activeVolumeNumber = 0;
  #liveBytes = 0;
  #syncCount = 0;
  #queue: PendingWrite[] = [];
  // Counted from enqueue until the write settles, so the bound covers the batch being written too.
  #unacknowledgedBytes = 0;
  #unacknowledgedCount = 0;
  #flushing: Promise<void> | null = null;
  // Set once a write or sync fails: after a failed fsync the file's state is unknown, so the store
  // refuses further writes until it is reopened (and the scan re-establishes what is durable).
  #failure: Fault | null = null;
  // Set by the first close; writes and reads after it are bugs.
  #closing: Promise<void> | null = null;
  #recovery: RecoveryReport = { tornBytesCut: 0, damagedSpans: 0, damagedBytes: 0 };
  // Batches refused because the filesystem ran out of space mid-write (each cut back to the acknowledged end).
  #noSpaceCount = 0;
  #compacting: Promise<CompactionReport | Fault> | null = null;
  // Where an unfinished volume's compaction stopped (bytesMax reached); the next step resumes there.
  #compactionCursor: { readonly volumeNumber: number; readonly offsetBytes: number } | null = null;
  // Volumes holding a current record that fails its CRC (compacting them would drop the key's older records
  // and so its history), each with its dead bytes when skipped: once a client rewrites or deletes the key
  // (healing it), the dead bytes change and the volume is a candidate again.
  readonly #compactionSkipped = new Map<number, number>();

  private constructor(options: VolumeStoreOptions) {
    this.#directory = options.directory;
    this.#diskId = options.diskId;
    this.#volumeBytesMax = options.volumeBytesMax ?? volumeBytesMaxDefault;
    this.#pendingBytesMax = options.pendingBytesMax ?? pendingBytesMaxDefault;
    this.#pendingCountMax = options.pendingCountMax ?? pendingCountMaxDefault;
    this.#compactionProbe = options.compactionProbe;
    assert(this.#volumeBytesMax > 0, "volumeBytesMax must be positive");
    assert(this.#pendingBytesMax > 0 && this.#pendingCountMax > 0, "pending bounds must be positive");
  }

  /**
   * Opens (creating if needed) the volume directory, scans every volume in
   * order to rebuild the index, and cuts a torn tail off the last volume.
   */
  static async open(options: VolumeStoreOptions): Promise<VolumeStore> {
    const store = new VolumeStore(options);
    await store.#load();
    return store;
  }

  /**
   * Appends a shard. Resolves once the record is durable and indexed, or to an
   * `Overloaded` fault when too much is already waiting or the filesystem ran
   * out of space during the write (nothing of the record is left behind; a
   * later append succeeds once space comes back), or an `Unreachable` fault
   * when the disk failed a sync or another write error.
   */
  async append(shardKey: string, payload: Uint8Array): Promise<Fault | undefined> {
    assert(payload.length <= shardBytesMax, `payload of ${payload.length} bytes exceeds ${shardBytesMax}`);
    const outcome = await this.#enqueue("live", shardKey, payload, null);
    return isFault(outcome) ? outcome : undefined;
  }

  /** Appends a tombstone. Resolves once durable to whether the key existed, or to a fault as `append` does. */
  async delete(shardKey: string): Promise<boolean | Fault> {
    const outcome = await this.#enqueue("tombstone", shardKey, emptyPayload, null);
    return isFault(outcome) ? outcome : outcome.existed;
  }

  /**
   * Reads a shard, or `lengthBytes` of it from `offsetBytes` (clamped to the
   * payload). The whole record is read and its header and payload CRC32C are
   * verified first: the result is verified bytes, `NotFound` or `Corrupt`.
   */
  read(shardKey: string, offsetBytes = 0, lengthBytes?: number): Promise<Uint8Array | Fault> {
    assert(this.#closing === null, "read after close");
    assert(offsetBytes >= 0 && (lengthBytes === undefined || lengthBytes >= 0), "negative range");
    const reading = this.#read(shardKey, offsetBytes, lengthBytes);
    this.#readsInFlight.add(reading);
    const forget = (): void => {
      this.#readsInFlight.delete(reading);
    };
    // Both handlers, so that this bookkeeping chain never turns a rejection into an unhandled one.
    void reading.then(forget, forget);
    return reading;
  }

  /** Waits until every write queued so far is durable (or failed). */
  async flush(): Promise<Fault | undefined> {
    while (this.#flushing !== null) await this.#flushing;
    return this.#failure ?? undefined;
  }

  /** Waits until no write is queued or being written, no read is in flight and no compaction step runs. */
  async idle(): Promise<void> {
    while (this.#flushing !== null || this.#readsInFlight.size > 0 || this.#compacting !== null) {
      if (this.#compacting !== null) await this.#compacting;
      await this.flush();
      await Promise.allSettled([...this.#readsInFlight]);
    }
  }

  /** True when the index holds `shardKey` (an acknowledged, not deleted, record). */
  has(shardKey: string): boolean {
    return this.#index.has(shardKey);
  }

  /** The keys in the index, in no particular order. */
  shardKeys(): string[] {
    return [...this.#index.keys()];
  }

  /** Usage figures; dead bytes per volume are what compaction will choose by. */
  stats(): VolumeStoreStats {
    const volumes: VolumeStats[] = [];
    let deadBytes = 0;
    for (const volume of this.#sortedVolumes()) {
      deadBytes += volume.deadBytes;
      volumes.push({
        volumeNumber: volume.volumeNumber,
        sizeBytes: volume.sizeBytes,
        deadBytes: volume.deadBytes,
        sealed: volume.sealed,
      });
    }
    return {
      shardCount: this.#index.size,
      liveBytes: this.#liveBytes,
      deadBytes,
      volumeCount: this.#volumes.size,
      syncCount: this.#syncCount,
      noSpaceCount: this.#noSpaceCount,
      unacknowledgedBytes: this.#unacknowledgedBytes,
      volumes,
    };
  }

  /** Batches refused since open because the filesystem ran out of space mid-write (cheaper than `stats`). */
  noSpaceCount(): number {
    return this.#noSpaceCount;
  }

  /** What the scan on open cut or skipped. */
  recoveryReport(): RecoveryReport {
    return this.#recovery;
  }

  /**
   * One bounded compaction step. Picks sealed volumes whose dead share is at
   * least `deadFractionMin`, lowest number first, and for each: copies the
   * records the index still points at, and the tombstones that still shadow a
   * record in an older volume, through the normal append path (group commit,
   * fresh CRC32C, fdatasync before the index switches to the copy); then,
   * once no index entry points into the volume and no read that started
   * before the switch is still running, unlinks its file and syncs the
   * directory. Stops after `bytesMax` bytes of source volumes were scanned.
   *
   * A crash at any point leaves either the old record, or the old and the
   * durable copy (the copy is in a higher-numbered volume, so it wins the scan
   * on open; both hold the same bytes), or only the copy. Resolves to an
   * `Overloaded` fault if a step is already running, an `Unreachable` fault if
   * the disk failed a write, sync or unlink.
   */
  compact(options: CompactionOptions): Promise<CompactionReport | Fault> {
    assert(this.#closing === null, "compact after close");
    assert(options.deadFractionMin > 0 && options.deadFractionMin <= 1, "deadFractionMin must be in (0, 1]");
    assert(options.bytesMax > 0, "bytesMax must be positive");
    if (this.#compacting !== null) {
      return Promise.resolve(fault("Overloaded", `disk ${this.#diskId}: a compaction step is already running`));
    }
    if (this.#failure !== null) return Promise.resolve(this.#failure);
    const step = this.#compact(options).finally(() => {
      this.#compacting = null;
    });
    this.#compacting = step;
    return step;
  }

  async #compact(options: CompactionOptions): Promise<CompactionReport | Fault> {
    let volumesCompacted = 0;
    let bytesReclaimed = 0;
    let bytesCopied = 0;
    let tombstonesCarried = 0;
    let copiesDropped = 0;
    let bytesScanned = 0;
    while (bytesScanned < options.bytesMax) {
      const volume = this.#compactionCandidate(options.deadFractionMin);
      if (volume === undefined) break;
      const cursor = this.#compactionCursor;
      const fromBytes = cursor !== null && cursor.volumeNumber === volume.volumeNumber ? cursor.offsetBytes : 0;
      const copied = await this.#copyCurrentRecords(volume, fromBytes, options.bytesMax - bytesScanned);
      if (isFault(copied)) return copied;
      bytesScanned += copied.bytesScanned;
      bytesCopied += copied.bytesCopied;
      tombstonesCarried += copied.tombstonesCarried;
      copiesDropped += copied.copiesDropped;
      if (copied.corrupt) {
        this.#compactionSkipped.set(volume.volumeNumber, volume.deadBytes);
        this.#compactionCursor = null;
        continue;
      }
      if (copied.endBytes < volume.sizeBytes) {
        this.#compactionCursor = { volumeNumber: volume.volumeNumber, offsetBytes: copied.endBytes };
        break;
      }
      this.#compactionCursor = null;
      const removed = await this.#removeVolume(volume);
      if (removed !== undefined) return removed;
      volumesCompacted += 1;
      bytesReclaimed += volume.sizeBytes;
    }
    return {
      volumesCompacted,
      bytesReclaimed,
      bytesCopied,
      tombstonesCarried,
      copiesDropped,
      bytesScanned,
      volumesSkipped: [...this.#compactionSkipped.keys()].filter((volumeNumber) => this.#volumes.has(volumeNumber)).length,
      more: this.#compactionCandidate(options.deadFractionMin) !== undefined,
    };
  }

  /** The volume to compact next: the one a previous step left unfinished, else the lowest-numbered one over the threshold. */
  #compactionCandidate(deadFractionMin: number): Volume | undefined {
    const cursor = this.#compactionCursor;
    if (cursor !== null) {
      const volume = this.#volumes.get(cursor.volumeNumber);
      if (volume !== undefined) return volume;
    }
    for (const volume of this.#sortedVolumes()) {
      if (!volume.sealed || this.#compactionSkipped.get(volume.volumeNumber) === volume.deadBytes) continue;
      // An empty sealed volume (nothing to copy) counts as all dead.
      const deadFraction = volume.sizeBytes === 0 ? 1 : volume.deadBytes / volume.sizeBytes;
      if (deadFraction >= deadFractionMin) return volume;
    }
    return undefined;
  }

  /**
   * Scans `volume` from `fromBytes` for about `budgetBytes` and copies what must survive it, in chunks of at
   * most `compactionChunkBytes` that are each durable and indexed before the next is read (memory stays
   * bounded). Returns where the scan stopped, or `corrupt` if a current record failed its CRC.
   */
  async #copyCurrentRecords(
    volume: Volume,
    fromBytes: number,
    budgetBytes: number,
  ): Promise<
    | {
        endBytes: number;
        bytesScanned: number;
        bytesCopied: number;
        tombstonesCarried: number;
        copiesDropped: number;
        corrupt: boolean;
      }
    | Fault
  > {
    const reader = new WindowReader(volume.handle, volume.sizeBytes);
    let offsetBytes = fromBytes;
    let bytesCopied = 0;
    let tombstonesCarried = 0;
    let copiesDropped = 0;
    let chunk: { readonly recordBytes: number; readonly tombstone: boolean; readonly written: Promise<WriteOutcome> }[] = [];
    let chunkBytes = 0;
    const settleChunk = async (): Promise<Fault | undefined> => {
      for (const copy of chunk) {
        const outcome = await copy.written;
        if (isFault(outcome)) return outcome;
        if (!outcome.written) {
          copiesDropped += 1;
          continue;
        }
        bytesCopied += copy.recordBytes;
        if (copy.tombstone) tombstonesCarried += 1;
      }
      if (chunk.length > 0) this.#compactionProbe?.({ point: "copiesDurable", volumeNumber: volume.volumeNumber });
      chunk = [];
      chunkBytes = 0;
      return undefined;
    };
    let corrupt = false;
    while (offsetBytes < volume.sizeBytes && offsetBytes - fromBytes < budgetBytes) {
      const decoded = await decodeHeaderAt(reader, offsetBytes);
      if (decoded.status !== "valid" || offsetBytes + decoded.header.recordBytes > volume.sizeBytes) {
        // A damaged span (counted dead when the volume was opened): nothing in it can be copied.
        offsetBytes = (await findNextRecord(reader, offsetBytes + recordAlignmentBytes)) ?? volume.sizeBytes;
        continue;
      }
      const { header, key } = decoded;
      const recordOffsetBytes = offsetBytes;
      offsetBytes += header.recordBytes;
      const current = this.#index.get(key);
      if (header.kind === "live") {
        if (current === undefined || current.volumeNumber !== volume.volumeNumber || current.offsetBytes !== recordOffsetBytes) {
          continue;
        }
        const record = decodeRecord(await reader.bytes(recordOffsetBytes, recordHeaderBytes + header.keyBytes + header.payloadBytes));
        if (record.status !== "valid") {
          corrupt = true;
          break;
        }
        this.#compactionProbe?.({ point: "copyQueued", volumeNumber: volume.volumeNumber, shardKey: key });
        chunk.push({
          recordBytes: header.recordBytes,
          tombstone: false,
          written: this.#enqueue("live", key, record.payload, current),
        });
      } else {
        // A tombstone matters only while an older volume still holds a record of its key and no newer
        // record of the key exists (the index would then point above this volume).
        if (current !== undefined || !this.#olderVolumeHoldsKey(volume.volumeNumber, key)) continue;
        this.#compactionProbe?.({ point: "copyQueued", volumeNumber: volume.volumeNumber, shardKey: key });
        chunk.push({ recordBytes: header.recordBytes, tombstone: true, written: this.#enqueue("tombstone", key, emptyPayload, "absent") });
      }
      chunkBytes += header.recordBytes;
      if (chunkBytes >= compactionChunkBytes) {
        const failed = await settleChunk();
        if (failed !== undefined) return failed;
      }
    }
    const failed = await settleChunk();
    if (failed !== undefined) return failed;
    return { endBytes: offsetBytes, bytesScanned: offsetBytes - fromBytes, bytesCopied, tombstonesCarried, copiesDropped, corrupt };
  }

  #olderVolumeHoldsKey(volumeNumber: number, key: string): boolean {
    for (const volume of this.#volumes.values()) {
      if (volume.volumeNumber < volumeNumber && volume.liveRecordKeys.has(key)) return true;
    }
    return false;
  }

  /**
   * Removes a volume whose every record is dead: forgets it (so no new read can reach it), waits for the
   * reads that started before, closes and unlinks the file, then syncs the directory. Volumes are removed one
   * at a time, so a crash in a multi-volume step leaves a prefix of them removed, each one whole.
   */
  async #removeVolume(volume: Volume): Promise<Fault | undefined> {
    // Every record the index pointed at was copied and the index switched, so all of the volume is dead.
    assert(volume.deadBytes === volume.sizeBytes, `volume ${volume.volumeNumber} still holds live records`);
    assert(volume.sealed && volume.volumeNumber !== this.#activeVolumeNumber, "only sealed volumes are compacted");
    this.#compactionProbe?.({ point: "volumeCopied", volumeNumber: volume.volumeNumber });
    this.#volumes.delete(volume.volumeNumber);
    await Promise.allSettled([...this.#readsInFlight]);
    try {
      await volume.handle.close();
      await unlink(volume.path);
      this.#compactionProbe?.({ point: "volumeUnlinked", volumeNumber: volume.volumeNumber });
      await syncDirectory(this.#directory);
    } catch (error) {
      // The file may still be there; the next open scans it (its records are older than their copies).
      this.#failure ??= fault("Unreachable", `disk ${this.#diskId}: removing ${volumeName(volume.volumeNumber)} failed: ${describe(error)}`);
      return this.#failure;
    }
    this.#compactionProbe?.({ point: "volumeRemoved", volumeNumber: volume.volumeNumber });
    return undefined;
  }

  /**
   * Waits for pending writes and reads, then closes every file. Idempotent.
   * No final sync is needed: every record was synced before it was acknowledged.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#compacting !== null) await this.#compacting;
    await this.flush();
    await Promise.allSettled([...this.#readsInFlight]);
    for (const volume of this.#volumes.values()) await volume.handle.close();
  }

  #enqueue(kind: RecordKind, key: string, payload: Uint8Array, copyOf: CopyOf | null): Promise<WriteOutcome> {
    assert(this.#closing === null || copyOf !== null, "write after close");
    const keyBytes = encodeKey(key).length;
    assert(keyBytes >= 1 && keyBytes <= shardKeyBytesMax, `shard key must be 1..${shardKeyBytesMax} UTF-8 bytes`);
    if (this.#failure !== null) return Promise.resolve(this.#failure);
    const encoded = encodeRecord(kind, key, payload);
    // An empty queue always admits one record, so a record larger than the byte bound can still be written.
    // Compaction copies are admitted regardless: compaction bounds its own chunks and waits for each.
    if (
      copyOf === null &&
      this.#unacknowledgedCount > 0 &&
      (this.#unacknowledgedCount + 1 > this.#pendingCountMax ||
        this.#unacknowledgedBytes + encoded.recordBytes > this.#pendingBytesMax)
    ) {
      return Promise.resolve(
        fault(
          "Overloaded",
          `disk ${this.#diskId}: ${this.#unacknowledgedCount} writes (${this.#unacknowledgedBytes} bytes) await sync`,
        ),
      );
    }
    this.#unacknowledgedCount += 1;
    this.#unacknowledgedBytes += encoded.recordBytes;
    return new Promise<WriteOutcome>((resolve) => {
      let settled = false;
      const settle = (outcome: WriteOutcome): void => {
        assert(!settled, "a write settled twice");
        settled = true;
        this.#unacknowledgedCount -= 1;
        this.#unacknowledgedBytes -= encoded.recordBytes;
        resolve(outcome);
      };
      this.#queue.push({ kind, key, encoded, copyOf, settle });
      if (this.#flushing === null) this.#flushing = this.#flushLoop();
    });
  }

  async #flushLoop(): Promise<void> {
    // Yield once so that writes issued in the same tick as the first one join its batch.
    await Promise.resolve();
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      await this.#commit(batch);
    }
    this.#flushing = null;
  }

  async #commit(queued: PendingWrite[]): Promise<void> {
    const { batch, dropped } = this.#withoutStaleCopies(queued);
    let settledCount = 0;
    // The volume being rolled or written while no sync has been attempted: an ENOSPC there leaves a known
    // state (bytes past `sizeBytes` that were never synced), which `#cutAfterNoSpace` can undo. Null during
    // the sync, where a failure leaves the file's state unknown.
    let writing: Volume | null = null;
    try {
      if (this.#failure !== null) throw new Error(this.#failure.detail);
      while (settledCount < batch.length) {
        let volume = this.#activeVolume();
        const first = batch[settledCount];
        assert(first !== undefined, "batch index out of range");
        writing = volume;
        if (volume.sizeBytes > 0 && volume.sizeBytes + first.encoded.recordBytes > this.#volumeBytesMax) {
          volume = await this.#roll();
          writing = volume;
        }
        // Take as many records as fit in this volume (at least one, so an oversized record gets an empty volume).
        let segmentEnd = settledCount;
        let segmentBytes = 0;
        while (segmentEnd < batch.length) {
          const write = batch[segmentEnd];
          assert(write !== undefined, "batch index out of range");
          if (segmentEnd > settledCount && volume.sizeBytes + segmentBytes + write.encoded.recordBytes > this.#volumeBytesMax) {
            break;
          }
          segmentBytes += write.encoded.recordBytes;
          segmentEnd += 1;
        }
        const segment = batch.slice(settledCount, segmentEnd);
        const chunks: Uint8Array[] = [];
        for (const write of segment) {
          // The scan on open lets later records win; a copy must land in a higher volume than its source so that,
          // if both survive a crash, the copy (same bytes) is the one indexed and the old file is all dead.
          assert(
            write.copyOf === null || write.copyOf === "absent" || write.copyOf.volumeNumber < volume.volumeNumber,
            "a compaction copy must land in a newer volume than its source",
          );
          chunks.push(write.encoded.head, write.encoded.payload, write.encoded.padding);
        }
        await writeAll(volume.handle, chunks, volume.sizeBytes);
        writing = null;
        if (this.#compactionProbe !== undefined && segment.some((write) => write.copyOf !== null)) {
          this.#compactionProbe({
            point: "copyWritten",
            volumeNumber: volume.volumeNumber,
            fromBytes: volume.sizeBytes,
            toBytes: volume.sizeBytes + segmentBytes,
          });
        }
        await volume.handle.datasync();
        this.#syncCount += 1;
        // Durable now: only at this point may the index (and so readers) learn about these records.
        for (const write of segment) {
          const head = write.encoded.head;
          const existed = this.#apply(volume, {
            volumeNumber: volume.volumeNumber,
            offsetBytes: volume.sizeBytes,
            recordBytes: write.encoded.recordBytes,
            keyBytes: head.length - recordHeaderBytes,
            payloadBytes: write.encoded.payload.length,
          }, write.kind, write.key);
          volume.sizeBytes += write.encoded.recordBytes;
          settledCount += 1;
          write.settle({ existed, written: true });
        }
      }
    } catch (error) {
      const full = writing !== null && isNoSpace(error) ? await this.#cutAfterNoSpace(writing, error) : null;
      const outcome = full ?? (this.#failure ??= fault("Unreachable", `disk ${this.#diskId}: write failed: ${describe(error)}`));
      for (const write of batch.slice(settledCount)) write.settle(outcome);
      // The write that made a copy stale may be one of those that failed: the source record is then still
      // current, so compaction must see the failure, not a dropped copy.
      for (const { write } of dropped) write.settle(outcome);
      return;
    }
    // Only now: a copy dropped for a write earlier in this batch leaves its source record current until that
    // write is applied. Settled sooner, compaction would go on to remove a volume the index still points into.
    for (const { write, existed } of dropped) write.settle({ existed, written: false });
  }

  /**
   * After the filesystem ran out of space in the middle of a batch's write (before its sync): cuts the volume
   * back to its acknowledged end and syncs the cut, then answers `Overloaded` ("disk full") for the batch. The
   * cut matters: `writev` may have written whole records of the batch before failing, and the scan on open
   * would index those records (they verify) although their writers were told they failed; a half record left
   * there would also sit in the middle of the volume once later records are appended after it. Truncating
   * needs no free space. The store stays usable: a later batch is written once space comes back. Returns null
   * (and the caller fails the store) if the cut itself fails.
   */
  async #cutAfterNoSpace(volume: Volume, error: unknown): Promise<Fault | null> {
    try {
      await volume.handle.truncate(volume.sizeBytes);
      await volume.handle.datasync();
    } catch {
      return null;
    }
    this.#noSpaceCount += 1;
    return fault("Overloaded", `disk ${this.#diskId}: disk full: ${describe(error)}`);
  }

  async #roll(): Promise<Volume> {
    const current = this.#activeVolume();
    const volumeNumber = current.volumeNumber + 1;
    const path = join(this.#directory, volumeName(volumeNumber));
    const handle = await open(path, "wx+");
    // The new file's directory entry must be durable before records in it are acknowledged.
    await syncDirectory(this.#directory);
    const volume: Volume = { volumeNumber, path, handle, sizeBytes: 0, deadBytes: 0, sealed: false, liveRecordKeys: new Set() };
    this.#volumes.set(volumeNumber, volume);
    this.#activeVolumeNumber = volumeNumber;
    // Sealed only once it stops being the active volume: compaction picks sealed volumes, and one picked while
    // this roll awaits its file would be removed while still active. Everything written to `current` was synced
    // before its promises settled, so sealing needs no sync.
    current.sealed = true;
    return volume;
  }

  /**
   * Separates the compaction copies of `queued` that would land after a newer write of their key: the index
   * no longer holds the copied entry (or, for a carried tombstone, holds the key again), or a write earlier in
   * this batch touches the key. Without this, a copy written after a client's overwrite or delete would win
   * at the next scan (later records win) and bring old bytes back. Runs before the batch is written, and
   * batches are written one at a time, so the index seen here is the one the batch is applied to. The dropped
   * copies are settled by the caller once the batch is applied (see `#commit`), never here.
   */
  #withoutStaleCopies(queued: PendingWrite[]): {
    batch: PendingWrite[];
    dropped: { readonly write: PendingWrite; readonly existed: boolean }[];
  } {
    if (!queued.some((write) => write.copyOf !== null)) return { batch: queued, dropped: [] };
    const keysInBatch = new Set<string>();
    const batch: PendingWrite[] = [];
    const dropped: { readonly write: PendingWrite; readonly existed: boolean }[] = [];
    for (const write of queued) {
      if (write.copyOf !== null) {
        const current = this.#index.get(write.key);
        const stillCurrent = write.copyOf === "absent" ? current === undefined : current === write.copyOf;
        if (!stillCurrent || keysInBatch.has(write.key)) {
          dropped.push({ write, existed: current !== undefined });
          continue;
        }
      }
      keysInBatch.add(write.key);
      batch.push(write);
    }
    return { batch, dropped };
  }

  /** Applies one durable record to the index; returns whether the key was present before. */
  #apply(volume: Volume, entry: IndexEntry, kind: RecordKind, key: string): boolean {
    const previous = this.#index.get(key);
    if (previous !== undefined) {
      this.#volume(previous.volumeNumber).deadBytes += previous.recordBytes;
      this.#liveBytes -= previous.recordBytes;
    }
    if (kind === "live") {
      this.#index.set(key, entry);
      this.#liveBytes += entry.recordBytes;
      volume.liveRecordKeys.add(key);
    } else {
      this.#index.delete(key);
      // A tombstone is dead weight from the start: it only shadows older records until compaction.
      volume.deadBytes += entry.recordBytes;
    }
    return previous !== undefined;
  }

  async #read(shardKey: string, offsetBytes: number, lengthBytes: number | undefined): Promise<Uint8Array | Fault> {
    const entry = this.#index.get(shardKey);
    if (entry === undefined) return fault("NotFound", `disk ${this.#diskId}: no shard ${shardKey}`);
    const volume = this.#volume(entry.volumeNumber);
    const buffer = Buffer.allocUnsafe(recordHeaderBytes + entry.keyBytes + entry.payloadBytes);
    let bytesRead: number;
    try {
      bytesRead = await readFully(volume.handle, buffer, entry.offsetBytes);
    } catch (error) {
      return fault("Unreachable", `disk ${this.#diskId}: read of ${shardKey} failed: ${describe(error)}`);
    }
    const where = `disk ${this.#diskId} ${volumeName(entry.volumeNumber)} offset ${entry.offsetBytes}`;
    if (bytesRead < buffer.length) return fault("Corrupt", `${where}: record of ${shardKey} is cut short`);
    const decoded = decodeRecord(buffer);
    if (decoded.status === "payloadCorrupt") return fault("Corrupt", `${where}: payload CRC32C mismatch for ${shardKey}`);
    if (decoded.status !== "valid") return fault("Corrupt", `${where}: header of ${shardKey} does not verify`);
    if (decoded.key !== shardKey || decoded.header.kind !== "live" || decoded.header.payloadBytes !== entry.payloadBytes) {
      return fault("Corrupt", `${where}: record there is not the indexed ${shardKey}`);
    }
    const payload = decoded.payload;
    const start = Math.min(offsetBytes, payload.length);
    const end = lengthBytes === undefined ? payload.length : Math.min(payload.length, start + lengthBytes);
    return payload.subarray(start, end);
  }

  async #load(): Promise<void> {
    await mkdir(this.#directory, { recursive: true });
    const volumeNumbers: number[] = [];
    for (const name of await readdir(this.#directory)) {
      const match = volumeNamePattern.exec(name);
      if (match?.[1] !== undefined) volumeNumbers.push(Number(match[1]));
    }
    volumeNumbers.sort((left, right) => left - right);
    if (volumeNumbers.length === 0) {
      const path = join(this.#directory, volumeName(1));
      const handle = await open(path, "wx+");
      await syncDirectory(this.#directory);
      this.#volumes.set(1, { volumeNumber: 1, path, handle, sizeBytes: 0, deadBytes: 0, sealed: false, liveRecordKeys: new Set() });
      this.#activeVolumeNumber = 1;
      return;
    }
    const lastNumber = volumeNumbers[volumeNumbers.length - 1];
    assert(lastNumber !== undefined, "no last volume");
    let tornBytesCut = 0;
    let damagedSpans = 0;
    let damagedBytes = 0;
    for (const volumeNumber of volumeNumbers) {
      const isLast = volumeNumber === lastNumber;
      const path = join(this.#directory, volumeName(volumeNumber));
      const handle = await open(path, isLast ? "r+" : "r");
      const fileBytes = (await handle.stat()).size;
      const volume: Volume = {
        volumeNumber,
        path,
        handle,
        sizeBytes: fileBytes,
        deadBytes: 0,
        sealed: !isLast,
        liveRecordKeys: new Set(),
      };
      this.#volumes.set(volumeNumber, volume);
      const scan = await scanVolume(handle, fileBytes);
      const items = scan.items;
      let endBytes = fileBytes;
      if (isLast) {
        // Anything after the last record that fully verifies was never acknowledged (an acknowledged record
        // was synced whole), so trailing damage and trailing payload-CRC failures are a torn tail, not rot.
        let cutBytes = scan.tornAtBytes ?? fileBytes;
        while (items.length > 0) {
          const item = items[items.length - 1];
          assert(item !== undefined, "scan item out of range");
          if (item.type === "record" && (await payloadVerifies(handle, item.offsetBytes, item.header))) break;
          cutBytes = item.offsetBytes;
          items.pop();
        }
        if (cutBytes < fileBytes) {
          await handle.truncate(cutBytes);
          await handle.sync();
          tornBytesCut += fileBytes - cutBytes;
          endBytes = cutBytes;
        }
      } else if (scan.tornAtBytes !== null) {
        // Sealed volumes are never modified; an unreadable end is skipped and counted as dead.
        items.push({ type: "damage", offsetBytes: scan.tornAtBytes, lengthBytes: fileBytes - scan.tornAtBytes });
      }
      volume.sizeBytes = endBytes;
      for (const item of items) {
        if (item.type === "damage") {
          volume.deadBytes += item.lengthBytes;
          damagedSpans += 1;
          damagedBytes += item.lengthBytes;
          continue;
        }
        this.#apply(volume, {
          volumeNumber,
          offsetBytes: item.offsetBytes,
          recordBytes: item.header.recordBytes,
          keyBytes: item.header.keyBytes,
          payloadBytes: item.header.payloadBytes,
        }, item.header.kind, item.key);
      }
    }
    this.#activeVolumeNumber = lastNumber;
    this.#recovery = { tornBytesCut, damagedSpans, damagedBytes };
  }

  #activeVolume(): Volume {
    return this.#volume(this.#activeVolumeNumber);
  }

  #volume(volumeNumber: number): Volume {
    const volume = this.#volumes.get(volumeNumber);
    assert(volume !== undefined, `volume ${volumeNumber} is not open`);
    return volume;
  }

  #sortedVolumes(): Volume[] {
    return [...this.#volumes.values()].sort((left, right) => left.volumeNumber - right.volumeNumber);
  }
}

/** The file name of volume `volumeNumber`, e.g. `data.000001`. */
export function volumeName(volumeNumber: number): string {
  return `data.${String(volumeNumber).padStart(6, "0")}`;
}

/**
 * Walks a volume record by record using only headers. Returns the records and
 * damaged spans found, and where an unreadable tail starts (null if none).
 */
async function scanVolume(
  handle: FileHandle,
  fileBytes: number,
): Promise<{ items: ScanItem[]; tornAtBytes: number | null }> {
  const reader = new WindowReader(handle, fileBytes);
  const items: ScanItem[] = [];
  let offsetBytes = 0;
  while (offsetBytes < fileBytes) {
    const decoded = await decodeHeaderAt(reader, offsetBytes);
    if (decoded.status === "valid") {
      // The length is covered by the header CRC, so a record running past the end is a torn write.
      if (offsetBytes + decoded.header.recordBytes > fileBytes) return { items, tornAtBytes: offsetBytes };
      items.push({ type: "record", offsetBytes, header: decoded.header, key: decoded.key });
      offsetBytes += decoded.header.recordBytes;
      continue;
    }
    // The header cannot be trusted, so neither can its length. If a verified record follows, this is
    // damage in the middle of the volume; cutting there would throw away acknowledged records.
    const nextBytes = await findNextRecord(reader, offsetBytes + recordAlignmentBytes);
    if (nextBytes === null) return { items, tornAtBytes: offsetBytes };
    items.push({ type: "damage", offsetBytes, lengthBytes: nextBytes - offsetBytes });
    offsetBytes = nextBytes;
  }
  return { items, tornAtBytes: null };
}

async function decodeHeaderAt(reader: WindowReader, offsetBytes: number): Promise<HeaderDecode> {
  const restBytes = reader.fileBytes - offsetBytes;
  let decoded = decodeHeader(await reader.bytes(offsetBytes, Math.min(recordHeaderBytes, restBytes)));
  if (decoded.status === "short" && decoded.bytesNeeded <= restBytes) {
    decoded = decodeHeader(await reader.bytes(offsetBytes, decoded.bytesNeeded));
  }
  return decoded;
}

/** The offset of the next record at or after `fromBytes` whose header verifies and that fits in the file. */
async function findNextRecord(reader: WindowReader, fromBytes: number): Promise<number | null> {
  let chunkStart = Math.ceil(fromBytes / recordAlignmentBytes) * recordAlignmentBytes;
  while (chunkStart + recordHeaderBytes <= reader.fileBytes) {
    const chunkBytes = Math.min(scanWindowBytes, reader.fileBytes - chunkStart);
    const chunk = await reader.bytes(chunkStart, chunkBytes);
    for (let position = 0; position + 4 <= chunk.length; position += recordAlignmentBytes) {
      if (!hasMagicAt(chunk, position)) continue;
      const candidate = chunkStart + position;
      const decoded = await decodeHeaderAt(reader, candidate);
      if (decoded.status === "valid" && candidate + decoded.header.recordBytes <= reader.fileBytes) return candidate;
    }
    chunkStart += chunkBytes;
  }
  return null;
}

async function payloadVerifies(handle: FileHandle, offsetBytes: number, header: RecordHeader): Promise<boolean> {
  const buffer = Buffer.allocUnsafe(recordHeaderBytes + header.keyBytes + header.payloadBytes);
  const bytesRead = await readFully(handle, buffer, offsetBytes);
  return bytesRead === buffer.length && decodeRecord(buffer).status === "valid";
}

/** Reads a file through a window so that many small reads cost few system calls. */
class WindowReader {
  readonly #handle: FileHandle;
  readonly fileBytes: number;
  #window: Buffer = Buffer.alloc(0);
  #windowStart = 0;

  constructor(handle: FileHandle, fileBytes: number) {
    this.#handle = handle;
    this.fileBytes = fileBytes;
  }

  async bytes(offsetBytes: number, lengthBytes: number): Promise<Uint8Array> {
    assert(offsetBytes >= 0 && offsetBytes + lengthBytes <= this.fileBytes, "read outside the file");
    const windowEnd = this.#windowStart + this.#window.length;
    if (offsetBytes >= this.#windowStart && offsetBytes + lengthBytes <= windowEnd) {
      return this.#window.subarray(offsetBytes - this.#windowStart, offsetBytes - this.#windowStart + lengthBytes);
    }
    const size = Math.min(Math.max(lengthBytes, scanWindowBytes), this.fileBytes - offsetBytes);
    const window = Buffer.allocUnsafe(size);
    const bytesRead = await readFully(this.#handle, window, offsetBytes);
    // The size came from stat at open and nothing else writes the file, so a short read is a bug.
    assert(bytesRead === size, `short read at ${offsetBytes}: ${bytesRead} of ${size}`);
    this.#window = window;
    this.#windowStart = offsetBytes;
    return window.subarray(0, lengthBytes);
  }
}

async function readFully(handle: FileHandle, buffer: Uint8Array, positionBytes: number): Promise<number> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await handle.read(buffer, done, buffer.length - done, positionBytes + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

async function writeAll(handle: FileHandle, chunks: readonly Uint8Array[], positionBytes: number): Promise<void> {
  const pending = chunks.filter((chunk) => chunk.length > 0);
  let next = 0;
  let position = positionBytes;
  while (next < pending.length) {
    const slice = pending.slice(next, next + writevBuffersMax);
    const { bytesWritten } = await handle.writev(slice, position);
    if (bytesWritten <= 0) throw new Error(`writev at ${position} wrote nothing`);
    position += bytesWritten;
    // A short write leaves part of a chunk: continue from the first byte not written.
    let rest = bytesWritten;
    while (rest > 0) {
      const chunk = pending[next];
      assert(chunk !== undefined, "writev reported more bytes than it was given");
      if (chunk.length <= rest) {
        rest -= chunk.length;
        next += 1;
      } else {
        pending[next] = chunk.subarray(rest);
        rest = 0;
      }
    }
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** True for the errors a full filesystem (or an exhausted quota) gives a write or a file creation. */
function isNoSpace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
