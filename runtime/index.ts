/**
 * The public surface of `runtime/`: behaviours and their host, refs, faults,
 * clocks, seeded randomness and assertions. Other folders import from here.
 */
export { AssertionError, assert, assertNever, isAssertionError } from "./assert.ts";
export type { ActorContext, ActorCrash, Behavior, Clock, Host, Random, SpawnOptions, SupervisionPolicy } from "./behavior.ts";
export { manualClock, sleepUnlessAborted, systemClock } from "./clock.ts";
export type { AbortableClock, ManualClock } from "./clock.ts";
export { fault, isFault } from "./fault.ts";
export type { Fault, FaultKind } from "./fault.ts";
export { createNactHost, defaultMailboxMax, defaultSupervisionPolicy } from "./host-nact.ts";
export type { NactHostOptions } from "./host-nact.ts";
export { memoryNudge } from "./memory.ts";
export { Counter, Gauge, Histogram, MetricsRegistry, defaultSeriesMax, expositionContentType, latencyBucketsSeconds } from "./metrics/registry.ts";
export type { HistogramOptions, Labels, MetricOptions } from "./metrics/registry.ts";
export { registerProcessMetrics } from "./metrics/process-metrics.ts";
export type { MemoryNudge } from "./memory.ts";
export { randomSeed, seededRandom } from "./random.ts";
export { actorRef, refText } from "./ref.ts";
export type { ActorRef, NodeId } from "./ref.ts";
export { defaultNetworkOptions, longTailDelay, SimulatedNetwork, uniformDelay } from "./simulation/network.ts";
export type { DelayDistribution, NetworkOptions, NetworkStats } from "./simulation/network.ts";
export type { SimulatedClock } from "./simulation/simulated-clock.ts";
export { SimulatedHost } from "./simulation/simulated-host.ts";
export { createSimulatedWorld, SimulatedWorld, SimulationError } from "./simulation/world.ts";
export type { AddNodeOptions, Delivery, NodeStart, SimulatedWorldOptions } from "./simulation/world.ts";
export { closeCodes, createWebSocketTransport, defaultTransportLimits, WebSocketTransport } from "./transport/transport.ts";
export type {
  LinkEvent,
  LinkState,
  PeerAddress,
  SendOutcome,
  SendRefusal,
  Transport,
  TransportLimits,
  TransportReceiver,
  TransportStats,
  UndeliverableReport,
  WebSocketTransportOptions,
} from "./transport/transport.ts";
export { mapBounded } from "./map-bounded.ts";
export { actorLog, configureLogging, currentRequestId, logEnabled, logLevelDefault, logLevels, parseLogLevel, requestIdCharsMax, runWithRequestId } from "./log.ts";
export type { ActorLogContext, LoggingConfiguration, LogLevel } from "./log.ts";
