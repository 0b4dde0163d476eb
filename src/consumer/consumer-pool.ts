/**
 * Reference-counted live feeds: one KafkaReader per topic with subscribers, shared by all of them (never one
 * per socket). The first subscriber of a topic starts its feed at the current end offsets; the last one
 * leaving stops it after a grace period (dashboards reconnect often; restarting costs a connection and a
 * metadata round trip). Kafka connections: one per topic with subscribers (plus replays, groups, producer).
 */
import type { Logger } from 'pino';
import { KafkaReader, type Message } from './kafka-reader.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import { SluiceError } from '../errors.js';

const IDLE_GRACE_MS = 10_000;

export interface LiveFeedHooks {
  /** The feed is positioned: `next[p]` is the first offset it will hand over for partition p. Called before any batch. */
  started(topic: string, next: number[]): void;
  batch(topic: string, records: Message[]): void;
  stopped(topic: string): void;
}

interface Entry {
  reader: KafkaReader;
  ready: Promise<void>;
  refs: number;
  idleTimer: NodeJS.Timeout | undefined;
}

export class ConsumerPool {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly bootstrapServers: string,
    private readonly properties: Record<string, string>,
    private readonly hooks: LiveFeedHooks,
    private readonly timeoutMs: number,
    private readonly maxTopics: number,
    private readonly lingerMs: number,
    private readonly log: Logger,
    private readonly metrics?: GatewayMetrics,
  ) {}

  /** Takes a reference on the topic's feed; resolves once it is positioned (live from now on). */
  acquire(topic: string, partitions: number): Promise<void> {
    let entry = this.entries.get(topic);
    if (!entry) {
      if (this.entries.size >= this.maxTopics) {
        return Promise.reject(new SluiceError('OVERLOADED', `${this.entries.size} topics are followed live (SLUICE_MAX_LIVE_TOPICS); retry later`));
      }
      const reader = new KafkaReader({
        topic, clientId: `sluice-live-${topic}`,
        // Required by librdkafka even though partitions are assigned by hand and nothing is committed.
        groupId: `sluice-live-${process.pid}-${topic}`,
        bootstrapServers: this.bootstrapServers, properties: this.properties, log: this.log, lingerMs: this.lingerMs,
        onStats: (stats) => this.metrics?.onConsumerStats(stats),
      });
      const ready = (async () => {
        await reader.connect(this.timeoutMs);
        const marks = await reader.watermarks(partitions, this.timeoutMs);
        const next = marks.map((m) => m.high);
        this.hooks.started(topic, next.slice());
        reader.startAssigned(next.map((offset, partition) => ({ partition, offset })), (records) => {
          if (records.length > 0) this.hooks.batch(topic, records);
        });
        this.log.info({ topic, partitions }, 'live feed started');
      })();
      entry = { reader, ready, refs: 0, idleTimer: undefined };
      this.entries.set(topic, entry);
      const failed = entry;
      ready.catch((err: Error) => {
        this.log.error({ topic, err: err.message }, 'live feed failed to start');
        if (this.entries.get(topic) === failed) this.entries.delete(topic);
        void reader.stop();
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
      this.hooks.stopped(topic);
      void entry.reader.stop().then(() => this.log.info({ topic }, 'live feed stopped (no subscribers)'));
    }, IDLE_GRACE_MS);
    entry.idleTimer.unref();
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => {
      clearTimeout(e.idleTimer);
      return e.reader.stop();
    }));
  }
}
