/**
 * Reference-counted live feeds: one consumer per topic with subscribers, shared by all of them (never one
 * per socket). The first subscriber of a topic starts its feed at the current end offsets; the last one
 * leaving stops it after a grace period (dashboards reconnect often; restarting costs a connection and a
 * metadata round trip). Kafka connections: one per topic with subscribers (plus replays, groups, producer).
 *
 * A reference is a FeedLease: taken synchronously by `acquire`, given back once by `lease.release()`. The
 * lease names its feed, so a release after that feed failed can never take a reference off a newer feed
 * of the same topic started meanwhile by another subscriber.
 */
import type { Logger } from 'pino';
import type { FanoutReader, Message, ReaderFactory } from './kafka-reader.js';
import { SluiceError } from '../errors.js';
import type { LibrdkafkaStats } from '../ops/metrics.js';

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
  reader: FanoutReader;
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
  timeoutMs: number;
  maxTopics: number;
  lingerMs: number;
  idleGraceMs?: number;
}

export class ConsumerPool {
  private readonly feeds = new Map<string, Feed>();
  private closed = false;

  constructor(
    private readonly newReader: ReaderFactory,
    private readonly hooks: LiveFeedHooks,
    private readonly opts: ConsumerPoolOptions,
    private readonly log: Logger,
    private readonly onStats?: (stats: LibrdkafkaStats) => void,
  ) {}

  /** Topics with a live feed (starting, running, or in its idle grace). */
  get size(): number {
    return this.feeds.size;
  }

  /** References held on the topic's feed (0 when it has none). */
  refs(topic: string): number {
    return this.feeds.get(topic)?.refs ?? 0;
  }

  /** Takes a reference on the topic's feed, now; throws OVERLOADED past SLUICE_MAX_LIVE_TOPICS. */
  acquire(topic: string, partitions: number): FeedLease {
    if (this.closed) throw new SluiceError('SHUTTING_DOWN', 'server shutting down');
    let feed = this.feeds.get(topic);
    if (!feed) {
      if (this.feeds.size >= this.opts.maxTopics) {
        throw new SluiceError('OVERLOADED', `${this.feeds.size} topics are followed live (SLUICE_MAX_LIVE_TOPICS); retry later`, {
          limit: 'SLUICE_MAX_LIVE_TOPICS',
        });
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
    const reader = this.newReader({
      role: 'live',
      topic,
      clientId: `sluice-live-${topic}`,
      // Required by librdkafka even though partitions are assigned by hand and nothing is committed.
      groupId: `sluice-live-${process.pid}-${topic}`,
      lingerMs: this.opts.lingerMs,
      onStats: this.onStats,
    });
    const feed: Feed = { topic, reader, ready: Promise.resolve(), refs: 0, idleTimer: undefined };
    feed.ready = (async () => {
      await reader.connect(this.opts.timeoutMs);
      const marks = await reader.watermarks(partitions, this.opts.timeoutMs);
      // Stopped while it was starting (every subscriber left, or shutdown): hand nothing over.
      if (this.feeds.get(topic) !== feed) throw new SluiceError('SHUTTING_DOWN', `the live feed of ${topic} was stopped while it started`);
      const next = marks.map((m) => m.high);
      this.hooks.started(topic, next.slice());
      reader.startAssigned(
        next.map((offset, partition) => ({ partition, offset })),
        (records) => {
          if (records.length > 0) this.hooks.batch(topic, records);
        },
      );
      this.log.info({ topic, partitions }, 'live feed started');
    })();
    this.feeds.set(topic, feed);
    feed.ready.catch((err: Error) => {
      if (this.feeds.get(topic) === feed) {
        this.log.error({ topic, err: err.message }, 'live feed failed to start');
        this.forget(feed);
      }
      void reader.stop();
    });
    return feed;
  }

  private release(feed: Feed): void {
    if (--feed.refs > 0 || this.feeds.get(feed.topic) !== feed) return;
    const stop = () => {
      if (feed.refs > 0 || this.feeds.get(feed.topic) !== feed) return;
      this.forget(feed);
      void feed.reader.stop().then(() => this.log.info({ topic: feed.topic }, 'live feed stopped (no subscribers)'));
    };
    const grace = this.opts.idleGraceMs ?? LIVE_FEED_IDLE_GRACE_MS;
    if (grace === 0) return stop();
    feed.idleTimer = setTimeout(stop, grace);
    feed.idleTimer.unref();
  }

  private forget(feed: Feed): void {
    clearTimeout(feed.idleTimer);
    this.feeds.delete(feed.topic);
    this.hooks.stopped(feed.topic);
    this.hooks.forget?.(feed.topic);
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    const all = [...this.feeds.values()];
    for (const feed of all) this.forget(feed);
    await Promise.all(all.map((feed) => feed.reader.stop()));
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
