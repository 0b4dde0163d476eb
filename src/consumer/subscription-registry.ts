/**
 * Main-thread side of fan-out: every subscription of every hub (the main thread's uWS app or an ingress
 * worker's), the channels they share, and the consumers that feed them.
 *
 * A channel is what a set of subscribers receive identically: (topic, frame style, filter). Each live batch
 * of a topic is serialised once — one frame and one resume token per record — and each channel's selection
 * is published once to each hub holding members of that channel (uWS pub/sub then copies bytes to sockets).
 * Subscriptions from a position in the past run a Replay first; `group=` subscriptions are members of a
 * GroupFeed. Kafka connections: one live feed per topic with subscribers, one per replay in progress (at
 * most SLUICE_MAX_REPLAYS), one per (topic, group) with members here, plus the producer.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { SluiceError, toPlainError } from '../errors.js';
import type { FanoutGate, HubPort, SubscribeRequest, Transport } from '../fanout/fanout-protocol.js';
import { encodeEnvelope, keyText, readValue } from '../fanout/frame-encoder.js';
import type { TopicRegistry } from '../producer/topic-registry.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import { ConsumerPool } from './consumer-pool.js';
import { GroupFeed, type GroupMember } from './group-feed.js';
import { KafkaReader, type Message } from './kafka-reader.js';
import { parseRecordFilter, type RecordFilter } from './record-filter.js';
import { PositionVector } from './resume-token.js';
import { Replay } from './replay.js';

interface Hub {
  index: number;
  port: HubPort;
}

interface Channel {
  name: string;
  style: 'envelope' | 'value';
  filter: RecordFilter | null;
  /** Joined subscribers per hub. */
  members: Map<Hub, number>;
  replays: Set<Replay>;
}

interface TopicState {
  position: PositionVector;
  channels: Map<string, Channel>;
}

interface Subscription {
  hub: Hub;
  req: SubscribeRequest;
  holdsFeed: boolean;
  channel?: Channel;
  replay?: Replay;
  group?: { feed: GroupFeed; member: GroupMember; key: string };
  joinedChannel: boolean;
  /** Deliveries not acknowledged yet: answered `false` if the subscription ends first. */
  acks: Set<number>;
  cancelled: boolean;
}

export class SubscriptionRegistry {
  private readonly hubs: Hub[] = [];
  private readonly subs = new Map<string, Subscription>();
  private readonly topicStates = new Map<string, TopicState>();
  private readonly groups = new Map<string, GroupFeed>();
  private readonly acks = new Map<number, (handed: boolean) => void>();
  private nextAck = 1;
  private replays = 0;
  readonly pool: ConsumerPool;

  constructor(
    private readonly topics: TopicRegistry,
    private readonly config: Config,
    private readonly bootstrapServers: string,
    private readonly consumerProps: Record<string, string>,
    private readonly log: Logger,
    private readonly metrics?: GatewayMetrics,
  ) {
    this.pool = new ConsumerPool(bootstrapServers, consumerProps, {
      started: (topic, next) => this.topicStates.set(topic, { position: new PositionVector(next), channels: new Map() }),
      batch: (topic, records) => this.onLiveBatch(topic, records),
      stopped: (topic) => this.topicStates.delete(topic),
    }, config.metadataTimeoutMs, config.maxLiveTopics, config.fanoutLingerMs, log, metrics);
  }

  /** Connects a hub; returns the gate it uses. */
  connect(port: HubPort): FanoutGate {
    const hub: Hub = { index: this.hubs.length, port };
    this.hubs.push(hub);
    return {
      prepare: async (topic) => void (await this.prepare(topic)),
      unprepare: (topic) => this.pool.release(topic),
      subscribe: (req) => void this.subscribe(hub, req),
      unsubscribe: (sub) => this.unsubscribe(hub, sub),
      ack: (_sub, ackId, handed) => this.ack(ackId, handed),
    };
  }

  /** Open subscriptions by transport, for metrics. */
  counts(): Record<Transport, number> {
    const out: Record<Transport, number> = { websocket: 0, sse: 0, 'seed-websocket': 0 };
    for (const s of this.subs.values()) out[s.req.transport]++;
    return out;
  }

  async closeAll(): Promise<void> {
    for (const s of this.subs.values()) s.replay?.cancel();
    const groups = [...this.groups.values()];
    this.groups.clear();
    await Promise.all([this.pool.closeAll(), ...groups.map((g) => g.stop())]);
  }

  /** Takes a reference on the topic's live feed once it is positioned; resolves with the topic's partition count. */
  private async prepare(topic: string): Promise<number> {
    const known = this.topics.ensure(topic);
    const { partitions } = known instanceof Promise ? await known : known;
    try {
      await this.pool.acquire(topic, partitions);
      return partitions;
    } catch (err) {
      this.pool.release(topic);
      // A client error code, not a 500: the consumer could not reach its partitions in time.
      throw err instanceof SluiceError ? err : new SluiceError('BROKER_UNAVAILABLE', `cannot start reading ${topic}: ${(err as Error).message}`);
    }
  }

  private async subscribe(hub: Hub, req: SubscribeRequest): Promise<void> {
    const id = `${hub.index}:${req.sub}`;
    const s: Subscription = { hub, req, holdsFeed: false, joinedChannel: false, acks: new Set(), cancelled: false };
    this.subs.set(id, s);
    try {
      if (req.group !== null) return await this.joinGroup(s);
      const partitions = await this.prepare(req.topic);
      s.holdsFeed = true;
      if (s.cancelled) return;
      const state = this.topicStates.get(req.topic)!;
      const channel = this.channelFor(req, state);
      s.channel = channel;
      if (req.from.kind === 'latest') {
        hub.port.subscribed(req.sub, req.style === 'envelope' ? state.position.token() : null);
        this.join(s, channel);
        return;
      }
      if (this.replays >= this.config.maxReplays) {
        throw new SluiceError('OVERLOADED', `${this.replays} replays are in progress (SLUICE_MAX_REPLAYS); subscribe from latest, or retry later`);
      }
      this.replays++;
      const replay = new Replay({
        topic: req.topic, partitions, from: req.from, filter: channel.filter, maxBufferBytes: this.config.replayBufferBytes,
        timeoutMs: this.config.metadataTimeoutMs,
        newReader: (batchMax) => new KafkaReader({
          topic: req.topic, clientId: `sluice-replay-${req.topic}`, groupId: `sluice-replay-${process.pid}`, batchMax,
          bootstrapServers: this.bootstrapServers, properties: this.consumerProps, log: this.log,
        }),
        deliver: (frames, tokens) => this.deliver(s, frames, tokens),
        begin: (startToken) => {
          channel.replays.add(replay);
          hub.port.subscribed(req.sub, startToken);
          return state.position.copy();
        },
        livePosition: () => state.position.next,
        join: () => {
          channel.replays.delete(replay);
          this.join(s, channel);
        },
        log: this.log,
      });
      s.replay = replay;
      try {
        await replay.run();
      } finally {
        this.replays--;
        channel.replays.delete(replay);
      }
    } catch (err) {
      if (s.cancelled) return;
      this.log.warn({ topic: req.topic, err: (err as Error).message }, 'subscription failed');
      hub.port.failed(req.sub, toPlainError(err), false);
      this.unsubscribe(hub, req.sub);
    }
  }

  private async joinGroup(s: Subscription): Promise<void> {
    const { req, hub } = s;
    await this.topics.ensure(req.topic);
    const key = `${req.topic}\n${req.group}`;
    let feed = this.groups.get(key);
    if (!feed) {
      if (this.groups.size >= this.config.maxGroups) {
        throw new SluiceError('OVERLOADED', `${this.groups.size} consumer groups have members here (SLUICE_MAX_GROUPS); retry later`);
      }
      const reader = new KafkaReader({
        topic: req.topic, clientId: `sluice-group-${req.group}`, groupId: `${this.config.groupIdPrefix}${req.group}`,
        bootstrapServers: this.bootstrapServers, properties: this.consumerProps, log: this.log,
        overrides: { 'enable.auto.commit': false, 'enable.auto.offset.store': false, 'auto.offset.reset': req.from.kind === 'earliest' ? 'earliest' : 'latest' },
      });
      feed = new GroupFeed(req.topic, reader, this.config.metadataTimeoutMs, this.log);
      this.groups.set(key, feed);
      const started = feed;
      started.ready.catch((err: Error) => {
        this.log.error({ topic: req.topic, group: req.group, err: err.message }, 'group consumer failed to start');
        if (this.groups.get(key) === started) this.groups.delete(key);
      });
    }
    const member: GroupMember = { deliver: (frames) => this.deliver(s, frames, null) };
    s.group = { feed, member, key };
    feed.add(member);
    await feed.ready;
    if (!s.cancelled) hub.port.subscribed(req.sub, null);
  }

  private deliver(s: Subscription, frames: string[], tokens: string[] | null): Promise<boolean> {
    if (s.cancelled) return Promise.resolve(false);
    const ackId = this.nextAck++;
    return new Promise((resolve) => {
      s.acks.add(ackId);
      this.acks.set(ackId, (handed) => {
        s.acks.delete(ackId);
        resolve(handed);
      });
      s.hub.port.deliver(s.req.sub, frames, tokens, ackId);
    });
  }

  private ack(ackId: number, handed: boolean): void {
    const done = this.acks.get(ackId);
    this.acks.delete(ackId);
    done?.(handed);
  }

  private unsubscribe(hub: Hub, sub: number): void {
    const id = `${hub.index}:${sub}`;
    const s = this.subs.get(id);
    if (!s) return;
    this.subs.delete(id);
    s.cancelled = true;
    s.replay?.cancel();
    for (const ackId of s.acks) this.ack(ackId, false);
    const ch = s.channel;
    if (ch && s.joinedChannel) {
      const n = (ch.members.get(hub) ?? 1) - 1;
      if (n > 0) ch.members.set(hub, n);
      else ch.members.delete(hub);
    }
    if (ch && ch.members.size === 0 && ch.replays.size === 0) this.topicStates.get(s.req.topic)?.channels.delete(ch.name);
    if (s.group && s.group.feed.remove(s.group.member)) {
      this.groups.delete(s.group.key);
      void s.group.feed.stop();
    }
    if (s.holdsFeed) this.pool.release(s.req.topic);
  }

  private join(s: Subscription, channel: Channel): void {
    channel.members.set(s.hub, (channel.members.get(s.hub) ?? 0) + 1);
    s.joinedChannel = true;
    s.hub.port.join(s.req.sub, channel.name);
  }

  private channelFor(req: SubscribeRequest, state: TopicState): Channel {
    const filter = parseRecordFilter(req.key, req.where);
    const name = req.style === 'value' ? `v:${req.topic}` : `r:${req.topic}${filter ? `\n${filter.canonical}` : ''}`;
    let channel = state.channels.get(name);
    if (!channel) state.channels.set(name, (channel = { name, style: req.style, filter, members: new Map(), replays: new Set() }));
    return channel;
  }

  /** One live batch: serialise once, select per channel, publish once per hub, buffer for replays about to join. */
  private onLiveBatch(topic: string, records: Message[]): void {
    const state = this.topicStates.get(topic);
    if (!state) return;
    let envelopes = false;
    let values = false;
    let parse = false;
    for (const ch of state.channels.values()) {
      if (ch.style === 'value') values = true;
      else envelopes = true;
      if (ch.filter?.needsValue) parse = true;
    }
    const n = records.length;
    const frames: string[] = envelopes ? new Array<string>(n) : [];
    const tokens: string[] = envelopes ? new Array<string>(n) : [];
    const parsed: unknown[] = parse ? new Array<unknown>(n) : [];
    const topicJson = JSON.stringify(topic);
    for (let i = 0; i < n; i++) {
      const m = records[i];
      if (!envelopes) {
        state.position.set(m.partition, m.offset + 1);
        continue;
      }
      const token = state.position.advance(m.partition, m.offset);
      const value = readValue(m.value);
      if (parse) parsed[i] = value.parsed;
      frames[i] = encodeEnvelope(m, topicJson, token, value);
      tokens[i] = token;
    }
    for (const ch of state.channels.values()) {
      if (ch.style === 'value') {
        const vals: Uint8Array[] = [];
        for (const m of records) if (m.value) vals.push(m.value);
        for (const hub of ch.members.keys()) hub.port.publishValues(ch.name, vals);
        continue;
      }
      let selFrames = frames;
      let selTokens = tokens;
      let selIndex: number[] | null = null;
      if (ch.filter) {
        selFrames = [];
        selTokens = [];
        selIndex = [];
        for (let i = 0; i < n; i++) {
          if (!ch.filter.matches(keyText(records[i].key), parse ? parsed[i] : undefined)) continue;
          selFrames.push(frames[i]);
          selTokens.push(tokens[i]);
          selIndex.push(i);
        }
        if (selFrames.length === 0) continue;
      }
      for (const hub of ch.members.keys()) hub.port.publish(ch.name, selFrames, selTokens);
      if (ch.replays.size > 0) this.bufferForReplays(ch, records, selFrames, selTokens, selIndex);
    }
  }

  private bufferForReplays(ch: Channel, records: Message[], frames: string[], tokens: string[], index: number[] | null): void {
    const partitions = frames.map((_, j) => records[index ? index[j] : j].partition);
    const offsets = frames.map((_, j) => records[index ? index[j] : j].offset);
    for (const replay of ch.replays) {
      try {
        replay.buffer(frames, tokens, partitions, offsets);
      } catch (err) {
        ch.replays.delete(replay);
        for (const s of [...this.subs.values()]) {
          if (s.replay !== replay) continue;
          s.hub.port.failed(s.req.sub, toPlainError(err), true);
          this.unsubscribe(s.hub, s.req.sub);
        }
      }
    }
  }
}
