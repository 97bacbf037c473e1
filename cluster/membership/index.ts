/**
 * The public surface of `cluster/membership/`: node registration and
 * leases, the manager lease and its term, unit owners and their epochs, and
 * the fleet map with the rule that plans the next one. Other folders import
 * from here.
 */
export {
  assignmentOf,
  emptyFleetMap,
  hostsUnderDirectives,
  partitionUnitsMax,
  planFleetMap,
  readFleetMap,
  readPartitionUnits,
  registerPartitionUnits,
  rendezvous,
  unitsOfNode,
  unregisterPartitionUnits,
  writeFleetMap,
} from "./fleet-map.ts";
export type { FleetPlan, FleetPlanEvent, FleetPlanInput, PartitionUnit, PlacementDirectives } from "./fleet-map.ts";
export { operatorDirectivesMax, readPlacementDirectives, setDiskOut, setNodeDraining } from "./operator-directives.ts";
export type { DirectiveOutcome, DirectiveRequest } from "./operator-directives.ts";
export {
  acquireManagerLease,
  checkManagerTerm,
  fleetNodesMax,
  leaseLapsed,
  readManagerLease,
  readNodeLeases,
  readNodeRecords,
  registerNode,
  releaseManagerLease,
  renewNodeLease,
} from "./leases.ts";
export type { ManagerLeaseTerms, NodeRegistration, NodeRun } from "./leases.ts";
export { decodeFleetMap, decodePlacementMap, encodeFleetMap } from "./records.ts";
export type {
  FleetMap,
  FleetNode,
  ManagerLease,
  NodeDisk,
  NodeLease,
  NodeRecord,
  NodeRole,
  NodeState,
  PartitionAssignment,
  PlacementGroupAssignment,
  UnitOwner,
} from "./records.ts";
export { checkOwner, claimOwner, readOwner, unitText } from "./unit-owner.ts";
export type { Unit } from "./unit-owner.ts";
