import { operatorActorPath, type OperatorMessage } from "../../../actors/operator/index.ts";
import type { SweepPlacementGroupReply } from "../../../actors/operator/protocol.ts";
import { ReplError } from "../session.ts";
import type { ReplCommand } from "../command.ts";
import { parseArguments } from "../command.ts";
import { renderTable } from "../table.ts";

/** A sweep answers when done (CheckShards for every datum of the PG): a bound far above the REPL's usual one. */
const sweepAskTimeoutMs = 120_000;

interface SweptRow {
  readonly placementGroupId: number;
  readonly nodeId: string | null;
  readonly outcome: "swept" | "not-here" | "unassigned" | "failed";
  readonly recorded?: number;
  readonly actingSet?: readonly string[];
  readonly detail?: string;
}

export const pgSweep: ReplCommand = {
  name: "pg.sweep",
  summary: "check that every shard of a PG is on its disk; missing ones go to its heal list",
  usage: "pg.sweep [PG ...] --apply",
  help:
    "Asks the node hosting each PG (all PGs when none is named) to sweep it as the Healer does after an acting-set change: " +
    "for every datum the PG indexes (but those being written or freed), CheckShards on each position's disk, no bytes read; " +
    "a missing shard is recorded on the PG's heal list and rebuilt by the next repair run. It answers per PG when its sweep " +
    "is done (a PG whose sweep takes over 2 minutes shows failed; the sweep still finishes on its node). " +
    "RECORDED 0 everywhere means every shard of every indexed datum is where the acting set says.",
  mutates: true,
  complete(map) {
    return Array.from({ length: map.placement.placementGroupCount }, (_, id) => String(id));
  },
  async run(session, args) {
    const { positional } = parseArguments(this, args);
    const map = await session.map();
    const count = map.placement.placementGroupCount;
    const ids =
      positional.length === 0
        ? Array.from({ length: count }, (_, id) => id)
        : positional.map((text) => {
            const id = Number(text);
            if (!Number.isInteger(id) || id < 0 || id >= count) throw new ReplError(`pg.sweep: no PG ${text} (the fleet has PGs 0 to ${count - 1})`);
            return id;
          });
    const rows: SweptRow[] = [];
    for (const placementGroupId of ids) {
      const nodeId = map.placementGroups.find((entry) => entry.placementGroupId === placementGroupId)?.nodeId ?? null;
      if (nodeId === null) {
        rows.push({ placementGroupId, nodeId, outcome: "unassigned" });
        continue;
      }
      try {
        const reply = await session.ask<OperatorMessage, SweepPlacementGroupReply>(
          session.refOn(map, nodeId, operatorActorPath),
          (replyTo) => ({ kind: "SweepPlacementGroup", placementGroupId, replyTo }),
          `pg.sweep ${placementGroupId} on ${nodeId}`,
          sweepAskTimeoutMs,
        );
        rows.push(reply.outcome === "swept" ? { placementGroupId, nodeId, outcome: "swept", recorded: reply.recorded, actingSet: reply.actingSet } : { placementGroupId, nodeId, outcome: "not-here" });
      } catch (error) {
        if (!(error instanceof ReplError)) throw error;
        rows.push({ placementGroupId, nodeId, outcome: "failed", detail: error.message });
      }
    }
    const recorded = rows.reduce((sum, row) => sum + (row.recorded ?? 0), 0);
    const swept = rows.filter((row) => row.outcome === "swept").length;
    const table = renderTable(
      ["PG", "NODE", "OUTCOME", "RECORDED", "ACTING SET"],
      rows.map((row) => [row.placementGroupId, row.nodeId ?? "-", row.detail === undefined ? row.outcome : `${row.outcome}: ${row.detail}`, row.recorded ?? "-", row.actingSet?.join(",") ?? "-"]),
    );
    return {
      text: `${table}\n${swept} of ${rows.length} PGs swept, ${recorded} missing shards recorded for healing`,
      json: { swept, placementGroups: rows.length, recorded, rows },
    };
  },
};
