import { describe, expect, test } from "bun:test";
import { seededRandom } from "../random.ts";
import { EventQueue } from "./event-queue.ts";
import { TraceHash } from "./trace-hash.ts";

describe("event queue", () => {
  test("pops by (time, insertion order) against a sorted reference; cancelled events are skipped", () => {
    const seed = 2024;
    const random = seededRandom(seed);
    const queue = new EventQueue();
    const reference: { timeMs: number; order: number; cancelled: boolean }[] = [];
    const events = [];
    for (let order = 0; order < 2_000; order += 1) {
      const timeMs = random.integer(50);
      events.push(queue.push(timeMs, `e${order}`, () => {}));
      reference.push({ timeMs, order, cancelled: false });
    }
    for (let index = 0; index < 300; index += 1) {
      const victim = random.integer(events.length);
      queue.cancel(events[victim]!);
      reference[victim]!.cancelled = true;
    }
    const expected = reference
      .filter((entry) => !entry.cancelled)
      .sort((a, b) => a.timeMs - b.timeMs || a.order - b.order)
      .map((entry) => `e${entry.order}`);
    expect(queue.liveCount()).toBe(expected.length);
    const popped: string[] = [];
    for (let event = queue.pop(); event !== undefined; event = queue.pop()) popped.push(event.label);
    expect(popped).toEqual(expected);
    expect(queue.liveCount()).toBe(0);
  });
});

describe("trace hash", () => {
  const hashOf = (...deliveries: [number, string, string, unknown][]): string => {
    const hash = new TraceHash();
    for (const [timeMs, what, target, message] of deliveries) hash.delivery(timeMs, what, target, message);
    return hash.hex();
  };

  test("equal structures hash equal; any change in time, target, order or content changes the hash", () => {
    const base = hashOf([5, "message", "n1#1:a", { kind: "Ping", n: 1, bytes: new Uint8Array([1, 2]) }]);
    expect(base).toMatch(/^[0-9a-f]{16}$/);
    expect(hashOf([5, "message", "n1#1:a", { kind: "Ping", n: 1, bytes: new Uint8Array([1, 2]) }])).toBe(base);
    const variants = [
      hashOf([6, "message", "n1#1:a", { kind: "Ping", n: 1, bytes: new Uint8Array([1, 2]) }]),
      hashOf([5, "reply", "n1#1:a", { kind: "Ping", n: 1, bytes: new Uint8Array([1, 2]) }]),
      hashOf([5, "message", "n1#2:a", { kind: "Ping", n: 1, bytes: new Uint8Array([1, 2]) }]),
      hashOf([5, "message", "n1#1:a", { kind: "Ping", n: 2, bytes: new Uint8Array([1, 2]) }]),
      hashOf([5, "message", "n1#1:a", { kind: "Ping", n: 1, bytes: new Uint8Array([1, 3]) }]),
      hashOf([5, "message", "n1#1:a", { kind: "Ping", n: "1", bytes: new Uint8Array([1, 2]) }]),
      hashOf([5, "message", "n1#1:a", { kind: "Ping", n: 1n, bytes: new Uint8Array([1, 2]) }]),
      hashOf([5, "message", "n1#1:a", { kind: "Ping", n: 1, bytes: [1, 2] }]),
      hashOf([5, "message", "n1#1:a", { kind: "Ping", n: 1, bytes: new Uint8Array([1, 2]) }], [5, "message", "n1#1:a", null]),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
    expect(hashOf([1, "m", "a", 1], [2, "m", "b", 2])).not.toBe(hashOf([2, "m", "b", 2], [1, "m", "a", 1]));
  });

  test("large byte arrays are sampled but their length and ends always count", () => {
    const big = new Uint8Array(1 << 20);
    const base = hashOf([1, "m", "a", big]);
    const longer = hashOf([1, "m", "a", new Uint8Array((1 << 20) + 1)]);
    const lastChanged = big.slice();
    lastChanged[lastChanged.length - 1] = 7;
    const firstChanged = big.slice();
    firstChanged[0] = 7;
    expect(new Set([base, longer, hashOf([1, "m", "a", lastChanged]), hashOf([1, "m", "a", firstChanged])]).size).toBe(4);
  });
});
