/**
 * The OperatorActor's interface: what `cairn repl` asks a fleet node. One
 * operator runs on every fleet node at `operatorActorPath`; it answers from
 * the node's own state and the metadata store, and performs the few
 * mutations an operator may apply (stop or restart a local unit actor, start
 * a scrub of a local disk, add or remove a user).
 *
 * Reads that other actors already answer (StatDisk, StatPlacementGroup,
 * StatClusterManager, StatNodeAgent) are asked of those actors directly; this
 * protocol holds only what no other actor knows.
 *
 * Kinds are wire ids: add new ones, never reuse or rename.
 */
import { Type, type Static } from "@sinclair/typebox";

const ReplyTo = Type.Object({ nodeId: Type.String(), incarnation: Type.Integer({ minimum: 1 }), path: Type.String() });
const ActorPath = Type.String({ minLength: 1, maxLength: 1024 });
const UserName = Type.String({ minLength: 1, maxLength: 64 });

/** The fleet map as the node's store holds it now. */
export const GetFleetMap = Type.Object({ kind: Type.Literal("GetFleetMap"), replyTo: ReplyTo });
export type GetFleetMap = Static<typeof GetFleetMap>;

/**
 * `map` is membership's `FleetMap` (cluster/membership/records.ts defines
 * and checks it where it is read from the store); replies are not checked
 * on the wire, so it travels as an opaque value.
 */
export const GetFleetMapReply = Type.Object({ kind: Type.Literal("GetFleetMapReply"), map: Type.Unknown() });
export type GetFleetMapReply = Static<typeof GetFleetMapReply>;

/** What runs on the node: its actors, heal totals and scrubs started by operators. */
export const StatOperatorNode = Type.Object({ kind: Type.Literal("StatOperatorNode"), replyTo: ReplyTo });
export type StatOperatorNode = Static<typeof StatOperatorNode>;

export const LocalActorKind = Type.Union([Type.Literal("disk"), Type.Literal("placementGroup"), Type.Literal("bucketPartition")]);
export type LocalActorKind = Static<typeof LocalActorKind>;

export const ScrubJob = Type.Object({
  diskId: Type.String(),
  state: Type.Union([Type.Literal("running"), Type.Literal("done"), Type.Literal("failed")]),
  startedMs: Type.Number(),
  finishedMs: Type.Optional(Type.Number()),
  checked: Type.Integer({ minimum: 0 }),
  bytesChecked: Type.Integer({ minimum: 0 }),
  corrupt: Type.Integer({ minimum: 0 }),
  detail: Type.Optional(Type.String()),
});
export type ScrubJob = Static<typeof ScrubJob>;

export const StatOperatorNodeReply = Type.Object({
  kind: Type.Literal("StatOperatorNodeReply"),
  nodeId: Type.String(),
  incarnation: Type.Integer({ minimum: 1 }),
  actors: Type.Array(Type.Object({ path: ActorPath, kind: LocalActorKind, epoch: Type.Optional(Type.Integer({ minimum: 0 })) })),
  /** The Healer's totals since the node started, and its pace. */
  heal: Type.Object({
    healed: Type.Integer({ minimum: 0 }),
    bytesWritten: Type.Integer({ minimum: 0 }),
    deferred: Type.Integer({ minimum: 0 }),
    bytesPerSecondMax: Type.Number(),
  }),
  /** Unit actors found gone and restarted by the node's keeper, since the node started. */
  unitRestarts: Type.Integer({ minimum: 0 }),
  scrubs: Type.Array(ScrubJob),
  /** Wall clock of the node when it answered, for rates and ages. */
  nowMs: Type.Number(),
});
export type StatOperatorNodeReply = Static<typeof StatOperatorNodeReply>;

/**
 * Stops a placement-group or bucket-partition actor of this node, as a crash
 * would (a drill). The node's keeper finds it gone and starts it again at
 * the epoch it was assigned. Disk actors are refused: nothing restarts them.
 */
export const StopActor = Type.Object({ kind: Type.Literal("StopActor"), path: ActorPath, replyTo: ReplyTo });
export type StopActor = Static<typeof StopActor>;

export const StopActorReply = Type.Object({
  kind: Type.Literal("StopActorReply"),
  path: ActorPath,
  outcome: Type.Union([Type.Literal("stopped"), Type.Literal("not-here"), Type.Literal("refused")]),
  detail: Type.String(),
});
export type StopActorReply = Static<typeof StopActorReply>;

/** Stops and starts again a placement-group or bucket-partition actor of this node, at its assigned epoch. */
export const RestartActor = Type.Object({ kind: Type.Literal("RestartActor"), path: ActorPath, replyTo: ReplyTo });
export type RestartActor = Static<typeof RestartActor>;

export const RestartActorReply = Type.Object({
  kind: Type.Literal("RestartActorReply"),
  path: ActorPath,
  outcome: Type.Union([Type.Literal("restarted"), Type.Literal("not-here"), Type.Literal("refused")]),
  detail: Type.String(),
});
export type RestartActorReply = Static<typeof RestartActorReply>;

/** Starts a scrub pass of a local disk now (answered at once; progress in `StatOperatorNodeReply.scrubs`). */
export const StartScrub = Type.Object({ kind: Type.Literal("StartScrub"), diskId: Type.String({ minLength: 1, maxLength: 256 }), replyTo: ReplyTo });
export type StartScrub = Static<typeof StartScrub>;

export const StartScrubReply = Type.Object({
  kind: Type.Literal("StartScrubReply"),
  diskId: Type.String(),
  outcome: Type.Union([Type.Literal("started"), Type.Literal("running"), Type.Literal("not-here")]),
});
export type StartScrubReply = Static<typeof StartScrubReply>;

/** The buckets in the store. */
export const ListBuckets = Type.Object({ kind: Type.Literal("ListBuckets"), replyTo: ReplyTo });
export type ListBuckets = Static<typeof ListBuckets>;

export const ListBucketsReply = Type.Object({
  kind: Type.Literal("ListBucketsReply"),
  buckets: Type.Array(
    Type.Object({
      name: Type.String(),
      createdMs: Type.Number(),
      partitionCount: Type.Integer({ minimum: 1 }),
      versioning: Type.String(),
      owner: Type.Optional(Type.String()),
    }),
  ),
});
export type ListBucketsReply = Static<typeof ListBucketsReply>;

/** The users in the store (never their secrets). */
export const ListUsers = Type.Object({ kind: Type.Literal("ListUsers"), replyTo: ReplyTo });
export type ListUsers = Static<typeof ListUsers>;

export const ListUsersReply = Type.Object({
  kind: Type.Literal("ListUsersReply"),
  users: Type.Array(Type.Object({ name: Type.String(), role: Type.String(), accessKeyId: Type.String(), createdMs: Type.Number() })),
});
export type ListUsersReply = Static<typeof ListUsersReply>;

/**
 * Adds a user. The reply carries its secret once. Links are plain `ws://`
 * (runtime/transport/README.md, TLS not done): on an untrusted network the
 * secret must not be made this way.
 */
export const AddUser = Type.Object({
  kind: Type.Literal("AddUser"),
  name: UserName,
  role: Type.Union([Type.Literal("admin"), Type.Literal("user")]),
  replyTo: ReplyTo,
});
export type AddUser = Static<typeof AddUser>;

export const AddUserReply = Type.Object({
  kind: Type.Literal("AddUserReply"),
  name: Type.String(),
  outcome: Type.Union([Type.Literal("added"), Type.Literal("name-taken"), Type.Literal("too-many"), Type.Literal("invalid-name")]),
  detail: Type.String(),
  accessKeyId: Type.Optional(Type.String()),
  secretAccessKey: Type.Optional(Type.String()),
});
export type AddUserReply = Static<typeof AddUserReply>;

export const RemoveUser = Type.Object({ kind: Type.Literal("RemoveUser"), name: UserName, replyTo: ReplyTo });
export type RemoveUser = Static<typeof RemoveUser>;

export const RemoveUserReply = Type.Object({
  kind: Type.Literal("RemoveUserReply"),
  name: Type.String(),
  outcome: Type.Union([Type.Literal("removed"), Type.Literal("not-found")]),
});
export type RemoveUserReply = Static<typeof RemoveUserReply>;

/**
 * An operator's placement directive: a disk out or in again (`disk.out`,
 * `disk.in`), a node drained or its drain cancelled (`node.drain`). Any
 * node's endpoint writes it to the metadata store; the ClusterManager's next
 * map follows it (cluster/membership/operator-directives.ts).
 */
export const SetPlacementDirective = Type.Object({
  kind: Type.Literal("SetPlacementDirective"),
  target: Type.Union([Type.Literal("disk"), Type.Literal("node")]),
  id: Type.String({ minLength: 1, maxLength: 256 }),
  /** Disk: out; node: draining. False undoes it. */
  active: Type.Boolean(),
  replyTo: ReplyTo,
});
export type SetPlacementDirective = Static<typeof SetPlacementDirective>;

export const SetPlacementDirectiveReply = Type.Object({
  kind: Type.Literal("SetPlacementDirectiveReply"),
  outcome: Type.Union([Type.Literal("applied"), Type.Literal("unchanged"), Type.Literal("refused"), Type.Literal("unknown")]),
  detail: Type.String(),
  /** When applied: PGs with a position on an affected disk now; they backfill once the next map is out. */
  placementGroups: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }))),
});
export type SetPlacementDirectiveReply = Static<typeof SetPlacementDirectiveReply>;

/**
 * Checks that every shard of every datum a PG indexes is on its disk
 * (`CheckShards`, no bytes read) and records the missing ones on the PG's
 * heal list, as the Healer's sweep after an acting-set change does. Asked of
 * the node that hosts the PG; answered when the sweep is done.
 */
export const SweepPlacementGroup = Type.Object({
  kind: Type.Literal("SweepPlacementGroup"),
  placementGroupId: Type.Integer({ minimum: 0 }),
  replyTo: ReplyTo,
});
export type SweepPlacementGroup = Static<typeof SweepPlacementGroup>;

export const SweepPlacementGroupReply = Type.Union([
  Type.Object({ kind: Type.Literal("SweepPlacementGroupReply"), placementGroupId: Type.Integer({ minimum: 0 }), outcome: Type.Literal("not-here") }),
  Type.Object({
    kind: Type.Literal("SweepPlacementGroupReply"),
    placementGroupId: Type.Integer({ minimum: 0 }),
    outcome: Type.Literal("swept"),
    /** The acting set swept. */
    actingSet: Type.Array(Type.String()),
    /** Shards found missing and recorded on the heal list. */
    recorded: Type.Integer({ minimum: 0 }),
  }),
]);
export type SweepPlacementGroupReply = Static<typeof SweepPlacementGroupReply>;

/**
 * Where a `bucket.stats` count resumes: a section of the bucket's records
 * and the first key to read there (cluster/repl/bucket-stats-scan.ts). The
 * REPL hands back what the previous reply gave, unchanged.
 */
export const BucketStatsCursor = Type.Object({
  section: Type.Union([Type.Literal("objects"), Type.Literal("versions"), Type.Literal("uploads")]),
  /** A stored key: at most FoundationDB's 10 KB, plus room for its tuple prefix. */
  fromKey: Type.Uint8Array({ minByteLength: 1, maxByteLength: 12_000 }),
});
export type BucketStatsCursor = Static<typeof BucketStatsCursor>;

/**
 * Counts one page of a bucket's records (one bounded read-only transaction);
 * the REPL asks again with the reply's cursor until there is none, and sums.
 */
export const BucketStats = Type.Object({
  kind: Type.Literal("BucketStats"),
  bucket: Type.String({ minLength: 1, maxLength: 255 }),
  /** Absent for the first page. */
  cursor: Type.Optional(BucketStatsCursor),
  replyTo: ReplyTo,
});
export type BucketStats = Static<typeof BucketStats>;

const Count = Type.Integer({ minimum: 0 });

/** One page's counts; summed over the pages they are the bucket's. */
export const BucketStatsCounts = Type.Object({
  /** Current versions (what ListObjects shows) and their bytes. */
  objects: Count,
  objectBytes: Count,
  /** Versions with data, current or not, and their bytes. */
  versions: Count,
  versionBytes: Count,
  deleteMarkers: Count,
  /** Incomplete multipart uploads, their parts and the parts' bytes. */
  uploads: Count,
  uploadParts: Count,
  uploadPartBytes: Count,
});
export type BucketStatsCounts = Static<typeof BucketStatsCounts>;

export const BucketStatsReply = Type.Union([
  Type.Object({ kind: Type.Literal("BucketStatsReply"), bucket: Type.String(), outcome: Type.Literal("no-such-bucket") }),
  Type.Object({
    kind: Type.Literal("BucketStatsReply"),
    bucket: Type.String(),
    outcome: Type.Literal("counted"),
    versioning: Type.String(),
    partitionCount: Type.Integer({ minimum: 1 }),
    counts: BucketStatsCounts,
    /** Records this page read. */
    records: Count,
    /** A rough share of the whole count done after this page, 0 to 1 (for a progress bar). */
    progress: Type.Number({ minimum: 0, maximum: 1 }),
    /** Where the next page starts; absent once the bucket is counted. */
    cursor: Type.Optional(BucketStatsCursor),
  }),
]);
export type BucketStatsReply = Static<typeof BucketStatsReply>;

export const OperatorMessage = Type.Union([
  GetFleetMap,
  StatOperatorNode,
  StopActor,
  RestartActor,
  StartScrub,
  ListBuckets,
  ListUsers,
  AddUser,
  RemoveUser,
  SetPlacementDirective,
  BucketStats,
  SweepPlacementGroup,
]);
export type OperatorMessage = Static<typeof OperatorMessage>;

/** The path of the operator endpoint on every fleet node. */
export const operatorActorPath = "cluster/operator";
