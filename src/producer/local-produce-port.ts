/** The ProducePort on the thread that owns the Kafka producer: resolve the topic, then produce. */
import type { MessageHeader } from '../kafka-client.js';
import type { GatewayProducer } from './gateway-producer.js';
import type { DeliveryResult } from './delivery-result.js';
import type { ProducePort, ProduceSubmission } from './produce-port.js';
import type { TopicRegistry } from './topic-registry.js';

export class LocalProducePort implements ProducePort {
  constructor(private readonly producer: GatewayProducer, private readonly topics: TopicRegistry) {}

  async submit(s: ProduceSubmission): Promise<DeliveryResult> {
    const known = this.topics.ensure(s.topic);
    if (known instanceof Promise) await known;
    const headers: MessageHeader[] | undefined = s.headers?.map(([name, value]) => ({ [name]: Buffer.from(value) }));
    return this.producer.produceBatch({ topic: s.topic, records: s.records, key: s.key, headers, durable: s.durable, timestampMs: s.timestampMs ?? null });
  }
}
