import { operatorActorPath, type OperatorMessage } from "../../../actors/operator/index.ts";
import type { ListUsersReply } from "../../../actors/operator/protocol.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { renderTable } from "../table.ts";

export const userList: ReplCommand = {
  name: "user.list",
  summary: "the users (never their secrets)",
  usage: "user.list",
  help: "Asks the entry node's operator endpoint, which reads the user table from the metadata store (cluster/users.ts). The root credentials are not in the table and are listed as root.",
  mutates: false,
  async run(session, args) {
    expectPositionals(this, parseArguments(this, args).positional, 0, 0);
    const map = await session.map();
    const reply = await session.ask<OperatorMessage, ListUsersReply>(
      session.refOn(map, session.entryNodeId, operatorActorPath),
      (replyTo) => ({ kind: "ListUsers", replyTo }),
      "user.list",
    );
    const users = [...reply.users].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const text = renderTable(
      ["NAME", "ROLE", "ACCESS KEY", "CREATED"],
      [["root", "admin", "(the root credentials)", "-"], ...users.map((user) => [user.name, user.role, user.accessKeyId, new Date(user.createdMs).toISOString()])],
    );
    return { text, json: users };
  },
};
