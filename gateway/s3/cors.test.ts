import { describe, expect, test } from "bun:test";
import { S3Error } from "../errors.ts";
import {
  answerPreflight,
  corsConfigurationDocument,
  corsResponseHeaders,
  corsRulesMax,
  findCorsRule,
  matchesWildcard,
  parseCorsConfiguration,
  requestedHeaders,
  type CorsConfiguration,
} from "./cors.ts";

function failure(run: () => unknown): [string, string] {
  try {
    run();
  } catch (error) {
    if (error instanceof S3Error) return [error.code, error.message];
    throw error;
  }
  throw new Error("expected an S3Error");
}

const rule = (body: string): string => `<CORSRule>${body}</CORSRule>`;
const configuration = (...rules: string[]): string => `<CORSConfiguration>${rules.join("")}</CORSConfiguration>`;

const example = configuration(
  rule(
    "<ID>app</ID><AllowedOrigin>https://app.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>" +
      "<AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader><ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-version-id</ExposeHeader>" +
      "<MaxAgeSeconds>3000</MaxAgeSeconds>",
  ),
  rule("<AllowedOrigin>https://*.example.org</AllowedOrigin><AllowedMethod>DELETE</AllowedMethod>"),
  rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader>"),
);

describe("the CORSConfiguration document", () => {
  test("parses every element of every rule, in order", () => {
    const parsed = parseCorsConfiguration(example);
    expect(parsed.rules).toEqual([
      {
        id: "app",
        allowedOrigins: ["https://app.example.com"],
        allowedMethods: ["GET", "PUT"],
        allowedHeaders: ["x-amz-*", "Content-Type"],
        exposeHeaders: ["ETag", "x-amz-version-id"],
        maxAgeSeconds: 3000,
      },
      { allowedOrigins: ["https://*.example.org"], allowedMethods: ["DELETE"], allowedHeaders: [], exposeHeaders: [] },
      { allowedOrigins: ["*"], allowedMethods: ["GET", "HEAD"], allowedHeaders: ["*"], exposeHeaders: [] },
    ]);
  });

  test("the canonical reply parses back to the same rules", () => {
    const parsed = parseCorsConfiguration(example);
    const reply = corsConfigurationDocument(parsed);
    expect(reply).toContain('<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">');
    expect(parseCorsConfiguration(reply)).toEqual(parsed);
  });

  test("S3's refusals: schema → MalformedXML, unknown methods and extra wildcards → InvalidRequest", () => {
    for (const bad of [
      "",
      "<CORS/>",
      "<CORSConfiguration/>",
      configuration("<Rule/>"),
      configuration(rule("<AllowedMethod>GET</AllowedMethod>")),
      configuration(rule("<AllowedOrigin>*</AllowedOrigin>")),
      configuration(rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><Unknown>x</Unknown>")),
      configuration(rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>-1</MaxAgeSeconds>")),
      configuration(rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>1.5</MaxAgeSeconds>")),
      configuration(rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ID>a</ID><ID>b</ID>")),
      configuration(rule("<AllowedOrigin><x/></AllowedOrigin><AllowedMethod>GET</AllowedMethod>")),
    ]) {
      expect(failure(() => parseCorsConfiguration(bad))[0]).toBe("MalformedXML");
    }
    const one = rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>");
    expect(parseCorsConfiguration(configuration(...Array.from({ length: corsRulesMax }, () => one))).rules).toHaveLength(corsRulesMax);
    expect(failure(() => parseCorsConfiguration(configuration(...Array.from({ length: corsRulesMax + 1 }, () => one))))[0]).toBe("MalformedXML");
    expect(failure(() => parseCorsConfiguration(configuration(rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>"))))).toEqual([
      "InvalidRequest",
      "Found unsupported HTTP method in CORS config. Unsupported method is PATCH",
    ]);
    expect(failure(() => parseCorsConfiguration(configuration(rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod>"))))[0]).toBe("InvalidRequest");
    expect(failure(() => parseCorsConfiguration(configuration(rule("<AllowedOrigin>https://*.*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"))))).toEqual([
      "InvalidRequest",
      'AllowedOrigin "https://*.*.com" can not have more than one wildcard.',
    ]);
    expect(failure(() => parseCorsConfiguration(configuration(rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>**</AllowedHeader>"))))[0]).toBe("InvalidRequest");
    expect(failure(() => parseCorsConfiguration(configuration(rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>x-*</ExposeHeader>"))))[0]).toBe("InvalidRequest");
    expect(failure(() => parseCorsConfiguration(configuration(rule(`<ID>${"i".repeat(256)}</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>`))))[0]).toBe("InvalidArgument");
  });
});

describe("matching", () => {
  test("one wildcard stands for any run of characters, the empty run included", () => {
    expect(matchesWildcard("*", "")).toBe(true);
    expect(matchesWildcard("*", "https://anything")).toBe(true);
    expect(matchesWildcard("https://*.example.org", "https://a.example.org")).toBe(true);
    expect(matchesWildcard("https://*.example.org", "https://a.b.example.org")).toBe(true);
    expect(matchesWildcard("https://*.example.org", "https://.example.org")).toBe(true);
    expect(matchesWildcard("https://*.example.org", "https://example.org")).toBe(false);
    expect(matchesWildcard("https://*.example.org", "http://a.example.org")).toBe(false);
    expect(matchesWildcard("https://*.example.org", "https://a.example.org.evil")).toBe(false);
    // Prefix and suffix must not overlap: "ab*ba" does not match "aba".
    expect(matchesWildcard("ab*ba", "aba")).toBe(false);
    expect(matchesWildcard("ab*ba", "abba")).toBe(true);
    expect(matchesWildcard("x-amz-*", "x-amz-date")).toBe(true);
    expect(matchesWildcard("https://app.example.com", "https://app.example.com")).toBe(true);
    expect(matchesWildcard("https://app.example.com", "https://APP.example.com")).toBe(false);
  });

  test("the first rule matching origin, method and every requested header wins", () => {
    const parsed = parseCorsConfiguration(example);
    const [app, org, any] = parsed.rules;
    expect(findCorsRule(parsed, "https://app.example.com", "PUT", ["x-amz-date", "content-type"])).toBe(app!);
    // Header names match case-insensitively (the request's are lower-cased, the rule's patterns too).
    expect(findCorsRule(parsed, "https://app.example.com", "PUT", requestedHeaders("Content-Type, X-Amz-Meta-A"))).toBe(app!);
    // A header the app rule lacks: the next rules do not allow PUT, so nothing.
    expect(findCorsRule(parsed, "https://app.example.com", "PUT", ["authorization"])).toBeUndefined();
    // GET with that header falls through to the open rule.
    expect(findCorsRule(parsed, "https://app.example.com", "GET", ["authorization"])).toBe(any!);
    expect(findCorsRule(parsed, "https://x.example.org", "DELETE", [])).toBe(org!);
    expect(findCorsRule(parsed, "https://x.example.org", "DELETE", ["x-custom"])).toBeUndefined();
    expect(findCorsRule(parsed, "https://elsewhere.net", "POST", [])).toBeUndefined();
    expect(findCorsRule(parsed, "https://elsewhere.net", "HEAD", [])).toBe(any!);
    expect(requestedHeaders(" a ,, B,")).toEqual(["a", "b"]);
    expect(requestedHeaders(undefined)).toEqual([]);
  });

  test("response headers: a named origin is echoed with credentials; a bare * answers *", () => {
    const parsed = parseCorsConfiguration(example);
    expect(corsResponseHeaders(parsed.rules[0]!, "https://app.example.com", ["content-type"])).toEqual({
      "access-control-allow-origin": "https://app.example.com",
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "GET, PUT",
      "access-control-allow-headers": "content-type",
      "access-control-expose-headers": "ETag, x-amz-version-id",
      "access-control-max-age": "3000",
      vary: "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    });
    expect(corsResponseHeaders(parsed.rules[1]!, "https://x.example.org", [])["access-control-allow-origin"]).toBe("https://x.example.org");
    const open = corsResponseHeaders(parsed.rules[2]!, "https://elsewhere.net", []);
    expect(open["access-control-allow-origin"]).toBe("*");
    expect(open["access-control-allow-credentials"]).toBeUndefined();
    expect(open["access-control-allow-headers"]).toBeUndefined();
  });
});

describe("preflight answers", () => {
  const parsed: CorsConfiguration = parseCorsConfiguration(example);

  test("an allowed origin, method and headers → 200 with the rule's headers", () => {
    const answer = answerPreflight(parsed, "https://app.example.com", "PUT", "content-type,x-amz-date");
    expect("error" in answer).toBe(false);
    if ("error" in answer) return;
    expect(answer.status).toBe(200);
    expect(answer.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    expect(answer.headers["access-control-allow-methods"]).toBe("GET, PUT");
    expect(answer.headers["access-control-allow-headers"]).toBe("content-type, x-amz-date");
    expect(answer.headers["access-control-max-age"]).toBe("3000");
    expect(answer.headers.vary).toContain("Origin");
  });

  test("refusals: 403 AccessForbidden with no matching rule or no configuration; 400 without Origin or a known method", () => {
    const code = (answer: ReturnType<typeof answerPreflight>): [string, number, string] =>
      "error" in answer ? [answer.error.code, answer.error.status, answer.error.message] : ["ok", answer.status, ""];
    expect(code(answerPreflight(parsed, "https://app.example.com", "POST", undefined)).slice(0, 2)).toEqual(["AccessForbidden", 403]);
    expect(code(answerPreflight(parsed, "https://app.example.com", "PUT", "authorization")).slice(0, 2)).toEqual(["AccessForbidden", 403]);
    expect(code(answerPreflight(parsed, "https://evil.net", "PUT", undefined))[2]).toStartWith("CORSResponse: This CORS request is not allowed.");
    expect(code(answerPreflight(undefined, "https://app.example.com", "GET", undefined))).toEqual([
      "AccessForbidden",
      403,
      "CORSResponse: CORS is not enabled for this bucket.",
    ]);
    expect(code(answerPreflight(parsed, undefined, "GET", undefined)).slice(0, 2)).toEqual(["BadRequest", 400]);
    expect(code(answerPreflight(parsed, "https://app.example.com", undefined, undefined)).slice(0, 2)).toEqual(["BadRequest", 400]);
    expect(code(answerPreflight(parsed, "https://app.example.com", "PATCH", undefined)).slice(0, 2)).toEqual(["BadRequest", 400]);
  });
});
