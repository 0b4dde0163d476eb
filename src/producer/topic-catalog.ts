/**
 * The cluster's topics with their partition counts, for `GET /topics` (the dashboard's topic picker).
 * Read from the producer's metadata (one request for all topics, never creating any), kept for a short
 * time so a page reload or many dashboards opening at once cost the cluster one request, not one each;
 * concurrent callers share the request in flight.
 */
import type { GatewayProducer } from './gateway-producer.js';
import { SluiceError } from '../errors.js';

export interface TopicInfo {
  name: string;
  partitions: number;
}

/** How long one metadata answer serves: short enough that a topic created a moment ago appears on the next look. */
export const TOPIC_CATALOG_TTL_MS = 2_000;

export class TopicCatalog {
  private cached: { at: number; topics: TopicInfo[] } | undefined;
  private pending: Promise<TopicInfo[]> | undefined;

  constructor(
    private readonly producer: Pick<GatewayProducer, 'client'>,
    private readonly timeoutMs: number,
    private readonly ttlMs = TOPIC_CATALOG_TTL_MS,
  ) {}

  list(): Promise<TopicInfo[]> {
    if (this.cached && Date.now() - this.cached.at < this.ttlMs) return Promise.resolve(this.cached.topics);
    this.pending ??= new Promise<TopicInfo[]>((resolve, reject) => {
      this.producer.client.getMetadata({ allTopics: true, timeout: this.timeoutMs }, (err, metadata) => {
        this.pending = undefined;
        if (err) {
          reject(new SluiceError('BROKER_UNAVAILABLE', `cannot list topics: ${err.message}`));
          return;
        }
        // Kafka's own topics (`__consumer_offsets`, …) are not for subscribers.
        const topics = metadata.topics
          .filter((t) => !t.name.startsWith('__'))
          .map((t) => ({ name: t.name, partitions: t.partitions.length }))
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        this.cached = { at: Date.now(), topics };
        resolve(topics);
      });
    });
    return this.pending;
  }
}
