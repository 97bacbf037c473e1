/**
 * The PlacementGroupActor's interface: the messages it accepts and the
 * replies it sends. Other folders import this file, never the behaviour.
 *
 * Kinds are wire ids: add new ones, never reuse or rename.
 */
import { Type, type Static } from "@sinclair/typebox";

const ReplyTo = Type.Object({ nodeId: Type.String(), incarnation: Type.Integer({ minimum: 1 }), path: Type.String() });
const DataId = Type.String({ minLength: 1, maxLength: 256 });
const Epoch = Type.Integer({ minimum: 0 });

/** The disks of the PG's acting set at its current epoch; position = shard index. */
export const GetActingSet = Type.Object({
  kind: Type.Literal("GetActingSet"),
  epoch: Epoch,
  replyTo: ReplyTo,
});
export type GetActingSet = Static<typeof GetActingSet>;

export const GetActingSetReply = Type.Object({
  kind: Type.Literal("GetActingSetReply"),
  placementGroupId: Type.Integer({ minimum: 0 }),
  epoch: Epoch,
  diskIds: Type.Array(Type.String()),
  /**
   * Present while the PG backfills: the acting set it last had every shard
   * on. A position whose disk changed may not hold its shard yet; the
   * former disk at that position still does (until backfill deletes it), so
   * a reader tries it before rebuilding the shard from k others.
   */
  formerDiskIds: Type.Optional(Type.Array(Type.String())),
});
export type GetActingSetReply = Static<typeof GetActingSetReply>;

/** How a datum's shards sit on the acting set, as far as repair needs to know. */
export const RepairLayout = Type.Union([
  Type.Object({ kind: Type.Literal("replicated"), copies: Type.Integer({ minimum: 1, maximum: 32 }) }),
  Type.Object({ kind: Type.Literal("erasure"), dataShards: Type.Integer({ minimum: 1, maximum: 32 }), parityShards: Type.Integer({ minimum: 0, maximum: 32 }) }),
]);
export type RepairLayout = Static<typeof RepairLayout>;

/**
 * Records that the PG may store shards of `dataId`: sent when a PUT begins,
 * before its shards are written, so the index is a superset of what the PG
 * stores and nothing written is ever unknown to repair and scrub. Replied
 * once the entry is durable.
 */
export const IndexData = Type.Object({
  kind: Type.Literal("IndexData"),
  epoch: Epoch,
  dataId: DataId,
  bucket: Type.String(),
  key: Type.String(),
  /** How the data's shards are laid out, so the PG can rebuild them without the object's record (absent: sent before repair existed). */
  layout: Type.Optional(RepairLayout),
  replyTo: ReplyTo,
});
export type IndexData = Static<typeof IndexData>;

export const IndexDataReply = Type.Object({ kind: Type.Literal("IndexDataReply"), dataId: DataId });
export type IndexDataReply = Static<typeof IndexDataReply>;

/** Removes `dataId` from the PG's index and its heal list, once its shards are freed. */
export const ForgetData = Type.Object({
  kind: Type.Literal("ForgetData"),
  epoch: Epoch,
  dataId: DataId,
  replyTo: ReplyTo,
});
export type ForgetData = Static<typeof ForgetData>;

export const ForgetDataReply = Type.Object({ kind: Type.Literal("ForgetDataReply"), dataId: DataId });
export type ForgetDataReply = Static<typeof ForgetDataReply>;

/** Why a shard needs healing. */
export const ShardDamage = Type.Union([Type.Literal("write-failed"), Type.Literal("missing"), Type.Literal("corrupt")]);
export type ShardDamage = Static<typeof ShardDamage>;

/** Records shards that must be rebuilt (a write that missed a disk, a read that found one missing or corrupt). */
export const RecordDamagedShards = Type.Object({
  kind: Type.Literal("RecordDamagedShards"),
  epoch: Epoch,
  dataId: DataId,
  shards: Type.Array(
    Type.Object({
      stripeIndex: Type.Integer({ minimum: 0 }),
      shardIndex: Type.Integer({ minimum: 0, maximum: 31 }),
      damage: ShardDamage,
    }),
    { minItems: 1, maxItems: 4096 },
  ),
  replyTo: ReplyTo,
});
export type RecordDamagedShards = Static<typeof RecordDamagedShards>;

export const RecordDamagedShardsReply = Type.Object({ kind: Type.Literal("RecordDamagedShardsReply"), recorded: Type.Integer() });
export type RecordDamagedShardsReply = Static<typeof RecordDamagedShardsReply>;

/** A shard to rebuild, with what the PG's index knows of its data. */
export const DamagedShardEntry = Type.Object({
  dataId: DataId,
  stripeIndex: Type.Integer({ minimum: 0 }),
  shardIndex: Type.Integer({ minimum: 0 }),
  damage: ShardDamage,
  /** False: the data is no longer in the index (freed), so the entry is moot. */
  indexed: Type.Boolean(),
  layout: Type.Optional(RepairLayout),
});
export type DamagedShardEntry = Static<typeof DamagedShardEntry>;

/**
 * Up to `limit` shards to heal, in (dataId, stripe, shard) order after
 * `after` (a Healer pages through the list with it). Read-only.
 */
export const ListDamagedShards = Type.Object({
  kind: Type.Literal("ListDamagedShards"),
  epoch: Epoch,
  after: Type.Optional(Type.Object({ dataId: DataId, stripeIndex: Type.Integer({ minimum: 0 }), shardIndex: Type.Integer({ minimum: 0 }) })),
  limit: Type.Integer({ minimum: 1, maximum: 1000 }),
  replyTo: ReplyTo,
});
export type ListDamagedShards = Static<typeof ListDamagedShards>;

export const ListDamagedShardsReply = Type.Object({
  kind: Type.Literal("ListDamagedShardsReply"),
  entries: Type.Array(DamagedShardEntry),
  /** True when the list holds nothing after the last entry. */
  done: Type.Boolean(),
});
export type ListDamagedShardsReply = Static<typeof ListDamagedShardsReply>;

/** Shards rebuilt (or moot): their heal entries are removed. Grouped and fenced like every index write. */
export const ResolveDamagedShards = Type.Object({
  kind: Type.Literal("ResolveDamagedShards"),
  epoch: Epoch,
  dataId: DataId,
  shards: Type.Array(Type.Object({ stripeIndex: Type.Integer({ minimum: 0 }), shardIndex: Type.Integer({ minimum: 0, maximum: 31 }) }), {
    minItems: 1,
    maxItems: 4096,
  }),
  replyTo: ReplyTo,
});
export type ResolveDamagedShards = Static<typeof ResolveDamagedShards>;

export const ResolveDamagedShardsReply = Type.Object({ kind: Type.Literal("ResolveDamagedShardsReply"), resolved: Type.Integer() });
export type ResolveDamagedShardsReply = Static<typeof ResolveDamagedShardsReply>;

/**
 * The acting set the PG last had every shard on (recorded by the Healer once
 * a changed acting set is filled and the former members' shards retired):
 * after the next change it names where backfill copies from. Null before the
 * first record.
 */
export const GetCompleteActingSet = Type.Object({
  kind: Type.Literal("GetCompleteActingSet"),
  epoch: Epoch,
  replyTo: ReplyTo,
});
export type GetCompleteActingSet = Static<typeof GetCompleteActingSet>;

export const GetCompleteActingSetReply = Type.Object({
  kind: Type.Literal("GetCompleteActingSetReply"),
  diskIds: Type.Union([Type.Array(Type.String()), Type.Null()]),
});
export type GetCompleteActingSetReply = Static<typeof GetCompleteActingSetReply>;

/** Records `diskIds` as the PG's complete acting set. Grouped and fenced like every index write. */
export const RecordCompleteActingSet = Type.Object({
  kind: Type.Literal("RecordCompleteActingSet"),
  epoch: Epoch,
  diskIds: Type.Array(Type.String(), { minItems: 1, maxItems: 32 }),
  replyTo: ReplyTo,
});
export type RecordCompleteActingSet = Static<typeof RecordCompleteActingSet>;

export const RecordCompleteActingSetReply = Type.Object({ kind: Type.Literal("RecordCompleteActingSetReply") });
export type RecordCompleteActingSetReply = Static<typeof RecordCompleteActingSetReply>;

/** Counts of what the PG stores and what it must heal (bounded scans). */
export const StatPlacementGroup = Type.Object({
  kind: Type.Literal("StatPlacementGroup"),
  epoch: Epoch,
  replyTo: ReplyTo,
});
export type StatPlacementGroup = Static<typeof StatPlacementGroup>;

export const StatPlacementGroupReply = Type.Object({
  kind: Type.Literal("StatPlacementGroupReply"),
  placementGroupId: Type.Integer({ minimum: 0 }),
  epoch: Epoch,
  diskIds: Type.Array(Type.String()),
  dataCount: Type.Integer({ minimum: 0 }),
  damagedShardCount: Type.Integer({ minimum: 0 }),
  /** True when a count reached the scan bound and is a lower bound. */
  countsTruncated: Type.Boolean(),
  /**
   * The acting set the PG last had every shard on (null before the first
   * record). While it differs from `diskIds` the PG is backfilling: shards
   * of the changed positions are still being copied, and the former disks
   * still hold theirs. Absent from replies of older nodes.
   */
  completeDiskIds: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
});
export type StatPlacementGroupReply = Static<typeof StatPlacementGroupReply>;

/** A new cluster map epoch gave the PG a new acting set. */
export const UpdateActingSet = Type.Object({
  kind: Type.Literal("UpdateActingSet"),
  epoch: Epoch,
  diskIds: Type.Array(Type.String(), { minItems: 1, maxItems: 32 }),
  replyTo: ReplyTo,
});
export type UpdateActingSet = Static<typeof UpdateActingSet>;

export const UpdateActingSetReply = Type.Object({ kind: Type.Literal("UpdateActingSetReply"), epoch: Epoch });
export type UpdateActingSetReply = Static<typeof UpdateActingSetReply>;

export const PlacementGroupMessage = Type.Union([
  GetActingSet,
  IndexData,
  ForgetData,
  RecordDamagedShards,
  StatPlacementGroup,
  UpdateActingSet,
  ListDamagedShards,
  ResolveDamagedShards,
  GetCompleteActingSet,
  RecordCompleteActingSet,
]);
export type PlacementGroupMessage = Static<typeof PlacementGroupMessage>;
