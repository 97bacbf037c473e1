import { operatorActorPath, type OperatorMessage } from "../../../actors/operator/index.ts";
import type { RemoveUserReply } from "../../../actors/operator/protocol.ts";
import { ReplError } from "../session.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";

export const userRemove: ReplCommand = {
  name: "user.remove",
  summary: "remove a user; its key stops working within about a second",
  usage: "user.remove NAME --apply",
  help: "Asks the entry node's operator endpoint to remove the user from the metadata store (cluster/users.ts removeUser). Gateways refuse its key within their user table's refresh (about 1 s).",
  mutates: true,
  async run(session, args) {
    const { positional } = parseArguments(this, args);
    expectPositionals(this, positional, 1, 1);
    const map = await session.map();
    const reply = await session.ask<OperatorMessage, RemoveUserReply>(
      session.refOn(map, session.entryNodeId, operatorActorPath),
      (replyTo) => ({ kind: "RemoveUser", name: positional[0]!, replyTo }),
      "user.remove",
    );
    if (reply.outcome === "not-found") throw new ReplError(`user.remove: no user named ${reply.name}`);
    return { text: `removed ${reply.name}; its key stops working within about a second`, json: { name: reply.name, outcome: reply.outcome } };
  },
};
