/**
 * The OperatorActor's public surface. `cairn repl` talks to it through the
 * messages in `protocol.ts`; the node wiring spawns it with
 * `operatorBehavior` at `operatorActorPath`.
 */
export { operatorBehavior } from "./behavior.ts";
export type { OperatorBehaviorOptions, OperatorState } from "./behavior.ts";
export { OperatorMessage, operatorActorPath } from "./protocol.ts";
