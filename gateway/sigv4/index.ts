/**
 * AWS Signature Version 4 for the S3 gateway: request verification (header and
 * presigned forms), aws-chunked decoding with chunk and trailer signatures,
 * payload hash checking, and a signer for tests and tools.
 */
export { authenticate, presignedExpiresSecondsMax, requestSkewMsMax, verifyRequest } from "./authenticate.ts";
export type {
  AuthInput,
  Authenticated,
  ChunkChain,
  PayloadContext,
  PayloadMode,
  SecretLookup,
  VerifiedRequest,
  VerifyOptions,
} from "./authenticate.ts";
export {
  chunkSizeBytesMax,
  chunkStringToSign,
  decodeAwsChunked,
  encodeAwsChunked,
  signChunk,
  signTrailer,
  trailerStringToSign,
  verifySha256,
} from "./aws-chunked.ts";
export type { StreamingMode } from "./aws-chunked.ts";
export { formatAmzDate, parseAmzDate } from "./amz-date.ts";
export { canonicalQuery, canonicalRequest, canonicalUri, emptySha256Hex } from "./canonical.ts";
export type { CanonicalRequestParts } from "./canonical.ts";
export { deriveSigningKey, SigningKeyCache } from "./signing-key.ts";
export { presignUrl, signRequest } from "./sign.ts";
export type { PresignUrlOptions, SignedRequest, SignRequestOptions, SigningCredentials } from "./sign.ts";
