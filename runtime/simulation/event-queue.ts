/**
 * The simulation's one event queue: a binary min-heap ordered by (time,
 * insertion sequence). Two events due at the same simulated millisecond run
 * in the order they were scheduled, which is what makes a run a pure
 * function of its seed.
 */
import { assert } from "../assert.ts";

/** One scheduled piece of work. `cancelled` events stay in the heap and are skipped when popped. */
export interface ScheduledEvent {
  readonly timeMs: number;
  readonly sequence: number;
  /** What the event is, for livelock reports and logs (e.g. `deliver`, `sleep`, `turn`). */
  readonly label: string;
  readonly run: () => void;
  cancelled: boolean;
}

export class EventQueue {
  readonly #heap: ScheduledEvent[] = [];
  #sequence = 0;
  #liveCount = 0;

  /** Events not yet run and not cancelled. */
  liveCount(): number {
    return this.#liveCount;
  }

  push(timeMs: number, label: string, run: () => void): ScheduledEvent {
    assert(Number.isFinite(timeMs), `EventQueue.push: timeMs must be finite, got ${timeMs}`);
    const event: ScheduledEvent = { timeMs, sequence: this.#sequence++, label, run, cancelled: false };
    const heap = this.#heap;
    heap.push(event);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(event, heap[parent]!)) break;
      heap[index] = heap[parent]!;
      index = parent;
    }
    heap[index] = event;
    this.#liveCount += 1;
    return event;
  }

  /** Marks `event` as never to run; it is dropped when it reaches the top. */
  cancel(event: ScheduledEvent): void {
    if (event.cancelled) return;
    event.cancelled = true;
    this.#liveCount -= 1;
  }

  /** The next live event without removing it. */
  peek(): ScheduledEvent | undefined {
    this.#dropCancelled();
    return this.#heap[0];
  }

  /** Removes and returns the next live event. */
  pop(): ScheduledEvent | undefined {
    this.#dropCancelled();
    const top = this.#heap[0];
    if (top === undefined) return undefined;
    this.#removeTop();
    this.#liveCount -= 1;
    return top;
  }

  /** Counts live events by label, for a report on a run that never goes idle. */
  labelCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const event of this.#heap) {
      if (!event.cancelled) counts.set(event.label, (counts.get(event.label) ?? 0) + 1);
    }
    return counts;
  }

  #dropCancelled(): void {
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#removeTop();
  }

  #removeTop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left;
      if (!before(heap[child]!, last)) break;
      heap[index] = heap[child]!;
      index = child;
    }
    heap[index] = last;
  }
}

function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.sequence < b.sequence);
}
