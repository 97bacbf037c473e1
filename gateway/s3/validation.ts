/**
 * Checks on names and headers that S3 applies before any storage is touched.
 * Each one throws the S3 error a client would get from AWS.
 */
import { S3Error } from "../errors.ts";

/** Keys longer than this many UTF-8 bytes are refused (S3's limit). */
export const keyBytesMax = 1024;

/** The largest object a single PUT may carry: 5 GiB. */
export const objectBytesMax = 5 * 1024 * 1024 * 1024;

/** User metadata (names without `x-amz-meta-` plus values, UTF-8 bytes) above this is refused. */
export const userMetadataBytesMax = 2 * 1024;

/** Storage classes S3 accepts on PUT. Stored as given; STANDARD when absent. */
export const storageClasses: ReadonlySet<string> = new Set([
  "STANDARD",
  "REDUCED_REDUNDANCY",
  "STANDARD_IA",
  "ONEZONE_IA",
  "INTELLIGENT_TIERING",
  "GLACIER",
  "DEEP_ARCHIVE",
  "OUTPOSTS",
  "GLACIER_IR",
  "SNOW",
  "EXPRESS_ONEZONE",
]);

const ipv4Like = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const bucketCharacters = /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/;

/** Why `name` is not a valid bucket name, or undefined when it is. */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return "Bucket names must be between 3 and 63 characters long.";
  if (!bucketCharacters.test(name)) {
    return "Bucket names may contain only lower-case letters, digits, dots and hyphens, and must begin and end with a letter or digit.";
  }
  if (name.includes("..")) return "Bucket names must not contain two adjacent periods.";
  if (ipv4Like.test(name)) return "Bucket names must not be formatted as an IP address.";
  if (name.startsWith("xn--")) return "Bucket names must not start with the prefix xn--.";
  if (name.startsWith("sthree-")) return "Bucket names must not start with the prefix sthree-.";
  if (name.endsWith("-s3alias")) return "Bucket names must not end with the suffix -s3alias.";
  if (name.endsWith("--ol-s3")) return "Bucket names must not end with the suffix --ol-s3.";
  if (name.endsWith(".mrap")) return "Bucket names must not end with the suffix .mrap.";
  if (name.endsWith("--x-s3")) return "Bucket names must not end with the suffix --x-s3.";
  return undefined;
}

/** Throws InvalidBucketName unless `name` follows S3's bucket naming rules. */
export function assertValidBucketName(name: string): void {
  const problem = bucketNameProblem(name);
  if (problem !== undefined) throw new S3Error("InvalidBucketName", problem, { BucketName: name });
}

const utf8 = new TextEncoder();

/** UTF-8 length of a string in bytes. */
export function utf8ByteLength(text: string): number {
  return utf8.encode(text).byteLength;
}

/** Throws KeyTooLongError when the key is over 1024 UTF-8 bytes. */
export function assertValidKey(key: string): void {
  const sizeBytes = utf8ByteLength(key);
  if (sizeBytes > keyBytesMax) {
    throw new S3Error("KeyTooLongError", undefined, { MaxSizeAllowed: String(keyBytesMax), Size: String(sizeBytes) });
  }
}

/**
 * The storage class to store: STANDARD when the header is absent;
 * InvalidStorageClass when S3 does not know it or the store is not
 * configured for it.
 */
export function storageClassFromHeader(value: string | undefined, configured: ReadonlySet<string>): string {
  const storageClass = value === undefined || value === "" ? "STANDARD" : value;
  if (!storageClasses.has(storageClass) || !configured.has(storageClass)) {
    throw new S3Error("InvalidStorageClass", undefined, { StorageClassRequested: storageClass });
  }
  return storageClass;
}

/** Collects `x-amz-meta-*` headers (names lower-case, prefix removed); MetadataTooLarge above 2 KB. */
export function userMetadataFromHeaders(headers: ReadonlyMap<string, string>): Record<string, string> {
  const metadata: Record<string, string> = {};
  let sizeBytes = 0;
  for (const [name, value] of headers) {
    if (!name.startsWith("x-amz-meta-")) continue;
    const key = name.slice("x-amz-meta-".length).toLowerCase();
    metadata[key] = value;
    sizeBytes += utf8ByteLength(key) + utf8ByteLength(value);
  }
  if (sizeBytes > userMetadataBytesMax) {
    throw new S3Error("MetadataTooLarge", undefined, { Size: String(sizeBytes), MaxSizeAllowed: String(userMetadataBytesMax) });
  }
  return metadata;
}

/** Parses a non-negative decimal integer header; undefined when absent, InvalidArgument when malformed. */
export function parseLengthHeader(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,16}$/.test(value.trim())) throw new S3Error("InvalidArgument", `The ${name} header is not a valid length.`, { ArgumentName: name, ArgumentValue: value });
  return Number(value.trim());
}
