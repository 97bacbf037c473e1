/**
 * What every operation receives: the request, where it points, who sent it
 * and the backend. Operations are plain functions from this to a response.
 */
import type { ObjectBackend } from "../backend.ts";
import type { S3Request, S3Response } from "../http.ts";
import type { Authenticated } from "../sigv4/index.ts";
import type { Requester } from "./authorization.ts";

/** The owner shown in listings: the authenticated requester (one tenant for now). */
export interface Owner {
  readonly id: string;
  readonly displayName: string;
}

export interface OperationContext {
  readonly request: S3Request;
  readonly bucket: string;
  readonly key: string;
  readonly query: ReadonlyMap<string, string>;
  /** For an anonymous request, how its body is checked (no key: `accessKeyId` is ""). */
  readonly auth: Authenticated;
  readonly owner: Owner;
  /** Who sent the request; authorization has already let it through to this operation. */
  readonly requester: Requester;
  /** Whether the requester may do `action` (`s3:DeleteObject`, ...) on object `key` of this bucket: DeleteObjects asks per key. */
  readonly mayAccessKey: (action: string, key: string) => boolean;
  /** Drops this gateway's cached owner and policy of the bucket, after an operation changed them. */
  readonly forgetBucketAccess: () => void;
  readonly backend: ObjectBackend;
  readonly region: string;
  readonly requestId: string;
  readonly nowMs: number;
}

/** One S3 operation. Throws S3Error (or FaultError) for the client's error reply. */
export type Operation = (context: OperationContext) => Promise<S3Response>;

/** Headers for an XML reply. */
export function xmlHeaders(): Record<string, string> {
  return { "content-type": "application/xml" };
}
