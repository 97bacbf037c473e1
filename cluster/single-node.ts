/**
 * A one-node Cairn: the nact host, one disk actor per disk directory, the
 * embedded `lmdb` metadata store, and the S3 gateway on Bun.serve. This is
 * what `npm start` runs; the fleet (issue 4) grows out of it.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { diskActorPath, diskBehavior } from "../actors/disk/index.ts";
import type { DiskMessage, SyncDiskReply } from "../actors/disk/protocol.ts";
import { ObjectCatalog, openLmdbStore } from "./metadata/index.ts";
import { createS3Handler, serveBun } from "../gateway/index.ts";
import { ObjectService } from "./object-service.ts";
import { createNactHost, isFault, type ActorRef, type Host } from "../runtime/index.ts";
import type { RootCredentials } from "./credentials.ts";

export interface SingleNodeConfig {
  readonly dataDir: string;
  readonly hostname: string;
  readonly port: number;
  readonly diskCount: number;
  readonly credentials: RootCredentials;
  readonly region: string;
  readonly virtualHostDomains: readonly string[];
  readonly log: (entry: Record<string, unknown>) => void;
}

export interface RunningNode {
  readonly port: number;
  /** Stops accepting requests, lets in-flight ones finish, syncs volumes and metadata. */
  stop(): Promise<void>;
}

const syncTimeoutMs = 60_000;

/** Starts a one-node Cairn and resolves once it is ready to serve. */
export async function startSingleNode(config: SingleNodeConfig): Promise<RunningNode> {
  mkdirSync(config.dataDir, { recursive: true });
  const host: Host = createNactHost({
    nodeId: "node-1",
    onCrash: (crash) => config.log({ level: "error", event: "actor-crash", actor: crash.ref.path, action: crash.action, error: String(crash.error) }),
    log: config.log,
  });
  const store = await openLmdbStore({ path: join(config.dataDir, "meta") });
  const catalog = new ObjectCatalog(store);

  const disks: { diskId: string; ref: ActorRef<DiskMessage> }[] = [];
  for (let index = 0; index < config.diskCount; index += 1) {
    const diskId = `disk-${index}`;
    const ref = await host.spawn(diskActorPath(diskId), diskBehavior({ diskId, directory: join(config.dataDir, "disks", diskId) }));
    disks.push({ diskId, ref });
  }

  const service = new ObjectService({ host, catalog, disks });
  const secrets = new Map([[config.credentials.accessKeyId, config.credentials.secretAccessKey]]);
  const handler = createS3Handler({
    backend: service,
    lookupSecret: (accessKeyId) => secrets.get(accessKeyId),
    nowMs: () => host.clock.nowMs(),
    newRequestId: () => Buffer.from(host.random.bytes(8)).toString("hex").toUpperCase(),
    virtualHostDomains: config.virtualHostDomains,
    region: config.region,
    log: config.log,
  });
  const server = await serveBun({ handler, hostname: config.hostname, port: config.port });
  // Space left behind by an earlier crash or by replaced objects is freed in
  // the background; the node serves meanwhile.
  void service.collectGarbage().then(
    (freed) => freed > 0 && config.log({ level: "info", event: "garbage-collected", count: freed }),
    (error: unknown) => config.log({ level: "warn", event: "garbage-collection-failed", error: String(error) }),
  );

  let stopping: Promise<void> | undefined;
  return {
    port: server.port,
    stop(): Promise<void> {
      stopping ??= (async () => {
        await server.stop();
        for (const disk of disks) {
          const reply = await host.ask<DiskMessage, SyncDiskReply>(disk.ref, (replyTo) => ({ kind: "SyncDisk", replyTo }), syncTimeoutMs);
          if (isFault(reply)) config.log({ level: "error", event: "disk-sync-failed", disk: disk.diskId, fault: reply });
        }
        await host.shutdown();
        await store.close();
      })();
      return stopping;
    },
  };
}
