/**
 * Queue semantics for `group=<id>`: one Kafka consumer-group member per (topic, group) in this gateway,
 * whose records are dealt round-robin to the group's subscribers here, each record to one of them. Offsets
 * are committed only once every record of a batch was handed to a socket (acknowledged by the socket's
 * thread), in batch order. A record whose subscriber left before it was handed goes to another member;
 * when none is left it waits for the next member to join, and if the feed stops first it stays
 * uncommitted, so the group's next consumer reads it again (at-least-once). Other gateways with the same
 * group share the topic's partitions through Kafka.
 *
 * GroupPool owns the feeds: a subscription holds a GroupLease from before its upgrade (the bound on groups
 * and the consumer's start are checked there, so refusals are HTTP answers) and becomes a dealt-to member
 * only once its socket exists. The last lease given back stops the feed.
 */
import type { Logger } from 'pino';
import type { FanoutReader, Message, PartitionOffset, ReaderFactory } from './kafka-reader.js';
import { encodeFields } from '../subscription/frame-encoder.js';
import { SluiceError } from '../errors.js';
import { once } from './consumer-pool.js';

export interface GroupMember {
  /** Sends records (their fields, see frame-encoder.ts) to the member, framed in its style; resolves with true once handed to its socket, false if it is gone. */
  deliver(fields: string[]): Promise<boolean>;
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
  /** Shares whose member left when no other member was there to take them: the next member to join gets them. */
  private readonly orphans: { batch: Batch; fields: string[] }[] = [];
  private roomWaiter: (() => void) | undefined;
  private memberWaiter: (() => void) | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  readonly ready: Promise<void>;

  constructor(
    private readonly topic: string,
    private readonly reader: FanoutReader,
    connectTimeoutMs: number,
    private readonly log: Logger,
  ) {
    this.ready = reader.connect(connectTimeoutMs).then(() => reader.startSubscribed((records) => this.onBatch(records)));
  }

  /** Members records are dealt to. */
  get size(): number {
    return this.members.length;
  }

  add(member: GroupMember): void {
    if (this.stopped) return;
    this.members.push(member);
    for (const { batch, fields } of this.orphans.splice(0)) {
      this.hand(batch, member, fields);
      this.settle(batch); // the orphaned share's count, now carried by the new hand-over
    }
    this.memberWaiter?.();
  }

  remove(member: GroupMember): void {
    const i = this.members.indexOf(member);
    if (i >= 0) this.members.splice(i, 1);
  }

  /** Idempotent; resolves once the consumer is disconnected. */
  stop(): Promise<void> {
    this.stopped = true;
    this.roomWaiter?.();
    this.memberWaiter?.();
    this.stopping ??= this.reader.stop();
    return this.stopping;
  }

  private async onBatch(records: Message[]): Promise<void> {
    if (records.length === 0 || this.stopped) return;
    while (this.members.length === 0 && !this.stopped) await new Promise<void>((r) => (this.memberWaiter = r));
    if (this.stopped) return;
    const batch: Batch = { next: new Map(), outstanding: 0 };
    // Deal the records round-robin; each member gets its share as one delivery.
    const shares = new Map<GroupMember, string[]>();
    for (const m of records) {
      batch.next.set(m.partition, Math.max(batch.next.get(m.partition) ?? 0, m.offset + 1));
      const member = this.members[this.turn++ % this.members.length];
      let share = shares.get(member);
      if (!share) shares.set(member, (share = []));
      share.push(encodeFields(m));
    }
    this.inFlight.push(batch);
    for (const [member, fields] of shares) this.hand(batch, member, fields);
    while (this.inFlight.length >= MAX_BATCHES_IN_FLIGHT && !this.stopped) await new Promise<void>((r) => (this.roomWaiter = r));
  }

  private hand(batch: Batch, member: GroupMember, fields: string[]): void {
    batch.outstanding++;
    void member.deliver(fields).then((handed) => {
      if (handed) return this.settle(batch);
      if (this.stopped) return; // not committed: the group's next consumer reads these again
      const other = this.members.find((m) => m !== member);
      if (!other) {
        this.log.info({ topic: this.topic }, 'group member left with records not handed; they wait for the next member');
        this.orphans.push({ batch, fields });
        return;
      }
      this.hand(batch, other, fields);
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

export interface GroupLease {
  readonly feed: GroupFeed;
  /** Gives the lease back (and leaves the feed's members, if it had joined); the last one stops the feed. Idempotent. */
  release(): void;
}

interface PooledGroup {
  key: string;
  feed: GroupFeed;
  leases: number;
}

export interface GroupPoolOptions {
  maxGroups: number;
  groupIdPrefix: string;
  /** Bounds a group consumer's connect (SLUICE_METADATA_TIMEOUT_MS). */
  connectTimeoutMs: number;
}

export class GroupPool {
  private readonly groups = new Map<string, PooledGroup>();
  private closed = false;

  constructor(
    private readonly newReader: ReaderFactory,
    private readonly opts: GroupPoolOptions,
    private readonly log: Logger,
  ) {}

  /** (topic, group) pairs with a consumer here. */
  get size(): number {
    return this.groups.size;
  }

  /** Members dealt to, over every group. */
  get members(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.feed.size;
    return n;
  }

  /** Takes a lease on the group's feed now, starting it if needed; throws OVERLOADED past SLUICE_MAX_GROUPS. */
  acquire(topic: string, group: string, startAt: 'earliest' | 'latest'): GroupLease {
    if (this.closed) throw new SluiceError('SHUTTING_DOWN', 'server shutting down');
    const key = `${topic}\n${group}`;
    let pooled = this.groups.get(key);
    if (!pooled) {
      if (this.groups.size >= this.opts.maxGroups) {
        throw new SluiceError('OVERLOADED', `${this.groups.size} consumer groups have members here (SLUICE_MAX_GROUPS); retry later`, {
          limit: 'SLUICE_MAX_GROUPS',
        });
      }
      const reader = this.newReader({
        role: 'group',
        topic,
        clientId: `sluice-group-${group}`,
        groupId: `${this.opts.groupIdPrefix}${group}`,
        // Where a group without commits starts; a group with commits resumes from them.
        overrides: { 'enable.auto.commit': false, 'enable.auto.offset.store': false, 'auto.offset.reset': startAt },
      });
      const created: PooledGroup = { key, feed: new GroupFeed(topic, reader, this.opts.connectTimeoutMs, this.log), leases: 0 };
      pooled = created;
      this.groups.set(key, created);
      created.feed.ready.catch((err: Error) => {
        this.log.error({ topic, group, err: err.message }, 'group consumer failed to start');
        this.drop(created);
      });
    }
    pooled.leases++;
    const held = pooled;
    return {
      feed: held.feed,
      release: once(() => {
        if (--held.leases === 0) this.drop(held);
      }),
    };
  }

  private drop(pooled: PooledGroup): void {
    if (this.groups.get(pooled.key) === pooled) this.groups.delete(pooled.key);
    void pooled.feed.stop();
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    const all = [...this.groups.values()];
    this.groups.clear();
    await Promise.all(all.map((g) => g.feed.stop()));
  }
}
