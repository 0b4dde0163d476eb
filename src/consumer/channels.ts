/**
 * Channels: what a set of subscribers of one topic receive identically — (frame style, filter, view,
 * conflation) — their identity (the channel name the hubs publish under), their membership (joined
 * subscribers per hub, and subscriptions replaying towards the channel, whose live frames are buffered for
 * them), and their per-channel state (a view's computation, a conflation table and its timer).
 *
 * A topic's channels sit in a TopicChannels, which keeps the live router's index (live-router.ts) in step:
 * a channel is routed from the moment it is added until it is removed, and removing it releases what it
 * owns (the conflation timer), so nothing outlives the last subscriber.
 */
import type { FrameStyle, SubscribeRequest } from '../subscription/protocol.js';
import type { RecordFilter } from '../subscription/record-filter.js';
import type { PositionVector } from '../subscription/resume-token.js';
import type { ViewSpec } from '../subscription/view-spec.js';
import type { Conflation } from './conflation.js';
import type { ResumeWindow } from './resume-window.js';
import { LiveRouter, type Routed } from './live-router.js';
import type { HubRef, Subscription } from './subscription.js';
import type { WindowAggregator } from './window-aggregator.js';

/** A windowed view's computation, part of its channel. */
export interface ChannelView {
  spec: ViewSpec;
  engine: WindowAggregator;
  /** The subscription a view with history (`from=`) belongs to alone; null: shared by every live subscriber of it. */
  owner: Subscription | null;
}

/** A channel is what a set of subscribers receive identically: (topic, frame style, filter, view, conflation). */
export interface Channel {
  name: string;
  style: FrameStyle;
  filter: RecordFilter | null;
  /** Windowed aggregates instead of records (`window=`). */
  view: ChannelView | null;
  /** At most one frame per key per interval (`conflate=`); null: every selected record. */
  conflation: Conflation | null;
  /** Joined subscribers per hub. */
  members: Map<HubRef, number>;
  /** Subscriptions replaying towards this channel: live frames are buffered for them. */
  replaying: Set<Subscription>;
}

/** The channels of one followed topic, indexed for routing. */
export class TopicChannels {
  private readonly byName = new Map<string, Channel>();
  private readonly router = new LiveRouter<Channel>();
  /** Channels computing a windowed view. */
  private views = 0;

  get size(): number {
    return this.byName.size;
  }

  get(name: string): Channel | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  values(): IterableIterator<Channel> {
    return this.byName.values();
  }

  add(channel: Channel): void {
    this.byName.set(channel.name, channel);
    this.router.add(channel);
    if (channel.view) this.views++;
  }

  /** Removes the channel (if it is this topic's channel of its name) and releases what it owns. */
  remove(channel: Channel): void {
    if (this.byName.get(channel.name) !== channel) return;
    this.byName.delete(channel.name);
    this.router.remove(channel);
    if (channel.view) this.views--;
    channel.conflation?.close();
  }

  /** Releases every channel's timers (the topic's feed stopped). */
  clear(): void {
    for (const ch of [...this.byName.values()]) this.remove(ch);
  }

  get viewCount(): number {
    return this.views;
  }

  /** True when routing a batch reads record values (some channel's filter has `where=`). */
  get routingNeedsValues(): boolean {
    return this.router.needsValues;
  }

  route(n: number, keyAt: (i: number) => string | null, valueAt: ((i: number) => unknown) | null): Routed<Channel>[] {
    return this.router.route(n, keyAt, valueAt);
  }
}

export interface TopicState {
  position: PositionVector;
  channels: TopicChannels;
  /** The live feed's recent records, for resumes served from memory (resume-window.ts). */
  window: ResumeWindow;
}

/**
 * A channel's name: (topic, style, filter[, conflation]) — every member of a channel gets the same bytes.
 * A view's channel leaves the style out (its frames are one message each in either style); a view with
 * history (`owner`) has a channel of its own.
 */
export function channelName(
  req: SubscribeRequest,
  filter: RecordFilter | null,
  viewCanonical: string | null,
  owner: Subscription | null,
): string {
  if (req.style === 'value') return `v:${req.topic}`;
  if (viewCanonical !== null) return `w:${req.topic}\n${filter?.canonical ?? ''}\n${viewCanonical}${owner ? `\n#${owner.id}` : ''}`;
  const conflate = req.conflateMs ? `\nconflate=${req.conflateMs}` : '';
  return `${req.style === 'batch' ? 'b' : 'r'}:${req.topic}${filter ? `\n${filter.canonical}` : ''}${conflate}`;
}

/** Counts a subscriber into its channel's members (per hub). */
export function addMember(channel: Channel, hub: HubRef): void {
  channel.members.set(hub, (channel.members.get(hub) ?? 0) + 1);
}

/** Counts a subscriber out; true when the channel has nobody left (no member, nobody replaying towards it). */
export function removeMember(channel: Channel, s: Subscription, joined: boolean): boolean {
  channel.replaying.delete(s);
  if (joined) {
    const n = (channel.members.get(s.hub) ?? 1) - 1;
    if (n > 0) channel.members.set(s.hub, n);
    else channel.members.delete(s.hub);
  }
  return channel.members.size === 0 && channel.replaying.size === 0;
}
