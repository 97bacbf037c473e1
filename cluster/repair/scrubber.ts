/**
 * The Scrubber: reads every live record of a disk, page by page, through the
 * disk actor (which checks each record's header and payload CRC32C, as on
 * every read), and reports each corrupt shard to the placement group whose
 * index holds its data, as a heal entry; the Healer rebuilds it from the
 * other shards. A corrupt record is never served meanwhile: every read
 * checks the same CRCs and falls back to the other shards.
 *
 * Invariants:
 * - Paced to `bytesPerSecondMax` of bytes read, one page at a time, so
 *   client reads keep the disk.
 * - A corrupt shard whose data no PG indexes (freed since) is counted as
 *   `unplaced` and left alone: the garbage collector owns it.
 */
import type { GetActingSetReply, PlacementGroupMessage, RecordDamagedShardsReply } from "../../actors/placement-group/protocol.ts";
import type { DiskMessage, ScrubShardsReply } from "../../actors/disk/protocol.ts";
import { placementGroupDataKey, type MetaStore } from "../metadata/index.ts";
import { assert, isFault, type Fault, type Host } from "../../runtime/index.ts";
import type { PlacementView } from "../object-service.ts";
import { HealFault } from "./healer.ts";

export interface ScrubberOptions {
  readonly host: Host;
  readonly store: MetaStore;
  readonly view: () => PlacementView;
  readonly placementGroupCount: number;
  /** Bytes read per second at most. */
  readonly bytesPerSecondMax: number;
  /** Records per page (one ask). */
  readonly pageShards?: number;
  readonly askTimeoutMs?: number;
}

/** A pass's counts so far, after each page (for operators' progress bars). */
export interface ScrubProgress {
  readonly checked: number;
  readonly bytesChecked: number;
  readonly corrupt: number;
}

export interface ScrubReport {
  readonly checked: number;
  readonly bytesChecked: number;
  readonly corrupt: number;
  /** Corrupt shards recorded with their PG for healing. */
  readonly reported: number;
  /** Corrupt shards of data no PG indexes any more. */
  readonly unplaced: number;
}

/** Where a shard key says its bytes belong: `dataId/chunk` (replicated) or `dataId/stripe.shard` (coded). */
export function parseShardKey(shardKey: string): { dataId: string; unit: number; position?: number } | undefined {
  const slash = shardKey.lastIndexOf("/");
  if (slash <= 0) return undefined;
  const dataId = shardKey.slice(0, slash);
  const match = /^([0-9]+)(?:\.([0-9]+))?$/.exec(shardKey.slice(slash + 1));
  if (match === null) return undefined;
  return match[2] === undefined ? { dataId, unit: Number(match[1]) } : { dataId, unit: Number(match[1]), position: Number(match[2]) };
}

export class Scrubber {
  readonly #host: Host;
  readonly #store: MetaStore;
  readonly #view: () => PlacementView;
  readonly #placementGroupCount: number;
  readonly #bytesPerSecondMax: number;
  readonly #pageShards: number;
  readonly #askTimeoutMs: number;

  constructor(options: ScrubberOptions) {
    assert(options.bytesPerSecondMax > 0, "scrub pace must be positive");
    this.#host = options.host;
    this.#store = options.store;
    this.#view = options.view;
    this.#placementGroupCount = options.placementGroupCount;
    this.#bytesPerSecondMax = options.bytesPerSecondMax;
    this.#pageShards = options.pageShards ?? 64;
    this.#askTimeoutMs = options.askTimeoutMs ?? 60_000;
  }

  /** One whole pass over the disk. */
  async scrubDisk(diskId: string, onProgress?: (soFar: ScrubProgress) => void): Promise<ScrubReport> {
    let checked = 0;
    let bytesChecked = 0;
    let corrupt = 0;
    let reported = 0;
    let unplaced = 0;
    let after: string | undefined;
    for (;;) {
      const page = await this.#scrubPage(diskId, after);
      checked += page.checked;
      bytesChecked += page.bytesChecked;
      corrupt += page.corrupt.length;
      for (const shardKey of page.corrupt) {
        if (await this.#report(diskId, shardKey)) reported += 1;
        else unplaced += 1;
      }
      onProgress?.({ checked, bytesChecked, corrupt });
      const delayMs = (page.bytesChecked / this.#bytesPerSecondMax) * 1000;
      if (delayMs >= 1) await this.#host.clock.sleep(Math.round(delayMs));
      if (page.next === undefined) break;
      after = page.next;
    }
    return { checked, bytesChecked, corrupt, reported, unplaced };
  }

  async #scrubPage(diskId: string, after: string | undefined): Promise<ScrubShardsReply> {
    const view = this.#view();
    const disk = view.diskRef(diskId);
    if (disk === undefined) throw new HealFault({ fault: "Unreachable", detail: `disk ${diskId} is not reachable now` });
    const reply = await this.#host.ask<DiskMessage, ScrubShardsReply | Fault>(
      disk,
      (replyTo) => ({
        kind: "ScrubShards",
        epoch: view.epoch,
        ...(after === undefined ? {} : { after }),
        countMax: this.#pageShards,
        // A page never reads more than a second's worth at the pace.
        bytesMax: Math.max(1, Math.floor(this.#bytesPerSecondMax)),
        replyTo,
      }),
      this.#askTimeoutMs,
    );
    if (isFault(reply)) throw new HealFault(reply);
    return reply;
  }

  /** Records a corrupt shard with the PG that indexes its data; false when none does. */
  async #report(diskId: string, shardKey: string): Promise<boolean> {
    const parsed = parseShardKey(shardKey);
    if (parsed === undefined) return false;
    const placementGroupId = await this.#placementGroupOf(parsed.dataId);
    if (placementGroupId === undefined) return false;
    const pg = this.#view().placementGroupRef(placementGroupId);
    if (pg === undefined) throw new HealFault({ fault: "Unreachable", detail: `placement group ${placementGroupId} is not hosted anywhere now` });
    let position = parsed.position;
    if (position === undefined) {
      // A replicated chunk: its copy number is the disk's place in the acting set.
      const acting = await this.#host.ask<PlacementGroupMessage, GetActingSetReply | Fault>(
        pg,
        (replyTo) => ({ kind: "GetActingSet", epoch: this.#view().epoch, replyTo }),
        this.#askTimeoutMs,
      );
      if (isFault(acting)) throw new HealFault(acting);
      position = acting.diskIds.indexOf(diskId);
      if (position < 0) return false;
    }
    const shardIndex = position;
    const recorded = await this.#host.ask<PlacementGroupMessage, RecordDamagedShardsReply | Fault>(
      pg,
      (replyTo) => ({
        kind: "RecordDamagedShards",
        epoch: this.#view().epoch,
        dataId: parsed.dataId,
        shards: [{ stripeIndex: parsed.unit, shardIndex, damage: "corrupt" }],
        replyTo,
      }),
      this.#askTimeoutMs,
    );
    if (isFault(recorded)) throw new HealFault(recorded);
    return true;
  }

  /** The PG whose index holds `dataId` (one read transaction over every PG's entry). */
  async #placementGroupOf(dataId: string): Promise<number | undefined> {
    return this.#store.transact(async (tx) => {
      for (let id = 0; id < this.#placementGroupCount; id += 1) {
        if ((await tx.get(placementGroupDataKey(id, dataId))) !== undefined) return id;
      }
      return undefined;
    });
  }
}
