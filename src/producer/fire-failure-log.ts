/**
 * Fire-and-forget records that failed, or were reported delivered without an offset, logged once a second:
 * one line per topic (failures, with the first error) or per topic and partition (unconfirmed), with a
 * count, never one per record. A fire record carries no opaque, so its report is all there is to count.
 */
import type { Logger } from 'pino';
import type { LibrdKafkaError } from '../kafka-client.js';

/** How often failed fire-and-forget records are logged (one line per topic with a count, never per record). */
const FIRE_FAILURE_LOG_MS = 1000;

export class FireFailureLog {
  /** Failed fire-and-forget records per topic since the last log line, with the first error. */
  private readonly failures = new Map<string, { failed: number; err: string }>();
  /** Fire records reported delivered without an offset, per "topic\0partition", since the last log line. */
  private readonly unconfirmed = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly log: Logger) {}

  countFailure(topic: string, err: LibrdKafkaError): void {
    const seen = this.failures.get(topic);
    if (seen) seen.failed++;
    else this.failures.set(topic, { failed: 1, err: err.message });
    this.logSoon();
  }

  /** Fire records reported delivered without an offset: counted and logged like failures, once a second. */
  countUnconfirmed(topic: string, partition: number): void {
    const name = `${topic}\u0000${partition}`;
    this.unconfirmed.set(name, (this.unconfirmed.get(name) ?? 0) + 1);
    this.logSoon();
  }

  /** Logs what is counted now and stops the timer (shutdown). */
  close(): void {
    clearTimeout(this.timer);
    if (this.failures.size > 0 || this.unconfirmed.size > 0) this.flush();
  }

  private logSoon(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), FIRE_FAILURE_LOG_MS);
    this.timer.unref();
  }

  private flush(): void {
    this.timer = undefined;
    for (const [topic, { failed, err }] of this.failures) {
      this.log.error({ topic, failed, err }, 'fire-and-forget records were not delivered');
    }
    this.failures.clear();
    for (const [name, unconfirmed] of this.unconfirmed) {
      const at = name.lastIndexOf('\u0000');
      this.log.warn(
        { topic: name.slice(0, at), partition: Number(name.slice(at + 1)), unconfirmed },
        'fire-and-forget records were reported delivered without an offset (implicit ack): they may not be in Kafka',
      );
    }
    this.unconfirmed.clear();
  }
}
