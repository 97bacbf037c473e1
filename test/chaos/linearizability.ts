/**
 * Is each key's history linearizable? The model is an S3 key as a register
 * with delete: a put sets it, a delete empties it, a get returns what it
 * holds, and a put with `If-None-Match: *` sets it only when it is empty
 * (412 otherwise).
 *
 * The search is Wing & Gong's, with Lowe's memoization, as Porcupine runs it
 * (Horn & Kroening, "Faster linearizability checking via
 * P-compositionality"): keys are independent objects, so each key is checked
 * on its own (the locality of linearizability), which turns one search over
 * N operations into many small ones. Within a key, the call and return events
 * sit in one time-ordered list; the search repeatedly picks an operation
 * whose call comes before the first remaining return, applies it to the
 * model, removes it from the list, and backtracks when it meets a return it
 * cannot pass. A (set of linearized operations, model state) pair already
 * explored is never explored again.
 *
 * Bounds: a key with more than `operationsPerKeyMax` operations is not
 * searched, and every search stops after `stepsPerKeyMax` steps (and all of
 * them after `stepsTotalMax`), or when its cache of explored states passes
 * `cacheBytesPerKeyMax`; a search that stops early answers "unknown", never
 * "ok".
 *
 * Two events at the same time count as overlapping (a call sorts before a
 * return at the same instant), so a coarse clock can hide a violation but
 * never invent one.
 */
import { assert } from "../../runtime/index.ts";
import { assertWellFormedHistory, describeOperation, operationIndicesByKey } from "./history.ts";
import type { History, HistoryOperation } from "./history.ts";

/** Limits on the search; every one of them turns into an "unknown" answer when hit. */
export interface LinearizabilityOptions {
  /** A key with more operations than this (after pruning) is not searched. */
  readonly operationsPerKeyMax: number;
  /** Search steps one key may take. */
  readonly stepsPerKeyMax: number;
  /** Search steps all keys together may take. */
  readonly stepsTotalMax: number;
  /** Bytes one key's cache of explored (set, state) pairs may hold. */
  readonly cacheBytesPerKeyMax: number;
  /**
   * On keys without conditional puts, drop writes of unknown outcome nobody
   * can have observed: a put whose value nobody read, and a delete after
   * whose call no read returned absent. Such a write can always be
   * linearized last (its return is at infinity), where it changes nothing;
   * and taking it out of any linearization leaves every other operation's
   * answer right (no read sat between it and the next write, since none
   * could see its effect). So the answer is the same with or without it,
   * and dropping it keeps each client timeout from multiplying the search.
   */
  readonly pruneUnobservedUnknownWrites: boolean;
}

// A step is about a microsecond, so the defaults bound one key to a couple
// of seconds and a whole history to tens of seconds; a history built as
// the README advises needs a few steps per operation.
export const defaultLinearizabilityOptions: LinearizabilityOptions = {
  operationsPerKeyMax: 10_000,
  stepsPerKeyMax: 2_000_000,
  stepsTotalMax: 20_000_000,
  cacheBytesPerKeyMax: 256 * 1024 * 1024,
  pruneUnobservedUnknownWrites: true,
};

/** The register's contents as a human reads them: `absent` or a value id. */
export type RegisterState = { readonly kind: "absent" } | { readonly kind: "value"; readonly valueId: string };

/** One operation in the longest order the search could build, with the register after it. */
export interface PlacedOperation {
  /** Index in the whole history. */
  readonly index: number;
  readonly operation: HistoryOperation;
  readonly stateAfter: RegisterState;
}

/** An operation that could have come next after the longest prefix, and why it did not continue the order. */
export interface BlockedOperation {
  readonly index: number;
  readonly operation: HistoryOperation;
  /** True when the model accepts it here but every continuation after it failed. */
  readonly fitsHere: boolean;
  readonly reason: string;
}

/** Why a key is not linearizable, in the terms Porcupine prints: how far an order got and what stopped it. */
export interface ViolationExplanation {
  /** The longest linearizable prefix the search found (real-time order respected). */
  readonly prefix: readonly PlacedOperation[];
  readonly stateAfterPrefix: RegisterState;
  /** Every operation that could be linearized next after the prefix; none of them leads to a full order. */
  readonly blocked: readonly BlockedOperation[];
  /** Operations of this key the search had to place (after pruning). */
  readonly operationCount: number;
}

/** The answer for one key. */
export type KeyVerdict =
  | { readonly verdict: "ok"; readonly key: string; readonly operationCount: number; readonly steps: number }
  | { readonly verdict: "violation"; readonly key: string; readonly operationCount: number; readonly steps: number; readonly explanation: ViolationExplanation }
  | {
      readonly verdict: "unknown";
      readonly key: string;
      readonly operationCount: number;
      readonly steps: number;
      readonly reason: "operation-limit" | "step-budget" | "total-step-budget" | "cache-limit";
    };

/** The answer for a whole history: a violation on any key wins, then unknown on any key, else ok. */
export interface LinearizabilityReport {
  readonly verdict: "ok" | "violation" | "unknown";
  /** One verdict per key, sorted by key. */
  readonly keys: readonly KeyVerdict[];
  readonly steps: number;
}

/** Checks every key of `history` separately; never answers "ok" unless every key was searched to the end. */
export function checkLinearizability(history: History, options: Partial<LinearizabilityOptions> = {}): LinearizabilityReport {
  const limits = { ...defaultLinearizabilityOptions, ...options };
  assertLimits(limits);
  assertWellFormedHistory(history);
  const byKey = operationIndicesByKey(history);
  const keys: KeyVerdict[] = [];
  let steps = 0;
  for (const key of [...byKey.keys()].sort()) {
    const stepsLeft = limits.stepsTotalMax - steps;
    const verdict = checkKey(history, key, byKey.get(key)!, limits, stepsLeft);
    steps += verdict.steps;
    keys.push(verdict);
  }
  const verdict = keys.some((key) => key.verdict === "violation") ? "violation" : keys.some((key) => key.verdict === "unknown") ? "unknown" : "ok";
  return { verdict, keys, steps };
}

/** Checks the operations of `key` alone (the other keys' operations are ignored). */
export function checkKeyLinearizability(history: History, key: string, options: Partial<LinearizabilityOptions> = {}): KeyVerdict {
  const limits = { ...defaultLinearizabilityOptions, ...options };
  assertLimits(limits);
  assertWellFormedHistory(history);
  const indices = operationIndicesByKey(history).get(key) ?? [];
  return checkKey(history, key, indices, limits, limits.stepsTotalMax);
}

function assertLimits(limits: LinearizabilityOptions): void {
  for (const name of ["operationsPerKeyMax", "stepsPerKeyMax", "stepsTotalMax", "cacheBytesPerKeyMax"] as const) {
    assert(Number.isSafeInteger(limits[name]) && limits[name] > 0, `checkLinearizability: ${name} must be a positive integer, got ${limits[name]}`);
  }
}

// Model operations, after the outcome has been folded into the kind.
const opGet = 0; // value 0 = read absent
const opPut = 1; // unconditional put, ok or unknown: sets the register
const opPutIfAbsent = 2; // conditional put answered 200: needs an empty register
const opPutIfAbsentRefused = 3; // conditional put answered 412: needs a full register, changes nothing
const opPutIfAbsentUnknown = 4; // conditional put without an answer: sets the register only if empty
const opDelete = 5; // delete, ok or unknown: empties the register

const absentState = 0;
const refused = -1;

/** The sequential specification: the state after `kind(value)` from `state`, or `refused`. */
function stepModel(kind: number, value: number, state: number): number {
  switch (kind) {
    case opGet:
      return value === state ? state : refused;
    case opPut:
      return value;
    case opPutIfAbsent:
      return state === absentState ? value : refused;
    case opPutIfAbsentRefused:
      return state === absentState ? refused : state;
    case opPutIfAbsentUnknown:
      return state === absentState ? value : state;
    case opDelete:
      return absentState;
    default:
      throw new Error(`stepModel: unknown kind ${kind}`);
  }
}

/** The operations of one key the search must place, as dense arrays. */
interface KeyProblem {
  /** History index of each operation. */
  readonly indices: number[];
  readonly kinds: Int32Array;
  /** Interned value per operation (0 = absent); a value nobody put gets an id nothing can produce. */
  readonly values: Int32Array;
  readonly valueNames: string[];
  /** Values some put of this key wrote (a read of anything else is a phantom). */
  readonly written: ReadonlySet<string>;
}

function buildProblem(history: History, indices: readonly number[], prune: boolean): KeyProblem {
  const valueIds = new Map<string, number>();
  const valueNames = ["(absent)"];
  const intern = (valueId: string): number => {
    let id = valueIds.get(valueId);
    if (id === undefined) {
      id = valueNames.length;
      valueIds.set(valueId, id);
      valueNames.push(valueId);
    }
    return id;
  };
  const read = new Set<string>();
  const written = new Set<string>();
  let conditional = false;
  let lastAbsentReadReturnMs = -Infinity;
  for (const index of indices) {
    const operation = history[index]!;
    if (operation.kind === "get" && operation.outcome === "found") read.add(operation.valueId!);
    if (operation.kind === "get" && operation.outcome === "absent") lastAbsentReadReturnMs = Math.max(lastAbsentReadReturnMs, operation.returnMs);
    if (operation.kind === "put") written.add(operation.valueId);
    if (operation.kind === "put" && operation.ifNoneMatch) conditional = true;
  }
  const kept: number[] = [];
  const kinds: number[] = [];
  const values: number[] = [];
  for (const index of indices) {
    const operation = history[index]!;
    switch (operation.kind) {
      case "get":
        // A failed read tells nothing; an empty read is a read of state 0.
        if (operation.outcome === "failed") continue;
        kept.push(index);
        kinds.push(opGet);
        values.push(operation.outcome === "found" ? intern(operation.valueId!) : absentState);
        break;
      case "put": {
        // A definite refusal (400, or any non-412 refusal) did not happen.
        if (operation.outcome === "failed") continue;
        if (prune && !conditional && operation.outcome === "unknown" && !read.has(operation.valueId)) continue;
        kept.push(index);
        values.push(intern(operation.valueId));
        if (!operation.ifNoneMatch) kinds.push(opPut);
        else kinds.push(operation.outcome === "ok" ? opPutIfAbsent : operation.outcome === "precondition-failed" ? opPutIfAbsentRefused : opPutIfAbsentUnknown);
        break;
      }
      case "delete":
        if (operation.outcome === "failed") continue;
        // Strictly before: a read returning at the instant of the call may still follow the delete.
        if (prune && !conditional && operation.outcome === "unknown" && lastAbsentReadReturnMs < operation.callMs) continue;
        kept.push(index);
        kinds.push(opDelete);
        values.push(absentState);
        break;
    }
  }
  // Returned operations first, in call order, then pending ones: the
  // numbering StateCache's compact records rely on (see there).
  const order = kept.map((_, position) => position);
  const sortKey = (position: number): [number, number] => {
    const operation = history[kept[position]!]!;
    return [operation.returnMs === Infinity ? 1 : 0, operation.callMs];
  };
  order.sort((a, b) => {
    const [pendingA, callA] = sortKey(a);
    const [pendingB, callB] = sortKey(b);
    return pendingA - pendingB || callA - callB || a - b;
  });
  return {
    indices: order.map((position) => kept[position]!),
    kinds: Int32Array.from(order, (position) => kinds[position]!),
    values: Int32Array.from(order, (position) => values[position]!),
    valueNames,
    written,
  };
}

function checkKey(history: History, key: string, allIndices: readonly number[], limits: LinearizabilityOptions, stepsTotalLeft: number): KeyVerdict {
  const problem = buildProblem(history, allIndices, limits.pruneUnobservedUnknownWrites);
  const operationCount = problem.indices.length;
  if (operationCount > limits.operationsPerKeyMax) return { verdict: "unknown", key, operationCount, steps: 0, reason: "operation-limit" };
  const stepsMax = Math.min(limits.stepsPerKeyMax, Math.max(0, stepsTotalLeft));
  const outcome = search(history, problem, stepsMax, limits.cacheBytesPerKeyMax);
  switch (outcome.kind) {
    case "ok":
      return { verdict: "ok", key, operationCount, steps: outcome.steps };
    case "out-of-memory":
      return { verdict: "unknown", key, operationCount, steps: outcome.steps, reason: "cache-limit" };
    case "out-of-steps":
      return { verdict: "unknown", key, operationCount, steps: outcome.steps, reason: stepsMax < limits.stepsPerKeyMax ? "total-step-budget" : "step-budget" };
    case "violation":
      return { verdict: "violation", key, operationCount, steps: outcome.steps, explanation: explain(history, problem, outcome.longestPrefix) };
  }
}

type SearchOutcome =
  | { readonly kind: "ok"; readonly steps: number }
  | { readonly kind: "out-of-steps"; readonly steps: number }
  | { readonly kind: "out-of-memory"; readonly steps: number }
  | { readonly kind: "violation"; readonly steps: number; readonly longestPrefix: Int32Array };

/**
 * Wing & Gong's search with Lowe's cache. Events are numbered 2·op (call)
 * and 2·op+1 (return) and threaded on a doubly linked list in time order, so
 * placing an operation unlinks its two events in O(1) and backtracking links
 * them back in reverse order.
 */
function search(history: History, problem: KeyProblem, stepsMax: number, cacheBytesMax: number): SearchOutcome {
  const count = problem.indices.length;
  const callMs = new Float64Array(count);
  const returnMs = new Float64Array(count);
  problem.indices.forEach((index, op) => {
    callMs[op] = history[index]!.callMs;
    returnMs[op] = history[index]!.returnMs;
  });
  const timeOf = (event: number): number => ((event & 1) === 0 ? callMs[event >> 1]! : returnMs[event >> 1]!);
  const events = Array.from({ length: 2 * count }, (_, event) => event);
  // Calls before returns at the same instant: equal times overlap.
  events.sort((a, b) => timeOf(a) - timeOf(b) || (a & 1) - (b & 1) || a - b);

  const head = 2 * count;
  const next = new Int32Array(2 * count + 1).fill(-1);
  const previous = new Int32Array(2 * count + 1).fill(-1);
  let last = head;
  for (const event of events) {
    next[last] = event;
    previous[event] = last;
    last = event;
  }
  const unlink = (event: number): void => {
    next[previous[event]!] = next[event]!;
    if (next[event]! !== -1) previous[next[event]!] = previous[event]!;
  };
  const relink = (event: number): void => {
    next[previous[event]!] = event;
    if (next[event]! !== -1) previous[next[event]!] = event;
  };

  const cache = new StateCache(count);
  const stackOps = new Int32Array(count);
  const stackStates = new Int32Array(count);
  let depth = 0;
  // The deepest stack so far is copied out only when the search backtracks
  // from it: a search that succeeds never needs it, and copying at every new
  // depth would cost O(n²) on a long key.
  let longestPrefix = new Int32Array(0);
  let deepest = 0;
  let state = absentState;
  let steps = 0;
  let event = next[head]!;
  while (next[head]! !== -1) {
    if (steps >= stepsMax) return { kind: "out-of-steps", steps };
    steps += 1;
    assert(event !== -1, "linearizability search ran off the event list");
    const op = event >> 1;
    if ((event & 1) === 0) {
      const after = stepModel(problem.kinds[op]!, problem.values[op]!, state);
      if (after !== refused && cache.insertWith(op, after)) {
        if (cache.bytes > cacheBytesMax) return { kind: "out-of-memory", steps };
        stackOps[depth] = op;
        stackStates[depth] = state;
        depth += 1;
        deepest = Math.max(deepest, depth);
        state = after;
        unlink(2 * op);
        unlink(2 * op + 1);
        event = next[head]!;
      } else {
        event = next[event]!;
      }
    } else {
      // The first remaining return: its operation was not placed before it,
      // so the last placement was wrong.
      if (depth === deepest && depth > longestPrefix.length) longestPrefix = stackOps.slice(0, depth);
      if (depth === 0) return { kind: "violation", steps, longestPrefix };
      depth -= 1;
      const undone = stackOps[depth]!;
      state = stackStates[depth]!;
      cache.remove(undone);
      relink(2 * undone + 1);
      relink(2 * undone);
      event = next[2 * undone]!;
    }
  }
  return { kind: "ok", steps };
}

/**
 * The set of (linearized operations, state) pairs already explored.
 *
 * The current set is a bitset with an incremental Zobrist hash (one random
 * 53-bit mask per operation, XORed in and out). A record stores the set
 * exactly, so a hash collision is told apart: a false "seen" would prune a
 * live branch and invent a violation. Operations are numbered returned ones
 * first, in call order, then the pending ones, so the set is almost always
 * "every operation below `lead`" plus a few beyond it (the concurrency
 * window and any pending operations placed); a record is (hash, state,
 * lead, the positions set beyond lead), a few words whatever the key's size.
 * Records sit end to end in one Int32Array and are found through an
 * open-addressing table of offsets, so the cache costs typed-array bytes
 * only and its size is known: `bytes` is checked against a limit.
 */
export class StateCache {
  readonly #count: number;
  readonly #bits: Uint32Array;
  readonly #maskLow: Uint32Array;
  readonly #maskHigh: Uint32Array;
  #hashLow = 0;
  #hashHigh = 0;
  /** The lowest operation not in the set. */
  #lead = 0;
  readonly #positions: Int32Array;
  // Records: [hashLow, hashHigh, state, lead, positionCount, positions…].
  #pool = new Int32Array(4096);
  #poolUsed = 0;
  // Open addressing, linear probing: record offset + 1, 0 = empty.
  #slots = new Int32Array(1024);
  #records = 0;

  /**
   * `hashBits` below 53 weakens the hash on purpose, so a test can check
   * that colliding sets are still told apart.
   */
  constructor(operationCount: number, hashBits = 53) {
    assert(Number.isInteger(hashBits) && hashBits >= 0 && hashBits <= 53, `StateCache: hashBits must be in [0, 53], got ${hashBits}`);
    this.#count = operationCount;
    this.#bits = new Uint32Array(Math.max(1, Math.ceil(operationCount / 32)));
    this.#positions = new Int32Array(operationCount);
    this.#maskLow = new Uint32Array(operationCount);
    this.#maskHigh = new Uint32Array(operationCount);
    const lowMask = hashBits >= 32 ? 0xffff_ffff : hashBits === 0 ? 0 : (2 ** hashBits - 1) >>> 0;
    const highMask = hashBits > 32 ? (2 ** (hashBits - 32) - 1) >>> 0 : 0;
    // A fixed splitmix32 stream: the masks only need to look random, and a
    // fixed stream keeps the search (and its step count) reproducible.
    let seed = 0x2545f491;
    const nextWord = (): number => {
      seed = (seed + 0x9e3779b9) | 0;
      let z = seed;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (let op = 0; op < operationCount; op += 1) {
      this.#maskLow[op] = nextWord() & lowMask;
      this.#maskHigh[op] = nextWord() & highMask;
    }
  }

  /** Bytes held by the records and the table. */
  get bytes(): number {
    return this.#pool.byteLength + this.#slots.byteLength;
  }

  /** Records stored (distinct pairs seen). */
  get size(): number {
    return this.#records;
  }

  /** Adds `op` to the current set; true (and remembered) when (set, state) is new, else `op` is taken back out. */
  insertWith(op: number, state: number): boolean {
    this.#toggle(op);
    const hashLow = (this.#hashLow ^ Math.imul(state + 1, 0x9e3779b1)) | 0;
    const hashHigh = this.#hashHigh;
    const positionCount = this.#collectPositions();
    const slotMask = this.#slots.length - 1;
    let slot = hashLow & slotMask;
    for (;;) {
      const stored = this.#slots[slot]!;
      if (stored === 0) break;
      if (this.#matches(stored - 1, hashLow, hashHigh, state, positionCount)) {
        this.#toggle(op);
        return false;
      }
      slot = (slot + 1) & slotMask;
    }
    this.#slots[slot] = this.#store(hashLow, hashHigh, state, positionCount) + 1;
    this.#records += 1;
    if (this.#records * 2 > this.#slots.length) this.#growSlots();
    return true;
  }

  /** Takes `op` back out of the current set (backtracking); explored records stay. */
  remove(op: number): void {
    this.#toggle(op);
  }

  /** True when `op` is in the current set. */
  has(op: number): boolean {
    return (this.#bits[op >>> 5]! & (1 << (op & 31))) !== 0;
  }

  #toggle(op: number): void {
    this.#bits[op >>> 5]! ^= 1 << (op & 31);
    this.#hashLow ^= this.#maskLow[op]!;
    this.#hashHigh ^= this.#maskHigh[op]!;
    if (this.has(op)) {
      if (op === this.#lead) {
        while (this.#lead < this.#count && this.has(this.#lead)) this.#lead += 1;
      }
    } else if (op < this.#lead) {
      this.#lead = op;
    }
  }

  /** Writes the members beyond `lead` to `#positions`, ascending; returns how many. */
  #collectPositions(): number {
    let found = 0;
    const lead = this.#lead;
    for (let word = lead >>> 5; word < this.#bits.length; word += 1) {
      let bits = this.#bits[word]!;
      if (word === lead >>> 5) bits &= ~((2 ** (lead & 31) - 1) >>> 0);
      while (bits !== 0) {
        const lowest = bits & -bits;
        this.#positions[found] = word * 32 + (31 - Math.clz32(lowest));
        found += 1;
        bits ^= lowest;
      }
    }
    return found;
  }

  #matches(offset: number, hashLow: number, hashHigh: number, state: number, positionCount: number): boolean {
    const pool = this.#pool;
    if (pool[offset] !== hashLow || pool[offset + 1] !== hashHigh || pool[offset + 2] !== state || pool[offset + 3] !== this.#lead || pool[offset + 4] !== positionCount) return false;
    for (let index = 0; index < positionCount; index += 1) {
      if (pool[offset + 5 + index] !== this.#positions[index]) return false;
    }
    return true;
  }

  #store(hashLow: number, hashHigh: number, state: number, positionCount: number): number {
    const size = 5 + positionCount;
    if (this.#poolUsed + size > this.#pool.length) {
      const grown = new Int32Array(Math.max(this.#pool.length * 2, this.#poolUsed + size));
      grown.set(this.#pool);
      this.#pool = grown;
    }
    const offset = this.#poolUsed;
    const pool = this.#pool;
    pool[offset] = hashLow;
    pool[offset + 1] = hashHigh;
    pool[offset + 2] = state;
    pool[offset + 3] = this.#lead;
    pool[offset + 4] = positionCount;
    pool.set(this.#positions.subarray(0, positionCount), offset + 5);
    this.#poolUsed += size;
    return offset;
  }

  #growSlots(): void {
    const slots = new Int32Array(this.#slots.length * 2);
    const slotMask = slots.length - 1;
    for (const stored of this.#slots) {
      if (stored === 0) continue;
      let slot = this.#pool[stored - 1]! & slotMask;
      while (slots[slot] !== 0) slot = (slot + 1) & slotMask;
      slots[slot] = stored;
    }
    this.#slots = slots;
  }
}

function registerState(problem: KeyProblem, state: number): RegisterState {
  return state === absentState ? { kind: "absent" } : { kind: "value", valueId: problem.valueNames[state]! };
}

/** Replays the longest prefix and asks the model about each operation that could come next. */
function explain(history: History, problem: KeyProblem, longestPrefix: Int32Array): ViolationExplanation {
  const prefix: PlacedOperation[] = [];
  const placed = new Set<number>();
  let state = absentState;
  for (const op of longestPrefix) {
    state = stepModel(problem.kinds[op]!, problem.values[op]!, state);
    assert(state !== refused, "the longest prefix replays through the model");
    placed.add(op);
    const index = problem.indices[op]!;
    prefix.push({ index, operation: history[index]!, stateAfter: registerState(problem, state) });
  }
  const remaining = problem.indices.map((_, op) => op).filter((op) => !placed.has(op));
  const deadlineMs = remaining.reduce((earliestMs, op) => Math.min(earliestMs, history[problem.indices[op]!]!.returnMs), Infinity);
  const held = registerState(problem, state);
  const heldText = held.kind === "absent" ? "the key is absent" : `the key holds ${JSON.stringify(held.valueId)}`;
  const blocked = remaining
    .filter((op) => history[problem.indices[op]!]!.callMs <= deadlineMs)
    .sort((a, b) => history[problem.indices[a]!]!.callMs - history[problem.indices[b]!]!.callMs || a - b)
    .map((op): BlockedOperation => {
      const index = problem.indices[op]!;
      const operation = history[index]!;
      const fitsHere = stepModel(problem.kinds[op]!, problem.values[op]!, state) !== refused;
      const mustPrecede = operation.returnMs === deadlineMs ? ` (it returned at ${deadlineMs}, so it cannot wait)` : "";
      const reason = fitsHere ? `fits after the prefix, but no order of the remaining operations follows it${mustPrecede}` : `${refusalReason(operation, problem, heldText)}${mustPrecede}`;
      return { index, operation, fitsHere, reason };
    });
  return { prefix, stateAfterPrefix: held, blocked, operationCount: problem.indices.length };
}

function refusalReason(operation: HistoryOperation, problem: KeyProblem, heldText: string): string {
  switch (operation.kind) {
    case "get": {
      if (operation.outcome === "absent") return `it read absent, but ${heldText}`;
      const written = problem.written.has(operation.valueId!);
      return `it read ${JSON.stringify(operation.valueId)}, but ${heldText}${written ? "" : " (and no put of this key wrote that value)"}`;
    }
    case "put":
      return operation.outcome === "precondition-failed" ? `it was refused with 412 (key present), but ${heldText}` : `its If-None-Match: * put succeeded, but ${heldText}`;
    case "delete":
      return "a delete always fits";
  }
}

/** A report a human can read: one line per key that is not ok, and each violation's explanation. */
export function formatLinearizabilityReport(report: LinearizabilityReport, keysMax = 10): string {
  const lines = [`linearizability: ${report.verdict} (${report.keys.length} keys, ${report.steps} search steps)`];
  const notOk = report.keys.filter((key) => key.verdict !== "ok");
  for (const key of notOk.slice(0, keysMax)) lines.push(formatKeyVerdict(key));
  if (notOk.length > keysMax) lines.push(`… and ${notOk.length - keysMax} more keys that are not ok`);
  return lines.join("\n");
}

/** One key's verdict; a violation prints its longest prefix and the operations that could not be placed after it. */
export function formatKeyVerdict(verdict: KeyVerdict): string {
  const head = `key ${JSON.stringify(verdict.key)}: ${verdict.verdict} (${verdict.operationCount} operations, ${verdict.steps} steps)`;
  switch (verdict.verdict) {
    case "ok":
      return head;
    case "unknown":
      return `${head}: ${verdict.reason} reached, so nothing is claimed`;
    case "violation": {
      const { prefix, blocked, stateAfterPrefix, operationCount } = verdict.explanation;
      const lines = [head, `  longest linearizable prefix (${prefix.length} of ${operationCount} operations):`];
      for (const placed of prefix) lines.push(`    ${describeOperation(placed.operation, placed.index)}   ⇒ ${formatState(placed.stateAfter)}`);
      if (prefix.length === 0) lines.push("    (none)");
      lines.push(`  after it ${formatState(stateAfterPrefix)}; none of these can come next:`);
      for (const entry of blocked) lines.push(`    ${describeOperation(entry.operation, entry.index)}: ${entry.reason}`);
      return lines.join("\n");
    }
  }
}

function formatState(state: RegisterState): string {
  return state.kind === "absent" ? "absent" : JSON.stringify(state.valueId);
}
