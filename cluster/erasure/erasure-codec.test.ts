/**
 * The codec on every kernel: the same cases run on each kernel that is
 * available here, and the kernels are compared with each other byte for byte.
 * A kernel that cannot run here is skipped with the reason printed (never a
 * pass). Random cases come from one printed seed; replay a failure with
 * `ERASURE_SEED=<seed> bun test cluster/erasure/`.
 */
import { describe, expect, test } from "bun:test";
import { randomSeed, seededRandom, type Random } from "../../runtime/index.ts";
import type { ErasureCodec, ErasureKernel } from "./codec.ts";
import { availableKernels, createErasureCodec } from "./erasure-codec.ts";

const allKernels: readonly ErasureKernel[] = ["portable", "wasm-simd", "isal"];
const available = availableKernels();
const skipReasons: Record<ErasureKernel, string> = {
  portable: "",
  "wasm-simd": "this runtime lacks WebAssembly SIMD",
  isal: "libisal2 not installed",
};

const seed = process.env.ERASURE_SEED === undefined ? randomSeed() : Number(process.env.ERASURE_SEED);
console.log(`erasure codec seed=${seed} (replay: ERASURE_SEED=${seed} bun test cluster/erasure/)`);

function randomShards(random: Random, count: number, length: number): Uint8Array[] {
  return Array.from({ length: count }, () => random.bytes(length));
}

function encodeFresh(codec: ErasureCodec, data: readonly Uint8Array[]): Uint8Array[] {
  const parity = Array.from({ length: codec.scheme.parityShards }, () => new Uint8Array(data[0]!.length).fill(0xa5));
  codec.encode(data, parity);
  return parity;
}

/** Every subset of [0, count) with at most `sizeMax` members. */
function erasurePatterns(count: number, sizeMax: number): number[][] {
  const patterns: number[][] = [[]];
  for (const pattern of patterns) {
    if (pattern.length === sizeMax) continue;
    for (let index = (pattern.at(-1) ?? -1) + 1; index < count; index += 1) patterns.push([...pattern, index]);
  }
  return patterns;
}

/** Erases `missing` from a copy of `shards`, reconstructs, and checks every rebuilt shard. */
function expectRebuilds(codec: ErasureCodec, shards: readonly Uint8Array[], missing: readonly number[], context: string, dataOnly = false): void {
  const damaged: (Uint8Array | undefined)[] = [...shards];
  for (const index of missing) damaged[index] = undefined;
  codec.reconstruct(damaged, { dataOnly });
  shards.forEach((shard, index) => {
    if (dataOnly && index >= codec.scheme.dataShards && missing.includes(index)) {
      expect(damaged[index], `${context}: parity ${index} stays missing with dataOnly`).toBeUndefined();
      return;
    }
    const rebuilt = damaged[index];
    if (rebuilt === undefined || Buffer.compare(rebuilt, shard) !== 0) {
      throw new Error(`${context}: shard ${index} (missing ${missing.join(",")}, dataOnly ${dataOnly}) was not rebuilt correctly`);
    }
  });
}

describe("scheme and kernel validation", () => {
  test("bad schemes throw RangeError", () => {
    for (const scheme of [
      { dataShards: 0, parityShards: 2 },
      { dataShards: -1, parityShards: 2 },
      { dataShards: 4, parityShards: -1 },
      { dataShards: 2.5, parityShards: 1 },
      { dataShards: 4, parityShards: 1.5 },
      { dataShards: Number.NaN, parityShards: 1 },
      { dataShards: 20, parityShards: 13 },
      { dataShards: 33, parityShards: 0 },
    ]) {
      expect(() => createErasureCodec(scheme), JSON.stringify(scheme)).toThrow(RangeError);
    }
    expect(() => createErasureCodec({ dataShards: 4, parityShards: 2 }, { kernel: "avx9000" as ErasureKernel })).toThrow(RangeError);
  });

  test("the largest schemes and m = 0 are accepted", () => {
    expect(createErasureCodec({ dataShards: 31, parityShards: 1 }).scheme).toEqual({ dataShards: 31, parityShards: 1 });
    expect(createErasureCodec({ dataShards: 1, parityShards: 31 }).scheme).toEqual({ dataShards: 1, parityShards: 31 });
    expect(createErasureCodec({ dataShards: 32, parityShards: 0 }).scheme).toEqual({ dataShards: 32, parityShards: 0 });
  });

  test("the default kernel is wasm-simd where available, else portable", () => {
    const codec = createErasureCodec({ dataShards: 4, parityShards: 2 });
    expect(codec.kernel).toBe(available.includes("wasm-simd") ? "wasm-simd" : "portable");
    expect(available[0]).toBe("portable");
  });
});

for (const kernel of allKernels) {
  describe(`kernel ${kernel}`, () => {
    if (!available.includes(kernel)) {
      console.log(`${kernel}: skipped (${skipReasons[kernel]})`);
      test.skip(`${kernel}: skipped (${skipReasons[kernel]})`, () => {});
      return;
    }

    test("known parity: stored data depends on these bytes never changing", () => {
      const cases = [
        { dataShards: 4, parityShards: 2, length: 8, parity: ["e8c8a88868482808", "d2f292b252721232"] },
        { dataShards: 10, parityShards: 4, length: 4, parity: ["4013e6b5", "194abfec", "5099df16", "5c95d31a"] },
      ];
      for (const { dataShards, parityShards, length, parity } of cases) {
        const codec = createErasureCodec({ dataShards, parityShards }, { kernel });
        const data = Array.from({ length: dataShards }, (_, shard) => Uint8Array.from({ length }, (_, index) => (shard * 16 + index) & 0xff));
        expect(encodeFresh(codec, data).map((bytes) => Buffer.from(bytes).toString("hex"))).toEqual(parity);
      }
    });

    test("every erasure pattern of up to m shards rebuilds, 4+2 and 6+3", () => {
      const random = seededRandom(seed).fork(`patterns ${kernel}`);
      for (const [dataShards, parityShards] of [[4, 2], [6, 3]] as const) {
        const codec = createErasureCodec({ dataShards, parityShards }, { kernel });
        const data = randomShards(random, dataShards, 1037);
        const shards = [...data, ...encodeFresh(codec, data)];
        const patterns = erasurePatterns(dataShards + parityShards, parityShards);
        for (const missing of patterns) {
          expectRebuilds(codec, shards, missing, `seed=${seed} ${kernel} ${dataShards}+${parityShards}`);
          expectRebuilds(codec, shards, missing, `seed=${seed} ${kernel} ${dataShards}+${parityShards}`, true);
        }
      }
    });

    test("8+4 and 10+4 encode and decode, up to m shards missing", () => {
      const random = seededRandom(seed).fork(`wide ${kernel}`);
      for (const [dataShards, parityShards] of [[8, 4], [10, 4]] as const) {
        const codec = createErasureCodec({ dataShards, parityShards }, { kernel });
        const data = randomShards(random, dataShards, 64 * 1024 + 3);
        const shards = [...data, ...encodeFresh(codec, data)];
        const total = dataShards + parityShards;
        for (let round = 0; round < 12; round += 1) {
          const missing = pickMissing(random, total, 1 + random.integer(parityShards));
          expectRebuilds(codec, shards, missing, `seed=${seed} ${kernel} ${dataShards}+${parityShards}`);
        }
        // The worst case for the bench: all m missing shards are data.
        expectRebuilds(codec, shards, [0, 1, 2, 3], `seed=${seed} ${kernel} ${dataShards}+${parityShards}`);
      }
    });

    test("fewer than k shards present is a RangeError, and nothing is written", () => {
      const codec = createErasureCodec({ dataShards: 4, parityShards: 2 }, { kernel });
      const shards: (Uint8Array | undefined)[] = [new Uint8Array(8), undefined, undefined, new Uint8Array(8), undefined, new Uint8Array(8)];
      expect(() => codec.reconstruct(shards)).toThrow(RangeError);
      expect(shards.filter((shard) => shard === undefined).length).toBe(3);
      expect(() => codec.reconstruct(new Array<Uint8Array | undefined>(6).fill(undefined))).toThrow(RangeError);
    });

    test("shape errors are RangeErrors", () => {
      const codec = createErasureCodec({ dataShards: 3, parityShards: 2 }, { kernel });
      const shard = (): Uint8Array => new Uint8Array(16);
      expect(() => codec.encode([shard(), shard()], [shard(), shard()])).toThrow(RangeError);
      expect(() => codec.encode([shard(), shard(), shard()], [shard()])).toThrow(RangeError);
      expect(() => codec.encode([shard(), shard(), new Uint8Array(15)], [shard(), shard()])).toThrow(RangeError);
      expect(() => codec.encode([shard(), shard(), shard()], [shard(), new Uint8Array(17)])).toThrow(RangeError);
      expect(() => codec.reconstruct([shard(), shard(), shard(), shard()])).toThrow(RangeError);
      expect(() => codec.reconstruct([shard(), undefined, shard(), new Uint8Array(3), shard()])).toThrow(RangeError);
    });

    test("zero-length stripes, m = 0, k = 1, and nothing missing", () => {
      const codec = createErasureCodec({ dataShards: 3, parityShards: 2 }, { kernel });
      const empty = [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)];
      const parity = [new Uint8Array(0), new Uint8Array(0)];
      codec.encode(empty, parity);
      const shards: (Uint8Array | undefined)[] = [undefined, new Uint8Array(0), undefined, new Uint8Array(0), new Uint8Array(0)];
      codec.reconstruct(shards);
      expect(shards.map((shard) => shard?.length)).toEqual([0, 0, 0, 0, 0]);

      const plain = createErasureCodec({ dataShards: 2, parityShards: 0 }, { kernel });
      plain.encode([new Uint8Array([1]), new Uint8Array([2])], []);
      const whole: (Uint8Array | undefined)[] = [new Uint8Array([1]), new Uint8Array([2])];
      plain.reconstruct(whole);
      expect(whole.map((shard) => shard![0])).toEqual([1, 2]);
      expect(() => plain.reconstruct([new Uint8Array([1]), undefined])).toThrow(RangeError);

      // k = 1: each parity shard is the data times a constant (1/i), so any
      // one shard rebuilds all the others.
      const single = createErasureCodec({ dataShards: 1, parityShards: 3 }, { kernel });
      const data = [Uint8Array.from({ length: 100 }, (_, index) => index)];
      const singleShards = [...data, ...encodeFresh(single, data)];
      for (let survivor = 0; survivor < 4; survivor += 1) {
        expectRebuilds(single, singleShards, [0, 1, 2, 3].filter((index) => index !== survivor), `seed=${seed} ${kernel} 1+3`);
      }

      const present: (Uint8Array | undefined)[] = [new Uint8Array(4), new Uint8Array(4), new Uint8Array(4), undefined, undefined];
      const before = [...present];
      codec.reconstruct(present, { dataOnly: true });
      expect(present).toEqual(before);
    });

    test("shards may be views at any offset of larger buffers", () => {
      const random = seededRandom(seed).fork(`views ${kernel}`);
      const codec = createErasureCodec({ dataShards: 5, parityShards: 3 }, { kernel });
      const length = 40_001;
      const backing = random.bytes(5 * length + 7);
      const data = Array.from({ length: 5 }, (_, index) => backing.subarray(7 + index * length, 7 + (index + 1) * length));
      const parityBacking = new Uint8Array(3 * length + 3);
      const parity = Array.from({ length: 3 }, (_, index) => parityBacking.subarray(3 + index * length, 3 + (index + 1) * length));
      codec.encode(data, parity);
      expect(Array.from(parityBacking.subarray(0, 3))).toEqual([0, 0, 0]);
      const reference = createErasureCodec({ dataShards: 5, parityShards: 3 }, { kernel: "portable" });
      const expected = encodeFresh(reference, data.map((view) => view.slice()));
      parity.forEach((view, index) => expect(Buffer.compare(view, expected[index]!)).toBe(0));
    });
  });
}

describe("properties over random schemes, erasures and lengths", () => {
  const random = seededRandom(seed).fork("properties");
  const lengths = [0, 1, 2, 15, 16, 17, 31, 33, 63, 64, 65, 127, 1000, 4095, 16_385, 32_769];
  const cases = Array.from({ length: 48 }, (_, index) => {
    const dataShards = 1 + random.integer(31);
    const parityShards = random.integer(33 - dataShards);
    // Most cases are short so that many schemes fit the time budget; every
    // fourth reaches a few hundred KiB, past the kernels' 16 KiB slices.
    const length = index % 4 === 3 ? 65_536 + random.integer(200_000) : random.integer(2) === 0 ? lengths[random.integer(lengths.length)]! : random.integer(5000);
    return { dataShards, parityShards, length, missing: pickMissing(random, dataShards + parityShards, random.integer(parityShards + 1)), dataOnly: random.integer(3) === 0 };
  });

  test(`every kernel (${available.join(", ")}) gives identical parity and rebuilds, for 48 random cases`, () => {
    for (const { dataShards, parityShards, length, missing, dataOnly } of cases) {
      const context = `seed=${seed} ${dataShards}+${parityShards} length ${length} missing [${missing.join(",")}] dataOnly ${dataOnly}`;
      const data = randomShards(random, dataShards, length);
      let reference: Uint8Array[] | undefined;
      let referenceRebuilt: (Uint8Array | undefined)[] | undefined;
      for (const kernel of available) {
        const codec = createErasureCodec({ dataShards, parityShards }, { kernel });
        const parity = encodeFresh(codec, data);
        reference ??= parity;
        parity.forEach((shard, index) => {
          if (Buffer.compare(shard, reference![index]!) !== 0) throw new Error(`${context}: ${kernel} parity ${index} differs from ${available[0]}`);
        });
        const shards = [...data, ...parity];
        expectRebuilds(codec, shards, missing, `${context} ${kernel}`, dataOnly);
        const damaged: (Uint8Array | undefined)[] = [...shards];
        for (const index of missing) damaged[index] = undefined;
        codec.reconstruct(damaged, { dataOnly });
        referenceRebuilt ??= damaged;
        damaged.forEach((shard, index) => {
          const expected = referenceRebuilt![index];
          const same = shard === undefined ? expected === undefined : expected !== undefined && Buffer.compare(shard, expected) === 0;
          if (!same) throw new Error(`${context}: ${kernel} rebuilt shard ${index} differs from ${available[0]}`);
        });
      }
    }
  });
});

describe("recovery plan cache", () => {
  test("stays correct while more erasure patterns than it holds come and go", () => {
    const random = seededRandom(seed).fork("cache");
    const codec = createErasureCodec({ dataShards: 10, parityShards: 4 });
    const data = randomShards(random, 10, 257);
    const shards = [...data, ...encodeFresh(codec, data)];
    // 10+4 has 1,471 patterns; walk 400 of them twice in a random order so
    // that plans are evicted and rebuilt.
    const patterns = erasurePatterns(14, 4);
    const chosen = Array.from({ length: 400 }, () => patterns[random.integer(patterns.length)]!);
    for (const missing of [...chosen, ...chosen]) expectRebuilds(codec, shards, missing, `seed=${seed} cache`);
  });
});

function pickMissing(random: Random, total: number, count: number): number[] {
  const indices = Array.from({ length: total }, (_, index) => index);
  for (let index = total - 1; index > 0; index -= 1) {
    const other = random.integer(index + 1);
    [indices[index], indices[other]] = [indices[other]!, indices[index]!];
  }
  return indices.slice(0, count).sort((a, b) => a - b);
}
