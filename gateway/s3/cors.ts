/**
 * Bucket CORS: the `<CORSConfiguration>` document (PutBucketCors), its
 * canonical reply (GetBucketCors), and S3's matching rules for a browser's
 * preflight (`OPTIONS`) and for the `Access-Control-*` headers of ordinary
 * responses. Pure functions only; the handler reads the stored document.
 *
 * A configuration holds 1 to 100 rules, each with
 * - `AllowedOrigin` (one or more): an origin, or a pattern with at most one
 *   `*` standing for any run of characters (`*` alone matches every origin);
 * - `AllowedMethod` (one or more): GET, PUT, POST, DELETE or HEAD;
 * - `AllowedHeader` (any): header names a preflight may ask for, matched
 *   case-insensitively, each with at most one `*`;
 * - `ExposeHeader` (any, no wildcard), `MaxAgeSeconds` (optional), `ID`
 *   (optional, at most 255 characters).
 *
 * The first rule (in document order) that matches the origin, the method
 * and every requested header wins, as in S3.
 */
import { S3Error } from "../errors.ts";
import { childElements, parseXml, writeXmlDocument, xmlElement, xmlText, type XmlElement } from "./xml.ts";

/** S3's bound on rules per configuration. */
export const corsRulesMax = 100;
/** S3's bound on a configuration document, in bytes. */
export const corsDocumentBytesMax = 64 * 1024;
const ruleIdCharactersMax = 255;
/** The methods a CORS rule may allow. */
export const corsMethods: readonly string[] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

export interface CorsRule {
  readonly id?: string;
  readonly allowedOrigins: readonly string[];
  readonly allowedMethods: readonly string[];
  readonly allowedHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly maxAgeSeconds?: number;
}

export interface CorsConfiguration {
  readonly rules: readonly CorsRule[];
}

const ruleElements = new Set(["ID", "AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader", "MaxAgeSeconds"]);

/**
 * Parses and checks a CORSConfiguration document: MalformedXML for anything
 * outside the schema, InvalidRequest for what S3 refuses with it (an unknown
 * method, two wildcards in an origin or allowed header, a wildcard in an
 * expose header).
 */
export function parseCorsConfiguration(text: string): CorsConfiguration {
  if (text.trim() === "") throw new S3Error("MalformedXML", "The CORSConfiguration document is empty.");
  const root = parseXml(text);
  if (root.name !== "CORSConfiguration") throw new S3Error("MalformedXML", "The root element must be CORSConfiguration.");
  const rules: CorsRule[] = [];
  for (const element of root.children) {
    if (element.name !== "CORSRule") throw new S3Error("MalformedXML", `Unexpected element ${element.name} in CORSConfiguration.`);
    if (rules.length === corsRulesMax) {
      throw new S3Error("MalformedXML", `The number of CORS rules should not exceed allowed limit of ${corsRulesMax} rules.`);
    }
    rules.push(parseRule(element));
  }
  if (rules.length === 0) throw new S3Error("MalformedXML", "A CORSConfiguration holds at least one CORSRule.");
  return { rules };
}

function parseRule(element: XmlElement): CorsRule {
  for (const child of element.children) {
    if (!ruleElements.has(child.name)) throw new S3Error("MalformedXML", `Unexpected element ${child.name} in CORSRule.`);
    if (child.children.length > 0) throw new S3Error("MalformedXML", `${child.name} holds text only.`);
  }
  const texts = (name: string): string[] => childElements(element, name).map((child) => child.text.trim());
  const ids = texts("ID");
  const maxAges = texts("MaxAgeSeconds");
  if (ids.length > 1 || maxAges.length > 1) throw new S3Error("MalformedXML", "ID and MaxAgeSeconds may each appear once in a CORSRule.");
  const allowedOrigins = texts("AllowedOrigin");
  const allowedMethods = texts("AllowedMethod");
  if (allowedOrigins.length === 0 || allowedMethods.length === 0) {
    throw new S3Error("MalformedXML", "A CORSRule names at least one AllowedOrigin and one AllowedMethod.");
  }
  for (const method of allowedMethods) {
    if (!corsMethods.includes(method)) {
      throw new S3Error("InvalidRequest", `Found unsupported HTTP method in CORS config. Unsupported method is ${method}`);
    }
  }
  for (const origin of allowedOrigins) {
    if (wildcards(origin) > 1) throw new S3Error("InvalidRequest", `AllowedOrigin "${origin}" can not have more than one wildcard.`);
  }
  const allowedHeaders = texts("AllowedHeader");
  for (const header of allowedHeaders) {
    if (wildcards(header) > 1) throw new S3Error("InvalidRequest", `AllowedHeader "${header}" can not have more than one wildcard.`);
  }
  const exposeHeaders = texts("ExposeHeader");
  for (const header of exposeHeaders) {
    if (wildcards(header) > 0) {
      throw new S3Error("InvalidRequest", `ExposeHeader "${header}" contains wildcard. We currently do not support wildcard for ExposeHeader.`);
    }
  }
  const id = ids[0];
  if (id !== undefined && [...id].length > ruleIdCharactersMax) throw new S3Error("InvalidArgument", `A CORSRule ID is at most ${ruleIdCharactersMax} characters.`);
  let maxAgeSeconds: number | undefined;
  const maxAge = maxAges[0];
  if (maxAge !== undefined) {
    if (!/^[0-9]{1,10}$/.test(maxAge) || Number(maxAge) > 2_147_483_647) throw new S3Error("MalformedXML", "MaxAgeSeconds must be a non-negative integer.");
    maxAgeSeconds = Number(maxAge);
  }
  return {
    ...(id === undefined ? {} : { id }),
    allowedOrigins,
    allowedMethods,
    allowedHeaders,
    exposeHeaders,
    ...(maxAgeSeconds === undefined ? {} : { maxAgeSeconds }),
  };
}

function wildcards(pattern: string): number {
  return pattern.split("*").length - 1;
}

/** GetBucketCors's reply: the rules as stored, in S3's element order. */
export function corsConfigurationDocument(configuration: CorsConfiguration): string {
  return writeXmlDocument(
    xmlElement(
      "CORSConfiguration",
      configuration.rules.map((rule) =>
        xmlElement("CORSRule", [
          rule.id === undefined ? undefined : xmlText("ID", rule.id),
          ...rule.allowedHeaders.map((header) => xmlText("AllowedHeader", header)),
          ...rule.allowedMethods.map((method) => xmlText("AllowedMethod", method)),
          ...rule.allowedOrigins.map((origin) => xmlText("AllowedOrigin", origin)),
          ...rule.exposeHeaders.map((header) => xmlText("ExposeHeader", header)),
          rule.maxAgeSeconds === undefined ? undefined : xmlText("MaxAgeSeconds", String(rule.maxAgeSeconds)),
        ]),
      ),
    ),
  );
}

/** Whether `value` matches `pattern`, in which one `*` stands for any run of characters (none included). */
export function matchesWildcard(pattern: string, value: string): boolean {
  const star = pattern.indexOf("*");
  if (star < 0) return pattern === value;
  const prefix = pattern.slice(0, star);
  const suffix = pattern.slice(star + 1);
  return value.length >= prefix.length + suffix.length && value.startsWith(prefix) && value.endsWith(suffix);
}

/** The requested header names of `Access-Control-Request-Headers`, lower case, without empties. */
export function requestedHeaders(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
}

/**
 * The first rule allowing a request from `origin` with `method` that may send
 * `headers` (lower-case names; a preflight's requested headers, none for an
 * ordinary request); undefined when no rule does.
 */
export function findCorsRule(configuration: CorsConfiguration, origin: string, method: string, headers: readonly string[]): CorsRule | undefined {
  return configuration.rules.find(
    (rule) =>
      rule.allowedMethods.includes(method) &&
      rule.allowedOrigins.some((pattern) => matchesWildcard(pattern, origin)) &&
      headers.every((header) => rule.allowedHeaders.some((pattern) => matchesWildcard(pattern.toLowerCase(), header))),
  );
}

/**
 * The `Access-Control-*` headers S3 sends for a request from `origin` that
 * `rule` allows. A rule whose matching origin is the bare `*` answers `*`
 * and no credentials; otherwise the origin is echoed and credentials are
 * allowed. `Vary` names what the answer depends on, so a cache keeps one
 * answer per origin. `requestHeaders` (a preflight's) are echoed back as
 * allowed.
 */
export function corsResponseHeaders(rule: CorsRule, origin: string, requestHeaders: readonly string[]): Record<string, string> {
  const anyOrigin = !rule.allowedOrigins.some((pattern) => pattern !== "*" && matchesWildcard(pattern, origin));
  const headers: Record<string, string> = {
    "access-control-allow-origin": anyOrigin ? "*" : origin,
    "access-control-allow-methods": rule.allowedMethods.join(", "),
    vary: "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
  };
  if (!anyOrigin) headers["access-control-allow-credentials"] = "true";
  if (requestHeaders.length > 0) headers["access-control-allow-headers"] = requestHeaders.join(", ");
  if (rule.exposeHeaders.length > 0) headers["access-control-expose-headers"] = rule.exposeHeaders.join(", ");
  if (rule.maxAgeSeconds !== undefined) headers["access-control-max-age"] = String(rule.maxAgeSeconds);
  return headers;
}

/** A preflight's answer: 200 with the headers, or the S3 error to send. */
export type PreflightAnswer = { readonly status: 200; readonly headers: Record<string, string> } | { readonly error: S3Error };

/**
 * Answers a preflight from the bucket's configuration (undefined: none set).
 * The `Origin` and `Access-Control-Request-Method` headers are required
 * (400); no configuration or no matching rule is 403 AccessForbidden.
 */
export function answerPreflight(
  configuration: CorsConfiguration | undefined,
  origin: string | undefined,
  requestMethod: string | undefined,
  requestHeadersValue: string | undefined,
): PreflightAnswer {
  if (origin === undefined || origin === "") {
    return { error: new S3Error("BadRequest", "Insufficient information. Origin request header needed.") };
  }
  if (requestMethod === undefined || !corsMethods.includes(requestMethod)) {
    return { error: new S3Error("BadRequest", `Invalid Access-Control-Request-Method: ${requestMethod ?? "null"}`) };
  }
  if (configuration === undefined) return { error: new S3Error("AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.") };
  const headers = requestedHeaders(requestHeadersValue);
  const rule = findCorsRule(configuration, origin, requestMethod, headers);
  if (rule === undefined) return { error: new S3Error("AccessForbidden") };
  return { status: 200, headers: corsResponseHeaders(rule, origin, headers) };
}
