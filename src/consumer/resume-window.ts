/**
 * A topic's resume window: the most recent records its live feed handed over, kept in memory so that a
 * subscriber resuming a little behind the head (a reconnect after a blip or a gateway restart) is served
 * from here — no Kafka consumer, no replay slot — with the same hand-over to live as a replay.
 *
 * Bounded three ways (records, bytes, age since arrival); the oldest records go first. It is exact per
 * partition: `floor[p]` is the lowest offset from which it holds EVERY record of partition p up to the live
 * head `next[p]` (the live feed reads every record, so gaps between offsets are offsets Kafka has no record
 * at: transaction markers, compaction). Evicting record (p, o) moves `floor[p]` to o + 1. A start position
 * is inside the window only when floor[p] ≤ start[p] ≤ next[p] for every partition; anything else (older,
 * ahead of this gateway's feed, a partition the feed does not read) goes to Kafka.
 *
 * It starts empty at the feed's start offsets (the first subscriber of a topic starts its feed at the end),
 * and lives as long as the live feed, idle grace included — the grace is exactly when a reconnect storm
 * comes back. Records are kept as the Message objects the feed read (no copy); their bytes are counted as
 * key + value + headers + a fixed overhead.
 *
 * `from=<time>`: Kafka starts a partition at its first offset whose timestamp is ≥ the time. The window
 * answers that exactly only when it knows no record below `floor[p]` has a timestamp ≥ the time: it tracks
 * the largest timestamp it evicted per partition, and knows nothing of records from before the feed
 * started — so a time is served from memory only on partitions that were empty when the feed started
 * (offset 0), or where the whole answer lies in evicted-record knowledge; otherwise Kafka answers.
 */
import type { Message } from './kafka-reader.js';

/** Per-record overhead counted against the byte bound (the Message object, its offsets and strings). */
export const RECORD_OVERHEAD_BYTES = 64;

export interface ResumeWindowLimits {
  /** Records kept (0: no window). */
  maxRecords: number;
  /** Bytes kept (key + value + headers + RECORD_OVERHEAD_BYTES per record). */
  maxBytes: number;
  /** Records older than this (since they arrived) are dropped. */
  maxAgeMs: number;
}

/** A subscriber's history taken from the window in one synchronous step. */
export interface WindowHistory {
  /** Where the subscriber starts, per partition. */
  start: number[];
  /** The live head when it was taken: history is [start, join); live batches from join on follow. */
  join: number[];
  /** Every record of [start, join), in the order the live feed handed them over. */
  records: Message[];
}

export class ResumeWindow {
  /** Ring of records and their arrival times: [head, records.length) are held. */
  private records: Message[] = [];
  private arrived: number[] = [];
  private head = 0;
  private heldBytes = 0;
  private readonly floor: number[];
  private readonly next: number[];
  /** Per partition: the largest timestamp of a record below floor[p]; +Infinity: unknown (records from before the feed started). */
  private readonly maxTsBelow: number[];

  constructor(
    start: readonly number[],
    private readonly limits: ResumeWindowLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.floor = start.slice();
    this.next = start.slice();
    this.maxTsBelow = start.map((o) => (o === 0 ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY));
  }

  get partitions(): number {
    return this.next.length;
  }

  /** Records held now. */
  get size(): number {
    return this.records.length - this.head;
  }

  /** Bytes held now (as counted against the bound). */
  get bytes(): number {
    return this.heldBytes;
  }

  /** The lowest offset per partition from which every record up to the head is held. */
  oldest(): number[] {
    return this.floor.slice();
  }

  /** The live head per partition (next offset the feed will hand over). */
  headPosition(): number[] {
    return this.next.slice();
  }

  /** A live batch, in the order the feed handed it over; the oldest records go past a bound. */
  append(batch: readonly Message[]): void {
    const t = this.now();
    const keep = this.limits.maxRecords > 0;
    for (const m of batch) {
      const p = m.partition;
      if (p >= this.next.length) continue; // a partition the feed does not read
      this.next[p] = m.offset + 1;
      if (!keep) {
        this.floor[p] = m.offset + 1;
        this.maxTsBelow[p] = Math.max(this.maxTsBelow[p], m.timestamp ?? Number.POSITIVE_INFINITY);
        continue;
      }
      this.records.push(m);
      this.arrived.push(t);
      this.heldBytes += recordBytes(m);
    }
    this.evict(t);
  }

  /** Drops records past the bounds (age measured at `t`). */
  evict(t: number = this.now()): void {
    const { maxRecords, maxBytes, maxAgeMs } = this.limits;
    const oldestKept = t - maxAgeMs;
    while (this.head < this.records.length) {
      const over = this.records.length - this.head > maxRecords || this.heldBytes > maxBytes || this.arrived[this.head] < oldestKept;
      if (!over) break;
      const m = this.records[this.head];
      this.floor[m.partition] = m.offset + 1;
      this.maxTsBelow[m.partition] = Math.max(this.maxTsBelow[m.partition], m.timestamp ?? Number.POSITIVE_INFINITY);
      this.heldBytes -= recordBytes(m);
      this.head++;
    }
    // Compact once the dropped prefix is half the ring: amortised O(1) per record, no per-eviction shift.
    if (this.head > 1024 && this.head * 2 > this.records.length) {
      this.records = this.records.slice(this.head);
      this.arrived = this.arrived.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * The history from `start` (next offset per partition, as in a resume token) to the head, or undefined
   * when some partition's start is not inside the window (older than its oldest held record, ahead of the
   * head, or unknown).
   */
  fromPositions(start: readonly number[]): WindowHistory | undefined {
    this.evict();
    if (start.length < this.next.length) return undefined; // a partition the token does not know: Kafka starts it at its beginning
    const from = start.slice(0, this.next.length);
    for (let p = 0; p < from.length; p++) if (!(from[p] >= this.floor[p] && from[p] <= this.next[p])) return undefined;
    return this.take(from);
  }

  /**
   * The history from the first record of each partition with timestamp ≥ `timestampMs` (what Kafka's
   * offsets-for-times answers), or undefined when the window cannot know that answer for some partition.
   */
  fromTime(timestampMs: number): WindowHistory | undefined {
    this.evict();
    const start = this.next.slice();
    const found = new Array<boolean>(start.length).fill(false);
    for (let i = this.head; i < this.records.length; i++) {
      const m = this.records[i];
      if (!found[m.partition] && (m.timestamp ?? Number.NEGATIVE_INFINITY) >= timestampMs) {
        found[m.partition] = true;
        start[m.partition] = m.offset;
      }
    }
    // Exact only if nothing below the floor could be Kafka's answer instead.
    for (let p = 0; p < start.length; p++) if (!(this.maxTsBelow[p] < timestampMs)) return undefined;
    return this.take(start);
  }

  private take(start: number[]): WindowHistory {
    const records: Message[] = [];
    for (let i = this.head; i < this.records.length; i++) {
      const m = this.records[i];
      if (m.offset >= start[m.partition]) records.push(m);
    }
    return { start, join: this.next.slice(), records };
  }
}

function recordBytes(m: Message): number {
  let n = RECORD_OVERHEAD_BYTES + (m.value?.length ?? 0) + (m.key?.length ?? 0);
  if (m.headers) for (const h of m.headers) for (const k in h) n += k.length + ((h[k] as { length?: number })?.length ?? 0);
  return n;
}
