/**
 * A running hash of what a simulation delivered and when. Two runs of the
 * same seed must end with the same hash; a test compares them to prove the
 * run is deterministic. It is a fingerprint, not a checksum: two 32-bit
 * murmur3-style lanes with different seeds, 64 bits in all.
 */

/** Most bytes of one byte array folded into the hash. */
const bytesSampledMax = 1_024;

export class TraceHash {
  #low = 0x9747b28c;
  #high = 0x1b873593;
  #count = 0;

  /** Deliveries folded in so far. */
  count(): number {
    return this.#count;
  }

  /** The hash as 16 hex digits. */
  hex(): string {
    const low = finalize(this.#low ^ this.#count);
    const high = finalize(this.#high ^ Math.imul(this.#count, 0x85ebca6b));
    return `${(high >>> 0).toString(16).padStart(8, "0")}${(low >>> 0).toString(16).padStart(8, "0")}`;
  }

  /** Folds in one delivery: its time, what kind of delivery, the target, and the message. */
  delivery(timeMs: number, what: string, target: string, message: unknown): void {
    this.#count += 1;
    this.number(timeMs);
    this.text(what);
    this.text(target);
    this.value(message, 0);
  }

  number(value: number): void {
    // Whole milliseconds are the common case; fractions go through their text.
    if (Number.isInteger(value) && Math.abs(value) < 2 ** 31) this.#word(value | 0);
    else this.text(String(value));
  }

  text(value: string): void {
    this.#word(value.length);
    for (let index = 0; index < value.length; index += 1) this.#word(value.charCodeAt(index));
  }

  /** A structural walk: same shape and contents give the same words, whatever the object identity. */
  value(value: unknown, depth: number): void {
    // Deep or cyclic structures are cut off: the hash needs to tell runs
    // apart, not to capture every byte of a pathological message.
    if (depth > 12) {
      this.#word(0x0d);
      return;
    }
    switch (typeof value) {
      case "undefined":
        this.#word(1);
        return;
      case "boolean":
        this.#word(value ? 3 : 2);
        return;
      case "number":
        this.#word(4);
        this.number(value);
        return;
      case "bigint":
        this.#word(5);
        this.text(value.toString(16));
        return;
      case "string":
        this.#word(6);
        this.text(value);
        return;
      case "function":
      case "symbol":
        this.#word(7);
        return;
      case "object":
        break;
    }
    if (value === null) {
      this.#word(8);
      return;
    }
    if (value instanceof Uint8Array) {
      this.#word(9);
      this.#word(value.length);
      // Shard-sized payloads are sampled (at most `bytesSampledMax` bytes, evenly
      // spaced, ends included): hashing megabytes per delivery would dominate a
      // run, and a fingerprint of the trace does not need every byte.
      const stride = Math.max(1, Math.ceil(value.length / bytesSampledMax));
      for (let index = 0; index < value.length; index += stride) this.#word(value[index]!);
      if (value.length > 0) this.#word(value[value.length - 1]!);
      return;
    }
    if (Array.isArray(value)) {
      this.#word(10);
      this.#word(value.length);
      for (const item of value) this.value(item, depth + 1);
      return;
    }
    this.#word(11);
    // Insertion order of keys is itself deterministic, so no sorting is needed.
    for (const key of Object.keys(value)) {
      this.text(key);
      this.value((value as Record<string, unknown>)[key], depth + 1);
    }
    this.#word(12);
  }

  #word(word: number): void {
    let k = Math.imul(word | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    let low = this.#low ^ k;
    low = (low << 13) | (low >>> 19);
    this.#low = (Math.imul(low, 5) + 0xe6546b64) | 0;
    let high = this.#high ^ Math.imul(k, 0x2c1b3c6d);
    high = (high << 17) | (high >>> 15);
    this.#high = (Math.imul(high, 9) + 0x6b43a9b5) | 0;
  }
}

function finalize(value: number): number {
  let hash = value;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash;
}
