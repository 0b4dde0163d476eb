/**
 * Main-thread side of fan-out: every subscription of every hub (the main thread's uWS app or an ingress
 * worker's), the channels they share, and the consumers that feed them. Each subscription is a
 * Subscription object that owns what it acquires (see subscription.ts); the registry holds the shared
 * parts: live feeds (ConsumerPool), group feeds (GroupPool), the replay slots, channels and ack ids.
 *
 * Each live batch of a topic is serialised once — one frame and one resume token per record — and each
 * channel's selection is published once to each hub holding members of that channel (uWS pub/sub then
 * copies bytes to sockets); a batch-style channel's selection goes as one frame. Kafka connections: one live consumer for every topic with subscribers (at most
 * SLUICE_MAX_LIVE_PARTITIONS partitions), one per replay in progress (at most SLUICE_MAX_REPLAYS; a `snapshot=` is one),
 * one per (topic, group) with members here (at most SLUICE_MAX_GROUPS), plus the producer.
 *
 * Live views: a windowed view (`window=…`) is part of its channel's identity, so subscribers of equal views
 * (same filter, same view text) share one WindowAggregator per topic, fed from the same serialised batch;
 * its frames are published like any channel's. A view with history (`from=`) has a channel of its own.
 * A view's window and alert frames are one message each in either frame style (`frames=batch` does not
 * combine them), so a view channel's name leaves the style out: record and batch subscribers share it.
 */
import type { Logger } from 'pino';
import { SETTINGS, type Config } from '../config/schema.js';
import { SluiceError, toPlainError } from '../errors.js';
import type { FanoutGate, HubPort, SubscribeRequest, SubscriptionState, SubscriberTransport } from '../subscription/protocol.js';
import {
  batchFrame,
  encodeEnvelope,
  encodeFields,
  frameRecords,
  keyText,
  readValue,
  recordFrame,
  type ValueText,
} from '../subscription/frame-encoder.js';
import { parseKeyList, parseRecordFilter } from '../subscription/record-filter.js';
import { fieldAt, parseViewSpec } from '../subscription/view-spec.js';
import { PositionVector } from '../subscription/resume-token.js';
import type { LibrdkafkaStats } from '../ops/metrics.js';
import { ClientShares, type ShareHolder, type ShareKind, type ShareLimits } from './client-shares.js';
import { ConsumerPool } from './consumer-pool.js';
import { GroupPool } from './group-feed.js';
import type { Message, ReaderFactory } from './kafka-reader.js';
import { Subscription, type HubRef, type ResumeSource, type SubscriptionHost } from './subscription.js';
import { addMember, channelName, removeMember, TopicChannels, type Channel, type TopicState } from './channels.js';
import { Conflation, type HeldRecord } from './conflation.js';
import { ResumeWindow, type ResumeWindowLimits } from './resume-window.js';
import { SnapshotTable } from './snapshot-table.js';
import { ViewLimitError, WindowAggregator } from './window-aggregator.js';

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
  Partial<
    Pick<
      Config,
      | 'snapshotMaxKeys'
      | 'snapshotMaxBytes'
      | 'viewMaxGroups'
      | 'viewMaxOpenWindows'
      | 'maxViewsPerTopic'
      | 'keyField'
      | 'maxKeysPerSubscription'
    >
  > &
  Partial<ShareLimits> &
  Partial<Pick<Config, 'resumeWindowRecords' | 'resumeWindowBytes' | 'resumeWindowMs'>>;

/** Per-connection and per-client shares where a (test) configuration leaves them out: the schema's defaults. */
const SHARE_DEFAULTS: ShareLimits = {
  maxSubscriptionsPerConnection: SETTINGS.maxSubscriptionsPerConnection.default,
  maxReplaysPerConnection: SETTINGS.maxReplaysPerConnection.default,
  maxGroupsPerConnection: SETTINGS.maxGroupsPerConnection.default,
  maxTopicsPerClient: SETTINGS.maxTopicsPerClient.default,
  maxReplaysPerClient: SETTINGS.maxReplaysPerClient.default,
};

/** Live-view settings where a (test) configuration leaves them out: the schema's defaults. */
const VIEW_DEFAULTS = {
  snapshotMaxKeys: 100_000,
  snapshotMaxBytes: 64 * 1024 * 1024,
  viewMaxGroups: 10_000,
  viewMaxOpenWindows: 1000,
  maxViewsPerTopic: 100,
  keyField: '',
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

/** Resume-window settings where a (test) configuration leaves them out: the schema's defaults. */
const RESUME_WINDOW_DEFAULTS: ResumeWindowLimits = { maxRecords: 10_000, maxBytes: 8 * 1024 * 1024, maxAgeMs: 60_000 };

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
  private readonly topicStates = new Map<string, TopicState>();
  private readonly acks = new Map<number, (handed: boolean) => void>();
  private readonly replayRuns = new Set<Promise<void>>();
  private nextAck = 1;
  private replaySlots = 0;
  private lateRecords = 0;
  private readonly views: typeof VIEW_DEFAULTS;
  private readonly shares: ClientShares;
  // resume window (fanout-resume): limits, and resumes counted by where their history came from
  private readonly windowLimits: ResumeWindowLimits;
  private readonly resumes: Record<ResumeSource, number> = { memory: 0, kafka: 0 };
  private closing = false;
  readonly pool: ConsumerPool;
  readonly groups: GroupPool;
  readonly log: Logger;
  readonly timeoutMs: number;
  readonly replayBufferBytes: number;

  constructor(private readonly deps: RegistryDeps) {
    const { config, log } = deps;
    this.log = log;
    this.timeoutMs = config.metadataTimeoutMs;
    this.replayBufferBytes = config.replayBufferBytes;
    this.views = {
      ...VIEW_DEFAULTS,
      ...Object.fromEntries(Object.entries(config).filter(([k, v]) => k in VIEW_DEFAULTS && v !== undefined)),
    };
    this.shares = new ClientShares({
      ...SHARE_DEFAULTS,
      ...Object.fromEntries(Object.entries(config).filter(([k, v]) => k in SHARE_DEFAULTS && v !== undefined)),
    });
    this.windowLimits = {
      maxRecords: config.resumeWindowRecords ?? RESUME_WINDOW_DEFAULTS.maxRecords,
      maxBytes: config.resumeWindowBytes ?? RESUME_WINDOW_DEFAULTS.maxBytes,
      maxAgeMs: config.resumeWindowMs ?? RESUME_WINDOW_DEFAULTS.maxAgeMs,
    };
    this.pool = new ConsumerPool(
      deps.newReader,
      {
        started: (topic, next) =>
          this.topicStates.set(topic, {
            position: new PositionVector(next),
            channels: new TopicChannels(),
            window: new ResumeWindow(next, this.windowLimits),
          }),
        batch: (topic, records) => this.onLiveBatch(topic, records),
        stopped: (topic) => {
          // Channels normally went with their last members; whatever is left gives its timers back here.
          this.topicStates.get(topic)?.channels.clear();
          this.topicStates.delete(topic);
        },
        forget: deps.forgetTopic,
      },
      {
        timeoutMs: config.metadataTimeoutMs,
        maxPartitions: config.maxLivePartitions,
        lingerMs: config.fanoutLingerMs,
        idleGraceMs: deps.liveFeedIdleGraceMs,
      },
      log,
      deps.onConsumerStats,
    );
    this.groups = new GroupPool(
      deps.newReader,
      { maxGroups: config.maxGroups, groupIdPrefix: config.groupIdPrefix, timeoutMs: config.metadataTimeoutMs },
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
      ack: (_sub, ackId, handed) => this.answerAck(ackId, handed),
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
      replaysInProgress: this.replaySlots,
      groupMembers: this.groups.members,
      liveFeeds: this.pool.size,
      groupFeeds: this.groups.size,
      largestShares: this.shares.largest(),
    };
  }

  /** Deliveries sent and not yet acknowledged by a hub. */
  get pendingAcks(): number {
    return this.acks.size;
  }

  /** Records that arrived after every window they belong to had closed (beyond grace), since the last call. */
  takeLateRecords(): number {
    const n = this.lateRecords;
    this.lateRecords = 0;
    return n;
  }

  /** Windowed views being computed, over every topic (a gauge: 0 with no client connected). */
  get viewCount(): number {
    let n = 0;
    for (const state of this.topicStates.values()) n += state.channels.viewCount;
    return n;
  }

  /** Channels over every followed topic. */
  get channelCount(): number {
    let n = 0;
    for (const state of this.topicStates.values()) n += state.channels.size;
    return n;
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
    let records = 0;
    let bytes = 0;
    for (const state of this.topicStates.values()) {
      state.window.evict();
      records += state.window.size;
      bytes += state.window.bytes;
    }
    return { records, bytes };
  }

  /** Closes every subscription, then stops every consumer; resolves once all are disconnected. */
  async closeAll(): Promise<void> {
    this.closing = true;
    for (const s of [...this.subs.values()]) s.close();
    await Promise.all([this.pool.closeAll(), this.groups.closeAll(), ...this.replayRuns]);
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
        parseKeyList(req.key, this.deps.config.maxKeysPerSubscription ?? 100);
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
    const max = this.deps.config.maxReplays;
    if (this.replaySlots >= max) {
      throw new SluiceError(
        'OVERLOADED',
        `${this.replaySlots} replays are in progress (SLUICE_MAX_REPLAYS=${max}); subscribe from latest, or retry later`,
        { limit: 'SLUICE_MAX_REPLAYS' },
      );
    }
    this.replaySlots++;
  }

  giveReplaySlot(): void {
    this.replaySlots--;
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
    return this.topicStates.get(topic);
  }

  countResume(source: ResumeSource): void {
    this.resumes[source]++;
  }

  newSnapshotTable(topic: string): SnapshotTable {
    return new SnapshotTable(JSON.stringify(topic), {
      maxKeys: this.views.snapshotMaxKeys,
      maxBytes: this.views.snapshotMaxBytes,
      keyField: this.views.keyField,
    });
  }

  feedView(channel: Channel, records: Message[], values: unknown[]): string[] {
    const engine = channel.view!.engine;
    for (let i = 0; i < records.length; i++) engine.add(records[i].timestamp ?? 0, this.recordKey(records[i], values[i]), values[i]);
    const frames = engine.flush();
    this.lateRecords += engine.takeLate();
    return frames;
  }

  admitView(req: SubscribeRequest): void {
    const state = this.topicStates.get(req.topic);
    if (!state || !req.view) return;
    const name = channelName(req, parseRecordFilter(req.key, req.where), parseViewSpec(req.view).canonical, null);
    if (req.from.kind === 'latest' && !req.snapshotMs && state.channels.has(name)) return; // joins an existing computation
    this.checkViewRoom(req.topic, state);
  }

  private checkViewRoom(topic: string, state: TopicState): void {
    let views = 0;
    for (const ch of state.channels.values()) if (ch.view) views++;
    const max = this.views.maxViewsPerTopic;
    if (views >= max) {
      throw new SluiceError(
        'OVERLOADED',
        `${views} windowed views are computed on ${topic} (SLUICE_MAX_VIEWS_PER_TOPIC=${max}); use the parameters of an existing view, or retry later`,
        { limit: 'SLUICE_MAX_VIEWS_PER_TOPIC' },
      );
    }
  }

  channelFor(req: SubscribeRequest, state: TopicState, owner: Subscription | null): Channel {
    const filter = parseRecordFilter(req.key, req.where);
    const spec = req.view ? parseViewSpec(req.view) : null;
    const name = channelName(req, filter, spec?.canonical ?? null, owner);
    let channel = state.channels.get(name);
    if (!channel) {
      let view: Channel['view'] = null;
      if (spec) {
        this.checkViewRoom(req.topic, state);
        view = {
          spec,
          owner,
          engine: new WindowAggregator(spec, req.topic, {
            maxGroups: this.views.viewMaxGroups,
            maxOpenWindows: this.views.viewMaxOpenWindows,
          }),
        };
      }
      const conflation = req.conflateMs && !spec && req.style !== 'value' ? this.newConflation(req, state, name) : null;
      channel = { name, style: req.style, filter, view, conflation, members: new Map(), replaying: new Set() };
      state.channels.add(channel);
    }
    return channel;
  }

  /** A conflated channel's table and timer; its frames go to the channel's members at the time they are sent. */
  private newConflation(req: SubscribeRequest, state: TopicState, name: string): Conflation {
    const topicJson = JSON.stringify(req.topic);
    const style = req.style === 'batch' ? 'batch' : 'record';
    return new Conflation({
      intervalMs: req.conflateMs!,
      livePosition: () => state.position.next,
      emit: (fields, tokens) => {
        const channel = state.channels.get(name);
        if (!channel || channel.members.size === 0) return;
        const out = frameRecords(style, topicJson, fields, tokens);
        for (const hub of channel.members.keys()) hub.port.publish(name, out.frames, out.tokens);
      },
    });
  }

  joinChannel(s: Subscription, channel: Channel): void {
    addMember(channel, s.hub);
    s.hub.port.join(s.req.sub, channel.name);
  }

  leaveChannel(s: Subscription, channel: Channel, joined: boolean): void {
    if (removeMember(channel, s, joined)) this.topicStates.get(s.req.topic)?.channels.remove(channel);
  }

  expectAck(done: (handed: boolean) => void): number {
    const ackId = this.nextAck++;
    this.acks.set(ackId, done);
    return ackId;
  }

  answerAck(ackId: number, handed: boolean): void {
    const done = this.acks.get(ackId);
    this.acks.delete(ackId);
    done?.(handed);
  }

  forget(s: Subscription): void {
    if (this.subs.get(s.id) === s) this.subs.delete(s.id);
  }

  track(run: Promise<void>): void {
    this.replayRuns.add(run);
    const done = () => void this.replayRuns.delete(run);
    run.then(done, done);
  }

  // ---- live batches ----

  /**
   * One live batch: routed first (live-router.ts: each channel meets only the records its filter can
   * select), then each record read and serialised once (its fields, token, and per-record frame when a
   * per-record channel it reaches wants one), then per channel reached: its frames (the shared per-record
   * frames, one batch frame built for the channel, or its conflation's), one publish per hub holding
   * members, and the selection buffered for the channel's replays about to join. The work grows with the
   * records and the channels they reach, not with the channels of the topic.
   */
  private onLiveBatch(topic: string, records: Message[]): void {
    const state = this.topicStates.get(topic);
    if (!state) return;
    // fanout-resume: the resume window keeps every live batch, also with no channel (the feed's idle grace),
    // in the same synchronous step as the position and the replays' buffers below (no record between them).
    state.window.append(records);
    const n = records.length;
    if (n === 0) return;
    const keys = new Array<string | null>(n);
    for (let i = 0; i < n; i++) keys[i] = keyText(records[i].key);
    // Values are read before routing only when a filter needs them; else once, below, for the frames.
    const values: ValueText[] | null = state.channels.routingNeedsValues || this.viewsParse(state) ? new Array<ValueText>(n) : null;
    if (values) for (let i = 0; i < n; i++) values[i] = readValue(records[i].value);
    const valueAt = values ? (i: number) => values[i].parsed : null;
    const routed = state.channels.route(n, (i) => keys[i], valueAt);
    let envelopes = false;
    let perRecord = false;
    // Record fields apart from frames only when something needs them: a batch or conflated channel, or a replay's buffer.
    let needFields = false;
    for (const { channel: ch } of routed) {
      if (ch.style === 'value' || ch.view) continue;
      envelopes = true;
      if (ch.style === 'record' && !ch.conflation) perRecord = true;
      if (ch.style === 'batch' || ch.conflation || ch.replaying.size > 0) needFields = true;
    }
    const fields: string[] = needFields ? new Array<string>(n) : [];
    const frames: string[] = perRecord ? new Array<string>(n) : [];
    const tokens: string[] = envelopes ? new Array<string>(n) : [];
    const topicJson = JSON.stringify(topic);
    for (let i = 0; i < n; i++) {
      const m = records[i];
      if (!envelopes) {
        state.position.set(m.partition, m.offset + 1);
        continue;
      }
      const token = state.position.advance(m.partition, m.offset);
      const value = values ? values[i] : readValue(m.value);
      if (needFields) {
        const f = (fields[i] = encodeFields(m, value));
        if (perRecord) frames[i] = recordFrame(topicJson, f, token);
      } else if (perRecord) frames[i] = encodeEnvelope(m, topicJson, token, value); // the one string per record, as before batch frames
      tokens[i] = token;
    }
    for (const { channel: ch, selection } of routed) {
      if (ch.style === 'value') {
        const vals: Uint8Array[] = [];
        for (const m of records) if (m.value) vals.push(m.value);
        for (const hub of ch.members.keys()) hub.port.publishValues(ch.name, vals);
        continue;
      }
      if (ch.view) {
        this.viewBatch(ch, records, selection, valueAt);
        continue;
      }
      // Fields only for a batch frame, a conflation or a replay's buffer (needFields holds then).
      const selFields = !needFields ? fields : selection ? selection.map((i) => fields[i]) : fields;
      const selTokens = selection ? selection.map((i) => tokens[i]) : tokens;
      if (ch.members.size > 0) {
        if (ch.conflation) {
          const held: HeldRecord[] = new Array(selFields.length);
          const heldKeys = new Array<string | null>(selFields.length);
          for (let j = 0; j < selFields.length; j++) {
            const i = selection ? selection[j] : j;
            held[j] = { fields: selFields[j], partition: records[i].partition, offset: records[i].offset };
            heldKeys[j] = keys[i];
          }
          ch.conflation.offer(heldKeys, held);
        } else if (ch.style === 'record') {
          const selFrames = selection ? selection.map((i) => frames[i]) : frames;
          for (const hub of ch.members.keys()) hub.port.publish(ch.name, selFrames, selTokens);
        } else {
          const last = selTokens[selTokens.length - 1];
          const batch = [batchFrame(topicJson, selFields, last)];
          const batchTokens = [last];
          for (const hub of ch.members.keys()) hub.port.publish(ch.name, batch, batchTokens);
        }
      }
      if (ch.replaying.size > 0) {
        const partitions = selection ? selection.map((i) => records[i].partition) : records.map((m) => m.partition);
        const offsets = selection ? selection.map((i) => records[i].offset) : records.map((m) => m.offset);
        // A replay over its buffer bound fails (and leaves the set) while the set is walked: walk a copy.
        for (const s of [...ch.replaying]) s.bufferLive(selFields, selTokens, partitions, offsets);
      }
    }
  }

  /** True when a view of the topic reads record values (an aggregate over a field, or grouping by SLUICE_KEY_FIELD). */
  private viewsParse(state: TopicState): boolean {
    if (state.channels.viewCount === 0) return false;
    for (const ch of state.channels.values())
      if (ch.view && (ch.view.spec.needsValue || (ch.view.spec.by?.kind === 'key' && this.views.keyField !== ''))) return true;
    return false;
  }

  /** A view channel's share of a live batch: its selected records through its computation, the frames published. */
  private viewBatch(ch: Channel, records: Message[], selection: number[] | null, valueAt: ((i: number) => unknown) | null): void {
    let sel = records;
    let values: unknown[] = new Array<unknown>(records.length);
    if (valueAt) for (let i = 0; i < records.length; i++) values[i] = valueAt(i);
    if (selection) {
      sel = selection.map((i) => records[i]);
      values = selection.map((i) => (valueAt ? valueAt(i) : undefined));
    }
    if (sel.length === 0) return;
    if (ch.view!.owner && ch.members.size === 0) {
      // A view with history, not joined yet: its owner computes [start, join) first and takes the records
      // from the join point on after them (buffered while it replays); records before it begins are below
      // the join point, so in its history.
      for (const s of [...ch.replaying]) s.bufferLiveRecords(sel, values);
      return;
    }
    let out: string[];
    try {
      out = this.feedView(ch, sel, values);
    } catch (err) {
      if (!(err instanceof ViewLimitError)) throw err;
      // The view's state is incomplete from here on: every subscriber of it ends with the error (the channel goes with them).
      this.log.warn({ topic: ch.name.split('\n', 1)[0].slice(2), err: err.message }, 'windowed view passed a bound');
      for (const s of [...this.subs.values()]) if (s.currentChannel === ch) s.fail(err, false);
      return;
    }
    if (out.length > 0) for (const hub of ch.members.keys()) hub.port.publish(ch.name, out, null);
  }

  /** The record key, or (no key) its SLUICE_KEY_FIELD value, as ingest keys records. */
  private recordKey(m: Message, value: unknown): string | null {
    const key = keyText(m.key);
    if (key !== null || this.views.keyField === '') return key;
    const f = fieldAt(value, [this.views.keyField]);
    return typeof f === 'string' ? f : typeof f === 'number' || typeof f === 'boolean' ? String(f) : null;
  }
}

/** A subscription as its shares know it: connection ids are per hub. */
function shareHolder(s: Subscription): ShareHolder {
  return { connection: `${s.hub.index}:${s.req.connection}`, client: s.req.client, topic: s.req.topic };
}
