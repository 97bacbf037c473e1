/**
 * Cutting a stripe into k data shards and putting it back together. A stripe
 * of n bytes becomes k shards of ceil(n / k) bytes: shard i holds bytes
 * [i·s, (i + 1)·s) and the tail past n is zeros. The zero padding is what gets
 * encoded, so it must be zeros on every node, and the object record keeps n
 * to cut it off again.
 */

/** The length of each shard of a stripe of `stripeBytes` bytes cut into `dataShards` shards: ceil(stripeBytes / dataShards). */
export function shardBytesFor(stripeBytes: number, dataShards: number): number {
  if (!Number.isSafeInteger(stripeBytes) || stripeBytes < 0) throw new RangeError(`shardBytesFor: stripeBytes must be an integer ≥ 0, got ${stripeBytes}`);
  if (!Number.isInteger(dataShards) || dataShards < 1) throw new RangeError(`shardBytesFor: dataShards must be an integer ≥ 1, got ${dataShards}`);
  return Math.ceil(stripeBytes / dataShards);
}

/**
 * The `dataShards` data shards of `stripe`, each `shardBytes` long. Shards that
 * lie wholly inside the stripe are views of it (no copy); only a shard that
 * needs zero padding is a fresh array. `shardBytes` may exceed
 * `shardBytesFor(stripe.length, dataShards)` (e.g. for an aligned shard size),
 * never fall short of it.
 */
export function splitStripe(stripe: Uint8Array, dataShards: number, shardBytes: number): Uint8Array[] {
  if (!Number.isInteger(dataShards) || dataShards < 1) throw new RangeError(`splitStripe: dataShards must be an integer ≥ 1, got ${dataShards}`);
  if (!Number.isSafeInteger(shardBytes) || shardBytes < 0) throw new RangeError(`splitStripe: shardBytes must be an integer ≥ 0, got ${shardBytes}`);
  if (shardBytes * dataShards < stripe.length) {
    throw new RangeError(`splitStripe: ${dataShards} shards of ${shardBytes} bytes cannot hold a ${stripe.length}-byte stripe`);
  }
  const shards: Uint8Array[] = [];
  for (let index = 0; index < dataShards; index += 1) {
    const start = index * shardBytes;
    const end = start + shardBytes;
    if (end <= stripe.length) {
      shards.push(stripe.subarray(start, end));
    } else {
      const padded = new Uint8Array(shardBytes);
      if (start < stripe.length) padded.set(stripe.subarray(start));
      shards.push(padded);
    }
  }
  return shards;
}

/**
 * Copies the first `stripeBytes` bytes of the data shards, in order, into
 * `output` (a new array by default) and returns it: the inverse of
 * `splitStripe`.
 */
export function joinStripe(dataShards: readonly Uint8Array[], stripeBytes: number, output: Uint8Array = new Uint8Array(stripeBytes)): Uint8Array {
  if (!Number.isSafeInteger(stripeBytes) || stripeBytes < 0) throw new RangeError(`joinStripe: stripeBytes must be an integer ≥ 0, got ${stripeBytes}`);
  if (output.length < stripeBytes) throw new RangeError(`joinStripe: output holds ${output.length} bytes, ${stripeBytes} needed`);
  let written = 0;
  for (const shard of dataShards) {
    if (written === stripeBytes) break;
    const take = Math.min(shard.length, stripeBytes - written);
    output.set(take === shard.length ? shard : shard.subarray(0, take), written);
    written += take;
  }
  if (written < stripeBytes) throw new RangeError(`joinStripe: the shards hold ${written} bytes, ${stripeBytes} needed`);
  return output;
}
