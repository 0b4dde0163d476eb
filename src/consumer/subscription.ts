/**
 * One (client, topic) subscription on the Kafka side, and the one owner of everything it acquires:
 *
 *   preparing ──► replaying ──► live ──► closed          (closed from any state, by close() or a failure)
 *   per-connection and per-client shares; topic lookup; live-feed lease (or group lease); replay slot;
 *   [ready → start]; replay reader; channel membership or group membership; deliveries not yet acknowledged.
 *
 * Each resource is recorded in a field in the same synchronous step that acquires it, so `close()` — one
 * idempotent release, valid in every state — gives back exactly what is held at that moment. After every
 * `await` the code checks `closed` and stops: whatever the await was for has been given back by close()
 * already, or (the replay's reader) is stopped by the run that owns it. No other code adjusts these counts.
 */
import type { Logger } from 'pino';
import { SluiceError, toPlainError } from '../errors.js';
import type { HubPort, SubscribeRequest, SubscriptionState } from '../subscription/protocol.js';
import { frameRecords } from '../subscription/frame-encoder.js';
import { encodeResumeToken } from '../subscription/resume-token.js';
import type { StartFrom } from '../subscription/protocol.js';
import type { Channel, TopicState } from './channels.js';
import type { ShareKind } from './client-shares.js';
import type { FeedLease } from './consumer-pool.js';
import type { GroupLease, GroupMember } from './group-feed.js';
import type { FanoutReader, Message } from './kafka-reader.js';
import { Replay } from './replay.js';
import type { WindowHistory } from './resume-window.js';
import type { SnapshotTable } from './snapshot-table.js';

export type { Channel, ChannelView, TopicState } from './channels.js';

/** Where a resume's history came from (`sluice_resumes_total{source}`). */
export type ResumeSource = 'memory' | 'kafka';

/** A hub as the registry knows it: its index (subscription ids are per hub) and the port that reaches it. */
export interface HubRef {
  index: number;
  port: HubPort;
}

/** What a subscription needs of its registry. */
export interface SubscriptionHost {
  readonly log: Logger;
  /** Bounds each Kafka call that starts a replay consumer: connect, watermarks, offsets for a time (SLUICE_METADATA_TIMEOUT_MS). */
  readonly consumerStartTimeoutMs: number;
  readonly replayBufferBytes: number;
  /** The topic's partitions; creates it only when `mayCreate` (the credential may produce to it), else 404 TOPIC_NOT_FOUND. */
  ensureTopic(topic: string, mayCreate: boolean): { partitions: number } | Promise<{ partitions: number }>;
  /** Takes the subscription's per-connection and per-client share of `kind`; throws CONNECTION_LIMIT / CLIENT_LIMIT. */
  takeShare(s: Subscription, kind: ShareKind): void;
  giveShare(s: Subscription, kind: ShareKind): void;
  acquireFeed(topic: string, partitions: number): FeedLease;
  acquireGroup(topic: string, group: string, startAt: 'earliest' | 'latest'): GroupLease;
  /** Takes one of SLUICE_MAX_REPLAYS slots; throws OVERLOADED when none is free. */
  takeReplaySlot(): void;
  giveReplaySlot(): void;
  newReplayReader(topic: string, batchMax: number): FanoutReader;
  /** The latest-per-key table of a `snapshot=`, bounded by the snapshot settings. */
  newSnapshotTable(topic: string): SnapshotTable;
  /** Records through a view's computation; returns the frames of the windows they closed. Throws at a view bound. */
  feedView(channel: Channel, records: Message[], values: unknown[]): string[];
  topicState(topic: string): TopicState | undefined;
  /** A resume (`from=<token>|<time>`) starts, its history from memory or from Kafka. */
  countResume(source: ResumeSource): void;
  /** Throws OVERLOADED when the view would be one more than SLUICE_MAX_VIEWS_PER_TOPIC on its topic. */
  admitView(req: SubscribeRequest): void;
  /** `owner`: a view with history gets a channel of its own (its windows start from its own history). */
  channelFor(req: SubscribeRequest, state: TopicState, owner: Subscription | null): Channel;
  joinChannel(s: Subscription, channel: Channel): void;
  leaveChannel(s: Subscription, channel: Channel, joined: boolean): void;
  /** Registers an ack id whose answer resolves `done`. */
  expectAck(done: (handed: boolean) => void): number;
  answerAck(ackId: number, handed: boolean): void;
  forget(s: Subscription): void;
  /** A replay run in progress, so shutdown can wait for its reader to stop. */
  track(run: Promise<void>): void;
}

export class Subscription {
  private lifecycle: SubscriptionState | 'closed' = 'preparing';
  private feed: FeedLease | undefined;
  private group: GroupLease | undefined;
  private member: GroupMember | undefined;
  private holdsReplaySlot = false;
  /** Per-connection and per-client shares held (client-shares.ts). */
  private readonly shares = new Set<ShareKind>();
  private replay: Replay | undefined;
  private channel: Channel | undefined;
  private joined = false;
  private readonly acks = new Set<number>();
  private started: boolean;
  private startWaiter: (() => void) | undefined;
  private readonly topicJson: string;

  constructor(
    readonly id: string,
    readonly hub: HubRef,
    readonly req: SubscribeRequest,
    private readonly host: SubscriptionHost,
  ) {
    this.started = !req.beforeUpgrade;
    this.topicJson = JSON.stringify(req.topic);
  }

  get state(): SubscriptionState | 'closed' {
    return this.lifecycle;
  }

  get closed(): boolean {
    return this.lifecycle === 'closed';
  }

  /** The channel it receives (or replays towards), once known. */
  get currentChannel(): Channel | undefined {
    return this.channel;
  }

  /** Runs the subscription up to live; never rejects (a failure is reported to the hub and closes it). */
  async run(): Promise<void> {
    try {
      this.takeShare('subscriptions');
      if (this.req.group !== null) await this.runGroupMember(this.req.group);
      else await this.runBroadcast();
    } catch (err) {
      this.fail(err, false);
    }
  }

  /** The hub's socket or stream exists now (after `ready`). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.startWaiter?.();
  }

  /** The one release: idempotent, from every state. */
  close(): void {
    if (this.lifecycle === 'closed') return;
    this.lifecycle = 'closed';
    this.host.forget(this);
    this.startWaiter?.();
    if (this.replay)
      this.replay.cancel(); // its run gives the slot back once its reader has stopped
    else this.giveReplaySlot();
    for (const ackId of [...this.acks]) this.host.answerAck(ackId, false);
    if (this.channel) this.host.leaveChannel(this, this.channel, this.joined);
    this.joined = false;
    if (this.member) this.group!.feed.remove(this.member);
    this.group?.release();
    this.feed?.release();
    this.giveShare('groups');
    this.giveShare('subscriptions');
  }

  /** Ends the subscription with an error for the client (`slow`: it fell behind; closed like a slow socket). */
  fail(err: unknown, slow: boolean): void {
    if (this.closed) return;
    const plain = toPlainError(err);
    if (plain.code === 'INTERNAL') this.host.log.error({ topic: this.req.topic, err: (err as Error).stack }, 'subscription failed');
    else this.host.log.warn({ topic: this.req.topic, code: plain.code, err: plain.message }, 'subscription failed');
    this.hub.port.failed(this.req.sub, plain, slow);
    this.close();
  }

  /** Live records (fields, tokens) of a replaying subscription's channel; over its buffer bound it fails as too slow. */
  bufferLive(fields: string[], tokens: string[], partitions: number[], offsets: number[]): void {
    try {
      this.replay?.buffer(fields, tokens, partitions, offsets);
    } catch (err) {
      this.fail(err, true);
    }
  }

  /** A view channel's matched live records, for a subscriber computing the view's history first. */
  bufferLiveRecords(records: Message[], values: unknown[]): void {
    try {
      this.replay?.bufferRecords(records, values);
    } catch (err) {
      this.fail(err, true);
    }
  }

  /**
   * Records (fields, and tokens or null) to this subscriber alone, framed in its style (one frame per
   * record, or one batch frame); resolves true once handed to its socket, false if it is gone.
   */
  deliverRecords(fields: string[], tokens: string[] | null): Promise<boolean> {
    const { frames, tokens: frameTokens } = frameRecords(this.req.style === 'batch' ? 'batch' : 'record', this.topicJson, fields, tokens);
    return this.deliver(frames, frameTokens);
  }

  /** Frames already built (snapshot, view) to this subscriber alone, as they are; resolves true once handed to its socket, false if it is gone. */
  deliver(frames: string[], tokens: string[] | null): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const ackId = this.host.expectAck((handed) => {
        this.acks.delete(ackId);
        resolve(handed);
      });
      this.acks.add(ackId);
      this.hub.port.deliver(this.req.sub, frames, tokens, ackId);
    });
  }

  private async runBroadcast(): Promise<void> {
    const { req, host } = this;
    const snapshotMs = req.snapshotMs ?? null;
    const wantsHistory = req.from.kind !== 'latest' || snapshotMs !== null;
    const { partitions } = await host.ensureTopic(req.topic, req.mayCreate);
    if (this.closed) return;
    this.feed = host.acquireFeed(req.topic, partitions);
    // A resume (token or time) may be served from the topic's resume window; whether it can is known once
    // the feed is ready. Everything else with history (earliest, snapshot, views) reads Kafka: slot now.
    const resume = snapshotMs === null && !req.view && (req.from.kind === 'token' || req.from.kind === 'time');
    if (wantsHistory && !resume) this.takeReplaySlot();
    await this.feed.ready;
    if (this.closed) return;
    // A view over the topic's bound is refused before the upgrade (an HTTP answer); channelFor checks again.
    if (req.view) host.admitView(req);
    let fromMemory: { state: TopicState; channel: Channel } | undefined;
    if (resume) {
      fromMemory = this.resumeFromWindow(req.from, partitions);
      host.countResume(fromMemory ? 'memory' : 'kafka');
      // Not inside the window: a replay from Kafka, refused before the upgrade when no slot is free.
      if (!fromMemory) this.takeReplaySlot();
    }
    if (!(await this.upgraded())) return;
    const state = host.topicState(req.topic);
    if (!state || (fromMemory && fromMemory.state !== state)) throw new SluiceError('SHUTTING_DOWN', 'server shutting down');
    const channel = (this.channel ??= host.channelFor(req, state, req.view && wantsHistory ? this : null));
    if (!wantsHistory) {
      this.lifecycle = 'live';
      this.hub.port.subscribed(req.sub, req.style === 'value' ? null : state.position.token());
      host.joinChannel(this, channel);
      this.joined = true;
      return;
    }
    this.lifecycle = 'replaying';
    // A snapshot reads its span back like a replay from a time, reduced to the latest record per key.
    const from = snapshotMs !== null ? { kind: 'time' as const, timestampMs: Math.max(0, Date.now() - snapshotMs) } : req.from;
    if (from.kind === 'latest') throw new Error('unreachable: history without a start');
    const replay = (this.replay ??= this.newReplay(state, channel, from, partitions, snapshotMs, null));
    const run = replay.run();
    host.track(run);
    try {
      await run;
    } finally {
      channel.replaying.delete(this);
      this.giveReplaySlot();
    }
  }

  /**
   * A resume inside the topic's resume window: its history taken from memory in this synchronous step,
   * with the channel and the replay that buffers the channel's live batches from the window's head on (so
   * no record falls between the history and live while the upgrade happens); undefined when not inside.
   */
  private resumeFromWindow(from: StartFrom, partitions: number): { state: TopicState; channel: Channel } | undefined {
    const state = this.host.topicState(this.req.topic);
    if (!state || state.window.partitions !== partitions) return undefined;
    const history =
      from.kind === 'token'
        ? state.window.fromPositions(from.offsets)
        : from.kind === 'time'
          ? state.window.fromTime(from.timestampMs)
          : undefined;
    if (!history || from.kind === 'latest') return undefined;
    const channel = (this.channel = this.host.channelFor(this.req, state, null));
    this.replay = this.newReplay(state, channel, from, partitions, null, history);
    channel.replaying.add(this);
    return { state, channel };
  }

  private newReplay(
    state: TopicState,
    channel: Channel,
    from: Exclude<StartFrom, { kind: 'latest' }>,
    partitions: number,
    snapshotMs: number | null,
    memory: WindowHistory | null,
  ): Replay {
    const { req, host } = this;
    const view = channel.view;
    return new Replay({
      topic: req.topic,
      partitions,
      from,
      filter: channel.filter,
      maxBufferBytes: host.replayBufferBytes,
      timeoutMs: host.consumerStartTimeoutMs,
      newReader: (batchMax) => host.newReplayReader(req.topic, batchMax),
      memory,
      deliver: (fields, tokens) => this.deliverRecords(fields, tokens),
      deliverFrames: (frames, tokens) => this.deliver(frames, tokens),
      snapshot: snapshotMs !== null ? host.newSnapshotTable(req.topic) : null,
      view: view ? (records, values) => host.feedView(channel, records, values) : null,
      viewNeedsValue: view ? view.spec.needsValue : false,
      begin: (startToken, start) => {
        channel.replaying.add(this);
        const join = state.position.copy();
        // After a snapshot the client continues from the position after it, not from the span's start.
        this.hub.port.subscribed(req.sub, snapshotMs !== null ? encodeResumeToken(join.map((j, p) => Math.max(j, start[p]))) : startToken);
        return join;
      },
      livePosition: () => state.position.next,
      join: () => {
        channel.replaying.delete(this);
        this.lifecycle = 'live';
        host.joinChannel(this, channel);
        this.joined = true;
      },
      log: host.log,
    });
  }

  private async runGroupMember(group: string): Promise<void> {
    const { req, host } = this;
    this.takeShare('groups');
    await host.ensureTopic(req.topic, req.mayCreate);
    if (this.closed) return;
    this.group = host.acquireGroup(req.topic, group, req.from.kind === 'earliest' ? 'earliest' : 'latest');
    await this.group.feed.ready;
    if (this.closed || !(await this.upgraded())) return;
    this.lifecycle = 'live';
    this.hub.port.subscribed(req.sub, null);
    // Dealt to only now that its socket exists; may at once hand it records a departed member left.
    this.member = { deliver: (fields) => this.deliverRecords(fields, null) };
    this.group.feed.add(this.member);
  }

  /** Before an upgrade: says `ready` and waits for `start` (true) or `close` (false). */
  private upgraded(): boolean | Promise<boolean> {
    if (this.started) return true;
    return new Promise<boolean>((resolve) => {
      this.startWaiter = () => resolve(!this.closed);
      this.hub.port.ready(this.req.sub);
    });
  }

  private takeShare(kind: ShareKind): void {
    this.host.takeShare(this, kind);
    this.shares.add(kind);
  }

  private giveShare(kind: ShareKind): void {
    if (this.shares.delete(kind)) this.host.giveShare(this, kind);
  }

  /**
   * The client's own replay share first (so one over it is told so, 429), then the gateway's slot. A resume
   * served from memory takes neither: it holds no Kafka consumer.
   */
  private takeReplaySlot(): void {
    this.takeShare('replays');
    this.host.takeReplaySlot();
    this.holdsReplaySlot = true;
  }

  /** The replay's share goes with its slot: when the replay has joined live or its reader has stopped. */
  private giveReplaySlot(): void {
    this.giveShare('replays');
    if (!this.holdsReplaySlot) return;
    this.holdsReplaySlot = false;
    this.host.giveReplaySlot();
  }
}
