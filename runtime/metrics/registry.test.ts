import { describe, expect, test } from "bun:test";
import { isAssertionError } from "../assert.ts";
import { MetricsRegistry } from "./registry.ts";
import { registerProcessMetrics } from "./process-metrics.ts";
import { parseExposition, sampleValue } from "./testing/exposition-parser.ts";

function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("metrics registry", () => {
  test("counters add per label set and render in registration order", async () => {
    const registry = new MetricsRegistry();
    const requests = registry.counter({ name: "demo_requests_total", help: "Requests.", labelNames: ["operation", "status"] });
    requests.inc({ operation: "GetObject", status: "200" });
    requests.inc({ operation: "GetObject", status: "200" }, 2);
    requests.inc({ operation: "PutObject", status: "503" });
    expect(requests.value({ operation: "GetObject", status: "200" })).toBe(3);
    const text = await registry.render();
    expect(text).toContain(
      ["# HELP demo_requests_total Requests.", "# TYPE demo_requests_total counter", 'demo_requests_total{operation="GetObject",status="200"} 3', 'demo_requests_total{operation="PutObject",status="503"} 1'].join("\n"),
    );
    // The registry's own counter comes first, registered by the constructor.
    expect(text.indexOf("cairn_metrics_series_dropped_total")).toBeLessThan(text.indexOf("demo_requests_total"));
    parseExposition(text);
  });

  test("unlabelled metrics show 0 before their first update", async () => {
    const registry = new MetricsRegistry();
    registry.counter({ name: "demo_events_total", help: "" });
    registry.gauge({ name: "demo_level", help: "" });
    registry.histogram({ name: "demo_wait_seconds", help: "", buckets: [1] });
    registry.counter({ name: "demo_labelled_total", help: "", labelNames: ["kind"] });
    const parsed = parseExposition(await registry.render());
    expect(sampleValue(parsed, "demo_events_total")).toBe(0);
    expect(sampleValue(parsed, "cairn_metrics_series_dropped_total")).toBe(0);
    expect(sampleValue(parsed, "demo_level")).toBe(0);
    expect(sampleValue(parsed, "demo_wait_seconds_count")).toBe(0);
    expect(sampleValue(parsed, "demo_wait_seconds_bucket", { le: "+Inf" })).toBe(0);
    // A labelled metric has no series until one is used: which label values exist is not known before.
    expect(parsed.get("demo_labelled_total")?.samples).toEqual([]);
  });

  test("histograms: inclusive upper bounds, cumulative buckets, +Inf, _sum and _count", async () => {
    const registry = new MetricsRegistry();
    const latency = registry.histogram({ name: "demo_seconds", help: "Latency.", labelNames: ["operation"], buckets: [0.1, 1, 10] });
    for (const value of [0.05, 0.1, 0.5, 1, 20]) latency.observe({ operation: "GetObject" }, value);
    const text = await registry.render();
    expect(text).toContain(
      [
        "# TYPE demo_seconds histogram",
        'demo_seconds_bucket{operation="GetObject",le="0.1"} 2',
        'demo_seconds_bucket{operation="GetObject",le="1"} 4',
        'demo_seconds_bucket{operation="GetObject",le="10"} 4',
        'demo_seconds_bucket{operation="GetObject",le="+Inf"} 5',
        'demo_seconds_sum{operation="GetObject"} 21.65',
        'demo_seconds_count{operation="GetObject"} 5',
      ].join("\n"),
    );
    expect(latency.count({ operation: "GetObject" })).toBe(5);
    const parsed = parseExposition(text);
    expect(sampleValue(parsed, "demo_seconds_bucket", { le: "+Inf" })).toBe(5);
  });

  test("gauges set, add and clear; collectors run before each render", async () => {
    const registry = new MetricsRegistry();
    const used = registry.gauge({ name: "demo_disk_bytes", help: "Bytes.", labelNames: ["disk"] });
    let disks = ["d0", "d1"];
    registry.onCollect(async () => {
      used.clear();
      for (const disk of disks) used.set({ disk }, disk.length * 10);
    });
    let parsed = parseExposition(await registry.render());
    expect(sampleValue(parsed, "demo_disk_bytes", { disk: "d1" })).toBe(20);
    disks = ["d0"];
    parsed = parseExposition(await registry.render());
    expect(sampleValue(parsed, "demo_disk_bytes", { disk: "d1" })).toBeUndefined();
    const inFlight = registry.gauge({ name: "demo_in_flight", help: "In flight." });
    inFlight.add({}, 2);
    inFlight.add({}, -1);
    expect(inFlight.value()).toBe(1);
  });

  test("a series beyond seriesMax is dropped and counted, never created", async () => {
    const registry = new MetricsRegistry();
    const byKey = registry.counter({ name: "demo_by_key_total", help: "A mistake.", labelNames: ["key"], seriesMax: 2 });
    for (const key of ["a", "b", "c", "d", "a"]) byKey.inc({ key });
    const parsed = parseExposition(await registry.render());
    expect(parsed.get("demo_by_key_total")?.samples.length).toBe(2);
    expect(sampleValue(parsed, "demo_by_key_total", { key: "a" })).toBe(2);
    expect(sampleValue(parsed, "cairn_metrics_series_dropped_total")).toBe(2);
  });

  test("bugs are assertions: bad names, wrong labels, duplicate metrics, negative counts, unordered buckets", () => {
    const registry = new MetricsRegistry();
    const counter = registry.counter({ name: "demo_total", help: "", labelNames: ["a"] });
    const cases: (() => unknown)[] = [
      () => registry.counter({ name: "demo_count", help: "" }),
      () => registry.gauge({ name: "9bad", help: "" }),
      () => registry.gauge({ name: "demo_g", help: "", labelNames: ["__reserved"] }),
      () => registry.counter({ name: "demo_total", help: "" }),
      () => counter.inc({ b: "1" } as never),
      () => counter.inc({ a: "1", b: "2" } as never),
      () => counter.inc({ a: "1" }, -1),
      () => registry.histogram({ name: "demo_h", help: "", buckets: [1, 0.5] }),
      () => registry.histogram({ name: "demo_h2", help: "", labelNames: ["le"], buckets: [1] }),
      () => registry.histogram({ name: "demo_h3", help: "", buckets: [1, Number.POSITIVE_INFINITY] }),
    ];
    for (const work of cases) expect(isAssertionError(thrown(work))).toBe(true);
  });

  test("process metrics report this process's memory", async () => {
    const registry = new MetricsRegistry();
    registerProcessMetrics(registry);
    const parsed = parseExposition(await registry.render());
    expect(sampleValue(parsed, "cairn_process_resident_memory_bytes")).toBeGreaterThan(1024 * 1024);
    expect(sampleValue(parsed, "cairn_process_heap_used_bytes")).toBeGreaterThan(0);
    expect(sampleValue(parsed, "cairn_process_start_time_seconds")).toBeGreaterThan(1_600_000_000);
  });
});
