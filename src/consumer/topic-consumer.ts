/**
 * One librdkafka consumer per topic, shared by every subscriber of that topic (never one per socket).
 * It assigns all partitions itself at their current end offsets (live; no group, no rebalance wait),
 * reads in librdkafka's flowing mode on a native thread, and hands records to the sink in batches:
 * everything that arrived in one event-loop turn goes out as one batch.
 */
import type { Logger } from 'pino';
import { KafkaConsumer, type Message } from '../kafka-client.js';

export type BatchSink = (topic: string, records: Message[]) => void;

export class TopicConsumer {
  private readonly consumer: InstanceType<typeof KafkaConsumer>;
  private batch: Message[] = [];
  private flushScheduled = false;
  private stopped = false;

  constructor(
    readonly topic: string,
    bootstrapServers: string,
    properties: Record<string, string>,
    private readonly sink: BatchSink,
    private readonly log: Logger,
  ) {
    this.consumer = new KafkaConsumer({
      'client.id': `sluice-fanout-${topic}`,
      // Required by librdkafka even though partitions are assigned by hand and nothing is committed.
      'group.id': `sluice-fanout-${process.pid}-${topic}`,
      ...properties,
      'bootstrap.servers': bootstrapServers,
    }, {});
    this.consumer.on('data', (m) => this.onRecord(m));
    this.consumer.on('event.error', (err) => this.log.warn({ topic, err: err.message }, 'fan-out consumer error'));
  }

  /** Resolves once the consumer is positioned at the end of every partition: records produced afterwards are delivered. */
  async start(partitions: number, timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) => this.consumer.connect({ timeout: timeoutMs }, (err) => (err ? reject(err) : resolve())));
    const assignment = await Promise.all(Array.from({ length: partitions }, (_, partition) =>
      new Promise<{ topic: string; partition: number; offset: number }>((resolve, reject) => {
        this.consumer.queryWatermarkOffsets(this.topic, partition, timeoutMs, (err, offsets) =>
          err ? reject(err) : resolve({ topic: this.topic, partition, offset: offsets.highOffset }));
      })));
    this.consumer.assign(assignment);
    this.consumer.consume();
    this.log.info({ topic: this.topic, partitions }, 'fan-out consumer started');
  }

  private onRecord(m: Message): void {
    if (this.stopped) return;
    this.batch.push(m);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const batch = this.batch;
    this.batch = [];
    if (batch.length > 0 && !this.stopped) this.sink(this.topic, batch);
  };

  async stop(): Promise<void> {
    this.stopped = true;
    // The native disconnect stops the flowing consume loop before closing (avoids upstream #34's crash).
    if (this.consumer.isConnected()) await new Promise((resolve) => this.consumer.disconnect(() => resolve(undefined)));
  }
}
