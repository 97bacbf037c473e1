import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { Crc32cJs, Crc32Js, Crc64NvmeJs } from "@aws-sdk/checksums/crc";
import { seededRandom } from "../../runtime/index.ts";
import { S3Error } from "../errors.ts";
import { crc64Nvme } from "./checksum-crc64nvme.ts";
import {
  checksumAlgorithms,
  checksumModeReplyHeaders,
  checksumOf,
  checksumRequestFrom,
  compositeChecksum,
  createChecksumHasher,
  verifyChecksum,
} from "./checksum.ts";

const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const hexToBase64 = (hex: string): string => Buffer.from(hex, "hex").toString("base64");

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof S3Error) return error.code;
    throw error;
  }
  return undefined;
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<string | undefined> {
  try {
    for await (const _ of body) void _;
  } catch (error) {
    if (error instanceof S3Error) return error.code;
    throw error;
  }
  return undefined;
}

async function* pieces(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}

describe("algorithms against published check values", () => {
  // The CRC catalogue's check input; the values are its published "check" entries.
  const check = text("123456789");
  test("CRC32 = 0xcbf43926, CRC32C = 0xe3069283, CRC64NVME = 0xae8b14860a799888", () => {
    expect(checksumOf("CRC32", check)).toBe(hexToBase64("cbf43926"));
    expect(checksumOf("CRC32C", check)).toBe(hexToBase64("e3069283"));
    expect(Buffer.from(crc64Nvme(check)).toString("hex")).toBe("ae8b14860a799888");
    expect(checksumOf("CRC64NVME", check)).toBe(hexToBase64("ae8b14860a799888"));
  });
  test("SHA1 and SHA256 of 'abc' (FIPS 180 examples)", () => {
    expect(checksumOf("SHA1", text("abc"))).toBe(hexToBase64("a9993e364706816aba3e25717850c26c9cd0d89d"));
    expect(checksumOf("SHA256", text("abc"))).toBe(hexToBase64("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  });
  test("the empty body", () => {
    expect(checksumOf("CRC32", new Uint8Array(0))).toBe("AAAAAA==");
    expect(checksumOf("CRC64NVME", new Uint8Array(0))).toBe("AAAAAAAAAAA=");
    expect(checksumOf("SHA256", new Uint8Array(0))).toBe(createHash("sha256").digest("base64"));
  });
});

describe("incremental hashing equals the AWS SDK's own JavaScript implementations", () => {
  test("random lengths split at random points", async () => {
    const seed = 0x5eed_c4c;
    console.log(`checksum cross-check seed ${seed}`);
    const random = seededRandom(seed);
    for (let round = 0; round < 40; round += 1) {
      const length = random.integer(round < 20 ? 64 : 300_000);
      const data = random.bytes(length);
      const splits = [0, random.integer(length + 1), random.integer(length + 1), length].sort((a, b) => a - b);
      for (const [algorithm, reference] of [
        ["CRC32", new Crc32Js()],
        ["CRC32C", new Crc32cJs()],
        ["CRC64NVME", new Crc64NvmeJs()],
      ] as const) {
        const hasher = createChecksumHasher(algorithm);
        for (let index = 0; index + 1 < splits.length; index += 1) hasher.update(data.subarray(splits[index], splits[index + 1]));
        reference.update(data);
        expect(Buffer.from(hasher.digest()).toString("hex")).toBe(Buffer.from(await reference.digest()).toString("hex"));
      }
    }
  });
});

describe("composite checksums (multipart, reused by CompleteMultipartUpload)", () => {
  test("the checksum of the concatenated raw part digests, suffixed with the part count", () => {
    const parts = [text("part one"), text("part two"), text("three")];
    for (const algorithm of checksumAlgorithms) {
      const partValues = parts.map((part) => checksumOf(algorithm, part));
      const raw = Buffer.concat(partValues.map((value) => Buffer.from(value, "base64")));
      const composite = compositeChecksum(algorithm, partValues);
      expect(composite).toEqual({ algorithm, type: "COMPOSITE", value: `${checksumOf(algorithm, raw)}-3` });
    }
  });
  test("SHA256 composite computed independently with node:crypto", () => {
    const a = createHash("sha256").update("a").digest();
    const b = createHash("sha256").update("b").digest();
    const expected = createHash("sha256").update(Buffer.concat([a, b])).digest("base64");
    expect(compositeChecksum("SHA256", [a.toString("base64"), b.toString("base64")]).value).toBe(`${expected}-2`);
  });
});

describe("what the request asks for", () => {
  const headers = (entries: Record<string, string>): Map<string, string> => new Map(Object.entries(entries));
  const crc = checksumOf("CRC32", text("x"));

  test("none, a header, a trailer", () => {
    expect(checksumRequestFrom(headers({}), false)).toBeUndefined();
    expect(checksumRequestFrom(headers({ "x-amz-checksum-crc32": crc, "x-amz-sdk-checksum-algorithm": "CRC32" }), false)).toEqual({
      algorithm: "CRC32",
      source: { kind: "header", value: crc },
    });
    expect(checksumRequestFrom(headers({ "x-amz-trailer": "X-Amz-Checksum-Crc64nvme", "x-amz-sdk-checksum-algorithm": "crc64nvme" }), true)).toEqual({
      algorithm: "CRC64NVME",
      source: { kind: "trailer", name: "x-amz-checksum-crc64nvme" },
    });
    // GET's mode header and a FULL_OBJECT type are not checksums to verify.
    expect(checksumRequestFrom(headers({ "x-amz-checksum-mode": "ENABLED", "x-amz-checksum-type": "FULL_OBJECT" }), false)).toBeUndefined();
  });

  test("refusals: InvalidRequest", () => {
    const cases: Record<string, string>[] = [
      { "x-amz-checksum-crc32": "not base64!" },
      { "x-amz-checksum-crc32": checksumOf("SHA1", text("x")) }, // the wrong length for CRC32
      { "x-amz-checksum-crc32": crc, "x-amz-checksum-sha1": checksumOf("SHA1", text("x")) },
      { "x-amz-checksum-blake3": "AAAA" },
      { "x-amz-sdk-checksum-algorithm": "CRC32" }, // names an algorithm but no value comes
      { "x-amz-sdk-checksum-algorithm": "SHA1", "x-amz-checksum-crc32": crc },
      { "x-amz-sdk-checksum-algorithm": "BLAKE3", "x-amz-checksum-crc32": crc },
      { "x-amz-checksum-type": "COMPOSITE" },
    ];
    for (const entries of cases) expect(codeOf(() => checksumRequestFrom(headers(entries), true))).toBe("InvalidRequest");
    expect(codeOf(() => checksumRequestFrom(headers({ "x-amz-trailer": "x-amz-checksum-crc32" }), false))).toBe("InvalidRequest");
    expect(codeOf(() => checksumRequestFrom(headers({ "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-checksum-crc32": crc }), true))).toBe(
      "InvalidRequest",
    );
    expect(codeOf(() => checksumRequestFrom(headers({ "x-amz-trailer": "x-amz-meta-foo" }), true))).toBe("InvalidRequest");
  });

  test("algorithms S3 added later (MD5, SHA512, XXHASH*) → NotImplemented, never stored unverified", () => {
    expect(codeOf(() => checksumRequestFrom(headers({ "x-amz-checksum-sha512": "AAAA" }), false))).toBe("NotImplemented");
    expect(codeOf(() => checksumRequestFrom(headers({ "x-amz-trailer": "x-amz-checksum-xxhash64" }), true))).toBe("NotImplemented");
    expect(codeOf(() => checksumRequestFrom(headers({ "x-amz-sdk-checksum-algorithm": "MD5", "x-amz-checksum-md5": "AAAA" }), false))).toBe(
      "NotImplemented",
    );
  });
});

describe("verifying the body", () => {
  const data = [text("hello "), text("world")];
  const whole = text("hello world");

  test("a matching header value passes and is the stored result", async () => {
    for (const algorithm of checksumAlgorithms) {
      const value = checksumOf(algorithm, whole);
      const { body, verified } = verifyChecksum(pieces(...data), { algorithm, source: { kind: "header", value } }, new Map());
      expect(await drain(body)).toBeUndefined();
      expect(verified.result()).toEqual({ algorithm, value, type: "FULL_OBJECT" });
    }
  });

  test("a mismatch is BadDigest at the end of the body, and no result is readable", async () => {
    const value = checksumOf("SHA256", text("hello worle"));
    const { body, verified } = verifyChecksum(pieces(...data), { algorithm: "SHA256", source: { kind: "header", value } }, new Map());
    expect(await drain(body)).toBe("BadDigest");
    expect(() => verified.result()).toThrow();
  });

  test("a trailer value is read when the body ends; missing or malformed → InvalidRequest; wrong → BadDigest", async () => {
    const request = { algorithm: "CRC32C", source: { kind: "trailer", name: "x-amz-checksum-crc32c" } } as const;
    const arriving = new Map<string, string>();
    const good = verifyChecksum(
      (async function* () {
        yield* pieces(...data);
        // The aws-chunked decoder fills the map just before its stream ends.
        arriving.set("x-amz-checksum-crc32c", checksumOf("CRC32C", whole));
      })(),
      request,
      arriving,
    );
    expect(await drain(good.body)).toBeUndefined();
    expect(good.verified.result().value).toBe(checksumOf("CRC32C", whole));

    expect(await drain(verifyChecksum(pieces(...data), request, new Map()).body)).toBe("InvalidRequest");
    expect(await drain(verifyChecksum(pieces(...data), request, new Map([["x-amz-checksum-crc32c", "%%%"]])).body)).toBe("InvalidRequest");
    const wrong = new Map([["x-amz-checksum-crc32c", checksumOf("CRC32C", text("other"))]]);
    expect(await drain(verifyChecksum(pieces(...data), request, wrong).body)).toBe("BadDigest");
  });
});

test("GET/HEAD return the stored checksum only when asked and only for the whole object", () => {
  const checksum = { algorithm: "CRC64NVME", value: checksumOf("CRC64NVME", text("x")), type: "FULL_OBJECT" } as const;
  const asked = new Map([["x-amz-checksum-mode", "ENABLED"]]);
  expect(checksumModeReplyHeaders(asked, checksum, true)).toEqual({ "x-amz-checksum-crc64nvme": checksum.value, "x-amz-checksum-type": "FULL_OBJECT" });
  expect(checksumModeReplyHeaders(asked, checksum, false)).toEqual({});
  expect(checksumModeReplyHeaders(new Map(), checksum, true)).toEqual({});
  expect(checksumModeReplyHeaders(asked, undefined, true)).toEqual({});
});
