/** The public surface of `cluster/status/`: what a node wires into `withAdminRoutes({ status })`. */
export { createStatusSource, gatherStatus, statusMapOfFleet, type StatusMap, type StatusSourceOptions } from "./status-source.ts";
