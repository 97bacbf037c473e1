import { clusterManagerActorPath, type ClusterManagerMessage, type StatClusterManagerReply } from "../../../actors/cluster-manager/protocol.ts";
import { isFault, mapBounded } from "../../../runtime/index.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { asksInFlightMax, placementGroupViews, usableDisks, type PlacementGroupState } from "../fleet-view.ts";
import { renderTable } from "../table.ts";

export const clusterStatus: ReplCommand = {
  name: "cluster.status",
  summary: "the fleet at a glance: map epoch, manager, nodes, disks, PG states, partitions",
  usage: "cluster.status",
  help:
    "Reads the fleet map from the entry node's store, asks every live node's ClusterManager whether it holds the lease " +
    "(StatClusterManager), and asks every PG actor for its StatPlacementGroup to count PGs by state " +
    "(clean, backfilling, healing, degraded, unresponsive, unassigned; see pg.list).",
  mutates: false,
  async run(session, args) {
    expectPositionals(this, parseArguments(this, args).positional, 0, 0);
    const map = await session.map();
    const live = map.nodes.filter((node) => node.state !== "down");
    const managers = await mapBounded(live, asksInFlightMax, async (node) => ({
      nodeId: node.nodeId,
      reply: await session.tryAsk<ClusterManagerMessage, StatClusterManagerReply>(session.refOn(map, node.nodeId, clusterManagerActorPath), (replyTo) => ({
        kind: "StatClusterManager",
        replyTo,
      })),
    }));
    const leader = managers.find((entry) => !isFault(entry.reply) && entry.reply.leader);
    const views = await placementGroupViews(session, map);
    const byState = new Map<PlacementGroupState, number>();
    for (const view of views) byState.set(view.state, (byState.get(view.state) ?? 0) + 1);
    const disks = map.placement.hosts.flatMap((host) => host.disks);
    const usable = usableDisks(map);
    const json = {
      epoch: map.epoch,
      managerTerm: map.managerTerm,
      manager: leader?.nodeId ?? null,
      nodes: { total: map.nodes.length, up: map.nodes.filter((node) => node.state === "up").length, joining: map.nodes.filter((node) => node.state === "joining").length, down: map.nodes.filter((node) => node.state === "down").length },
      disks: { total: disks.length, in: disks.filter((disk) => disk.state === "in").length, usable: usable.size },
      placementGroups: { total: views.length, ...Object.fromEntries(byState) },
      partitions: map.partitions.length,
    };
    const rows: [string, string][] = [
      ["map epoch", String(map.epoch)],
      ["manager", leader === undefined ? `none answering (map written by term ${map.managerTerm})` : `${leader.nodeId} (term ${(leader.reply as StatClusterManagerReply).term})`],
      ["nodes", `${json.nodes.up} up, ${json.nodes.joining} joining, ${json.nodes.down} down (of ${json.nodes.total})`],
      ["disks", `${json.disks.in} in, ${json.disks.usable} usable (of ${json.disks.total})`],
      ["placement groups", [...byState].sort().map(([state, count]) => `${count} ${state}`).join(", ") + ` (of ${views.length})`],
      ["bucket partitions", `${map.partitions.length} assigned`],
    ];
    return { text: renderTable(["", ""], rows).split("\n").slice(1).join("\n"), json };
  },
};
