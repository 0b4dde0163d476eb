/**
 * One librdkafka consumer per topic, shared by every subscriber of that topic (never one per socket).
 * It assigns all partitions itself at their current end offsets (live; no group, no rebalance wait) and
 * reads in batches with `consume(n)`: each call waits on a libuv pool thread for the first record (up to
 * POLL_TIMEOUT_MS), then returns every record already fetched, up to BATCH_MAX — one batch for the sink.
 *
 * Not the flowing `consume()` mode: its `disconnect()` deadlocks while records are arriving (checked
 * here: the process hangs and cannot even exit). With a batch loop, stopping is: end the loop, wait for
 * the call in progress, then disconnect with no read in flight.
 */
import type { Logger } from 'pino';
import { KafkaConsumer, type Message } from '../kafka-client.js';
import type { LibrdkafkaStats } from '../ops/metrics.js';
import { SluiceError } from '../errors.js';

export type BatchSink = (topic: string, records: Message[]) => void;

const BATCH_MAX = 1000;
const POLL_TIMEOUT_MS = 100;

export class TopicConsumer {
  private readonly consumer: InstanceType<typeof KafkaConsumer>;
  private stopped = false;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(
    readonly topic: string,
    bootstrapServers: string,
    properties: Record<string, string>,
    private readonly sink: BatchSink,
    private readonly log: Logger,
    onStats: (stats: LibrdkafkaStats) => void = () => {},
  ) {
    this.consumer = new KafkaConsumer({
      'client.id': `sluice-fanout-${topic}`,
      // Required by librdkafka even though partitions are assigned by hand and nothing is committed.
      'group.id': `sluice-fanout-${process.pid}-${topic}`,
      ...properties,
      'bootstrap.servers': bootstrapServers,
    }, {});
    this.consumer.on('event.error', (err) => this.log.warn({ topic, err: err.message }, 'fan-out consumer error'));
    this.consumer.on('event.stats', (stats) => onStats(JSON.parse(stats.message) as LibrdkafkaStats));
  }

  /** Resolves once the consumer is positioned at the end of every partition: records produced afterwards are delivered. */
  async start(partitions: number, timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) => this.consumer.connect({ timeout: timeoutMs }, (err) => (err ? reject(err) : resolve())));
    const deadline = Date.now() + timeoutMs;
    const assignment = await Promise.all(Array.from({ length: partitions }, async (_, partition) => {
      // Just after a topic is created its partition leaders may not be elected yet: retry until the deadline.
      for (;;) {
        try {
          const offset = await new Promise<number>((resolve, reject) => {
            this.consumer.queryWatermarkOffsets(this.topic, partition, timeoutMs, (err, offsets) => (err ? reject(err) : resolve(offsets.highOffset)));
          });
          return { topic: this.topic, partition, offset };
        } catch (err) {
          if (Date.now() > deadline) throw new SluiceError('BROKER_UNAVAILABLE', `cannot find the end of ${this.topic}/${partition}: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }));
    this.consumer.assign(assignment);
    this.consumer.setDefaultConsumeTimeout(POLL_TIMEOUT_MS);
    // In the library, missing from its typings: return as soon as the first record is in, with what else is buffered.
    (this.consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
    this.loopDone = this.readLoop();
    this.log.info({ topic: this.topic, partitions }, 'fan-out consumer started');
  }

  private async readLoop(): Promise<void> {
    while (!this.stopped) {
      const batch = await new Promise<Message[]>((resolve) => {
        this.consumer.consume(BATCH_MAX, (err, messages) => {
          if (err) {
            this.log.warn({ topic: this.topic, err: err.message }, 'fan-out read failed; retrying');
            setTimeout(() => resolve([]), POLL_TIMEOUT_MS);
          } else resolve(messages);
        });
      });
      if (batch.length > 0 && !this.stopped) this.sink(this.topic, batch);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loopDone;
    if (this.consumer.isConnected()) await new Promise((resolve) => this.consumer.disconnect(() => resolve(undefined)));
  }
}
