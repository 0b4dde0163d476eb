/**
 * Reference-counted live feeds, all read by ONE Kafka consumer (never one per topic, never one per socket).
 * The first subscriber of a topic adds the topic's partitions to that consumer at their current end offsets
 * (incremental assignment); the last one leaving removes them after a grace period (dashboards reconnect
 * often). One read loop takes each consumed batch apart by topic — in consume order, so each partition's
 * order holds — and hands every followed topic its part. Threads, sockets and fetch buffers therefore grow
 * with nothing but the partitions followed; the consumer itself exists while at least one topic is followed
 * (`sluice_kafka_consumers{role="live"}` reads 0 or 1).
 *
 * A reference is a FeedLease: taken synchronously by `acquire`, given back once by `lease.release()`. The
 * lease names its feed, so a release after that feed failed can never take a reference off a newer feed
 * of the same topic started meanwhile by another subscriber.
 */
import os from 'node:os';
import type { Logger } from 'pino';
import type { LiveReader, Message, ReaderFactory, TopicPartitionOffset } from './kafka-reader.js';
import { SluiceError } from '../errors.js';
import type { LibrdkafkaStats } from '../ops/librdkafka-stats.js';

export const LIVE_FEED_IDLE_GRACE_MS = 10_000;

export interface LiveFeedHooks {
  /** The feed is positioned: `next[p]` is the first offset it will hand over for partition p. Called before any batch. */
  started(topic: string, next: number[]): void;
  batch(topic: string, records: Message[]): void;
  stopped(topic: string): void;
  /** The topic's feed stopped for good (no subscribers): drop per-topic metric series. */
  forget?(topic: string): void;
}

interface Feed {
  topic: string;
  partitions: number;
  /** Next offset to hand over per partition; undefined until the partitions are assigned. */
  next: number[] | undefined;
  ready: Promise<void>;
  refs: number;
  idleTimer: NodeJS.Timeout | undefined;
}

export interface FeedLease {
  /** Resolves once the feed is positioned (live from now on); rejects if it cannot start. */
  readonly ready: Promise<void>;
  /** Gives the reference back; idempotent. */
  release(): void;
}

export interface ConsumerPoolOptions {
  /** Bounds each Kafka call that starts the live consumer or a topic's feed: connect, watermarks (SLUICE_METADATA_TIMEOUT_MS). */
  startTimeoutMs: number;
  /** Partitions followed live at once, over every topic; 0: derived from memory (livePartitionBound). */
  maxPartitions: number;
  lingerMs: number;
  idleGraceMs?: number;
}

/** Bytes of records handed to one topic at once from a large consumed batch (see handOverInSlices). */
export const LIVE_SLICE_BYTES = 1 << 20;

/** Share of the memory available to the process that live fetch buffers may take when the bound is derived. */
export const LIVE_MEMORY_SHARE = 0.25;

/**
 * The bound on partitions followed live when SLUICE_MAX_LIVE_PARTITIONS is 0: each followed partition may
 * hold one fetch of up to `max.partition.fetch.bytes` in memory, and together they may take a quarter of the
 * memory the process may use (its cgroup limit where one is set, else the machine's).
 */
export function livePartitionBound(partitionFetchBytes: number, memoryBytes = availableMemoryBytes()): number {
  return Math.max(1, Math.floor((memoryBytes * LIVE_MEMORY_SHARE) / partitionFetchBytes));
}

function availableMemoryBytes(): number {
  const total = os.totalmem();
  // A cgroup limit (containers); 0 or above the machine's memory when there is none.
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < total ? constrained : total;
}

/** One topic's part of a consumed batch, and the feed (its `next` array) it was taken for. */
interface Slice {
  next: number[];
  records: Message[];
}

/** The shared consumer while any topic is followed. */
interface Session {
  /** Created once the previous session's consumer is disconnected: never two live consumers at once. */
  reader: LiveReader | undefined;
  connected: Promise<LiveReader>;
  stopped: boolean;
}

export class ConsumerPool {
  private readonly feeds = new Map<string, Feed>();
  private session: Session | undefined;
  /** The previous session's disconnect: a new session connects after it, so two never overlap. */
  private lastStop: Promise<void> = Promise.resolve();
  private partitionsHeld = 0;
  private closed = false;
  readonly maxPartitions: number;

  constructor(
    private readonly newReader: ReaderFactory,
    private readonly hooks: LiveFeedHooks,
    private readonly opts: ConsumerPoolOptions,
    private readonly log: Logger,
    private readonly onStats?: (stats: LibrdkafkaStats) => void,
  ) {
    this.maxPartitions = opts.maxPartitions > 0 ? opts.maxPartitions : livePartitionBound(newReader.partitionFetchBytes);
    log.info({ maxLivePartitions: this.maxPartitions, derived: opts.maxPartitions === 0 }, 'live partitions bound');
  }

  /** Topics with a live feed (starting, running, or in its idle grace). */
  get size(): number {
    return this.feeds.size;
  }

  /** Partitions counted against SLUICE_MAX_LIVE_PARTITIONS (those of every topic with a feed). */
  get partitions(): number {
    return this.partitionsHeld;
  }

  /** Each followed topic's feed, read-only: `refs` is the leases held on it (what the ownership tests count). */
  get feedTable(): ReadonlyMap<string, Readonly<Pick<Feed, 'topic' | 'partitions' | 'refs'>>> {
    return this.feeds;
  }

  /** Takes a reference on the topic's feed, now; throws OVERLOADED past SLUICE_MAX_LIVE_PARTITIONS. */
  acquire(topic: string, partitions: number): FeedLease {
    if (this.closed) throw new SluiceError('SHUTTING_DOWN', 'server shutting down');
    let feed = this.feeds.get(topic);
    if (!feed) {
      if (this.partitionsHeld + partitions > this.maxPartitions) {
        throw new SluiceError(
          'OVERLOADED',
          `${this.partitionsHeld} partitions of ${this.feeds.size} topics are followed live, ${topic} has ${partitions} more (SLUICE_MAX_LIVE_PARTITIONS is ${this.maxPartitions}); retry later`,
          { limit: 'SLUICE_MAX_LIVE_PARTITIONS' },
        );
      }
      feed = this.start(topic, partitions);
    }
    clearTimeout(feed.idleTimer);
    feed.idleTimer = undefined;
    feed.refs++;
    const held = feed;
    return { ready: held.ready, release: once(() => this.release(held)) };
  }

  private start(topic: string, partitions: number): Feed {
    const session = this.openSession();
    const feed: Feed = { topic, partitions, next: undefined, ready: Promise.resolve(), refs: 0, idleTimer: undefined };
    feed.ready = (async () => {
      const reader = await session.connected;
      // The high watermark read before the assignment is the exact first offset handed over: the replay
      // hand-over and resume tokens depend on it (records appended meanwhile are read from it, not skipped).
      const marks = await reader.watermarks(topic, partitions, this.opts.startTimeoutMs);
      // Stopped while it was starting (every subscriber left, or shutdown): hand nothing over.
      if (this.feeds.get(topic) !== feed || this.session !== session)
        throw new SluiceError('SHUTTING_DOWN', `the live feed of ${topic} was stopped while it started`);
      const next = marks.map((m) => m.high);
      try {
        reader.assign(next.map((offset, partition) => ({ topic, partition, offset })));
      } catch (err) {
        // Only this topic's subscribers fail: the other topics keep their partitions.
        throw new SluiceError('BROKER_UNAVAILABLE', `cannot follow ${topic}: ${(err as Error).message}`);
      }
      // Same tick as the assignment: no batch of this topic can be handed over before `started`.
      feed.next = next.slice();
      this.hooks.started(topic, next.slice());
      this.log.info({ topic, partitions }, 'live feed started');
    })();
    this.feeds.set(topic, feed);
    this.partitionsHeld += partitions;
    feed.ready.catch((err: Error) => {
      if (this.feeds.get(topic) === feed) {
        this.log.error({ topic, err: err.message }, 'live feed failed to start');
        this.forget(feed);
      }
    });
    return feed;
  }

  /** The shared consumer, connecting it first if no topic is followed yet. */
  private openSession(): Session {
    if (this.session) return this.session;
    const previous = this.lastStop;
    const session = { reader: undefined, stopped: false } as Omit<Session, 'connected'> as Session;
    session.connected = (async () => {
      await previous;
      if (session.stopped) throw new SluiceError('SHUTTING_DOWN', 'the live consumer was stopped before it connected');
      const reader = this.newReader.live({
        clientId: 'sluice-live',
        // Required by librdkafka even though partitions are assigned by hand and nothing is committed.
        groupId: `sluice-live-${process.pid}`,
        lingerMs: this.opts.lingerMs,
        onStats: this.onStats && ((stats) => this.statsOfFollowed(stats)),
      });
      session.reader = reader;
      await reader.connect(this.opts.startTimeoutMs);
      reader.start((records) => this.dispatch(records));
      return reader;
    })();
    this.session = session;
    session.connected.catch((err: Error) => {
      // Every feed waiting on it fails on its own (its `ready` rejects); later ones get a new consumer.
      if (!session.stopped) this.log.error({ err: err.message }, 'live consumer failed to connect');
      this.stopSession(session);
    });
    return session;
  }

  private stopSession(session: Session): void {
    if (this.session !== session) return;
    this.session = undefined;
    session.stopped = true;
    const stopping = session.connected.then(
      (reader) => reader.stop(),
      () => session.reader?.stop(),
    );
    this.lastStop = stopping.then(() => this.log.info('live consumer stopped (no topic followed)'));
  }

  /**
   * One consumed batch, taken apart by topic. A record is handed over only to the running feed of its topic
   * and only from that feed's next offset on: a record fetched before its partition was unassigned (topic
   * just left) or under an earlier assignment of the same partition (topic left and followed again) is
   * dropped, so a feed never sees a record twice or one before its `started` offsets.
   */
  private dispatch(records: Message[]): void | Promise<void> {
    if (records.length === 0) return;
    const byTopic = new Map<string, Slice>();
    // Consumed batches come in runs of one partition: look the feed up once per run, not per record.
    let topic: string | undefined;
    let next: number[] | undefined;
    let out: Message[] | undefined;
    let bytes = 0;
    for (const m of records) {
      if (m.topic !== topic) {
        topic = m.topic;
        next = this.feeds.get(topic)?.next;
        out = byTopic.get(topic)?.records;
        if (next && !out) byTopic.set(topic, { next, records: (out = []) });
      }
      if (!next || !out || m.offset < (next[m.partition] ?? Number.POSITIVE_INFINITY)) continue;
      next[m.partition] = m.offset + 1;
      out.push(m);
      bytes += m.size;
    }
    if (bytes <= LIVE_SLICE_BYTES) {
      for (const [t, slice] of byTopic) this.handOver(t, slice.next, slice.records);
      return;
    }
    return this.handOverInSlices(byTopic);
  }

  /**
   * A large consumed batch (a backlog fetched at once, e.g. a burst just after a topic was added) is handed
   * over in slices of about LIVE_SLICE_BYTES, the event loop turning between them: one huge frame would
   * overflow even a fast subscriber's socket buffer at once and close it as too slow. The read loop waits
   * (the sink's promise), so order holds.
   */
  private async handOverInSlices(byTopic: Map<string, Slice>): Promise<void> {
    for (const [t, { next, records: batch }] of byTopic) {
      let start = 0;
      while (start < batch.length) {
        let end = start;
        let size = 0;
        while (end < batch.length && (end === start || size + batch[end].size <= LIVE_SLICE_BYTES)) size += batch[end++].size;
        this.handOver(t, next, start === 0 && end === batch.length ? batch : batch.slice(start, end));
        start = end;
        if (start < batch.length || byTopic.size > 1) await new Promise((r) => setImmediate(r));
      }
    }
  }

  private handOver(topic: string, next: number[], batch: Message[]): void {
    // An earlier topic's hook, or a turn of the event loop between slices, may have stopped this topic's feed
    // (its last subscriber left with no grace) and even started a newer one: hand over only to the same feed.
    if (batch.length === 0 || this.feeds.get(topic)?.next !== next) return;
    try {
      this.hooks.batch(topic, batch);
    } catch (err) {
      // One topic's failing subscribers must not starve the other topics of this batch.
      this.log.error({ topic, err: (err as Error).stack }, 'live batch failed');
    }
  }

  /** librdkafka statistics name every topic its metadata cache knows: keep the followed ones (lag series stay bounded). */
  private statsOfFollowed(stats: LibrdkafkaStats): void {
    if (stats.topics) for (const topic of Object.keys(stats.topics)) if (!this.feeds.get(topic)?.next) delete stats.topics[topic];
    this.onStats?.(stats);
  }

  private release(feed: Feed): void {
    if (--feed.refs > 0 || this.feeds.get(feed.topic) !== feed) return;
    const stop = () => {
      if (feed.refs > 0 || this.feeds.get(feed.topic) !== feed) return;
      this.forget(feed);
      this.log.info({ topic: feed.topic }, 'live feed stopped (no subscribers)');
    };
    const grace = this.opts.idleGraceMs ?? LIVE_FEED_IDLE_GRACE_MS;
    if (grace === 0) return stop();
    feed.idleTimer = setTimeout(stop, grace);
    feed.idleTimer.unref();
  }

  private forget(feed: Feed): void {
    clearTimeout(feed.idleTimer);
    this.feeds.delete(feed.topic);
    this.partitionsHeld -= feed.partitions;
    const session = this.session;
    if (feed.next && session?.reader) {
      const assigned: TopicPartitionOffset[] = feed.next.map((_, partition) => ({ topic: feed.topic, partition, offset: 0 }));
      try {
        session.reader.unassign(assigned);
      } catch (err) {
        // The records still fetched for it are dropped by dispatch (no feed); the consumer goes when idle.
        this.log.warn({ topic: feed.topic, err: (err as Error).message }, 'live partitions not unassigned');
      }
    }
    this.hooks.stopped(feed.topic);
    this.hooks.forget?.(feed.topic);
    if (this.feeds.size === 0 && session) this.stopSession(session);
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    // Stop reading before anything else: the consumer is disconnected only once its read loop has ended
    // (disconnecting with a read in flight crashes the process, upstream confluent-kafka-javascript #34).
    if (this.session) this.stopSession(this.session);
    for (const feed of [...this.feeds.values()]) this.forget(feed);
    await this.lastStop;
  }
}

/** A lease's release: the first call gives the reference back, later ones do nothing. */
export function once(release: () => void): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    release();
  };
}
