/**
 * The `cairn` command (`bin/cairn`, or `npm run cairn --`):
 *
 *   cairn fleet up FILE       start this machine's nodes of the fleet file, wait until they serve
 *   cairn fleet down FILE     stop them (SIGTERM, SIGKILL after 30 s)
 *   cairn fleet status FILE   where each node stands
 *   cairn node --fleet FILE --id ID   run one node in the foreground (what a systemd unit runs)
 *   cairn user add NAME [--admin] (--data DIR | --fleet FILE)   add a user; prints its keys once
 *   cairn user list (--data DIR | --fleet FILE)                 the users (never their secrets)
 *   cairn user remove NAME (--data DIR | --fleet FILE)          remove a user (refused within about 1 s)
 *   cairn repl --fleet FILE [NODE | HOST:PORT] [--exec 'CMD; CMD' [--json]]   the operator's shell (cluster/repl/)
 *
 * Exit codes: 0 done, 1 failed, 2 bad usage or an unusable fleet file.
 */
import { fileURLToPath } from "node:url";
import { FleetFileError, readFleetFile, type Fleet } from "./fleet/fleet-file.ts";
import { fleetDown, fleetStatus, fleetUp, formatFleetStatus } from "./fleet/fleet-launcher.ts";
import { openFleetStore, runFleetNode } from "./fleet/fleet-node.ts";
import { join, resolve } from "node:path";
import { existsSync } from "node:fs";
import { openLmdbStore, stopFoundationDbNetwork, type MetaStore } from "./metadata/index.ts";
import { addUser, invalidUserName, listUsers, removeUser } from "./users.ts";
import { systemClock } from "../runtime/index.ts";
import { runRepl } from "./repl/repl.ts";

const usage = `usage:
  cairn fleet up FILE
  cairn fleet down FILE
  cairn fleet status FILE
  cairn node --fleet FILE --id ID
  cairn user add NAME [--admin] (--data DIR | --fleet FILE)
  cairn user list (--data DIR | --fleet FILE)
  cairn user remove NAME (--data DIR | --fleet FILE)
  cairn repl --fleet FILE [NODE | HOST:PORT] [--exec 'CMD; CMD' [--json]]`;

function fail(message: string, exitCode: number): never {
  console.error(`cairn: ${message}`);
  process.exit(exitCode);
}

function loadFleet(path: string | undefined): Fleet {
  if (path === undefined) fail(`missing the fleet file\n${usage}`, 2);
  try {
    return readFleetFile(path);
  } catch (error) {
    if (error instanceof FleetFileError) fail(error.message, 2);
    throw error;
  }
}

/**
 * `cairn user …`: the store is the one-node data directory's (`--data`, the
 * lmdb environment the running server also has open: lmdb serializes writers
 * across processes) or the fleet's (`--fleet`). Running gateways pick the
 * change up within their user table's refresh interval (1 s).
 */
async function userCommand(args: readonly string[]): Promise<void> {
  const [action, ...options] = args;
  const positional: string[] = [];
  let dataDir: string | undefined;
  let fleetPath: string | undefined;
  let admin = false;
  for (let index = 0; index < options.length; index += 1) {
    const option = options[index]!;
    if (option === "--admin") admin = true;
    else if (option === "--data" || option === "--fleet") {
      const value = options[index + 1];
      if (value === undefined) fail(`${option} needs a value\n${usage}`, 2);
      if (option === "--data") dataDir = value;
      else fleetPath = value;
      index += 1;
    } else if (option.startsWith("--")) fail(`unknown option ${option}\n${usage}`, 2);
    else positional.push(option);
  }
  if (action !== "add" && action !== "list" && action !== "remove") fail(`unknown user action "${action ?? ""}"\n${usage}`, 2);
  if ((dataDir === undefined) === (fleetPath === undefined)) fail(`give exactly one of --data DIR and --fleet FILE\n${usage}`, 2);
  if (admin && action !== "add") fail(`--admin goes with user add\n${usage}`, 2);
  const expected = action === "list" ? 0 : 1;
  if (positional.length !== expected) {
    fail(action === "list" ? `unexpected arguments: ${positional.join(" ")}\n${usage}` : `user ${action} needs exactly one NAME\n${usage}`, 2);
  }
  const name = positional[0];
  if (name !== undefined && action === "add") {
    const problem = invalidUserName(name);
    if (problem !== undefined) fail(problem, 2);
  }
  let store: MetaStore;
  const fleet = fleetPath === undefined ? undefined : loadFleet(fleetPath);
  if (fleet !== undefined) store = await openFleetStore(fleet);
  else {
    const meta = join(resolve(dataDir!), "meta");
    // Never create a store where there is none: a mistyped --data would hold users no server reads.
    if (!existsSync(meta)) fail(`${dataDir} holds no Cairn data (no ${meta}); start the server on it first`, 2);
    store = await openLmdbStore({ path: meta });
  }
  try {
    if (action === "add") {
      const outcome = await addUser(store, { name: name!, role: admin ? "admin" : "user", nowMs: systemClock().nowMs() });
      if (outcome.kind === "name-taken") fail(`a user named ${name} exists already`, 1);
      if (outcome.kind === "too-many") fail("the user table is full", 1);
      const { user } = outcome;
      console.log(`added ${user.role} ${user.name}; its secret is shown only this once:`);
      console.log(`  AWS_ACCESS_KEY_ID=${user.accessKeyId} AWS_SECRET_ACCESS_KEY='${user.secretAccessKey}'`);
    } else if (action === "list") {
      const users = await listUsers(store);
      console.log("NAME\tROLE\tACCESS KEY\tCREATED");
      console.log("root\tadmin\t(the root credentials)\t-");
      for (const user of users.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        console.log(`${user.name}\t${user.role}\t${user.accessKeyId}\t${new Date(user.createdMs).toISOString()}`);
      }
    } else {
      if ((await removeUser(store, name!)) === "not-found") fail(`no user named ${name}`, 1);
      console.log(`removed ${name}; its key stops working within about a second`);
    }
  } finally {
    await store.close();
    if (fleet?.metadata.backend === "foundationdb") stopFoundationDbNetwork();
  }
}

const [command, ...rest] = process.argv.slice(2);
switch (command) {
  case "fleet": {
    const [action, path, ...extra] = rest;
    if (extra.length > 0) fail(`unexpected arguments: ${extra.join(" ")}\n${usage}`, 2);
    const fleet = loadFleet(path);
    if (action === "up") {
      try {
        const { statuses, credentials } = await fleetUp(fleet, { cliPath: fileURLToPath(import.meta.url) });
        console.log(formatFleetStatus(fleet, statuses));
        if (credentials.source === "generated") {
          const { accessKeyId, secretAccessKey } = credentials.credentials;
          console.log(`\ngenerated root credentials, stored in ${fleet.stateDirectory}/credentials.json (shown only this once):`);
          console.log(`  AWS_ACCESS_KEY_ID=${accessKeyId} AWS_SECRET_ACCESS_KEY='${secretAccessKey}'`);
        }
      } catch (error) {
        fail((error as Error).message, 1);
      }
    } else if (action === "down") {
      for (const { node, outcome } of await fleetDown(fleet)) console.log(`${node.id}: ${outcome}`);
    } else if (action === "status") {
      console.log(formatFleetStatus(fleet, fleetStatus(fleet)));
    } else {
      fail(`unknown fleet action "${action ?? ""}"\n${usage}`, 2);
    }
    break;
  }
  case "node": {
    let fleetPath: string | undefined;
    let nodeId: string | undefined;
    for (let index = 0; index < rest.length; index += 2) {
      const [flag, value] = [rest[index], rest[index + 1]];
      if (value === undefined) fail(`${flag} needs a value\n${usage}`, 2);
      if (flag === "--fleet") fleetPath = value;
      else if (flag === "--id") nodeId = value;
      else fail(`unknown option ${flag}\n${usage}`, 2);
    }
    if (nodeId === undefined) fail(`missing --id\n${usage}`, 2);
    await runFleetNode(loadFleet(fleetPath), nodeId);
    break;
  }
  case "user":
    await userCommand(rest);
    break;
  case "repl": {
    let fleetPath: string | undefined;
    let exec: string | undefined;
    let json = false;
    const targets: string[] = [];
    for (let index = 0; index < rest.length; index += 1) {
      const option = rest[index]!;
      if (option === "--json") json = true;
      else if (option === "--fleet" || option === "--exec") {
        const value = rest[index + 1];
        if (value === undefined) fail(`${option} needs a value\n${usage}`, 2);
        if (option === "--fleet") fleetPath = value;
        else exec = value;
        index += 1;
      } else if (option.startsWith("--")) fail(`unknown option ${option}\n${usage}`, 2);
      else targets.push(option);
    }
    if (targets.length > 1) fail(`give at most one node to connect to\n${usage}`, 2);
    process.exit(await runRepl({ fleet: loadFleet(fleetPath), target: targets[0], exec, json }));
  }
  case "help":
  case "--help":
  case undefined:
    console.log(usage);
    break;
  default:
    fail(`unknown command "${command}"\n${usage}`, 2);
}
