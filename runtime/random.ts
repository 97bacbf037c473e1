/**
 * Seeded pseudo-random numbers: sfc32 (Chris Doty-Humphrey's Small Fast
 * Counting generator, 128-bit state) seeded through splitmix32. It is small,
 * fast, and holds up in the standard statistical test batteries, which is all
 * a test or a simulation needs (it is not for secrets). Every random choice in
 * Cairn comes from one of these, so a run replays from its printed seed;
 * `randomSeed` is the one place entropy enters.
 */
import { assert } from "./assert.ts";
import type { Random } from "./behavior.ts";

const twoPow32 = 0x1_0000_0000;
const twoPow53 = 2 ** 53;

/** A fresh uint32 seed from the operating system's entropy; print it so the run can be replayed. */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

/** A deterministic source: the same `seed` (an integer in [0, 2^32)) always yields the same sequence. */
export function seededRandom(seed: number): Random {
  assert(Number.isInteger(seed) && seed >= 0 && seed < twoPow32, `seededRandom: seed must be an integer in [0, 2^32), got ${seed}`);
  return new Sfc32Random(seed);
}

class Sfc32Random implements Random {
  readonly seed: number;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    this.seed = seed;
    // splitmix32 spreads a small or patterned seed (0, 1, 2…) over the whole
    // state, so neighbouring seeds give unrelated sequences.
    let mix = seed | 0;
    const nextMix = (): number => {
      mix = (mix + 0x9e3779b9) | 0;
      let z = mix;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) | 0;
    };
    this.#a = nextMix();
    this.#b = nextMix();
    this.#c = nextMix();
    this.#d = nextMix();
    // The customary warm-up for sfc32: the first outputs after seeding are
    // the least mixed.
    for (let round = 0; round < 12; round += 1) this.#nextUint32();
  }

  next(): number {
    // 53 random bits: every double in [0, 1) on the 2^-53 grid is reachable.
    const high = this.#nextUint32() >>> 5;
    const low = this.#nextUint32() >>> 6;
    return (high * 67_108_864 + low) / twoPow53;
  }

  integer(bound: number): number {
    assert(Number.isSafeInteger(bound) && bound > 0, `integer: bound must be a positive safe integer, got ${bound}`);
    // Rejection sampling: taking a plain remainder would favour small values
    // whenever bound does not divide the range.
    if (bound <= twoPow32) {
      const limit = twoPow32 - (twoPow32 % bound);
      for (;;) {
        const draw = this.#nextUint32();
        if (draw < limit) return draw % bound;
      }
    }
    const limit = twoPow53 - (twoPow53 % bound);
    for (;;) {
      const draw = (this.#nextUint32() >>> 11) * twoPow32 + this.#nextUint32();
      if (draw < limit) return draw % bound;
    }
  }

  bytes(length: number): Uint8Array {
    assert(Number.isSafeInteger(length) && length >= 0, `bytes: length must be a non-negative integer, got ${length}`);
    const out = new Uint8Array(length);
    for (let offset = 0; offset < length; offset += 4) {
      let word = this.#nextUint32();
      for (let index = offset; index < Math.min(offset + 4, length); index += 1) {
        out[index] = word & 0xff;
        word >>>= 8;
      }
    }
    return out;
  }

  fork(label: string): Random {
    return new Sfc32Random(forkSeed(this.seed, label));
  }

  #nextUint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }
}

/**
 * The child seed depends on the parent's seed and the label only, never on
 * how much the parent has drawn, so adding a draw in one component does not
 * reshuffle every other component's sequence.
 */
function forkSeed(seed: number, label: string): number {
  // FNV-1a over the label's UTF-8 bytes, started from the parent seed, then
  // a murmur3 finaliser so that similar labels land far apart.
  let hash = (0x811c9dc5 ^ Math.imul(seed, 0x9e3779b1)) | 0;
  for (const byte of new TextEncoder().encode(label)) {
    hash = Math.imul(hash ^ byte, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
