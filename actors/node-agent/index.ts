/**
 * The NodeAgent's public surface. Other folders talk to an agent through the
 * messages in `protocol.ts`; the node wiring spawns it with
 * `nodeAgentBehavior` at `nodeAgentActorPath`.
 */
export { nodeAgentBehavior } from "./behavior.ts";
export type { NodeAgentBehaviorOptions, NodeAgentState } from "./behavior.ts";
export {
  ClusterMapChanged,
  Heartbeat,
  HeartbeatReply,
  NodeAgentMessage,
  NodeAgentTick,
  nodeAgentActorPath,
  ReportFenced,
  StatNodeAgent,
  StatNodeAgentReply,
  UnitSchema,
} from "./protocol.ts";
