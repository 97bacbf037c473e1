import { describe, expect, test } from "bun:test";
import { AssertionError, assert, assertNever, isAssertionError } from "./assert.ts";

describe("assert", () => {
  test("passes on truthy conditions and narrows", () => {
    const value: string | undefined = "x" as string | undefined;
    assert(value !== undefined, "value is set");
    expect(value.length).toBe(1);
    expect(() => assert(1, "one")).not.toThrow();
  });

  test("throws an AssertionError carrying the message on falsy conditions", () => {
    for (const falsy of [false, 0, "", null, undefined, Number.NaN]) {
      expect(() => assert(falsy, "broken invariant")).toThrow(AssertionError);
    }
    try {
      assert(false, "volume index out of order");
      throw new Error("not reached");
    } catch (error) {
      expect(isAssertionError(error)).toBe(true);
      expect((error as Error).message).toBe("volume index out of order");
      expect((error as Error).name).toBe("AssertionError");
    }
  });

  test("assertNever throws with the unexpected value in the message", () => {
    type Kind = "a" | "b";
    const check = (kind: Kind): string => {
      switch (kind) {
        case "a":
          return "A";
        case "b":
          return "B";
        default:
          return assertNever(kind);
      }
    };
    expect(check("a")).toBe("A");
    expect(() => check("c" as Kind)).toThrow(/unexpected value: "c"/);
    expect(() => assertNever("z" as never, "custom")).toThrow("custom");
  });

  test("isAssertionError tells bugs from other errors", () => {
    expect(isAssertionError(new AssertionError("x"))).toBe(true);
    expect(isAssertionError(new Error("x"))).toBe(false);
    expect(isAssertionError("x")).toBe(false);
  });
});
