/**
 * One librdkafka consumer, read in batches with `consume(n)`: each call waits on a libuv pool thread for the
 * first record (up to POLL_TIMEOUT_MS, blocked inside librdkafka on its queue's condition variable — an idle
 * consumer costs one wake-up per timeout, not a busy loop), then returns every record already fetched, up to
 * `batchMax` — one batch for the sink. A sink may return a promise: the next read waits for it (flow
 * control for replays and group members).
 *
 * Used three ways: the one live consumer shared by every followed topic (LiveReader: partitions added and
 * removed with incremental assignment as topics gain their first and lose their last subscriber), a replay
 * (one topic's partitions assigned by hand at chosen offsets, nothing committed), and a consumer group
 * (subscribe; offsets committed by the caller).
 *
 * Not the flowing `consume()` mode: its `disconnect()` deadlocks while records are arriving (checked
 * here: the process hangs and cannot even exit). With a batch loop, stopping is: end the loop, wait for
 * the call in progress, then disconnect with no read in flight.
 */
import type { Logger } from 'pino';
import { KafkaConsumer, type Message } from '../kafka-client.js';
import type { LibrdkafkaStats } from '../ops/librdkafka-stats.js';
import { SluiceError } from '../errors.js';

export type { Message };
export type BatchSink = (records: Message[]) => void | Promise<void>;

const POLL_TIMEOUT_MS = 100;

/** What a Kafka consumer is used for: `sluice_kafka_consumers{role}`. */
export type ReaderRole = 'live' | 'replay' | 'group';

export interface PartitionOffset {
  partition: number;
  offset: number;
}

export interface TopicPartitionOffset extends PartitionOffset {
  topic: string;
}

/**
 * What the live feeds, replays and group feeds need of a consumer: a KafkaReader, or a fake in unit tests.
 * `stop()` is the one release: idempotent, valid in every state (before, during or after `connect`, with a
 * read in flight), and it settles only once the consumer is disconnected.
 */
export interface FanoutReader {
  connect(timeoutMs: number): Promise<void>;
  watermarks(partitions: number, timeoutMs: number): Promise<{ low: number; high: number }[]>;
  offsetsForTimes(timestampMs: number, partitions: number, timeoutMs: number): Promise<number[]>;
  startAssigned(assignment: PartitionOffset[], sink: BatchSink): void;
  startSubscribed(sink: BatchSink): void;
  positions(partitions: number[]): Map<number, number>;
  pause(partitions: number[]): void;
  commit(offsets: PartitionOffset[]): void;
  stop(): Promise<void>;
}

/**
 * The one consumer of every live feed (ConsumerPool): topics' partitions are added and removed while it
 * reads, so threads, sockets and buffers do not multiply with the topics followed. `stop()` is its one
 * release, with the same guarantees as FanoutReader's.
 */
export interface LiveReader {
  connect(timeoutMs: number): Promise<void>;
  watermarks(topic: string, partitions: number, timeoutMs: number): Promise<{ low: number; high: number }[]>;
  /** Adds partitions at the given offsets (incremental assignment); throws if librdkafka refuses them. */
  assign(add: TopicPartitionOffset[]): void;
  /** Removes partitions (incremental unassignment); records already fetched for them may still arrive. */
  unassign(remove: TopicPartitionOffset[]): void;
  /** Starts the read loop (with nothing assigned yet, each read just waits inside librdkafka). */
  start(sink: BatchSink): void;
  stop(): Promise<void>;
}

export interface LiveReaderSpec {
  clientId: string;
  groupId: string;
  lingerMs?: number;
  onStats?: KafkaReaderOptions['onStats'];
}

/** What differs between the consumers Sluice makes; bootstrap servers, properties and logger are the factory's. */
export interface ReaderSpec {
  role: ReaderRole;
  topic: string;
  clientId: string;
  groupId: string;
  overrides?: KafkaReaderOptions['overrides'];
  batchMax?: number;
  lingerMs?: number;
  onStats?: KafkaReaderOptions['onStats'];
}
/**
 * Makes replay and group consumers (one topic each) and, through `live`, the shared live consumer.
 * `partitionFetchBytes`: what one fetch of one partition may hold in memory (librdkafka's
 * `max.partition.fetch.bytes`), from which the bound on live partitions is derived.
 */
export type ReaderFactory = ((spec: ReaderSpec) => FanoutReader) & {
  live(spec: LiveReaderSpec): LiveReader;
  readonly partitionFetchBytes: number;
};

/** Consumers created and not yet disconnected, by role (a gauge: each should be 0 with no client connected). */
const openReaders: Record<ReaderRole, number> = { live: 0, replay: 0, group: 0 };
export function openReaderCounts(): Readonly<Record<ReaderRole, number>> {
  return openReaders;
}

export interface KafkaReaderOptions {
  role: ReaderRole;
  topic: string;
  clientId: string;
  groupId: string;
  bootstrapServers: string;
  properties: Record<string, string>;
  /** Set last: what this use of the reader needs whatever the properties file says. `auto.offset.reset` goes
   * into the topic configuration: an (even empty) topic configuration replaces the one set globally. */
  overrides?: Record<string, string | boolean | number>;
  batchMax?: number;
  /**
   * After the first records of a batch arrive, wait this long and take what came meanwhile into the same
   * batch. Fan-out cost is per write to each socket, not per record: at steady low rates records would
   * otherwise arrive one per batch, one write per record per socket.
   */
  lingerMs?: number;
  log: Logger;
  onStats?: (stats: LibrdkafkaStats) => void;
  /** Counted in `sluice_kafka_consumers{role}` (default); not for the live consumer's offsets client, which never reads. */
  counted?: boolean;
}

/** In the library (lib/kafka-consumer.js), missing from its typings: additive and subtractive assignment. */
interface Incremental {
  incrementalAssign(add: { topic: string; partition: number; offset: number }[]): void;
  incrementalUnassign(remove: { topic: string; partition: number }[]): void;
}

export class KafkaReader implements FanoutReader {
  /** The topic of a replay or group consumer; '' for the shared live consumer (its records name theirs). */
  readonly topic: string;
  private readonly role: ReaderRole;
  private readonly consumer: InstanceType<typeof KafkaConsumer>;
  private readonly log: Logger;
  private readonly batchMax: number;
  private readonly lingerMs: number;
  private stopped = false;
  private loopDone: Promise<void> = Promise.resolve();
  private connecting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly counted: boolean;

  constructor(o: KafkaReaderOptions) {
    this.topic = o.topic;
    this.role = o.role;
    this.log = o.log;
    this.batchMax = o.batchMax ?? 1000;
    this.lingerMs = o.lingerMs ?? 0;
    const { 'auto.offset.reset': offsetReset, ...overrides } = o.overrides ?? {};
    this.consumer = new KafkaConsumer(
      {
        'client.id': o.clientId,
        'group.id': o.groupId,
        ...o.properties,
        ...overrides,
        'bootstrap.servers': o.bootstrapServers,
      },
      offsetReset === undefined ? {} : { 'auto.offset.reset': offsetReset as 'earliest' | 'latest' },
    );
    this.consumer.on('event.error', (err) => this.log.warn({ topic: o.topic, err: err.message }, 'consumer error'));
    if (o.onStats) {
      const onStats = o.onStats;
      this.consumer.on('event.stats', (stats) => onStats(JSON.parse(stats.message) as LibrdkafkaStats));
    }
    this.counted = o.counted ?? true;
    if (this.counted) openReaders[this.role]++;
  }

  connect(timeoutMs: number): Promise<void> {
    if (this.stopped) return Promise.reject(new SluiceError('SHUTTING_DOWN', 'the consumer was stopped before it connected'));
    this.connecting = new Promise<void>((resolve, reject) =>
      // A refused or timed-out connect is the cluster's state, not Sluice's fault: 503 BROKER_UNAVAILABLE (retriable),
      // never the raw librdkafka error, which would answer 500 INTERNAL (seen under load with ingress threads).
      this.consumer.connect({ timeout: timeoutMs }, (err) =>
        err
          ? reject(new SluiceError('BROKER_UNAVAILABLE', `cannot connect the ${this.role} consumer to Kafka: ${err.message}`))
          : resolve(),
      ),
    );
    return this.connecting;
  }

  /** Low and high watermarks of every partition. Just after a topic is created its leaders may not be elected: retry until the deadline. */
  watermarks(partitions: number, timeoutMs: number): Promise<{ low: number; high: number }[]> {
    return this.watermarksOf(this.topic, partitions, timeoutMs);
  }

  watermarksOf(topic: string, partitions: number, timeoutMs: number): Promise<{ low: number; high: number }[]> {
    const deadline = Date.now() + timeoutMs;
    return Promise.all(
      Array.from({ length: partitions }, async (_, partition) => {
        for (;;) {
          try {
            return await new Promise<{ low: number; high: number }>((resolve, reject) => {
              this.consumer.queryWatermarkOffsets(topic, partition, timeoutMs, (err, o) =>
                err ? reject(err) : resolve({ low: o.lowOffset, high: o.highOffset }),
              );
            });
          } catch (err) {
            if (this.stopped) throw new SluiceError('SHUTTING_DOWN', `the consumer of ${topic} was stopped`);
            if (Date.now() > deadline)
              throw new SluiceError('BROKER_UNAVAILABLE', `cannot find the offsets of ${topic}/${partition}: ${(err as Error).message}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }),
    );
  }

  /** The first offset of each partition at or after `timestampMs`; -1 where there is none (the end). */
  offsetsForTimes(timestampMs: number, partitions: number, timeoutMs: number): Promise<number[]> {
    const query = Array.from({ length: partitions }, (_, partition) => ({ topic: this.topic, partition, offset: timestampMs }));
    return new Promise((resolve, reject) =>
      this.consumer.offsetsForTimes(query, timeoutMs, (err, offsets) => {
        if (err)
          reject(new SluiceError('BROKER_UNAVAILABLE', `cannot find offsets for time ${timestampMs} in ${this.topic}: ${err.message}`));
        else {
          const out = new Array<number>(partitions).fill(-1);
          for (const o of offsets) out[o.partition] = o.offset;
          resolve(out);
        }
      }),
    );
  }

  /** Reads the given partitions from the given offsets (no group membership, nothing committed). */
  startAssigned(assignment: PartitionOffset[], sink: BatchSink): void {
    if (this.stopped) return; // stopped while its owner awaited: never start reading for nobody
    this.consumer.assign(assignment.map((a) => ({ topic: this.topic, partition: a.partition, offset: a.offset })));
    this.startLoop(sink);
  }

  /** Adds partitions of any topic at the given offsets, while the loop reads (librdkafka allows it from any thread). */
  assignMore(add: TopicPartitionOffset[]): void {
    if (this.stopped) throw new SluiceError('SHUTTING_DOWN', 'the live consumer was stopped');
    (this.consumer as unknown as Incremental).incrementalAssign(
      add.map((a) => ({ topic: a.topic, partition: a.partition, offset: a.offset })),
    );
  }

  /** Removes partitions; a stopped or disconnected consumer has none left to remove. */
  unassignSome(remove: TopicPartitionOffset[]): void {
    if (this.stopped || !this.consumer.isConnected()) return;
    (this.consumer as unknown as Incremental).incrementalUnassign(remove.map((a) => ({ topic: a.topic, partition: a.partition })));
  }

  /** Starts the read loop with nothing assigned: partitions come and go through assignMore/unassignSome. */
  startIncremental(sink: BatchSink): void {
    if (this.stopped) return;
    this.startLoop(sink);
  }

  /** Joins the consumer group (`group.id`) and reads what the group assigns to this member. */
  startSubscribed(sink: BatchSink): void {
    if (this.stopped) return;
    this.consumer.subscribe([this.topic]);
    this.startLoop(sink);
  }

  /** Next offset to read per partition (-1001 when not known yet). */
  positions(partitions: number[]): Map<number, number> {
    const out = new Map<number, number>();
    for (const p of this.consumer.position(partitions.map((partition) => ({ topic: this.topic, partition }))))
      out.set(p.partition, p.offset ?? -1001);
    return out;
  }

  pause(partitions: number[]): void {
    this.consumer.pause(partitions.map((partition) => ({ topic: this.topic, partition })));
  }

  /** Commits next offsets to the consumer group (asynchronously). */
  commit(offsets: PartitionOffset[]): void {
    if (offsets.length === 0 || !this.consumer.isConnected()) return;
    try {
      this.consumer.commit(offsets.map((o) => ({ topic: this.topic, partition: o.partition, offset: o.offset })));
    } catch (err) {
      // Not a member of the group any more (rebalance): the next owner re-reads from the last commit.
      this.log.warn({ topic: this.topic, err: (err as Error).message }, 'commit refused');
    }
  }

  private startLoop(sink: BatchSink): void {
    // In the library, missing from its typings: return as soon as the first record is in, with what else is buffered.
    (this.consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
    this.loopDone = this.readLoop(sink);
  }

  private async readLoop(sink: BatchSink): Promise<void> {
    while (!this.stopped) {
      const batch = await this.read(this.batchMax, POLL_TIMEOUT_MS);
      if (this.lingerMs > 0 && batch.length > 0 && batch.length < this.batchMax && !this.stopped) {
        await new Promise((r) => setTimeout(r, this.lingerMs));
        for (const m of await this.read(this.batchMax - batch.length, 0)) batch.push(m);
      }
      if (this.stopped) break;
      try {
        const pending = sink(batch);
        if (pending) await pending;
      } catch (err) {
        this.log.error({ topic: this.topic, err: (err as Error).stack }, 'batch sink failed');
      }
    }
  }

  /** Up to `max` records: waits up to `timeoutMs` for the first, then takes what is already fetched. */
  private read(max: number, timeoutMs: number): Promise<Message[]> {
    this.consumer.setDefaultConsumeTimeout(timeoutMs);
    return new Promise<Message[]>((resolve) => {
      this.consumer.consume(max, (err, messages) => {
        if (err) {
          this.log.warn({ topic: this.topic, err: err.message }, 'read failed; retrying');
          setTimeout(() => resolve([]), POLL_TIMEOUT_MS);
        } else resolve(messages);
      });
    });
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.stopping ??= (async () => {
      await this.loopDone;
      // A stop during connect (the client left meanwhile) must wait for it: disconnecting a consumer that
      // is still connecting leaves it connected once the connect completes — a consumer nobody owns.
      await this.connecting?.catch(() => {});
      if (this.consumer.isConnected()) await new Promise((resolve) => this.consumer.disconnect(() => resolve(undefined)));
      if (this.counted) openReaders[this.role]--;
    })();
    return this.stopping;
  }
}

/** The factory the gateway gives the registry: every consumer with the same servers, properties and logger. */
export function kafkaReaderFactory(bootstrapServers: string, properties: Record<string, string>, log: Logger): ReaderFactory {
  const factory = (spec: ReaderSpec): FanoutReader => new KafkaReader({ ...spec, bootstrapServers, properties, log });
  const live = (spec: LiveReaderSpec): LiveReader => {
    const reader = new KafkaReader({ ...spec, role: 'live', topic: '', bootstrapServers, properties, log });
    // End offsets come from a second client that never fetches: the broker answers a connection's requests
    // in order, so a query sent by the reader would wait behind its long-poll fetch (up to
    // fetch.wait.max.ms), holding a libuv pool thread all the while — with hundreds of topics followed at
    // once that starved the pool (and the reader's own read) for a minute.
    const offsets = new KafkaReader({
      ...spec,
      onStats: undefined,
      clientId: `${spec.clientId}-offsets`,
      role: 'live',
      topic: '',
      bootstrapServers,
      properties,
      log,
      counted: false,
      overrides: { 'statistics.interval.ms': 0 },
    });
    return {
      connect: async (timeoutMs) => {
        await Promise.all([reader.connect(timeoutMs), offsets.connect(timeoutMs)]);
      },
      watermarks: (topic, partitions, timeoutMs) => offsets.watermarksOf(topic, partitions, timeoutMs),
      assign: (add) => reader.assignMore(add),
      unassign: (remove) => reader.unassignSome(remove),
      start: (sink) => reader.startIncremental(sink),
      stop: async () => {
        await Promise.all([reader.stop(), offsets.stop()]);
      },
    };
  };
  const fetchBytes = Number(properties['max.partition.fetch.bytes'] ?? properties['fetch.message.max.bytes']);
  return Object.assign(factory, {
    live,
    partitionFetchBytes: Number.isFinite(fetchBytes) && fetchBytes > 0 ? fetchBytes : LIBRDKAFKA_PARTITION_FETCH_BYTES,
  });
}

/** librdkafka's default `max.partition.fetch.bytes` (alias `fetch.message.max.bytes`). */
export const LIBRDKAFKA_PARTITION_FETCH_BYTES = 1_048_576;
