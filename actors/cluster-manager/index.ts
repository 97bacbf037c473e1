/**
 * The ClusterManager's public surface. Other folders talk to it through the
 * messages in `protocol.ts`; the node wiring spawns it on every node with
 * `clusterManagerBehavior` at `clusterManagerActorPath`.
 */
export { clusterManagerBehavior } from "./behavior.ts";
export type { ClusterManagerBehaviorOptions, ClusterManagerState } from "./behavior.ts";
export {
  ClusterManagerMessage,
  ClusterManagerTick,
  clusterManagerActorPath,
  HeartbeatsSettled,
  RegisterPartitions,
  RegisterPartitionsReply,
  registerPartitionsBatchMax,
  StatClusterManager,
  StatClusterManagerReply,
} from "./protocol.ts";
