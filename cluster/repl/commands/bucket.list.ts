import { operatorActorPath, type OperatorMessage } from "../../../actors/operator/index.ts";
import type { ListBucketsReply } from "../../../actors/operator/protocol.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { renderTable } from "../table.ts";

export const bucketList: ReplCommand = {
  name: "bucket.list",
  summary: "the buckets: partitions, versioning, owner, creation time",
  usage: "bucket.list",
  help: "Asks the entry node's operator endpoint, which reads the bucket records from the metadata store. PARTS is how many partitions the bucket's keys hash into.",
  mutates: false,
  async run(session, args) {
    expectPositionals(this, parseArguments(this, args).positional, 0, 0);
    const map = await session.map();
    const reply = await session.ask<OperatorMessage, ListBucketsReply>(
      session.refOn(map, session.entryNodeId, operatorActorPath),
      (replyTo) => ({ kind: "ListBuckets", replyTo }),
      "bucket.list",
    );
    const text = renderTable(
      ["BUCKET", "PARTS", "VERSIONING", "OWNER", "CREATED"],
      reply.buckets.map((bucket) => [bucket.name, bucket.partitionCount, bucket.versioning, bucket.owner ?? "(admins)", new Date(bucket.createdMs).toISOString()]),
    );
    return { text, json: reply.buckets };
  },
};
