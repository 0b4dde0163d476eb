/**
 * Tracks requests in progress so that shutdown can stop accepting, then wait for every accepted request
 * to be answered (durable answers need Kafka's acknowledgement) before the producer is closed.
 */
export class Lifecycle {
  /** Refusing new requests: the drain after SLUICE_SHUTDOWN_DELAY_MS. */
  draining = false;
  /** A shutdown has begun: still serving (SLUICE_SHUTDOWN_DELAY_MS), but `/readyz` answers 503. */
  leaving = false;
  private inProgress = 0;
  private idleWaiters: (() => void)[] = [];

  begin(): void {
    this.inProgress++;
  }

  end(): void {
    if (--this.inProgress === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when no request is in progress, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void> {
    if (this.inProgress === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
