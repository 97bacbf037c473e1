import { diskActorPath, type DiskMessage, type StatDiskReply } from "../../../actors/disk/index.ts";
import { isFault } from "../../../runtime/index.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { operatorViews, placementGroupViews } from "../fleet-view.ts";
import { sessionRate } from "../rate.ts";
import { formatBytes, formatDuration, progressBar, renderTable } from "../table.ts";

export const healStatus: ReplCommand = {
  name: "heal.status",
  summary: "shards waiting to be rebuilt, per PG, with a progress bar and ETA; scrubs started by operators",
  usage: "heal.status",
  help:
    "Asks every PG actor for StatPlacementGroup (damagedShardCount: shards on its heal list) and every node's operator " +
    "endpoint for its Healer's totals since the node started (shards healed, bytes written, deferred) and its pace. " +
    "The bar is healed / (healed + still to heal). The ETA needs a rate, measured over this session's calls of the last " +
    "15 s: run it under `watch heal.status` to see one. Scrubs started with scrub.start are listed with their " +
    "counts, updated page by page; a running pass gets a bar (records checked of the disk's shard count, from StatDisk) and " +
    "an ETA at the pace it has kept since it started.",
  mutates: false,
  async run(session, args) {
    expectPositionals(this, parseArguments(this, args).positional, 0, 0);
    const map = await session.map();
    const [pgs, nodes] = await Promise.all([placementGroupViews(session, map), operatorViews(session, map)]);
    const remaining = pgs.reduce((sum, view) => sum + (view.stat?.damagedShardCount ?? 0), 0);
    let healed = 0;
    let bytesWritten = 0;
    let deferred = 0;
    let paceBytesPerSecond = 0;
    for (const { view } of nodes) {
      if (isFault(view)) continue;
      healed += view.heal.healed;
      bytesWritten += view.heal.bytesWritten;
      deferred += view.heal.deferred;
      paceBytesPerSecond += view.heal.bytesPerSecondMax;
    }
    const ratePerSecond = sessionRate(session, this.name, healed, "up");
    const etaMs = remaining === 0 ? 0 : ratePerSecond === undefined ? undefined : (remaining / ratePerSecond) * 1000;
    const waiting = pgs.filter((view) => (view.stat?.damagedShardCount ?? 0) > 0 || view.state === "unresponsive" || view.state === "degraded");
    const lines = [
      `heal ${progressBar(healed, healed + remaining)}  ${remaining} to heal, ${healed} healed (${formatBytes(bytesWritten)}), ${deferred} deferred`,
      `rate ${ratePerSecond === undefined ? "unknown" : `${ratePerSecond.toFixed(1)} shards/s`}, ETA ${formatDuration(etaMs)}, pace limit ${formatBytes(paceBytesPerSecond)}/s over the fleet`,
    ];
    if (waiting.length > 0) {
      lines.push(
        renderTable(
          ["PG", "STATE", "NODE", "TO HEAL"],
          waiting.map((view) => [view.placementGroupId, view.state, view.nodeId ?? "-", view.stat === undefined ? "-" : String(view.stat.damagedShardCount)]),
        ),
      );
    }
    const scrubs = nodes.flatMap(({ nodeId, view }) => (isFault(view) ? [] : view.scrubs.map((scrub) => ({ nodeId, nodeNowMs: view.nowMs, ...scrub }))));
    // A running pass gets a bar: records checked of the disk's shard count, ETA at its pace since it started.
    const running = scrubs.filter((scrub) => scrub.state === "running");
    const totals = await Promise.all(
      running.map(async (scrub) => {
        const reply = await session.tryAsk<DiskMessage, StatDiskReply>(session.refOn(map, scrub.nodeId, diskActorPath(scrub.diskId)), (replyTo) => ({ kind: "StatDisk", replyTo }));
        return isFault(reply) ? undefined : reply.shardCount;
      }),
    );
    running.forEach((scrub, index) => {
      const total = Math.max(totals[index] ?? 0, scrub.checked);
      const elapsedMs = scrub.nodeNowMs - scrub.startedMs;
      const etaMs = scrub.checked > 0 && elapsedMs > 0 ? ((total - scrub.checked) * elapsedMs) / scrub.checked : undefined;
      lines.push(`scrub ${scrub.diskId} ${progressBar(scrub.checked, total)}  ${scrub.checked} of ${totals[index] === undefined ? "?" : total} shards, ETA ${formatDuration(etaMs)}`);
    });
    if (scrubs.length > 0) {
      lines.push(
        renderTable(
          ["SCRUB DISK", "NODE", "STATE", "CHECKED", "BYTES", "CORRUPT"],
          scrubs.map((scrub) => [scrub.diskId, scrub.nodeId, scrub.state, scrub.checked, formatBytes(scrub.bytesChecked), scrub.corrupt]),
        ),
      );
    }
    const unreachable = nodes.filter(({ view }) => isFault(view)).map(({ nodeId }) => nodeId);
    if (unreachable.length > 0) lines.push(`not counted (no answer): ${unreachable.join(", ")}`);
    return {
      text: lines.join("\n"),
      json: {
        remaining,
        healed,
        bytesWritten,
        deferred,
        ratePerSecond: ratePerSecond ?? null,
        etaMs: etaMs ?? null,
        placementGroups: waiting.map((view) => ({ placementGroupId: view.placementGroupId, state: view.state, damagedShardCount: view.stat?.damagedShardCount ?? null })),
        scrubs,
        unreachable,
      },
    };
  },
};
