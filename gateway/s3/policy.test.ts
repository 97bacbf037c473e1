import { describe, expect, test } from "bun:test";
import { S3Error } from "../errors.ts";
import {
  evaluateBucketPolicy,
  globMatches,
  isPublicPolicy,
  parseBucketPolicy,
  parseIpAddress,
  parseIpNetwork,
  resourceArn,
  type PolicyRequest,
  type PolicyRequester,
} from "./policy.ts";

const bucket = "photos";
const alice: PolicyRequester = { kind: "user", name: "alice", accessKeyId: "CAIRNALICE0000000001" };
const bob: PolicyRequester = { kind: "user", name: "bob", accessKeyId: "CAIRNBOB000000000001" };
const anonymous: PolicyRequester = { kind: "anonymous" };

function policy(...statements: object[]): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

function request(overrides: Partial<PolicyRequest> = {}): PolicyRequest {
  return {
    requester: alice,
    action: "s3:GetObject",
    resource: resourceArn(bucket, "a/b.jpg"),
    sourceIp: "127.0.0.1",
    secureTransport: false,
    ...overrides,
  };
}

function decide(text: string, overrides: Partial<PolicyRequest> = {}): string {
  return evaluateBucketPolicy(parseBucketPolicy(text, bucket), request(overrides));
}

function rejection(text: string): { code: string; message: string } {
  try {
    parseBucketPolicy(text, bucket);
  } catch (error) {
    if (error instanceof S3Error) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error(`expected ${text} to be refused`);
}

const publicRead = { Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${bucket}/*` };

describe("parseBucketPolicy refuses what it cannot evaluate exactly", () => {
  const cases: [string, string, RegExp][] = [
    ["bad JSON", "{not json", /valid JSON/],
    ["not an object", "[]", /JSON object/],
    ["unknown top-level element", JSON.stringify({ Statement: [publicRead], Extra: 1 }), /Unknown policy element Extra/],
    ["bad version", JSON.stringify({ Version: "2020-01-01", Statement: [publicRead] }), /version/],
    ["no statement", JSON.stringify({ Version: "2012-10-17" }), /Statement/],
    ["empty statement list", policy(), /Statement/],
    ["unknown Effect", policy({ ...publicRead, Effect: "Maybe" }), /Effect must be "Allow" or "Deny"/],
    ["missing Principal", policy({ Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::${bucket}/*` }), /Principal/],
    ["Service principal", policy({ ...publicRead, Principal: { Service: "s3.amazonaws.com" } }), /only "AWS" principals/],
    ["malformed principal", policy({ ...publicRead, Principal: { AWS: "arn:aws:iam::1:role/x y" } }), /Invalid principal/],
    ["non-S3 action", policy({ ...publicRead, Action: "iam:CreateUser" }), /invalid action: iam:CreateUser/],
    ["unknown S3 action", policy({ ...publicRead, Action: "s3:GetEverything" }), /invalid action: s3:GetEverything/],
    ["Action and NotAction", policy({ ...publicRead, NotAction: "s3:PutObject" }), /Action and NotAction/],
    ["no Resource", policy({ Effect: "Allow", Principal: "*", Action: "s3:GetObject" }), /Resource and NotResource/],
    ["another bucket", policy({ ...publicRead, Resource: "arn:aws:s3:::videos/*" }), /within bucket photos/],
    ["not an S3 ARN", policy({ ...publicRead, Resource: "arn:aws:sqs:::photos" }), /invalid resource/],
    ["unsupported operator", policy({ ...publicRead, Condition: { DateGreaterThan: { "aws:CurrentTime": "2020-01-01" } } }), /unsupported condition operator DateGreaterThan/],
    ["unsupported key", policy({ ...publicRead, Condition: { StringEquals: { "aws:Referer": "x" } } }), /unsupported condition key aws:Referer/],
    ["IP operator on a string key", policy({ ...publicRead, Condition: { IpAddress: { "s3:prefix": "10.0.0.0/8" } } }), /cannot be used with key s3:prefix/],
    ["string operator on SourceIp", policy({ ...publicRead, Condition: { StringEquals: { "aws:SourceIp": "10.0.0.1" } } }), /cannot be used with key aws:SourceIp/],
    ["bad CIDR", policy({ ...publicRead, Condition: { IpAddress: { "aws:SourceIp": "10.0.0.0/33" } } }), /not an IP address or CIDR/],
    ["bad Bool", policy({ ...publicRead, Condition: { Bool: { "aws:SecureTransport": "yes" } } }), /Bool values/],
    ["unknown statement element", policy({ ...publicRead, Effects: "Allow" }), /unknown element Effects/],
    ["empty action list", policy({ ...publicRead, Action: [] }), /non-empty array/],
  ];
  for (const [name, text, message] of cases) {
    test(name, () => {
      const refused = rejection(text);
      expect(refused.code).toBe("MalformedPolicy");
      expect(refused.message).toMatch(message);
    });
  }

  test("NotPrincipal is NotImplemented, never silently ignored", () => {
    expect(rejection(policy({ ...publicRead, Principal: undefined, NotPrincipal: { AWS: "bob" } })).code).toBe("NotImplemented");
  });

  test("accepted forms: a single statement object, wildcard actions, both versions, Version absent, Id, Sid", () => {
    for (const text of [
      JSON.stringify({ Statement: publicRead }),
      JSON.stringify({ Version: "2008-10-17", Id: "p1", Statement: [{ ...publicRead, Sid: "read" }] }),
      policy({ ...publicRead, Action: ["s3:Get*", "s3:List?ucket", "*"] }),
      policy({ ...publicRead, Resource: ["*", "arn:aws:s3:::photos", "arn:aws:s3:::pho*/x", "arn:aws:s3:::*"] }),
      policy({ ...publicRead, Principal: { AWS: ["*", "arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/team/bob", "CAIRNKEY"] } }),
      policy({ ...publicRead, Condition: { Bool: { "aws:SecureTransport": false } } }),
    ]) {
      expect(() => parseBucketPolicy(text, bucket)).not.toThrow();
    }
  });
});

describe("evaluateBucketPolicy", () => {
  test("allowed: a public-read grant lets anyone GET an object, and nothing else", () => {
    const text = policy(publicRead);
    expect(decide(text, { requester: anonymous })).toBe("Allow");
    expect(decide(text, { requester: bob })).toBe("Allow");
    expect(decide(text, { requester: anonymous, action: "s3:PutObject" })).toBe("NoDecision");
    expect(decide(text, { requester: anonymous, action: "s3:ListBucket", resource: resourceArn(bucket) })).toBe("NoDecision");
  });

  test("action names compare case-insensitively, resources case-sensitively", () => {
    const text = policy({ ...publicRead, Action: "S3:getobject", Resource: "arn:aws:s3:::photos/Public/*" });
    expect(decide(text, { resource: resourceArn(bucket, "Public/x") })).toBe("Allow");
    expect(decide(text, { resource: resourceArn(bucket, "public/x") })).toBe("NoDecision");
  });

  test("denied: an explicit Deny wins over any Allow, whatever the order", () => {
    const deny = { Effect: "Deny", Principal: { AWS: "bob" }, Action: "s3:*", Resource: "arn:aws:s3:::photos/*" };
    expect(decide(policy(publicRead, deny), { requester: bob })).toBe("Deny");
    expect(decide(policy(deny, publicRead), { requester: bob })).toBe("Deny");
    expect(decide(policy(publicRead, deny), { requester: alice })).toBe("Allow");
  });

  test("anonymous: only a `*` principal reaches it; named users never match an anonymous request", () => {
    const named = policy({ ...publicRead, Principal: { AWS: ["alice", "arn:aws:iam::000000000000:user/bob"] } });
    expect(decide(named, { requester: anonymous })).toBe("NoDecision");
    expect(decide(named, { requester: alice })).toBe("Allow");
    expect(decide(named, { requester: bob })).toBe("Allow");
    expect(decide(policy({ ...publicRead, Principal: { AWS: "*" } }), { requester: anonymous })).toBe("Allow");
  });

  test("a principal may be an access key id", () => {
    const text = policy({ ...publicRead, Principal: { AWS: bob.kind === "user" ? bob.accessKeyId : "" } });
    expect(decide(text, { requester: bob })).toBe("Allow");
    expect(decide(text, { requester: alice })).toBe("NoDecision");
  });

  test("NotAction and NotResource invert their lists", () => {
    const text = policy({ Effect: "Deny", Principal: "*", NotAction: "s3:GetObject", NotResource: "arn:aws:s3:::photos/public/*" });
    expect(decide(text, { action: "s3:PutObject", resource: resourceArn(bucket, "private/x") })).toBe("Deny");
    expect(decide(text, { action: "s3:GetObject", resource: resourceArn(bucket, "private/x") })).toBe("NoDecision");
    expect(decide(text, { action: "s3:PutObject", resource: resourceArn(bucket, "public/x") })).toBe("NoDecision");
  });

  test("wildcards: `s3:*`, `s3:Get*`, `?` and keys with `*` in the middle", () => {
    const text = policy({ ...publicRead, Action: "s3:Get*", Resource: "arn:aws:s3:::photos/20??/*.jpg" });
    expect(decide(text, { action: "s3:GetObjectVersion", resource: resourceArn(bucket, "2024/a/b.jpg") })).toBe("Allow");
    expect(decide(text, { resource: resourceArn(bucket, "202/a.jpg") })).toBe("NoDecision");
    expect(decide(text, { resource: resourceArn(bucket, "2024/a.png") })).toBe("NoDecision");
    expect(decide(text, { action: "s3:PutObject", resource: resourceArn(bucket, "2024/a.jpg") })).toBe("NoDecision");
  });

  test("a bucket ARN does not cover its objects, nor `bucket/*` the bucket", () => {
    const text = policy({ ...publicRead, Action: "s3:*", Resource: "arn:aws:s3:::photos" });
    expect(decide(text, { action: "s3:ListBucket", resource: resourceArn(bucket) })).toBe("Allow");
    expect(decide(text)).toBe("NoDecision");
    expect(decide(policy({ ...publicRead, Action: "s3:*" }), { action: "s3:ListBucket", resource: resourceArn(bucket) })).toBe("NoDecision");
  });

  test("aws:SourceIp: IpAddress and NotIpAddress with IPv4, IPv6 and IPv4-mapped addresses", () => {
    const allowLocal = policy({ ...publicRead, Condition: { IpAddress: { "aws:SourceIp": ["127.0.0.0/8", "2001:db8::/32"] } } });
    expect(decide(allowLocal, { sourceIp: "127.0.0.1" })).toBe("Allow");
    expect(decide(allowLocal, { sourceIp: "::ffff:127.0.0.1" })).toBe("Allow");
    expect(decide(allowLocal, { sourceIp: "10.1.2.3" })).toBe("NoDecision");
    expect(decide(allowLocal, { sourceIp: "2001:db8:1::5" })).toBe("Allow");
    expect(decide(allowLocal, { sourceIp: "2001:db9::5" })).toBe("NoDecision");
    expect(decide(allowLocal, { sourceIp: "::1" })).toBe("NoDecision");
    expect(decide(allowLocal, { sourceIp: "not an address" })).toBe("NoDecision");
    const denyOutside = policy({ ...publicRead, Effect: "Deny", Condition: { NotIpAddress: { "aws:SourceIp": "192.0.2.0/24" } } });
    expect(decide(denyOutside, { sourceIp: "127.0.0.1" })).toBe("Deny");
    expect(decide(denyOutside, { sourceIp: "192.0.2.77" })).toBe("NoDecision");
    expect(decide(policy({ ...publicRead, Condition: { IpAddress: { "aws:SourceIp": "::1" } } }), { sourceIp: "::1" })).toBe("Allow");
  });

  test("s3:prefix: StringEquals, StringLike, StringNotLike; a negated operator holds on an absent key", () => {
    const list = { Effect: "Allow", Principal: "*", Action: "s3:ListBucket", Resource: "arn:aws:s3:::photos" };
    const listing = { action: "s3:ListBucket", resource: resourceArn(bucket) };
    const equals = policy({ ...list, Condition: { StringEquals: { "s3:prefix": ["", "public/"] } } });
    expect(decide(equals, { ...listing, prefix: "" })).toBe("Allow");
    expect(decide(equals, { ...listing, prefix: "public/" })).toBe("Allow");
    expect(decide(equals, { ...listing, prefix: "private/" })).toBe("NoDecision");
    expect(decide(equals, { ...listing })).toBe("NoDecision");
    const like = policy({ ...list, Condition: { StringLike: { "S3:Prefix": "public/*" } } });
    expect(decide(like, { ...listing, prefix: "public/2024/" })).toBe("Allow");
    expect(decide(like, { ...listing, prefix: "publicity" })).toBe("NoDecision");
    const notLike = policy({ ...list, Effect: "Deny", Condition: { StringNotLike: { "s3:prefix": "public/*" } } });
    expect(decide(notLike, { ...listing, prefix: "private/" })).toBe("Deny");
    expect(decide(notLike, { ...listing, prefix: "public/a" })).toBe("NoDecision");
    expect(decide(notLike, { ...listing })).toBe("Deny");
    const notEquals = policy({ ...list, Condition: { StringNotEquals: { "s3:prefix": "a" } } });
    expect(decide(notEquals, { ...listing, prefix: "a" })).toBe("NoDecision");
    expect(decide(notEquals, { ...listing, prefix: "b" })).toBe("Allow");
  });

  test("conditions AND across operators and keys, OR across values", () => {
    const text = policy({
      ...publicRead,
      Condition: { IpAddress: { "aws:SourceIp": "127.0.0.1/32" }, StringEqualsIgnoreCase: { "aws:username": ["ALICE", "carol"] } },
    });
    expect(decide(text, { requester: alice })).toBe("Allow");
    expect(decide(text, { requester: alice, sourceIp: "127.0.0.2" })).toBe("NoDecision");
    expect(decide(text, { requester: bob })).toBe("NoDecision");
    expect(decide(text, { requester: anonymous })).toBe("NoDecision");
  });

  test("aws:SecureTransport: a Deny on plain HTTP applies to plain HTTP only", () => {
    const text = policy(publicRead, { ...publicRead, Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } });
    expect(decide(text, { secureTransport: false })).toBe("Deny");
    expect(decide(text, { secureTransport: true })).toBe("Allow");
  });
});

describe("isPublicPolicy (GetBucketPolicyStatus)", () => {
  test("`*` without a source restriction is public; a CIDR limit, a named principal or a Deny is not", () => {
    const isPublic = (text: string): boolean => isPublicPolicy(parseBucketPolicy(text, bucket));
    expect(isPublic(policy(publicRead))).toBe(true);
    expect(isPublic(policy({ ...publicRead, Principal: { AWS: "*" } }))).toBe(true);
    expect(isPublic(policy({ ...publicRead, Principal: { AWS: "alice" } }))).toBe(false);
    expect(isPublic(policy({ ...publicRead, Effect: "Deny" }))).toBe(false);
    expect(isPublic(policy({ ...publicRead, Condition: { IpAddress: { "aws:SourceIp": "10.0.0.0/8" } } }))).toBe(false);
    expect(isPublic(policy({ ...publicRead, Condition: { IpAddress: { "aws:SourceIp": "0.0.0.0/0" } } }))).toBe(true);
    expect(isPublic(policy({ ...publicRead, Condition: { StringLike: { "s3:prefix": "x*" } } }))).toBe(true);
  });
});

describe("matching primitives", () => {
  test("globMatches: `*` any run, `?` one character, everything else literal", () => {
    expect(globMatches("a*c", "abbbc", false)).toBe(true);
    expect(globMatches("a*c", "ac", false)).toBe(true);
    expect(globMatches("a*c", "acb", false)).toBe(false);
    expect(globMatches("a?c", "abc", false)).toBe(true);
    expect(globMatches("a?c", "ac", false)).toBe(false);
    expect(globMatches("a.c", "abc", false)).toBe(false);
    expect(globMatches("[a]", "[a]", false)).toBe(true);
    expect(globMatches("*", "", false)).toBe(true);
    expect(globMatches("", "", false)).toBe(true);
    expect(globMatches("", "x", false)).toBe(false);
    expect(globMatches("ABC", "abc", true)).toBe(true);
  });

  test("globMatches is not exponential on a hostile pattern", () => {
    const pattern = `${"*a".repeat(40)}b`;
    const text = "a".repeat(2_000);
    expect(globMatches(pattern, text, false)).toBe(false);
  });

  test("IP parsing", () => {
    expect(parseIpAddress("10.0.0.1")).toEqual({ family: 4, value: 0x0a000001n });
    expect(parseIpAddress("::ffff:10.0.0.1")).toEqual({ family: 4, value: 0x0a000001n });
    expect(parseIpAddress("::1")).toEqual({ family: 6, value: 1n });
    expect(parseIpAddress("fe80::1%eth0")?.family).toBe(6);
    expect(parseIpAddress("2001:db8::")).toEqual({ family: 6, value: 0x20010db8n << 96n });
    expect(parseIpAddress("1.2.3")).toBeUndefined();
    expect(parseIpNetwork("10.1.2.3/8")).toEqual({ family: 4, base: 0x0a000000n, prefixBits: 8 });
    expect(parseIpNetwork("10.1.2.3")).toEqual({ family: 4, base: 0x0a010203n, prefixBits: 32 });
    expect(parseIpNetwork("::/0")).toEqual({ family: 6, base: 0n, prefixBits: 0 });
    expect(parseIpNetwork("10.0.0.0/x")).toBeUndefined();
    expect(parseIpNetwork("2001:db8::/129")).toBeUndefined();
  });
});
