/**
 * The BucketPartitionActor's public surface. Other folders talk to a
 * partition through the messages in `protocol.ts`; hosts spawn it with
 * `bucketPartitionBehavior` at `bucketPartitionActorPath`, and senders find
 * a key's partition with `bucketPartitionOf`.
 */
export { bucketPartitionActorPath, bucketPartitionBehavior } from "./behavior.ts";
export type { BucketPartitionBehaviorOptions, BucketPartitionState } from "./behavior.ts";
export { bucketPartitionHashSeed, bucketPartitionOf } from "./partition-of.ts";
export { RecordCache } from "./record-cache.ts";
export type { CachedState, RecordCacheLimits } from "./record-cache.ts";
export {
  BucketPartitionMessage,
  ClearCache,
  ClearCacheReply,
  CommitPut,
  CommitPutReply,
  DeleteObject,
  DeleteObjectReply,
  HeadObject,
  HeadObjectReply,
  PreparePut,
  PreparePutReply,
  StatBucketPartition,
  StatBucketPartitionReply,
} from "./protocol.ts";
