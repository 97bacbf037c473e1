/**
 * The Prometheus text exposition format, version 0.0.4 (what every
 * Prometheus since 2.0 scrapes by default):
 *
 *   # HELP <name> <help, with \ and newline escaped as \\ and \n>
 *   # TYPE <name> counter|gauge|histogram|summary|untyped
 *   <name>{<label>="<value, with \ " newline escaped>",...} <value>
 *
 * Lines end in `\n`, the last one too. A family's HELP and TYPE come once,
 * before its samples, and its samples are not interleaved with another
 * family's. A histogram `x` writes `x_bucket{le="..."}` (cumulative, ending
 * with `le="+Inf"`, equal to `x_count`), then `x_sum` and `x_count`.
 * Values are Go-style floats: `+Inf`, `-Inf`, `NaN`, or a decimal.
 */
export type MetricType = "counter" | "gauge" | "histogram";

export interface MetricSample {
  /** The family name, or for a histogram the name with `_bucket`, `_sum` or `_count`. */
  readonly name: string;
  readonly labels: readonly (readonly [string, string])[];
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: readonly MetricSample[];
}

/** Writes families in the order given. */
export function writeExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) lines.push(`${sample.name}${writeLabels(sample.labels)} ${formatNumber(sample.value)}`);
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

function writeLabels(labels: readonly (readonly [string, string])[]): string {
  if (labels.length === 0) return "";
  return `{${labels.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`;
}

/** HELP text: backslash and line feed are escaped (a double quote is not). */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Label values: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value as the text format spells it: `+Inf`, `-Inf`, `NaN`, else the shortest round-trip decimal. */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}
