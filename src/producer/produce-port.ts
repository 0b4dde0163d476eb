/**
 * What the HTTP side needs from the producer side, whichever thread each runs in: submit one request's
 * validated records, get Kafka's answer. `LocalProducePort` calls the producer directly (ingress on the
 * main thread); the worker-thread ingress uses a port that batches submissions to the main thread.
 *
 * The one definition of a produce request and its answer: the producer's `ProduceRequest` and the
 * thread protocol's `ProduceDescriptor` are derived from `ProduceSubmission`.
 */
import type { DecodedRecords } from '../decode/json-records.js';
import type { TopicInfo } from './topic-catalog.js';

/** The answer to a produce request, as it crosses threads and reaches the client. */
export interface PartitionOffsets {
  partition: number;
  count: number;
  /** Lowest and highest offset Kafka assigned to this request's records in the partition. */
  offsets: [number, number];
}

export interface DeliveryResult {
  topic: string;
  count: number;
  partitions: PartitionOffsets[];
}

export interface ProduceSubmission {
  topic: string;
  records: DecodedRecords;
  /** Key for every record (the `key` query parameter); overrides per-record keys. */
  key: string | null;
  /** Kafka headers as [name, value] pairs, the same for every record of the request. */
  headers: [string, string][] | null;
  durable: boolean;
  /** Kafka CreateTime of every record (epoch ms, `X-Kafka-Timestamp`); null: the producer's clock. */
  timestampMs: number | null;
}

/**
 * Kafka's answer (durable) or "queued" (fire), or an error (a SluiceError, or anything else, which
 * answers 500). Called exactly once, and may be called before `submit` returns: a refusal, and the fire
 * answer on the producer's thread, are synchronous. A callback rather than a Promise: a single-record
 * request would otherwise pay for several promises and microtask turns on the hot path.
 */
export type ProduceCallback = (err: Error | null, result: DeliveryResult | null) => void;

export interface ProducePort {
  submit(submission: ProduceSubmission, done: ProduceCallback): void;
  /** The cluster's topics with their partition counts (`GET /topics`); rejects with BROKER_UNAVAILABLE. */
  listTopics(): Promise<TopicInfo[]>;
}
