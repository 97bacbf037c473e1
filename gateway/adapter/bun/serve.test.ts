/**
 * What only the Bun adapter has: cutting the raw path and query out of
 * `req.url`. Everything it shares with the other adapters (raw request
 * fields, streaming both ways, backpressure, stop(), clients that go away,
 * SigV4 with the SDK) runs once per adapter in `../adapter.case.test.ts`.
 */
import { describe, expect, test } from "bun:test";
import { splitRawUrl } from "./serve.ts";

describe("splitRawUrl", () => {
  test("keeps the path and query exactly as written", () => {
    expect(splitRawUrl("http://h:1/b/a%2Fb//c?x=%2F&y")).toEqual({ rawPath: "/b/a%2Fb//c", rawQuery: "x=%2F&y" });
    expect(splitRawUrl("http://h/")).toEqual({ rawPath: "/", rawQuery: "" });
    expect(splitRawUrl("http://h")).toEqual({ rawPath: "/", rawQuery: "" });
    expect(splitRawUrl("http://h/k?")).toEqual({ rawPath: "/k", rawQuery: "" });
    expect(splitRawUrl("http://h/k?a=b?c")).toEqual({ rawPath: "/k", rawQuery: "a=b?c" });
  });
});
