/**
 * A durable request's delivery accounting: every record's report is recorded against its request (the
 * request's DurableDelivery is the `opaque` of each of its records, one object per request, not per
 * record), and the last report settles the request with Kafka's partitions and offsets, DELIVERY_FAILED
 * when any failed (TIMESTAMP_REFUSED when the request's own timestamp is why), or DELIVERY_UNCONFIRMED when a
 * report did not prove the write (see provesWrite).
 */
import type { LibrdKafkaError } from '../kafka-client.js';
import { SluiceError } from '../errors.js';
import type { DeliveryResult, PartitionOffsets, ProduceCallback } from './produce-port.js';

/**
 * A success report that does not prove a write: librdkafka acknowledges messages *implicitly* when a later
 * batch of their partition succeeds while theirs had failed or not been answered (`rd_kafka_dr_implicit_ack`,
 * "implicitly acked by subsequent batch success"); such reports carry no offset (RD_KAFKA_OFFSET_INVALID,
 * -1001). On a brand-new partition, whose broker accepts a producer's first batch at any sequence, the
 * earlier batch can be one that was refused and never written (issue #17.1; confluent-kafka-go #921).
 */
export const provesWrite = (offset: number): boolean => offset >= 0;

/**
 * The delivery errors of a batch the broker's record validation refused (KIP-467): a record at fault gets
 * INVALID_RECORD (87), and every other record of the same Kafka batch — which can belong to other, concurrent
 * requests — gets ERR__INVALID_DIFFERENT_RECORD (-138); sometimes every record of the batch gets
 * INVALID_TIMESTAMP (32) instead, which names no culprit (both seen against Kafka 4.1: one request with a
 * far-future timestamp among 20 concurrent ones to the same partition failed most of the others).
 */
const ERR_INVALID_TIMESTAMP = 32;
const ERR_INVALID_RECORD = 87;
const ERR__INVALID_DIFFERENT_RECORD = -138;

/**
 * A request timestamp further than this from the gateway's clock can be why Kafka refused its records; one
 * closer is a device's ordinary clock skew or upload delay, so a refusal then is another request's record
 * in the same batch (retriable) rather than this one's. Far inside Kafka 4's 1 h `message.timestamp.after.max.ms`.
 */
export const IMPLAUSIBLE_TIMESTAMP_SKEW_MS = 60_000;

/** A durable request's delivery bookkeeping, passed to librdkafka as the opaque of each of its records. */
export class DurableDelivery {
  pending: number;
  failed = 0;
  firstError: LibrdKafkaError | null = null;
  /** Failed records Kafka's record validation refused as (possibly) at fault: INVALID_RECORD, INVALID_TIMESTAMP. */
  refused = 0;
  /** Failed records refused only for another record of their batch (ERR__INVALID_DIFFERENT_RECORD). */
  refusedForOthers = 0;
  /** Records reported delivered without an offset (see provesWrite): neither delivered nor failed. */
  unconfirmed = 0;
  /** [partition, count] of the unconfirmed records; only allocated when there are some (rare). */
  unconfirmedByPartition: number[] | null = null;
  /** Set when the request was answered before its last report (produce() failed part-way). */
  answered = false;
  /** [partition, count, lowest offset, highest offset] per partition the records landed in. */
  private readonly ranges: number[] = [];
  private lastRange = 0;
  readonly startedAt = performance.now();

  constructor(
    readonly topic: string,
    readonly count: number,
    readonly done: ProduceCallback,
    private readonly settle: (d: DurableDelivery) => void,
    /** The request's X-Kafka-Timestamp (null: librdkafka stamped the produce time). */
    readonly timestampMs: number | null = null,
  ) {
    this.pending = count;
  }

  record(err: LibrdKafkaError | null, partition: number, offset: number): void {
    if (err) {
      this.failed++;
      this.firstError ??= err;
      if (err.code === ERR_INVALID_RECORD || err.code === ERR_INVALID_TIMESTAMP) this.refused++;
      else if (err.code === ERR__INVALID_DIFFERENT_RECORD) this.refusedForOthers++;
    } else if (!provesWrite(offset)) {
      this.countUnconfirmed(partition);
    } else {
      const r = this.ranges;
      // Consecutive reports mostly share a partition: try the last one first.
      let i = r[this.lastRange] === partition ? this.lastRange : r.length;
      if (i === r.length) for (let j = 0; j < r.length; j += 4) if (r[j] === partition) i = j;
      if (i === r.length) r.push(partition, 1, offset, offset);
      else {
        r[i + 1]++;
        if (offset < r[i + 2]) r[i + 2] = offset;
        if (offset > r[i + 3]) r[i + 3] = offset;
      }
      this.lastRange = i;
    }
    if (--this.pending === 0) this.settle(this);
  }

  private countUnconfirmed(partition: number): void {
    this.unconfirmed++;
    const u = (this.unconfirmedByPartition ??= []);
    for (let j = 0; j < u.length; j += 2)
      if (u[j] === partition) {
        u[j + 1]++;
        return;
      }
    u.push(partition, 1);
  }

  /**
   * The request's answer once every report is in: Kafka's offsets only when every record has a report that
   * proves its write; DELIVERY_FAILED when any failed, or TIMESTAMP_REFUSED (not retriable) when every
   * failure is Kafka's record validation, not all of it for other requests' records, and the request's own
   * timestamp is implausible enough to be why;
   * DELIVERY_UNCONFIRMED when the rest were reported delivered without an offset. `delivered` counts only the
   * records proven written. `nowMs`: the gateway's clock.
   */
  outcome(nowMs = Date.now()): DeliveryResult | SluiceError {
    const delivered = this.count - this.failed - this.unconfirmed;
    const unconfirmed = this.unconfirmed > 0 ? { unconfirmed: this.unconfirmed } : {};
    const ts = this.timestampMs;
    // Every lost record refused by validation, at least one as (possibly) at fault, and a timestamp that can be why.
    const refusedOnly = this.refused > 0 && this.refused + this.refusedForOthers === this.failed;
    if (refusedOnly && ts !== null && Math.abs(ts - nowMs) > IMPLAUSIBLE_TIMESTAMP_SKEW_MS)
      return new SluiceError(
        'TIMESTAMP_REFUSED',
        `Kafka refused ${this.failed} of ${this.count} records (${this.firstError?.message}): X-Kafka-Timestamp ${ts} is ${skew(ts - nowMs)} the gateway's clock, outside what the topic accepts (message.timestamp.after.max.ms / message.timestamp.before.max.ms); the refused records were not written`,
        { delivered, ...unconfirmed },
      );
    if (this.failed > 0)
      return new SluiceError(
        'DELIVERY_FAILED',
        `Kafka did not acknowledge ${this.failed} of ${this.count} records: ${this.firstError?.message}`,
        { delivered, ...unconfirmed },
      );
    if (this.unconfirmed > 0)
      return new SluiceError(
        'DELIVERY_UNCONFIRMED',
        `Kafka reported ${this.unconfirmed} of ${this.count} records delivered without the offset that proves a write (partitions ${this.unconfirmedPartitions().join(', ')}); they may or may not be in Kafka`,
        { delivered, ...unconfirmed },
      );
    return this.result();
  }

  unconfirmedPartitions(): number[] {
    const u = this.unconfirmedByPartition ?? [];
    const out: number[] = [];
    for (let j = 0; j < u.length; j += 2) out.push(u[j]);
    return out;
  }

  result(): DeliveryResult {
    const partitions: PartitionOffsets[] = [];
    const r = this.ranges;
    for (let j = 0; j < r.length; j += 4) partitions.push({ partition: r[j], count: r[j + 1], offsets: [r[j + 2], r[j + 3]] });
    if (partitions.length > 1) partitions.sort((a, b) => a.partition - b.partition);
    return { topic: this.topic, count: this.count, partitions };
  }
}

/** "3 h ahead of", "12 d behind", "31 y ahead of": a timestamp's distance from the gateway's clock, for a person to read. */
function skew(deltaMs: number): string {
  const abs = Math.abs(deltaMs);
  const [unit, unitMs] = SKEW_UNITS.find(([, ms]) => abs >= ms) ?? SKEW_UNITS[SKEW_UNITS.length - 1];
  return `${Math.round(abs / unitMs)} ${unit} ${deltaMs > 0 ? 'ahead of' : 'behind'}`;
}

const SKEW_UNITS: readonly (readonly [string, number])[] = [
  ['y', 365 * 86_400_000],
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['min', 60_000],
];
