/**
 * When repair runs on a node: every `healIntervalMs`, each placement group
 * hosted here is swept when its acting set is not the one last swept (a new
 * node start, or a map change that moved a member), or once per
 * `scrubIntervalMs` anyway (missing shards no read has met yet), and then healed; each
 * local disk is scrubbed once per `scrubIntervalMs`, and compacted once per
 * `compactIntervalMs` (volumes at least half dead) or, when it is short of
 * space (it refuses writes, or has under twice its reserve free), at every
 * run, from volumes `pressureDeadFractionMin` dead: a full disk refuses heals
 * too, so waiting for the interval would leave the fleet degraded.
 *
 * Backfill: the PG records the acting set it last had every shard on. While
 * the current set differs, shards missing at a changed position are copied
 * from the position's former disk (rebuilt from the others when it lacks
 * them); once nothing is left to heal, the former disks' shards of those
 * positions are deleted and the current set is recorded as complete. A plain loop on the
 * host's clock, like the Janitor: everything it works from is in the
 * metadata store and the actors, and every step is idempotent.
 *
 * Each local disk is also swept for orphaned shards (orphan-sweeper.ts) once
 * per `orphanSweepIntervalMs`: copies no PG will read again, deleted by the
 * second sweep that finds them.
 */
import { sleepUnlessAborted, type Host } from "../../runtime/index.ts";
import { HealFault, type HealReport, type Healer } from "./healer.ts";
import type { CompactionTotals, Compactor } from "./compactor.ts";
import type { ScrubReport, Scrubber } from "./scrubber.ts";
import type { OrphanSweepReport, OrphanSweeper } from "./orphan-sweeper.ts";

export interface RepairScheduleOptions {
  readonly host: Host;
  readonly healer: Healer;
  readonly scrubber: Scrubber;
  /** The PGs whose actors run on this node now. */
  readonly placementGroups: () => readonly number[];
  /** The disks of this node. */
  readonly localDisks: () => readonly string[];
  readonly healIntervalMs: number;
  readonly scrubIntervalMs: number;
  /** Compacts local disks' sealed volumes past their dead-space threshold every `compactIntervalMs` (absent: never). */
  readonly compactor?: Compactor;
  readonly compactIntervalMs?: number;
  /** Sweeps each local disk for orphaned shards every `orphanSweepIntervalMs` (absent: never); the first run only schedules. */
  readonly orphanSweeper?: OrphanSweeper;
  readonly orphanSweepIntervalMs?: number;
  readonly log?: (entry: Record<string, unknown>) => void;
}

export interface RepairRunReport {
  readonly swept: number;
  readonly recorded: number;
  readonly heal: HealReport;
  /** Shards deleted from disks that left a position (backfill's last step). */
  readonly retired: number;
  readonly scrubbed: readonly (ScrubReport & { readonly diskId: string })[];
  readonly compacted: readonly (CompactionTotals & { readonly diskId: string })[];
  /** Orphan sweeps that ran this run, one per disk. */
  readonly orphans: readonly (OrphanSweepReport & { readonly diskId: string })[];
  /** PGs or disks that could not be reached this run. */
  readonly skipped: number;
}

/** Defaults: heal often (lost redundancy is what loses data), scrub each disk daily. */
export const healIntervalMsDefault = 10_000;
export const scrubIntervalMsDefault = 24 * 3_600_000;
/** The dead fraction from which a sealed volume is compacted while its disk is short of space (`Compactor.spaceShort`). */
export const pressureDeadFractionMin = 0.05;

/** How often each disk is checked for volumes worth compacting. */
export const compactIntervalMsDefault = 10 * 60_000;

/** How often each disk is swept for orphaned shards; one is deleted by the second sweep that finds it. */
export const orphanSweepIntervalMsDefault = 3_600_000;

export class RepairSchedule {
  readonly #options: RepairScheduleOptions;
  readonly #sweptActingSets = new Map<number, string>();
  /** When each PG was last swept (for the sweep once per scrub interval even without a change). */
  readonly #lastSweepMs = new Map<number, number>();
  readonly #lastScrubMs = new Map<string, number>();
  readonly #lastCompactionMs = new Map<string, number>();
  readonly #lastOrphanSweepMs = new Map<string, number>();
  readonly #stopping = new AbortController();
  #loop: Promise<void> | undefined;
  #running: Promise<RepairRunReport> | undefined;
  #runCount = 0;

  constructor(options: RepairScheduleOptions) {
    this.#options = options;
  }

  get runCount(): number {
    return this.#runCount;
  }

  start(): void {
    if (this.#loop !== undefined) return;
    const { host, healIntervalMs } = this.#options;
    this.#loop = (async () => {
      while (!this.#stopping.signal.aborted) {
        try {
          await this.runOnce();
        } catch (error) {
          this.#options.log?.({ level: "error", message: "repair run failed", error: String(error) });
        }
        await sleepUnlessAborted(host.clock, healIntervalMs, this.#stopping.signal);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#loop;
    await this.#running?.catch(() => undefined);
  }

  /** One run now (or the run already under way). */
  runOnce(): Promise<RepairRunReport> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<RepairRunReport> {
    const { healer, scrubber, host } = this.#options;
    let swept = 0;
    let recorded = 0;
    let skipped = 0;
    let retired = 0;
    const heal = { healed: 0, bytesWritten: 0, moot: 0, deferred: 0, unhealable: 0 };
    for (const placementGroupId of this.#options.placementGroups()) {
      try {
        const acting = await healer.actingSet(placementGroupId);
        const complete = await healer.completeActingSet(placementGroupId);
        // Backfill: the acting set changed since the PG last had every shard.
        const former = complete !== null && complete.join(",") !== acting.join(",") ? complete : undefined;
        // A changed acting set is swept at once; an unchanged one once per scrub interval, since a scrub
        // reads what a disk holds and cannot see a shard that is not there (a volume file lost, a
        // delete that should not have happened): this finds those without waiting for a read.
        const lastSweepMs = this.#lastSweepMs.get(placementGroupId);
        const sweepDue = lastSweepMs !== undefined && host.clock.nowMs() - lastSweepMs >= this.#options.scrubIntervalMs;
        if (this.#sweptActingSets.get(placementGroupId) !== acting.join(",") || sweepDue) {
          recorded += await healer.sweepPlacementGroup(placementGroupId, acting);
          this.#sweptActingSets.set(placementGroupId, acting.join(","));
          this.#lastSweepMs.set(placementGroupId, host.clock.nowMs());
          swept += 1;
        }
        const report = await healer.healPlacementGroup(placementGroupId, former);
        heal.healed += report.healed;
        heal.bytesWritten += report.bytesWritten;
        heal.moot += report.moot;
        heal.deferred += report.deferred;
        heal.unhealable += report.unhealable;
        // Complete again: the former members' shards go (only now: until the new ones were durable
        // they were copies that counted), and this set becomes the one the next change copies from.
        // Only for the acting set this step swept and healed: one that changed meanwhile is the next run's.
        const unchanged = (await healer.actingSet(placementGroupId)).join(",") === acting.join(",");
        if (unchanged && report.deferred === 0 && report.unhealable === 0 && (former !== undefined || complete === null)) {
          if (former !== undefined) retired += await healer.retireFormerShards(placementGroupId, former, acting);
          await healer.recordCompleteActingSet(placementGroupId, acting);
        }
      } catch (error) {
        if (!(error instanceof HealFault)) throw error;
        skipped += 1;
      }
    }
    const scrubbed: (ScrubReport & { diskId: string })[] = [];
    for (const diskId of this.#options.localDisks()) {
      const last = this.#lastScrubMs.get(diskId);
      const nowMs = host.clock.nowMs();
      if (last !== undefined && nowMs - last < this.#options.scrubIntervalMs) continue;
      // The first run only schedules: a node that just started has better things to do than read every disk.
      if (last === undefined) {
        this.#lastScrubMs.set(diskId, nowMs);
        continue;
      }
      try {
        scrubbed.push({ diskId, ...(await scrubber.scrubDisk(diskId)) });
        this.#lastScrubMs.set(diskId, host.clock.nowMs());
      } catch (error) {
        if (!(error instanceof HealFault)) throw error;
        skipped += 1;
      }
    }
    const compacted: (CompactionTotals & { diskId: string })[] = [];
    const compactor = this.#options.compactor;
    if (compactor !== undefined) {
      for (const diskId of this.#options.localDisks()) {
        const last = this.#lastCompactionMs.get(diskId) ?? Number.NEGATIVE_INFINITY;
        const due = host.clock.nowMs() - last >= (this.#options.compactIntervalMs ?? compactIntervalMsDefault);
        try {
          // A disk short of space does not wait for the interval, and takes back space from any
          // volume with some dead space in it: until it does, it refuses writes and heals.
          const short = !due && (await compactor.spaceShort(diskId)) === true;
          if (!due && !short) continue;
          const totals = await compactor.compactDisk(diskId, short ? pressureDeadFractionMin : undefined);
          // A disk with more to do comes back next run rather than after a whole interval.
          if (!totals.more) this.#lastCompactionMs.set(diskId, host.clock.nowMs());
          if (totals.volumesCompacted > 0) compacted.push({ diskId, ...totals });
        } catch (error) {
          if (!(error instanceof HealFault)) throw error;
          skipped += 1;
        }
      }
    }
    const orphans: (OrphanSweepReport & { diskId: string })[] = [];
    const orphanSweeper = this.#options.orphanSweeper;
    if (orphanSweeper !== undefined) {
      for (const diskId of this.#options.localDisks()) {
        const last = this.#lastOrphanSweepMs.get(diskId);
        const nowMs = host.clock.nowMs();
        if (last === undefined) {
          // As with scrubs, a node that just started waits one interval.
          this.#lastOrphanSweepMs.set(diskId, nowMs);
          continue;
        }
        if (nowMs - last < (this.#options.orphanSweepIntervalMs ?? orphanSweepIntervalMsDefault)) continue;
        try {
          orphans.push({ diskId, ...(await orphanSweeper.sweepDisk(diskId, this.#stopping.signal)) });
          this.#lastOrphanSweepMs.set(diskId, host.clock.nowMs());
        } catch (error) {
          if (!(error instanceof HealFault)) throw error;
          skipped += 1;
        }
      }
    }
    this.#runCount += 1;
    const report = { swept, recorded, heal, retired, scrubbed, compacted, orphans, skipped };
    if (recorded > 0 || heal.healed > 0 || heal.deferred > 0 || retired > 0 || compacted.length > 0 || orphans.some((sweep) => sweep.deleted > 0) || scrubbed.some((scrub) => scrub.corrupt > 0)) {
      this.#options.log?.({ level: "info", message: "repair run", ...report });
    }
    return report;
  }
}
