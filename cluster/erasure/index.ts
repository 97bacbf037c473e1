/**
 * The public surface of `cluster/erasure/`: Reed-Solomon erasure coding over
 * GF(2^8) and the helpers that cut a stripe into shards. See README.md for the
 * invariants.
 */
export type { ErasureCodec, ErasureKernel, ErasureScheme } from "./codec.ts";
export { availableKernels, createErasureCodec, recoveryPlansMax, shardsMax } from "./erasure-codec.ts";
export type { ErasureCodecOptions } from "./erasure-codec.ts";
export { joinStripe, shardBytesFor, splitStripe } from "./stripe.ts";
