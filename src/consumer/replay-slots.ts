/**
 * The SLUICE_MAX_REPLAYS slots and the replay runs in progress. A subscription that replays from Kafka
 * takes one slot before its replay consumer exists and is the slot's one owner (subscription.ts): it gives
 * the slot back once — from close() when no replay has started, else from the replay run once its reader
 * has stopped. Shutdown waits for the runs, so no replay consumer outlives the registry.
 */
import { SluiceError } from '../errors.js';

export class ReplaySlots {
  private held = 0;
  private readonly runs = new Set<Promise<void>>();

  constructor(private readonly max: number) {}

  /** Slots held now (`sluice_replays_in_progress`). */
  get inUse(): number {
    return this.held;
  }

  /** Takes one slot; throws OVERLOADED when none is free. */
  take(): void {
    if (this.held >= this.max) {
      throw new SluiceError(
        'OVERLOADED',
        `${this.held} replays are in progress (SLUICE_MAX_REPLAYS=${this.max}); subscribe from latest, or retry later`,
        { limit: 'SLUICE_MAX_REPLAYS' },
      );
    }
    this.held++;
  }

  give(): void {
    this.held--;
  }

  /** A replay run in progress: `settled()` waits for it. */
  track(run: Promise<void>): void {
    this.runs.add(run);
    const done = () => void this.runs.delete(run);
    run.then(done, done);
  }

  /** Resolves once every run in progress now has ended (its reader stopped). */
  settled(): Promise<unknown> {
    return Promise.all([...this.runs]);
  }
}
