/**
 * The seam between the two halves of fan-out, and the only thing they share (with the subscription
 * vocabulary beside it in this folder: options, resume tokens, filters, frames). The Kafka side
 * (`src/consumer/`: registry, readers, replays, groups; always the main thread) and the socket side
 * (`src/fanout/`: hub, WebSocket and SSE; the main thread or any ingress worker) never import each other.
 *
 * The hub talks to the registry through a FanoutGate and the registry answers and feeds it through a
 * HubPort. Both are plain method calls on the main thread and ordered MessagePort messages to a worker: the
 * registry relies on that order (a subscriber's replayed frames, then its `join`, then every later live
 * batch), so no call may be reordered.
 *
 * One subscription, from the hub's side:
 *   open(req) ──► [ready(sub) ──► start(sub)] ──► subscribed(sub, token) ──► deliver…/join ──► close(sub)
 *                 (only when req.beforeUpgrade)            failed(sub) may come at any point instead
 * `close` is the hub's one way to give a subscription back, valid in every state and idempotent: the
 * registry releases whatever the subscription holds at that moment (live-feed reference, replay slot and
 * reader, group membership, channel membership, deliveries not acknowledged).
 */
import type { PlainError } from '../errors.js';
import type { ViewParams } from './view-spec.js';

export type StartFrom =
  | { kind: 'latest' }
  | { kind: 'earliest' }
  | { kind: 'time'; timestampMs: number }
  | { kind: 'token'; offsets: number[] };

/**
 * `record` (`frames=record`, the default): one JSON frame per record, each with its resume token. `batch`
 * (`frames=batch`): one frame per batch holding its records and the token after the last. `value`: the
 * bare value (seed route `/consumer/{topic}`). Part of a channel's identity: a channel's frames are built
 * once for all its members.
 */
export type FrameStyle = 'record' | 'batch' | 'value';
/** How a subscriber is connected (the `transport` label of subscription and slow-close metrics). */
export type SubscriberTransport = 'websocket' | 'sse' | 'seed-websocket';

export interface SubscribeRequest {
  /** Chosen by the hub, unique within it. */
  sub: number;
  topic: string;
  from: StartFrom;
  /** `key=`: one key, or several separated by commas (record-filter.ts splits them). */
  key: string | null;
  where: string | null;
  group: string | null;
  style: FrameStyle;
  transport: SubscriberTransport;
  /**
   * `snapshot=<duration>` in ms: first the latest record of every key seen in that span (frames with
   * `"snapshot":true`, then a `snapshot-end` marker with the token after them), then live from there.
   */
  snapshotMs?: number | null;
  /**
   * `conflate=<duration>` in ms: at most one frame per key per interval, carrying the key's latest record
   * (src/consumer/conflation.ts); part of the channel's identity.
   */
  conflateMs?: number | null;
  /** `window=…`: windowed aggregates (and alerts) instead of records; parsed by view-spec.ts. */
  view?: ViewParams | null;
  /**
   * Opened before a WebSocket upgrade or an SSE answer, so that refusals (unknown topic, a limit reached,
   * broker down) are HTTP answers: the registry acquires what the subscription needs, answers `ready`, and
   * goes on only at `start` (or gives everything back at `close`, when the client left before the upgrade).
   */
  beforeUpgrade: boolean;
  /**
   * The credential may produce to the topic, so subscribing may create it (open access, or an API key whose
   * produce patterns match). Otherwise a topic that does not exist is refused with 404 TOPIC_NOT_FOUND and
   * nothing asks the cluster to create it.
   */
  mayCreate: boolean;
  /** Who subscribes, for per-client shares: `key:<id>`, `token:<sub>` or `addr:<address>`. */
  client: string;
  /** The hub's connection (unique within the hub; an SSE stream is one) for per-connection shares. */
  connection: number;
}

/** Hub → registry. */
export interface FanoutGate {
  /** Creates the subscription; answered through HubPort.ready (beforeUpgrade), subscribed, or failed. */
  open(req: SubscribeRequest): void;
  /** After `ready`: the socket or stream is in place, go on. */
  start(sub: number): void;
  /** The client left or unsubscribed: release everything, from whatever state. Idempotent. */
  close(sub: number): void;
  /** A `deliver` with an ack id was handed to the socket (`handed`), or could not be (socket gone). Replays wait for it before reading on. */
  ack(sub: number, ackId: number, handed: boolean): void;
}

/** Registry → hub. */
export interface HubPort {
  /** A `beforeUpgrade` subscription holds what it needs: upgrade (or start the SSE answer), then `start`. */
  ready(sub: number): void;
  /** The subscription is in place; `token` is its start position (null for groups and the seed route). */
  subscribed(sub: number, token: string | null): void;
  /** The subscription could not start or had to end; the registry has released it (`slow`: it fell behind; close like a slow socket). */
  failed(sub: number, error: PlainError, slow: boolean): void;
  /** Frames for one subscriber only (replay, group member), already in its style; `tokens[i]` is frame i's. ackId 0: no ack wanted. */
  deliver(sub: number, frames: string[], tokens: string[] | null, ackId: number): void;
  /** From now on the subscriber gets the channel's published frames. */
  join(sub: number, channel: string): void;
  /** A channel's frames of one live batch (one frame for a batch-style channel); `tokens[i]` is frame i's. */
  publish(channel: string, frames: string[], tokens: string[] | null): void;
  publishValues(channel: string, values: Uint8Array[]): void;
}

/** Lifecycle states a subscription is counted in (`sluice_subscriptions{state}`); a closed one is gone. */
export type SubscriptionState = 'preparing' | 'replaying' | 'live';

/** Slow subscribers are closed with this code (4000–4999: application codes) and may resume with their last token. */
export const CLOSE_TOO_SLOW = 4008;
/** Sockets closed because the server shuts down (RFC 6455 "going away"). */
export const CLOSE_GOING_AWAY = 1001;
/** A subscription failed after the upgrade (e.g. the broker went away during a replay). */
export const CLOSE_SUBSCRIPTION_FAILED = 1011;
