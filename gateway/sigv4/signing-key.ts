/**
 * SigV4 signing keys and signatures.
 *
 * The signing key is four chained HMACs; it changes only with the day, so a
 * busy gateway derives it once per (secret, date, region, service) and keeps
 * it in a bounded LRU cache. The cache is keyed by the secret itself, never by
 * the access key id alone: a rotated secret must not reuse a stale key.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { strict as assert } from "node:assert";

/** Most signing keys kept; one per active (secret, day, region) is typical. */
export const signingKeyCacheEntriesMax = 1024;

function hmac(key: Uint8Array | string, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/** Derives the signing key without caching (the HMAC chain from the SigV4 spec). */
export function deriveSigningKey(secretAccessKey: string, date: string, region: string, service: string): Uint8Array {
  const dateKey = hmac(`AWS4${secretAccessKey}`, date);
  const regionKey = hmac(dateKey, region);
  const serviceKey = hmac(regionKey, service);
  return hmac(serviceKey, "aws4_request");
}

/** A bounded least-recently-used cache of derived signing keys. */
export class SigningKeyCache {
  readonly #entriesMax: number;
  // Map iteration order is insertion order, so the first key is the least recently used.
  readonly #entries = new Map<string, Uint8Array>();

  constructor(entriesMax: number = signingKeyCacheEntriesMax) {
    assert(Number.isInteger(entriesMax) && entriesMax > 0, "signing key cache needs a positive capacity");
    this.#entriesMax = entriesMax;
  }

  /** Returns the signing key, deriving and remembering it on a miss. */
  get(secretAccessKey: string, date: string, region: string, service: string): Uint8Array {
    // NUL cannot occur in any of the parts of a well-formed scope, so the key is unambiguous.
    const cacheKey = `${date}\u0000${region}\u0000${service}\u0000${secretAccessKey}`;
    const cached = this.#entries.get(cacheKey);
    if (cached !== undefined) {
      this.#entries.delete(cacheKey);
      this.#entries.set(cacheKey, cached);
      return cached;
    }
    const derived = deriveSigningKey(secretAccessKey, date, region, service);
    this.#entries.set(cacheKey, derived);
    if (this.#entries.size > this.#entriesMax) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    assert(this.#entries.size <= this.#entriesMax);
    return derived;
  }

  /** Number of keys held (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }
}

/** The process-wide cache the verifier uses. */
export const signingKeyCache = new SigningKeyCache();

/** Lower-case hex HMAC-SHA256 of `stringToSign` under `signingKey`. */
export function signatureHex(signingKey: Uint8Array, stringToSign: string): string {
  return hmac(signingKey, stringToSign).toString("hex");
}

const hexSignaturePattern = /^[0-9a-fA-F]{64}$/;

/**
 * Compares a computed signature with the one the client sent, in constant time
 * for well-formed input (the length and alphabet checks reveal nothing secret).
 */
export function signaturesEqual(computedHex: string, providedHex: string): boolean {
  if (!hexSignaturePattern.test(providedHex) || !hexSignaturePattern.test(computedHex)) return false;
  return timingSafeEqual(Buffer.from(computedHex, "hex"), Buffer.from(providedHex, "hex"));
}
