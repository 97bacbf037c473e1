/**
 * The simple checks issue 7 names, over the same history as the
 * linearizability checker: each is a necessary condition for
 * linearizability that is checked in O(n log n) per key and, when it fails,
 * names the two operations that contradict each other. They run even where
 * the full search runs out of budget, and their messages are easier to act
 * on than a search trace.
 *
 * "Before" means strictly before in real time: A precedes B when A returned
 * before B was called (`A.returnMs < B.callMs`). Equal times overlap, as in
 * the linearizability checker. Writers are identified by value id, which is
 * unique per key (the workload writes fresh bytes for every PUT).
 */
import { assert } from "../../runtime/index.ts";
import { assertWellFormedHistory, describeOperation, operationIndicesByKey } from "./history.ts";
import type { GetOperation, History, HistoryOperation, PutOperation } from "./history.ts";

export type AnomalyKind =
  /** A read returned a value overwritten by an acknowledged put that completed before the read began. */
  | "stale-read"
  /** A read found the key absent although an acknowledged put completed before it and no delete could have followed that put. */
  | "lost-write"
  /** A read returned a value written before an acknowledged delete that completed before the read began. */
  | "resurrected-after-delete"
  /** A read returned a value no put of this key wrote. */
  | "phantom-read"
  /** A read returned a value whose put was definitely refused (400, 412). */
  | "refused-write-visible"
  /** A read returned a value whose put was sent only after the read had returned. */
  | "read-from-future";

/** Two operations that cannot both be true of a linearizable store. */
export interface Anomaly {
  readonly kind: AnomalyKind;
  readonly key: string;
  /** The read that saw what it should not have (index into the history). */
  readonly readIndex: number;
  /** The operation that makes the read wrong, when there is one (the overwriting put or delete, or the value's put). */
  readonly causeIndex: number | null;
  readonly message: string;
}

/** How many anomalies one check reports at most; the rest are counted, not listed. */
export const anomaliesMaxDefault = 100;

interface Write {
  readonly index: number;
  readonly callMs: number;
  readonly returnMs: number;
}

/**
 * Among `writes` (sorted by `returnMs`), answers "which write that completed
 * strictly before `timeMs` was called last?": the one that supersedes the
 * most. A prefix maximum over the sorted writes and a binary search.
 */
class LatestCompletedWrite {
  readonly #writes: Write[];
  readonly #bestUpTo: number[] = [];

  constructor(writes: Write[]) {
    this.#writes = [...writes].sort((a, b) => a.returnMs - b.returnMs);
    let best = -1;
    this.#writes.forEach((write, position) => {
      if (best === -1 || write.callMs > this.#writes[best]!.callMs) best = position;
      this.#bestUpTo.push(best);
    });
  }

  calledLastBefore(timeMs: number): Write | undefined {
    let low = 0;
    let high = this.#writes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#writes[middle]!.returnMs < timeMs) low = middle + 1;
      else high = middle;
    }
    return low === 0 ? undefined : this.#writes[this.#bestUpTo[low - 1]!];
  }
}

/**
 * Among `writes`, answers "of those called no later than `timeMs`, which
 * returned last?" (sorted by `callMs`, prefix maximum of `returnMs`).
 */
class LatestReturnAmongCalledBy {
  readonly #callMs: number[];
  readonly #returnMsMaxUpTo: number[] = [];

  constructor(writes: readonly Write[]) {
    const sorted = [...writes].sort((a, b) => a.callMs - b.callMs);
    this.#callMs = sorted.map((write) => write.callMs);
    let latestMs = -Infinity;
    for (const write of sorted) {
      latestMs = Math.max(latestMs, write.returnMs);
      this.#returnMsMaxUpTo.push(latestMs);
    }
  }

  latestReturnMs(timeMs: number): number {
    let low = 0;
    let high = this.#callMs.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#callMs[middle]! <= timeMs) low = middle + 1;
      else high = middle;
    }
    return low === 0 ? -Infinity : this.#returnMsMaxUpTo[low - 1]!;
  }
}

interface KeyView {
  readonly key: string;
  readonly reads: { readonly index: number; readonly operation: GetOperation }[];
  readonly putsByValue: Map<string, { readonly index: number; readonly operation: PutOperation }>;
  readonly acknowledgedPuts: LatestCompletedWrite;
  readonly acknowledgedDeletes: LatestCompletedWrite;
  /** Deletes that may have happened (ok or unknown). */
  readonly possibleDeletes: LatestReturnAmongCalledBy;
}

function keyViews(history: History): KeyView[] {
  assertWellFormedHistory(history);
  const views: KeyView[] = [];
  for (const [key, indices] of operationIndicesByKey(history)) {
    const reads: KeyView["reads"][number][] = [];
    const putsByValue: KeyView["putsByValue"] = new Map();
    const acknowledgedPuts: Write[] = [];
    const acknowledgedDeletes: Write[] = [];
    const possibleDeletes: Write[] = [];
    for (const index of indices) {
      const operation = history[index]!;
      const write = { index, callMs: operation.callMs, returnMs: operation.returnMs };
      switch (operation.kind) {
        case "get":
          if (operation.outcome !== "failed") reads.push({ index, operation });
          break;
        case "put":
          putsByValue.set(operation.valueId, { index, operation });
          if (operation.outcome === "ok") acknowledgedPuts.push(write);
          break;
        case "delete":
          if (operation.outcome === "ok") acknowledgedDeletes.push(write);
          if (operation.outcome !== "failed") possibleDeletes.push(write);
          break;
      }
    }
    views.push({
      key,
      reads,
      putsByValue,
      acknowledgedPuts: new LatestCompletedWrite(acknowledgedPuts),
      acknowledgedDeletes: new LatestCompletedWrite(acknowledgedDeletes),
      possibleDeletes: new LatestReturnAmongCalledBy(possibleDeletes),
    });
  }
  return views;
}

type Visitor = (history: History, view: KeyView, report: (anomaly: Anomaly) => void) => void;

/** Runs `visitors` over every key, building each key's view once; keeps the first `anomaliesMax` anomalies. */
function collect(history: History, anomaliesMax: number, visitors: readonly Visitor[]): Anomaly[] {
  assert(Number.isSafeInteger(anomaliesMax) && anomaliesMax > 0, `anomaliesMax must be a positive integer, got ${anomaliesMax}`);
  const found: Anomaly[] = [];
  const report = (anomaly: Anomaly): void => {
    if (found.length < anomaliesMax) found.push(anomaly);
  };
  for (const view of keyViews(history)) {
    for (const visit of visitors) visit(history, view, report);
  }
  return found;
}

const describe = (history: History, index: number): string => describeOperation(history[index]!, index);

/**
 * Every acknowledged write reads back until it is overwritten or deleted:
 * finds stale reads (a value read after an acknowledged put that followed its
 * writer completed) and lost writes (absent read after an acknowledged put
 * with no delete that could have come between).
 */
export function checkAcknowledgedWritesReadBack(history: History, anomaliesMax = anomaliesMaxDefault): Anomaly[] {
  return collect(history, anomaliesMax, [visitAcknowledgedWrites]);
}

function visitAcknowledgedWrites(history: History, view: KeyView, report: (anomaly: Anomaly) => void): void {
  for (const { index, operation } of view.reads) {
    if (operation.outcome === "found") {
      const writer = view.putsByValue.get(operation.valueId!);
      if (writer === undefined) continue; // checkReadsHaveWriter's finding.
      const overwrite = view.acknowledgedPuts.calledLastBefore(operation.callMs);
      if (overwrite !== undefined && writer.operation.returnMs < overwrite.callMs) {
        report({
          kind: "stale-read",
          key: view.key,
          readIndex: index,
          causeIndex: overwrite.index,
          message: `stale read on ${JSON.stringify(view.key)}: ${describe(history, index)} returned a value whose put ${describe(history, writer.index)} completed before ${describe(history, overwrite.index)} began, which completed before the read began`,
        });
      }
    } else {
      const put = view.acknowledgedPuts.calledLastBefore(operation.callMs);
      if (put === undefined) continue;
      // A delete explains the empty read if it could sit between the put
      // and the read: called no later than the read returned, returned no
      // earlier than the put was called.
      const explained = view.possibleDeletes.latestReturnMs(operation.returnMs) >= put.callMs;
      if (!explained) {
        report({
          kind: "lost-write",
          key: view.key,
          readIndex: index,
          causeIndex: put.index,
          message: `lost write on ${JSON.stringify(view.key)}: ${describe(history, index)} found the key absent, but ${describe(history, put.index)} completed before the read began and no delete could have come after it`,
        });
      }
    }
  }
}

/** No deleted object comes back: a read after an acknowledged delete completed never returns a value put before the delete began. */
export function checkDeletesStayDeleted(history: History, anomaliesMax = anomaliesMaxDefault): Anomaly[] {
  return collect(history, anomaliesMax, [visitDeletes]);
}

function visitDeletes(history: History, view: KeyView, report: (anomaly: Anomaly) => void): void {
  for (const { index, operation } of view.reads) {
    if (operation.outcome !== "found") continue;
    const writer = view.putsByValue.get(operation.valueId!);
    if (writer === undefined) continue;
    const deletion = view.acknowledgedDeletes.calledLastBefore(operation.callMs);
    if (deletion !== undefined && writer.operation.returnMs < deletion.callMs) {
      report({
        kind: "resurrected-after-delete",
        key: view.key,
        readIndex: index,
        causeIndex: deletion.index,
        message: `deleted value came back on ${JSON.stringify(view.key)}: ${describe(history, index)} returned the value of ${describe(history, writer.index)}, which completed before ${describe(history, deletion.index)} began, which completed before the read began`,
      });
    }
  }
}

/** Every value read was written by a put of the same key that was not refused and was sent before the read returned. */
export function checkReadsHaveWriter(history: History, anomaliesMax = anomaliesMaxDefault): Anomaly[] {
  return collect(history, anomaliesMax, [visitWriters]);
}

function visitWriters(history: History, view: KeyView, report: (anomaly: Anomaly) => void): void {
  for (const { index, operation } of view.reads) {
    if (operation.outcome !== "found") continue;
    const writer = view.putsByValue.get(operation.valueId!);
    const base = { key: view.key, readIndex: index };
    if (writer === undefined) {
      report({ ...base, kind: "phantom-read", causeIndex: null, message: `phantom read on ${JSON.stringify(view.key)}: ${describe(history, index)} returned a value no put of this key wrote` });
    } else if (writer.operation.outcome === "failed" || writer.operation.outcome === "precondition-failed") {
      report({
        ...base,
        kind: "refused-write-visible",
        causeIndex: writer.index,
        message: `refused write visible on ${JSON.stringify(view.key)}: ${describe(history, index)} returned the value of ${describe(history, writer.index)}, which was refused`,
      });
    } else if (writer.operation.callMs > operation.returnMs) {
      report({
        ...base,
        kind: "read-from-future",
        causeIndex: writer.index,
        message: `read from the future on ${JSON.stringify(view.key)}: ${describe(history, index)} returned the value of ${describe(history, writer.index)}, sent after the read returned`,
      });
    }
  }
}

/** All the simple checks in one pass over each key (per key: writers, then read-back, then deletes). */
export function checkHistoryAnomalies(history: History, anomaliesMax = anomaliesMaxDefault): Anomaly[] {
  return collect(history, anomaliesMax, [visitWriters, visitAcknowledgedWrites, visitDeletes]);
}

/** The anomaly's message (it already names both operations). */
export function formatAnomaly(anomaly: Anomaly): string {
  return `${anomaly.kind}: ${anomaly.message}`;
}

/** The read and its cause, for a caller that wants the records rather than the message. */
export function anomalyOperations(history: History, anomaly: Anomaly): { read: HistoryOperation; cause: HistoryOperation | null } {
  return { read: history[anomaly.readIndex]!, cause: anomaly.causeIndex === null ? null : history[anomaly.causeIndex]! };
}
