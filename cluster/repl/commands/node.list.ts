import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { renderTable } from "../table.ts";

export const nodeList: ReplCommand = {
  name: "node.list",
  summary: "the fleet's nodes: state, run, address, roles, how many PGs and partitions each hosts",
  usage: "node.list",
  help:
    "Reads the fleet map from the entry node's store. STATE is membership's verdict (joining, up, down: a node whose lease lapsed), " +
    "with `draining` while node.drain stands; " +
    "RUN is the node's incarnation; PGS and PARTS count the units the map assigns to it.",
  mutates: false,
  async run(session, args) {
    expectPositionals(this, parseArguments(this, args).positional, 0, 0);
    const map = await session.map();
    const nodes = map.nodes.map((node) => ({
      nodeId: node.nodeId,
      state: node.state,
      draining: node.draining === true,
      incarnation: node.incarnation,
      address: node.address,
      roles: [...node.roles].sort(),
      placementGroups: map.placementGroups.filter((entry) => entry.nodeId === node.nodeId).length,
      partitions: map.partitions.filter((entry) => entry.nodeId === node.nodeId).length,
      disks: map.placement.hosts.find((host) => host.hostId === node.nodeId)?.disks.length ?? 0,
    }));
    const text = renderTable(
      ["NODE", "STATE", "RUN", "ADDRESS", "ROLES", "DISKS", "PGS", "PARTS"],
      nodes.map((node) => [node.nodeId, node.draining ? `${node.state},draining` : node.state, node.incarnation, node.address, node.roles.join(","), node.disks, node.placementGroups, node.partitions]),
    );
    return { text: `${text}\nmap epoch ${map.epoch}`, json: { epoch: map.epoch, nodes } };
  },
};
