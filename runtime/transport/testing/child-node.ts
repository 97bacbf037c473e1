/**
 * A node in its own process, for the cross-process transport test and the
 * bench: starts a host with a transport on 127.0.0.1 and an `echo` actor,
 * prints `{"ready":{"port":…}}` on stdout, asks the parent's echo actor once
 * (printing the outcome), and then serves until killed.
 *
 * Environment: CAIRN_CHILD_NODE_ID, CAIRN_PARENT_NODE_ID, CAIRN_PARENT_PORT,
 * CAIRN_TEST_SEED.
 */
import { isFault } from "../../fault.ts";
import { seededRandom } from "../../random.ts";
import { actorRef } from "../../ref.ts";
import { startTestNode, type EchoMessage, type EchoReply } from "./nodes.ts";

const nodeId = process.env["CAIRN_CHILD_NODE_ID"] ?? "node-child";
const parentNodeId = process.env["CAIRN_PARENT_NODE_ID"] ?? "node-parent";
const parentPort = Number(process.env["CAIRN_PARENT_PORT"]);
const seed = Number(process.env["CAIRN_TEST_SEED"] ?? 1);

const directory = new Map([[parentNodeId, { host: "127.0.0.1", port: parentPort }]]);
const node = await startTestNode({ nodeId, directory, random: seededRandom(seed), printLogs: false });
console.log(JSON.stringify({ ready: { port: node.address.port } }));
const reply = await node.host.ask<EchoMessage, EchoReply>(
  actorRef(parentNodeId, 1, "echo"),
  (replyTo) => ({ kind: "Echo", payload: { from: nodeId, pid: process.pid }, replyTo }),
  10_000,
);
console.log(JSON.stringify({ askedParent: isFault(reply) ? reply : reply.payload }));
