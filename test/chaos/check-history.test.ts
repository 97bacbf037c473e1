/** checkHistory: one verdict from both checkers, and their cross-check. */
import { describe, expect, test } from "bun:test";
import { checkHistory, formatHistoryCheck } from "./check-history.ts";
import { get, put } from "./operation-builders.ts";

describe("checkHistory", () => {
  test("ok, violation and unknown", () => {
    expect(checkHistory([put("v1", 0, 10), get("v1", 20, 30)]).verdict).toBe("ok");
    const stale = checkHistory([put("v1", 0, 10), put("v2", 20, 30), get("v1", 40, 50)]);
    expect(stale.verdict).toBe("violation");
    expect(stale.anomalies.map((anomaly) => anomaly.kind)).toEqual(["stale-read"]);
    const text = formatHistoryCheck(stale);
    expect(text).toContain("history check: violation (1 anomalies)");
    expect(text).toContain("stale-read: stale read");
    expect(text).toContain("longest linearizable prefix");
    // Eight concurrent put-and-read pairs, and a final read that needs v0's
    // put to have been the last: linearizable, but only after a long search
    // (160k steps), and nothing the simple checks see. Out of budget it is
    // unknown, never ok.
    const wide = Array.from({ length: 8 }, (_, index) => [put(`v${index}`, 0, 1000, "ok", { clientId: index }), get(`v${index}`, 0, 1000, { clientId: 100 + index })]).flat();
    const history = [...wide, get("v0", 2000, 2010)];
    const starved = checkHistory(history, { stepsPerKeyMax: 100 });
    expect([starved.verdict, starved.anomalies.length]).toEqual(["unknown", 0]);
    expect(checkHistory(history).verdict).toBe("ok");
  });

  test("an anomaly always comes with a violation from the search (the cross-check holds on real cases)", () => {
    // A violation the simple checks see and the search must see too.
    const resurrected = checkHistory([put("v1", 0, 10), { key: "k", clientId: 0, callMs: 20, returnMs: 30, kind: "delete", outcome: "ok" }, get("v1", 40, 50)]);
    expect(resurrected.verdict).toBe("violation");
    expect(resurrected.linearizability.verdict).toBe("violation");
  });
});
