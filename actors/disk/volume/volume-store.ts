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
import { mkdir, open, readdir } from "node:fs/promises";
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

export interface VolumeStoreOptions {
  readonly directory: string;
  readonly diskId: string;
  /** A volume is sealed before a record would take it past this size (a single larger record gets a volume of its own). */
  readonly volumeBytesMax?: number;
  /** Bound on unacknowledged bytes; beyond it writes get an `Overloaded` fault. */
  readonly pendingBytesMax?: number;
  /** Bound on unacknowledged records; beyond it writes get an `Overloaded` fault. */
  readonly pendingCountMax?: number;
}

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
}

interface IndexEntry {
  readonly volumeNumber: number;
  readonly offsetBytes: number;
  readonly recordBytes: number;
  readonly keyBytes: number;
  readonly payloadBytes: number;
}

type WriteOutcome = { readonly existed: boolean } | Fault;

interface PendingWrite {
  readonly kind: RecordKind;
  readonly key: string;
  readonly encoded: EncodedRecord;
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

  private constructor(options: VolumeStoreOptions) {
    this.#directory = options.directory;
    this.#diskId = options.diskId;
    this.#volumeBytesMax = options.volumeBytesMax ?? volumeBytesMaxDefault;
    this.#pendingBytesMax = options.pendingBytesMax ?? pendingBytesMaxDefault;
    this.#pendingCountMax = options.pendingCountMax ?? pendingCountMaxDefault;
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
   * `Overloaded` fault when too much is already waiting, or an `Unreachable`
   * fault when the disk failed a write or sync.
   */
  async append(shardKey: string, payload: Uint8Array): Promise<Fault | undefined> {
    assert(payload.length <= shardBytesMax, `payload of ${payload.length} bytes exceeds ${shardBytesMax}`);
    const outcome = await this.#enqueue("live", shardKey, payload);
    return isFault(outcome) ? outcome : undefined;
  }

  /** Appends a tombstone. Resolves once durable to whether the key existed, or to a fault as `append` does. */
  async delete(shardKey: string): Promise<boolean | Fault> {
    const outcome = await this.#enqueue("tombstone", shardKey, emptyPayload);
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

  /** Waits until no write is queued or being written and no read is in flight. */
  async idle(): Promise<void> {
    while (this.#flushing !== null || this.#readsInFlight.size > 0) {
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
      volumes,
    };
  }

  /** What the scan on open cut or skipped. */
  recoveryReport(): RecoveryReport {
    return this.#recovery;
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
    await this.flush();
    await Promise.allSettled([...this.#readsInFlight]);
    for (const volume of this.#volumes.values()) await volume.handle.close();
  }

  #enqueue(kind: RecordKind, key: string, payload: Uint8Array): Promise<WriteOutcome> {
    assert(this.#closing === null, "write after close");
    const keyBytes = encodeKey(key).length;
    assert(keyBytes >= 1 && keyBytes <= shardKeyBytesMax, `shard key must be 1..${shardKeyBytesMax} UTF-8 bytes`);
    if (this.#failure !== null) return Promise.resolve(this.#failure);
    const encoded = encodeRecord(kind, key, payload);
    // An empty queue always admits one record, so a record larger than the byte bound can still be written.
    if (
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
      this.#queue.push({ kind, key, encoded, settle });
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

  async #commit(batch: PendingWrite[]): Promise<void> {
    let settledCount = 0;
    try {
      if (this.#failure !== null) throw new Error(this.#failure.detail);
      while (settledCount < batch.length) {
        let volume = this.#activeVolume();
        const first = batch[settledCount];
        assert(first !== undefined, "batch index out of range");
        if (volume.sizeBytes > 0 && volume.sizeBytes + first.encoded.recordBytes > this.#volumeBytesMax) {
          volume = await this.#roll();
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
        for (const write of segment) chunks.push(write.encoded.head, write.encoded.payload, write.encoded.padding);
        await writeAll(volume.handle, chunks, volume.sizeBytes);
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
          write.settle({ existed });
        }
      }
    } catch (error) {
      this.#failure ??= fault("Unreachable", `disk ${this.#diskId}: write failed: ${describe(error)}`);
      for (const write of batch.slice(settledCount)) write.settle(this.#failure);
    }
  }

  async #roll(): Promise<Volume> {
    const current = this.#activeVolume();
    // Everything written to `current` was synced before its promises settled, so sealing needs no sync.
    current.sealed = true;
    const volumeNumber = current.volumeNumber + 1;
    const path = join(this.#directory, volumeName(volumeNumber));
    const handle = await open(path, "wx+");
    // The new file's directory entry must be durable before records in it are acknowledged.
    await syncDirectory(this.#directory);
    const volume: Volume = { volumeNumber, path, handle, sizeBytes: 0, deadBytes: 0, sealed: false };
    this.#volumes.set(volumeNumber, volume);
    this.#activeVolumeNumber = volumeNumber;
    return volume;
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
      this.#volumes.set(1, { volumeNumber: 1, path, handle, sizeBytes: 0, deadBytes: 0, sealed: false });
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
      const volume: Volume = { volumeNumber, path, handle, sizeBytes: fileBytes, deadBytes: 0, sealed: !isLast };
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
