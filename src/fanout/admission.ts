/**
 * The one admission sequence of a subscription, whatever carries it:
 *   precheck     shutting down, origin, options: synchronous, while uWS's request is valid; no credentials
 *   credentials  the token or API key (a token may wait for a JWKS fetch), then the options authorized for them
 *   open         the registry opens the subscription and acquires what it needs (`FanoutGate.open`)
 *   ready        the registry's answer: a refusal becomes an HTTP answer; `ready` lets the transport upgrade
 *                the WebSocket or begin the SSE stream
 *   start        the connection exists (connection.ts): the hub tracks the subscription and the registry goes on
 * A per-topic WebSocket URL and an SSE stream run every stage (websocket-route.ts, sse-route.ts; a bare `/ws`
 * has no subscription and upgrades after its credentials); a `/ws` subscribe message (control-messages.ts)
 * runs credentials (the connection's, checked again for the topic) and open, and the registry starts it
 * itself: there is no upgrade to wait for.
 * Who owns what across the waits: until `open` a client that leaves holds nothing; from `open` until `start`
 * the pipeline owns the subscription and gives it back (`FanoutGate.close`) if the client leaves or the
 * connection never comes into being; from `start` the connection owns it (the hub's close bookkeeping).
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { ERRORS, SluiceError, fromPlainError, type PlainError } from '../errors.js';
import type { CorsPolicy } from '../http/cors.js';
import type { Credentials, SubscribeAuth } from '../http/credentials/subscription-tokens.js';
import type { FanoutGate, FrameStyle, SubscriberTransport } from '../subscription/protocol.js';
import type { SubscribeOptions } from '../subscription/subscribe-options.js';
import type { ConnectionIdentity } from './connection.js';

/** What an HTTP request carries for admission, read in its handler (uWS's `req` is gone after a wait). */
export interface RequestFacts {
  origin: string;
  presented: { apiKey: string; token: string };
  /** The client's address as uWS saw it (a proxy's, behind one). */
  address: string;
}

/** A subscription past its credentials: who holds it, its id (0: none, a bare `/ws`), its options and frames. */
export interface Admitted<O extends SubscribeOptions | null> {
  identity: ConnectionIdentity;
  sub: number;
  options: O;
  style: FrameStyle;
}

/** What one transport gives the pipeline for one request (a WebSocket upgrade or an SSE `GET`). */
export interface HttpAdmission<O extends SubscribeOptions | null> {
  transport: SubscriberTransport;
  facts: RequestFacts;
  /** The seed route: bare values, whatever the query says. */
  valueFrames: boolean;
  /** The subscription the URL asks for (null: none), read synchronously while `req` is valid; throws the refusal. */
  readOptions(): O;
  /** Answers a refusal on this request (after a wait, the pipeline calls it inside `res.cork`). */
  refuse(err: unknown): void;
  /**
   * The ready stage: upgrade or begin the stream, then start. Returns what the pipeline calls when the client
   * leaves from now on, or null when the connection did not come into being (the subscription is then given back).
   */
  proceed(admitted: Admitted<O>): (() => void) | null;
}

/** A subscription opened before its upgrade or SSE answer, waiting for `ready` (or a refusal). */
interface PendingAnswer {
  proceed(): void;
  refuse(error: PlainError): void;
}

export class Admission {
  /** Set when the hub's routes are registered. */
  gate!: FanoutGate;
  private closing = false;
  private readonly pending = new Map<number, PendingAnswer>();
  private nextSub = 1;
  private nextConnection = 1;

  constructor(
    private readonly auth: SubscribeAuth,
    private readonly cors: CorsPolicy,
    private readonly log: Logger,
  ) {}

  /** What admission needs from the request, read in its handler: uWS's `req` is valid only there. */
  facts(res: HttpResponse, req: HttpRequest): RequestFacts {
    return {
      origin: req.getHeader('origin'),
      presented: this.auth.presented(
        (h) => req.getHeader(h),
        (q) => req.getQuery(q),
      ),
      address: Buffer.from(res.getRemoteAddressAsText()).toString('utf8'),
    };
  }

  /** Runs the whole sequence for one WebSocket upgrade or SSE request. */
  run<O extends SubscribeOptions | null>(res: HttpResponse, request: HttpAdmission<O>): void {
    // Registered before anything is awaited (uWS terminates the process for an unanswered request without
    // it). Until the subscription is opened a leaving client holds nothing; from then on `left` gives it back.
    let aborted = false;
    let left = () => {};
    res.onAborted(() => {
      aborted = true;
      left();
    });
    let requested: O;
    try {
      requested = this.precheck(request.facts.origin, request.readOptions);
    } catch (err) {
      request.refuse(err);
      return;
    }
    // Verifying a token may wait for a JWKS fetch: `req` is gone by then, and the client may be too.
    this.credentials(request.facts.presented, requested)
      .then(([options, creds]) => {
        if (aborted) return; // left during verification: nothing was taken
        const identity = this.identify(creds, request.facts.address, request.transport);
        const style: FrameStyle = request.valueFrames ? 'value' : (options?.style ?? 'record');
        if (options === null) {
          request.proceed({ identity, sub: 0, options, style });
          return;
        }
        // Refusals (unknown topic, a limit reached, broker down) are HTTP answers: the subscription is opened
        // first and the upgrade or stream waits for `ready`.
        const sub = this.nextSub++;
        left = () => {
          // The client left before `ready`: the subscription gives back what it acquired so far.
          if (this.pending.delete(sub)) this.gate.close(sub);
        };
        this.pending.set(sub, {
          proceed: () => {
            const onLeave = request.proceed({ identity, sub, options, style });
            if (onLeave === null)
              this.gate.close(sub); // the socket died in between: nobody owns the subscription
            else left = onLeave;
          },
          refuse: (error) => {
            if (ERRORS[error.code].status >= 500)
              this.log.warn({ topic: options.topic, code: error.code, err: error.message }, 'subscribe refused');
            res.cork(() => request.refuse(fromPlainError(error)));
          },
        });
        this.open(identity, sub, options, style, true);
      })
      .catch((err: unknown) => {
        if (!aborted) res.cork(() => request.refuse(err));
      });
  }

  /**
   * A `/ws` subscribe message: the connection's credentials checked again for this topic, then open (the
   * registry starts it itself). `track` records it first: the registry may answer before `open` returns.
   * Throws the refusal (an `error` frame on the socket).
   */
  openFromMessage(conn: ConnectionIdentity, requested: SubscribeOptions, track: (sub: number, style: FrameStyle) => void): void {
    const options = this.auth.authorize(conn.creds, requested);
    const sub = this.nextSub++;
    track(sub, options.style);
    this.open(conn, sub, options, options.style, false);
  }

  /** The registry's `ready`: upgrade or begin the stream (a subscription whose client left is already closed). */
  ready(sub: number): void {
    const p = this.pending.get(sub);
    if (!p) return; // the client left before: its close is on the way to the registry
    this.pending.delete(sub);
    p.proceed();
  }

  /** The registry refused a subscription waiting for `ready`: answered here (true), or not one of them (false). */
  refused(sub: number, error: PlainError): boolean {
    const p = this.pending.get(sub);
    if (!p) return false;
    this.pending.delete(sub);
    p.refuse(error);
    return true;
  }

  /** Refuses every new subscriber from now on, and those waiting for `ready`. */
  shutDown(): void {
    this.closing = true;
    for (const [sub, p] of [...this.pending]) {
      this.pending.delete(sub);
      this.gate.close(sub);
      p.refuse({ code: 'SHUTTING_DOWN', message: 'server shutting down' });
    }
  }

  /**
   * The checks that need no credentials, in this order: shutting down, origin, options. Throws the refusal;
   * returns the options read.
   */
  private precheck<O extends SubscribeOptions | null>(origin: string, readOptions: () => O): O {
    if (this.closing) throw new SluiceError('SHUTTING_DOWN', 'server shutting down');
    if (this.cors.originForbidden(origin)) throw new SluiceError('FORBIDDEN', `origin "${origin}" is not in SLUICE_CORS_ORIGINS`);
    return readOptions();
  }

  /**
   * The credentials (a token, or an API key for the topic, or the key alone on `/ws`), which may take a JWKS
   * fetch; rejects with the refusal. Shutting down is checked again: it may have begun meanwhile.
   */
  private async credentials<O extends SubscribeOptions | null>(
    presented: { apiKey: string; token: string },
    options: O,
  ): Promise<[O, Credentials]> {
    const creds = await this.auth.admit(presented);
    if (this.closing) throw new SluiceError('SHUTTING_DOWN', 'server shutting down');
    return [this.auth.authorize(creds, options), creds];
  }

  /** One connection (an SSE stream is one); its id is taken now, before the registry counts its share. */
  private identify(creds: Credentials, address: string, transport: SubscriberTransport): ConnectionIdentity {
    return { id: this.nextConnection++, client: this.auth.client(creds, address), transport, creds };
  }

  private open(conn: ConnectionIdentity, sub: number, options: SubscribeOptions, style: FrameStyle, beforeUpgrade: boolean): void {
    this.gate.open({
      sub,
      ...options,
      style,
      transport: conn.transport,
      beforeUpgrade,
      mayCreate: this.auth.mayCreate(conn.creds, options.topic),
      client: conn.client,
      connection: conn.id,
    });
  }
}
