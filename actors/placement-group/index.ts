/**
 * The PlacementGroupActor's public surface. Other folders talk to a PG through
 * the messages in `protocol.ts`; hosts spawn it with `placementGroupBehavior`
 * at `placementGroupActorPath`.
 */
export { placementGroupActorPath, placementGroupBehavior } from "./behavior.ts";
export type { PlacementGroupBehaviorOptions, PlacementGroupState } from "./behavior.ts";
export {
  DamagedShardEntry,
  ForgetData,
  ForgetDataReply,
  GetActingSet,
  GetActingSetReply,
  GetCompleteActingSet,
  GetCompleteActingSetReply,
  IndexData,
  IndexDataReply,
  ListDamagedShards,
  ListDamagedShardsReply,
  PlacementGroupMessage,
  RecordDamagedShards,
  RecordCompleteActingSet,
  RecordCompleteActingSetReply,
  RecordDamagedShardsReply,
  RepairLayout,
  ResolveDamagedShards,
  ResolveDamagedShardsReply,
  ShardDamage,
  StatPlacementGroup,
  StatPlacementGroupReply,
  UpdateActingSet,
  UpdateActingSetReply,
} from "./protocol.ts";
