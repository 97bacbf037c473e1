/**
 * The Janitor: on a schedule of the host's clock it reclaims what interrupted
 * or replaced writes leave behind, in bounded runs.
 *
 * - PREPARING records older than the service's `preparingMaxAgeMs` (a PUT
 *   that crashed or was abandoned between PREPARE and COMMIT) become garbage
 *   in one transaction, after which that PUT can no longer commit; then
 * - garbage (replaced, deleted and abandoned data) has its shards deleted on
 *   every disk that may hold them, and its record is forgotten;
 * - idempotency tokens past their expiry are removed;
 * - multipart uploads left incomplete longer than the service's
 *   `multipartUploadMaxAgeMs` are aborted first, so their parts are garbage
 *   the same run frees.
 *
 * It never frees live bytes: a dataId is garbage only once no version record
 * references it (see cluster/metadata/object-versions.ts), and a pending
 * record is turned into garbage only in a transaction that a concurrent
 * commit of the same data conflicts with.
 *
 * It is a plain loop rather than an actor because it owns no state another
 * actor asks about: everything it reads and writes is in the metadata store,
 * and each step is idempotent, so two Janitors (or one restarted mid-run)
 * only repeat work.
 */
import { assert, sleepUnlessAborted, type Host } from "../runtime/index.ts";
import type { ObjectCatalog } from "./metadata/index.ts";
import type { ObjectService } from "./object-service.ts";

export interface JanitorOptions {
  readonly host: Host;
  readonly service: ObjectService;
  readonly catalog: ObjectCatalog;
  /** Time between the end of one run and the start of the next. */
  readonly intervalMs: number;
  /** Records per transaction. */
  readonly batchMax?: number;
  /** Data items freed (and tokens removed) per run at most; the rest waits for the next run. */
  readonly runMax?: number;
  readonly log?: (entry: Record<string, unknown>) => void;
}

export interface JanitorRunReport {
  /** PREPARING records found stale and turned into garbage. */
  readonly abandoned: number;
  /** Data items whose shards were deleted. */
  readonly freed: number;
  /** Data items that could not be freed now (a disk or PG unreachable); retried next run. */
  readonly failed: number;
  readonly tokensRemoved: number;
  /** Incomplete multipart uploads past their age bound, aborted. */
  readonly uploadsAborted: number;
}

export class Janitor {
  readonly #host: Host;
  readonly #service: ObjectService;
  readonly #catalog: ObjectCatalog;
  readonly #intervalMs: number;
  readonly #batchMax: number;
  readonly #runMax: number;
  readonly #log: (entry: Record<string, unknown>) => void;
  readonly #stopping = new AbortController();
  #loop: Promise<void> | undefined;
  #running: Promise<JanitorRunReport> | undefined;
  #runCount = 0;

  constructor(options: JanitorOptions) {
    assert(Number.isInteger(options.intervalMs) && options.intervalMs > 0, `janitor interval ${options.intervalMs} must be a positive integer`);
    this.#host = options.host;
    this.#service = options.service;
    this.#catalog = options.catalog;
    this.#intervalMs = options.intervalMs;
    this.#batchMax = options.batchMax ?? 100;
    this.#runMax = options.runMax ?? 10_000;
    this.#log = options.log ?? (() => undefined);
  }

  /** Runs completed since start (for tests and operators). */
  get runCount(): number {
    return this.#runCount;
  }

  /** Starts the schedule: a run now, then one `intervalMs` after each run ends. */
  start(): void {
    assert(this.#loop === undefined, "the janitor starts once");
    this.#loop = (async () => {
      while (!this.#stopping.signal.aborted) {
        try {
          const report = await this.runOnce();
          if (report.abandoned + report.freed + report.failed + report.tokensRemoved > 0) {
            this.#log({ level: report.failed > 0 ? "warn" : "info", event: "janitor-run", ...report });
          }
        } catch (error) {
          // A store or actor failure ends this run only; the next one retries.
          this.#log({ level: "warn", event: "janitor-run-failed", error: String(error) });
        }
        await sleepUnlessAborted(this.#host.clock, this.#intervalMs, this.#stopping.signal);
      }
    })();
  }

  /** Stops the schedule and waits for a run in progress to finish. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#loop;
  }

  /** One bounded run; concurrent calls share the run in progress. */
  runOnce(): Promise<JanitorRunReport> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<JanitorRunReport> {
    const uploadsAborted = await this.#service.abortStaleUploads(this.#runMax);
    const garbage = await this.#service.collectGarbage(this.#batchMax, this.#runMax);
    let tokensRemoved = 0;
    while (tokensRemoved < this.#runMax) {
      const removed = await this.#catalog.removeExpiredTokens(this.#host.clock.nowMs(), Math.min(this.#batchMax, this.#runMax - tokensRemoved));
      tokensRemoved += removed;
      if (removed < this.#batchMax) break;
    }
    this.#runCount += 1;
    return { ...garbage, tokensRemoved, uploadsAborted };
  }
}
