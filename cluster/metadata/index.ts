/** Public surface of the metadata layer: the MetaStore contract, its backends, keyspace and catalog. */
export { metaLimits, MetaStoreError } from "./store.ts";
export type {
  KeyValue,
  MetaStore,
  MetaStoreErrorCode,
  MetaTransaction,
  RangeOptions,
  TransactOptions,
} from "./store.ts";
export { openLmdbStore, transactAttemptsMaxDefault } from "./lmdb-store.ts";
export type { LmdbStoreOptions } from "./lmdb-store.ts";
export { openFoundationDbStore, stopFoundationDbNetwork, type FoundationDbStoreOptions } from "./foundationdb-store.ts";
export { createMemoryStorage, MemoryStorage, openMemoryStore } from "./memory-store.ts";
export type { MemoryStoreFaults, MemoryStoreOptions } from "./memory-store.ts";
export { bytesEqual, compareBytes, keyAfter } from "./bytes.ts";
export {
  bucketConfigurationKey,
  bucketConfigurationRange,
  bucketKey,
  bucketPartitionOwnerKey,
  bucketRange,
  clusterMapKey,
  credentialKey,
  credentialRange,
  formatVersionKey,
  garbageKey,
  garbageRange,
  healShardFromStoredKey,
  keyspaceFormatVersion,
  multipartPartKey,
  multipartPartRange,
  multipartUploadKey,
  multipartUploadRange,
  managerLeaseKey,
  nodeKey,
  nodeLeaseKey,
  nodeLeaseRange,
  nodeRange,
  objectKey,
  objectKeyFromStoredKey,
  objectKeyPrefix,
  objectPrefixRange,
  objectRange,
  objectVersionFromStoredKey,
  objectVersionKey,
  objectVersionRange,
  objectVersionsOfKeyRange,
  operatorDirectiveFromStoredKey,
  operatorDirectiveKey,
  operatorDirectiveRange,
  partitionUnitFromStoredKey,
  partitionUnitKey,
  partitionUnitRange,
  pendingKey,
  pendingRange,
  placementGroupCompleteKey,
  placementGroupDataIdFromStoredKey,
  placementGroupDataKey,
  placementGroupDataRange,
  placementGroupHealDataRange,
  placementGroupHealKey,
  placementGroupHealRange,
  placementGroupOwnerKey,
  strinc,
} from "./keyspace.ts";
export type { KeyRange } from "./keyspace.ts";
export { decodeRecord, decodeRecordOf, encodeRecord, recordKinds } from "./record-codec.ts";
export type { DecodedRecord, RecordKind } from "./record-codec.ts";
export {
  batchBytesMaxDefault,
  batchItemsMaxDefault,
  batchMsMaxDefault,
  clearRangeInBatches,
  runBatchedWork,
} from "./batched-work.ts";
export type {
  BatchedJob,
  BatchedProgress,
  BatchedWorkOptions,
  BatchedWorkReport,
  ClearRangeOptions,
  StepResult,
  WorkBudget,
} from "./batched-work.ts";
export {
  bucketConfigurationBytesMax,
  bucketPartitionCountDefault,
  bucketPartitionCountMax,
  decodeObjectRecord,
  encodeObjectRecord,
  ObjectCatalog,
  partitionCountOf,
} from "./object-catalog.ts";
export { encodePartRecord, MultipartCatalog, multipartData, multipartDataId, partNumberMax } from "./multipart-uploads.ts";
export type { CommitPartResult, ListUploadsRequest, ListUploadsResult, MultipartChecksumAlgorithm, PartRecord, UploadRecord } from "./multipart-uploads.ts";
export {
  commitPutStep,
  deleteCurrentStep,
  deleteVersionStep,
  headStep,
  nullVersionId,
  orderOfVersionId,
  preparePutStep,
  setObjectTagsStep,
  versionSuffixFrom,
  versionSuffixLength,
} from "./object-versions.ts";
export type {
  PreparePutResult,
  CommitCondition,
  CommitPutInput,
  CommitRefusal,
  CommitPutResult,
  DeleteMarkerRecord,
  DeleteResult,
  HeadResult,
  SetTagsResult,
  ListVersionsRequest,
  ListVersionsResult,
  VersionListEntry,
} from "./object-versions.ts";
export type {
  BucketConfigurationName,
  BucketRecord,
  BucketVersioning,
  DataLayout,
  ListObjectsRequest,
  ListObjectsResult,
  ObjectHeaders,
  ObjectRecord,
  ObjectTag,
  PendingRecord,
} from "./object-catalog.ts";
