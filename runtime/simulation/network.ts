/**
 * The simulated network between the nodes of a `SimulatedWorld`.
 *
 * Every message between two nodes draws, from its link's own seeded stream,
 * whether it is lost and how long it takes. Delivery per ordered pair of
 * nodes is FIFO (a WebSocket is ordered): a message never overtakes one sent
 * before it on the same link, so its arrival is at least the previous one's;
 * a lost message leaves a gap, never a reordering. Partitions cut links in
 * both directions; a message in flight when its link is cut is lost.
 *
 * Like the real transport, a sender learns that a link is down only after a
 * grace (`unreachableGraceMs`): before it, messages over a cut link vanish
 * (an ask then times out); after it, they are refused at once and come back
 * to the sender as undeliverable (an ask resolves to `Unreachable`), and
 * asks already waiting across the cut give up with `Unreachable` at the end of
 * the grace.
 */
import { assert } from "../assert.ts";
import type { Random } from "../behavior.ts";
import type { NodeId } from "../ref.ts";

/** Draws one message's delay in milliseconds. */
export type DelayDistribution = (random: Random) => number;

/** Whole milliseconds, uniform in `[minMs, maxMs]`. */
export function uniformDelay(minMs: number, maxMs: number): DelayDistribution {
  assert(Number.isSafeInteger(minMs) && minMs >= 0 && Number.isSafeInteger(maxMs) && maxMs >= minMs, `uniformDelay: need integers 0 <= minMs <= maxMs, got ${minMs}, ${maxMs}`);
  return (random) => minMs + random.integer(maxMs - minMs + 1);
}

/**
 * Whole milliseconds: `minMs` plus an exponential tail of mean `tailMeanMs`,
 * capped at `maxMs`. Most messages are quick and a few are very late, which
 * is what finds timeout bugs.
 */
export function longTailDelay(minMs: number, tailMeanMs: number, maxMs: number): DelayDistribution {
  assert(Number.isFinite(minMs) && minMs >= 0 && tailMeanMs > 0 && maxMs >= minMs, `longTailDelay: need 0 <= minMs <= maxMs and tailMeanMs > 0`);
  return (random) => Math.min(maxMs, minMs + Math.floor(-Math.log(1 - random.next()) * tailMeanMs));
}

export interface NetworkOptions {
  readonly delay: DelayDistribution;
  /** Probability in [0, 1] that a message is lost. */
  readonly dropProbability: number;
  /** Probability in [0, 1] that a delivered message is delivered twice. Off by default: a WebSocket does not duplicate. */
  readonly duplicateProbability: number;
  /** How long a link must have been cut before senders are refused at once instead of losing messages silently. */
  readonly unreachableGraceMs: number;
}

export const defaultNetworkOptions: NetworkOptions = {
  delay: uniformDelay(1, 10),
  dropProbability: 0,
  duplicateProbability: 0,
  unreachableGraceMs: 1_000,
};

/** Counters since the world started. */
export interface NetworkStats {
  sent: number;
  delivered: number;
  /** Lost to `dropProbability`. */
  dropped: number;
  /** Lost to a partition (cut before the grace ran out, or cut while in flight). */
  cut: number;
  /** Refused at once because the link had been cut longer than the grace. */
  refused: number;
  duplicated: number;
}

/** What the network needs from its world. */
export interface NetworkServices {
  /** Simulated milliseconds since the world started. */
  elapsedMs(): number;
  schedule(delayMs: number, label: string, run: () => void): void;
  /** A seeded stream for `label`, the same for the same world seed and label. */
  random(label: string): Random;
  /** Every node of the world, for links cut by `isolate`. */
  nodeIds(): readonly NodeId[];
  /** The link between `a` and `b` has been cut for the whole grace: asks waiting across it give up. */
  linkDown(a: NodeId, b: NodeId): void;
}

export class SimulatedNetwork {
  readonly #services: NetworkServices;
  #options: NetworkOptions;
  /** Cut links (unordered pair key) and since when, in elapsed ms. */
  readonly #cuts = new Map<string, number>();
  /** Nodes cut from every other node, and since when. */
  readonly #isolated = new Map<NodeId, number>();
  /** Arrival time of the latest message on each ordered link, which the next one may not precede. */
  readonly #lastArrivalMs = new Map<string, number>();
  readonly #links = new Map<string, Random>();
  readonly #stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, cut: 0, refused: 0, duplicated: 0 };

  constructor(services: NetworkServices, options: Partial<NetworkOptions> = {}) {
    this.#services = services;
    this.#options = checkOptions({ ...defaultNetworkOptions, ...options });
  }

  options(): NetworkOptions {
    return this.#options;
  }

  /** Changes delay, loss or duplication from now on; messages already in flight keep theirs. */
  configure(options: Partial<NetworkOptions>): void {
    this.#options = checkOptions({ ...this.#options, ...options });
  }

  /** Cuts every link between a node of `groupA` and a node of `groupB`, both ways. Cuts add up until `heal`. */
  partition(groupA: readonly NodeId[], groupB: readonly NodeId[]): void {
    const nowMs = this.#services.elapsedMs();
    for (const a of groupA) {
      for (const b of groupB) {
        if (a === b) continue;
        const key = pairKey(a, b);
        if (this.#cuts.has(key)) continue;
        this.#cuts.set(key, nowMs);
        this.#afterGrace(a, b);
      }
    }
  }

  /** Cuts `nodeId` from every other node, including nodes added later. */
  isolate(nodeId: NodeId): void {
    if (this.#isolated.has(nodeId)) return;
    this.#isolated.set(nodeId, this.#services.elapsedMs());
    for (const other of this.#services.nodeIds()) if (other !== nodeId) this.#afterGrace(nodeId, other);
  }

  /** Restores every link. */
  heal(): void {
    this.#cuts.clear();
    this.#isolated.clear();
  }

  connected(a: NodeId, b: NodeId): boolean {
    return this.#cutSinceMs(a, b) === undefined;
  }

  stats(): Readonly<NetworkStats> {
    return { ...this.#stats };
  }

  /**
   * Sends one message from node `from` to node `to`. `arrive` runs when it is
   * delivered (maybe twice, with duplication on); `refuse` runs at once when
   * the link has been known down past the grace. A lost message runs neither.
   */
  send(from: NodeId, to: NodeId, arrive: () => void, refuse: () => void): void {
    assert(from !== to, "SimulatedNetwork.send: a node's messages to itself do not use the network");
    this.#stats.sent += 1;
    const nowMs = this.#services.elapsedMs();
    const cutSinceMs = this.#cutSinceMs(from, to);
    if (cutSinceMs !== undefined) {
      if (nowMs - cutSinceMs >= this.#options.unreachableGraceMs) {
        this.#stats.refused += 1;
        this.#services.schedule(0, "refuse", refuse);
      } else {
        this.#stats.cut += 1;
      }
      return;
    }
    const link = `${from}>${to}`;
    const random = this.#link(link);
    if (random.next() < this.#options.dropProbability) {
      this.#stats.dropped += 1;
      return;
    }
    const copies = random.next() < this.#options.duplicateProbability ? 2 : 1;
    if (copies === 2) this.#stats.duplicated += 1;
    for (let copy = 0; copy < copies; copy += 1) {
      const delayMs = this.#options.delay(random);
      assert(Number.isFinite(delayMs) && delayMs >= 0, `network delay must be finite and >= 0, got ${delayMs}`);
      const arrivalMs = Math.max(nowMs + delayMs, this.#lastArrivalMs.get(link) ?? 0);
      this.#lastArrivalMs.set(link, arrivalMs);
      this.#services.schedule(arrivalMs - nowMs, "deliver", () => {
        // A cut while the message was on the wire loses it, as a broken connection would.
        if (!this.connected(from, to)) {
          this.#stats.cut += 1;
          return;
        }
        this.#stats.delivered += 1;
        arrive();
      });
    }
  }

  /** Once the grace has passed, tells the world the link is down if it has stayed cut all along. */
  #afterGrace(a: NodeId, b: NodeId): void {
    const graceMs = this.#options.unreachableGraceMs;
    this.#services.schedule(graceMs, "link-down", () => {
      const since = this.#cutSinceMs(a, b);
      if (since !== undefined && this.#services.elapsedMs() - since >= graceMs) this.#services.linkDown(a, b);
    });
  }

  #link(link: string): Random {
    let random = this.#links.get(link);
    if (random === undefined) {
      // One stream per link: traffic on one link does not shift another's draws.
      random = this.#services.random(`link:${link}`);
      this.#links.set(link, random);
    }
    return random;
  }

  #cutSinceMs(a: NodeId, b: NodeId): number | undefined {
    let since: number | undefined;
    for (const candidate of [this.#cuts.get(pairKey(a, b)), this.#isolated.get(a), this.#isolated.get(b)]) {
      if (candidate !== undefined && (since === undefined || candidate < since)) since = candidate;
    }
    return since;
  }
}

function pairKey(a: NodeId, b: NodeId): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function checkOptions(options: NetworkOptions): NetworkOptions {
  assert(options.dropProbability >= 0 && options.dropProbability <= 1, `dropProbability must be in [0, 1], got ${options.dropProbability}`);
  assert(
    options.duplicateProbability >= 0 && options.duplicateProbability <= 1,
    `duplicateProbability must be in [0, 1], got ${options.duplicateProbability}`,
  );
  assert(Number.isFinite(options.unreachableGraceMs) && options.unreachableGraceMs >= 0, "unreachableGraceMs must be finite and >= 0");
  return options;
}
