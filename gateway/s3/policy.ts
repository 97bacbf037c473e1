/**
 * Bucket policies: the JSON document of PutBucketPolicy, parsed and checked
 * once when it is stored and again (from the stored text) when a request is
 * authorized, and evaluated against one request at a time. Pure: no I/O, no
 * clock.
 *
 * What a document may hold (anything else is MalformedPolicy, or
 * NotImplemented where AWS would accept it but this gateway cannot honour it):
 *
 * | element | accepted |
 * |---|---|
 * | `Version` | `"2012-10-17"`, `"2008-10-17"` or absent |
 * | `Id` | any string |
 * | `Statement` | one statement object or an array of them (1 to `statementsMax`) |
 * | `Sid` | any string |
 * | `Effect` | `"Allow"` or `"Deny"` |
 * | `Principal` | `"*"`; `{"AWS": "*"}`; `{"AWS": P}` or `{"AWS": [P, ...]}` where P is `"*"`, `arn:aws:iam::<account>:user/<name>` (the account part is not checked: a Cairn has one account; an IAM path before the name is ignored), a user name, or an access key id |
 * | `NotPrincipal` | NotImplemented |
 * | `Action` / `NotAction` | `"*"` or `s3:<name>` with `*` and `?` wildcards (case-insensitive); a name without wildcards must be an S3 action |
 * | `Resource` / `NotResource` | `"*"`, `arn:aws:s3:::<bucket>` or `arn:aws:s3:::<bucket>/<key pattern>` with `*` and `?` wildcards; the bucket part must match the policy's own bucket |
 * | `Condition` | `{operator: {key: value or [values]}}` with the operators and keys below |
 *
 * | condition key | operators | value in a request |
 * |---|---|---|
 * | `aws:SourceIp` | `IpAddress`, `NotIpAddress` (IPv4 and IPv6 addresses or CIDRs) | the client's socket address; an IPv4-mapped IPv6 address counts as its IPv4 address |
 * | `aws:SecureTransport` | `Bool` | `"false"` unless the adapter saw TLS |
 * | `s3:prefix`, `s3:delimiter` | `StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`, `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike` | ListObjects(V2) and ListObjectVersions: the `prefix` (`""` when absent) and `delimiter` parameters; absent otherwise |
 * | `aws:username` | the string operators | the requester's user name; absent for anonymous requests |
 *
 * Evaluation (`evaluateBucketPolicy`), as IAM evaluates one policy: a
 * statement applies when its principal, action, resource and every condition
 * match; any applying Deny → "Deny", else any applying Allow → "Allow", else
 * "NoDecision". Within a condition, the operators and the keys of an operator
 * are ANDed and the values of a key ORed; a negated operator (`...Not...`)
 * holds when no value matches, and also when the key is absent from the
 * request (AWS's rule), a positive one never holds on an absent key.
 */
import { isIP } from "node:net";
import { S3Error } from "../errors.ts";

/** Whom a statement names: everyone (anonymous requests too) and/or named users. */
export interface PolicyPrincipal {
  readonly everyone: boolean;
  /** User names and access key ids, matched exactly. */
  readonly users: ReadonlySet<string>;
}

export type ConditionOperator =
  | "StringEquals"
  | "StringNotEquals"
  | "StringEqualsIgnoreCase"
  | "StringNotEqualsIgnoreCase"
  | "StringLike"
  | "StringNotLike"
  | "IpAddress"
  | "NotIpAddress"
  | "Bool";

export type ConditionKey = "aws:SourceIp" | "aws:SecureTransport" | "s3:prefix" | "s3:delimiter" | "aws:username";

export interface PolicyCondition {
  readonly operator: ConditionOperator;
  readonly key: ConditionKey;
  readonly values: readonly string[];
  /** Parsed `values` of an IP operator. */
  readonly networks: readonly IpNetwork[];
}

export interface PolicyStatement {
  readonly sid?: string;
  readonly effect: "Allow" | "Deny";
  readonly principal: PolicyPrincipal;
  /** Lower-case action patterns; `actionsNegated` for NotAction. */
  readonly actions: readonly string[];
  readonly actionsNegated: boolean;
  /** Resource ARN patterns (`*` alone is stored as `*`); `resourcesNegated` for NotResource. */
  readonly resources: readonly string[];
  readonly resourcesNegated: boolean;
  readonly conditions: readonly PolicyCondition[];
}

export interface BucketPolicy {
  readonly version: string;
  readonly statements: readonly PolicyStatement[];
}

/** Who sent a request, as a policy sees it. */
export type PolicyRequester = { readonly kind: "anonymous" } | { readonly kind: "user"; readonly name: string; readonly accessKeyId: string };

export interface PolicyRequest {
  readonly requester: PolicyRequester;
  /** `s3:GetObject` etc. (case as AWS writes it; compared case-insensitively). */
  readonly action: string;
  /** `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`. */
  readonly resource: string;
  /** The client's socket address as the adapter reports it. */
  readonly sourceIp: string;
  readonly secureTransport: boolean;
  /** ListBucket's `prefix` and `delimiter`; undefined for other actions. */
  readonly prefix?: string;
  readonly delimiter?: string;
}

export type PolicyDecision = "Allow" | "Deny" | "NoDecision";

/** More statements than this is refused; the 20 KiB size bound comes first in practice. */
export const statementsMax = 1_000;
/** Values per condition key (and entries per Action, Resource or principal list). */
const listEntriesMax = 1_000;

const arnPrefix = "arn:aws:s3:::";

/**
 * Every S3 action name a policy may name without wildcards (lower case).
 * Wildcard patterns are not checked against it: `s3:Get*` is fine.
 */
const knownActions: ReadonlySet<string> = new Set(
  [
    "AbortMultipartUpload", "BypassGovernanceRetention", "CreateBucket", "DeleteBucket", "DeleteBucketPolicy",
    "DeleteBucketWebsite", "DeleteObject", "DeleteObjectTagging", "DeleteObjectVersion", "DeleteObjectVersionTagging",
    "GetAccelerateConfiguration", "GetAnalyticsConfiguration", "GetBucketAcl", "GetBucketCORS", "GetBucketLocation",
    "GetBucketLogging", "GetBucketNotification", "GetBucketObjectLockConfiguration", "GetBucketOwnershipControls",
    "GetBucketPolicy", "GetBucketPolicyStatus", "GetBucketPublicAccessBlock", "GetBucketRequestPayment",
    "GetBucketTagging", "GetBucketVersioning", "GetBucketWebsite", "GetEncryptionConfiguration",
    "GetIntelligentTieringConfiguration", "GetInventoryConfiguration", "GetLifecycleConfiguration",
    "GetMetricsConfiguration", "GetObject", "GetObjectAcl", "GetObjectAttributes", "GetObjectLegalHold",
    "GetObjectRetention", "GetObjectTagging", "GetObjectTorrent", "GetObjectVersion", "GetObjectVersionAcl",
    "GetObjectVersionAttributes", "GetObjectVersionForReplication", "GetObjectVersionTagging",
    "GetObjectVersionTorrent", "GetReplicationConfiguration", "ListAllMyBuckets", "ListBucket",
    "ListBucketMultipartUploads", "ListBucketVersions", "ListMultipartUploadParts", "PutAccelerateConfiguration",
    "PutAnalyticsConfiguration", "PutBucketAcl", "PutBucketCORS", "PutBucketLogging", "PutBucketNotification",
    "PutBucketObjectLockConfiguration", "PutBucketOwnershipControls", "PutBucketPolicy", "PutBucketPublicAccessBlock",
    "PutBucketRequestPayment", "PutBucketTagging", "PutBucketVersioning", "PutBucketWebsite",
    "PutEncryptionConfiguration", "PutIntelligentTieringConfiguration", "PutInventoryConfiguration",
    "PutLifecycleConfiguration", "PutMetricsConfiguration", "PutObject", "PutObjectAcl", "PutObjectLegalHold",
    "PutObjectRetention", "PutObjectTagging", "PutObjectVersionAcl", "PutObjectVersionTagging",
    "PutReplicationConfiguration", "ReplicateDelete", "ReplicateObject", "ReplicateTags", "RestoreObject",
  ].map((name) => `s3:${name.toLowerCase()}`),
);

const stringOperators: ReadonlySet<ConditionOperator> = new Set([
  "StringEquals",
  "StringNotEquals",
  "StringEqualsIgnoreCase",
  "StringNotEqualsIgnoreCase",
  "StringLike",
  "StringNotLike",
]);
const ipOperators: ReadonlySet<ConditionOperator> = new Set(["IpAddress", "NotIpAddress"]);
const negatedOperators: ReadonlySet<ConditionOperator> = new Set([
  "StringNotEquals",
  "StringNotEqualsIgnoreCase",
  "StringNotLike",
  "NotIpAddress",
]);

/** Condition keys by lower-case name (IAM compares key names case-insensitively) and the operators each takes. */
const conditionKeys: ReadonlyMap<string, { readonly key: ConditionKey; readonly operators: ReadonlySet<ConditionOperator> }> = new Map([
  ["aws:sourceip", { key: "aws:SourceIp", operators: ipOperators }],
  ["aws:securetransport", { key: "aws:SecureTransport", operators: new Set<ConditionOperator>(["Bool"]) }],
  ["s3:prefix", { key: "s3:prefix", operators: stringOperators }],
  ["s3:delimiter", { key: "s3:delimiter", operators: stringOperators }],
  ["aws:username", { key: "aws:username", operators: stringOperators }],
]);

function malformed(message: string): S3Error {
  return new S3Error("MalformedPolicy", message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A string or a non-empty array of strings, as IAM allows for most elements. */
function stringList(value: unknown, element: string): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((entry) => typeof entry !== "string")) {
    throw malformed(`${element} must be a string or a non-empty array of strings`);
  }
  if (list.length > listEntriesMax) throw malformed(`${element} has more than ${listEntriesMax} entries`);
  return list as string[];
}

/**
 * Parses and checks a bucket policy for `bucket`. Throws S3Error
 * MalformedPolicy (with the reason as its message) for anything this
 * gateway would not evaluate exactly as written, NotImplemented for
 * NotPrincipal.
 */
export function parseBucketPolicy(text: string, bucket: string): BucketPolicy {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw malformed(`Policies must be valid JSON: ${(error as Error).message}`);
  }
  if (!isRecord(document)) throw malformed("A policy must be a JSON object");
  for (const name of Object.keys(document)) {
    if (name !== "Version" && name !== "Id" && name !== "Statement") throw malformed(`Unknown policy element ${name}`);
  }
  const version = document.Version ?? "2008-10-17";
  if (version !== "2012-10-17" && version !== "2008-10-17") {
    throw malformed(`The policy version must be 2012-10-17 or 2008-10-17, got ${JSON.stringify(version)}`);
  }
  if (document.Id !== undefined && typeof document.Id !== "string") throw malformed("Id must be a string");
  const raw = document.Statement;
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  if (list.length === 0) throw malformed("Missing required field Statement");
  if (list.length > statementsMax) throw malformed(`A policy holds at most ${statementsMax} statements`);
  return { version, statements: list.map((statement, index) => parseStatement(statement, index, bucket)) };
}

const statementElements: ReadonlySet<string> = new Set([
  "Sid",
  "Effect",
  "Principal",
  "NotPrincipal",
  "Action",
  "NotAction",
  "Resource",
  "NotResource",
  "Condition",
]);

function parseStatement(raw: unknown, index: number, bucket: string): PolicyStatement {
  const where = `Statement ${index + 1}`;
  if (!isRecord(raw)) throw malformed(`${where} must be a JSON object`);
  for (const name of Object.keys(raw)) {
    if (!statementElements.has(name)) throw malformed(`${where}: unknown element ${name}`);
  }
  if (raw.Sid !== undefined && typeof raw.Sid !== "string") throw malformed(`${where}: Sid must be a string`);
  if (raw.Effect !== "Allow" && raw.Effect !== "Deny") {
    throw malformed(`${where}: Effect must be "Allow" or "Deny", got ${JSON.stringify(raw.Effect)}`);
  }
  if (raw.NotPrincipal !== undefined) throw new S3Error("NotImplemented", "NotPrincipal in bucket policies is not implemented.");
  if (raw.Principal === undefined) throw malformed(`${where}: Missing required field Principal`);
  if ((raw.Action === undefined) === (raw.NotAction === undefined)) throw malformed(`${where}: exactly one of Action and NotAction is required`);
  if ((raw.Resource === undefined) === (raw.NotResource === undefined)) {
    throw malformed(`${where}: exactly one of Resource and NotResource is required`);
  }
  const actionsNegated = raw.Action === undefined;
  const resourcesNegated = raw.Resource === undefined;
  return {
    ...(raw.Sid === undefined ? {} : { sid: raw.Sid }),
    effect: raw.Effect,
    principal: parsePrincipal(raw.Principal, where),
    actions: stringList(actionsNegated ? raw.NotAction : raw.Action, `${where}: ${actionsNegated ? "NotAction" : "Action"}`).map((action) =>
      parseAction(action, where),
    ),
    actionsNegated,
    resources: stringList(resourcesNegated ? raw.NotResource : raw.Resource, `${where}: ${resourcesNegated ? "NotResource" : "Resource"}`).map(
      (resource) => parseResource(resource, where, bucket),
    ),
    resourcesNegated,
    conditions: raw.Condition === undefined ? [] : parseConditions(raw.Condition, where),
  };
}

const userArnPattern = /^arn:aws:iam::[0-9*]*:user\/(?:[^/]+\/)*([A-Za-z0-9+=,.@_-]{1,64})$/;
const plainPrincipalPattern = /^[A-Za-z0-9+=,.@_-]{1,128}$/;

function parsePrincipal(raw: unknown, where: string): PolicyPrincipal {
  if (raw === "*") return { everyone: true, users: new Set() };
  if (!isRecord(raw)) throw malformed(`${where}: Principal must be "*" or {"AWS": ...}`);
  for (const name of Object.keys(raw)) {
    if (name !== "AWS") throw malformed(`${where}: Invalid principal in policy: only "AWS" principals are supported, not ${name}`);
  }
  let everyone = false;
  const users = new Set<string>();
  for (const entry of stringList(raw.AWS, `${where}: Principal.AWS`)) {
    if (entry === "*") {
      everyone = true;
      continue;
    }
    const arn = userArnPattern.exec(entry);
    if (arn !== null) users.add(arn[1]!);
    else if (plainPrincipalPattern.test(entry)) users.add(entry);
    else {
      throw malformed(`${where}: Invalid principal in policy: ${entry} (use "*", arn:aws:iam::<account>:user/<name>, a user name or an access key id)`);
    }
  }
  return { everyone, users };
}

const actionPattern = /^s3:[A-Za-z*?]+$/i;

function parseAction(action: string, where: string): string {
  if (action === "*") return "*";
  if (!actionPattern.test(action)) throw malformed(`${where}: Policy has invalid action: ${action} (only s3: actions apply to a bucket)`);
  const lower = action.toLowerCase();
  if (!lower.includes("*") && !lower.includes("?") && !knownActions.has(lower)) throw malformed(`${where}: Policy has invalid action: ${action}`);
  return lower;
}

function parseResource(resource: string, where: string, bucket: string): string {
  if (resource === "*") return "*";
  if (!resource.startsWith(arnPrefix)) throw malformed(`${where}: Policy has invalid resource: ${resource} (must be ${arnPrefix}${bucket}[/key])`);
  const path = resource.slice(arnPrefix.length);
  const slash = path.indexOf("/");
  const bucketPart = slash === -1 ? path : path.slice(0, slash);
  // A pattern that can name another bucket's objects (say `*/x`) matches this one too; only one that cannot is refused.
  if (!globMatches(bucketPart, bucket, false)) {
    throw malformed(`${where}: Policy has invalid resource: ${resource} (it must be within bucket ${bucket})`);
  }
  return resource;
}

function parseConditions(raw: unknown, where: string): PolicyCondition[] {
  if (!isRecord(raw)) throw malformed(`${where}: Condition must be a JSON object`);
  const conditions: PolicyCondition[] = [];
  for (const [operatorName, block] of Object.entries(raw)) {
    const operator = parseOperator(operatorName, where);
    if (!isRecord(block)) throw malformed(`${where}: Condition ${operatorName} must map keys to values`);
    for (const [keyName, rawValues] of Object.entries(block)) {
      const known = conditionKeys.get(keyName.toLowerCase());
      if (known === undefined) {
        throw malformed(`${where}: unsupported condition key ${keyName} (supported: aws:SourceIp, aws:SecureTransport, s3:prefix, s3:delimiter, aws:username)`);
      }
      if (!known.operators.has(operator)) throw malformed(`${where}: condition operator ${operator} cannot be used with key ${known.key}`);
      const listed = typeof rawValues === "boolean" ? String(rawValues) : Array.isArray(rawValues) ? rawValues.map((value) => (typeof value === "boolean" ? String(value) : value)) : rawValues;
      const values = stringList(listed, `${where}: Condition ${operator} ${known.key}`);
      let networks: IpNetwork[] = [];
      if (ipOperators.has(operator)) {
        networks = values.map((value) => {
          const network = parseIpNetwork(value);
          if (network === undefined) throw malformed(`${where}: ${known.key} value ${value} is not an IP address or CIDR block`);
          return network;
        });
      }
      if (operator === "Bool" && values.some((value) => value !== "true" && value !== "false")) {
        throw malformed(`${where}: Bool values must be "true" or "false"`);
      }
      conditions.push({ operator, key: known.key, values, networks });
    }
  }
  return conditions;
}

function parseOperator(name: string, where: string): ConditionOperator {
  if (stringOperators.has(name as ConditionOperator) || ipOperators.has(name as ConditionOperator) || name === "Bool") return name as ConditionOperator;
  throw malformed(
    `${where}: unsupported condition operator ${name} (supported: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, StringNotLike, IpAddress, NotIpAddress, Bool)`,
  );
}

/** Decides one request against one policy: an applying Deny wins, then an applying Allow. */
export function evaluateBucketPolicy(policy: BucketPolicy, request: PolicyRequest): PolicyDecision {
  let allowed = false;
  for (const statement of policy.statements) {
    if (!statementApplies(statement, request)) continue;
    if (statement.effect === "Deny") return "Deny";
    allowed = true;
  }
  return allowed ? "Allow" : "NoDecision";
}

function statementApplies(statement: PolicyStatement, request: PolicyRequest): boolean {
  if (!principalMatches(statement.principal, request.requester)) return false;
  const action = request.action.toLowerCase();
  const actionListed = statement.actions.some((pattern) => globMatches(pattern, action, false));
  if (actionListed === statement.actionsNegated) return false;
  const resourceListed = statement.resources.some((pattern) => globMatches(pattern, request.resource, false));
  if (resourceListed === statement.resourcesNegated) return false;
  return statement.conditions.every((condition) => conditionHolds(condition, request));
}

function principalMatches(principal: PolicyPrincipal, requester: PolicyRequester): boolean {
  if (principal.everyone) return true;
  if (requester.kind === "anonymous") return false;
  return principal.users.has(requester.name) || principal.users.has(requester.accessKeyId);
}

function requestValue(key: ConditionKey, request: PolicyRequest): string | undefined {
  switch (key) {
    case "aws:SourceIp":
      return request.sourceIp;
    case "aws:SecureTransport":
      return String(request.secureTransport);
    case "s3:prefix":
      return request.prefix;
    case "s3:delimiter":
      return request.delimiter;
    case "aws:username":
      return request.requester.kind === "user" ? request.requester.name : undefined;
  }
}

function conditionHolds(condition: PolicyCondition, request: PolicyRequest): boolean {
  const negated = negatedOperators.has(condition.operator);
  const value = requestValue(condition.key, request);
  if (value === undefined) return negated;
  let matched: boolean;
  switch (condition.operator) {
    case "StringEquals":
    case "StringNotEquals":
      matched = condition.values.includes(value);
      break;
    case "StringEqualsIgnoreCase":
    case "StringNotEqualsIgnoreCase":
      matched = condition.values.some((candidate) => candidate.toLowerCase() === value.toLowerCase());
      break;
    case "StringLike":
    case "StringNotLike":
      matched = condition.values.some((pattern) => globMatches(pattern, value, false));
      break;
    case "IpAddress":
    case "NotIpAddress": {
      const address = parseIpAddress(value);
      matched = address !== undefined && condition.networks.some((network) => networkContains(network, address));
      break;
    }
    case "Bool":
      matched = condition.values.includes(value);
      break;
  }
  return negated ? !matched : matched;
}

/**
 * IAM's `*` (any run, including none) and `?` (one character) match, in
 * O(pattern × text) at worst: a backtracking regular expression could take
 * exponential time on a hostile pattern, and patterns come from clients.
 */
export function globMatches(pattern: string, text: string, ignoreCase: boolean): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const t = ignoreCase ? text.toLowerCase() : text;
  let pi = 0;
  let ti = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (ti < t.length) {
    if (pi < p.length && (p[pi] === "?" || p[pi] === t[ti])) {
      pi += 1;
      ti += 1;
    } else if (pi < p.length && p[pi] === "*") {
      starAt = pi;
      resumeAt = ti;
      pi += 1;
    } else if (starAt !== -1) {
      pi = starAt + 1;
      resumeAt += 1;
      ti = resumeAt;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === "*") pi += 1;
  return pi === p.length;
}

/** An IPv4 (32-bit) or IPv6 (128-bit) address as a number. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly value: bigint;
}

export interface IpNetwork {
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly prefixBits: number;
}

/**
 * Parses an address as a socket reports it. An IPv4-mapped IPv6 address
 * (`::ffff:127.0.0.1`, what a dual-stack listener reports for an IPv4
 * client) is that IPv4 address, so IPv4 CIDRs in policies match it.
 */
export function parseIpAddress(text: string): IpAddress | undefined {
  const family = isIP(text);
  if (family === 4) return { family: 4, value: ipv4Value(text) };
  if (family !== 6) return undefined;
  const value = ipv6Value(text);
  if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffff_ffffn };
  return { family: 6, value };
}

/** Parses `address` or `address/prefix`. */
export function parseIpNetwork(text: string): IpNetwork | undefined {
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const family = isIP(addressText);
  if (family !== 4 && family !== 6) return undefined;
  const widthBits = family === 4 ? 32 : 128;
  let prefixBits = widthBits;
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(prefixText)) return undefined;
    prefixBits = Number(prefixText);
    if (prefixBits > widthBits) return undefined;
  }
  const value = family === 4 ? ipv4Value(addressText) : ipv6Value(addressText);
  return { family, base: value & networkMask(family, prefixBits), prefixBits };
}

function networkMask(family: 4 | 6, prefixBits: number): bigint {
  const widthBits = family === 4 ? 32n : 128n;
  const all = (1n << widthBits) - 1n;
  return all ^ ((1n << (widthBits - BigInt(prefixBits))) - 1n);
}

function networkContains(network: IpNetwork, address: IpAddress): boolean {
  return network.family === address.family && (address.value & networkMask(network.family, network.prefixBits)) === network.base;
}

function ipv4Value(text: string): bigint {
  return text.split(".").reduce((value, part) => (value << 8n) | BigInt(Number(part)), 0n);
}

/** `text` has passed `isIP(text) === 6`. A zone (`%eth0`) is dropped. */
function ipv6Value(text: string): bigint {
  const address = text.split("%")[0]!;
  const [headText, tailText] = address.includes("::") ? address.split("::") : [address, undefined];
  const groups = (part: string | undefined): bigint[] => {
    if (part === undefined || part === "") return [];
    const result: bigint[] = [];
    for (const piece of part.split(":")) {
      if (piece.includes(".")) {
        const v4 = ipv4Value(piece);
        result.push(v4 >> 16n, v4 & 0xffffn);
      } else {
        result.push(BigInt(Number.parseInt(piece, 16)));
      }
    }
    return result;
  };
  const head = groups(headText);
  const tail = groups(tailText);
  const all = tailText === undefined ? head : [...head, ...new Array<bigint>(8 - head.length - tail.length).fill(0n), ...tail];
  return all.reduce((value, group) => (value << 16n) | group, 0n);
}

/**
 * AWS's rule for GetBucketPolicyStatus: a policy is public when an Allow
 * statement names every principal without limiting the source to a set of
 * CIDR blocks (`IpAddress` on `aws:SourceIp`; a `/0` block limits nothing).
 */
export function isPublicPolicy(policy: BucketPolicy): boolean {
  return policy.statements.some(
    (statement) =>
      statement.effect === "Allow" &&
      statement.principal.everyone &&
      !statement.conditions.some(
        (condition) => condition.operator === "IpAddress" && condition.networks.every((network) => network.prefixBits > 0),
      ),
  );
}

/** The resource ARN of a bucket, or of an object when `key` is given. */
export function resourceArn(bucket: string, key?: string): string {
  return key === undefined ? `${arnPrefix}${bucket}` : `${arnPrefix}${bucket}/${key}`;
}
