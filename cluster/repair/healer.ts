/**
 * The Healer: rebuilds the shards a placement group's heal list names (a
 * write that missed a disk, a read or a scrub that found a shard missing or
 * corrupt) onto the disk the PG's acting set puts them on now, and sweeps a
 * PG for shards missing from its acting set (a disk that was replaced: every
 * shard it should hold is missing until rebuilt).
 *
 * A shard of a coded stripe is rebuilt from any k others of its stripe
 * (whole shards, read and CRC-checked by their disks); a chunk of replicated
 * data is copied from a copy that reads back. The rebuilt shard is appended
 * to its disk (an append under an existing key replaces the record, so a
 * corrupt one stops being served), then the heal entry is resolved through
 * the PG actor, which fences it like every index write.
 *
 * Invariants:
 * - Only data still in the PG's index is rebuilt; one freed while it was
 *   being rebuilt has the shard deleted again (see the race noted in
 *   README.md).
 * - Client traffic keeps priority: the Healer paces itself to
 *   `bytesPerSecondMax` of rebuilt bytes, with at most
 *   `rebuildsInFlightMax` shards in flight.
 * - A shard that cannot be rebuilt now (too few readable shards, a disk
 *   unreachable) keeps its heal entry for a later run; one whose data has no
 *   layout in the index (indexed before repair existed) or a single-disk
 *   layout is counted as unhealable and left listed.
 */
import type { DiskMessage, ReadShardReply, AppendShardReply, DeleteShardReply, CheckShardsReply } from "../../actors/disk/protocol.ts";
import type {
  DamagedShardEntry,
  GetActingSetReply,
  GetCompleteActingSetReply,
  RecordCompleteActingSetReply,
  ListDamagedShardsReply,
  PlacementGroupMessage,
  RecordDamagedShardsReply,
  RepairLayout,
  ResolveDamagedShardsReply,
} from "../../actors/placement-group/protocol.ts";
import { availableKernels, createErasureCodec, type ErasureCodec } from "../erasure/index.ts";
import { decodeRecordOf, garbageKey, keyAfter, pendingKey, placementGroupDataIdFromStoredKey, placementGroupDataKey, placementGroupDataRange, type MetaStore } from "../metadata/index.ts";
import { assert, fault, isFault, mapBounded, type ActorRef, type Fault, type Host } from "../../runtime/index.ts";
import { chunkShardKey, stripeShardKey, type PlacementView } from "../object-service.ts";

export interface HealerOptions {
  readonly host: Host;
  /** Read only: the PG index, to check that data is still live and to sweep it. */
  readonly store: MetaStore;
  readonly view: () => PlacementView;
  /** Rebuilt bytes per second at most (the pace; 0 < value). */
  readonly bytesPerSecondMax: number;
  readonly askTimeoutMs?: number;
  /** Heal entries read per page. */
  readonly pageEntries?: number;
  /** Shards rebuilt at once (default 8); the pace applies to their sum. */
  readonly rebuildsInFlightMax?: number;
  /**
   * Whether the map marks a disk out. Backfill's last step skips a former
   * disk that is out and does not answer (a dead disk an operator marked
   * out): its copies are unreachable and the new set is complete without
   * them. Absent: no disk is out, and a silent former disk holds backfill.
   */
  readonly diskIsOut?: (diskId: string) => boolean;
  /** Receives a line per shard whose rebuild was put off, with the reason (absent: nothing is logged). */
  readonly log?: (entry: Record<string, unknown>) => void;
}

/** Deferred shards remembered so each is logged once; past this many the memory starts over. */
const deferredLoggedMax = 10_000;

/** What one run did, and what stays for later. */
export interface HealReport {
  readonly healed: number;
  readonly bytesWritten: number;
  /** Moot entries removed: their data was freed. */
  readonly moot: number;
  /** Entries that could not be rebuilt now; they stay listed. */
  readonly deferred: number;
  /** Entries no rebuild can serve (no layout in the index, or a single-disk layout). */
  readonly unhealable: number;
}

/** Progress for operators: totals since the Healer was made, and the pace. */
export interface HealProgress {
  readonly healed: number;
  readonly bytesWritten: number;
  readonly deferred: number;
  readonly bytesPerSecondMax: number;
}

type RebuildOutcome = { readonly kind: "healed"; readonly bytes: number } | { readonly kind: "moot" } | { readonly kind: "deferred"; readonly why: Fault } | { readonly kind: "unhealable" };

export class Healer {
  readonly #host: Host;
  readonly #store: MetaStore;
  readonly #view: () => PlacementView;
  readonly #bytesPerSecondMax: number;
  readonly #askTimeoutMs: number;
  readonly #pageEntries: number;
  readonly #rebuildsInFlightMax: number;
  readonly #codecs = new Map<string, ErasureCodec>();
  readonly #diskIsOut: (diskId: string) => boolean;
  readonly #log: (entry: Record<string, unknown>) => void;
  readonly #deferredLogged = new Set<string>();
  #healed = 0;
  #bytesWritten = 0;
  #deferred = 0;

  constructor(options: HealerOptions) {
    assert(options.bytesPerSecondMax > 0, "healer pace must be positive");
    this.#host = options.host;
    this.#store = options.store;
    this.#view = options.view;
    this.#bytesPerSecondMax = options.bytesPerSecondMax;
    this.#askTimeoutMs = options.askTimeoutMs ?? 30_000;
    this.#pageEntries = options.pageEntries ?? 100;
    this.#rebuildsInFlightMax = options.rebuildsInFlightMax ?? 8;
    this.#diskIsOut = options.diskIsOut ?? (() => false);
    this.#log = options.log ?? (() => undefined);
  }

  /**
   * Logs why a shard's rebuild was put off, once per shard (it is retried every run): an operator
   * looking at a PG that stays `healing` needs the reason, not a count. The set is bounded.
   */
  #noteDeferred(placementGroupId: number, entry: DamagedShardEntry, why: Fault): void {
    const id = `${entry.dataId}/${entry.stripeIndex}/${entry.shardIndex}`;
    if (this.#deferredLogged.has(id)) return;
    if (this.#deferredLogged.size >= deferredLoggedMax) this.#deferredLogged.clear();
    this.#deferredLogged.add(id);
    this.#log({ level: "info", event: "heal-deferred", placementGroupId, dataId: entry.dataId, stripeIndex: entry.stripeIndex, shardIndex: entry.shardIndex, fault: why.fault, detail: why.detail });
  }

  progress(): HealProgress {
    return { healed: this.#healed, bytesWritten: this.#bytesWritten, deferred: this.#deferred, bytesPerSecondMax: this.#bytesPerSecondMax };
  }

  /** The PG's acting set now (the sweep's trigger is a change of it). */
  async actingSet(placementGroupId: number): Promise<readonly string[]> {
    return (await this.#askPlacementGroup<GetActingSetReply>(placementGroupId, (epoch, replyTo) => ({ kind: "GetActingSet", epoch, replyTo }))).diskIds;
  }

  /** The acting set the PG last had every shard on, or null before the first record. */
  async completeActingSet(placementGroupId: number): Promise<readonly string[] | null> {
    return (await this.#askPlacementGroup<GetCompleteActingSetReply>(placementGroupId, (epoch, replyTo) => ({ kind: "GetCompleteActingSet", epoch, replyTo }))).diskIds;
  }

  async recordCompleteActingSet(placementGroupId: number, diskIds: readonly string[]): Promise<void> {
    await this.#askPlacementGroup<RecordCompleteActingSetReply>(placementGroupId, (epoch, replyTo) => ({
      kind: "RecordCompleteActingSet",
      epoch,
      diskIds: [...diskIds],
      replyTo,
    }));
  }

  /**
   * Works through the PG's whole heal list once, a page at a time. `former`:
   * the acting set the PG last had every shard on, when it differs from the
   * current one (backfill): a shard missing at a position whose disk changed
   * is copied from the position's former disk when that disk still has it,
   * and rebuilt from the others only when it does not.
   */
  async healPlacementGroup(placementGroupId: number, former?: readonly string[]): Promise<HealReport> {
    let healed = 0;
    let bytesWritten = 0;
    let moot = 0;
    let deferred = 0;
    let unhealable = 0;
    let after: { dataId: string; stripeIndex: number; shardIndex: number } | undefined;
    for (;;) {
      const page = await this.#askPlacementGroup<ListDamagedShardsReply>(placementGroupId, (epoch, replyTo) => ({
        kind: "ListDamagedShards",
        epoch,
        ...(after === undefined ? {} : { after }),
        limit: this.#pageEntries,
        replyTo,
      }));
      // Up to `rebuildsInFlightMax` shards at once: their disk writes share fdatasyncs (group commit),
      // and reads of one overlap the reconstruction of another.
      const outcomes = await mapBounded(page.entries, this.#rebuildsInFlightMax, async (entry) => {
        const outcome = await this.#rebuild(placementGroupId, entry, former);
        if (outcome.kind === "deferred") this.#noteDeferred(placementGroupId, entry, outcome.why);
        if (outcome.kind === "healed" || outcome.kind === "moot") await this.#resolve(placementGroupId, entry);
        if (outcome.kind === "healed") await this.#pace(outcome.bytes);
        return outcome;
      });
      for (const outcome of outcomes) {
        switch (outcome.kind) {
          case "healed":
            healed += 1;
            bytesWritten += outcome.bytes;
            break;
          case "moot":
            moot += 1;
            break;
          case "deferred":
            deferred += 1;
            break;
          case "unhealable":
            unhealable += 1;
            break;
        }
      }
      const last = page.entries.at(-1);
      if (last !== undefined) after = { dataId: last.dataId, stripeIndex: last.stripeIndex, shardIndex: last.shardIndex };
      if (page.done || page.entries.length === 0) break;
    }
    this.#healed += healed;
    this.#bytesWritten += bytesWritten;
    this.#deferred += deferred;
    return { healed, bytesWritten, moot, deferred, unhealable };
  }

  /**
   * Finds shards missing from the PG's acting set (every datum in its index,
   * every unit, every position its layout uses) and records them in the
   * heal list, asking each disk which of its keys it holds (no bytes are
   * read). Returns how many were recorded; `healPlacementGroup` rebuilds them.
   */
  async sweepPlacementGroup(placementGroupId: number, knownActingSet?: readonly string[]): Promise<number> {
    const actingSet = knownActingSet ?? (await this.actingSet(placementGroupId));
    let recorded = 0;
    await this.#eachIndexed(placementGroupId, async (dataId, layout) => {
      // Data still being written (PREPARING) is its PUT's business: its shards are not all there yet, and
      // the PUT records any it could not write. Data being freed (garbage) loses its shards on purpose.
      if (await this.#pendingOrGarbage(dataId)) return;
      recorded += await this.#sweepData(placementGroupId, dataId, layout, actingSet);
    });
    return recorded;
  }

  /** Visits each datum in the PG's index that has a layout, a page (one read transaction) at a time. */
  async #eachIndexed(placementGroupId: number, visit: (dataId: string, layout: RepairLayout) => Promise<void>): Promise<void> {
    const range = placementGroupDataRange(placementGroupId);
    let cursor = range.begin;
    for (;;) {
      const from = cursor;
      const page = await this.#store.transact((tx) => tx.getRange(from, range.end, { limit: this.#pageEntries }));
      for (const pair of page) {
        const layout = (decodeRecordOf("placementGroupData", pair.value).value as { layout?: RepairLayout }).layout;
        if (layout !== undefined) await visit(placementGroupDataIdFromStoredKey(pair.key), layout);
      }
      const last = page.at(-1);
      if (last === undefined || page.length < this.#pageEntries) return;
      cursor = keyAfter(last.key);
    }
  }

  /**
   * After a changed acting set is complete again: deletes, on each disk that
   * held a position it no longer holds, the shards of that position (a
   * replicated chunk only when its disk holds no copy position any more).
   * Returns how many were deleted. Call only once the heal list is empty:
   * until then these shards may be the only copies.
   */
  async retireFormerShards(placementGroupId: number, former: readonly string[], acting: readonly string[]): Promise<number> {
    let deleted = 0;
    // A dead disk marked out cannot be cleaned; its copies are left where they are (a disk
    // that comes back holds orphans until it is wiped: README.md, "Marking disks out").
    const unreachableOut = new Set<string>();
    for (const diskId of new Set(former)) {
      if (acting.includes(diskId) || !this.#diskIsOut(diskId)) continue;
      if ((await this.#checkShards(diskId, [])) === undefined) unreachableOut.add(diskId);
    }
    await this.#eachIndexed(placementGroupId, async (dataId, layout) => {
      const width = layout.kind === "replicated" ? layout.copies : layout.dataShards + layout.parityShards;
      for (let position = 0; position < width; position += 1) {
        const formerDisk = former[position];
        if (formerDisk === undefined || formerDisk === acting[position] || unreachableOut.has(formerDisk)) continue;
        if (layout.kind === "replicated" && acting.slice(0, layout.copies).includes(formerDisk)) continue;
        const keyOf = (unit: number): string => (layout.kind === "replicated" ? chunkShardKey(dataId, unit) : stripeShardKey(dataId, unit, position));
        deleted += await this.#deleteUnits(formerDisk, keyOf);
      }
    });
    return deleted;
  }

  /** Deletes the units a disk holds under `keyOf(unit)`, probing a batch at a time until a batch holds none. */
  async #deleteUnits(diskId: string, keyOf: (unit: number) => string): Promise<number> {
    const unitsPerProbe = 64;
    let deleted = 0;
    for (let first = 0; ; first += unitsPerProbe) {
      const keys = Array.from({ length: unitsPerProbe }, (_, offset) => keyOf(first + offset));
      const present = await this.#checkShards(diskId, keys);
      if (present === undefined) throw new HealFault(fault("Unreachable", `disk ${diskId} cannot say what it holds now`));
      const held = keys.filter((_, index) => present[index] === true);
      if (held.length === 0) return deleted;
      for (const key of held) await this.#delete(diskId, key);
      deleted += held.length;
    }
  }

  /** Records the missing shards of one datum, unit by unit, until no position holds a unit. */
  async #sweepData(placementGroupId: number, dataId: string, layout: RepairLayout, actingSet: readonly string[]): Promise<number> {
    const width = layout.kind === "replicated" ? layout.copies : layout.dataShards + layout.parityShards;
    const keyOf = (unit: number, position: number): string =>
      layout.kind === "replicated" ? chunkShardKey(dataId, unit) : stripeShardKey(dataId, unit, position);
    // Units are probed a batch at a time: one CheckShards per disk per batch.
    const unitsPerProbe = 64;
    let recorded = 0;
    for (let first = 0; ; first += unitsPerProbe) {
      const units = Array.from({ length: unitsPerProbe }, (_, offset) => first + offset);
      const present = await Promise.all(
        actingSet.slice(0, width).map((diskId, position) => this.#checkShards(diskId, units.map((unit) => keyOf(unit, position)))),
      );
      // A disk that cannot answer makes the sweep incomplete: taking it as "holds everything" would let
      // backfill delete former copies that were never copied (it runs again next time instead).
      const silent = present.findIndex((answer) => answer === undefined);
      if (silent >= 0) throw new HealFault(fault("Unreachable", `disk ${actingSet[silent]} did not say what it holds; pg ${placementGroupId} sweep incomplete`));
      const missing: { stripeIndex: number; shardIndex: number; damage: "missing" }[] = [];
      let anyUnit = false;
      for (const [offset, unit] of units.entries()) {
        const held = present.map((answer) => answer?.[offset] === true);
        // A unit no reachable position holds is past the end of the data (or lost beyond repair: reads will say so).
        if (!present.some((answer) => answer?.[offset] === true)) continue;
        anyUnit = true;
        held.forEach((has, position) => {
          if (!has) missing.push({ stripeIndex: unit, shardIndex: position, damage: "missing" });
        });
      }
      if (missing.length > 0) {
        await this.#askPlacementGroup<RecordDamagedShardsReply>(placementGroupId, (epoch, replyTo) => ({
          kind: "RecordDamagedShards",
          epoch,
          dataId,
          shards: missing,
          replyTo,
        }));
        recorded += missing.length;
      }
      if (!anyUnit) return recorded;
    }
  }

  async #rebuild(placementGroupId: number, entry: DamagedShardEntry, former: readonly string[] | undefined): Promise<RebuildOutcome> {
    if (!entry.indexed) return { kind: "moot" };
    // Freed data (its object was deleted or replaced) still indexed until the Janitor deletes its
    // shards: nothing will read it, and its other shards may be gone already, so rebuilding would be
    // deferred until the Janitor runs and the PG would look damaged meanwhile.
    if (await this.#freed(entry.dataId)) return { kind: "moot" };
    const layout = entry.layout;
    if (layout === undefined) return { kind: "unhealable" };
    const actingSet = await this.actingSet(placementGroupId);
    const target = actingSet[entry.shardIndex];
    if (target === undefined) return { kind: "unhealable" };
    let bytes: Uint8Array | Fault;
    let shardKey: string;
    if (layout.kind === "replicated") {
      if (entry.shardIndex >= layout.copies) return { kind: "unhealable" };
      shardKey = chunkShardKey(entry.dataId, entry.stripeIndex);
      bytes = await this.#copyFromReplica(shardKey, actingSet.slice(0, layout.copies), entry.shardIndex);
    } else {
      if (entry.shardIndex >= layout.dataShards + layout.parityShards) return { kind: "unhealable" };
      shardKey = stripeShardKey(entry.dataId, entry.stripeIndex, entry.shardIndex);
      const formerDisk = former?.[entry.shardIndex];
      // Backfill: the shard's former disk usually still has it; a copy reads one shard instead of k.
      const copied = formerDisk !== undefined && formerDisk !== target ? await this.#read(formerDisk, shardKey) : undefined;
      bytes = copied !== undefined && !isFault(copied) ? copied : await this.#reconstructShard(entry, layout, actingSet);
    }
    if (isFault(bytes)) return { kind: "deferred", why: bytes };
    const written = await this.#append(target, shardKey, bytes);
    if (written !== undefined) return { kind: "deferred", why: written };
    // Freed meanwhile: the shard just written would be an orphan.
    if (!(await this.#indexed(placementGroupId, entry.dataId))) {
      await this.#delete(target, shardKey);
      return { kind: "moot" };
    }
    return { kind: "healed", bytes: bytes.byteLength };
  }

  /** The chunk from the first other copy that reads back (its disk checks the CRC). */
  async #copyFromReplica(shardKey: string, holders: readonly string[], missingPosition: number): Promise<Uint8Array | Fault> {
    let last: Fault = fault("QuorumLost", `no copy of ${shardKey} is readable`);
    for (const [position, diskId] of holders.entries()) {
      if (position === missingPosition) continue;
      const bytes = await this.#read(diskId, shardKey);
      if (!isFault(bytes)) return bytes;
      last = bytes;
    }
    return last;
  }

  /** Shard `entry.shardIndex` of its stripe, rebuilt from any k others. */
  async #reconstructShard(entry: DamagedShardEntry, layout: Extract<RepairLayout, { kind: "erasure" }>, actingSet: readonly string[]): Promise<Uint8Array | Fault> {
    const width = layout.dataShards + layout.parityShards;
    const shards: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(width).fill(undefined);
    let present = 0;
    let length: number | undefined;
    for (let position = 0; position < width && present < layout.dataShards; position += 1) {
      if (position === entry.shardIndex) continue;
      const diskId = actingSet[position];
      if (diskId === undefined) continue;
      const bytes = await this.#read(diskId, stripeShardKey(entry.dataId, entry.stripeIndex, position));
      if (isFault(bytes)) continue;
      // Every shard of a stripe has the same length; one that differs is not trusted.
      if (length !== undefined && bytes.byteLength !== length) continue;
      length = bytes.byteLength;
      shards[position] = bytes;
      present += 1;
    }
    if (present < layout.dataShards) {
      return fault("QuorumLost", `${entry.dataId} stripe ${entry.stripeIndex}: ${present} shards readable, ${layout.dataShards} needed`);
    }
    this.#codec(layout.dataShards, layout.parityShards).reconstruct(shards);
    const rebuilt = shards[entry.shardIndex];
    assert(rebuilt !== undefined, "reconstruct fills every slot");
    return rebuilt;
  }

  #codec(dataShards: number, parityShards: number): ErasureCodec {
    const name = `${dataShards}+${parityShards}`;
    let codec = this.#codecs.get(name);
    if (codec === undefined) {
      // The fastest kernel here (ISA-L, else WebAssembly SIMD), as the object service uses: identical bytes either way.
      codec = createErasureCodec({ dataShards, parityShards }, { kernel: availableKernels().at(-1) ?? "portable" });
      this.#codecs.set(name, codec);
    }
    return codec;
  }

  async #pendingOrGarbage(dataId: string): Promise<boolean> {
    return this.#store.transact(async (tx) => (await tx.get(pendingKey(dataId))) !== undefined || (await tx.get(garbageKey(dataId))) !== undefined);
  }

  async #indexed(placementGroupId: number, dataId: string): Promise<boolean> {
    return this.#store.transact(async (tx) => (await tx.get(placementGroupDataKey(placementGroupId, dataId))) !== undefined);
  }

  async #resolve(placementGroupId: number, entry: DamagedShardEntry): Promise<void> {
    await this.#askPlacementGroup<ResolveDamagedShardsReply>(placementGroupId, (epoch, replyTo) => ({
      kind: "ResolveDamagedShards",
      epoch,
      dataId: entry.dataId,
      shards: [{ stripeIndex: entry.stripeIndex, shardIndex: entry.shardIndex }],
      replyTo,
    }));
  }

  /** Sleeps long enough that the bytes rebuilt keep to the pace. */
  async #pace(bytes: number): Promise<void> {
    const delayMs = (bytes / this.#bytesPerSecondMax) * 1000;
    if (delayMs >= 1) await this.#host.clock.sleep(Math.round(delayMs));
  }

  async #askPlacementGroup<R>(placementGroupId: number, build: (epoch: number, replyTo: ActorRef<R | Fault>) => PlacementGroupMessage): Promise<R> {
    const view = this.#view();
    const ref = view.placementGroupRef(placementGroupId);
    if (ref === undefined) throw new HealFault(fault("Unreachable", `placement group ${placementGroupId} is not hosted anywhere now`));
    const reply = await this.#host.ask<PlacementGroupMessage, R | Fault>(ref, (replyTo) => build(view.epoch, replyTo), this.#askTimeoutMs);
    if (isFault(reply)) throw new HealFault(reply);
    return reply;
  }

  async #disk<R>(diskId: string, build: (epoch: number, replyTo: ActorRef<R | Fault>) => DiskMessage): Promise<R | Fault> {
    const view = this.#view();
    const ref = view.diskRef(diskId);
    if (ref === undefined) return fault("Unreachable", `disk ${diskId} is not reachable now`);
    return this.#host.ask<DiskMessage, R | Fault>(ref, (replyTo) => build(view.epoch, replyTo), this.#askTimeoutMs);
  }

  async #read(diskId: string, shardKey: string): Promise<Uint8Array | Fault> {
    const reply = await this.#disk<ReadShardReply>(diskId, (epoch, replyTo) => ({ kind: "ReadShard", epoch, shardKey, replyTo }));
    return isFault(reply) ? reply : reply.bytes;
  }

  async #append(diskId: string, shardKey: string, bytes: Uint8Array): Promise<Fault | undefined> {
    const reply = await this.#disk<AppendShardReply>(diskId, (epoch, replyTo) => ({ kind: "AppendShard", epoch, shardKey, bytes, replyTo }));
    return isFault(reply) ? reply : undefined;
  }

  async #delete(diskId: string, shardKey: string): Promise<void> {
    await this.#disk<DeleteShardReply>(diskId, (epoch, replyTo) => ({ kind: "DeleteShard", epoch, shardKey, replyTo }));
  }

  /** Which of `shardKeys` the disk holds; undefined when it cannot answer now. */
  /** Whether the data has a garbage record: freed, waiting for the Janitor. */
  async #freed(dataId: string): Promise<boolean> {
    return this.#store.transact(async (tx) => (await tx.get(garbageKey(dataId))) !== undefined);
  }

  async #checkShards(diskId: string, shardKeys: string[]): Promise<readonly boolean[] | undefined> {
    const reply = await this.#disk<CheckShardsReply>(diskId, (epoch, replyTo) => ({ kind: "CheckShards", epoch, shardKeys, replyTo }));
    return isFault(reply) ? undefined : reply.present;
  }
}

/** A PG that could not be asked: the run stops, everything stays listed for the next. */
export class HealFault extends Error {
  readonly value: Fault;
  constructor(value: Fault) {
    super(`${value.fault}: ${value.detail}`);
    this.name = "HealFault";
    this.value = value;
  }
}
