/** The ProducePort on the thread that owns the Kafka producer: resolve the topic, then produce. */
import type { MessageHeader } from '../kafka-client.js';
import type { GatewayProducer } from './gateway-producer.js';
import type { ProduceCallback, ProducePort, ProduceSubmission } from './produce-port.js';
import type { TopicRegistry } from './topic-registry.js';
import type { TopicCatalog, TopicInfo } from './topic-catalog.js';

export class LocalProducePort implements ProducePort {
  constructor(
    private readonly producer: GatewayProducer,
    private readonly topics: TopicRegistry,
    private readonly catalog: TopicCatalog,
  ) {}

  listTopics(): Promise<TopicInfo[]> {
    return this.catalog.list();
  }

  submit(s: ProduceSubmission, done: ProduceCallback): void {
    let known;
    try {
      known = this.topics.ensure(s.topic);
    } catch (err) {
      done(err as Error, null);
      return;
    }
    if (known instanceof Promise)
      known.then(
        () => this.produce(s, done),
        (err: Error) => done(err, null),
      );
    else this.produce(s, done);
  }

  private produce(s: ProduceSubmission, done: ProduceCallback): void {
    const headers: MessageHeader[] | undefined =
      s.headers == null ? undefined : s.headers.map(([name, value]) => ({ [name]: Buffer.from(value) }));
    this.producer.produceBatch(
      { topic: s.topic, records: s.records, key: s.key, headers, durable: s.durable, timestampMs: s.timestampMs },
      done,
    );
  }
}
