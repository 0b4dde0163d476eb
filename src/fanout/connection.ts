/**
 * One subscriber connection, whatever carries it: a WebSocket (per-topic URL, bare `/ws`, the seed route) or
 * an SSE stream. The hub, flow control and token expiry handle a `Connection`; only the writers below look
 * at its `kind`, so a second transport is a second writer, not a second admission path.
 * A connection exists once its socket or stream does (a WebSocket's `open`, an SSE stream's first bytes);
 * before that, admission holds only its identity.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { PlainError } from '../errors.js';
import type { Credentials } from '../http/credentials/subscription-tokens.js';
import type { FrameStyle, SubscriberTransport } from '../subscription/protocol.js';
import { sseRecords, type SseStream } from './sse-stream.js';

/** Who holds a connection, fixed at admission (after the credentials, before the socket or stream exists). */
export interface ConnectionIdentity {
  /** Unique within this hub: the registry counts per-connection shares by it. */
  id: number;
  /** Who holds the connection (`key:<id>`, `token:<sub>`, `addr:<address>`): per-client shares. */
  client: string;
  transport: SubscriberTransport;
  /** API key or token presented at connect time, checked again for each subscribe message. */
  creds: Credentials;
}

interface ConnectionState extends ConnectionIdentity {
  /** Closes the connection when its subscription token expires (token-expiry.ts). */
  expiry?: NodeJS.Timeout;
  /** topic → subscription id */
  subs: Map<string, number>;
  /** Acks held until the socket's buffer drains (flow control of replays and group deliveries, backpressure.ts). */
  heldAcks: [sub: number, ackId: number][];
  closed: boolean;
}

/** The transport-specific part: the one thing a writer needs. */
export type ConnectionWriter = { kind: 'ws'; socket: WebSocket<SocketData> } | { kind: 'sse'; stream: SseStream };

export type Connection = ConnectionState & ConnectionWriter;
export type SseConnection = Connection & { kind: 'sse' };

/** A WebSocket's user data, set at its upgrade. */
export interface SocketData {
  identity: ConnectionIdentity;
  /**
   * The hub's connection, from `open` on (null before: uWS calls no other handler before `open`). A box:
   * uWS copies the user data's fields at the upgrade, so only an object they share shows the upgrader what
   * `open` did.
   */
  opened: { conn: Connection | null };
  /** The subscription opened before the upgrade (0: none, a bare `/ws`). */
  initialSub: number;
  initialTopic: string;
  initialStyle: FrameStyle;
  /** `value` on the seed route `/consumer/{topic}`, else `record` (each subscription picks its frames). */
  route: 'record' | 'value';
}

/** Ends a connection with a close code and the error its client is told (the hub's `end`). */
export type EndConnection = (c: Connection, closeCode: number, error: PlainError) => void;

/** Where a transport hands its connection's events (the hub). */
export interface ConnectionHost {
  /** The start stage: the socket or stream is in place; tracks `sub` (0: none) and lets the registry go on. */
  start(identity: ConnectionIdentity, writer: ConnectionWriter, sub: number, topic: string, style: FrameStyle): Connection;
  /** A text message from the client (control messages; the seed route's texts). */
  message(c: Connection, route: SocketData['route'], text: string): void;
  /** The socket took buffered bytes. */
  drained(c: Connection): void;
  /** The connection is gone: give back everything it holds. Idempotent. */
  closed(c: Connection): void;
}

export function newConnection(identity: ConnectionIdentity, writer: ConnectionWriter): Connection {
  return { ...identity, ...writer, subs: new Map(), heldAcks: [], closed: false };
}

/** One control frame (`subscribed`, `unsubscribed`, `error`, the seed frames) as one message. */
export function sendText(c: Connection, text: string): void {
  if (c.closed) return;
  if (c.kind === 'sse') c.stream.message(text);
  else c.socket.cork(() => c.socket.send(text, false));
}

/** A named frame: an SSE event of that name (with `id:` when given); on a WebSocket, one message like any other. */
export function sendEvent(c: Connection, event: string, text: string, id: string | null = null): void {
  if (c.closed) return;
  if (c.kind === 'sse') c.stream.event(event, text, id);
  else c.socket.cork(() => c.socket.send(text, false));
}

/** Record frames for this subscriber only (a replay, a group member), in one write. */
export function sendRecords(c: Connection, frames: readonly string[], tokens: readonly string[] | null): void {
  if (c.kind === 'sse') c.stream.write(sseRecords(frames, tokens));
  else
    c.socket.cork(() => {
      for (const f of frames) c.socket.send(f, false);
    });
}

/** SSE comments keep proxies from closing an idle stream; WebSockets are pinged by uWS itself. */
export function sendKeepAlive(c: Connection): void {
  if (c.kind === 'sse') c.stream.write(': keep-alive\n\n');
}

/** Bytes written that the socket has not taken yet. */
export function bufferedBytes(c: Connection): number {
  return c.kind === 'ws' ? c.socket.getBufferedAmount() : c.stream.buffered;
}

/**
 * Ends the connection: a WebSocket with a close frame (`closeCode`, `reason`), an SSE stream with the
 * `sseError` event (if any) then the end of the response. A WebSocket's close handler runs the hub's
 * bookkeeping; an SSE stream has no such callback, so the caller runs it (`kind === 'sse'`).
 */
export function endConnection(c: Connection, closeCode: number, reason: string, sseError: string | null): void {
  if (c.kind === 'ws') {
    c.socket.end(closeCode, truncateReason(reason));
    return;
  }
  if (sseError !== null) c.stream.event('error', sseError);
  c.stream.end();
}

/** The topic of the connection's first subscription (an SSE stream has one), for its closing `error` event. */
export function firstTopic(c: Connection): string | undefined {
  return c.subs.keys().next().value;
}

/** WebSocket close reasons are limited to 123 bytes. */
export function truncateReason(text: string): string {
  return Buffer.byteLength(text) <= 123
    ? text
    : Buffer.from(text)
        .subarray(0, 120)
        .toString('utf8')
        .replace(/\uFFFD$/, '') + '...';
}
