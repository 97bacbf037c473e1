/**
 * The partition actor's cache of hot records: key → the key's current state
 * (its live version's record, its delete marker, or "absent"), least
 * recently used first out, bounded in entries and in bytes.
 *
 * It holds only what the owner itself read or committed; see the folder's
 * README for why that makes it coherent.
 */
import { assert } from "../../runtime/index.ts";
import { encodeObjectRecord, type DeleteMarkerRecord, type ObjectRecord } from "../../cluster/metadata/index.ts";

/** A key's current state as the owner last committed or read it. */
export type CachedState =
  | { readonly kind: "object"; readonly record: ObjectRecord }
  | { readonly kind: "deleteMarker"; readonly marker: DeleteMarkerRecord }
  | { readonly kind: "absent" };

/** Bytes charged per entry on top of its record: the map entry, the key string and the state object. */
const entryOverheadBytes = 128;

export interface RecordCacheLimits {
  readonly entriesMax: number;
  readonly bytesMax: number;
}

export class RecordCache {
  readonly #limits: RecordCacheLimits;
  /** Insertion order is recency order: the first entry is the least recently used. */
  readonly #entries = new Map<string, { readonly state: CachedState; readonly bytes: number }>();
  #bytes = 0;

  constructor(limits: RecordCacheLimits) {
    assert(Number.isInteger(limits.entriesMax) && limits.entriesMax >= 0, "cache entry bound is a count");
    assert(Number.isInteger(limits.bytesMax) && limits.bytesMax >= 0, "cache byte bound is a count");
    this.#limits = limits;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The cached state of `key` (and marks it most recently used), or undefined. */
  get(key: string): CachedState | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.state;
  }

  /** Caches `state` for `key`, evicting the least recently used until both bounds hold. */
  set(key: string, state: CachedState): void {
    this.delete(key);
    const bytes = entryOverheadBytes + 2 * key.length + (state.kind === "object" ? encodeObjectRecord(state.record).byteLength : 0);
    // An entry larger than the whole budget is not cached: it would evict everything and then itself.
    if (bytes > this.#limits.bytesMax || this.#limits.entriesMax === 0) return;
    this.#entries.set(key, { state, bytes });
    this.#bytes += bytes;
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size <= this.#limits.entriesMax && this.#bytes <= this.#limits.bytesMax) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
    assert(this.#entries.size <= this.#limits.entriesMax && this.#bytes <= this.#limits.bytesMax, "cache within its bounds");
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  /** Empties the cache; returns how many entries it held. */
  clear(): number {
    const dropped = this.#entries.size;
    this.#entries.clear();
    this.#bytes = 0;
    return dropped;
  }
}
