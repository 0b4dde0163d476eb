/**
 * Reference-counted fan-out consumers: the first subscriber of a topic starts its consumer, the last one
 * leaving stops it after a grace period (dashboards reconnect often; restarting a consumer costs a
 * connection and a metadata round trip). Kafka connections: one per topic with subscribers, plus the producer.
 */
import type { Logger } from 'pino';
import { TopicConsumer, type BatchSink } from './topic-consumer.js';
import type { GatewayMetrics } from '../ops/metrics.js';

const IDLE_GRACE_MS = 10_000;

interface Entry {
  consumer: TopicConsumer;
  ready: Promise<void>;
  refs: number;
  idleTimer: NodeJS.Timeout | undefined;
}

export class ConsumerPool {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly bootstrapServers: string,
    private readonly properties: Record<string, string>,
    private readonly sink: BatchSink,
    private readonly timeoutMs: number,
    private readonly log: Logger,
    private readonly metrics?: GatewayMetrics,
  ) {}

  /** Takes a reference on the topic's consumer; resolves once it is positioned (live from now on). */
  acquire(topic: string, partitions: number): Promise<void> {
    let entry = this.entries.get(topic);
    if (!entry) {
      const consumer = new TopicConsumer(topic, this.bootstrapServers, this.properties, this.sink, this.log,
        (stats) => this.metrics?.onConsumerStats(stats));
      const ready = consumer.start(partitions, this.timeoutMs);
      entry = { consumer, ready, refs: 0, idleTimer: undefined };
      this.entries.set(topic, entry);
      const failed = entry;
      ready.catch((err: Error) => {
        this.log.error({ topic, err: err.message }, 'fan-out consumer failed to start');
        if (this.entries.get(topic) === failed) this.entries.delete(topic);
        void consumer.stop();
      });
    }
    clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    entry.refs++;
    return entry.ready;
  }

  release(topic: string): void {
    const entry = this.entries.get(topic);
    if (!entry || --entry.refs > 0) return;
    entry.idleTimer = setTimeout(() => {
      if (entry.refs > 0 || this.entries.get(topic) !== entry) return;
      this.entries.delete(topic);
      this.metrics?.forgetTopic(topic);
      void entry.consumer.stop().then(() => this.log.info({ topic }, 'fan-out consumer stopped (no subscribers)'));
    }, IDLE_GRACE_MS);
    entry.idleTimer.unref();
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => {
      clearTimeout(e.idleTimer);
      return e.consumer.stop();
    }));
  }
}
