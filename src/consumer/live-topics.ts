/**
 * The topics followed live, each with its position, resume window and channels; and how a subscription's
 * channel is found or made: a channel is (topic, style, filter[, conflation]), and a windowed view
 * (`window=…`) is part of its channel's identity, so subscribers of equal views (same filter, same view
 * text) share one WindowAggregator per topic. A view with history (`from=`) has a channel of its own. A
 * view's window and alert frames are one message each in either frame style (`frames=batch` does not
 * combine them), so a view channel's name leaves the style out: record and batch subscribers share it.
 *
 * A topic's state exists from its live feed's start to its stop (consumer-pool.ts hooks); a channel goes
 * with its last member, and whatever channels are left when the feed stops give their timers back then.
 */
import { SETTINGS, type Config } from '../config/schema.js';
import { SluiceError } from '../errors.js';
import type { SubscribeRequest } from '../subscription/protocol.js';
import { frameRecords, keyText } from '../subscription/frame-encoder.js';
import { parseRecordFilter } from '../subscription/record-filter.js';
import { PositionVector } from '../subscription/resume-token.js';
import { fieldAt, parseViewSpec } from '../subscription/view-spec.js';
import { addMember, channelName, removeMember, TopicChannels, type Channel, type TopicState } from './channels.js';
import { Conflation } from './conflation.js';
import type { Message } from './kafka-reader.js';
import { ResumeWindow, type ResumeWindowLimits } from './resume-window.js';
import { SnapshotTable } from './snapshot-table.js';
import type { Subscription } from './subscription.js';
import { WindowAggregator } from './window-aggregator.js';

/** The live-view and resume-window settings; each one left out (a test's configuration) is the schema's default. */
export type LiveTopicsConfig = Partial<
  Pick<
    Config,
    | 'snapshotMaxKeys'
    | 'snapshotMaxBytes'
    | 'viewMaxGroups'
    | 'viewMaxOpenWindows'
    | 'maxViewsPerTopic'
    | 'keyField'
    | 'resumeWindowRecords'
    | 'resumeWindowBytes'
    | 'resumeWindowMs'
  >
>;

type ViewSettings = Required<Omit<LiveTopicsConfig, 'resumeWindowRecords' | 'resumeWindowBytes' | 'resumeWindowMs'>>;

export class LiveTopics {
  private readonly states = new Map<string, TopicState>();
  private readonly views: ViewSettings;
  private readonly windowLimits: ResumeWindowLimits;
  private lateRecords = 0;

  constructor(config: LiveTopicsConfig) {
    this.views = {
      snapshotMaxKeys: config.snapshotMaxKeys ?? SETTINGS.snapshotMaxKeys.default,
      snapshotMaxBytes: config.snapshotMaxBytes ?? SETTINGS.snapshotMaxBytes.default,
      viewMaxGroups: config.viewMaxGroups ?? SETTINGS.viewMaxGroups.default,
      viewMaxOpenWindows: config.viewMaxOpenWindows ?? SETTINGS.viewMaxOpenWindows.default,
      maxViewsPerTopic: config.maxViewsPerTopic ?? SETTINGS.maxViewsPerTopic.default,
      keyField: config.keyField ?? SETTINGS.keyField.default,
    };
    this.windowLimits = {
      maxRecords: config.resumeWindowRecords ?? SETTINGS.resumeWindowRecords.default,
      maxBytes: config.resumeWindowBytes ?? SETTINGS.resumeWindowBytes.default,
      maxAgeMs: config.resumeWindowMs ?? SETTINGS.resumeWindowMs.default,
    };
  }

  /** The topic's live feed is positioned: `next[p]` is the first offset it hands over for partition p. */
  started(topic: string, next: number[]): void {
    this.states.set(topic, {
      position: new PositionVector(next),
      channels: new TopicChannels(),
      window: new ResumeWindow(next, this.windowLimits),
    });
  }

  /** The topic's live feed stopped. */
  stopped(topic: string): void {
    // Channels normally went with their last members; whatever is left gives its timers back here.
    this.states.get(topic)?.channels.clear();
    this.states.delete(topic);
  }

  get(topic: string): TopicState | undefined {
    return this.states.get(topic);
  }

  /** Every followed topic's state. */
  values(): IterableIterator<TopicState> {
    return this.states.values();
  }

  /** Windowed views being computed, over every topic (a gauge: 0 with no client connected). */
  get viewCount(): number {
    let n = 0;
    for (const state of this.states.values()) n += state.channels.viewCount;
    return n;
  }

  /** Records and bytes held in the resume windows of every followed topic (gauges). */
  windowTotals(): { records: number; bytes: number } {
    let records = 0;
    let bytes = 0;
    for (const state of this.states.values()) {
      state.window.evict();
      records += state.window.size;
      bytes += state.window.bytes;
    }
    return { records, bytes };
  }

  /** Records that arrived after every window they belong to had closed (beyond grace), since the last call. */
  takeLateRecords(): number {
    const n = this.lateRecords;
    this.lateRecords = 0;
    return n;
  }

  /** The latest-per-key table of a `snapshot=`, bounded by the snapshot settings. */
  newSnapshotTable(topic: string): SnapshotTable {
    return new SnapshotTable(JSON.stringify(topic), {
      maxKeys: this.views.snapshotMaxKeys,
      maxBytes: this.views.snapshotMaxBytes,
      keyField: this.views.keyField,
    });
  }

  /** Records through a view's computation; returns the frames of the windows they closed. Throws at a view bound. */
  feedView(channel: Channel, records: Message[], values: unknown[]): string[] {
    const engine = channel.view!.engine;
    for (let i = 0; i < records.length; i++) engine.add(records[i].timestamp ?? 0, this.recordKey(records[i], values[i]), values[i]);
    const frames = engine.flush();
    this.lateRecords += engine.takeLate();
    return frames;
  }

  /** True when a view of the topic reads record values (an aggregate over a field, or grouping by SLUICE_KEY_FIELD). */
  viewsParse(state: TopicState): boolean {
    if (state.channels.viewCount === 0) return false;
    for (const ch of state.channels.values())
      if (ch.view && (ch.view.spec.needsValue || (ch.view.spec.by?.kind === 'key' && this.views.keyField !== ''))) return true;
    return false;
  }

  /** Throws OVERLOADED when the view would be one more than SLUICE_MAX_VIEWS_PER_TOPIC on its topic. */
  admitView(req: SubscribeRequest): void {
    const state = this.states.get(req.topic);
    if (!state || !req.view) return;
    const name = channelName(req, parseRecordFilter(req.key, req.where), parseViewSpec(req.view).canonical, null);
    if (req.from.kind === 'latest' && !req.snapshotMs && state.channels.has(name)) return; // joins an existing computation
    this.checkViewRoom(req.topic, state);
  }

  /** The subscription's channel, made when it is the first; `owner`: a view with history gets a channel of its own. */
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

  joinChannel(s: Subscription, channel: Channel): void {
    addMember(channel, s.hub);
    s.hub.port.join(s.req.sub, channel.name);
  }

  /** Counts the subscription out; the channel goes (with its timers) when nobody is left in it. */
  leaveChannel(s: Subscription, channel: Channel, joined: boolean): void {
    if (removeMember(channel, s, joined)) this.states.get(s.req.topic)?.channels.remove(channel);
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

  /** The record key, or (no key) its SLUICE_KEY_FIELD value, as ingest keys records. */
  private recordKey(m: Message, value: unknown): string | null {
    const key = keyText(m.key);
    if (key !== null || this.views.keyField === '') return key;
    const f = fieldAt(value, [this.views.keyField]);
    return typeof f === 'string' ? f : typeof f === 'number' || typeof f === 'boolean' ? String(f) : null;
  }
}
