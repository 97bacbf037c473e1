/**
 * The public surface of `gateway/`: the S3 core, its adapters, and the
 * `ObjectBackend` interface the cluster implements behind it.
 */
export { createS3Handler, type S3HandlerOptions } from "./s3/index.ts";
export { serveBun, type BunS3Server, type ServeBunOptions } from "./adapter/bun/index.ts";
export { serveNodeHttp, type NodeHttpS3Server, type ServeNodeHttpOptions } from "./adapter/node-http/index.ts";
export {
  FaultError,
  type BucketInfo,
  type BucketVersioning,
  type CompleteMultipartUploadInput,
  type CompletedPart,
  type CompletionRefusal,
  type CreateMultipartUploadInput,
  type DeleteMarkerInfo,
  type ListMultipartUploadsInput,
  type ListMultipartUploadsPage,
  type ListPartsPage,
  type MultipartBackend,
  type MultipartUploadInfo,
  type ObjectChecksum,
  type PartInfo,
  type UploadPartInput,
  type ListObjectsInput,
  type ListObjectsPage,
  type ListObjectVersionsInput,
  type ListObjectVersionsPage,
  type ObjectBackend,
  type ObjectInfo,
  type ObjectPartWindow,
  type PutObjectInput,
  type StoredHeaders,
  type VersionEntry,
  type WriteCondition,
  type WriteRefusal,
} from "./backend.ts";
export { compositeChecksum, fullObjectChecksum } from "./s3/checksum.ts";
export { S3Error, s3ErrorFromFault, s3ErrorTable, type S3ErrorCode } from "./errors.ts";
export type { S3Handler, S3Request, S3Response } from "./http.ts";
export {
  createRequestObserver,
  type AnsweredRequest,
  type CountingRequestObserver,
  type RequestObservation,
  type RequestObserver,
  type RequestObserverOptions,
  type RequestTotals,
} from "./metrics/request-observer.ts";
export { adminPortHandler, healthPath, metricsPath, withAdminRoutes, type AdminPortOptions, type AdminRoutesOptions, type HealthCheck, type HealthReport } from "./metrics/admin-routes.ts";
export { statusJsonPath, statusPagePath } from "./status/status-page.ts";
export {
  assessHealth,
  diskRowsMax,
  placementGroupCellsMax,
  placementGroupStates as statusPlacementGroupStates,
  statusReportVersion,
  type DiskStatus,
  type HealStatus,
  type NodeStatus,
  type PlacementGroupCell,
  type PlacementGroupState,
  type PlacementGroupsStatus,
  type StatusReport,
  type ThroughputSample,
  type ThroughputStatus,
} from "./status/status-report.ts";
export { ThroughputRing, throughputCapacityDefault, throughputIntervalMsDefault, type ThroughputRingOptions } from "./status/throughput-ring.ts";
