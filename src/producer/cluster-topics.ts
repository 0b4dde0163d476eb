/**
 * The four questions the topic registry asks the Kafka cluster, answered over the gateway producer's
 * librdkafka handle: describe a topic (Admin API; never creates it), whether every partition's leader
 * serves it (ListOffsets), create one (Admin API), and ask for a topic's metadata the way a producer does
 * (which makes a cluster with `auto.create.topics.enable=true` create it). An interface so that the registry's deadline and learning logic is unit-tested against a
 * scripted cluster (`topic-registry.test.ts`) as well as against real brokers (`test/topic-creation.test.ts`).
 *
 * What librdkafka through @confluentinc/kafka-javascript 1.10.1 does not tell us: the Admin client has no
 * DescribeConfigs (so the brokers' `auto.create.topics.enable` cannot be read), and `getMetadata()` drops the
 * per-topic error code, so LEADER_NOT_AVAILABLE (being auto-created) and UNKNOWN_TOPIC_OR_PART (absent, not
 * created) look the same: an empty topic list. `describeTopics` keeps the code but asks with auto-creation off,
 * and answers UNKNOWN_TOPIC_OR_PART for a topic whose creation is under way until the broker has it (checked
 * against Kafka 4.1.1: 20 concurrent auto-creations took 150–800 ms to appear).
 */
import { AdminClient, OffsetSpec, type IAdminClient } from '../kafka-client.js';
import type { GatewayProducer } from './gateway-producer.js';
import { SluiceError } from '../errors.js';

const LEADER_NOT_AVAILABLE = 5;
const UNKNOWN_TOPIC_OR_PART = 3;
const TOPIC_ALREADY_EXISTS = 36;

/** A topic as the cluster describes it; `null` when the cluster does not know it. */
export type TopicState = {
  partitions: number;
  /** Every partition has a leader in the metadata (which alone does not mean the leader serves it: see `serves`). */
  leadersElected: boolean;
} | null;

export interface NewTopicSpec {
  topic: string;
  partitions: number;
  /** -1: the broker's default. */
  replicationFactor: number;
}

export interface ClusterTopics {
  /** False while the producer reaches no broker. */
  readonly reachable: boolean;
  /** Throws BROKER_UNAVAILABLE when the cluster does not answer within the timeout. */
  describe(topic: string, timeoutMs: number): Promise<TopicState>;
  /**
   * Whether the leader of every partition 0..partitions-1 answers a ListOffsets for it without error. A
   * KRaft broker publishes a new topic's leaders in its metadata before its replica manager has created the
   * partitions; a produce in that gap fails (NOT_LEADER_OR_FOLLOWER), and a later batch of the same
   * partition succeeding makes librdkafka acknowledge the failed one implicitly, with no offset (#17.1).
   * A leader that answers ListOffsets for the partition has created it. Never throws: no answer is false.
   */
  serves(topic: string, partitions: number, timeoutMs: number): Promise<boolean>;
  /**
   * Asks for the topic's metadata with auto-creation allowed (the producer's `allow.auto.create.topics`,
   * true by default): a cluster that creates topics starts creating it. Resolves once answered or timed out;
   * the answer says nothing (see above), so it never throws.
   */
  requestAutoCreate(topic: string, timeoutMs: number): Promise<void>;
  /** Creates the topic; `exists` when it already did. Throws BROKER_UNAVAILABLE when the cluster refuses. */
  create(spec: NewTopicSpec, timeoutMs: number): Promise<'created' | 'exists'>;
}

export class ProducerClusterTopics implements ClusterTopics {
  private admin: IAdminClient | undefined;

  constructor(private readonly producer: GatewayProducer) {}

  get reachable(): boolean {
    return this.producer.ready;
  }

  describe(topic: string, timeoutMs: number): Promise<TopicState> {
    return new Promise((resolve, reject) => {
      this.adminClient().describeTopics([topic], { timeout: timeoutMs }, (err, descriptions) => {
        if (err) {
          reject(new SluiceError('BROKER_UNAVAILABLE', `cannot look up topic "${topic}": ${err.message}`));
          return;
        }
        const d = descriptions[0];
        if (d.error?.code === UNKNOWN_TOPIC_OR_PART) resolve(null);
        // The topic is known but has no leaders yet: it is being created (or every replica is down).
        else if (d.error?.code === LEADER_NOT_AVAILABLE) resolve({ partitions: d.partitions.length, leadersElected: false });
        else if (d.error) reject(new SluiceError('BROKER_UNAVAILABLE', `cannot look up topic "${topic}": ${d.error.message}`));
        else resolve({ partitions: d.partitions.length, leadersElected: d.partitions.length > 0 && d.partitions.every((p) => p.leader) });
      });
    });
  }

  serves(topic: string, partitions: number, timeoutMs: number): Promise<boolean> {
    const asked = Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: OffsetSpec.LATEST }));
    return new Promise((resolve) => {
      try {
        this.adminClient().listOffsets(asked, { timeout: timeoutMs }, (err, answers) => {
          resolve(!err && answers.length === partitions && answers.every((a) => !a.error && a.offset >= 0));
        });
      } catch {
        resolve(false); // the client is closing
      }
    });
  }

  requestAutoCreate(topic: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => this.producer.client.getMetadata({ topic, timeout: timeoutMs }, () => resolve()));
  }

  create(spec: NewTopicSpec, timeoutMs: number): Promise<'created' | 'exists'> {
    const newTopic = { topic: spec.topic, num_partitions: spec.partitions, replication_factor: spec.replicationFactor };
    return new Promise((resolve, reject) => {
      this.adminClient().createTopic(newTopic, timeoutMs, (err) => {
        if (!err) resolve('created');
        else if (err.code === TOPIC_ALREADY_EXISTS) resolve('exists');
        else reject(new SluiceError('BROKER_UNAVAILABLE', `cannot create topic "${spec.topic}": ${err.message}`));
      });
    });
  }

  private adminClient(): IAdminClient {
    this.admin ??= AdminClient.createFrom(this.producer.client);
    return this.admin;
  }
}
