/**
 * The DiskActor's interface: the messages it accepts and the replies it
 * sends. Other folders import this file, never the behaviour.
 *
 * Kinds are wire ids: add new ones, never reuse or rename.
 */
import { Type, type Static } from "@sinclair/typebox";

/** Largest shard key, in UTF-8 bytes. */
export const shardKeyBytesMax = 512;
/** Largest payload of one record. Objects larger than this are stored as several shards. */
export const shardBytesMax = 8 * 1024 * 1024;

const ReplyTo = Type.Object({ nodeId: Type.String(), incarnation: Type.Integer({ minimum: 1 }), path: Type.String() });
const ShardKey = Type.String({ minLength: 1, maxLength: shardKeyBytesMax });

/** Append one shard; the reply comes only after it is durable (fdatasync). */
export const AppendShard = Type.Object({
  kind: Type.Literal("AppendShard"),
  epoch: Type.Integer({ minimum: 0 }),
  shardKey: ShardKey,
  bytes: Type.Uint8Array({ maxByteLength: shardBytesMax }),
  replyTo: ReplyTo,
});
export type AppendShard = Static<typeof AppendShard>;

export const AppendShardReply = Type.Object({
  kind: Type.Literal("AppendShardReply"),
  shardKey: ShardKey,
  lengthBytes: Type.Integer({ minimum: 0 }),
});
export type AppendShardReply = Static<typeof AppendShardReply>;

/** Read a shard, or `lengthBytes` of it from `offsetBytes`. The whole record's CRC32C is checked first. */
export const ReadShard = Type.Object({
  kind: Type.Literal("ReadShard"),
  epoch: Type.Integer({ minimum: 0 }),
  shardKey: ShardKey,
  offsetBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  lengthBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  replyTo: ReplyTo,
});
export type ReadShard = Static<typeof ReadShard>;

export const ReadShardReply = Type.Object({
  kind: Type.Literal("ReadShardReply"),
  shardKey: ShardKey,
  bytes: Type.Uint8Array(),
});
export type ReadShardReply = Static<typeof ReadShardReply>;

/** Delete a shard by appending a tombstone; durable before the reply. Deleting a missing shard succeeds. */
export const DeleteShard = Type.Object({
  kind: Type.Literal("DeleteShard"),
  epoch: Type.Integer({ minimum: 0 }),
  shardKey: ShardKey,
  replyTo: ReplyTo,
});
export type DeleteShard = Static<typeof DeleteShard>;

export const DeleteShardReply = Type.Object({
  kind: Type.Literal("DeleteShardReply"),
  shardKey: ShardKey,
  existed: Type.Boolean(),
});
export type DeleteShardReply = Static<typeof DeleteShardReply>;

/** Usage figures for operators and placement. */
export const StatDisk = Type.Object({
  kind: Type.Literal("StatDisk"),
  replyTo: ReplyTo,
});
export type StatDisk = Static<typeof StatDisk>;

export const StatDiskReply = Type.Object({
  kind: Type.Literal("StatDiskReply"),
  diskId: Type.String(),
  shardCount: Type.Integer({ minimum: 0 }),
  liveBytes: Type.Integer({ minimum: 0 }),
  deadBytes: Type.Integer({ minimum: 0 }),
  volumeCount: Type.Integer({ minimum: 0 }),
  /** Size of the filesystem the disk directory is on (optional: older nodes do not send it). */
  totalBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Free bytes on it as last measured, less what was written since. */
  freeBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Free space kept back from shard writes (for tombstones, compaction, recovery). */
  reserveBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  /** True while shard writes are refused with `Overloaded` ("disk full"): free space is at or below the reserve. */
  full: Type.Optional(Type.Boolean()),
});
export type StatDiskReply = Static<typeof StatDiskReply>;

/** Make everything appended so far durable and close files; the actor stops accepting writes. */
export const SyncDisk = Type.Object({
  kind: Type.Literal("SyncDisk"),
  replyTo: ReplyTo,
});
export type SyncDisk = Static<typeof SyncDisk>;

export const SyncDiskReply = Type.Object({ kind: Type.Literal("SyncDiskReply") });
export type SyncDiskReply = Static<typeof SyncDiskReply>;

/**
 * One page of a scrub pass: reads whole records (header and payload CRC32C
 * checked, as every read is) in shard-key order after `after`, until
 * `countMax` records or `bytesMax` bytes. Without `after` a new pass starts
 * from a snapshot of the disk's keys taken now; shards deleted since are
 * skipped, shards written since wait for the next pass.
 */
export const ScrubShards = Type.Object({
  kind: Type.Literal("ScrubShards"),
  epoch: Type.Integer({ minimum: 0 }),
  after: Type.Optional(ShardKey),
  countMax: Type.Integer({ minimum: 1, maximum: 10_000 }),
  bytesMax: Type.Integer({ minimum: 1 }),
  replyTo: ReplyTo,
});
export type ScrubShards = Static<typeof ScrubShards>;

export const ScrubShardsReply = Type.Object({
  kind: Type.Literal("ScrubShardsReply"),
  checked: Type.Integer({ minimum: 0 }),
  bytesChecked: Type.Integer({ minimum: 0 }),
  /** Shards whose record failed its checks: never served, to be rebuilt. */
  corrupt: Type.Array(ShardKey),
  /** Pass on with this as `after`; absent when the pass is complete. */
  next: Type.Optional(ShardKey),
});
export type ScrubShardsReply = Static<typeof ScrubShardsReply>;

/** Which of `shardKeys` the disk holds (from its in-memory index: no bytes are read). Repair sweeps use it. */
export const CheckShards = Type.Object({
  kind: Type.Literal("CheckShards"),
  epoch: Type.Integer({ minimum: 0 }),
  shardKeys: Type.Array(ShardKey, { maxItems: 4096 }),
  replyTo: ReplyTo,
});
export type CheckShards = Static<typeof CheckShards>;

export const CheckShardsReply = Type.Object({
  kind: Type.Literal("CheckShardsReply"),
  /** `present[i]` answers `shardKeys[i]`. */
  present: Type.Array(Type.Boolean()),
});
export type CheckShardsReply = Static<typeof CheckShardsReply>;

/**
 * One page of the disk's shard keys in key order after `after`, from its
 * in-memory index (no bytes are read). Without `after` a listing starts from
 * a snapshot of the keys taken now; shards deleted since are skipped. The
 * orphan sweep (cluster/repair/orphan-sweeper.ts) pages through it.
 */
export const ListShardKeys = Type.Object({
  kind: Type.Literal("ListShardKeys"),
  epoch: Type.Integer({ minimum: 0 }),
  after: Type.Optional(ShardKey),
  countMax: Type.Integer({ minimum: 1, maximum: 10_000 }),
  replyTo: ReplyTo,
});
export type ListShardKeys = Static<typeof ListShardKeys>;

export const ListShardKeysReply = Type.Object({
  kind: Type.Literal("ListShardKeysReply"),
  shardKeys: Type.Array(ShardKey),
  /** Pass on with this as `after`; absent when the listing is complete. */
  next: Type.Optional(ShardKey),
});
export type ListShardKeysReply = Static<typeof ListShardKeysReply>;

/**
 * One bounded compaction step: sealed volumes whose dead share (`deadBytes /
 * sizeBytes`, see `StatDisk`) is at least `deadFractionMin` get their live
 * records copied into the active volume (durable before the index switches),
 * then their files removed. Stops after `bytesMax` bytes of old volumes were
 * scanned; `more` says whether another step has work. The caller paces the
 * steps (as it paces scrub pages). A step while one runs gets `Overloaded`.
 */
export const CompactDisk = Type.Object({
  kind: Type.Literal("CompactDisk"),
  epoch: Type.Integer({ minimum: 0 }),
  deadFractionMin: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
  bytesMax: Type.Integer({ minimum: 1 }),
  replyTo: ReplyTo,
});
export type CompactDisk = Static<typeof CompactDisk>;

export const CompactDiskReply = Type.Object({
  kind: Type.Literal("CompactDiskReply"),
  volumesCompacted: Type.Integer({ minimum: 0 }),
  /** Size of the removed volume files; the net space freed is this minus `bytesCopied`. */
  bytesReclaimed: Type.Integer({ minimum: 0 }),
  /** Bytes of live records (and still-needed tombstones) rewritten. */
  bytesCopied: Type.Integer({ minimum: 0 }),
  tombstonesCarried: Type.Integer({ minimum: 0 }),
  /** Sealed volumes left alone because a current record in them fails its CRC (they wait for healing). */
  volumesSkipped: Type.Integer({ minimum: 0 }),
  /** True when some volume still passes the threshold. */
  more: Type.Boolean(),
});
export type CompactDiskReply = Static<typeof CompactDiskReply>;

export const DiskMessage = Type.Union([AppendShard, ReadShard, DeleteShard, StatDisk, SyncDisk, ScrubShards, CheckShards, ListShardKeys, CompactDisk]);
export type DiskMessage = Static<typeof DiskMessage>;
