import { expect, test } from "bun:test";
import { deriveSigningKey, SigningKeyCache, signaturesEqual } from "./signing-key.ts";

test("the signing key of the S3 docs' credentials (s3-examples.json parameters.signingKeyHex)", () => {
  const key = deriveSigningKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3");
  expect(Buffer.from(key).toString("hex")).toBe("dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378");
});

test("the cache returns the derived key, keys by secret too, and stays within its bound (least recently used goes first)", () => {
  const cache = new SigningKeyCache(2);
  const first = cache.get("secret-a", "20240101", "us-east-1", "s3");
  expect(cache.get("secret-a", "20240101", "us-east-1", "s3")).toBe(first);
  expect(Buffer.from(cache.get("secret-b", "20240101", "us-east-1", "s3"))).not.toEqual(Buffer.from(first));
  expect(cache.size).toBe(2);
  cache.get("secret-a", "20240101", "us-east-1", "s3"); // a is now the most recently used
  cache.get("secret-a", "20240102", "us-east-1", "s3"); // evicts b
  expect(cache.size).toBe(2);
  expect(cache.get("secret-a", "20240101", "us-east-1", "s3")).toBe(first);
  expect(Buffer.from(cache.get("secret-a", "20240101", "eu-west-1", "s3"))).toEqual(
    Buffer.from(deriveSigningKey("secret-a", "20240101", "eu-west-1", "s3")),
  );
  expect(() => new SigningKeyCache(0)).toThrow();
});

test("signaturesEqual: case-insensitive hex, refuses malformed input", () => {
  const hex = "ab".repeat(32);
  expect(signaturesEqual(hex, hex.toUpperCase())).toBe(true);
  expect(signaturesEqual(hex, `${"ab".repeat(31)}ac`)).toBe(false);
  expect(signaturesEqual(hex, hex.slice(2))).toBe(false);
  expect(signaturesEqual(hex, `${hex.slice(2)}zz`)).toBe(false);
});
