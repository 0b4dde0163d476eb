/**
 * Main-thread side of fan-out: every subscription of every hub (the main thread's uWS app or an ingress
 * worker's) and the shared parts they acquire. Each subscription is a Subscription object that owns what it
 * acquires (see subscription.ts); the registry admits it, hands it the shared parts, and reports them:
 * live feeds (consumer-pool.ts), group feeds (group-feed.ts), replay slots (replay-slots.ts), the followed
 * topics with their channels and views (live-topics.ts), delivery acks (delivery-acks.ts), per-connection
 * and per-client shares (client-shares.ts). Live batches are published by live-batch-publisher.ts.
 *
 * Kafka connections: one live consumer shared by every topic with subscribers (at most
 * SLUICE_MAX_LIVE_PARTITIONS partitions), one per replay in progress (at most SLUICE_MAX_REPLAYS; a
 * `snapshot=` is one), one per (topic, group) with members here (at most SLUICE_MAX_GROUPS), plus the producer.
 */
import type { Logger } from 'pino';
import { SETTINGS, type Config } from '../config/schema.js';
import { toPlainError } from '../errors.js';
import type { FanoutGate, HubPort, SubscribeRequest, SubscriptionState, SubscriberTransport } from '../subscription/protocol.js';
import { parseKeyList } from '../subscription/record-filter.js';
import type { LibrdkafkaStats } from '../ops/librdkafka-stats.js';
import type { Channel, TopicState } from './channels.js';
import { ClientShares, type ShareHolder, type ShareKind, type ShareLimits } from './client-shares.js';
import { ConsumerPool } from './consumer-pool.js';
import { DeliveryAcks } from './delivery-acks.js';
import { GroupPool } from './group-feed.js';
import type { Message, ReaderFactory } from './kafka-reader.js';
import { LiveBatchPublisher } from './live-batch-publisher.js';
import { LiveTopics, type LiveTopicsConfig } from './live-topics.js';
import { ReplaySlots } from './replay-slots.js';
import type { SnapshotTable } from './snapshot-table.js';
import { Subscription, type HubRef, type ResumeSource, type SubscriptionHost } from './subscription.js';

/** How the registry learns a topic's partition count (the producer's TopicRegistry, or a fake in tests). */
export interface TopicLookup {
  ensure(topic: string): { partitions: number } | Promise<{ partitions: number }>;
  /** Like ensure, but never creates the topic (nor asks the cluster to): absent is 404 TOPIC_NOT_FOUND. */
  find(topic: string): { partitions: number } | Promise<{ partitions: number }>;
}

export type RegistryConfig = Pick<
  Config,
  'metadataTimeoutMs' | 'maxLivePartitions' | 'fanoutLingerMs' | 'maxReplays' | 'replayBufferBytes' | 'maxGroups' | 'groupIdPrefix'
> &
  Partial<Pick<Config, 'maxKeysPerSubscription'>> &
  Partial<ShareLimits> &
  LiveTopicsConfig;

/** Per-connection and per-client shares where a (test) configuration leaves them out: the schema's defaults. */
const SHARE_DEFAULTS: ShareLimits = {
  maxSubscriptionsPerConnection: SETTINGS.maxSubscriptionsPerConnection.default,
  maxReplaysPerConnection: SETTINGS.maxReplaysPerConnection.default,
  maxGroupsPerConnection: SETTINGS.maxGroupsPerConnection.default,
  maxTopicsPerClient: SETTINGS.maxTopicsPerClient.default,
  maxReplaysPerClient: SETTINGS.maxReplaysPerClient.default,
};

export interface RegistryDeps {
  topics: TopicLookup;
  newReader: ReaderFactory;
  config: RegistryConfig;
  log: Logger;
  /** Per-topic metrics of live feeds. */
  onConsumerStats?: (stats: LibrdkafkaStats) => void;
  forgetTopic?: (topic: string) => void;
  /** How long a live feed outlives its last subscriber (default 10 s). */
  liveFeedIdleGraceMs?: number;
}

/** What `/metrics` shows of the subscription lifecycle; every number is 0 with no client connected. */
export interface LifecycleCounts {
  subscriptions: Record<SubscriberTransport, Record<SubscriptionState, number>>;
  replaysInProgress: number;
  groupMembers: number;
  liveFeeds: number;
  groupFeeds: number;
  /** The largest share one connection or client holds, per limit (SLUICE_MAX_*_PER_CONNECTION / _PER_CLIENT). */
  largestShares: Record<string, number>;
}

export class SubscriptionRegistry implements SubscriptionHost {
  private readonly hubs: HubRef[] = [];
  private readonly subs = new Map<string, Subscription>();
  private readonly shares: ClientShares;
  private readonly replays: ReplaySlots;
  private readonly resumes: Record<ResumeSource, number> = { memory: 0, kafka: 0 };
  private closing = false;
  readonly pool: ConsumerPool;
  readonly groups: GroupPool;
  /** The followed topics: positions, resume windows, channels and views. */
  readonly liveTopics: LiveTopics;
  /** Deliveries sent to a hub and not yet acknowledged. */
  readonly acks = new DeliveryAcks();
  readonly log: Logger;
  /** SLUICE_METADATA_TIMEOUT_MS: bounds each Kafka call that starts a replay consumer (connect, watermarks, offsets for a time). */
  readonly consumerStartTimeoutMs: number;
  readonly replayBufferBytes: number;

  constructor(private readonly deps: RegistryDeps) {
    const { config, log } = deps;
    this.log = log;
    this.consumerStartTimeoutMs = config.metadataTimeoutMs;
    this.replayBufferBytes = config.replayBufferBytes;
    this.shares = new ClientShares({
      ...SHARE_DEFAULTS,
      ...Object.fromEntries(Object.entries(config).filter(([k, v]) => k in SHARE_DEFAULTS && v !== undefined)),
    });
    this.replays = new ReplaySlots(config.maxReplays);
    this.liveTopics = new LiveTopics(config);
    const publisher = new LiveBatchPublisher(this.liveTopics, log, (channel, err) => {
      for (const s of [...this.subs.values()]) if (s.currentChannel === channel) s.fail(err, false);
    });
    this.pool = new ConsumerPool(
      deps.newReader,
      {
        started: (topic, next) => this.liveTopics.started(topic, next),
        batch: (topic, records) => publisher.publish(topic, records),
        stopped: (topic) => this.liveTopics.stopped(topic),
        forget: deps.forgetTopic,
      },
      {
        startTimeoutMs: config.metadataTimeoutMs,
        maxPartitions: config.maxLivePartitions,
        lingerMs: config.fanoutLingerMs,
        idleGraceMs: deps.liveFeedIdleGraceMs,
      },
      log,
      deps.onConsumerStats,
    );
    this.groups = new GroupPool(
      deps.newReader,
      { maxGroups: config.maxGroups, groupIdPrefix: config.groupIdPrefix, connectTimeoutMs: config.metadataTimeoutMs },
      log,
    );
  }

  /** Connects a hub; returns the gate it uses. */
  connect(port: HubPort): FanoutGate {
    const hub: HubRef = { index: this.hubs.length, port };
    this.hubs.push(hub);
    const find = (sub: number) => this.subs.get(`${hub.index}:${sub}`);
    return {
      open: (req) => this.open(hub, req),
      start: (sub) => find(sub)?.start(),
      close: (sub) => find(sub)?.close(),
      ack: (_sub, ackId, handed) => this.acks.answer(ackId, handed),
    };
  }

  /** Open subscriptions by transport, for metrics. */
  counts(): Record<SubscriberTransport, number> {
    const out: Record<SubscriberTransport, number> = { websocket: 0, sse: 0, 'seed-websocket': 0 };
    for (const s of this.subs.values()) out[s.req.transport]++;
    return out;
  }

  lifecycle(): LifecycleCounts {
    const zero = (): Record<SubscriptionState, number> => ({ preparing: 0, replaying: 0, live: 0 });
    const subscriptions: LifecycleCounts['subscriptions'] = { websocket: zero(), sse: zero(), 'seed-websocket': zero() };
    for (const s of this.subs.values()) if (s.state !== 'closed') subscriptions[s.req.transport][s.state]++;
    return {
      subscriptions,
      replaysInProgress: this.replays.inUse,
      groupMembers: this.groups.members,
      liveFeeds: this.pool.size,
      groupFeeds: this.groups.size,
      largestShares: this.shares.largest(),
    };
  }

  /** Records that arrived after every window they belong to had closed (beyond grace), since the last call. */
  takeLateRecords(): number {
    return this.liveTopics.takeLateRecords();
  }

  /** Windowed views being computed, over every topic (a gauge: 0 with no client connected). */
  get viewCount(): number {
    return this.liveTopics.viewCount;
  }

  /** Resumes (`from=<token>|<time>`) started since the last call, by where their history came from. */
  takeResumes(): Record<ResumeSource, number> {
    const out = { ...this.resumes };
    this.resumes.memory = 0;
    this.resumes.kafka = 0;
    return out;
  }

  /** Records and bytes held in the resume windows of every followed topic (gauges). */
  windowTotals(): { records: number; bytes: number } {
    return this.liveTopics.windowTotals();
  }

  /** Closes every subscription, then stops every consumer; resolves once all are disconnected. */
  async closeAll(): Promise<void> {
    this.closing = true;
    for (const s of [...this.subs.values()]) s.close();
    await Promise.all([this.pool.closeAll(), this.groups.closeAll(), this.replays.settled()]);
  }

  private open(hub: HubRef, req: SubscribeRequest): void {
    const id = `${hub.index}:${req.sub}`;
    if (this.closing) {
      hub.port.failed(req.sub, { code: 'SHUTTING_DOWN', message: 'server shutting down' }, false);
      return;
    }
    if (this.subs.has(id)) return; // a hub never reuses an id; a repeated open is ignored
    // The key bound is a setting, so it is checked here (options are read in any thread, without settings).
    if (req.key !== null) {
      try {
        parseKeyList(req.key, this.deps.config.maxKeysPerSubscription ?? SETTINGS.maxKeysPerSubscription.default);
      } catch (err) {
        hub.port.failed(req.sub, toPlainError(err), false);
        return;
      }
    }
    const s = new Subscription(id, hub, req, this);
    this.subs.set(id, s);
    void s.run();
  }

  // ---- SubscriptionHost: what a subscription acquires, and where it gives it back ----

  ensureTopic(topic: string, mayCreate: boolean) {
    return mayCreate ? this.deps.topics.ensure(topic) : this.deps.topics.find(topic);
  }

  takeShare(s: Subscription, kind: ShareKind): void {
    this.shares.take(kind, shareHolder(s));
  }

  giveShare(s: Subscription, kind: ShareKind): void {
    this.shares.give(kind, shareHolder(s));
  }

  acquireFeed(topic: string, partitions: number) {
    return this.pool.acquire(topic, partitions);
  }

  acquireGroup(topic: string, group: string, startAt: 'earliest' | 'latest') {
    return this.groups.acquire(topic, group, startAt);
  }

  takeReplaySlot(): void {
    this.replays.take();
  }

  giveReplaySlot(): void {
    this.replays.give();
  }

  track(run: Promise<void>): void {
    this.replays.track(run);
  }

  newReplayReader(topic: string, batchMax: number) {
    return this.deps.newReader({
      role: 'replay',
      topic,
      clientId: `sluice-replay-${topic}`,
      groupId: `sluice-replay-${process.pid}`,
      batchMax,
    });
  }

  topicState(topic: string): TopicState | undefined {
    return this.liveTopics.get(topic);
  }

  countResume(source: ResumeSource): void {
    this.resumes[source]++;
  }

  newSnapshotTable(topic: string): SnapshotTable {
    return this.liveTopics.newSnapshotTable(topic);
  }

  feedView(channel: Channel, records: Message[], values: unknown[]): string[] {
    return this.liveTopics.feedView(channel, records, values);
  }

  admitView(req: SubscribeRequest): void {
    this.liveTopics.admitView(req);
  }

  channelFor(req: SubscribeRequest, state: TopicState, owner: Subscription | null): Channel {
    return this.liveTopics.channelFor(req, state, owner);
  }

  joinChannel(s: Subscription, channel: Channel): void {
    this.liveTopics.joinChannel(s, channel);
  }

  leaveChannel(s: Subscription, channel: Channel, joined: boolean): void {
    this.liveTopics.leaveChannel(s, channel, joined);
  }

  expectAck(done: (handed: boolean) => void): number {
    return this.acks.expect(done);
  }

  answerAck(ackId: number, handed: boolean): void {
    this.acks.answer(ackId, handed);
  }

  forget(s: Subscription): void {
    if (this.subs.get(s.id) === s) this.subs.delete(s.id);
  }
}

/** A subscription as its shares know it: connection ids are per hub. */
function shareHolder(s: Subscription): ShareHolder {
  return { connection: `${s.hub.index}:${s.req.connection}`, client: s.req.client, topic: s.req.topic };
}
