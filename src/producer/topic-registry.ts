/**
 * Knows which topics exist, so that a request for an unknown topic gets 404 at once instead of waiting
 * for librdkafka's message timeout. Lookups are cached (positive for the process lifetime, negative for a
 * few seconds) and de-duplicated while in flight, so the hot path is one Map lookup.
 *
 * Unknown topic: if Sluice is configured to create topics, it creates it through the Admin API;
 * otherwise it asks for the topic's metadata with the producer (which makes a cluster with
 * `auto.create.topics.enable=true` create it) and waits briefly for the topic to appear.
 */
import type { Logger } from 'pino';
import { AdminClient, type IAdminClient } from '../kafka-client.js';
import type { GatewayProducer } from './gateway-producer.js';
import { SluiceError } from '../errors.js';
import { assertLegalTopicName } from '../decode/topic-name.js';

const UNKNOWN_TOPIC_OR_PART = 3;
const TOPIC_ALREADY_EXISTS = 36;
const NEGATIVE_CACHE_MS = 3000;
/** How long a topic being auto-created may take to appear (a single node needs ~100 ms). */
const AUTO_CREATE_WAIT_MS = 2000;

export interface TopicRegistryOptions {
  createTopics: boolean;
  createTopicPartitions: number;
  createTopicReplicationFactor: number;
  metadataTimeoutMs: number;
}

interface TopicDescription { partitions: number }

export class TopicRegistry {
  private readonly known = new Map<string, TopicDescription>();
  private readonly missingUntil = new Map<string, number>();
  private readonly lookups = new Map<string, Promise<TopicDescription>>();
  private admin: IAdminClient | undefined;

  constructor(
    private readonly producer: GatewayProducer,
    private readonly opts: TopicRegistryOptions,
    private readonly log: Logger,
  ) {}

  /** Resolves with the topic's partition count, or throws TOPIC_NOT_FOUND / BROKER_UNAVAILABLE. */
  ensure(topic: string): TopicDescription | Promise<TopicDescription> {
    const hit = this.known.get(topic);
    if (hit) return hit;
    assertLegalTopicName(topic);
    const missing = this.missingUntil.get(topic);
    if (missing !== undefined && missing > Date.now()) throw notFound(topic);
    if (!this.producer.ready) throw new SluiceError('BROKER_UNAVAILABLE', 'no Kafka broker is reachable');
    let pending = this.lookups.get(topic);
    if (!pending) {
      pending = this.lookup(topic).finally(() => this.lookups.delete(topic));
      this.lookups.set(topic, pending);
    }
    return pending;
  }

  private async lookup(topic: string): Promise<TopicDescription> {
    let desc = await this.describe(topic);
    if (!desc && this.opts.createTopics) {
      await this.create(topic);
      desc = await this.waitForTopic(topic);
    } else if (!desc) {
      // Metadata for the topic through the producer lets a cluster with auto-create make it.
      await new Promise<void>((res) => this.producer.client.getMetadata({ topic, timeout: this.opts.metadataTimeoutMs }, () => res()));
      desc = await this.waitForTopic(topic);
    }
    if (!desc) {
      this.missingUntil.set(topic, Date.now() + NEGATIVE_CACHE_MS);
      throw notFound(topic);
    }
    this.missingUntil.delete(topic);
    this.known.set(topic, desc);
    return desc;
  }

  /** Polls for a topic that is being created (auto-create or Admin API) until it has partitions. */
  private async waitForTopic(topic: string): Promise<TopicDescription | null> {
    const deadline = Date.now() + Math.min(this.opts.metadataTimeoutMs, AUTO_CREATE_WAIT_MS);
    let delay = 25;
    while (true) {
      // Producing or subscribing before every new partition has a leader races the election.
      const desc = await this.describe(topic, true);
      if (desc || Date.now() > deadline) return desc;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 400);
    }
  }

  private adminClient(): IAdminClient {
    this.admin ??= AdminClient.createFrom(this.producer.client);
    return this.admin;
  }

  private describe(topic: string, requireLeaders = false): Promise<TopicDescription | null> {
    return new Promise((resolve, reject) => {
      this.adminClient().describeTopics([topic], { timeout: this.opts.metadataTimeoutMs }, (err, descriptions) => {
        if (err) {
          reject(new SluiceError('BROKER_UNAVAILABLE', `cannot look up topic "${topic}": ${err.message}`));
          return;
        }
        const d = descriptions[0];
        if (d.error && d.error.code === UNKNOWN_TOPIC_OR_PART) resolve(null);
        else if (d.error) reject(new SluiceError('BROKER_UNAVAILABLE', `cannot look up topic "${topic}": ${d.error.message}`));
        // A topic is ready once it has partitions and, when just created, a leader for each of them.
        else resolve(d.partitions.length > 0 && (!requireLeaders || d.partitions.every((p) => p.leader)) ? { partitions: d.partitions.length } : null);
      });
    });
  }

  private create(topic: string): Promise<void> {
    const spec = { topic, num_partitions: this.opts.createTopicPartitions, replication_factor: this.opts.createTopicReplicationFactor };
    return new Promise((resolve, reject) => {
      this.adminClient().createTopic(spec, this.opts.metadataTimeoutMs, (err) => {
        if (err && err.code !== TOPIC_ALREADY_EXISTS) {
          reject(new SluiceError('BROKER_UNAVAILABLE', `cannot create topic "${topic}": ${err.message}`));
          return;
        }
        if (!err) this.log.info(spec, 'created topic');
        resolve();
      });
    });
  }
}

function notFound(topic: string): SluiceError {
  return new SluiceError('TOPIC_NOT_FOUND', `topic "${topic}" does not exist and the cluster does not create topics on first use`);
}
