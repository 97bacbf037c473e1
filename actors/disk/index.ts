/**
 * The DiskActor's public surface. Other folders talk to a disk through the
 * messages in `protocol.ts`; hosts spawn it with `diskBehavior` at `diskActorPath`.
 */
export { diskActorPath, diskBehavior, reserveBytesDefault, spaceCheckIntervalMsDefault, volumeBytesMaxFor } from "./behavior.ts";
export type { DiskBehaviorOptions, DiskSpace, DiskState, SpaceView } from "./behavior.ts";
export {
  AppendShard,
  AppendShardReply,
  CheckShards,
  CheckShardsReply,
  CompactDisk,
  CompactDiskReply,
  DeleteShard,
  DeleteShardReply,
  DiskMessage,
  ListShardKeys,
  ListShardKeysReply,
  ReadShard,
  ReadShardReply,
  ScrubShards,
  ScrubShardsReply,
  StatDisk,
  StatDiskReply,
  SyncDisk,
  SyncDiskReply,
  shardBytesMax,
  shardKeyBytesMax,
} from "./protocol.ts";
