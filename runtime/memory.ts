/**
 * A nudge for the garbage collector on byte-heavy paths.
 *
 * Streaming a large object allocates one buffer per shard read and drops it
 * a moment later. JavaScriptCore collects such buffers lazily, so without a
 * nudge the heap holds a few hundred MiB of dead buffers at the peak of a
 * long GET. `noteBytesReleased` counts bytes handed off and asks for a
 * collection (non-blocking, eden where possible) every `intervalBytes` (32 MiB by default).
 */
const defaultIntervalBytes = 32 * 1024 * 1024;

export interface MemoryNudge {
  /** Counts `byteCount` bytes that are no longer needed by their producer. */
  noteBytesReleased(byteCount: number): void;
}

/** A nudge that asks for a collection every `intervalBytes` (32 MiB by default).released bytes. */
export function memoryNudge(intervalBytes = defaultIntervalBytes): MemoryNudge {
  let sinceCollection = 0;
  return {
    noteBytesReleased(byteCount: number): void {
      sinceCollection += byteCount;
      if (sinceCollection < intervalBytes) return;
      sinceCollection = 0;
      if (typeof Bun !== "undefined") Bun.gc(false);
    },
  };
}
