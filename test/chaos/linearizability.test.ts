/**
 * The linearizability checker against hand-written histories (each named
 * for what it shows), against a brute-force search on small random
 * histories, against simulated executions (linearizable by construction,
 * then broken on purpose), and under its budgets.
 *
 * Replay the random parts with `CAIRN_TEST_SEED=<seed> bun test test/chaos/`.
 */
import { describe, expect, test } from "bun:test";
import { randomSeed, seededRandom, systemClock } from "../../runtime/index.ts";
import type { Random } from "../../runtime/index.ts";
import { checkHistoryAnomalies } from "./anomalies.ts";
import type { History, HistoryOperation } from "./history.ts";
import { checkKeyLinearizability, checkLinearizability, formatKeyVerdict, formatLinearizabilityReport, StateCache } from "./linearizability.ts";
import type { KeyVerdict } from "./linearizability.ts";
import { del, failedGet, get, put, putIfAbsent } from "./operation-builders.ts";
import { breakOneRead, simulateHistory } from "./simulated-history.ts";

const seed = Number(process.env["CAIRN_TEST_SEED"] ?? randomSeed());
console.log(`linearizability.test.ts seed ${seed} (replay: CAIRN_TEST_SEED=${seed} bun test test/chaos/linearizability.test.ts)`);
const replay = `replay: CAIRN_TEST_SEED=${seed} bun test test/chaos/linearizability.test.ts`;

const verdictOf = (history: History): string => checkLinearizability(history).verdict;

describe("hand-written histories", () => {
  test("a sequential put then get is linearizable; reading anything else is not", () => {
    expect(verdictOf([put("v1", 0, 10), get("v1", 20, 30)])).toBe("ok");
    expect(verdictOf([get(null, 0, 5), put("v1", 10, 20), get("v1", 30, 40)])).toBe("ok");
    expect(verdictOf([put("v1", 0, 10), get(null, 20, 30)])).toBe("violation");
  });

  test("concurrent writes: either order is fine, but readers must agree on one", () => {
    const writes = [put("v1", 0, 10, "ok", { clientId: 1 }), put("v2", 0, 10, "ok", { clientId: 2 })];
    expect(verdictOf([...writes, get("v1", 20, 30)])).toBe("ok");
    expect(verdictOf([...writes, get("v2", 20, 30)])).toBe("ok");
    expect(verdictOf([...writes, get("v1", 20, 25), get("v2", 30, 35)])).toBe("violation");
    expect(verdictOf([...writes, get("v2", 20, 25), get("v1", 30, 35)])).toBe("violation");
    // Two readers that overlap the writes may see them in either order, as long as one order explains both.
    expect(verdictOf([...writes, get("v1", 2, 12, { clientId: 3 }), get("v2", 5, 15, { clientId: 4 })])).toBe("ok");
  });

  test("a stale read (a value overwritten by a put that completed before the read began) is a violation", () => {
    expect(verdictOf([put("v1", 0, 10), put("v2", 20, 30), get("v1", 40, 50)])).toBe("violation");
    // The same read overlapping the overwrite is fine.
    expect(verdictOf([put("v1", 0, 10), put("v2", 20, 30), get("v1", 25, 50)])).toBe("ok");
  });

  test("a lost write (absent after an acknowledged put, no delete) is a violation", () => {
    expect(verdictOf([put("v1", 0, 10), get(null, 20, 30)])).toBe("violation");
    expect(verdictOf([put("v1", 0, 10), del(15, 25), get(null, 20, 30)])).toBe("ok");
  });

  test("a read of a value never written is a violation", () => {
    expect(verdictOf([put("v1", 0, 10), get("v9", 20, 30)])).toBe("violation");
    // A value written to another key does not count for this one.
    expect(verdictOf([put("v1", 0, 10, "ok", { key: "other" }), get("v1", 20, 30)])).toBe("violation");
  });

  test("a value coming back after an acknowledged delete is a violation", () => {
    expect(verdictOf([put("v1", 0, 10), del(20, 30), get("v1", 40, 50)])).toBe("violation");
    expect(verdictOf([put("v1", 0, 10), del(20, 30), get(null, 40, 50)])).toBe("ok");
    // Reads overlapping the delete may see either side of it.
    expect(verdictOf([put("v1", 0, 10), del(20, 40), get("v1", 25, 35, { clientId: 1 }), get(null, 26, 36, { clientId: 2 })])).toBe("ok");
    // …but not the deleted side after the other side.
    expect(verdictOf([put("v1", 0, 10), del(20, 60), get(null, 25, 35), get("v1", 40, 50)])).toBe("violation");
  });

  test("a write of unknown outcome may take effect late, or never, but once seen it stays", () => {
    const base = [put("v1", 0, 10), put("v2", 20, Infinity, "unknown", { clientId: 1 })];
    expect(verdictOf([...base, get("v1", 30, 40)])).toBe("ok");
    expect(verdictOf([...base, get("v2", 30, 40)])).toBe("ok");
    expect(verdictOf([...base, get("v1", 30, 40), get("v2", 1000, 1010)])).toBe("ok");
    expect(verdictOf([...base, get("v2", 30, 40), get("v1", 50, 60)])).toBe("violation");
    // Nothing takes effect before it is sent.
    expect(verdictOf([...base, get("v2", 12, 18)])).toBe("violation");
  });

  test("a refused put (400) did not happen; a failed get tells nothing", () => {
    expect(verdictOf([put("v1", 0, 10), put("v2", 20, 30, "failed"), get("v2", 40, 50)])).toBe("violation");
    expect(verdictOf([put("v1", 0, 10), put("v2", 20, 30, "failed"), get("v1", 40, 50), failedGet(40, 50)])).toBe("ok");
  });

  test("a delete of unknown outcome may or may not have emptied the key", () => {
    const base = [put("v1", 0, 10), del(20, Infinity, "unknown")];
    expect(verdictOf([...base, get(null, 30, 40)])).toBe("ok");
    expect(verdictOf([...base, get("v1", 30, 40)])).toBe("ok");
    expect(verdictOf([...base, get(null, 30, 40), get("v1", 50, 60)])).toBe("violation");
    // Called at the instant an empty read returned: the delete may still explain that read.
    expect(verdictOf([put("v1", 0, 5), get(null, 6, 10), del(10, Infinity, "unknown")])).toBe("ok");
    expect(verdictOf([put("v1", 0, 5), get(null, 6, 10), del(11, Infinity, "unknown")])).toBe("violation");
  });

  test("conditional puts: one winner is fine, two winners are a violation", () => {
    expect(verdictOf([putIfAbsent("v1", 0, 10, "ok", { clientId: 1 }), putIfAbsent("v2", 0, 10, "ok", { clientId: 2 })])).toBe("violation");
    expect(verdictOf([putIfAbsent("v1", 0, 10, "ok", { clientId: 1 }), putIfAbsent("v2", 0, 10, "precondition-failed", { clientId: 2 }), get("v1", 20, 30)])).toBe("ok");
    // The loser's value must never be read.
    expect(verdictOf([putIfAbsent("v1", 0, 10, "ok", { clientId: 1 }), putIfAbsent("v2", 0, 10, "precondition-failed", { clientId: 2 }), get("v2", 20, 30)])).toBe("violation");
    // A 412 on a key nobody ever wrote is a violation; after a delete the key can be created again.
    expect(verdictOf([putIfAbsent("v1", 0, 10, "precondition-failed")])).toBe("violation");
    expect(verdictOf([putIfAbsent("v1", 0, 10), del(20, 30), putIfAbsent("v2", 40, 50), get("v2", 60, 70)])).toBe("ok");
    // Creating over an acknowledged put is a violation.
    expect(verdictOf([put("v1", 0, 10), putIfAbsent("v2", 20, 30)])).toBe("violation");
  });

  test("a conditional put of unknown outcome wins only if the key was absent when it landed", () => {
    const base = [putIfAbsent("v1", 0, Infinity, "unknown", { clientId: 1 }), putIfAbsent("v2", 10, 20, "precondition-failed", { clientId: 2 })];
    // The 412 at 10–20 says v1 had landed, so v1 is what a later read sees.
    expect(verdictOf([...base, get("v1", 30, 40)])).toBe("ok");
    expect(verdictOf([...base, get(null, 30, 40)])).toBe("violation");
    // If an unconditional put got there first, the unknown conditional put changes nothing.
    expect(verdictOf([put("v0", 0, 5), putIfAbsent("v1", 10, Infinity, "unknown"), get("v0", 20, 30, { clientId: 1 })])).toBe("ok");
    expect(verdictOf([put("v0", 0, 5), putIfAbsent("v1", 10, Infinity, "unknown"), get("v1", 20, 30, { clientId: 1 })])).toBe("violation");
  });

  test("events at the same instant overlap, so a coarse clock never invents a violation", () => {
    // The second put was called at the instant the first returned: either may be first.
    expect(verdictOf([put("v1", 0, 10), put("v2", 10, 20), get("v1", 25, 30)])).toBe("ok");
    expect(verdictOf([put("v1", 0, 10), put("v2", 11, 20), get("v1", 25, 30)])).toBe("violation");
    // The read was called at the instant the second put returned: it may come before it.
    expect(verdictOf([put("v1", 0, 10), put("v2", 11, 20), get("v1", 20, 30)])).toBe("ok");
    expect(verdictOf([put("v1", 0, 10), put("v2", 11, 20), get("v1", 21, 30)])).toBe("violation");
  });

  test("keys are checked separately: a violation on one key is reported on that key only", () => {
    const history = [put("a1", 0, 10, "ok", { key: "a" }), put("b1", 0, 10, "ok", { key: "b" }), get("a1", 20, 30, { key: "a" }), get(null, 20, 30, { key: "b" })];
    const report = checkLinearizability(history);
    expect(report.verdict).toBe("violation");
    expect(report.keys.map((key) => [key.key, key.verdict])).toEqual([
      ["a", "ok"],
      ["b", "violation"],
    ]);
    expect(checkKeyLinearizability(history, "a").verdict).toBe("ok");
    expect(checkLinearizability([]).verdict).toBe("ok");
  });

  test("a malformed history is refused as a bug in the recorder", () => {
    expect(() => checkLinearizability([put("v1", 0, 10, "unknown")])).toThrow(/Infinity exactly when the outcome is unknown/);
    expect(() => checkLinearizability([put("v1", 0, 10), put("v1", 20, 30)])).toThrow(/unique per key/);
    expect(() => checkLinearizability([put("v1", 10, 5)])).toThrow(/before callMs/);
  });
});

describe("explanations", () => {
  test("a stale read names the longest prefix and the read that cannot follow it", () => {
    const history = [put("v1", 0, 10), put("v2", 20, 30, "ok", { clientId: 1 }), get("v1", 40, 50, { clientId: 2 }), put("v3", 60, 70)];
    const verdict = checkLinearizability(history).keys[0]!;
    expect(verdict.verdict).toBe("violation");
    if (verdict.verdict !== "violation") return;
    const { prefix, blocked, stateAfterPrefix } = verdict.explanation;
    expect(prefix.map((placed) => placed.index)).toEqual([0, 1]);
    expect(stateAfterPrefix).toEqual({ kind: "value", valueId: "v2" });
    expect(blocked.map((entry) => [entry.index, entry.fitsHere])).toEqual([[2, false]]);
    const text = formatKeyVerdict(verdict);
    console.log(text);
    expect(text).toContain('#2 client 2 get [40, 50] → "v1": it read "v1", but the key holds "v2"');
    expect(text).toContain("longest linearizable prefix (2 of 4 operations)");
  });

  test("two conditional winners: the second cannot be placed after the first", () => {
    const history = [putIfAbsent("v1", 0, 10, "ok", { clientId: 1 }), putIfAbsent("v2", 5, 15, "ok", { clientId: 2 })];
    const report = checkLinearizability(history);
    const verdict = report.keys[0]!;
    if (verdict.verdict !== "violation") throw new Error(`expected a violation, got ${verdict.verdict}`);
    expect(verdict.explanation.prefix).toHaveLength(1);
    expect(verdict.explanation.blocked).toHaveLength(1);
    expect(verdict.explanation.blocked[0]!.reason).toContain("If-None-Match: * put succeeded, but the key holds");
    expect(formatLinearizabilityReport(report)).toContain("linearizability: violation");
  });

  test("a read of a value never written says so", () => {
    const verdict = checkLinearizability([put("v1", 0, 10), get("ghost", 20, 30)]).keys[0]!;
    expect(formatKeyVerdict(verdict)).toContain("no put of this key wrote that value");
  });
});

/** An independent reference: tries every order that respects real time, no cache, no list tricks. */
function bruteForceLinearizable(history: History): boolean {
  const operations = history.filter((operation) => !(operation.outcome === "failed"));
  const placed = new Array<boolean>(operations.length).fill(false);
  const step = (held: string | null, operation: HistoryOperation): string | null | undefined => {
    switch (operation.kind) {
      case "get":
        return (operation.outcome === "absent" ? null : operation.valueId) === held ? held : undefined;
      case "delete":
        return null;
      case "put":
        if (!operation.ifNoneMatch) return operation.valueId;
        if (operation.outcome === "ok") return held === null ? operation.valueId : undefined;
        if (operation.outcome === "precondition-failed") return held === null ? undefined : held;
        return held === null ? operation.valueId : held;
    }
  };
  const visit = (held: string | null): boolean => {
    const open = operations.filter((_, index) => !placed[index]);
    // Done when only operations pending forever are left: they can all go last.
    if (open.every((operation) => operation.returnMs === Infinity)) return true;
    const firstReturnMs = Math.min(...open.map((operation) => operation.returnMs));
    for (let index = 0; index < operations.length; index += 1) {
      const operation = operations[index]!;
      if (placed[index] || operation.callMs > firstReturnMs) continue;
      const after = step(held, operation);
      if (after === undefined) continue;
      placed[index] = true;
      const found = visit(after);
      placed[index] = false;
      if (found) return true;
    }
    return false;
  };
  return visit(null);
}

/** A small random history on one key with random (often impossible) outcomes. */
function randomSmallHistory(random: Random): HistoryOperation[] {
  const count = 1 + random.integer(7);
  const history: HistoryOperation[] = [];
  const time = (): number => random.integer(12);
  for (let index = 0; index < count; index += 1) {
    const callMs = time();
    const returnMs = callMs + random.integer(8);
    const at = { clientId: index };
    const draw = random.integer(10);
    const value = (): string | null => (random.integer(4) === 0 ? null : `v${random.integer(count + 1)}`);
    if (draw < 4) {
      const outcomes = ["ok", "ok", "unknown", "failed", "precondition-failed"] as const;
      const conditional = random.integer(3) === 0;
      const outcome = outcomes[random.integer(conditional ? 5 : 4)]!;
      history.push((conditional ? putIfAbsent : put)(`v${index}`, callMs, outcome === "unknown" ? Infinity : returnMs, outcome, at));
    } else if (draw < 5) {
      const unknown = random.integer(4) === 0;
      history.push(del(callMs, unknown ? Infinity : returnMs, unknown ? "unknown" : "ok", at));
    } else {
      history.push(get(value(), callMs, returnMs, at));
    }
  }
  return history;
}

describe("randomized", () => {
  test("agrees with a brute-force search on 3,000 small random histories, with and without pruning", () => {
    const random = seededRandom(seed).fork("brute-force");
    const tally = { ok: 0, violation: 0 };
    for (let round = 0; round < 3000; round += 1) {
      const history = randomSmallHistory(random);
      const expected = bruteForceLinearizable(history) ? "ok" : "violation";
      const pruned = checkLinearizability(history).verdict;
      const unpruned = checkLinearizability(history, { pruneUnobservedUnknownWrites: false }).verdict;
      if (pruned !== expected || unpruned !== expected) {
        throw new Error(`round ${round}: brute force says ${expected}, checker says ${pruned} (unpruned ${unpruned}); ${replay}\n${JSON.stringify(history)}`);
      }
      tally[expected] += 1;
    }
    console.log(`brute-force agreement: ${tally.ok} linearizable, ${tally.violation} not`);
    // Both answers must be well represented, or the comparison shows little.
    expect(tally.ok).toBeGreaterThan(300);
    expect(tally.violation).toBeGreaterThan(300);
  });

  test("simulated executions are linearizable; one broken read makes them a violation", () => {
    const random = seededRandom(seed).fork("simulated");
    const changes = new Map<string, number>();
    for (let round = 0; round < 60; round += 1) {
      const history = simulateHistory(random, { operationCount: 300, keyCount: 3, clientCount: 8 });
      const report = checkLinearizability(history);
      if (report.verdict !== "ok") throw new Error(`round ${round}: a simulated execution was called ${report.verdict}; ${replay}\n${formatLinearizabilityReport(report)}`);
      const unpruned = checkLinearizability(history, { pruneUnobservedUnknownWrites: false });
      if (unpruned.verdict !== "ok") throw new Error(`round ${round}: without pruning the checker says ${unpruned.verdict}; ${replay}`);
      const anomalies = checkHistoryAnomalies(history);
      if (anomalies.length > 0) throw new Error(`round ${round}: a simulated execution has anomalies; ${replay}\n${anomalies.map((anomaly) => anomaly.message).join("\n")}`);

      const broken = breakOneRead(history, random);
      if (broken === null) continue;
      const change = broken.change.replace(/\s*\(.*?\)/, "");
      changes.set(change, (changes.get(change) ?? 0) + 1);
      const brokenReport = checkLinearizability(broken.history);
      if (brokenReport.verdict !== "violation") {
        throw new Error(`round ${round}: read #${broken.readIndex} changed to ${broken.change}, checker says ${brokenReport.verdict}; ${replay}`);
      }
      const key = history[broken.readIndex]!.key;
      expect(brokenReport.keys.filter((verdict) => verdict.verdict === "violation").map((verdict) => verdict.key)).toEqual([key]);
      // Every change breakOneRead makes is also one the simple checks name.
      if (checkHistoryAnomalies(broken.history).length === 0) throw new Error(`round ${round}: ${broken.change} not found by the simple checks; ${replay}`);
    }
    console.log(`broken reads: ${[...changes].map(([change, count]) => `${count}× ${change}`).join(", ")}`);
  });
});

describe("budgets", () => {
  /**
   * Many puts all concurrent with many reads, each read of a different value,
   * and one impossible read at the end: proving it impossible means trying
   * every subset of the concurrent operations.
   */
  function adversarialHistory(width: number): HistoryOperation[] {
    const history: HistoryOperation[] = [];
    for (let index = 0; index < width; index += 1) {
      history.push(put(`v${index}`, 0, 1000, "ok", { clientId: index }));
      history.push(get(`v${index}`, 0, 1000, { clientId: width + index }));
    }
    history.push(get("never-written", 2000, 2010, { clientId: 2 * width }));
    return history;
  }

  test("a small instance of the adversarial shape is a violation", () => {
    const verdict = checkLinearizability(adversarialHistory(6));
    expect(verdict.verdict).toBe("violation");
  });

  test("a large adversarial history answers unknown within the step budget, never ok", () => {
    const stepsPerKeyMax = 50_000;
    const report = checkLinearizability(adversarialHistory(40), { stepsPerKeyMax });
    const verdict = report.keys[0]! as KeyVerdict;
    expect(verdict.verdict).toBe("unknown");
    expect(verdict.verdict === "unknown" && verdict.reason).toBe("step-budget");
    expect(verdict.steps).toBe(stepsPerKeyMax);
    expect(report.verdict).toBe("unknown");
    expect(formatLinearizabilityReport(report)).toContain("step-budget reached, so nothing is claimed");
  });

  test("the total budget is shared by all keys; a key over the operation or cache limit is not claimed", () => {
    const history = [...adversarialHistory(30).map((operation) => ({ ...operation, key: "a" })), ...adversarialHistory(30).map((operation) => ({ ...operation, key: "b" }))];
    const report = checkLinearizability(history, { stepsPerKeyMax: 30_000, stepsTotalMax: 40_000 });
    expect(report.keys.map((key) => (key.verdict === "unknown" ? key.reason : key.verdict))).toEqual(["step-budget", "total-step-budget"]);
    expect(report.steps).toBe(40_000);
    const starved = checkLinearizability(adversarialHistory(30), { cacheBytesPerKeyMax: 64 * 1024 });
    expect(starved.keys[0]!.verdict === "unknown" && starved.keys[0]!.reason).toBe("cache-limit");
    const limited = checkLinearizability(adversarialHistory(10), { operationsPerKeyMax: 20 });
    expect(limited.keys[0]!.verdict === "unknown" && limited.keys[0]!.reason).toBe("operation-limit");
    // A violation elsewhere still wins over unknown.
    const mixed = checkLinearizability([...history, put("c1", 0, 10, "ok", { key: "c" }), get(null, 20, 30, { key: "c" })], { stepsPerKeyMax: 1000 });
    expect(mixed.verdict).toBe("violation");
  });
});

describe("the cache of explored states", () => {
  test("tells every (set, state) pair apart exactly, even when all hashes collide", () => {
    for (const hashBits of [0, 6, 53]) {
      const random = seededRandom(seed).fork(`cache-${hashBits}`);
      const operationCount = 70;
      const cache = new StateCache(operationCount, hashBits);
      const member = new Array<boolean>(operationCount).fill(false);
      const seen = new Set<string>();
      for (let round = 0; round < 6_000; round += 1) {
        const op = random.integer(operationCount);
        if (member[op]) {
          cache.remove(op);
          member[op] = false;
          continue;
        }
        // Few states and a set that wanders over a small region, so pairs recur often.
        const state = random.integer(3);
        member[op] = true;
        const pair = `${state}:${member.map((bit) => (bit ? 1 : 0)).join("")}`;
        const fresh = !seen.has(pair);
        if (cache.insertWith(op, state) !== fresh) throw new Error(`hashBits ${hashBits}, round ${round}: cache and reference disagree on ${pair}; ${replay}`);
        if (fresh) seen.add(pair);
        else member[op] = false;
        if (round % 50 === 0) {
          for (let index = 0; index < operationCount; index += 1) if (cache.has(index) !== member[index]) throw new Error(`membership of ${index} differs; ${replay}`);
        }
        // Keep the set from filling up: drop a random member now and then.
        if (random.integer(3) === 0) {
          const drop = random.integer(operationCount);
          if (member[drop]) {
            cache.remove(drop);
            member[drop] = false;
          }
        }
      }
      expect(cache.size).toBe(seen.size);
      // Both answers must have come up often, or the comparison shows little.
      expect(seen.size).toBeGreaterThan(1000);
      expect(seen.size).toBeLessThan(5000);
    }
  });
});

describe("speed", () => {
  test("bench: 10,000 operations over 100 keys from 8 concurrent clients (printed, not asserted)", () => {
    const random = seededRandom(seed).fork("bench");
    const history = simulateHistory(random, { operationCount: 10_000, keyCount: 100, clientCount: 8 });
    // Wall time on a shared machine says little, so CPU time is printed beside it.
    const clock = systemClock();
    const measure = <T>(run: () => T): { result: T; text: string } => {
      const startMs = clock.monotonicMs();
      const startCpu = process.cpuUsage();
      const result = run();
      const cpu = process.cpuUsage(startCpu);
      return { result, text: `${(clock.monotonicMs() - startMs).toFixed(1)} ms wall, ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms CPU` };
    };
    const { result: report, text: linearizabilityTime } = measure(() => checkLinearizability(history));
    const { result: anomalies, text: anomaliesTime } = measure(() => checkHistoryAnomalies(history));
    const broken = breakOneRead(history, random)!;
    const { result: brokenReport, text: brokenTime } = measure(() => checkLinearizability(broken.history));
    console.log(
      `bench: ${history.length} operations, ${report.keys.length} keys, 8 clients: linearizability ${report.verdict} in ${linearizabilityTime} (${report.steps} steps); ` +
        `simple checks ${anomalies.length} anomalies in ${anomaliesTime}; with one broken read ${brokenReport.verdict} in ${brokenTime}`,
    );
    expect(report.verdict).toBe("ok");
    expect(anomalies).toEqual([]);
    expect(brokenReport.verdict).toBe("violation");
  });
});
