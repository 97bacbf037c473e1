/**
 * The one call a chaos run makes at its end: the linearizability search and
 * the simple checks over the same history, one verdict, one printable text.
 *
 * The two checkers cross-check each other: every simple anomaly is a
 * violation of linearizability, so a key the search calls "ok" while an
 * anomaly names it means one of the two checkers is wrong, and that is an
 * assertion, not a verdict.
 */
import { assert } from "../../runtime/index.ts";
import { checkHistoryAnomalies, formatAnomaly } from "./anomalies.ts";
import type { Anomaly } from "./anomalies.ts";
import type { History } from "./history.ts";
import { checkLinearizability, formatLinearizabilityReport } from "./linearizability.ts";
import type { LinearizabilityOptions, LinearizabilityReport } from "./linearizability.ts";

export interface HistoryCheck {
  /** `violation` when either checker found one; `unknown` when the search stopped at a limit and no anomaly was found; else `ok`. */
  readonly verdict: "ok" | "violation" | "unknown";
  readonly linearizability: LinearizabilityReport;
  readonly anomalies: readonly Anomaly[];
}

/** Runs both checkers; `anomaliesMax` bounds the anomalies listed. */
export function checkHistory(history: History, options: Partial<LinearizabilityOptions> = {}, anomaliesMax = 100): HistoryCheck {
  const linearizability = checkLinearizability(history, options);
  const anomalies = checkHistoryAnomalies(history, anomaliesMax);
  const okKeys = new Set(linearizability.keys.filter((key) => key.verdict === "ok").map((key) => key.key));
  for (const anomaly of anomalies) {
    assert(!okKeys.has(anomaly.key), `checkers disagree on key ${JSON.stringify(anomaly.key)}: the search found a linearization, but ${formatAnomaly(anomaly)}`);
  }
  const verdict = linearizability.verdict === "violation" || anomalies.length > 0 ? "violation" : linearizability.verdict;
  return { verdict, linearizability, anomalies };
}

/** Both reports as text: the verdict, then the anomalies (they name two operations each), then the search's report. */
export function formatHistoryCheck(check: HistoryCheck, anomaliesShownMax = 20): string {
  const lines = [`history check: ${check.verdict} (${check.anomalies.length} anomalies)`];
  for (const anomaly of check.anomalies.slice(0, anomaliesShownMax)) lines.push(`  ${formatAnomaly(anomaly)}`);
  if (check.anomalies.length > anomaliesShownMax) lines.push(`  … and ${check.anomalies.length - anomaliesShownMax} more anomalies`);
  lines.push(formatLinearizabilityReport(check.linearizability));
  return lines.join("\n");
}
