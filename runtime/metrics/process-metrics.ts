/**
 * Gauges of this process's memory and age, read at each render. The memory
 * figures are what `process.memoryUsage()` reports (under Bun, `heapUsed` and
 * `heapTotal` are JavaScriptCore's heap).
 */
import type { MetricsRegistry } from "./registry.ts";

/** Registers `cairn_process_*` gauges on `registry`. */
export function registerProcessMetrics(registry: MetricsRegistry): void {
  const startSeconds = Date.now() / 1000 - process.uptime();
  const resident = registry.gauge({ name: "cairn_process_resident_memory_bytes", help: "Resident set size of the process." });
  const heapUsed = registry.gauge({ name: "cairn_process_heap_used_bytes", help: "JavaScript heap in use." });
  const heapTotal = registry.gauge({ name: "cairn_process_heap_total_bytes", help: "JavaScript heap reserved." });
  const external = registry.gauge({ name: "cairn_process_external_memory_bytes", help: "Memory held outside the JavaScript heap by buffers and native objects." });
  const start = registry.gauge({ name: "cairn_process_start_time_seconds", help: "When the process started, in seconds since the Unix epoch." });
  registry.onCollect(() => {
    const usage = process.memoryUsage();
    resident.set({}, usage.rss);
    heapUsed.set({}, usage.heapUsed);
    heapTotal.set({}, usage.heapTotal);
    external.set({}, usage.external);
    start.set({}, Math.round(startSeconds));
  });
}
