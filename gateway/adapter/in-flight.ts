/**
 * Counts requests from arrival until their response has been sent in full
 * (or the client went away), so an adapter's `stop()` can wait for them.
 * Shared by every runtime adapter.
 */
export class InFlight {
  #count = 0;
  #waiters: (() => void)[] = [];

  /** Counts one request; the returned function ends it (calling it again does nothing). */
  begin(): () => void {
    this.#count += 1;
    let finished = false;
    return () => {
      if (finished) return;
      finished = true;
      this.#count -= 1;
      if (this.#count === 0) for (const waiter of this.#waiters.splice(0)) waiter();
    };
  }

  /** Resolves once no request is in flight. */
  drained(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
