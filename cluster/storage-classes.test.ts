import { describe, expect, test } from "bun:test";
import { defaultStorageClasses, defaultWriteQuorum, parseStorageClasses, parseWriteQuorum } from "./storage-classes.ts";

describe("storage class configuration", () => {
  test("the default parses on six disks", () => {
    expect([...parseStorageClasses(defaultStorageClasses, 6)]).toEqual([
      ["STANDARD", { dataShards: 4, parityShards: 2 }],
      ["REDUCED_REDUNDANCY", { dataShards: 4, parityShards: 1 }],
    ]);
  });

  test("bad lists are refused with a message that says why", () => {
    expect(() => parseStorageClasses("STANDARD=6+3", 6)).toThrow("needs 9 disks, there are 6");
    expect(() => parseStorageClasses("REDUCED_REDUNDANCY=2+1", 6)).toThrow("STANDARD storage class must be configured");
    expect(() => parseStorageClasses("STANDARD=4-2", 6)).toThrow("is not NAME=K+M");
    expect(() => parseStorageClasses("STANDARD=0+2", 6)).toThrow("needs k >= 1");
    expect(() => parseStorageClasses("STANDARD=4+2,STANDARD=2+1", 6)).toThrow("configured twice");
  });

  test("write quorum k+N, capped at k+m", () => {
    const scheme = { dataShards: 4, parityShards: 2 };
    expect(parseWriteQuorum(defaultWriteQuorum)(scheme)).toBe(5);
    expect(parseWriteQuorum("k")(scheme)).toBe(4);
    expect(parseWriteQuorum("k+5")(scheme)).toBe(6);
    expect(() => parseWriteQuorum("5")).toThrow("is not k or k+N");
  });
});
