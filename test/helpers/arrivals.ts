/** Items a test client receives over time (frames, events), and waiting until a number of them are in. */
export class Arrivals<T> {
  readonly items: T[] = [];
  private waiters: (() => void)[] = [];

  constructor(
    private readonly describe: (item: T) => string,
    private readonly noun: string,
  ) {}

  push(item: T): void {
    this.items.push(item);
    this.wake();
  }

  /** Re-checks every waiter (after a push, or when the stream ended). */
  wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves with the first `n` items once they have arrived; rejects after `timeoutMs` showing the last few. */
  waitFor(n: number, timeoutMs = 20_000): Promise<T[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`got ${this.items.length} of ${n} ${this.noun}: ${this.items.slice(-3).map(this.describe).join(' | ')}`)),
        timeoutMs,
      );
      const check = () => {
        if (this.items.length >= n) {
          clearTimeout(timer);
          resolve(this.items.slice(0, n));
        } else this.waiters.push(check);
      };
      check();
    });
  }
}
