/**
 * Which bucket and key a request names, from its Host header and raw path
 * (path-style `/bucket/key` or virtual-hosted `bucket.<domain>/key`), and its
 * query parameters.
 */
import { S3Error } from "../errors.ts";

export interface Address {
  /** Empty when the request names no bucket (ListBuckets). */
  readonly bucket: string;
  /** Empty when the request names no key (a bucket operation). */
  readonly key: string;
  readonly style: "path" | "virtual-host";
}

function decodeComponent(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new S3Error("InvalidURI", undefined, { URI: raw });
  }
}

/** The host name without its port, lower-case (IPv6 literals keep their brackets). */
export function hostWithoutPort(host: string): string {
  const lower = host.trim().toLowerCase();
  if (lower.startsWith("[")) {
    const close = lower.indexOf("]");
    return close < 0 ? lower : lower.slice(0, close + 1);
  }
  const colon = lower.lastIndexOf(":");
  return colon < 0 ? lower : lower.slice(0, colon);
}

/**
 * Resolves the bucket and key. The key keeps every slash of the path,
 * including empty segments and a trailing slash; percent-escapes are decoded
 * once (`+` stays a plus in a path).
 */
export function resolveAddress(rawPath: string, host: string | undefined, virtualHostDomains: readonly string[]): Address {
  const path = rawPath.startsWith("/") ? rawPath.slice(1) : rawPath;
  if (host !== undefined) {
    const hostName = hostWithoutPort(host);
    for (const domain of virtualHostDomains) {
      const suffix = `.${domain.toLowerCase()}`;
      if (hostName.endsWith(suffix) && hostName.length > suffix.length) {
        return { bucket: hostName.slice(0, -suffix.length), key: decodeComponent(path), style: "virtual-host" };
      }
    }
  }
  const slash = path.indexOf("/");
  if (slash < 0) return { bucket: decodeComponent(path), key: "", style: "path" };
  return { bucket: decodeComponent(path.slice(0, slash)), key: decodeComponent(path.slice(slash + 1)), style: "path" };
}

/**
 * Parses a raw query string into names and values (first occurrence wins).
 * `+` decodes to a space as in form encoding, which is how S3 reads it.
 */
export function parseQuery(rawQuery: string): ReadonlyMap<string, string> {
  const params = new Map<string, string>();
  if (rawQuery === "") return params;
  for (const part of rawQuery.split("&")) {
    if (part === "") continue;
    const equals = part.indexOf("=");
    const rawName = equals < 0 ? part : part.slice(0, equals);
    const rawValue = equals < 0 ? "" : part.slice(equals + 1);
    const name = decodeComponent(rawName.replaceAll("+", " "));
    const value = decodeComponent(rawValue.replaceAll("+", " "));
    if (!params.has(name)) params.set(name, value);
  }
  return params;
}
