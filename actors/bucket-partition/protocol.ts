/**
 * The BucketPartitionActor's interface: the messages it accepts and the
 * replies it sends. Other folders import this file, never the behaviour.
 *
 * Every request carries `epoch`: the epoch of the partition's assignment as
 * the sender's map names it. The actor answers a request whose epoch is not
 * its own with a `Fenced` fault and does nothing else, so a sender that sees
 * `Fenced` knows the request had no effect and may retry with a newer map.
 *
 * Replies carry operating faults (`runtime/fault.ts`) as values instead of
 * the reply: `Fenced` (stale epoch, or a newer owner claimed the partition),
 * `Overloaded` (queue full), `Unreachable` (the metadata transaction failed;
 * for a write the outcome is then unknown), `NotFound` (the message names
 * another bucket than the actor's).
 *
 * Kinds are wire ids: add new ones, never reuse or rename.
 */
import { Type, type Static } from "@sinclair/typebox";

const ReplyTo = Type.Object({ nodeId: Type.String(), incarnation: Type.Integer({ minimum: 1 }), path: Type.String() });
const Epoch = Type.Integer({ minimum: 0 });
const Bucket = Type.String({ minLength: 1, maxLength: 255 });
/** S3 keys are at most 1024 bytes of UTF-8; 1024 UTF-16 units is looser and still bounded. */
const Key = Type.String({ maxLength: 1024 });
const DataId = Type.String({ minLength: 1, maxLength: 256 });
/** The gateway passes on any well-formed id up to 1024 characters (S3's bound); the store decides whether it exists. */
const VersionId = Type.String({ minLength: 1, maxLength: 1024 });
const TimeMs = Type.Number();
const Count = Type.Integer({ minimum: -1 });

/** `DataLayout` of cluster/metadata (object-catalog.ts). */
export const DataLayoutSchema = Type.Union([
  Type.Object({ kind: Type.Literal("single"), diskId: Type.String(), chunkBytes: Type.Integer({ minimum: 1 }), chunkCount: Count }),
  Type.Object({
    kind: Type.Literal("replicated"),
    placementGroupId: Type.Integer({ minimum: 0 }),
    copies: Type.Integer({ minimum: 1 }),
    chunkBytes: Type.Integer({ minimum: 1 }),
    chunkCount: Count,
  }),
  Type.Object({
    kind: Type.Literal("erasure"),
    placementGroupId: Type.Integer({ minimum: 0 }),
    dataShards: Type.Integer({ minimum: 1 }),
    parityShards: Type.Integer({ minimum: 0 }),
    shardBytes: Type.Integer({ minimum: 1 }),
    stripeCount: Count,
  }),
  Type.Object({
    kind: Type.Literal("multipart"),
    placementGroupId: Type.Integer({ minimum: 0 }),
    bucket: Bucket,
    uploadId: Type.String({ minLength: 1, maxLength: 256 }),
    partCount: Count,
  }),
]);

/** No header value can be longer than the HTTP server's whole header block (Bun: 16 KiB). */
const HeaderValue = Type.Optional(Type.String({ maxLength: 16_384 }));
const ObjectHeadersSchema = Type.Object({
  contentType: HeaderValue,
  contentEncoding: HeaderValue,
  contentDisposition: HeaderValue,
  contentLanguage: HeaderValue,
  cacheControl: HeaderValue,
  expires: HeaderValue,
});

/**
 * S3 object tags (cluster/metadata `ObjectTag`): at most 10, a key of 1 to 128
 * and a value of at most 256 Unicode characters, so at most twice as many
 * UTF-16 units. Optional in records: records without tags leave it out.
 */
export const ObjectTagsSchema = Type.Array(
  Type.Object({ key: Type.String({ minLength: 1, maxLength: 256 }), value: Type.String({ maxLength: 512 }) }),
  { maxItems: 10 },
);

const objectRecordFields = {
  bucket: Bucket,
  key: Key,
  sizeBytes: Type.Integer({ minimum: 0 }),
  etag: Type.String({ maxLength: 128 }),
  lastModifiedMs: TimeMs,
  storageClass: Type.String({ maxLength: 64 }),
  headers: ObjectHeadersSchema,
  // S3 bounds user metadata to 2 KB in all, so 256 entries is far beyond any legal object.
  userMetadata: Type.Record(Type.String(), Type.String(), { maxProperties: 256 }),
  dataId: DataId,
  layout: DataLayoutSchema,
  tags: Type.Optional(ObjectTagsSchema),
};

/** `ObjectRecord` of cluster/metadata: one version with data. */
export const ObjectRecordSchema = Type.Object({ ...objectRecordFields, versionId: VersionId });
/** A PUT's record before its commit chose the version id. */
export const ObjectRecordDraftSchema = Type.Object(objectRecordFields);
/** `PendingRecord` of cluster/metadata: data being written, or data to free. */
export const PendingRecordSchema = Type.Object({ dataId: DataId, layout: DataLayoutSchema, createdMs: TimeMs });
/** `DeleteMarkerRecord` of cluster/metadata. */
export const DeleteMarkerSchema = Type.Object({ bucket: Bucket, key: Key, versionId: VersionId, lastModifiedMs: TimeMs });

/**
 * A PUT's PREPARE. When `idempotencyToken` already committed a version of
 * this key (and it still exists), nothing is written and the reply names
 * that version (`duplicate`): the gateway drains the body and answers with
 * it. Otherwise the pending record is written (PREPARING) before the reply.
 */
/** A conditional write's precondition (`CommitCondition` of cluster/metadata); an ETag is at most 128 characters. */
const WriteConditionSchema = Type.Object({
  ifNoneMatch: Type.Optional(Type.Literal("*")),
  ifMatch: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});

export const PreparePut = Type.Object({
  kind: Type.Literal("PreparePut"),
  epoch: Epoch,
  bucket: Bucket,
  key: Key,
  pending: PendingRecordSchema,
  idempotencyToken: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  /**
   * A conditional PUT's condition, checked early (after the token): one that
   * already fails is answered `precondition-failed` / `no-such-key` with no
   * pending record, and the body is not stored. The commit decides again.
   */
  condition: Type.Optional(WriteConditionSchema),
  nowMs: TimeMs,
  replyTo: ReplyTo,
});
export type PreparePut = Static<typeof PreparePut>;

export const PreparePutReply = Type.Union([
  Type.Object({ kind: Type.Literal("PreparePutReply"), outcome: Type.Literal("prepared") }),
  Type.Object({ kind: Type.Literal("PreparePutReply"), outcome: Type.Literal("duplicate"), record: ObjectRecordSchema }),
  Type.Object({ kind: Type.Literal("PreparePutReply"), outcome: Type.Literal("no-such-bucket") }),
  Type.Object({ kind: Type.Literal("PreparePutReply"), outcome: Type.Union([Type.Literal("precondition-failed"), Type.Literal("no-such-key")]) }),
]);
export type PreparePutReply = Static<typeof PreparePutReply>;

/**
 * A PUT's COMMIT (cluster/metadata `commitPutStep`): the version becomes
 * current in one transaction fenced by the partition's epoch.
 * `abandoned`: the Janitor reclaimed the PREPARING record, nothing committed.
 * `condition` (a conditional write) is decided in that transaction:
 * `precondition-failed` / `no-such-key` (If-Match without a current object)
 * commit nothing, and this attempt's data becomes garbage for the sender to free.
 */
export const CommitPut = Type.Object({
  kind: Type.Literal("CommitPut"),
  epoch: Epoch,
  record: ObjectRecordDraftSchema,
  /** Random base-36 characters for the version id (`versionSuffixLength`). */
  versionSuffix: Type.String({ minLength: 1, maxLength: 64 }),
  idempotencyToken: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  tokenLifetimeMs: Type.Integer({ minimum: 0 }),
  nowMs: TimeMs,
  /** A conditional write's precondition, decided in the commit's transaction. */
  condition: Type.Optional(WriteConditionSchema),
  /** A CompleteMultipartUpload: the upload record is removed in the same transaction. */
  multipartUploadId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  replyTo: ReplyTo,
});
export type CommitPut = Static<typeof CommitPut>;

export const CommitPutReply = Type.Union([
  Type.Object({
    kind: Type.Literal("CommitPutReply"),
    outcome: Type.Literal("committed"),
    record: ObjectRecordSchema,
    /** Data that became garbage in the commit; the sender frees it. */
    freed: Type.Array(PendingRecordSchema),
    /** True when a retry found its version already committed: nothing new was written. */
    duplicate: Type.Boolean(),
  }),
  Type.Object({
    kind: Type.Literal("CommitPutReply"),
    outcome: Type.Union([Type.Literal("no-such-bucket"), Type.Literal("abandoned"), Type.Literal("precondition-failed"), Type.Literal("no-such-key")]),
  }),
]);
export type CommitPutReply = Static<typeof CommitPutReply>;

/**
 * DELETE of the current version (a delete marker where versioned) or, with `versionId`, of that version.
 * `condition` (S3's If-Match on DELETE, current version only: never with `versionId`) is decided in the
 * delete's transaction: `precondition-failed`, or `no-such-key` when there is no current object.
 */
export const DeleteObject = Type.Object({
  kind: Type.Literal("DeleteObject"),
  epoch: Epoch,
  bucket: Bucket,
  key: Key,
  versionId: Type.Optional(VersionId),
  versionSuffix: Type.String({ minLength: 1, maxLength: 64 }),
  nowMs: TimeMs,
  condition: Type.Optional(WriteConditionSchema),
  replyTo: ReplyTo,
});
export type DeleteObject = Static<typeof DeleteObject>;

export const DeleteObjectReply = Type.Union([
  Type.Object({
    kind: Type.Literal("DeleteObjectReply"),
    outcome: Type.Literal("deleted"),
    deleteMarker: Type.Boolean(),
    versionId: Type.Optional(VersionId),
    freed: Type.Array(PendingRecordSchema),
  }),
  Type.Object({
    kind: Type.Literal("DeleteObjectReply"),
    outcome: Type.Union([Type.Literal("no-such-bucket"), Type.Literal("precondition-failed"), Type.Literal("no-such-key")]),
  }),
]);
export type DeleteObjectReply = Static<typeof DeleteObjectReply>;

/** HEAD (and GET's lookup) of the current version, or of one version by id. */
export const HeadObject = Type.Object({
  kind: Type.Literal("HeadObject"),
  epoch: Epoch,
  bucket: Bucket,
  key: Key,
  versionId: Type.Optional(VersionId),
  replyTo: ReplyTo,
});
export type HeadObject = Static<typeof HeadObject>;

export const HeadObjectReply = Type.Union([
  Type.Object({ kind: Type.Literal("HeadObjectReply"), outcome: Type.Literal("object"), record: ObjectRecordSchema, cached: Type.Boolean() }),
  Type.Object({ kind: Type.Literal("HeadObjectReply"), outcome: Type.Literal("deleteMarker"), marker: DeleteMarkerSchema, cached: Type.Boolean() }),
  Type.Object({
    kind: Type.Literal("HeadObjectReply"),
    outcome: Type.Union([Type.Literal("no-such-bucket"), Type.Literal("no-such-key"), Type.Literal("no-such-version")]),
    cached: Type.Boolean(),
  }),
]);
export type HeadObjectReply = Static<typeof HeadObjectReply>;

/**
 * PutObjectTagging / DeleteObjectTagging (cluster/metadata
 * `setObjectTagsStep`): replaces the tags of the current version, or of
 * `versionId`; an empty list removes them. The reply carries the version as
 * rewritten, or the delete marker found there (left unchanged).
 */
export const SetObjectTags = Type.Object({
  kind: Type.Literal("SetObjectTags"),
  epoch: Epoch,
  bucket: Bucket,
  key: Key,
  versionId: Type.Optional(VersionId),
  tags: ObjectTagsSchema,
  replyTo: ReplyTo,
});
export type SetObjectTags = Static<typeof SetObjectTags>;

export const SetObjectTagsReply = Type.Union([
  Type.Object({ kind: Type.Literal("SetObjectTagsReply"), outcome: Type.Literal("object"), record: ObjectRecordSchema }),
  Type.Object({ kind: Type.Literal("SetObjectTagsReply"), outcome: Type.Literal("deleteMarker"), marker: DeleteMarkerSchema }),
  Type.Object({
    kind: Type.Literal("SetObjectTagsReply"),
    outcome: Type.Union([Type.Literal("no-such-bucket"), Type.Literal("no-such-key"), Type.Literal("no-such-version")]),
  }),
]);
export type SetObjectTagsReply = Static<typeof SetObjectTagsReply>;

/**
 * Empties the cache. Sent when the bucket is deleted: its cached "absent"
 * entries must not answer for a bucket that no longer exists.
 */
export const ClearCache = Type.Object({ kind: Type.Literal("ClearCache"), epoch: Epoch, replyTo: ReplyTo });
export type ClearCache = Static<typeof ClearCache>;

export const ClearCacheReply = Type.Object({ kind: Type.Literal("ClearCacheReply"), dropped: Type.Integer({ minimum: 0 }) });
export type ClearCacheReply = Static<typeof ClearCacheReply>;

/** The actor's epoch, fencing state, cache and queue figures. Answered at any epoch: it is how one learns the epoch. */
export const StatBucketPartition = Type.Object({ kind: Type.Literal("StatBucketPartition"), epoch: Epoch, replyTo: ReplyTo });
export type StatBucketPartition = Static<typeof StatBucketPartition>;

export const StatBucketPartitionReply = Type.Object({
  kind: Type.Literal("StatBucketPartitionReply"),
  bucket: Bucket,
  partition: Type.Integer({ minimum: 0 }),
  epoch: Epoch,
  fenced: Type.Boolean(),
  cacheEntries: Type.Integer({ minimum: 0 }),
  cacheBytes: Type.Integer({ minimum: 0 }),
  cacheHits: Type.Integer({ minimum: 0 }),
  cacheMisses: Type.Integer({ minimum: 0 }),
  queuedOperations: Type.Integer({ minimum: 0 }),
  /** Metadata transactions committed (each may hold the operations of many keys). */
  transactions: Type.Integer({ minimum: 0 }),
  /** Operations those transactions held. */
  operations: Type.Integer({ minimum: 0 }),
});
export type StatBucketPartitionReply = Static<typeof StatBucketPartitionReply>;

export const BucketPartitionMessage = Type.Union([PreparePut, CommitPut, DeleteObject, HeadObject, ClearCache, StatBucketPartition, SetObjectTags]);
export type BucketPartitionMessage = Static<typeof BucketPartitionMessage>;
