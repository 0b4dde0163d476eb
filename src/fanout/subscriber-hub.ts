/**
 * The subscriber hub of one thread: its connections, the subscriptions they hold, and the channels they are
 * fed by. It never touches a Kafka client, so it runs in whichever thread owns the uWS app (main thread or
 * each ingress worker); it asks the subscription registry on the main thread for subscriptions through a
 * FanoutGate and is fed through the HubPort it implements, in batches (the seam: `src/subscription/protocol.ts`).
 *
 * A subscriber comes in through one admission pipeline (admission.ts) from either transport
 * (websocket-route.ts, sse-route.ts); a connection (connection.ts) has one writer per transport; control
 * messages, flow control and token expiry each have their own file.
 * Live frames reach WebSockets by uWS pub/sub and SSE streams by one pre-built chunk per batch and channel.
 * Writes per socket are already as few as uWS allows: `app.publish` of a message under 16 KB (uWS's cork
 * buffer) only queues it on the topic, and uWS drains each subscriber once per event-loop turn inside a cork,
 * so all frames of a batch — one per record, or the one batch frame — leave in one write per socket (checked
 * with strace: as many sendto calls per socket per second in per-record as in batch framing); a larger
 * message is written at once, also one write per socket. What per-record framing costs over batch framing
 * is per message: uWS framing and copying each one, and the client's handling of each.
 */
import type { TemplatedApp } from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { PlainError } from '../errors.js';
import type { ErrorAnswers } from '../http/respond.js';
import type { SubscribeAuth } from '../http/credentials/subscription-tokens.js';
import type { CorsPolicy } from '../http/cors.js';
import { errorFrame, SEED_CONNECTED_FRAME, subscribedFrame } from '../subscription/frames.js';
import {
  CLOSE_GOING_AWAY,
  CLOSE_SUBSCRIPTION_FAILED,
  type FanoutGate,
  type FrameStyle,
  type HubPort,
  type SubscriberTransport,
} from '../subscription/protocol.js';
import { Admission } from './admission.js';
import { Backpressure } from './backpressure.js';
import {
  endConnection,
  firstTopic,
  newConnection,
  sendEvent,
  sendKeepAlive,
  sendRecords,
  sendText,
  type Connection,
  type ConnectionHost,
  type ConnectionIdentity,
  type ConnectionWriter,
  type SocketData,
  type SseConnection,
} from './connection.js';
import { handleControlMessage, type Subscriptions } from './control-messages.js';
import { registerSseRoute } from './sse-route.js';
import { stopExpiry, watchExpiry } from './token-expiry.js';
import { registerWebSocketRoutes } from './websocket-route.js';
import { sseRecords } from './sse-stream.js';

/** A subscription as the hub holds it (the registry's side is src/consumer/subscription.ts). */
interface HubSubscription {
  conn: Connection;
  topic: string;
  style: FrameStyle;
  channel: string | null;
  /** Subscribed by the URL: if it fails, the connection closes (there is nothing else on it). */
  fromUrl: boolean;
}

export interface HubOptions {
  maxBufferedBytes: number;
  idleTimeoutSeconds: number;
  sseHeartbeatSeconds: number;
}

/** Record frames written, by transport (seed WebSockets count as `websocket`). */
export type FramesOut = { websocket: number; sse: number };

const SHUTTING_DOWN: PlainError = { code: 'SHUTTING_DOWN', message: 'server shutting down' };

export class SubscriberHub implements HubPort, ConnectionHost, Subscriptions {
  private gate!: FanoutGate;
  private flow!: Backpressure;
  private readonly admission: Admission;
  private readonly connections = new Set<Connection>();
  private readonly subs = new Map<number, HubSubscription>();
  private readonly sseChannels = new Map<string, Set<SseConnection>>();
  private heartbeat: NodeJS.Timeout | undefined;
  /** Record frames written since the last takeFramesOut, counted per publish or delivery (not per frame). */
  private framesOut: FramesOut = { websocket: 0, sse: 0 };

  constructor(
    private readonly app: TemplatedApp,
    auth: SubscribeAuth,
    private readonly answers: ErrorAnswers,
    private readonly cors: CorsPolicy,
    private readonly log: Logger,
  ) {
    this.admission = new Admission(auth, cors, log);
  }

  /** Registers the routes; `gate` leads to the subscription registry (directly, or through the main-thread link). */
  register(gate: FanoutGate, opts: HubOptions): void {
    this.gate = gate;
    this.admission.gate = gate;
    this.flow = new Backpressure(gate, opts.maxBufferedBytes, this.end, this.log);
    const { admission, answers, cors } = this;
    registerWebSocketRoutes(this.app, { admission, answers, host: this, limits: opts });
    registerSseRoute(this.app, { admission, answers, cors, host: this });
    this.heartbeat = setInterval(() => {
      for (const c of this.connections) sendKeepAlive(c);
    }, opts.sseHeartbeatSeconds * 1000);
    this.heartbeat.unref();
  }

  /** Closes every subscriber (WebSocket 1001) and refuses new ones. */
  closeAll(windowMs = 0): Promise<void> {
    this.admission.shutDown();
    const closeOne = (c: Connection) => {
      if (!c.closed) this.end(c, CLOSE_GOING_AWAY, SHUTTING_DOWN);
    };
    const connections = [...this.connections];
    if (windowMs <= 0 || connections.length === 0) {
      clearInterval(this.heartbeat);
      for (const c of connections) closeOne(c);
      return Promise.resolve();
    }
    // Each subscriber at a random moment of the window: closed all at once, they would all reconnect to the
    // remaining instances in the same instant (a reconnect storm during every rolling update).
    return new Promise((resolve) => {
      let left = connections.length;
      for (const c of connections) {
        setTimeout(
          () => {
            closeOne(c);
            if (--left === 0) {
              clearInterval(this.heartbeat);
              resolve();
            }
          },
          Math.floor(Math.random() * windowMs),
        );
      }
    });
  }

  /** Record frames written since the last call (null if none), for metrics. */
  takeFramesOut(): FramesOut | null {
    const f = this.framesOut;
    if (f.websocket + f.sse === 0) return null;
    this.framesOut = { websocket: 0, sse: 0 };
    return f;
  }

  /** Slow-subscriber closes since the last call (null if none), for metrics. */
  takeSlowDrops(): Record<SubscriberTransport, number> | null {
    return this.flow.takeSlowDrops();
  }

  // ---- HubPort: called by the registry (directly or from the main-thread link), in order ----

  ready(sub: number): void {
    this.admission.ready(sub);
  }

  subscribed(sub: number, token: string | null): void {
    const s = this.subs.get(sub);
    if (!s) return;
    if (s.style === 'value') sendText(s.conn, SEED_CONNECTED_FRAME);
    else sendEvent(s.conn, 'subscribed', subscribedFrame(s.topic, token), token);
  }

  failed(sub: number, error: PlainError, slow: boolean): void {
    if (this.admission.refused(sub, error)) return;
    const s = this.subs.get(sub);
    if (!s) return;
    const c = s.conn;
    if (slow) return this.flow.closeSlow(c, error.message);
    this.forget(sub, s);
    if (c.closed) return;
    sendEvent(c, 'error', errorFrame(s.topic, error));
    // An SSE stream holds one subscription; a WebSocket closes only when its URL's failed (nothing else on it).
    if (c.kind === 'sse' || s.fromUrl) this.endWith(c, CLOSE_SUBSCRIPTION_FAILED, `${error.code}: ${error.message}`, null);
  }

  deliver(sub: number, frames: string[], tokens: string[] | null, ackId: number): void {
    const s = this.subs.get(sub);
    if (!s || s.conn.closed) {
      if (ackId) this.gate.ack(sub, ackId, false);
      return;
    }
    const c = s.conn;
    this.framesOut[c.kind === 'sse' ? 'sse' : 'websocket'] += frames.length;
    sendRecords(c, frames, tokens);
    this.flow.delivered(c, sub, ackId);
  }

  join(sub: number, channel: string): void {
    const s = this.subs.get(sub);
    if (!s || s.conn.closed) return;
    s.channel = channel;
    const c = s.conn;
    if (c.kind === 'ws') c.socket.subscribe(channel);
    else {
      let set = this.sseChannels.get(channel);
      if (!set) this.sseChannels.set(channel, (set = new Set()));
      set.add(c);
    }
  }

  publish(channel: string, frames: string[], tokens: string[] | null): void {
    const sockets = this.app.numSubscribers(channel);
    if (sockets > 0) {
      for (const f of frames) this.app.publish(channel, f, false);
      this.framesOut.websocket += sockets * frames.length;
    }
    const streams = this.sseChannels.get(channel);
    if (streams) {
      this.framesOut.sse += streams.size * frames.length;
      const chunk = sseRecords(frames, tokens);
      for (const c of streams) {
        c.stream.write(chunk);
        this.flow.written(c);
      }
    }
    this.flow.scheduleSweep(this.connections);
  }

  publishValues(channel: string, values: Uint8Array[]): void {
    for (const v of values) this.app.publish(channel, v, false);
    this.framesOut.websocket += this.app.numSubscribers(channel) * values.length;
    this.flow.scheduleSweep(this.connections);
  }

  // ---- ConnectionHost: the transports' events ----

  start(identity: ConnectionIdentity, writer: ConnectionWriter, sub: number, topic: string, style: FrameStyle): Connection {
    const c = newConnection(identity, writer);
    this.connections.add(c);
    watchExpiry(c, this.end);
    if (sub) {
      this.track(c, sub, topic, style, true);
      this.gate.start(sub);
    }
    return c;
  }

  message(c: Connection, route: SocketData['route'], text: string): void {
    handleControlMessage(c, route, text, this.admission, this);
  }

  drained(c: Connection): void {
    this.flow.drained(c);
  }

  closed(c: Connection): void {
    if (c.closed) return;
    c.closed = true;
    stopExpiry(c);
    this.connections.delete(c);
    for (const sub of [...c.subs.values()]) {
      const s = this.subs.get(sub);
      if (s) this.forget(sub, s);
    }
    this.flow.release(c);
  }

  // ---- Subscriptions: the hub's record of what each connection holds ----

  track(c: Connection, sub: number, topic: string, style: FrameStyle, fromUrl: boolean): void {
    c.subs.set(topic, sub);
    this.subs.set(sub, { conn: c, topic, style, channel: null, fromUrl });
  }

  unsubscribe(sub: number): void {
    const s = this.subs.get(sub);
    if (!s) return;
    this.forget(sub, s);
    if (s.channel && s.conn.kind === 'ws' && !s.conn.closed) s.conn.socket.unsubscribe(s.channel);
  }

  /** Drops the subscription here and at the registry. */
  private forget(sub: number, s: HubSubscription): void {
    this.subs.delete(sub);
    s.conn.subs.delete(s.topic);
    if (s.channel && s.conn.kind === 'sse') {
      const streams = this.sseChannels.get(s.channel);
      streams?.delete(s.conn);
      if (streams?.size === 0) this.sseChannels.delete(s.channel); // channel names come and go with topics: no empty sets left behind
    }
    this.gate.close(sub);
  }

  /**
   * Ends a connection telling its client why: a WebSocket by its close frame (`closeCode`, the message), an SSE
   * stream by an `error` event (the same frame as a subscription's error), then the end.
   */
  private readonly end = (c: Connection, closeCode: number, error: PlainError): void => {
    this.endWith(c, closeCode, error.message, errorFrame(firstTopic(c), error));
  };

  private endWith(c: Connection, closeCode: number, reason: string, sseError: string | null): void {
    endConnection(c, closeCode, reason, sseError);
    if (c.kind === 'sse') this.closed(c); // a WebSocket's close handler runs this
  }
}
