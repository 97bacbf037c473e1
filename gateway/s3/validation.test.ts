import { describe, expect, test } from "bun:test";
import { S3Error } from "../errors.ts";
import {
  assertValidBucketName,
  assertValidKey,
  bucketNameProblem,
  parseLengthHeader,
  storageClassFromHeader,
  storageClasses,
  userMetadataFromHeaders,
} from "./validation.ts";

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    if (error instanceof S3Error) return error.code;
    throw error;
  }
}

describe("bucket names", () => {
  test.each(["abc", "my-bucket", "my.bucket.name", "a1b2", "0bucket9", "a".repeat(63), "192.168.5.x"])("accepts %p", (name) => {
    expect(bucketNameProblem(name)).toBeUndefined();
  });

  test.each([
    ["ab", "too short"],
    ["a".repeat(64), "too long"],
    ["MyBucket", "upper case"],
    ["my_bucket", "underscore"],
    ["-bucket", "starts with hyphen"],
    ["bucket-", "ends with hyphen"],
    [".bucket", "starts with dot"],
    ["bucket.", "ends with dot"],
    ["my..bucket", "adjacent dots"],
    ["192.168.5.4", "IP address"],
    ["xn--bucket", "xn-- prefix"],
    ["sthree-bucket", "sthree- prefix"],
    ["bucket-s3alias", "-s3alias suffix"],
    ["bucket--ol-s3", "--ol-s3 suffix"],
    ["bucket.mrap", ".mrap suffix"],
    ["bucket--x-s3", "--x-s3 suffix"],
    ["my bucket", "space"],
    ["", "empty"],
  ])("refuses %p (%s)", (name) => {
    expect(bucketNameProblem(name)).toBeString();
    expect(codeOf(() => assertValidBucketName(name))).toBe("InvalidBucketName");
  });
});

describe("key length", () => {
  test("1024 UTF-8 bytes is the limit", () => {
    expect(codeOf(() => assertValidKey("k".repeat(1024)))).toBeUndefined();
    expect(codeOf(() => assertValidKey("k".repeat(1025)))).toBe("KeyTooLongError");
  });

  test("counts bytes, not characters", () => {
    // "é" is two bytes in UTF-8: 512 of them fit, 513 do not.
    expect(codeOf(() => assertValidKey("é".repeat(512)))).toBeUndefined();
    expect(codeOf(() => assertValidKey("é".repeat(513)))).toBe("KeyTooLongError");
    // An astral character is 4 bytes but 2 UTF-16 units.
    expect(codeOf(() => assertValidKey("😀".repeat(256)))).toBeUndefined();
    expect(codeOf(() => assertValidKey("😀".repeat(257)))).toBe("KeyTooLongError");
  });
});

describe("storage class", () => {
  test("defaults to STANDARD and keeps valid classes", () => {
    expect(storageClassFromHeader(undefined, storageClasses)).toBe("STANDARD");
    expect(storageClassFromHeader("STANDARD_IA", storageClasses)).toBe("STANDARD_IA");
    expect(storageClassFromHeader("GLACIER_IR", storageClasses)).toBe("GLACIER_IR");
    // Known to S3 but not configured in this store.
    const configured = new Set(["STANDARD", "REDUCED_REDUNDANCY"]);
    expect(storageClassFromHeader("REDUCED_REDUNDANCY", configured)).toBe("REDUCED_REDUNDANCY");
    expect(codeOf(() => storageClassFromHeader("GLACIER", configured))).toBe("InvalidStorageClass");
  });

  test("refuses unknown classes", () => {
    expect(codeOf(() => storageClassFromHeader("CHEAP", storageClasses))).toBe("InvalidStorageClass");
    expect(codeOf(() => storageClassFromHeader("standard", storageClasses))).toBe("InvalidStorageClass");
  });
});

describe("user metadata", () => {
  test("collects x-amz-meta-* with lower-case names", () => {
    const headers = new Map([
      ["x-amz-meta-color", "blue"],
      ["x-amz-meta-Shape", "round"],
      ["content-type", "text/plain"],
    ]);
    expect(userMetadataFromHeaders(headers)).toEqual({ color: "blue", shape: "round" });
  });

  test("2 KB of names and values is the limit", () => {
    // name "k" (1 byte) + 2047 bytes of value = 2048.
    expect(codeOf(() => userMetadataFromHeaders(new Map([["x-amz-meta-k", "v".repeat(2047)]])))).toBeUndefined();
    expect(codeOf(() => userMetadataFromHeaders(new Map([["x-amz-meta-k", "v".repeat(2048)]])))).toBe("MetadataTooLarge");
    const many = new Map<string, string>();
    for (let index = 0; index < 30; index += 1) many.set(`x-amz-meta-key${index}`, "v".repeat(70));
    expect(codeOf(() => userMetadataFromHeaders(many))).toBe("MetadataTooLarge");
  });
});

describe("length headers", () => {
  test("parses digits and refuses the rest", () => {
    expect(parseLengthHeader("content-length", undefined)).toBeUndefined();
    expect(parseLengthHeader("content-length", "0")).toBe(0);
    expect(parseLengthHeader("content-length", "5368709120")).toBe(5368709120);
    expect(codeOf(() => parseLengthHeader("content-length", "-1"))).toBe("InvalidArgument");
    expect(codeOf(() => parseLengthHeader("content-length", "12a"))).toBe("InvalidArgument");
  });
});
