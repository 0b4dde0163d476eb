/**
 * The subscriber side: WebSocket and SSE routes, and the sockets of this thread. It never touches a Kafka
 * client, so it runs in whichever thread owns the uWS app (main thread or each ingress worker); it asks the
 * subscription registry on the main thread for subscriptions through a FanoutGate and is fed through the
 * HubPort it implements, in batches (the seam: `src/subscription/protocol.ts`).
 *
 * Routes:
 *   /ws/topics/{topic}?from&key&where&group&frames  envelope frames with resume tokens (`frames=batch`: one
 *                                            frame per batch); more topics by control message
 *   /ws                                      no topic yet; `{"op":"subscribe",…}` / `{"op":"unsubscribe",…}`
 *   /sse/topics/{topic}?same                 Server-Sent Events, `id:` = resume token, `Last-Event-ID` resumes
 *   /consumer/{topic}                        seed-compatible: bare values, `{"Message":"connected"}` first
 * A subscription in the URL is opened before the upgrade (or the SSE answer), so a refusal is an HTTP
 * answer; the upgrade happens at `ready`, and a client that leaves before it is closed at the registry.
 * Live frames reach WebSockets by uWS pub/sub and SSE streams by one pre-built chunk per batch and channel.
 * Writes per socket are already as few as uWS allows: `app.publish` of a message under 16 KB (uWS's cork
 * buffer) only queues it on the topic, and uWS drains each subscriber once per event-loop turn inside a cork,
 * so all frames of a batch — one per record, or the one batch frame — leave in one write per socket (checked
 * with strace: as many sendto calls per socket per second in per-record as in batch framing); a larger
 * message is written at once, also one write per socket. What per-record framing costs over batch framing
 * is per message: uWS framing and copying each one, and the client's handling of each.
 * A subscriber whose buffer passes the limit is closed as too slow (WebSocket 4008, SSE `event: error`) and
 * can resume from its last token.
 */
import type { TemplatedApp, WebSocket, HttpResponse, HttpRequest, us_socket_context_t } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { ERRORS, SluiceError, fromPlainError, toErrorResponse, type ErrorCode, type PlainError } from '../errors.js';
import { pathParameter, type ErrorAnswers } from '../http/respond.js';
import { CLOSE_TOKEN_EXPIRED, type SubscribeAuth, type Credentials } from '../http/credentials/subscription-tokens.js';
import type { CorsPolicy } from '../http/cors.js';
import { readControlMessage, readSubscribeOptions, type SubscribeOptions } from '../subscription/subscribe-options.js';
import { SseStream, sseRecords } from './sse-stream.js';
import {
  CLOSE_GOING_AWAY,
  CLOSE_SUBSCRIPTION_FAILED,
  CLOSE_TOO_SLOW,
  type FanoutGate,
  type FrameStyle,
  type HubPort,
  type Transport,
} from '../subscription/protocol.js';

interface Connection {
  /** Unique within this hub: the registry counts per-connection shares by it. */
  id: number;
  /** Who holds the connection (`key:<id>`, `token:<sub>`, `addr:<address>`): per-client shares. */
  client: string;
  transport: Transport;
  ws: WebSocket<SocketData> | null;
  sse: SseStream | null;
  /** API key or token presented at connect time, checked again for each subscribe message. */
  creds: Credentials;
  /** Closes the connection when its subscription token expires. */
  expiry?: NodeJS.Timeout;
  /** topic → subscription id */
  subs: Map<string, number>;
  /** Acks held until the socket's buffer drains (flow control of replays and group deliveries). */
  heldAcks: [sub: number, ackId: number][];
  closed: boolean;
}

interface Subscription {
  conn: Connection;
  topic: string;
  style: FrameStyle;
  channel: string | null;
  /** Subscribed by the URL: if it fails, the connection closes (there is nothing else on it). */
  fromUrl: boolean;
}

interface SocketData {
  conn: Connection;
  /** The subscription opened before the upgrade (0: none, a bare `/ws`). */
  initialSub: number;
  initialTopic: string;
  initialStyle: FrameStyle;
  /** `value` on the seed route `/consumer/{topic}`, else `envelope` (each subscription picks its frames). */
  route: 'envelope' | 'value';
}

/** A subscription opened before its upgrade or SSE answer, waiting for `ready` (or a refusal). */
interface PendingAnswer {
  proceed(): void;
  refuse(error: PlainError): void;
}

export interface HubOptions {
  maxBufferedBytes: number;
  idleTimeoutSeconds: number;
  sseHeartbeatSeconds: number;
}

const SWEEP_INTERVAL_MS = 100;
const HARD_LIMIT_MARGIN_BYTES = 64 * 1024 * 1024;

/** Record frames written, by transport (seed WebSockets count as `websocket`). */
export type FramesOut = { websocket: number; sse: number };

/** SSE `retry:` (the browser's reconnect delay) is 1–3 s, picked per stream. */
const SSE_RETRY_MIN_MS = 1000;
const SSE_RETRY_JITTER_MS = 2000;

export class SubscriberHub implements HubPort {
  private gate!: FanoutGate;
  private readonly connections = new Set<Connection>();
  private readonly subs = new Map<number, Subscription>();
  private readonly sseChannels = new Map<string, Set<Connection>>();
  private readonly pending = new Map<number, PendingAnswer>();
  private nextSub = 1;
  private nextConnection = 1;
  private closing = false;
  private sweepScheduled = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private opts!: HubOptions;
  private slowDrops: Record<Transport, number> = { websocket: 0, sse: 0, 'seed-websocket': 0 };
  /** Record frames written since the last takeFramesOut, counted per publish or delivery (not per frame). */
  private framesOut: FramesOut = { websocket: 0, sse: 0 };

  constructor(
    private readonly app: TemplatedApp,
    private readonly auth: SubscribeAuth,
    private readonly answers: ErrorAnswers,
    private readonly cors: CorsPolicy,
    private readonly log: Logger,
  ) {}

  /** Registers the routes; `gate` leads to the subscription registry (directly, or through the main-thread link). */
  register(gate: FanoutGate, opts: HubOptions): void {
    this.gate = gate;
    this.opts = opts;
    const ws = (pattern: string, style: 'envelope' | 'value', withTopic: boolean) =>
      this.app.ws<SocketData>(pattern, {
        maxPayloadLength: 16 * 1024,
        // A hard stop (abrupt close) far above the soft limit, which the sweep enforces with a proper 4008
        // close frame within SWEEP_INTERVAL_MS: uWS updates a socket's buffered amount only as it drains
        // published frames, so a burst may pass the soft limit before the sweep sees it.
        maxBackpressure: opts.maxBufferedBytes + HARD_LIMIT_MARGIN_BYTES,
        closeOnBackpressureLimit: true,
        idleTimeout: opts.idleTimeoutSeconds,
        sendPingsAutomatically: true,
        upgrade: (res, req, context) => this.upgrade(res, req, context, style, withTopic),
        open: (socket) => this.open(socket),
        message: (socket, message) => this.message(socket, Buffer.from(message).toString('utf8')),
        drain: (socket) => this.drained(socket.getUserData().conn),
        close: (socket, code) => this.closed(socket.getUserData().conn, code),
      });
    ws('/ws/topics/:topic', 'envelope', true);
    ws('/ws', 'envelope', false);
    ws('/consumer/:topic', 'value', true);
    this.app.get('/sse/topics/:topic', (res, req) => this.sse(res, req));
    this.heartbeat = setInterval(() => {
      for (const c of this.connections) c.sse?.write(': keep-alive\n\n');
    }, opts.sseHeartbeatSeconds * 1000);
    this.heartbeat.unref();
  }

  /** Closes every subscriber (WebSocket 1001) and refuses new ones. */
  closeAll(windowMs = 0): Promise<void> {
    this.closing = true;
    for (const [sub, p] of [...this.pending]) {
      this.pending.delete(sub);
      this.gate.close(sub);
      p.refuse({ code: 'SHUTTING_DOWN', message: 'server shutting down' });
    }
    const closeOne = (c: Connection) => {
      if (c.closed) return;
      if (c.ws) c.ws.end(CLOSE_GOING_AWAY, 'server shutting down');
      else if (c.sse) {
        sseError(c, 'SHUTTING_DOWN', 'server shutting down');
        c.sse.end();
        this.closed(c, CLOSE_GOING_AWAY);
      }
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
  takeSlowDrops(): Record<Transport, number> | null {
    const d = this.slowDrops;
    if (d.websocket + d.sse + d['seed-websocket'] === 0) return null;
    this.slowDrops = { websocket: 0, sse: 0, 'seed-websocket': 0 };
    return d;
  }

  /** Subscriptions waiting for `ready` before their upgrade or SSE answer (a gauge: 0 when idle). */
  get pendingAnswers(): number {
    return this.pending.size;
  }

  // ---- HubPort: called by the registry (directly or from the main-thread link), in order ----

  ready(sub: number): void {
    const p = this.pending.get(sub);
    if (!p) return; // the client left before: its close is on the way to the registry
    this.pending.delete(sub);
    p.proceed();
  }

  subscribed(sub: number, token: string | null): void {
    const s = this.subs.get(sub);
    if (!s) return;
    if (s.style === 'value') return this.sendText(s.conn, '{"Message":"connected"}');
    const data = JSON.stringify(token === null ? { event: 'subscribed', topic: s.topic } : { event: 'subscribed', topic: s.topic, token });
    if (s.conn.sse) s.conn.sse.event('subscribed', data, token);
    else this.sendText(s.conn, data);
  }

  failed(sub: number, error: PlainError, slow: boolean): void {
    const p = this.pending.get(sub);
    if (p) {
      this.pending.delete(sub);
      return p.refuse(error);
    }
    const s = this.subs.get(sub);
    if (!s) return;
    if (slow) return this.closeSlow(s.conn, error.message);
    this.forget(sub, s);
    const frame = JSON.stringify({
      event: 'error',
      topic: s.topic,
      error: { code: error.code, message: error.message, retriable: ERRORS[error.code].retriable, ...error.details },
    });
    if (s.conn.sse) {
      s.conn.sse.event('error', frame);
      s.conn.sse.end();
      this.closed(s.conn, CLOSE_SUBSCRIPTION_FAILED);
    } else if (s.conn.ws && !s.conn.closed) {
      this.sendText(s.conn, frame);
      if (s.fromUrl) s.conn.ws.end(CLOSE_SUBSCRIPTION_FAILED, truncateReason(`${error.code}: ${error.message}`));
    }
  }

  deliver(sub: number, frames: string[], tokens: string[] | null, ackId: number): void {
    const s = this.subs.get(sub);
    if (!s || s.conn.closed) {
      if (ackId) this.gate.ack(sub, ackId, false);
      return;
    }
    const c = s.conn;
    this.framesOut[c.sse ? 'sse' : 'websocket'] += frames.length;
    if (c.sse) c.sse.write(sseRecords(frames, tokens));
    else
      c.ws!.cork(() => {
        for (const f of frames) c.ws!.send(f, false);
      });
    if (this.buffered(c) > this.opts.maxBufferedBytes) {
      if (ackId) this.gate.ack(sub, ackId, true);
      return this.closeSlow(c, 'send buffer full');
    }
    if (!ackId) return;
    if (this.buffered(c) <= this.opts.maxBufferedBytes / 4) this.gate.ack(sub, ackId, true);
    else c.heldAcks.push([sub, ackId]);
  }

  join(sub: number, channel: string): void {
    const s = this.subs.get(sub);
    if (!s || s.conn.closed) return;
    s.channel = channel;
    if (s.conn.ws) s.conn.ws.subscribe(channel);
    else {
      let set = this.sseChannels.get(channel);
      if (!set) this.sseChannels.set(channel, (set = new Set()));
      set.add(s.conn);
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
        c.sse!.write(chunk);
        if (c.sse!.buffered > this.opts.maxBufferedBytes) this.closeSlow(c, 'send buffer full');
      }
    }
    this.scheduleSweep();
  }

  publishValues(channel: string, values: Uint8Array[]): void {
    for (const v of values) this.app.publish(channel, v, false);
    this.framesOut.websocket += this.app.numSubscribers(channel) * values.length;
    this.scheduleSweep();
  }

  // ---- connections ----

  private upgrade(
    res: HttpResponse,
    req: HttpRequest,
    context: us_socket_context_t,
    style: 'envelope' | 'value',
    withTopic: boolean,
  ): void {
    const secKey = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const presented = this.auth.presented(
      (h) => req.getHeader(h),
      (q) => req.getQuery(q),
    );
    const origin = req.getHeader('origin');
    const address = remoteAddress(res);
    // Registered before anything is awaited (uWS terminates the process for an unanswered request without
    // it). Until the subscription is opened a leaving client holds nothing; from then on `left` gives it back.
    let aborted = false;
    let left = () => {};
    res.onAborted(() => {
      aborted = true;
      left();
    });
    let options: SubscribeOptions | null;
    try {
      options = this.precheck(origin, () => {
        if (!withTopic) return null;
        const topic = pathParameter(req, 0);
        return style === 'value' ? readSubscribeOptions(topic, () => undefined) : readSubscribeOptions(topic, (q) => req.getQuery(q));
      });
    } catch (err) {
      this.answers.send(res, err);
      return;
    }
    // Verifying a token may wait for a JWKS fetch: `req` is gone by then, and the client may be too.
    this.admit(presented, options)
      .then(([initial, creds]) => {
        if (aborted) return; // left during verification: nothing was taken
        const conn: Connection = {
          id: this.nextConnection++,
          client: this.auth.client(creds, address),
          transport: style === 'value' ? 'seed-websocket' : 'websocket',
          ws: null,
          sse: null,
          creds,
          subs: new Map(),
          heldAcks: [],
          closed: false,
        };
        // The seed route's frames are bare values whatever the query says.
        const initialStyle: FrameStyle = style === 'value' ? 'value' : (initial?.style ?? 'envelope');
        const data: SocketData = { conn, initialSub: 0, initialTopic: initial?.topic ?? '', initialStyle, route: style };
        // Deliberately not inside res.cork: uWS.js 20.57's HttpResponse.cork, when the socket is upgraded inside
        // its callback, takes the new WebSocket for the HTTP response (the shrinking realloc keeps its address),
        // reads the HTTP "close after this answer" flag from freed memory past the WebSocket's end, and closes
        // about half of the sockets upgraded after an asynchronous wait: `open` ran, the client never gets a frame
        // (uWebSockets PR #1929, fixed upstream after 20.57). Uncorked, the 101 leaves in a few more writes, and
        // outside a uWS callback uWS prints one "must be made from within a corked callback" line to stderr.
        const upgradeNow = () => res.upgrade<SocketData>(data, secKey, protocol, extensions, context);
        if (!initial) return upgradeNow();
        // Refusals (unknown topic, a limit reached, broker down) are HTTP answers: the subscription is opened
        // first and the upgrade waits for `ready`.
        const sub = (data.initialSub = this.nextSub++);
        const topic = initial.topic;
        left = () => {
          // The client left before the upgrade: the subscription gives back what it acquired so far.
          if (this.pending.delete(sub)) this.gate.close(sub);
        };
        this.pending.set(sub, {
          proceed: () => {
            upgradeNow();
            // uWS calls `open` inside upgrade(); if it did not (the socket died in between), nobody owns the subscription.
            if (conn.ws === null) this.gate.close(sub);
          },
          refuse: (error) => {
            if (ERRORS[error.code].status >= 500) this.log.warn({ topic, code: error.code, err: error.message }, 'subscribe refused');
            res.cork(() => this.answers.send(res, fromPlainError(error)));
          },
        });
        this.gate.open({
          sub,
          ...initial,
          style: initialStyle,
          transport: conn.transport,
          beforeUpgrade: true,
          mayCreate: this.auth.mayCreate(creds, topic),
          client: conn.client,
          connection: conn.id,
        });
      })
      .catch((err: unknown) => {
        if (!aborted) res.cork(() => this.answers.send(res, err));
      });
  }

  /**
   * The checks before a WebSocket upgrade or an SSE stream that need no credentials, in this order: shutting
   * down, origin, options. Throws the refusal; returns the options read.
   */
  private precheck<O extends SubscribeOptions | null>(origin: string, readOptions: () => O): O {
    if (this.closing) throw new SluiceError('SHUTTING_DOWN', 'server shutting down');
    if (this.cors.originForbidden(origin)) throw new SluiceError('FORBIDDEN', `origin "${origin}" is not in SLUICE_CORS_ORIGINS`);
    return readOptions();
  }

  /**
   * Then the credentials (a token, or an API key for the topic, or the key alone on `/ws`), which may take a
   * JWKS fetch; rejects with the refusal. Shutting down is checked again: it may have begun meanwhile.
   */
  private async admit<O extends SubscribeOptions | null>(
    presented: { apiKey: string; token: string },
    options: O,
  ): Promise<[O, Credentials]> {
    const creds = await this.auth.admit(presented);
    if (this.closing) throw new SluiceError('SHUTTING_DOWN', 'server shutting down');
    return [this.auth.authorize(creds, options), creds];
  }

  /** A connection holding a token is closed when it expires (4001 / SSE `TOKEN_EXPIRED`). */
  private watchExpiry(conn: Connection): void {
    const at = conn.creds.grant?.expiresAtMs;
    if (at === undefined) return;
    conn.expiry = setTimeout(
      () => {
        if (conn.closed) return;
        const reason = 'TOKEN_EXPIRED: the subscription token has expired; reconnect with a new token and from=<last token>';
        if (conn.ws) conn.ws.end(CLOSE_TOKEN_EXPIRED, reason);
        else if (conn.sse) {
          sseError(conn, 'TOKEN_EXPIRED', reason);
          conn.sse.end();
          this.closed(conn, CLOSE_TOKEN_EXPIRED);
        }
      },
      Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1),
    );
    conn.expiry.unref();
  }

  private open(socket: WebSocket<SocketData>): void {
    const { conn, initialSub, initialTopic, initialStyle } = socket.getUserData();
    conn.ws = socket;
    this.connections.add(conn);
    this.watchExpiry(conn);
    if (initialSub) {
      this.track(conn, initialSub, initialTopic, initialStyle, true);
      this.gate.start(initialSub);
    }
  }

  private message(socket: WebSocket<SocketData>, text: string): void {
    const { conn, route } = socket.getUserData();
    if (route === 'value') {
      // Seed clients may send text; answer like the seed app did.
      socket.send(JSON.stringify({ Message: text }), false);
      return;
    }
    let topic: string | undefined;
    try {
      const msg = readControlMessage(text);
      topic = msg.op === 'subscribe' ? msg.options.topic : msg.topic;
      if (msg.op === 'subscribe') {
        if (conn.subs.has(topic)) throw new SluiceError('INVALID_PARAMETER', `already subscribed to ${topic}; unsubscribe first`);
        const options = this.auth.authorize(conn.creds, msg.options);
        const sub = this.nextSub++;
        this.track(conn, sub, topic, options.style, false);
        this.gate.open({
          sub,
          ...options,
          transport: conn.transport,
          beforeUpgrade: false,
          mayCreate: this.auth.mayCreate(conn.creds, topic),
          client: conn.client,
          connection: conn.id,
        });
      } else {
        const sub = conn.subs.get(topic);
        if (sub === undefined) throw new SluiceError('INVALID_PARAMETER', `not subscribed to ${topic}`);
        this.unsubscribe(sub);
        this.sendText(conn, JSON.stringify({ event: 'unsubscribed', topic }));
      }
    } catch (err) {
      const { body } = toErrorResponse(err);
      this.sendText(conn, `{"event":"error",${topic === undefined ? '' : `"topic":${JSON.stringify(topic)},`}${body.slice(1)}`);
    }
  }

  private sse(res: HttpResponse, req: HttpRequest): void {
    const topicParam = pathParameter(req, 0);
    const presented = this.auth.presented(
      (h) => req.getHeader(h),
      (q) => req.getQuery(q),
    );
    const origin = req.getHeader('origin');
    const lastEventId = req.getHeader('last-event-id');
    const address = remoteAddress(res);
    let aborted = false;
    let sub = 0;
    let conn: Connection | undefined;
    res.onAborted(() => {
      aborted = true;
      if (this.pending.delete(sub))
        this.gate.close(sub); // left before the stream began
      else if (conn) {
        conn.sse!.closed = true;
        this.closed(conn, 1006);
      }
    });
    let requested: SubscribeOptions;
    try {
      requested = this.precheck(origin, () => readSubscribeOptions(topicParam, (q) => req.getQuery(q), lastEventId));
    } catch (err) {
      this.answers.send(res, err, false, this.cors.allowedOrigin(origin));
      return;
    }
    this.admit(presented, requested)
      .then(([options, creds]) => {
        if (aborted) return; // left during verification: nothing was taken
        sub = this.nextSub++;
        const topic = options.topic;
        // One SSE stream is one connection; its id is taken now, before the registry counts its share.
        const connection = this.nextConnection++;
        const client = this.auth.client(creds, address);
        this.pending.set(sub, {
          proceed: () => {
            const c: Connection = {
              id: connection,
              client,
              transport: 'sse',
              ws: null,
              // Jittered, so that clients of one closed instance do not all come back in the same instant.
              sse: new SseStream(res, this.cors.allowedOrigin(origin), SSE_RETRY_MIN_MS + Math.floor(Math.random() * SSE_RETRY_JITTER_MS)),
              creds,
              subs: new Map(),
              heldAcks: [],
              closed: false,
            };
            conn = c;
            c.sse!.onDrain(() => this.drained(c));
            this.connections.add(c);
            this.watchExpiry(c);
            this.track(c, sub, topic, options.style, true);
            this.gate.start(sub);
          },
          refuse: (error) => res.cork(() => this.answers.send(res, fromPlainError(error), false, this.cors.allowedOrigin(origin))),
        });
        this.gate.open({
          sub,
          ...options,
          transport: 'sse',
          beforeUpgrade: true,
          mayCreate: this.auth.mayCreate(creds, topic),
          client,
          connection,
        });
      })
      .catch((err: unknown) => {
        if (!aborted) res.cork(() => this.answers.send(res, err, false, this.cors.allowedOrigin(origin)));
      });
  }

  /** The hub's record of a subscription its connection holds. */
  private track(conn: Connection, sub: number, topic: string, style: FrameStyle, fromUrl: boolean): void {
    conn.subs.set(topic, sub);
    this.subs.set(sub, { conn, topic, style, channel: null, fromUrl });
  }

  private unsubscribe(sub: number): void {
    const s = this.subs.get(sub);
    if (!s) return;
    this.forget(sub, s);
    if (s.channel && s.conn.ws && !s.conn.closed) s.conn.ws.unsubscribe(s.channel);
  }

  /** Drops the subscription here and at the registry. */
  private forget(sub: number, s: Subscription): void {
    this.subs.delete(sub);
    s.conn.subs.delete(s.topic);
    if (s.channel && s.conn.sse) {
      const streams = this.sseChannels.get(s.channel);
      streams?.delete(s.conn);
      if (streams?.size === 0) this.sseChannels.delete(s.channel); // channel names come and go with topics: no empty sets left behind
    }
    this.gate.close(sub);
  }

  private closed(conn: Connection, _code: number): void {
    if (conn.closed) return;
    conn.closed = true;
    clearTimeout(conn.expiry);
    this.connections.delete(conn);
    for (const sub of [...conn.subs.values()]) {
      const s = this.subs.get(sub);
      if (s) this.forget(sub, s);
    }
    for (const [sub, ackId] of conn.heldAcks.splice(0)) this.gate.ack(sub, ackId, false);
  }

  private drained(conn: Connection): void {
    if (conn.closed || conn.heldAcks.length === 0 || this.buffered(conn) > this.opts.maxBufferedBytes / 4) return;
    for (const [sub, ackId] of conn.heldAcks.splice(0)) this.gate.ack(sub, ackId, true);
  }

  private buffered(conn: Connection): number {
    return conn.ws ? conn.ws.getBufferedAmount() : conn.sse!.buffered;
  }

  private sendText(conn: Connection, text: string): void {
    if (conn.closed) return;
    if (conn.sse) conn.sse.message(text);
    else conn.ws!.cork(() => conn.ws!.send(text, false));
  }

  private closeSlow(conn: Connection, why: string): void {
    if (conn.closed) return;
    this.slowDrops[conn.transport]++;
    const reason = truncateReason(`too slow: ${why}; reconnect with from=<last token>`);
    this.log.info({ transport: conn.transport, topics: [...conn.subs.keys()] }, 'closing a slow subscriber');
    if (conn.ws) {
      conn.ws.end(CLOSE_TOO_SLOW, reason); // its close handler forgets the subscriptions
    } else {
      sseError(conn, 'TOO_SLOW', reason);
      conn.sse!.end();
      this.closed(conn, CLOSE_TOO_SLOW);
    }
  }

  /** WebSockets fed by publish are checked against the soft limit a few times a second (uWS gives no per-socket result). */
  private scheduleSweep(): void {
    if (this.sweepScheduled) return;
    this.sweepScheduled = true;
    setTimeout(() => {
      this.sweepScheduled = false;
      for (const c of this.connections) {
        if (c.ws && !c.closed && c.ws.getBufferedAmount() > this.opts.maxBufferedBytes) this.closeSlow(c, 'send buffer full');
      }
    }, SWEEP_INTERVAL_MS).unref();
  }
}

/**
 * The `error` event that ends an SSE stream: the same frame as a subscription's error (`event`, `topic`,
 * `error` with `retriable`), as the AsyncAPI document describes it.
 */
function sseError(conn: Connection, code: ErrorCode, message: string): void {
  const topic = conn.subs.keys().next().value;
  const error = { code, message, retriable: ERRORS[code].retriable };
  conn.sse!.event('error', JSON.stringify(topic === undefined ? { event: 'error', error } : { event: 'error', topic, error }));
}

/** WebSocket close reasons are limited to 123 bytes. */
function truncateReason(text: string): string {
  return Buffer.byteLength(text) <= 123
    ? text
    : Buffer.from(text)
        .subarray(0, 120)
        .toString('utf8')
        .replace(/\uFFFD$/, '') + '...';
}

/** The client's address as uWS saw it (a proxy's, behind one), read while the request is valid. */
function remoteAddress(res: HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString('utf8');
}
