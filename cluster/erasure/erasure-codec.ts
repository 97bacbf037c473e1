/**
 * `createErasureCodec`: systematic Reed-Solomon over GF(2^8) on one of three
 * kernels that all produce the same bytes. The codec owns the matrices (see
 * matrix.ts) and the checks; the kernel only multiplies.
 */
import type { ErasureCodec, ErasureKernel, ErasureScheme } from "./codec.ts";
import { isalAvailable, isalKernel } from "./isal-kernel.ts";
import { encodingMatrix, recoveryPlan, type RecoveryPlan } from "./matrix.ts";
import type { MatrixKernel, PreparedMultiply } from "./matrix-kernel.ts";
import { portableKernel } from "./portable-kernel.ts";
import { wasmSimdAvailable, wasmSimdKernel } from "./wasm-simd-kernel.ts";

/** The most shards (data plus parity) a stripe may have. */
export const shardsMax = 32;

/**
 * How many recovery plans (inverted matrices, with the kernel's tables) a
 * codec keeps. Failures come a few disks at a time, so a handful of erasure
 * patterns are live at once; 10+4 has 1,471 patterns in all, and the bound
 * keeps a scrub that walks through many of them from holding them all.
 */
export const recoveryPlansMax = 128;

/** Options for `createErasureCodec`. */
export interface ErasureCodecOptions {
  /** Which kernel runs the byte loops; default `wasm-simd`, or `portable` where WebAssembly SIMD is missing. */
  readonly kernel?: ErasureKernel;
}

const kernelNames: readonly ErasureKernel[] = ["portable", "wasm-simd", "isal"];

/** The kernels that run in this process, in this order: `portable` always, `wasm-simd` where WebAssembly SIMD is supported, `isal` where libisal2 loads under Bun. */
export function availableKernels(): ErasureKernel[] {
  const kernels: ErasureKernel[] = ["portable"];
  if (wasmSimdAvailable()) kernels.push("wasm-simd");
  if (isalAvailable()) kernels.push("isal");
  return kernels;
}

/**
 * A codec for `scheme` (k = dataShards ≥ 1, m = parityShards ≥ 0, k + m ≤ 32;
 * m = 0 is allowed and means no redundancy: encode writes nothing and
 * reconstruct needs every data shard). Throws a RangeError for a bad scheme or
 * an unknown kernel name, and an Error when the named kernel cannot run here.
 */
export function createErasureCodec(scheme: ErasureScheme, options: ErasureCodecOptions = {}): ErasureCodec {
  const { dataShards, parityShards } = scheme;
  if (!Number.isInteger(dataShards) || dataShards < 1) {
    throw new RangeError(`erasure scheme: dataShards must be an integer ≥ 1, got ${dataShards}`);
  }
  if (!Number.isInteger(parityShards) || parityShards < 0) {
    throw new RangeError(`erasure scheme: parityShards must be an integer ≥ 0, got ${parityShards}`);
  }
  if (dataShards + parityShards > shardsMax) {
    throw new RangeError(`erasure scheme: dataShards + parityShards must be ≤ ${shardsMax}, got ${dataShards} + ${parityShards}`);
  }
  const name = options.kernel ?? (wasmSimdAvailable() ? "wasm-simd" : "portable");
  return new ReedSolomonCodec({ dataShards, parityShards }, kernelNamed(name));
}

function kernelNamed(name: ErasureKernel): MatrixKernel {
  switch (name) {
    case "portable":
      return portableKernel;
    case "wasm-simd":
      return wasmSimdKernel;
    case "isal":
      return isalKernel;
    default:
      throw new RangeError(`erasure: unknown kernel ${JSON.stringify(name)} (known: ${kernelNames.join(", ")})`);
  }
}

interface PreparedPlan {
  readonly plan: RecoveryPlan;
  readonly multiply: PreparedMultiply;
}

class ReedSolomonCodec implements ErasureCodec {
  readonly scheme: ErasureScheme;
  readonly kernel: ErasureKernel;
  #kernel: MatrixKernel;
  #encoding: Uint8Array;
  #parity: PreparedMultiply;
  /** Recovery plans by erasure pattern, least recently used first (a Map keeps insertion order). */
  #plans = new Map<number, PreparedPlan>();

  constructor(scheme: ErasureScheme, kernel: MatrixKernel) {
    this.scheme = Object.freeze({ ...scheme });
    this.kernel = kernel.name;
    this.#kernel = kernel;
    const { dataShards, parityShards } = scheme;
    this.#encoding = encodingMatrix(dataShards, parityShards);
    // Preparing the parity rows now also makes an unavailable kernel fail
    // at construction rather than on the first stripe.
    this.#parity = kernel.prepare(this.#encoding.subarray(dataShards * dataShards), parityShards, dataShards);
  }

  encode(data: readonly Uint8Array[], parity: readonly Uint8Array[]): void {
    const { dataShards, parityShards } = this.scheme;
    if (data.length !== dataShards) throw new RangeError(`encode: expected ${dataShards} data shards, got ${data.length}`);
    if (parity.length !== parityShards) throw new RangeError(`encode: expected ${parityShards} parity shards, got ${parity.length}`);
    const length = data[0]!.length;
    for (const shard of [...data, ...parity]) {
      if (shard.length !== length) throw new RangeError(`encode: every shard must have the same length, got ${shard.length} and ${length}`);
    }
    if (length === 0 || parityShards === 0) return;
    this.#parity.multiply(data, parity, length);
  }

  reconstruct(shards: (Uint8Array | undefined)[], options: { readonly dataOnly?: boolean } = {}): void {
    const { dataShards, parityShards } = this.scheme;
    const total = dataShards + parityShards;
    if (shards.length !== total) throw new RangeError(`reconstruct: expected ${total} shard slots, got ${shards.length}`);
    const missing: number[] = [];
    let length = -1;
    for (let index = 0; index < total; index += 1) {
      const shard = shards[index];
      if (shard === undefined) {
        missing.push(index);
      } else if (length === -1) {
        length = shard.length;
      } else if (shard.length !== length) {
        throw new RangeError(`reconstruct: every present shard must have the same length, got ${shard.length} and ${length}`);
      }
    }
    if (total - missing.length < dataShards) {
      throw new RangeError(`reconstruct: ${total - missing.length} shards present, at least ${dataShards} needed`);
    }
    const dataOnly = options.dataOnly === true;
    const targets = dataOnly ? missing.filter((index) => index < dataShards) : missing;
    if (targets.length === 0) return;
    const prepared = this.#planFor(missing, targets, dataOnly);
    const outputs = targets.map(() => new Uint8Array(length));
    if (length > 0) {
      const inputs = prepared.plan.sources.map((index) => shards[index]!);
      prepared.multiply.multiply(inputs, outputs, length);
    }
    targets.forEach((index, row) => (shards[index] = outputs[row]!));
  }

  #planFor(missing: readonly number[], targets: readonly number[], dataOnly: boolean): PreparedPlan {
    // k + m ≤ 32, so the missing set fits a uint32 mask; dataOnly picks a
    // different target list for the same mask, hence the extra bit.
    let key = dataOnly ? 2 ** 32 : 0;
    for (const index of missing) key += 2 ** index;
    const cached = this.#plans.get(key);
    if (cached !== undefined) {
      this.#plans.delete(key);
      this.#plans.set(key, cached);
      return cached;
    }
    const { dataShards, parityShards } = this.scheme;
    const plan = recoveryPlan(this.#encoding, dataShards, parityShards, missing, targets);
    const prepared = { plan, multiply: this.#kernel.prepare(plan.matrix, targets.length, dataShards) };
    if (this.#plans.size >= recoveryPlansMax) this.#plans.delete(this.#plans.keys().next().value!);
    this.#plans.set(key, prepared);
    return prepared;
  }
}
