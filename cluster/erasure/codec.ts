/**
 * The erasure codec contract: systematic Reed-Solomon over GF(2^8).
 *
 * A stripe of `k` data shards of equal length gets `m` parity shards of the
 * same length; any `k` of the `k + m` shards rebuild the rest. Shard `i < k`
 * is data (the stripe's bytes, unchanged), shard `k + j` is parity `j`.
 * Every kernel (portable TypeScript, WebAssembly SIMD, ISA-L through
 * `bun:ffi`) produces identical bytes for the same scheme.
 */

/** k data shards plus m parity shards, k + m ≤ 32. */
export interface ErasureScheme {
  readonly dataShards: number;
  readonly parityShards: number;
}

/** Which implementation runs the GF(2^8) multiply-accumulate loops. */
export type ErasureKernel = "portable" | "wasm-simd" | "isal";

export interface ErasureCodec {
  readonly scheme: ErasureScheme;
  readonly kernel: ErasureKernel;
  /**
   * Computes the parity of one stripe. `data` holds k shards and `parity` m
   * shards, all of the same length (0 allowed); parity is overwritten.
   */
  encode(data: readonly Uint8Array[], parity: readonly Uint8Array[]): void;
  /**
   * Rebuilds missing shards in place. `shards` has k + m entries; a missing
   * shard is `undefined`; every present shard has the same length. At least k
   * must be present, otherwise it throws a RangeError. With `dataOnly`, only
   * missing data shards (index < k) are rebuilt and parity stays missing.
   */
  reconstruct(shards: (Uint8Array | undefined)[], options?: { readonly dataOnly?: boolean }): void;
}
