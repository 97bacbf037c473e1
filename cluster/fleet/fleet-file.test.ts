import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fleetNode, FleetFileError, parseFleet, readFleetFile } from "./fleet-file.ts";
import { ensureFleetSecret, readFleetSecret } from "./fleet-secret.ts";
import { isLocalAddress } from "./fleet-launcher.ts";

function validFleet(): Record<string, unknown> {
  return {
    version: 1,
    name: "test",
    secretFile: "fleet.secret",
    metadata: { backend: "lmdb", path: "meta" },
    stateDirectory: "state",
    placementGroupCount: 32,
    storageClasses: "STANDARD=3+2",
    nodes: [
      { id: "n1", roles: ["storage", "gateway"], address: "127.0.0.1", clusterPort: 7101, s3Port: 9101, disks: ["n1/d0", "n1/d1"] },
      { id: "n2", roles: ["storage"], address: "127.0.0.1", clusterPort: 7102, disks: ["/srv/n2/d0"] },
      { id: "n3", roles: ["gateway"], address: "10.0.0.3", clusterPort: 7103, s3Port: 9103, disks: [] },
    ],
  };
}

function problemsOf(change: (fleet: Record<string, unknown> & { nodes: Record<string, unknown>[] }) => void): string {
  const fleet = validFleet() as Record<string, unknown> & { nodes: Record<string, unknown>[] };
  change(fleet);
  try {
    parseFleet("/etc/cairn/fleet.json", fleet);
  } catch (error) {
    expect(error).toBeInstanceOf(FleetFileError);
    return (error as Error).message;
  }
  throw new Error("the fleet file was accepted");
}

describe("fleet file", () => {
  test("a valid file: paths resolve against the file's directory, disk ids follow the node", () => {
    const fleet = parseFleet("/etc/cairn/fleet.json", validFleet());
    expect(fleet.secretPath).toBe("/etc/cairn/fleet.secret");
    expect(fleet.metadata).toEqual({ backend: "lmdb", path: "/etc/cairn/meta" });
    expect(fleet.stateDirectory).toBe("/etc/cairn/state");
    const n1 = fleetNode(fleet, "n1");
    expect(n1.disks).toEqual([
      { diskId: "n1/disk-0", directory: "/etc/cairn/n1/d0" },
      { diskId: "n1/disk-1", directory: "/etc/cairn/n1/d1" },
    ]);
    expect(fleetNode(fleet, "n2").disks[0]!.directory).toBe("/srv/n2/d0");
    expect([...n1.roles].sort()).toEqual(["gateway", "storage"]);
    expect(() => fleetNode(fleet, "n9")).toThrow('no node "n9" (nodes: n1, n2, n3)');
  });

  test("each mistake is named: schema, duplicates, roles without what they need", () => {
    expect(problemsOf((fleet) => delete fleet["name"])).toContain("/name");
    expect(problemsOf((fleet) => (fleet["version"] = 2))).toContain("/version");
    expect(problemsOf((fleet) => (fleet["surprise"] = true))).toContain("/surprise: Unexpected property");
    expect(problemsOf((fleet) => (fleet.nodes = "none" as never))).toContain("/nodes");
    expect(problemsOf((fleet) => (fleet.nodes[0]!["clusterPort"] = 70000))).toContain("/nodes/0/clusterPort");
    expect(problemsOf((fleet) => (fleet.nodes[0]!["id"] = "bad id/with slash"))).toContain("/nodes/0/id");
    expect(problemsOf((fleet) => (fleet.nodes[0]!["roles"] = ["storage", "cook"]))).toContain("/nodes/0/roles");
    expect(problemsOf((fleet) => (fleet.nodes[1]!["id"] = "n1"))).toContain("nodes[1] (n1): the id is used twice");
    expect(problemsOf((fleet) => (fleet.nodes[1]!["clusterPort"] = 7101))).toContain("clusterPort 127.0.0.1:7101 is used twice");
    expect(problemsOf((fleet) => (fleet.nodes[1]!["clusterPort"] = 9101))).toContain("clusterPort 127.0.0.1:9101 is used twice");
    expect(problemsOf((fleet) => (fleet.nodes[1]!["adminPort"] = 7101))).toContain("adminPort 127.0.0.1:7101 is used twice");
    expect(problemsOf((fleet) => (fleet.nodes[1]!["adminPort"] = 0))).toContain("/nodes/1/adminPort");
    expect(problemsOf((fleet) => delete fleet.nodes[0]!["s3Port"])).toContain("a gateway node needs an s3Port");
    expect(problemsOf((fleet) => (fleet.nodes[1]!["disks"] = []))).toContain("a storage node needs at least one disk directory");
    expect(problemsOf((fleet) => (fleet.nodes[2]!["disks"] = ["x"]))).toContain("only a storage node has disks");
    expect(problemsOf((fleet) => (fleet.nodes[1]!["disks"] = ["n1/d0"]))).toContain("disk directory /etc/cairn/n1/d0 is used twice");
    expect(problemsOf((fleet) => (fleet.nodes = [fleet.nodes[1]!]))).toContain("no node has the gateway role");
  });

  test("a FoundationDB fleet: cluster file and library resolved, key prefix kept; a bad variant is named", () => {
    const contents = { ...validFleet(), metadata: { backend: "foundationdb", clusterFile: "fdb.cluster", keyPrefix: "cairn/prod", apiVersion: 730 } };
    expect(parseFleet("/etc/cairn/fleet.json", contents).metadata).toEqual({
      backend: "foundationdb",
      clusterFile: "/etc/cairn/fdb.cluster",
      keyPrefix: "cairn/prod",
      apiVersion: 730,
    });
    expect(problemsOf((fleet) => (fleet["metadata"] = { backend: "foundationdb", clusterFile: "fdb.cluster" }))).toContain("/metadata");
    expect(problemsOf((fleet) => (fleet["metadata"] = { backend: "etcd", path: "x" }))).toContain("/metadata");
  });

  test("reading a file: missing, not JSON", () => {
    const directory = mkdtempSync(join(tmpdir(), "cairn-fleet-file-"));
    try {
      expect(() => readFleetFile(join(directory, "none.json"))).toThrow("no such fleet file");
      writeFileSync(join(directory, "bad.json"), "{ nodes: [");
      expect(() => readFleetFile(join(directory, "bad.json"))).toThrow("not valid JSON");
      writeFileSync(join(directory, "fleet.json"), JSON.stringify(validFleet()));
      expect(readFleetFile(join(directory, "fleet.json")).metadata).toEqual({ backend: "lmdb", path: join(directory, "meta") });
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  test("the fleet secret: created once with mode 0600, refused when others can read it", () => {
    const directory = mkdtempSync(join(tmpdir(), "cairn-fleet-secret-"));
    try {
      const path = join(directory, "sub", "fleet.secret");
      expect(() => readFleetSecret(path)).toThrow("no fleet secret");
      ensureFleetSecret(path);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const secret = readFleetSecret(path);
      expect(secret).toMatch(/^[0-9a-f]{64}$/);
      ensureFleetSecret(path);
      expect(readFleetSecret(path)).toBe(secret);
      chmodSync(path, 0o644);
      expect(() => readFleetSecret(path)).toThrow("readable by other users");
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  test("the README's example fleet file is valid", () => {
    const readme = readFileSync(join(import.meta.dir, "../../README.md"), "utf8");
    const example = /## Running a fleet[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const fleet = parseFleet("/srv/cairn/fleet.json", JSON.parse(example!));
    expect(fleet.nodes.map((node) => node.id)).toEqual(["n1", "n2", "n3", "n4", "n5"]);
  });

  test("local addresses", () => {
    expect(isLocalAddress("127.0.0.1")).toBe(true);
    expect(isLocalAddress("localhost")).toBe(true);
    expect(isLocalAddress("192.0.2.77")).toBe(false);
  });
});
