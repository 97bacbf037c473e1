/**
 * The runtime-neutral S3 core. Adapters import `createS3Handler`; the rest is
 * exported for tests and for the uWebSockets.js adapter to come.
 */
export { createS3Handler, type S3HandlerOptions } from "./handler.ts";
export { resolveAddress, parseQuery, hostWithoutPort, type Address } from "./addressing.ts";
export { routeRequest, type OperationName, type Route, type RouteInput } from "./router.ts";
export { parseRange, type RangeResult } from "./range.ts";
export {
  assertValidBucketName,
  assertValidKey,
  bucketNameProblem,
  keyBytesMax,
  objectBytesMax,
  storageClasses,
  userMetadataBytesMax,
} from "./validation.ts";
export { escapeXml, parseXml, s3Namespace, writeXmlDocument, xmlBodyBytesMax, type XmlElement, type XmlNode } from "./xml.ts";
