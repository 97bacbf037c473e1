import { describe, expect, test } from "bun:test";
import { S3Error } from "../errors.ts";
import { hostWithoutPort, parseQuery, resolveAddress } from "./addressing.ts";

describe("resolveAddress", () => {
  const domains = ["localhost", "s3.example.com"];

  test("path style: the first segment is the bucket, the rest is the key", () => {
    expect(resolveAddress("/", "127.0.0.1:9000", domains)).toEqual({ bucket: "", key: "", style: "path" });
    expect(resolveAddress("/b", "127.0.0.1:9000", domains)).toEqual({ bucket: "b", key: "", style: "path" });
    expect(resolveAddress("/b/", "127.0.0.1:9000", domains)).toEqual({ bucket: "b", key: "", style: "path" });
    expect(resolveAddress("/b/a/c", "127.0.0.1", domains)).toEqual({ bucket: "b", key: "a/c", style: "path" });
  });

  test("keys keep empty segments and trailing slashes, and are decoded once", () => {
    expect(resolveAddress("/b//x", undefined, domains).key).toBe("/x");
    expect(resolveAddress("/b/dir/", undefined, domains).key).toBe("dir/");
    expect(resolveAddress("/b/a%20b%2Bc+d", undefined, domains).key).toBe("a b+c+d");
    expect(resolveAddress("/b/%E2%82%AC%2F", undefined, domains).key).toBe("€/");
    expect(resolveAddress("/b/%2541", undefined, domains).key).toBe("%41");
  });

  test("virtual-hosted style when the host ends with .<domain>", () => {
    expect(resolveAddress("/a/b", "mybucket.localhost:9000", domains)).toEqual({ bucket: "mybucket", key: "a/b", style: "virtual-host" });
    expect(resolveAddress("/", "my.dotted.bucket.s3.example.com", domains)).toEqual({ bucket: "my.dotted.bucket", key: "", style: "virtual-host" });
    expect(resolveAddress("/k", "MyBucket.LOCALHOST", domains).bucket).toBe("mybucket");
    // The bare domain is path style.
    expect(resolveAddress("/b/k", "localhost:9000", domains)).toEqual({ bucket: "b", key: "k", style: "path" });
    expect(resolveAddress("/b/k", "notlocalhost:9000", domains).style).toBe("path");
  });

  test("bad percent-encoding is InvalidURI", () => {
    expect(() => resolveAddress("/b/%E2%82", undefined, domains)).toThrow(S3Error);
    expect(() => resolveAddress("/b/%zz", undefined, domains)).toThrow(S3Error);
  });
});

describe("hostWithoutPort", () => {
  test("strips ports and lower-cases", () => {
    expect(hostWithoutPort("Bucket.LocalHost:9000")).toBe("bucket.localhost");
    expect(hostWithoutPort("example.com")).toBe("example.com");
    expect(hostWithoutPort("[::1]:9000")).toBe("[::1]");
  });
});

describe("parseQuery", () => {
  test("names without values, decoding, first occurrence wins", () => {
    const query = parseQuery("uploads&prefix=a%2Fb+c&prefix=second&empty=&x-id=PutObject");
    expect([...query.entries()]).toEqual([
      ["uploads", ""],
      ["prefix", "a/b c"],
      ["empty", ""],
      ["x-id", "PutObject"],
    ]);
    expect(parseQuery("").size).toBe(0);
    expect(() => parseQuery("a=%zz")).toThrow(S3Error);
  });
});
