/**
 * Knows which topics exist, so that a request for an unknown topic is answered at once instead of waiting
 * for librdkafka's message timeout. Lookups are cached (positive for the process lifetime, negative for a
 * few seconds) and de-duplicated while in flight, so the hot path is one Map lookup.
 *
 * Unknown topic: if Sluice is configured to create topics, it creates it through the Admin API; otherwise
 * it asks for the topic's metadata the way a producer does (which makes a cluster with
 * `auto.create.topics.enable=true` create it). Then it waits briefly for the topic and its leaders. A topic
 * is ready only when the leader of each partition serves it (answers a ListOffsets), not when the metadata
 * names a leader: a KRaft broker publishes the leaders before it has created the partitions, and a produce
 * in that gap can end in a success report for records never written (issue #17.1; see ClusterTopics.serves).
 * This holds for a topic that already exists at the first lookup too: it may have been created a moment ago
 * (by another request, gateway or client). When the topic is not ready in time, the answer is
 * - `503 TOPIC_NOT_READY` whenever the creation may be under way: a device takes a 404 as permanent and may
 *   drop its data, while a busy cluster (e.g. during heavy subscription churn) can take seconds to create;
 * - `404 TOPIC_NOT_FOUND` only when the topic is absent and the registry has learnt that this cluster does
 *   not create topics; only this answer is cached negatively.
 *
 * Learning whether the cluster creates topics (the client cannot read the brokers' setting, and its
 * metadata answer hides the per-topic error: see cluster-topics.ts), on failure paths only:
 * - it does, as soon as a topic the registry asked for appears;
 * - it does not, when a topic it asked for is still absent AUTO_CREATE_VERDICT_MS later, asked again at every
 *   poll (a broker whose creation attempt failed tries again on the next request).
 * Until the first verdict, unknown topics get 503. A verdict is revised the same way: a topic appearing on a
 * cluster judged not to create topics, or one staying absent on a cluster judged to create them.
 */
import type { Logger } from 'pino';
import type { ClusterTopics, TopicState } from './cluster-topics.js';
import { SluiceError } from '../errors.js';
import { assertLegalTopicName } from '../decode/topic-name.js';

const NEGATIVE_CACHE_MS = 3000;
/** Expired negative entries are swept once the map holds this many (topics that were never asked again). */
const NEGATIVE_CACHE_SWEEP_SIZE = 1000;
/** How long a request waits for a topic being created (a single idle node needs ~100 ms) before 503. */
const CREATION_WAIT_MS = 2000;
/**
 * How long a topic the registry asked for must stay absent before it concludes the cluster does not create
 * topics. Longer than any creation seen on a busy cluster (seconds); the price is that on such a cluster the
 * first unknown topics get 503 for this long before the 404s begin. The README's error table quotes it.
 */
export const AUTO_CREATE_VERDICT_MS = 15_000;
const VERDICT_POLL_MAX_MS = 2000;

export interface TopicRegistryOptions {
  createTopics: boolean;
  createTopicPartitions: number;
  createTopicReplicationFactor: number;
  metadataTimeoutMs: number;
}

interface TopicDescription {
  partitions: number;
}

/** What the registry has learnt about the cluster's `auto.create.topics.enable`. */
export type AutoCreateVerdict = 'unknown' | 'creates' | 'does-not-create';

/** How a wait for a topic being created ended. */
interface CreationWait {
  /** The last poll's answer, or the error it failed with. */
  last: TopicState | SluiceError;
  /** The topic showed up in some poll, with or without leaders. */
  appeared: boolean;
}

export class TopicRegistry {
  private readonly known = new Map<string, TopicDescription>();
  private readonly missingUntil = new Map<string, number>();
  private readonly lookups = new Map<string, Promise<TopicDescription>>();
  private verdict: AutoCreateVerdict = 'unknown';
  /** The topic followed until a verdict, if any: one at a time, so the follow-up's cost stays bounded. */
  private following: string | undefined;

  constructor(
    private readonly cluster: ClusterTopics,
    private readonly opts: TopicRegistryOptions,
    private readonly log: Logger,
  ) {}

  /** Whether the cluster creates topics on first use, as far as the registry has learnt. */
  get autoCreateVerdict(): AutoCreateVerdict {
    return this.verdict;
  }

  /** Resolves with the topic's partition count, or throws TOPIC_NOT_FOUND / TOPIC_NOT_READY / BROKER_UNAVAILABLE. */
  ensure(topic: string): TopicDescription | Promise<TopicDescription> {
    const hit = this.known.get(topic);
    if (hit) return hit;
    assertLegalTopicName(topic);
    const missing = this.missingUntil.get(topic);
    if (missing !== undefined && missing > Date.now()) throw notFound(topic);
    if (!this.cluster.reachable) throw new SluiceError('BROKER_UNAVAILABLE', 'no Kafka broker is reachable');
    let pending = this.lookups.get(topic);
    if (!pending) {
      pending = this.lookup(topic).finally(() => this.lookups.delete(topic));
      this.lookups.set(topic, pending);
    }
    return pending;
  }

  /**
   * The topic's partition count if it exists, without creating it and without the producer-style metadata
   * request that makes an auto-creating cluster create it: for a subscriber whose credential may not
   * produce to the topic. Absent: 404 TOPIC_NOT_FOUND at once; listed without leaders (being created by
   * someone who may): 503 TOPIC_NOT_READY.
   */
  find(topic: string): TopicDescription | Promise<TopicDescription> {
    const hit = this.known.get(topic);
    if (hit) return hit;
    assertLegalTopicName(topic);
    if (!this.cluster.reachable) throw new SluiceError('BROKER_UNAVAILABLE', 'no Kafka broker is reachable');
    return this.describeOnly(topic);
  }

  private async describeOnly(topic: string): Promise<TopicDescription> {
    const state = await this.cluster.describe(topic, this.opts.metadataTimeoutMs);
    if (isReady(state)) return this.remember(topic, state.partitions);
    if (state === null)
      throw new SluiceError(
        'TOPIC_NOT_FOUND',
        `topic "${topic}" does not exist, and subscribing creates a topic only for a credential that may produce to it`,
      );
    throw notReady(topic, 'its partitions have no leader yet');
  }

  private async lookup(topic: string): Promise<TopicDescription> {
    const timeoutMs = this.opts.metadataTimeoutMs;
    const first = await this.ready(topic);
    if (isReady(first)) return this.remember(topic, first.partitions);
    if (first !== null && first.partitions > 0) {
      // The cluster has it but does not serve it yet: created a moment ago, or its leaders are moving.
      const { last } = await this.waitForCreation(topic);
      if (isReady(last)) return this.remember(topic, last.partitions);
      if (!this.cluster.reachable) throw new SluiceError('BROKER_UNAVAILABLE', 'no Kafka broker is reachable');
      throw notReady(topic, "its partitions' leaders do not serve it yet");
    }

    const byAdmin = this.opts.createTopics;
    if (byAdmin) {
      const spec = { topic, partitions: this.opts.createTopicPartitions, replicationFactor: this.opts.createTopicReplicationFactor };
      if ((await this.cluster.create(spec, timeoutMs)) === 'created') this.log.info(spec, 'created topic');
    } else {
      await this.cluster.requestAutoCreate(topic, timeoutMs);
    }

    const { last, appeared } = await this.waitForCreation(topic);
    if (isReady(last)) {
      if (!byAdmin) this.learn('creates', topic);
      return this.remember(topic, last.partitions);
    }
    if (!this.cluster.reachable) throw new SluiceError('BROKER_UNAVAILABLE', 'no Kafka broker is reachable');
    if (appeared) {
      if (!byAdmin) this.learn('creates', topic);
      throw notReady(topic, 'its partitions have no leader serving them yet');
    }
    if (byAdmin) throw notReady(topic, 'Sluice created it and the brokers do not list it yet');
    if (this.verdict === 'does-not-create') {
      // A poll that failed cannot tell "absent" from "not answered": a 404 would be a guess.
      if (last instanceof SluiceError) throw last;
      this.rememberMissing(topic);
      throw notFound(topic);
    }
    // Absent, and the cluster creates topics or may: keep asking in the background until a verdict.
    this.follow(topic);
    throw notReady(
      topic,
      this.verdict === 'creates' ? 'the cluster creates topics on first use' : 'the cluster was asked to create it on first use',
    );
  }

  /**
   * The topic as described, with `leadersElected` true only when every partition's leader also serves it:
   * producing or subscribing before that races the election, or the broker's creation of the partitions.
   */
  private async ready(topic: string): Promise<TopicState> {
    const timeoutMs = this.opts.metadataTimeoutMs;
    const state = await this.cluster.describe(topic, timeoutMs);
    if (state === null || state.partitions === 0 || !state.leadersElected) return state;
    return { partitions: state.partitions, leadersElected: await this.cluster.serves(topic, state.partitions, timeoutMs) };
  }

  /** Polls for a topic whose creation was requested until it has partitions with leaders, or the wait ends. */
  private async waitForCreation(topic: string): Promise<CreationWait> {
    const deadline = Date.now() + Math.min(this.opts.metadataTimeoutMs, CREATION_WAIT_MS);
    let delay = 25;
    let appeared = false;
    while (true) {
      // A poll that times out (a busy broker) does not end the wait: the creation was requested and may land.
      const last = await this.ready(topic).catch(asSluiceError);
      if (last !== null && !(last instanceof SluiceError)) {
        appeared = true;
        if (isReady(last)) return { last, appeared };
      }
      if (Date.now() >= deadline) return { last, appeared };
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 400);
    }
  }

  /**
   * Follows a topic the cluster was asked to create until it appears ("creates") or AUTO_CREATE_VERDICT_MS
   * passed with the cluster answering that it is absent ("does not create"). Started from a failed lookup,
   * at most one at a time; its timers do not keep the process alive, and it gives up without a verdict
   * when the brokers become unreachable (an unanswered poll proves nothing).
   */
  private follow(topic: string): void {
    if (this.following !== undefined) return;
    this.following = topic;
    void this.followUntilVerdict(topic).finally(() => (this.following = undefined));
  }

  private async followUntilVerdict(topic: string): Promise<void> {
    const timeoutMs = this.opts.metadataTimeoutMs;
    const until = Date.now() + AUTO_CREATE_VERDICT_MS;
    let delay = 250;
    while (this.cluster.reachable) {
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(delay, until - Date.now()))).unref());
      delay = Math.min(delay * 2, VERDICT_POLL_MAX_MS);
      await this.cluster.requestAutoCreate(topic, timeoutMs);
      const state = await this.cluster.describe(topic, timeoutMs).catch(() => undefined);
      if (state) {
        this.learn('creates', topic);
        return;
      }
      if (Date.now() >= until) {
        if (state === null) this.learn('does-not-create', topic);
        return;
      }
    }
  }

  private learn(verdict: Exclude<AutoCreateVerdict, 'unknown'>, topic: string): void {
    if (this.verdict === verdict) return;
    this.log.info(
      { topic, was: this.verdict, now: verdict },
      verdict === 'creates'
        ? 'the cluster creates topics on first use'
        : 'the cluster does not create topics on first use: unknown topics get 404',
    );
    this.verdict = verdict;
    // 404s remembered under the other verdict were wrong: let the next request look again.
    if (verdict === 'creates') this.missingUntil.clear();
  }

  private remember(topic: string, partitions: number): TopicDescription {
    const desc = { partitions };
    this.missingUntil.delete(topic);
    this.known.set(topic, desc);
    return desc;
  }

  private rememberMissing(topic: string): void {
    const now = Date.now();
    if (this.missingUntil.size >= NEGATIVE_CACHE_SWEEP_SIZE) {
      for (const [t, until] of this.missingUntil) if (until <= now) this.missingUntil.delete(t);
    }
    this.missingUntil.set(topic, now + NEGATIVE_CACHE_MS);
  }
}

function isReady(state: TopicState | SluiceError): state is { partitions: number; leadersElected: true } {
  return state !== null && !(state instanceof SluiceError) && state.partitions > 0 && state.leadersElected;
}

function asSluiceError(err: unknown): SluiceError {
  return err instanceof SluiceError ? err : new SluiceError('BROKER_UNAVAILABLE', `cannot look up topic: ${(err as Error).message}`);
}

function notFound(topic: string): SluiceError {
  return new SluiceError('TOPIC_NOT_FOUND', `topic "${topic}" does not exist and the cluster does not create topics on first use`);
}

function notReady(topic: string, why: string): SluiceError {
  return new SluiceError(
    'TOPIC_NOT_READY',
    `topic "${topic}" is being created (${why}) and is not ready yet; retry after Retry-After seconds`,
  );
}
