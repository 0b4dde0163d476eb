/**
 * The two halves of fan-out and what passes between them. The subscriber hub (uWS sockets: main thread or
 * any ingress worker thread) talks to the subscription registry (Kafka consumers: always the main thread)
 * through a FanoutGate, and the registry answers and feeds it through a HubPort. Both are plain method calls
 * on the main thread and ordered MessagePort messages to a worker: the registry relies on that order (a
 * subscriber's replayed frames, then its `join`, then every later live batch), so no call may be reordered.
 */
import type { PlainError } from '../errors.js';

export type StartFrom =
  | { kind: 'latest' }
  | { kind: 'earliest' }
  | { kind: 'time'; timestampMs: number }
  | { kind: 'token'; offsets: number[] };

/** `envelope`: JSON envelope frames with resume tokens. `value`: the bare value (seed route `/consumer/{topic}`). */
export type FrameStyle = 'envelope' | 'value';
export type Transport = 'websocket' | 'sse' | 'seed-websocket';

export interface SubscribeRequest {
  /** Chosen by the hub, unique within it. */
  sub: number;
  topic: string;
  from: StartFrom;
  key: string | null;
  where: string | null;
  group: string | null;
  style: FrameStyle;
  transport: Transport;
}

/** Hub → registry. */
export interface FanoutGate {
  /** Resolves once the topic exists and its live consumer is positioned; holds it until `unprepare`. Used before an upgrade so refusals are HTTP answers. */
  prepare(topic: string): Promise<void>;
  unprepare(topic: string): void;
  /** Answered through HubPort.subscribed / failed. */
  subscribe(req: SubscribeRequest): void;
  unsubscribe(sub: number): void;
  /** A `deliver` with an ack id was handed to the socket (`handed`), or could not be (socket gone). Replays wait for it before reading on. */
  ack(sub: number, ackId: number, handed: boolean): void;
}

/** Registry → hub. */
export interface HubPort {
  /** The subscription is in place; `token` is its start position (null for groups and the seed route). */
  subscribed(sub: number, token: string | null): void;
  /** The subscription could not start or had to end (`slow`: it fell behind; close like a slow socket). */
  failed(sub: number, error: PlainError, slow: boolean): void;
  /** Frames for one subscriber only (replay, group member). ackId 0: no ack wanted. */
  deliver(sub: number, frames: string[], tokens: string[] | null, ackId: number): void;
  /** From now on the subscriber gets the channel's published frames. */
  join(sub: number, channel: string): void;
  publish(channel: string, frames: string[], tokens: string[] | null): void;
  publishValues(channel: string, values: Uint8Array[]): void;
}

/** Slow subscribers are closed with this code (4000–4999: application codes) and may resume with their last token. */
export const CLOSE_TOO_SLOW = 4008;
/** Sockets closed because the server shuts down (RFC 6455 "going away"). */
export const CLOSE_GOING_AWAY = 1001;
/** A subscription failed after the upgrade (e.g. the broker went away during a replay). */
export const CLOSE_SUBSCRIPTION_FAILED = 1011;
