/**
 * The `cairn` command (`bin/cairn`, or `npm run cairn --`):
 *
 *   cairn fleet up FILE       start this machine's nodes of the fleet file, wait until they serve
 *   cairn fleet down FILE     stop them (SIGTERM, SIGKILL after 30 s)
 *   cairn fleet status FILE   where each node stands
 *   cairn node --fleet FILE --id ID   run one node in the foreground (what a systemd unit runs)
 *
 * Exit codes: 0 done, 1 failed, 2 bad usage or an unusable fleet file.
 */
import { fileURLToPath } from "node:url";
import { FleetFileError, readFleetFile, type Fleet } from "./fleet/fleet-file.ts";
import { fleetDown, fleetStatus, fleetUp, formatFleetStatus } from "./fleet/fleet-launcher.ts";
import { runFleetNode } from "./fleet/fleet-node.ts";

const usage = `usage:
  cairn fleet up FILE
  cairn fleet down FILE
  cairn fleet status FILE
  cairn node --fleet FILE --id ID`;

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
  case "help":
  case "--help":
  case undefined:
    console.log(usage);
    break;
  default:
    fail(`unknown command "${command}"\n${usage}`, 2);
}
