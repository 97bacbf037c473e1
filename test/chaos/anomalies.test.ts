/**
 * The simple checks (issue 7's "every acknowledged write reads back", "no
 * deleted object comes back", and reads that name a value no allowed put
 * wrote) on hand-written histories: each anomaly is found, named with both
 * operations, and the harmless look-alikes (overlapping operations, unknown
 * outcomes, equal timestamps) are not reported.
 */
import { describe, expect, test } from "bun:test";
import { anomalyOperations, checkAcknowledgedWritesReadBack, checkDeletesStayDeleted, checkHistoryAnomalies, checkReadsHaveWriter, formatAnomaly } from "./anomalies.ts";
import type { History } from "./history.ts";
import { del, failedGet, get, put, putIfAbsent } from "./operation-builders.ts";

const kinds = (history: History): string[] => checkHistoryAnomalies(history).map((anomaly) => anomaly.kind);

describe("every acknowledged write reads back until overwritten or deleted", () => {
  test("a stale read names the read and the put that overwrote its value", () => {
    const history = [put("v1", 0, 10), put("v2", 20, 30, "ok", { clientId: 1 }), get("v1", 40, 50, { clientId: 2 })];
    const [anomaly, ...rest] = checkAcknowledgedWritesReadBack(history);
    expect(rest).toEqual([]);
    expect(anomaly!.kind).toBe("stale-read");
    expect([anomaly!.readIndex, anomaly!.causeIndex]).toEqual([2, 1]);
    expect(anomalyOperations(history, anomaly!).cause).toBe(history[1]!);
    expect(formatAnomaly(anomaly!)).toContain('#1 client 1 put "v2" [20, 30] → ok');
  });

  test("overlap, unknown outcomes and equal times are not stale reads", () => {
    // The read overlaps the overwrite.
    expect(kinds([put("v1", 0, 10), put("v2", 20, 30), get("v1", 25, 50)])).toEqual([]);
    // The two writes overlap, so v1 may be the later one.
    expect(kinds([put("v1", 0, 10), put("v2", 5, 30), get("v1", 40, 50)])).toEqual([]);
    // The overwrite's outcome is unknown.
    expect(kinds([put("v1", 0, 10), put("v2", 20, Infinity, "unknown"), get("v1", 40, 50)])).toEqual([]);
    // v1's own put is of unknown outcome: it may land after v2.
    expect(kinds([put("v1", 0, Infinity, "unknown"), put("v2", 20, 30), get("v1", 40, 50)])).toEqual([]);
    // The overwrite returned at the instant the read was sent.
    expect(kinds([put("v1", 0, 10), put("v2", 20, 40), get("v1", 40, 50)])).toEqual([]);
    // The overwrite was sent at the instant v1's put returned: they overlap.
    expect(kinds([put("v1", 0, 20), put("v2", 20, 30), get("v1", 40, 50)])).toEqual([]);
  });

  test("a lost write: absent after an acknowledged put with no delete that could follow it", () => {
    expect(checkAcknowledgedWritesReadBack([put("v1", 0, 10), get(null, 20, 30)]).map((anomaly) => [anomaly.kind, anomaly.causeIndex])).toEqual([["lost-write", 0]]);
    // A delete that may have come after the put explains it, whatever its outcome.
    expect(kinds([put("v1", 0, 10), del(15, 18), get(null, 20, 30)])).toEqual([]);
    expect(kinds([put("v1", 0, 10), del(25, Infinity, "unknown"), get(null, 20, 30)])).toEqual([]);
    expect(kinds([put("v1", 0, 10), del(5, 8), get(null, 20, 30)])).toEqual([]);
    // …but not one that was definitely refused, nor one that finished before the put began.
    expect(kinds([put("v1", 0, 10), del(12, 18, "failed"), get(null, 20, 30)])).toEqual(["lost-write"]);
    expect(kinds([del(0, 2), put("v1", 5, 10), get(null, 20, 30)])).toEqual(["lost-write"]);
    // A failed read tells nothing.
    expect(kinds([put("v1", 0, 10), failedGet(20, 30)])).toEqual([]);
  });
});

describe("no deleted object comes back", () => {
  test("a value put before an acknowledged delete, read after it", () => {
    const history = [put("v1", 0, 10), del(20, 30), get("v1", 40, 50)];
    const anomalies = checkDeletesStayDeleted(history);
    expect(anomalies.map((anomaly) => [anomaly.kind, anomaly.readIndex, anomaly.causeIndex])).toEqual([["resurrected-after-delete", 2, 1]]);
    expect(anomalies[0]!.message).toContain("deleted value came back");
    // Not when the delete overlaps the read or the put, or its outcome is unknown.
    expect(kinds([put("v1", 0, 10), del(20, 45), get("v1", 40, 50)])).toEqual([]);
    expect(kinds([put("v1", 0, 25), del(20, 30), get("v1", 40, 50)])).toEqual([]);
    expect(kinds([put("v1", 0, 20), del(20, 30), get("v1", 40, 50)])).toEqual([]);
    expect(kinds([put("v1", 0, 10), del(20, 40), get("v1", 40, 50)])).toEqual([]);
    expect(kinds([put("v1", 0, 10), del(20, Infinity, "unknown"), get("v1", 40, 50)])).toEqual([]);
    // A later put of the same key is a new value, not a resurrection.
    expect(kinds([put("v1", 0, 10), del(20, 30), put("v2", 32, 38), get("v2", 40, 50)])).toEqual([]);
  });
});

describe("every value read has a writer", () => {
  test("phantom, refused and future values", () => {
    expect(checkReadsHaveWriter([get("ghost", 0, 10)]).map((anomaly) => anomaly.kind)).toEqual(["phantom-read"]);
    expect(kinds([put("v1", 0, 10, "ok", { key: "other" }), get("v1", 20, 30)])).toEqual(["phantom-read"]);
    expect(kinds([put("v1", 0, 10, "failed"), get("v1", 20, 30)])).toEqual(["refused-write-visible"]);
    expect(kinds([putIfAbsent("v0", 0, 5), putIfAbsent("v1", 6, 10, "precondition-failed"), get("v1", 20, 30)])).toEqual(["refused-write-visible"]);
    expect(kinds([get("v1", 0, 10), put("v1", 20, 30)])).toEqual(["read-from-future"]);
    // Sent at the instant the read returned: overlapping, allowed.
    expect(kinds([get("v1", 0, 20), put("v1", 20, 30)])).toEqual([]);
  });

  test("the number of anomalies reported is bounded", () => {
    const history = Array.from({ length: 50 }, (_, index) => get(`ghost-${index}`, index, index + 1));
    expect(checkHistoryAnomalies(history, 7)).toHaveLength(7);
    expect(checkHistoryAnomalies(history)).toHaveLength(50);
  });
});
