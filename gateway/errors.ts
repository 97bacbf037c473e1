/**
 * S3 errors exist only in the gateway. This file is the one table from error
 * code to HTTP status and default message, and the one function from an
 * operating fault to an S3 error.
 */
import type { Fault } from "../runtime/index.ts";

export const s3ErrorTable = {
  // Buckets here are BucketOwnerEnforced (ACLs disabled): setting an ACL other than the owner's full control is refused so.
  AccessControlListNotSupported: { status: 400, message: "The bucket does not allow ACLs" },
  AccessDenied: { status: 403, message: "Access Denied" },
  // What S3 answers a CORS preflight that no rule allows.
  AccessForbidden: { status: 403, message: "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec." },
  AuthorizationHeaderMalformed: { status: 400, message: "The authorization header is malformed." },
  AuthorizationQueryParametersError: { status: 400, message: "Error parsing the X-Amz-Credential parameter." },
  BadRequest: { status: 400, message: "Bad Request" },
  BadDigest: { status: 400, message: "The Content-MD5 or checksum you specified did not match what we received." },
  BucketAlreadyExists: { status: 409, message: "The requested bucket name is not available." },
  BucketAlreadyOwnedByYou: { status: 409, message: "Your previous request to create the named bucket succeeded and you already own it." },
  BucketNotEmpty: { status: 409, message: "The bucket you tried to delete is not empty." },
  EntityTooLarge: { status: 400, message: "Your proposed upload exceeds the maximum allowed object size." },
  EntityTooSmall: { status: 400, message: "Your proposed upload is smaller than the minimum allowed object size." },
  InvalidPart: { status: 400, message: "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag." },
  InvalidPartOrder: { status: 400, message: "The list of parts was not in ascending order. Parts must be ordered by part number." },
  InvalidPartNumber: { status: 416, message: "The requested partnumber is not satisfiable" },
  NoSuchUpload: { status: 404, message: "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed." },
  IncompleteBody: { status: 400, message: "You did not provide the number of bytes specified by the Content-Length HTTP header." },
  InternalError: { status: 500, message: "We encountered an internal error. Please try again." },
  InvalidAccessKeyId: { status: 403, message: "The AWS access key Id you provided does not exist in our records." },
  InvalidArgument: { status: 400, message: "Invalid Argument" },
  InvalidBucketAclWithObjectOwnership: { status: 400, message: "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting" },
  InvalidBucketName: { status: 400, message: "The specified bucket is not valid." },
  InvalidDigest: { status: 400, message: "The Content-MD5 you specified is not valid." },
  InvalidLocationConstraint: { status: 400, message: "The specified location constraint is not valid." },
  InvalidRange: { status: 416, message: "The requested range is not satisfiable" },
  InvalidRequest: { status: 400, message: "Invalid Request" },
  InvalidStorageClass: { status: 400, message: "The storage class you specified is not valid." },
  InvalidTag: { status: 400, message: "The tag provided was not a valid tag." },
  InvalidURI: { status: 400, message: "Couldn't parse the specified URI." },
  KeyTooLongError: { status: 400, message: "Your key is too long." },
  MalformedPolicy: { status: 400, message: "The policy is not valid." },
  MalformedXML: { status: 400, message: "The XML you provided was not well-formed or did not validate against our published schema." },
  MaxMessageLengthExceeded: { status: 400, message: "Your request was too big." },
  MetadataTooLarge: { status: 400, message: "Your metadata headers exceed the maximum allowed metadata size." },
  MethodNotAllowed: { status: 405, message: "The specified method is not allowed against this resource." },
  MissingContentLength: { status: 411, message: "You must provide the Content-Length HTTP header." },
  MissingSecurityHeader: { status: 400, message: "Your request is missing a required header." },
  NoSuchBucket: { status: 404, message: "The specified bucket does not exist." },
  NoSuchBucketPolicy: { status: 404, message: "The bucket policy does not exist" },
  NoSuchCORSConfiguration: { status: 404, message: "The CORS configuration does not exist" },
  NoSuchKey: { status: 404, message: "The specified key does not exist." },
  NoSuchTagSet: { status: 404, message: "The TagSet does not exist" },
  NoSuchVersion: { status: 404, message: "The specified version does not exist." },
  NotImplemented: { status: 501, message: "A header you provided implies functionality that is not implemented." },
  PreconditionFailed: { status: 412, message: "At least one of the preconditions you specified did not hold." },
  RequestTimeTooSkewed: { status: 403, message: "The difference between the request time and the server's time is too large." },
  ServiceUnavailable: { status: 503, message: "Please reduce your request rate." },
  SignatureDoesNotMatch: { status: 403, message: "The request signature we calculated does not match the signature you provided. Check your key and signing method." },
  SlowDown: { status: 503, message: "Please reduce your request rate." },
  XAmzContentSHA256Mismatch: { status: 400, message: "The provided 'x-amz-content-sha256' header does not match what was computed." },
} as const satisfies Record<string, { status: number; message: string }>;

export type S3ErrorCode = keyof typeof s3ErrorTable;

/**
 * An S3 error on its way to the client. Thrown inside the gateway (including
 * from body streams that fail verification) and turned into an XML error body
 * by the core; never thrown outside `gateway/`.
 */
export class S3Error extends Error {
  readonly code: S3ErrorCode;
  readonly status: number;
  /** Extra elements for the XML body, e.g. `{ BucketName: "x" }`. */
  readonly extra: Readonly<Record<string, string>>;
  /** Headers the error reply carries, e.g. `x-amz-delete-marker` on a 404 for a deleted key (HEAD replies too). */
  readonly headers: Readonly<Record<string, string>>;
  constructor(code: S3ErrorCode, message?: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) {
    super(message ?? s3ErrorTable[code].message);
    this.name = "S3Error";
    this.code = code;
    this.status = s3ErrorTable[code].status;
    this.extra = extra;
    this.headers = headers;
  }
}

/** The one mapping from an operating fault to the S3 error a client sees. */
export function s3ErrorFromFault(value: Fault): S3Error {
  switch (value.fault) {
    case "Timeout":
    case "Unreachable":
    case "QuorumLost":
    case "Fenced":
      return new S3Error("ServiceUnavailable", `Storage temporarily unavailable (${value.fault}).`);
    case "Overloaded":
      return new S3Error("SlowDown");
    case "Corrupt":
      // A corrupt shard that cannot be rebuilt is a server-side failure.
      return new S3Error("InternalError", "Stored data failed its checksum.");
    case "NotFound":
      return new S3Error("InternalError", "Stored data is missing.");
    default: {
      const unreachable: never = value.fault;
      throw new Error(`unknown fault ${String(unreachable)}`);
    }
  }
}
