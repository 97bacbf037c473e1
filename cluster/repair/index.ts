/** The public surface of cluster/repair/: the Healer, the Scrubber and the schedule that runs them on a node. */
export { Healer, HealFault } from "./healer.ts";
export type { HealerOptions, HealProgress, HealReport } from "./healer.ts";
export { parseShardKey, Scrubber } from "./scrubber.ts";
export type { ScrubberOptions, ScrubProgress, ScrubReport } from "./scrubber.ts";
export { OrphanSweeper } from "./orphan-sweeper.ts";
export type { OrphanSweeperOptions, OrphanSweepReport } from "./orphan-sweeper.ts";
export { compactIntervalMsDefault, healIntervalMsDefault, orphanSweepIntervalMsDefault, RepairSchedule, scrubIntervalMsDefault } from "./repair-schedule.ts";
export type { RepairRunReport, RepairScheduleOptions } from "./repair-schedule.ts";
export { Compactor } from "./compactor.ts";
export type { CompactionTotals, CompactorOptions } from "./compactor.ts";
