/**
 * A small metrics registry: counters, gauges and histograms with fixed
 * buckets, each with a fixed list of label names and a bound on how many
 * label combinations (series) it may hold.
 *
 * Why a bound: every series costs memory for the life of the process and a
 * line in every scrape. Labels must come from bounded sets (operation names,
 * status codes, disk ids of this node), never from keys or bucket names. A
 * series beyond `seriesMax` is not created; its update is dropped and counted
 * in `cairn_metrics_series_dropped_total`, so the mistake shows in the scrape
 * instead of taking the request that hit it down.
 *
 * Collectors (`onCollect`) fill gauges whose truth lives elsewhere (disk
 * usage asked of disk actors, process memory) right before each render.
 */
import { assert } from "../assert.ts";
import { formatNumber, writeExposition, type MetricFamily, type MetricSample } from "./exposition.ts";

/** Label values by label name. */
export type Labels<Name extends string> = Readonly<Record<Name, string>>;

export interface MetricOptions<Name extends string> {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total`. */
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly Name[];
  /** Most label combinations this metric may hold (default `defaultSeriesMax`). */
  readonly seriesMax?: number;
}

export interface HistogramOptions<Name extends string> extends MetricOptions<Name> {
  /** Upper bounds (`le`) of the buckets, ascending and finite; `+Inf` is added. */
  readonly buckets: readonly number[];
}

/** Default bound on the series of one metric. */
export const defaultSeriesMax = 1_000;

/** Request latencies in seconds: 1 ms to 60 s, roughly ×2.5 per step. */
export const latencyBucketsSeconds: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Metrics of one process, rendered together in the Prometheus text format. */
export class MetricsRegistry {
  readonly #metrics: Metric[] = [];
  readonly #names = new Set<string>();
  readonly #collectors: (() => void | Promise<void>)[] = [];
  readonly #dropped: Counter<never>;

  constructor() {
    this.#dropped = this.counter({
      name: "cairn_metrics_series_dropped_total",
      help: "Metric updates dropped because their metric already held seriesMax label combinations.",
    });
  }

  counter<Name extends string = never>(options: MetricOptions<Name>): Counter<Name> {
    assert(options.name.endsWith("_total"), `counter ${options.name}: counter names end in _total`);
    return this.#add(new Counter<Name>(options, () => this.#dropped.inc()));
  }

  gauge<Name extends string = never>(options: MetricOptions<Name>): Gauge<Name> {
    return this.#add(new Gauge<Name>(options, () => this.#dropped.inc()));
  }

  histogram<Name extends string = never>(options: HistogramOptions<Name>): Histogram<Name> {
    return this.#add(new Histogram<Name>(options, () => this.#dropped.inc()));
  }

  /**
   * Runs `collector` before every render, to set gauges from their source.
   * It must bound its own waits (every ask has a timeout); a collector that
   * throws is a bug and fails the render.
   */
  onCollect(collector: () => void | Promise<void>): void {
    this.#collectors.push(collector);
  }

  /** Runs the collectors, then writes every metric in the Prometheus text format (version 0.0.4). */
  async render(): Promise<string> {
    await Promise.all(this.#collectors.map((collector) => collector()));
    return writeExposition(this.#metrics.map((metric) => metric.family()));
  }

  #add<M extends Metric>(metric: M): M {
    assert(!this.#names.has(metric.name), `metric ${metric.name} is registered twice`);
    this.#names.add(metric.name);
    this.#metrics.push(metric);
    return metric;
  }
}

/** The Content-Type of `render()`'s output. */
export const expositionContentType = "text/plain; version=0.0.4; charset=utf-8";

abstract class Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #seriesMax: number;
  readonly #dropped: () => void;

  constructor(options: MetricOptions<string>, dropped: () => void) {
    assert(metricNamePattern.test(options.name), `metric name ${JSON.stringify(options.name)} is not a Prometheus name`);
    const labelNames = options.labelNames ?? [];
    for (const label of labelNames) {
      assert(labelNamePattern.test(label) && !label.startsWith("__"), `metric ${options.name}: label name ${JSON.stringify(label)} is not allowed`);
    }
    assert(new Set(labelNames).size === labelNames.length, `metric ${options.name}: label names repeat`);
    const seriesMax = options.seriesMax ?? defaultSeriesMax;
    assert(Number.isSafeInteger(seriesMax) && seriesMax > 0, `metric ${options.name}: seriesMax must be a positive integer`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = labelNames;
    this.#seriesMax = seriesMax;
    this.#dropped = dropped;
  }

  abstract family(): MetricFamily;

  /** The series key for `labels`, checked against the label names; undefined when the metric is full. */
  protected keyOf(labels: Readonly<Record<string, string>>, seriesCount: number, exists: (key: string) => boolean): string | undefined {
    const values = this.labelNames.map((label) => {
      const value = labels[label];
      assert(typeof value === "string", `metric ${this.name}: label ${label} is missing`);
      return value;
    });
    assert(Object.keys(labels).length === this.labelNames.length, `metric ${this.name}: labels ${Object.keys(labels).join(",")} are not ${this.labelNames.join(",")}`);
    const key = values.join("\u0000");
    if (!exists(key) && seriesCount >= this.#seriesMax) {
      this.#dropped();
      return undefined;
    }
    return key;
  }

  protected labelsOf(key: string): readonly (readonly [string, string])[] {
    if (this.labelNames.length === 0) return [];
    const values = key.split("\u0000");
    return this.labelNames.map((label, index) => [label, values[index]!] as const);
  }
}

/** A value that only goes up (resets when the process restarts). */
export class Counter<Name extends string> extends Metric {
  readonly #values = new Map<string, number>();

  constructor(options: MetricOptions<Name>, dropped: () => void) {
    super(options, dropped);
    // An unlabelled counter exists from the start, so a scrape shows 0 rather than nothing.
    if (this.labelNames.length === 0) this.#values.set("", 0);
  }

  /** Adds `amount` (default 1, never negative) to the series named by `labels`. */
  inc(labels: Labels<Name> = {} as Labels<Name>, amount = 1): void {
    assert(Number.isFinite(amount) && amount >= 0, `counter ${this.name}: cannot add ${amount}`);
    const key = this.keyOf(labels, this.#values.size, (candidate) => this.#values.has(candidate));
    if (key === undefined) return;
    this.#values.set(key, (this.#values.get(key) ?? 0) + amount);
  }

  /** The current value of one series (0 when it does not exist). */
  value(labels: Labels<Name> = {} as Labels<Name>): number {
    return this.#values.get(this.labelNames.map((label) => (labels as Record<string, string>)[label] ?? "").join("\u0000")) ?? 0;
  }

  family(): MetricFamily {
    const samples: MetricSample[] = [...this.#values].map(([key, value]) => ({ name: this.name, labels: this.labelsOf(key), value }));
    return { name: this.name, help: this.help, type: "counter", samples };
  }
}

/** A value that goes up and down, set directly or by a collector. */
export class Gauge<Name extends string> extends Metric {
  readonly #values = new Map<string, number>();

  constructor(options: MetricOptions<Name>, dropped: () => void) {
    super(options, dropped);
    if (this.labelNames.length === 0) this.#values.set("", 0);
  }

  /** Sets one series (an unlabelled gauge takes `{}`). */
  set(labels: Labels<Name>, value: number): void {
    const key = this.keyOf(labels, this.#values.size, (candidate) => this.#values.has(candidate));
    if (key !== undefined) this.#values.set(key, value);
  }

  /** Adds `delta` (may be negative) to one series. */
  add(labels: Labels<Name>, delta: number): void {
    const key = this.keyOf(labels, this.#values.size, (candidate) => this.#values.has(candidate));
    if (key !== undefined) this.#values.set(key, (this.#values.get(key) ?? 0) + delta);
  }

  /** Forgets every series, so a collector can set exactly the ones that exist now (e.g. disks still here). */
  clear(): void {
    this.#values.clear();
  }

  value(labels: Labels<Name> = {} as Labels<Name>): number | undefined {
    return this.#values.get(this.labelNames.map((label) => (labels as Record<string, string>)[label] ?? "").join("\u0000"));
  }

  family(): MetricFamily {
    const samples: MetricSample[] = [...this.#values].map(([key, value]) => ({ name: this.name, labels: this.labelsOf(key), value }));
    return { name: this.name, help: this.help, type: "gauge", samples };
  }
}

interface HistogramSeries {
  /** Per bucket, observations that fell in it (not cumulative); the last is `+Inf`. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into fixed buckets, with their sum and count. */
export class Histogram<Name extends string> extends Metric {
  readonly buckets: readonly number[];
  readonly #series = new Map<string, HistogramSeries>();

  constructor(options: HistogramOptions<Name>, dropped: () => void) {
    super(options, dropped);
    assert(!this.labelNames.includes("le"), `histogram ${options.name}: "le" is reserved for buckets`);
    assert(options.buckets.length > 0, `histogram ${options.name}: needs at least one bucket`);
    for (let index = 0; index < options.buckets.length; index += 1) {
      const bound = options.buckets[index]!;
      assert(Number.isFinite(bound), `histogram ${options.name}: bucket bounds are finite (+Inf is implied)`);
      assert(index === 0 || bound > options.buckets[index - 1]!, `histogram ${options.name}: bucket bounds must ascend`);
    }
    this.buckets = [...options.buckets];
    if (this.labelNames.length === 0) this.#series.set("", { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 });
  }

  /** Counts `value` into one series (an unlabelled histogram takes `{}`). */
  observe(labels: Labels<Name>, value: number): void {
    assert(!Number.isNaN(value), `histogram ${this.name}: cannot observe NaN`);
    const key = this.keyOf(labels, this.#series.size, (candidate) => this.#series.has(candidate));
    if (key === undefined) return;
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    // `le` is inclusive: a value equal to a bound falls in that bound's bucket.
    let bucket = this.buckets.findIndex((bound) => value <= bound);
    if (bucket < 0) bucket = this.buckets.length;
    series.counts[bucket]! += 1;
    series.sum += value;
    series.count += 1;
  }

  /** Observations so far in one series. */
  count(labels: Labels<Name> = {} as Labels<Name>): number {
    return this.#series.get(this.labelNames.map((label) => (labels as Record<string, string>)[label] ?? "").join("\u0000"))?.count ?? 0;
  }

  family(): MetricFamily {
    const samples: MetricSample[] = [];
    for (const [key, series] of this.#series) {
      const labels = this.labelsOf(key);
      let cumulative = 0;
      for (let index = 0; index <= this.buckets.length; index += 1) {
        cumulative += series.counts[index]!;
        const le = index < this.buckets.length ? formatNumber(this.buckets[index]!) : "+Inf";
        samples.push({ name: `${this.name}_bucket`, labels: [...labels, ["le", le]], value: cumulative });
      }
      samples.push({ name: `${this.name}_sum`, labels, value: series.sum });
      samples.push({ name: `${this.name}_count`, labels, value: series.count });
    }
    return { name: this.name, help: this.help, type: "histogram", samples };
  }
}
