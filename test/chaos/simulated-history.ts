/**
 * Histories with a known answer, for testing the checkers. `simulateHistory`
 * runs a real sequential register per key and gives every operation a
 * linearization point inside its [call, return] interval, so what it makes is
 * linearizable by construction, with overlapping clients, timeouts whose
 * write lands later or never, refused writes and conditional puts.
 * `breakOneRead` then changes one read to something no order can explain.
 */
import { assert } from "../../runtime/index.ts";
import type { Random } from "../../runtime/index.ts";
import type { GetOperation, HistoryOperation, PutOperation } from "./history.ts";

export interface SimulationOptions {
  readonly operationCount: number;
  readonly keyCount: number;
  readonly clientCount: number;
  /** Fractions of the operation mix; the rest are gets. */
  readonly putShare: number;
  readonly deleteShare: number;
  /** Fraction of puts sent with If-None-Match: *. */
  readonly conditionalShare: number;
  /** Fraction of puts and deletes whose answer never arrives (they take effect, later, half the time). */
  readonly unknownShare: number;
  /** Fraction of puts refused outright (400) and of gets that fail. */
  readonly failedShare: number;
}

export const defaultSimulationOptions: SimulationOptions = {
  operationCount: 200,
  keyCount: 4,
  clientCount: 8,
  putShare: 0.4,
  deleteShare: 0.1,
  conditionalShare: 0.15,
  unknownShare: 0.05,
  failedShare: 0.03,
};

// How long a client waits before it gives an operation up as unknown.
const clientTimeoutMs = 40;

interface Planned {
  readonly key: string;
  readonly clientId: number;
  readonly callMs: number;
  readonly returnMs: number;
  readonly kind: "put" | "get" | "delete";
  readonly valueId: string;
  readonly ifNoneMatch: boolean;
  /** When it takes effect; null when it never does (refused, failed, or a timed-out write that was lost). */
  readonly effectMs: number | null;
  readonly unknown: boolean;
}

/** A linearizable history of `operationCount` operations; every choice comes from `random`. */
export function simulateHistory(random: Random, options: Partial<SimulationOptions> = {}): HistoryOperation[] {
  const settings = { ...defaultSimulationOptions, ...options };
  assert(settings.clientCount > 0 && settings.keyCount > 0 && settings.operationCount >= 0, "simulateHistory: positive client and key counts");
  const freeAtMs = new Array<number>(settings.clientCount).fill(0);
  const planned: Planned[] = [];
  for (let sequence = 0; sequence < settings.operationCount; sequence += 1) {
    // The client that has been idle longest goes next, so all of them stay busy and overlap.
    let clientId = 0;
    for (let candidate = 1; candidate < settings.clientCount; candidate += 1) if (freeAtMs[candidate]! < freeAtMs[clientId]!) clientId = candidate;
    const key = `key-${random.integer(settings.keyCount)}`;
    const draw = random.next();
    const kind = draw < settings.putShare ? "put" : draw < settings.putShare + settings.deleteShare ? "delete" : "get";
    const callMs = freeAtMs[clientId]! + random.next() * 5;
    const unknown = kind !== "get" && random.next() < settings.unknownShare;
    const failed = !unknown && kind !== "delete" && random.next() < settings.failedShare;
    let returnMs: number;
    let effectMs: number | null;
    if (unknown) {
      // The client gives up; the write lands at some time, possibly long after, or never.
      returnMs = Infinity;
      effectMs = random.next() < 0.5 ? callMs + random.next() * 4 * clientTimeoutMs : null;
      freeAtMs[clientId] = callMs + clientTimeoutMs;
    } else {
      const latencyMs = random.next() * 20;
      effectMs = failed ? null : callMs + random.next() * latencyMs;
      returnMs = callMs + latencyMs;
      freeAtMs[clientId] = returnMs;
    }
    planned.push({
      key,
      clientId,
      callMs,
      returnMs,
      kind,
      valueId: `v${sequence}`,
      ifNoneMatch: kind === "put" && random.next() < settings.conditionalShare,
      effectMs,
      unknown,
    });
  }
  // Run the sequential register in effect order to learn what each read saw
  // and which conditional puts won.
  const order = planned.map((_, index) => index).filter((index) => planned[index]!.effectMs !== null);
  order.sort((a, b) => planned[a]!.effectMs! - planned[b]!.effectMs! || a - b);
  const registers = new Map<string, string | null>();
  const observed = new Map<number, string | null>();
  const applied = new Set<number>();
  for (const index of order) {
    const operation = planned[index]!;
    const held = registers.get(operation.key) ?? null;
    observed.set(index, held);
    if (operation.kind === "put" && (!operation.ifNoneMatch || held === null)) {
      registers.set(operation.key, operation.valueId);
      applied.add(index);
    }
    if (operation.kind === "delete") registers.set(operation.key, null);
  }
  return planned.map((operation, index): HistoryOperation => {
    const times = { key: operation.key, clientId: operation.clientId, callMs: operation.callMs, returnMs: operation.returnMs };
    const tookEffect = operation.effectMs !== null;
    switch (operation.kind) {
      case "get": {
        const held = observed.get(index);
        if (!tookEffect || held === undefined) return { ...times, kind: "get", outcome: "failed", valueId: null };
        return held === null ? { ...times, kind: "get", outcome: "absent", valueId: null } : { ...times, kind: "get", outcome: "found", valueId: held };
      }
      case "put": {
        const outcome: PutOperation["outcome"] = operation.unknown ? "unknown" : !tookEffect ? "failed" : applied.has(index) ? "ok" : "precondition-failed";
        return { ...times, kind: "put", valueId: operation.valueId, ifNoneMatch: operation.ifNoneMatch, outcome };
      }
      case "delete":
        return { ...times, kind: "delete", outcome: operation.unknown ? "unknown" : "ok" };
    }
  });
}

/** What `breakOneRead` changed, for the failure message. */
export interface BrokenRead {
  readonly history: HistoryOperation[];
  readonly readIndex: number;
  readonly change: string;
}

/**
 * Changes one read so that no linearization can exist: a value nobody wrote,
 * a value whose put was sent after the read returned, a value overwritten
 * by an acknowledged put or delete that completed before the read began
 * (its own put having completed before that), or absent after an
 * acknowledged put with no delete that could come between. Returns null when
 * the history has no read to break.
 */
export function breakOneRead(history: readonly HistoryOperation[], random: Random): BrokenRead | null {
  const reads = history.map((operation, index) => ({ operation, index })).filter(({ operation }) => operation.kind === "get" && operation.outcome !== "failed");
  if (reads.length === 0) return null;
  const { operation, index } = reads[random.integer(reads.length)]! as { operation: GetOperation; index: number };
  const sameKey = history.filter((other) => other.key === operation.key);
  const puts = sameKey.filter((other): other is PutOperation => other.kind === "put");
  const choices: { kind: string; valueId: string | null; change: string }[] = [{ kind: "phantom", valueId: `never-written-${index}`, change: "a value nobody wrote" }];
  for (const put of puts) {
    if (put.callMs > operation.returnMs) choices.push({ kind: "future", valueId: put.valueId, change: `the value of a put sent after the read returned (${put.valueId})` });
    if (put.outcome === "failed" || put.outcome === "precondition-failed") choices.push({ kind: "refused", valueId: put.valueId, change: `the value of a refused put (${put.valueId})` });
  }
  const superseding = sameKey.filter(
    (other) => other.returnMs < operation.callMs && ((other.kind === "put" && other.outcome === "ok") || (other.kind === "delete" && other.outcome === "ok")),
  );
  for (const put of puts) {
    if (put.outcome !== "ok" && put.outcome !== "unknown") continue;
    const over = superseding.find((other) => other !== put && put.returnMs < other.callMs);
    if (over !== undefined) choices.push({ kind: `superseded-by-${over.kind}`, valueId: put.valueId, change: `a value (${put.valueId}) superseded by a ${over.kind} that completed before the read began` });
  }
  const lastPut = superseding.filter((other) => other.kind === "put").sort((a, b) => b.callMs - a.callMs)[0];
  const deleteCouldFollow = lastPut !== undefined && sameKey.some((other) => other.kind === "delete" && other.outcome !== "failed" && other.callMs <= operation.returnMs && other.returnMs >= lastPut.callMs);
  if (lastPut !== undefined && !deleteCouldFollow) choices.push({ kind: "lost", valueId: null, change: "absent after an acknowledged put no delete could follow" });
  const usable = choices.filter((choice) => choice.valueId !== (operation.outcome === "found" ? operation.valueId : null));
  // Pick the kind of change first, then one of its values, so that common
  // kinds (there are many later puts) do not crowd out rare ones.
  const kinds = [...new Set(usable.map((choice) => choice.kind))];
  const kind = kinds[random.integer(kinds.length)]!;
  const ofKind = usable.filter((choice) => choice.kind === kind);
  const choice = ofKind[random.integer(ofKind.length)]!;
  const broken: GetOperation =
    choice.valueId === null ? { ...operation, outcome: "absent", valueId: null } : { ...operation, outcome: "found", valueId: choice.valueId };
  const copy = [...history];
  copy[index] = broken;
  return { history: copy, readIndex: index, change: choice.change };
}
