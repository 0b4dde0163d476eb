/**
 * Fakes for the Kafka side's unit tests: a tiny in-memory cluster, readers that implement FanoutReader on
 * it, a topic lookup and a recording hub. Every asynchronous step (connect, watermarks, offsets for a time,
 * each read, disconnect, topic lookup, each ack from the hub) waits in one Scheduler until the test resolves
 * it, so a test can run any interleaving and close a subscription at every await point.
 * Integration tests never use these: they run against a real broker.
 */
import type {
  BatchSink,
  FanoutReader,
  LiveReader,
  LiveReaderSpec,
  Message,
  PartitionOffset,
  ReaderFactory,
  ReaderSpec,
  TopicPartitionOffset,
} from '../../src/consumer/kafka-reader.js';
import type { FanoutGate, HubPort } from '../../src/subscription/protocol.js';
import type { PlainError } from '../../src/errors.js';
import { SluiceError } from '../../src/errors.js';

interface Pending {
  label: string;
  resolve(): void;
  reject(err: Error): void;
}

export class Scheduler {
  readonly pending: Pending[] = [];

  /** A step that completes with `value()` (evaluated when resolved) once the test resolves it. */
  defer<T>(label: string, value: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        label,
        resolve: () => {
          try {
            resolve(value());
          } catch (err) {
            reject(err as Error);
          }
        },
        reject,
      });
    });
  }

  labels(): string[] {
    return this.pending.map((p) => p.label);
  }

  /** Resolves (or fails) the i-th pending step, then lets every consequence run. */
  async step(i = 0, fail = false): Promise<void> {
    const [p] = this.pending.splice(i, 1);
    if (!p) return;
    if (fail) p.reject(new SluiceError('BROKER_UNAVAILABLE', `fake failure of ${p.label}`));
    else p.resolve();
    await settle();
  }

  /** Lets every step that ends by itself end, and each polling read run a few rounds (feeds catch up). */
  async quiesce(polling: (label: string) => boolean, rounds = 5): Promise<void> {
    for (let r = 0; r < rounds; r++) {
      await this.drain(20_000, polling);
      const reads = this.pending.filter((p) => polling(p.label));
      for (const read of reads) {
        const i = this.pending.indexOf(read);
        if (i >= 0) await this.step(i);
      }
    }
    await this.drain(20_000, polling);
  }

  /** Resolves steps in order until none is left (bounded: a read loop of a live feed never ends by itself). */
  async drain(max = 10_000, skip: (label: string) => boolean = () => false): Promise<void> {
    for (let n = 0; n < max; n++) {
      await settle(); // what the last call set in motion may still be on its way to its next step
      const i = this.pending.findIndex((p) => !skip(p.label));
      if (i < 0) return;
      await this.step(i);
    }
    throw new Error(`scheduler still busy after ${max} steps: ${this.labels().join(', ')}`);
  }
}

/** Lets queued promise callbacks and immediates run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

export class FakeCluster {
  readonly topics = new Map<string, Message[][]>();
  readonly commits = new Map<string, Map<number, number>>();
  readonly readers: FakeReader[] = [];
  readonly liveReaders: FakeLiveReader[] = [];
  /** Topics whose partitions the live consumer refuses to assign (as librdkafka may). */
  readonly refuseAssign = new Set<string>();
  private clock = 1_000_000;

  constructor(readonly sched: Scheduler) {}

  createTopic(topic: string, partitions: number): void {
    if (!this.topics.has(topic))
      this.topics.set(
        topic,
        Array.from({ length: partitions }, () => []),
      );
  }

  /** Appends records round-robin over the partitions (value `{"n":i}`), each 1 ms after the previous. */
  append(topic: string, count: number): void {
    const parts = this.topics.get(topic)!;
    for (let i = 0; i < count; i++) {
      const partition = i % parts.length;
      const offset = parts[partition].length;
      parts[partition].push({
        topic,
        partition,
        offset,
        timestamp: this.clock++,
        key: null,
        value: Buffer.from(`{"n":${offset}}`),
        size: 8,
      });
    }
  }

  newReader: ReaderFactory = Object.assign(
    (spec: ReaderSpec) => {
      const r = new FakeReader(this, spec);
      this.readers.push(r);
      return r;
    },
    {
      live: (spec: LiveReaderSpec) => {
        const r = new FakeLiveReader(this, spec);
        this.liveReaders.push(r);
        return r;
      },
      partitionFetchBytes: 1 << 20,
    },
  );

  /** Readers created and not yet fully stopped, by role. */
  openReaders(): Record<ReaderSpec['role'], number> {
    const out = { live: 0, replay: 0, group: 0 };
    for (const r of this.readers) if (!r.disconnected) out[r.spec.role]++;
    for (const r of this.liveReaders) if (!r.disconnected) out.live++;
    return out;
  }

  /** Partitions per topic the live consumers have assigned (over every live reader not yet disconnected). */
  liveAssigned(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.liveReaders)
      if (!r.disconnected) for (const k of r.assigned.keys()) out.set(k.split('/')[0], (out.get(k.split('/')[0]) ?? 0) + 1);
    return out;
  }
}

export class FakeReader implements FanoutReader {
  disconnected = false;
  private stopped = false;
  private positionsByPartition = new Map<number, number>();
  private paused = new Set<number>();
  private loop: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private connecting: Promise<void> | undefined;

  constructor(
    private readonly cluster: FakeCluster,
    readonly spec: ReaderSpec,
  ) {}

  private get parts(): Message[][] {
    const parts = this.cluster.topics.get(this.spec.topic);
    if (!parts) throw new SluiceError('BROKER_UNAVAILABLE', `no topic ${this.spec.topic}`);
    return parts;
  }

  connect(): Promise<void> {
    this.connecting = this.cluster.sched.defer(`${this.spec.role}:connect`, () => undefined);
    return this.connecting;
  }

  watermarks(partitions: number): Promise<{ low: number; high: number }[]> {
    return this.cluster.sched.defer(`${this.spec.role}:watermarks`, () =>
      this.parts.slice(0, partitions).map((p) => ({ low: 0, high: p.length })),
    );
  }

  offsetsForTimes(timestampMs: number, partitions: number): Promise<number[]> {
    return this.cluster.sched.defer(`${this.spec.role}:offsetsForTimes`, () =>
      this.parts.slice(0, partitions).map((p) => {
        const i = p.findIndex((m) => (m.timestamp ?? 0) >= timestampMs);
        return i < 0 ? -1 : i;
      }),
    );
  }

  startAssigned(assignment: PartitionOffset[], sink: BatchSink): void {
    if (this.stopped) return;
    for (const a of assignment) this.positionsByPartition.set(a.partition, a.offset);
    this.loop = this.readLoop(sink);
  }

  startSubscribed(sink: BatchSink): void {
    if (this.stopped) return;
    const committed = this.cluster.commits.get(this.spec.groupId);
    const reset = this.spec.overrides?.['auto.offset.reset'];
    this.parts.forEach((p, partition) => {
      this.positionsByPartition.set(partition, committed?.get(partition) ?? (reset === 'earliest' ? 0 : p.length));
    });
    this.loop = this.readLoop(sink);
  }

  positions(partitions: number[]): Map<number, number> {
    return new Map(partitions.map((p) => [p, this.positionsByPartition.get(p) ?? -1001]));
  }

  pause(partitions: number[]): void {
    for (const p of partitions) this.paused.add(p);
  }

  commit(offsets: PartitionOffset[]): void {
    const c = this.cluster.commits.get(this.spec.groupId) ?? new Map<number, number>();
    for (const o of offsets) c.set(o.partition, o.offset);
    this.cluster.commits.set(this.spec.groupId, c);
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.stopping ??= (async () => {
      await this.loop;
      await this.connecting?.catch(() => {});
      await this.cluster.sched.defer(`${this.spec.role}:disconnect`, () => undefined);
      this.disconnected = true;
    })();
    return this.stopping;
  }

  /** Like KafkaReader: one read in flight at a time; a stop ends the loop after it without calling the sink. */
  private async readLoop(sink: BatchSink): Promise<void> {
    while (!this.stopped) {
      const batch = await this.cluster.sched.defer(`${this.spec.role}:read`, () => this.take(this.spec.batchMax ?? 1000));
      if (this.stopped) break;
      const pending = sink(batch);
      if (pending) await pending;
    }
  }

  private take(max: number): Message[] {
    const out: Message[] = [];
    for (const [partition, next] of this.positionsByPartition) {
      if (this.paused.has(partition)) continue;
      const records = this.parts[partition].slice(next, next + max - out.length);
      out.push(...records);
      this.positionsByPartition.set(partition, next + records.length);
    }
    return out;
  }
}

/** The shared live consumer on the fake cluster: partitions of any topic come and go while it reads. */
export class FakeLiveReader implements LiveReader {
  disconnected = false;
  /** `topic/partition` → next offset. */
  readonly assigned = new Map<string, number>();
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private connecting: Promise<void> | undefined;

  constructor(
    private readonly cluster: FakeCluster,
    readonly spec: LiveReaderSpec,
  ) {}

  connect(): Promise<void> {
    if (this.stopped) return Promise.reject(new SluiceError('SHUTTING_DOWN', 'stopped before it connected'));
    this.connecting = this.cluster.sched.defer('live:connect', () => undefined);
    return this.connecting;
  }

  watermarks(topic: string, partitions: number): Promise<{ low: number; high: number }[]> {
    return this.cluster.sched.defer('live:watermarks', () => {
      const parts = this.cluster.topics.get(topic);
      if (!parts) throw new SluiceError('BROKER_UNAVAILABLE', `no topic ${topic}`);
      return parts.slice(0, partitions).map((p) => ({ low: 0, high: p.length }));
    });
  }

  assign(add: TopicPartitionOffset[]): void {
    for (const a of add) if (this.cluster.refuseAssign.has(a.topic)) throw new Error(`assignment of ${a.topic} refused`);
    for (const a of add) this.assigned.set(`${a.topic}/${a.partition}`, a.offset);
  }

  unassign(remove: TopicPartitionOffset[]): void {
    for (const r of remove) this.assigned.delete(`${r.topic}/${r.partition}`);
  }

  start(sink: BatchSink): void {
    if (this.stopped) return;
    this.loop = (async () => {
      while (!this.stopped) {
        const batch = await this.cluster.sched.defer('live:read', () => this.take(1000));
        if (this.stopped) break;
        const pending = sink(batch);
        if (pending) await pending;
      }
    })();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.stopping ??= (async () => {
      await this.loop;
      await this.connecting?.catch(() => {});
      await this.cluster.sched.defer('live:disconnect', () => undefined);
      this.disconnected = true;
    })();
    return this.stopping;
  }

  private take(max: number): Message[] {
    const out: Message[] = [];
    for (const [key, next] of this.assigned) {
      const slash = key.lastIndexOf('/');
      const records = (this.cluster.topics.get(key.slice(0, slash))?.[Number(key.slice(slash + 1))] ?? []).slice(
        next,
        next + max - out.length,
      );
      out.push(...records);
      this.assigned.set(key, next + records.length);
    }
    return out;
  }
}

export class FakeTopics {
  constructor(
    private readonly cluster: FakeCluster,
    private readonly partitions = 2,
  ) {}

  ensure(topic: string): Promise<{ partitions: number }> {
    return this.cluster.sched.defer('ensure', () => {
      this.cluster.createTopic(topic, this.partitions);
      return { partitions: this.cluster.topics.get(topic)!.length };
    });
  }

  find(topic: string): Promise<{ partitions: number }> {
    return this.cluster.sched.defer('ensure', () => {
      const partitions = this.cluster.topics.get(topic);
      if (!partitions) throw new SluiceError('TOPIC_NOT_FOUND', `topic "${topic}" does not exist`);
      return { partitions: partitions.length };
    });
  }
}

export type HubEvent = { type: 'ready' | 'subscribed' | 'join' | 'deliver' | 'failed'; sub: number; detail?: unknown };

/** Records what the registry tells the hub; acks deliveries through the scheduler (or never, when `holdAcks`). */
export class RecordingHub implements HubPort {
  readonly events: HubEvent[] = [];
  readonly published = new Map<string, string[]>();
  gate!: FanoutGate;
  holdAcks = false;

  constructor(private readonly sched: Scheduler) {}

  of(sub: number, type?: HubEvent['type']): HubEvent[] {
    return this.events.filter((e) => e.sub === sub && (type === undefined || e.type === type));
  }

  ready(sub: number): void {
    this.events.push({ type: 'ready', sub });
  }

  subscribed(sub: number, token: string | null): void {
    this.events.push({ type: 'subscribed', sub, detail: token });
  }

  failed(sub: number, error: PlainError, slow: boolean): void {
    this.events.push({ type: 'failed', sub, detail: { ...error, slow } });
  }

  deliver(sub: number, frames: string[], _tokens: string[] | null, ackId: number): void {
    this.events.push({ type: 'deliver', sub, detail: frames.length });
    if (ackId && !this.holdAcks) void this.sched.defer('ack', () => this.gate.ack(sub, ackId, true));
  }

  /** `publishedAt`: how many frames the channel had been published when the subscriber joined it. */
  join(sub: number, channel: string): void {
    this.events.push({ type: 'join', sub, detail: { channel, publishedAt: this.published.get(channel)?.length ?? 0 } });
  }

  publish(channel: string, frames: string[]): void {
    const list = this.published.get(channel) ?? [];
    list.push(...frames);
    this.published.set(channel, list);
  }

  publishValues(): void {}
}
