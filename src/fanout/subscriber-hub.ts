/**
 * The subscriber side: WebSocket routes and publishing of record batches to sockets. It only needs a uWS
 * app and batches of records, never a Kafka client, so it can run in any thread that owns a uWS app.
 *
 * Each record is serialised once per topic (on the main thread, `encodeFrames`) and published once per
 * channel through uWS pub/sub, so the cost per extra subscriber is bytes on a socket, not JSON work. Channels:
 *   `records/<topic>` — envelope frames for `/ws/topics/{topic}`
 *   `values/<topic>`  — the bare record value for the seed route `/consumer/{topic}`
 */
import type { TemplatedApp, WebSocket, HttpResponse, HttpRequest, us_socket_context_t } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { SluiceError, toErrorResponse } from '../errors.js';
import { pathParameter, sendError } from '../ingress/respond.js';
import { presentedKey, type AccessControl } from '../ingress/access-control.js';
import { originForbidden } from '../ingress/cors.js';

export type FrameStyle = 'envelope' | 'value';

interface SocketData {
  topic: string;
  style: FrameStyle;
}

export interface SubscribeGate {
  /** Resolves once the topic exists and its consumer delivers everything produced from now on. */
  acquire(topic: string, style: FrameStyle): Promise<void>;
  release(topic: string, style: FrameStyle): void;
}

export interface HubOptions {
  maxBackpressureBytes: number;
  idleTimeoutSeconds: number;
}

/** Close code for sockets closed because the server shuts down (RFC 6455 "going away"). */
export const CLOSE_GOING_AWAY = 1001;

export class SubscriberHub {
  private readonly sockets = new Set<WebSocket<SocketData>>();
  private closing = false;

  constructor(private readonly app: TemplatedApp, private readonly gate: SubscribeGate, private readonly access: AccessControl, private readonly log: Logger) {}

  /** Registers `/ws/topics/:topic` (envelopes) and the seed-compatible `/consumer/:topic` (bare values). */
  register(opts: HubOptions): void {
    this.route('/ws/topics/:topic', 'envelope', opts);
    this.route('/consumer/:topic', 'value', opts);
  }

  /** Publishes frames serialised once (by `encodeFrames`) for a topic's two channels. */
  publishFrames(topic: string, envelopes: readonly string[] | null, values: readonly Uint8Array[] | null): void {
    if (envelopes) {
      const channel = `records/${topic}`;
      for (const frame of envelopes) this.app.publish(channel, frame, false);
    }
    if (values) {
      const channel = `values/${topic}`;
      for (const frame of values) this.app.publish(channel, frame, false);
    }
  }

  /** Closes every socket with 1001 and refuses new ones. */
  closeAll(): void {
    this.closing = true;
    for (const ws of [...this.sockets]) ws.end(CLOSE_GOING_AWAY, 'server shutting down');
    this.sockets.clear();
  }

  private route(pattern: string, style: FrameStyle, opts: HubOptions): void {
    this.app.ws<SocketData>(pattern, {
      maxPayloadLength: 16 * 1024,
      maxBackpressure: opts.maxBackpressureBytes,
      closeOnBackpressureLimit: 1,
      idleTimeout: opts.idleTimeoutSeconds,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => this.upgrade(res, req, context, style),
      open: (ws) => {
        const { topic, style: s } = ws.getUserData();
        this.sockets.add(ws);
        ws.subscribe(s === 'envelope' ? `records/${topic}` : `values/${topic}`);
        // The consumer is positioned before the upgrade, so this frame promises: records produced from now on reach you.
        ws.send(s === 'envelope' ? JSON.stringify({ event: 'subscribed', topic }) : '{"Message":"connected"}', false);
      },
      message: (ws, message) => {
        // Seed clients may send text; answer like the seed app did.
        const { style: s } = ws.getUserData();
        if (s === 'value') ws.send(JSON.stringify({ Message: Buffer.from(message).toString('utf8') }), false);
      },
      close: (ws) => {
        const { topic, style: s } = ws.getUserData();
        this.sockets.delete(ws);
        this.gate.release(topic, s);
      },
    });
  }

  private upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, style: FrameStyle): void {
    const topic = pathParameter(req, 0);
    const secKey = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const key = presentedKey((h) => req.getHeader(h), (q) => req.getQuery(q));
    const origin = req.getHeader('origin');
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    if (this.closing) {
      sendError(res, new SluiceError('SHUTTING_DOWN', 'server shutting down'));
      return;
    }
    try {
      if (originForbidden(origin)) throw new SluiceError('FORBIDDEN', `origin "${origin}" is not in SLUICE_CORS_ORIGINS`);
      this.access.check(key, 'subscribe', topic);
    } catch (err) {
      sendError(res, err);
      return;
    }
    this.gate.acquire(topic, style).then(() => {
      if (aborted) {
        this.gate.release(topic, style);
        return;
      }
      res.cork(() => res.upgrade<SocketData>({ topic, style }, secKey, protocol, extensions, context));
    }, (err: unknown) => {
      if (aborted) return;
      const e = toErrorResponse(err);
      if (e.status >= 500) this.log.warn({ topic, err: (err as Error).message }, 'subscribe failed');
      res.cork(() => sendError(res, err));
    });
  }
}
