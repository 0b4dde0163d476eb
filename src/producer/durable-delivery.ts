/**
 * A durable request's delivery accounting: every record's report is recorded against its request (the
 * request's DurableDelivery is the `opaque` of each of its records, one object per request, not per
 * record), and the last report settles the request with Kafka's partitions and offsets, DELIVERY_FAILED
 * when any failed, or DELIVERY_UNCONFIRMED when a report did not prove the write (see provesWrite).
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

/** A durable request's delivery bookkeeping, passed to librdkafka as the opaque of each of its records. */
export class DurableDelivery {
  pending: number;
  failed = 0;
  firstError: LibrdKafkaError | null = null;
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
  ) {
    this.pending = count;
  }

  record(err: LibrdKafkaError | null, partition: number, offset: number): void {
    if (err) {
      this.failed++;
      this.firstError ??= err;
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
   * proves its write; DELIVERY_FAILED when any failed; DELIVERY_UNCONFIRMED when the rest were reported
   * delivered without an offset. `delivered` counts only the records proven written.
   */
  outcome(): DeliveryResult | SluiceError {
    const delivered = this.count - this.failed - this.unconfirmed;
    const unconfirmed = this.unconfirmed > 0 ? { unconfirmed: this.unconfirmed } : {};
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
