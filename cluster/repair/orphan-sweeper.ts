/**
 * The orphan sweep: deletes the shards a disk holds that nothing will ever
 * read, so their space comes back. They come from
 * - a disk marked out while dead: its PGs were rebuilt elsewhere and nobody
 *   could delete its copies, so when it comes back it holds them all;
 * - a PG whose acting set changed before it had recorded one complete set:
 *   it was refilled by reconstruction, and nothing said where the old copies were;
 * - data freed while its PG backfilled (the free deletes on the current set only),
 *   and a heal that wrote a shard in the instant its data was freed.
 *
 * A shard is an orphan when its key parses (`dataId/stripe.shard` or
 * `dataId/chunk`) and either
 * - its data is indexed by a PG that is settled (the PG's acting set is the
 *   one the map gives it, and it is the set the PG recorded as complete: no
 *   backfill is reading old places) and this disk is not where the shard
 *   lives (a stripe's position holds another disk; a chunk's set lacks this
 *   disk); or
 * - its data is a coded stripe no PG indexes, with neither a pending record
 *   (a PUT in flight writes shards before its index entry is durable) nor a
 *   garbage record (being freed). An unindexed *chunk* is kept: chunks of
 *   the single-disk layout were never indexed.
 *
 * Nothing is deleted on one look: a shard is deleted only when a sweep finds
 * it orphaned and an earlier sweep did too, at least `confirmMs` before. After
 * deleting, the PGs concerned are asked again; a shard whose disk became its
 * place meanwhile (the map moved it back) is recorded as missing, so the
 * Healer rebuilds it: a PG that settled again in between must not count a
 * shard this sweep removed as present.
 */
import { isFault, sleepUnlessAborted, type ActorRef, type Fault, type Host } from "../../runtime/index.ts";
import type { DeleteShardReply, DiskMessage, ListShardKeysReply } from "../../actors/disk/index.ts";
import type { GetActingSetReply, GetCompleteActingSetReply, PlacementGroupMessage, RecordDamagedShardsReply } from "../../actors/placement-group/index.ts";
import { garbageKey, keyAfter, pendingKey, placementGroupDataIdFromStoredKey, placementGroupDataKey, type MetaStore } from "../metadata/index.ts";
import type { PlacementView } from "../object-service.ts";
import { HealFault } from "./healer.ts";
import { parseShardKey } from "./scrubber.ts";

export interface OrphanSweeperOptions {
  readonly host: Host;
  readonly store: MetaStore;
  readonly view: () => PlacementView;
  readonly placementGroupCount: number;
  /** The acting set the current map gives the PG (undefined when not known): a PG answering another is mid-change. */
  readonly mapActingSet: (placementGroupId: number) => readonly string[] | undefined;
  /** A shard is deleted only when two sweeps at least this far apart both found it orphaned. */
  readonly confirmMs: number;
  /** Shard keys listed per page (default 1,000). */
  readonly pageKeys?: number;
  readonly askTimeoutMs?: number;
  readonly log?: (entry: Record<string, unknown>) => void;
}

export interface OrphanSweepReport {
  /** Shard keys the disk listed. */
  readonly listed: number;
  /** Found orphaned by this sweep (deleted or waiting for the next sweep to confirm). */
  readonly orphaned: number;
  readonly deleted: number;
  /** Kept because their PG was mid-change (backfilling, told of a new set late) or did not answer. */
  readonly unsettled: number;
  /** Kept because their data is being written (pending) or freed (garbage). */
  readonly inFlight: number;
  /** Kept because nothing says whose they are (unindexed chunks, keys that do not parse). */
  readonly unknown: number;
  /** Deleted shards recorded as missing because their disk became their place meanwhile. */
  readonly recorded: number;
}

/** Suspects remembered per disk between sweeps at most: a larger backlog is confirmed over more sweeps. */
const suspectsPerDiskMax = 200_000;
/** Index entries read per PG per page at most; a page whose range holds more keeps its unindexed keys. */
const indexEntriesPerRangeMax = 20_000;

interface ParsedKey {
  readonly shardKey: string;
  readonly dataId: string;
  readonly unit: number;
  readonly position: number | undefined;
}

/** A PG's verdict for this sweep: its settled acting set, or undefined when it is mid-change or silent. */
type SettledSet = readonly string[] | undefined;

export class OrphanSweeper {
  readonly #options: OrphanSweeperOptions;
  readonly #pageKeys: number;
  readonly #askTimeoutMs: number;
  /** Per disk: shard key → when a sweep first found it orphaned. */
  readonly #suspects = new Map<string, Map<string, number>>();
  #deletedTotal = 0;

  constructor(options: OrphanSweeperOptions) {
    this.#options = options;
    this.#pageKeys = options.pageKeys ?? 1_000;
    this.#askTimeoutMs = options.askTimeoutMs ?? 60_000;
  }

  /** Orphans deleted since this sweeper was made. */
  get deletedTotal(): number {
    return this.#deletedTotal;
  }

  /** One pass over the disk's keys. */
  async sweepDisk(diskId: string, signal?: AbortSignal): Promise<OrphanSweepReport> {
    const clock = this.#options.host.clock;
    const before = this.#suspects.get(diskId) ?? new Map<string, number>();
    const suspects = new Map<string, number>();
    const settled = new Map<number, SettledSet>();
    let listed = 0;
    let orphaned = 0;
    let deleted = 0;
    let unsettled = 0;
    let inFlight = 0;
    let unknown = 0;
    let recorded = 0;
    let after: string | undefined;
    for (;;) {
      if (signal?.aborted === true) break;
      const page = await this.#listPage(diskId, after);
      listed += page.shardKeys.length;
      const parsed: ParsedKey[] = [];
      for (const shardKey of page.shardKeys) {
        const key = parseShardKey(shardKey);
        if (key === undefined) unknown += 1;
        else parsed.push({ shardKey, dataId: key.dataId, unit: key.unit, position: key.position });
      }
      const facts = await this.#dataFacts(parsed);
      const confirmed: { key: ParsedKey; placementGroupId: number | undefined }[] = [];
      for (const key of parsed) {
        const fact = facts.get(key.dataId)!;
        if (fact.inFlight) {
          inFlight += 1;
          continue;
        }
        let orphan: boolean;
        if (fact.placementGroupId !== undefined) {
          const set = await this.#settledSet(settled, fact.placementGroupId);
          if (set === undefined) {
            unsettled += 1;
            continue;
          }
          if (key.position === undefined) orphan = !set.includes(diskId);
          else if (key.position >= set.length) {
            unknown += 1;
            continue;
          } else orphan = set[key.position] !== diskId;
        } else if (key.position === undefined || !fact.rangeComplete) {
          unknown += 1;
          continue;
        } else {
          orphan = true;
        }
        if (!orphan) continue;
        orphaned += 1;
        const nowMs = clock.nowMs();
        const firstSeenMs = before.get(key.shardKey) ?? nowMs;
        if (nowMs - firstSeenMs >= this.#options.confirmMs) confirmed.push({ key, placementGroupId: fact.placementGroupId });
        else if (suspects.size < suspectsPerDiskMax) suspects.set(key.shardKey, firstSeenMs);
      }
      for (const { key } of confirmed) {
        if (await this.#delete(diskId, key.shardKey)) deleted += 1;
      }
      recorded += await this.#recordMovedBack(diskId, confirmed);
      if (page.next === undefined) break;
      after = page.next;
      // Keys-only pages are cheap; a pause between them keeps the disk's mailbox for clients.
      if (signal === undefined) await clock.sleep(5);
      else await sleepUnlessAborted(clock, 5, signal);
    }
    this.#suspects.set(diskId, suspects);
    this.#deletedTotal += deleted;
    const report = { listed, orphaned, deleted, unsettled, inFlight, unknown, recorded };
    if (deleted > 0 || recorded > 0) this.#options.log?.({ event: "orphans-deleted", diskId, ...report });
    return report;
  }

  async #listPage(diskId: string, after: string | undefined): Promise<ListShardKeysReply> {
    const view = this.#options.view();
    const disk = view.diskRef(diskId);
    if (disk === undefined) throw new HealFault({ fault: "Unreachable", detail: `disk ${diskId} is not reachable now` });
    const reply = await this.#options.host.ask<DiskMessage, ListShardKeysReply | Fault>(
      disk,
      (replyTo) => ({ kind: "ListShardKeys", epoch: view.epoch, ...(after === undefined ? {} : { after }), countMax: this.#pageKeys, replyTo }),
      this.#askTimeoutMs,
    );
    if (isFault(reply)) throw new HealFault(reply);
    return reply;
  }

  /**
   * For each dataId of the page, in one read transaction: whether a PUT or a free has it in flight, and
   * which PG indexes it. The PG index is read as one range per PG over the page's dataIds (never one
   * read per PG and dataId); `rangeComplete` is false when a range held more than it reads.
   */
  async #dataFacts(keys: readonly ParsedKey[]): Promise<Map<string, { inFlight: boolean; placementGroupId: number | undefined; rangeComplete: boolean }>> {
    const dataIds = [...new Set(keys.map((key) => key.dataId))].sort();
    const facts = new Map<string, { inFlight: boolean; placementGroupId: number | undefined; rangeComplete: boolean }>();
    if (dataIds.length === 0) return facts;
    const first = dataIds[0]!;
    const last = dataIds.at(-1)!;
    await this.#options.store.transact(async (tx) => {
      facts.clear();
      const wanted = new Set(dataIds);
      const indexedBy = new Map<string, number>();
      let rangeComplete = true;
      for (let placementGroupId = 0; placementGroupId < this.#options.placementGroupCount; placementGroupId += 1) {
        const entries = await tx.getRange(placementGroupDataKey(placementGroupId, first), keyAfter(placementGroupDataKey(placementGroupId, last)), {
          limit: indexEntriesPerRangeMax,
        });
        if (entries.length >= indexEntriesPerRangeMax) rangeComplete = false;
        for (const entry of entries) {
          const dataId = placementGroupDataIdFromStoredKey(entry.key);
          if (wanted.has(dataId)) indexedBy.set(dataId, placementGroupId);
        }
      }
      for (const dataId of dataIds) {
        const inFlight = (await tx.get(pendingKey(dataId))) !== undefined || (await tx.get(garbageKey(dataId))) !== undefined;
        facts.set(dataId, { inFlight, placementGroupId: indexedBy.get(dataId), rangeComplete });
      }
    });
    return facts;
  }

  /** The PG's acting set when it is settled (the map's set, recorded complete), asked once per sweep. */
  async #settledSet(cache: Map<number, SettledSet>, placementGroupId: number): Promise<SettledSet> {
    if (cache.has(placementGroupId)) return cache.get(placementGroupId);
    let set: SettledSet;
    try {
      set = await this.#askSettled(placementGroupId);
    } catch {
      set = undefined;
    }
    cache.set(placementGroupId, set);
    return set;
  }

  async #askSettled(placementGroupId: number): Promise<SettledSet> {
    const acting = await this.#askPlacementGroup<GetActingSetReply>(placementGroupId, (epoch, replyTo) => ({ kind: "GetActingSet", epoch, replyTo }));
    const complete = await this.#askPlacementGroup<GetCompleteActingSetReply>(placementGroupId, (epoch, replyTo) => ({ kind: "GetCompleteActingSet", epoch, replyTo }));
    const fromMap = this.#options.mapActingSet(placementGroupId);
    const same = (left: readonly string[] | null | undefined): boolean => left !== null && left !== undefined && left.join("\n") === acting.diskIds.join("\n");
    if (acting.formerDiskIds !== undefined || !same(complete.diskIds) || !same(fromMap)) return undefined;
    return acting.diskIds;
  }

  async #delete(diskId: string, shardKey: string): Promise<boolean> {
    const view = this.#options.view();
    const disk = view.diskRef(diskId);
    if (disk === undefined) return false;
    const reply = await this.#options.host.ask<DiskMessage, DeleteShardReply | Fault>(
      disk,
      (replyTo) => ({ kind: "DeleteShard", epoch: view.epoch, shardKey, replyTo }),
      this.#askTimeoutMs,
    );
    return !isFault(reply) && reply.existed;
  }

  /**
   * Asks the PGs of the deleted shards again: where this disk became the shard's place since the
   * sweep looked, the shard is recorded as missing (the Healer rebuilds it). A PG that cannot be
   * asked now is left unrecorded: that needs the map to move the position back onto this disk and
   * the Healer to sweep it between the sweep's look and its delete, and the PG to stop answering
   * right after (known gap, README.md).
   */
  async #recordMovedBack(diskId: string, deleted: readonly { key: ParsedKey; placementGroupId: number | undefined }[]): Promise<number> {
    const byPlacementGroup = new Map<number, ParsedKey[]>();
    for (const { key, placementGroupId } of deleted) {
      if (placementGroupId === undefined) continue;
      byPlacementGroup.set(placementGroupId, [...(byPlacementGroup.get(placementGroupId) ?? []), key]);
    }
    let recorded = 0;
    for (const [placementGroupId, keys] of byPlacementGroup) {
      let diskIds: readonly string[];
      try {
        diskIds = (await this.#askPlacementGroup<GetActingSetReply>(placementGroupId, (epoch, replyTo) => ({ kind: "GetActingSet", epoch, replyTo }))).diskIds;
      } catch {
        continue;
      }
      const position = diskIds.indexOf(diskId);
      if (position < 0) continue;
      const byData = new Map<string, { stripeIndex: number; shardIndex: number; damage: "missing" }[]>();
      for (const key of keys) {
        if (key.position !== undefined && key.position !== position) continue;
        byData.set(key.dataId, [...(byData.get(key.dataId) ?? []), { stripeIndex: key.unit, shardIndex: position, damage: "missing" }]);
      }
      for (const [dataId, shards] of byData) {
        try {
          await this.#askPlacementGroup<RecordDamagedShardsReply>(placementGroupId, (epoch, replyTo) => ({ kind: "RecordDamagedShards", epoch, dataId, shards, replyTo }));
          recorded += shards.length;
        } catch (error) {
          this.#options.log?.({ event: "orphan-record-failed", diskId, placementGroupId, dataId, error: String(error) });
        }
      }
    }
    return recorded;
  }

  async #askPlacementGroup<R>(placementGroupId: number, build: (epoch: number, replyTo: ActorRef<R | Fault>) => PlacementGroupMessage): Promise<R> {
    const view = this.#options.view();
    const ref = view.placementGroupRef(placementGroupId);
    if (ref === undefined) throw new HealFault({ fault: "Unreachable", detail: `placement group ${placementGroupId} is not hosted anywhere now` });
    const reply = await this.#options.host.ask<PlacementGroupMessage, R | Fault>(ref, (replyTo) => build(view.epoch, replyTo), this.#askTimeoutMs);
    if (isFault(reply)) throw new HealFault(reply);
    return reply;
  }
}
