/**
 * Byte-string helpers shared by the metadata backends. Keys are compared as
 * unsigned bytes, lexicographically, exactly as FoundationDB orders them.
 */

/** Negative, zero or positive as `a` sorts before, equal to or after `b` (unsigned bytewise). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    const difference = (a[index] as number) - (b[index] as number);
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

/** True when both byte strings hold the same bytes. */
export function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) {
    if (a[index] !== b[index]) return false;
  }
  return true;
}

/** The concatenation of the given byte strings. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The first key after `key` in byte order: `key` followed by one zero byte. */
export function keyAfter(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key, 0);
  return out;
}

/**
 * FoundationDB's `strinc`: the first key greater than every key that starts
 * with `prefix`. Trailing 0xff bytes are dropped and the last remaining byte is
 * incremented; a prefix made only of 0xff bytes has no such key (a bug to ask).
 */
export function strinc(prefix: Uint8Array): Uint8Array {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) throw new Error("strinc: the prefix is empty or all 0xff bytes");
  const out = prefix.slice(0, end);
  out[end - 1] = (out[end - 1] as number) + 1;
  return out;
}

/**
 * A string whose UTF-16 code units are the bytes of `key`; such strings compare
 * with `<` exactly as the bytes compare, so they serve as ordered map keys.
 */
export function bytesToOrderedString(key: Uint8Array): string {
  let out = "";
  // Chunked so that very long keys do not overflow the argument stack.
  for (let offset = 0; offset < key.length; offset += 4096) {
    out += String.fromCharCode(...key.subarray(offset, offset + 4096));
  }
  return out;
}
