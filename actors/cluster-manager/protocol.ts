/**
 * The ClusterManager's interface: the messages it accepts and the replies it
 * sends. Other folders import this file, never the behaviour.
 *
 * Kinds are wire ids: add new ones, never reuse or rename.
 */
import { Type, type Static } from "@sinclair/typebox";

const ReplyTo = Type.Object({ nodeId: Type.String(), incarnation: Type.Integer({ minimum: 1 }), path: Type.String() });

/** Most bucket partitions one `RegisterPartitions` may carry. */
export const registerPartitionsBatchMax = 256;

/**
 * Adds bucket partitions to the units the manager assigns (idempotent). Any
 * node's manager accepts it: registration goes to the metadata store, and
 * the lease holder assigns what is registered at its next tick. Replied
 * once durable, or with `Overloaded` past the fleet's partition bound.
 */
export const RegisterPartitions = Type.Object({
  kind: Type.Literal("RegisterPartitions"),
  partitions: Type.Array(Type.Object({ bucket: Type.String({ minLength: 1, maxLength: 255 }), partition: Type.Integer({ minimum: 0 }) }), {
    minItems: 1,
    maxItems: registerPartitionsBatchMax,
  }),
  replyTo: ReplyTo,
});
export type RegisterPartitions = Static<typeof RegisterPartitions>;

export const RegisterPartitionsReply = Type.Object({ kind: Type.Literal("RegisterPartitionsReply"), count: Type.Integer({ minimum: 0 }) });
export type RegisterPartitionsReply = Static<typeof RegisterPartitionsReply>;

/** Whether this node's manager holds the lease, with which term, and what it suspects. */
export const StatClusterManager = Type.Object({ kind: Type.Literal("StatClusterManager"), replyTo: ReplyTo });
export type StatClusterManager = Static<typeof StatClusterManager>;

export const StatClusterManagerReply = Type.Object({
  kind: Type.Literal("StatClusterManagerReply"),
  leader: Type.Boolean(),
  /** The term this node holds, or 0 when it is not the holder. */
  term: Type.Integer({ minimum: 0 }),
  /** Epoch of the newest map this manager wrote or read. */
  epoch: Type.Integer({ minimum: 0 }),
  /** Nodes whose last heartbeat went unanswered, with the count of consecutive misses. */
  suspects: Type.Array(Type.Object({ nodeId: Type.String(), missed: Type.Integer({ minimum: 1 }) })),
});
export type StatClusterManagerReply = Static<typeof StatClusterManagerReply>;

/** The manager's own timer. Sent only by the manager to itself. */
export const ClusterManagerTick = Type.Object({ kind: Type.Literal("ClusterManagerTick") });
export type ClusterManagerTick = Static<typeof ClusterManagerTick>;

/** The outcome of one round of heartbeats. Sent only by the manager to itself. */
export const HeartbeatsSettled = Type.Object({
  kind: Type.Literal("HeartbeatsSettled"),
  term: Type.Integer({ minimum: 1 }),
  answered: Type.Array(Type.String()),
  missed: Type.Array(Type.Object({ nodeId: Type.String(), fault: Type.String() })),
});
export type HeartbeatsSettled = Static<typeof HeartbeatsSettled>;

export const ClusterManagerMessage = Type.Union([RegisterPartitions, StatClusterManager, ClusterManagerTick, HeartbeatsSettled]);
export type ClusterManagerMessage = Static<typeof ClusterManagerMessage>;

/** The path of the ClusterManager on every node (only the lease holder acts). */
export const clusterManagerActorPath = "cluster/manager";
