/**
 * Main-thread side of subscriptions: which topics have subscribers of which frame style, wherever those
 * sockets live (main thread or ingress workers). It gates new subscriptions on the topic existing and its
 * consumer being positioned, and turns each consumed batch into frames once, only for the styles in demand.
 */
import type { Message } from '../kafka-client.js';
import type { FrameStyle, SubscribeGate } from '../fanout/subscriber-hub.js';
import { encodeFrames } from '../fanout/frame-encoder.js';
import { SluiceError } from '../errors.js';
import type { ConsumerPool } from './consumer-pool.js';
import type { TopicRegistry } from '../producer/topic-registry.js';

/** Where encoded frames go: the local hub, or every ingress worker. */
export type FrameSink = (topic: string, envelopes: string[] | null, values: Uint8Array[] | null) => void;

export class SubscriptionRegistry implements SubscribeGate {
  private readonly demand = new Map<string, { envelope: number; value: number }>();
  private pool: ConsumerPool | undefined;
  private sink: FrameSink = () => {};

  constructor(private readonly topics: TopicRegistry) {}

  attach(pool: ConsumerPool, sink: FrameSink): void {
    this.pool = pool;
    this.sink = sink;
  }

  async acquire(topic: string, style: FrameStyle): Promise<void> {
    const known = this.topics.ensure(topic);
    const { partitions } = known instanceof Promise ? await known : known;
    const d = this.demand.get(topic) ?? { envelope: 0, value: 0 };
    d[style]++;
    this.demand.set(topic, d);
    try {
      await this.pool!.acquire(topic, partitions);
    } catch (err) {
      this.release(topic, style);
      // A client error code, not a 500: the consumer could not reach its partitions in time.
      throw err instanceof SluiceError ? err : new SluiceError('BROKER_UNAVAILABLE', `cannot start reading ${topic}: ${(err as Error).message}`);
    }
  }

  release(topic: string, style: FrameStyle): void {
    const d = this.demand.get(topic);
    if (!d || d[style] === 0) return;
    d[style]--;
    if (d.envelope + d.value === 0) this.demand.delete(topic);
    this.pool!.release(topic);
  }

  /** Open subscriptions by frame style, for metrics. */
  counts(): { envelope: number; value: number } {
    let envelope = 0;
    let value = 0;
    for (const d of this.demand.values()) {
      envelope += d.envelope;
      value += d.value;
    }
    return { envelope, value };
  }

  /** The consumer pool's batch sink. */
  readonly onRecords = (topic: string, records: Message[]): void => {
    const d = this.demand.get(topic);
    if (!d) return;
    const { envelopes, values } = encodeFrames(topic, records, d.envelope > 0, d.value > 0);
    this.sink(topic, envelopes, values);
  };
}
