/**
 * The Compactor: asks a disk to compact its sealed volumes whose dead space
 * passes a threshold (actors/disk/volume: crash-safe, copies first, unlink
 * last), a bounded step at a time, paced like the Scrubber, so space freed by
 * deletes and overwrites comes back without the disk leaving its clients.
 */
import type { CompactDiskReply, DiskMessage, StatDiskReply } from "../../actors/disk/protocol.ts";
import { assert, isFault, type Fault, type Host } from "../../runtime/index.ts";
import type { PlacementView } from "../object-service.ts";
import { HealFault } from "./healer.ts";

export interface CompactorOptions {
  readonly host: Host;
  readonly view: () => PlacementView;
  /** A sealed volume is compacted once this fraction of it is dead (default 0.5). */
  readonly deadFractionMin?: number;
  /** Bytes one step may scan (default 64 MiB). */
  readonly stepBytesMax?: number;
  /** Steps per disk per call (default 16): the rest waits for the next call. */
  readonly stepsPerCallMax?: number;
  /** Bytes copied per second at most (default 32 MiB/s). */
  readonly bytesPerSecondMax?: number;
  readonly askTimeoutMs?: number;
}

export interface CompactionTotals {
  readonly volumesCompacted: number;
  readonly bytesReclaimed: number;
  readonly bytesCopied: number;
  /** True when the disk still has volumes past the threshold. */
  readonly more: boolean;
}

export class Compactor {
  readonly #host: Host;
  readonly #view: () => PlacementView;
  readonly #deadFractionMin: number;
  readonly #stepBytesMax: number;
  readonly #stepsPerCallMax: number;
  readonly #bytesPerSecondMax: number;
  readonly #askTimeoutMs: number;

  constructor(options: CompactorOptions) {
    this.#host = options.host;
    this.#view = options.view;
    this.#deadFractionMin = options.deadFractionMin ?? 0.5;
    this.#stepBytesMax = options.stepBytesMax ?? 64 * 1024 * 1024;
    this.#stepsPerCallMax = options.stepsPerCallMax ?? 16;
    this.#bytesPerSecondMax = options.bytesPerSecondMax ?? 32 * 1024 * 1024;
    this.#askTimeoutMs = options.askTimeoutMs ?? 120_000;
    assert(this.#deadFractionMin > 0 && this.#deadFractionMin <= 1 && this.#bytesPerSecondMax > 0, "compaction bounds");
  }

  /**
   * Compacts `diskId`'s sealed volumes at least `deadFractionMin` dead (the
   * Compactor's own threshold when absent), a bounded number of steps.
   */
  async compactDisk(diskId: string, deadFractionMin = this.#deadFractionMin): Promise<CompactionTotals> {
    assert(deadFractionMin > 0 && deadFractionMin <= 1, `compactDisk: deadFractionMin must be in (0, 1], got ${deadFractionMin}`);
    let volumesCompacted = 0;
    let bytesReclaimed = 0;
    let bytesCopied = 0;
    let more = true;
    for (let step = 0; step < this.#stepsPerCallMax && more; step += 1) {
      const view = this.#view();
      const disk = view.diskRef(diskId);
      if (disk === undefined) throw new HealFault({ fault: "Unreachable", detail: `disk ${diskId} is not reachable now` });
      const reply = await this.#host.ask<DiskMessage, CompactDiskReply | Fault>(
        disk,
        (replyTo) => ({ kind: "CompactDisk", epoch: view.epoch, deadFractionMin, bytesMax: this.#stepBytesMax, replyTo }),
        this.#askTimeoutMs,
      );
      if (isFault(reply)) throw new HealFault(reply);
      volumesCompacted += reply.volumesCompacted;
      bytesReclaimed += reply.bytesReclaimed;
      bytesCopied += reply.bytesCopied;
      more = reply.more;
      const delayMs = (reply.bytesCopied / this.#bytesPerSecondMax) * 1000;
      if (delayMs >= 1) await this.#host.clock.sleep(Math.round(delayMs));
    }
    return { volumesCompacted, bytesReclaimed, bytesCopied, more };
  }

  /**
   * Whether the disk is short of space: it refuses shard writes now, or its
   * free space is under twice its reserve. Undefined when it cannot say (not
   * reachable, or it does not measure its filesystem).
   */
  async spaceShort(diskId: string): Promise<boolean | undefined> {
    const disk = this.#view().diskRef(diskId);
    if (disk === undefined) return undefined;
    const reply = await this.#host.ask<DiskMessage, StatDiskReply | Fault>(disk, (replyTo) => ({ kind: "StatDisk", replyTo }), this.#askTimeoutMs);
    if (isFault(reply) || reply.freeBytes === undefined || reply.reserveBytes === undefined) return undefined;
    return reply.full === true || reply.freeBytes < 2 * reply.reserveBytes;
  }
}
