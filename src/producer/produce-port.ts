/**
 * What the HTTP side needs from the producer side, whichever thread each runs in: submit one request's
 * validated records, get Kafka's answer. `LocalProducePort` calls the producer directly (ingress on the
 * main thread); the worker-thread ingress uses a port that batches submissions to the main thread.
 */
import type { DecodedRecords } from '../decode/json-records.js';
import type { DeliveryResult } from './delivery-result.js';

export interface ProduceSubmission {
  topic: string;
  records: DecodedRecords;
  /** Key for every record (the `key` query parameter); overrides per-record keys. */
  key: string | null;
  /** Kafka headers as [name, value] pairs, the same for every record of the request. */
  headers: [string, string][] | null;
  durable: boolean;
  /** Kafka CreateTime of every record (epoch ms, `X-Kafka-Timestamp`); absent or null: the producer's clock. */
  timestampMs?: number | null;
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
}
