/**
 * Queue semantics for `group=<id>`: one Kafka consumer-group member per (topic, group) in this gateway,
 * whose records are dealt round-robin to the group's subscribers here, each record to one of them. Offsets
 * are committed only once every record of a batch was handed to a socket (acknowledged by the socket's
 * thread), in batch order; a record whose subscriber left before it was handed goes to another member, and
 * when none is left the feed stops without committing it, so the group's next member reads it again
 * (at-least-once). Other gateways with the same group share the topic's partitions through Kafka.
 */
import type { Logger } from 'pino';
import type { KafkaReader, Message, PartitionOffset } from './kafka-reader.js';
import { encodeEnvelope } from '../fanout/frame-encoder.js';

export interface GroupMember {
  /** Sends frames to the member; resolves with true once handed to its socket, false if it is gone. */
  deliver(frames: string[]): Promise<boolean>;
}

interface Batch {
  next: Map<number, number>;
  outstanding: number;
}

const MAX_BATCHES_IN_FLIGHT = 4;

export class GroupFeed {
  private readonly members: GroupMember[] = [];
  private turn = 0;
  private readonly inFlight: Batch[] = [];
  private roomWaiter: (() => void) | undefined;
  private memberWaiter: (() => void) | undefined;
  private stopped = false;
  readonly ready: Promise<void>;

  constructor(private readonly topic: string, private readonly reader: KafkaReader, timeoutMs: number, private readonly log: Logger) {
    this.ready = reader.connect(timeoutMs).then(() => reader.startSubscribed((records) => this.onBatch(records)));
  }

  get size(): number {
    return this.members.length;
  }

  add(member: GroupMember): void {
    this.members.push(member);
    this.memberWaiter?.();
  }

  /** Removes a member; returns true when it was the last one (the caller stops the feed). */
  remove(member: GroupMember): boolean {
    const i = this.members.indexOf(member);
    if (i >= 0) this.members.splice(i, 1);
    return this.members.length === 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.roomWaiter?.();
    this.memberWaiter?.();
    await this.reader.stop();
  }

  private async onBatch(records: Message[]): Promise<void> {
    if (records.length === 0 || this.stopped) return;
    const topicJson = JSON.stringify(this.topic);
    const batch: Batch = { next: new Map(), outstanding: 0 };
    // Deal the records round-robin; each member gets its share as one delivery.
    const shares = new Map<GroupMember, string[]>();
    while (this.members.length === 0 && !this.stopped) await new Promise<void>((r) => (this.memberWaiter = r));
    if (this.stopped) return;
    for (const m of records) {
      batch.next.set(m.partition, Math.max(batch.next.get(m.partition) ?? 0, m.offset + 1));
      const member = this.members[this.turn++ % this.members.length];
      let share = shares.get(member);
      if (!share) shares.set(member, (share = []));
      share.push(encodeEnvelope(m, topicJson));
    }
    this.inFlight.push(batch);
    for (const [member, frames] of shares) this.hand(batch, member, frames);
    while (this.inFlight.length >= MAX_BATCHES_IN_FLIGHT && !this.stopped) await new Promise<void>((r) => (this.roomWaiter = r));
  }

  private hand(batch: Batch, member: GroupMember, frames: string[]): void {
    batch.outstanding++;
    void member.deliver(frames).then((handed) => {
      if (!handed) {
        const other = this.members.find((m) => m !== member);
        if (other && !this.stopped) {
          this.hand(batch, other, frames);
          this.settle(batch);
          return;
        }
        // Nobody left: stop without committing, so the group's next member reads these again.
        this.log.info({ topic: this.topic }, 'group member left with records not handed; they stay uncommitted');
        return;
      }
      this.settle(batch);
    });
  }

  private settle(batch: Batch): void {
    batch.outstanding--;
    const commit: PartitionOffset[] = [];
    while (this.inFlight.length > 0 && this.inFlight[0].outstanding === 0) {
      const done = this.inFlight.shift()!;
      for (const [partition, offset] of done.next) commit.push({ partition, offset });
    }
    if (commit.length > 0 && !this.stopped) this.reader.commit(commit);
    if (this.inFlight.length < MAX_BATCHES_IN_FLIGHT) this.roomWaiter?.();
  }
}
