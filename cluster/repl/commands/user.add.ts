import { operatorActorPath, type OperatorMessage } from "../../../actors/operator/index.ts";
import type { AddUserReply } from "../../../actors/operator/protocol.ts";
import { ReplError } from "../session.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";

export const userAdd: ReplCommand = {
  name: "user.add",
  summary: "add a user (role user, or admin with --role admin); prints its keys once",
  usage: "user.add NAME [--role user|admin] --apply",
  help:
    "Asks the entry node's operator endpoint to add the user to the metadata store (cluster/users.ts addUser: name check " +
    "and write in one transaction). The secret is printed once and never again. Gateways accept the key within about a " +
    "second. The secret crosses the cluster link, which is plain ws:// (no TLS yet): use this only on a trusted network.",
  mutates: true,
  async run(session, args) {
    const { positional, options } = parseArguments(this, args, ["role"]);
    expectPositionals(this, positional, 1, 1);
    const role = options.get("role") ?? "user";
    if (role !== "user" && role !== "admin") throw new ReplError(`user.add: --role is user or admin, not ${role}`);
    const map = await session.map();
    const reply = await session.ask<OperatorMessage, AddUserReply>(
      session.refOn(map, session.entryNodeId, operatorActorPath),
      (replyTo) => ({ kind: "AddUser", name: positional[0]!, role, replyTo }),
      "user.add",
    );
    if (reply.outcome !== "added") throw new ReplError(`user.add: ${reply.detail}`);
    return {
      text: `${reply.detail}; its secret is shown only this once:\n  AWS_ACCESS_KEY_ID=${reply.accessKeyId} AWS_SECRET_ACCESS_KEY='${reply.secretAccessKey}'`,
      json: { name: reply.name, role, accessKeyId: reply.accessKeyId, secretAccessKey: reply.secretAccessKey },
    };
  },
};
