/**
 * The NodeAgent's interface: the messages it accepts and the replies it
 * sends. Other folders import this file, never the behaviour.
 *
 * Kinds are wire ids: add new ones, never reuse or rename.
 */
import { Type, type Static } from "@sinclair/typebox";

const ReplyTo = Type.Object({ nodeId: Type.String(), incarnation: Type.Integer({ minimum: 1 }), path: Type.String() });
const Epoch = Type.Integer({ minimum: 0 });
const Term = Type.Integer({ minimum: 1 });

/** What the ClusterManager assigns to nodes (the same shape as membership's `Unit`). */
export const UnitSchema = Type.Union([
  Type.Object({ kind: Type.Literal("placementGroup"), placementGroupId: Type.Integer({ minimum: 0 }) }),
  Type.Object({ kind: Type.Literal("bucketPartition"), bucket: Type.String({ minLength: 1, maxLength: 255 }), partition: Type.Integer({ minimum: 0 }) }),
]);

/**
 * The manager stored the map of `epoch`. Only the epoch travels: the map
 * can be large, and the agent reads it from the metadata store, where it is
 * also found by polling when this notification is lost.
 */
export const ClusterMapChanged = Type.Object({ kind: Type.Literal("ClusterMapChanged"), epoch: Epoch, term: Term });
export type ClusterMapChanged = Static<typeof ClusterMapChanged>;

/** The manager's liveness probe. A missed heartbeat is suspicion only; the verdict is the lease. */
export const Heartbeat = Type.Object({ kind: Type.Literal("Heartbeat"), term: Term, epoch: Epoch, replyTo: ReplyTo });
export type Heartbeat = Static<typeof Heartbeat>;

export const HeartbeatReply = Type.Object({
  kind: Type.Literal("HeartbeatReply"),
  nodeId: Type.String(),
  incarnation: Type.Integer({ minimum: 1 }),
  /** The newest map epoch the agent has applied. */
  epoch: Epoch,
});
export type HeartbeatReply = Static<typeof HeartbeatReply>;

/**
 * A unit the agent started at `epoch` was refused with `Fenced` (a newer
 * owner claimed it): the agent stops it and forgets it.
 */
export const ReportFenced = Type.Object({ kind: Type.Literal("ReportFenced"), unit: UnitSchema, epoch: Epoch });
export type ReportFenced = Static<typeof ReportFenced>;

/** What the agent runs and how it stands with its lease (tests, operators). */
export const StatNodeAgent = Type.Object({ kind: Type.Literal("StatNodeAgent"), replyTo: ReplyTo });
export type StatNodeAgent = Static<typeof StatNodeAgent>;

export const StatNodeAgentReply = Type.Object({
  kind: Type.Literal("StatNodeAgentReply"),
  nodeId: Type.String(),
  incarnation: Type.Integer({ minimum: 1 }),
  epoch: Epoch,
  /** Its lease renewal failed past expiry: it runs nothing until a renewal succeeds. */
  selfFenced: Type.Boolean(),
  /** A newer run of this node registered: this run renews nothing and runs nothing, for good. */
  replaced: Type.Boolean(),
  units: Type.Array(Type.Object({ unit: UnitSchema, epoch: Epoch })),
});
export type StatNodeAgentReply = Static<typeof StatNodeAgentReply>;

/** The agent's own timer: renew the lease and poll the map. Sent only by the agent to itself. */
export const NodeAgentTick = Type.Object({ kind: Type.Literal("NodeAgentTick") });
export type NodeAgentTick = Static<typeof NodeAgentTick>;

export const NodeAgentMessage = Type.Union([ClusterMapChanged, Heartbeat, ReportFenced, StatNodeAgent, NodeAgentTick]);
export type NodeAgentMessage = Static<typeof NodeAgentMessage>;

/** The path of the node agent on every node. */
export const nodeAgentActorPath = "cluster/node-agent";
