/** Every REPL command, in the order `help` lists them. */
import type { ReplCommand } from "../command.ts";
import { actorList } from "./actor.list.ts";
import { actorRestart } from "./actor.restart.ts";
import { actorStop } from "./actor.stop.ts";
import { backfillStatus } from "./backfill.status.ts";
import { bucketList } from "./bucket.list.ts";
import { bucketStats } from "./bucket.stats.ts";
import { clusterStatus } from "./cluster.status.ts";
import { diskIn } from "./disk.in.ts";
import { diskList } from "./disk.list.ts";
import { diskOut } from "./disk.out.ts";
import { healStatus } from "./heal.status.ts";
import { nodeDrain } from "./node.drain.ts";
import { nodeList } from "./node.list.ts";
import { pgList } from "./pg.list.ts";
import { pgShow } from "./pg.show.ts";
import { pgSweep } from "./pg.sweep.ts";
import { scrubStart } from "./scrub.start.ts";
import { userAdd } from "./user.add.ts";
import { userList } from "./user.list.ts";
import { userRemove } from "./user.remove.ts";

export const replCommands: readonly ReplCommand[] = [
  clusterStatus,
  nodeList,
  nodeDrain,
  diskList,
  diskOut,
  diskIn,
  pgList,
  pgShow,
  pgSweep,
  actorList,
  actorStop,
  actorRestart,
  healStatus,
  backfillStatus,
  scrubStart,
  bucketList,
  bucketStats,
  userList,
  userAdd,
  userRemove,
];
