/**
 * One ingest request, start to answer — the pipeline every ingest route runs, stage by stage:
 *   head (read synchronously: uWS invalidates `req` after the handler returns) → metadata (pure,
 *   request-metadata.ts) → credentials → accepted → Idempotency-Key → body, read under the limit →
 *   schema → decode, inline or on the pool → submit → answer (ingest-body.ts for the stages after the body).
 * Any failure before the producer's `submit()` means nothing of the request reached Kafka.
 *
 * The single-record path is the hot one (a device fleet posts one reading per request): it reads every
 * header in one pass over the request, skips the API-key and CORS work when those are off, and runs from
 * the body's last chunk to the answer without a Promise — in fire mode the answer is written before uWS's
 * data callback returns.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { SluiceError, toErrorResponse } from '../errors.js';
import { presentedKey, type AccessControl } from '../http/credentials/api-keys.js';
import type { CorsPolicy } from '../http/cors.js';
import { sendJson, type ErrorAnswers } from '../http/respond.js';
import { assertIdempotencyKey, fingerprint, type Idempotency, type KeptAnswer } from '../http/idempotency/store.js';
import type { BodyRead, ReadingBudget } from './body-reader.js';
import { ingestBody, type BodyStages, type Ingested } from './ingest-body.js';
import type { IngestRoute } from './ingest-route.js';
import type { Lifecycle } from './lifecycle.js';
import { readRequestHead } from './request-head.js';
import { readRequestMetadata, type RequestMetadata } from './request-metadata.js';

/** Everything the pipeline uses, built once per thread and passed in (see edge-services.ts, http-app.ts). */
export interface IngestDeps extends BodyStages {
  lifecycle: Lifecycle;
  /** Error answers (Retry-After, the error observer). */
  answers: ErrorAnswers;
  cors: CorsPolicy;
  access: AccessControl;
  /** This thread's budget for bodies being read at once. */
  reading: ReadingBudget;
  /** Remembers answers to requests with an Idempotency-Key (absent when SLUICE_IDEMPOTENCY_WINDOW_S is 0). */
  idempotency: Idempotency | undefined;
  /** Counts one answered request (route name, status, records accepted, seconds from accepted to answered). */
  countRequest: (route: string, status: number, records: number, seconds: number) => void;
  log: Logger;
}

export function handleIngest(res: HttpResponse, req: HttpRequest, route: IngestRoute, topic: string, deps: IngestDeps): void {
  // 1. The head, read while `req` is valid.
  const head = readRequestHead(req);
  const x = new IngestExchange(res, route, deps, head.origin === '' ? null : deps.cors.allowedOrigin(head.origin));
  res.onAborted(x.onAborted);
  if (deps.lifecycle.draining) return x.refuse(new SluiceError('SHUTTING_DOWN', 'gateway is shutting down'));

  // 2. Metadata: topic, key, headers, timestamp, ack mode, body format and encoding — or the refusal.
  const meta = readRequestMetadata(
    head,
    topic,
    {
      ndjsonAllowed: route.ndjsonAllowed,
      durableByDefault: deps.config.ackMode === 'durable',
      maxTimestampAheadMs: deps.config.maxTimestampAheadMs,
    },
    Date.now(),
  );
  if (meta instanceof SluiceError) return x.refuse(meta);
  // 3. Credentials: the API key may produce to this topic (and is within its rate).
  if (deps.access.enabled) {
    try {
      deps.access.check(
        presentedKey(
          (h) => req.getHeader(h),
          (q) => req.getQuery(q),
        ),
        'produce',
        meta.topic,
      );
    } catch (err) {
      return x.refuse(err);
    }
  }

  // 4. Accepted: from here the request ends exactly once, and shutdown waits for it.
  x.accept(meta);
  // 5. Idempotency-Key, checked before the body is read. Requests without the header take the path with no idempotency work at all.
  const idempotencyKey = head.idempotencyKey;
  if (idempotencyKey !== '') {
    try {
      assertIdempotencyKey(idempotencyKey);
    } catch (err) {
      x.fail(err, true);
      return;
    }
    meta.headers = [...(meta.headers ?? []), ['idempotency-key', idempotencyKey]];
  }

  // 6. The body, read under the limit and this thread's reading budget; then, at most once per key, the
  // stages after the body (ingest-body.ts): schema → decode inline or on the pool → submit → answer.
  x.bodyRead = deps.reading.readBody(
    res,
    deps.config.maxBodyBytes,
    meta.declaredLength,
    (body) => {
      if (idempotencyKey !== '' && deps.idempotency) {
        const ingest = () =>
          new Promise<KeptAnswer>((resolve, reject) => ingestBody(body, meta, route, deps, (err, a) => (err ? reject(err) : resolve(a!))));
        deps.idempotency.run(idempotencyKey, fingerprint(route.name, meta.topic, head.query, body), ingest).then(x.finish, x.fail);
        return;
      }
      ingestBody(body, meta, route, deps, x.ingested);
    },
    x.fail,
  );
}

/**
 * The request's state: accepted requests end exactly once (answered, failed, or aborted by the client
 * mid-upload), and nothing is written to a response uWS has aborted.
 */
class IngestExchange {
  bodyRead: BodyRead | undefined;
  private aborted = false;
  /** True until accepted, and again once ended: `lifecycle.end()` runs once per `begin()`. */
  private settled = true;
  private answered = false;
  private startedAt = 0;
  private topic = '';

  constructor(
    private readonly res: HttpResponse,
    private readonly route: IngestRoute,
    private readonly deps: IngestDeps,
    /** The allowed origin to answer with; null when the request has none or it is not allowed. */
    private readonly cors: string | null,
  ) {}

  readonly onAborted = (): void => {
    this.aborted = true;
    this.bodyRead?.cancel();
    this.settle();
  };

  /** Refused before it was accepted: answered at once, never counted as in progress. */
  refuse(err: unknown): void {
    this.deps.answers.send(this.res, err, true, this.cors);
  }

  /** From here on the request counts as in progress: shutdown waits for its answer. */
  accept(meta: RequestMetadata): void {
    this.deps.lifecycle.begin();
    this.settled = false;
    this.topic = meta.topic;
    this.startedAt = performance.now();
  }

  readonly finish = (a: KeptAnswer): void => {
    if (this.answered) return;
    this.answered = true;
    this.settle();
    this.deps.countRequest(this.route.name, a.status, a.records, (performance.now() - this.startedAt) / 1000);
    // While draining, answers close their connection so keep-alive clients move on and threads can end.
    if (!this.aborted) this.res.cork(() => sendJson(this.res, a.status, a.body, this.deps.lifecycle.draining, this.cors));
  };

  readonly fail = (err: unknown, closeConnection = false): void => {
    if (this.answered) return;
    this.answered = true;
    this.settle();
    const { deps } = this;
    const e = toErrorResponse(err);
    deps.countRequest(this.route.name, e.status, 0, (performance.now() - this.startedAt) / 1000);
    if (e.status >= 500) deps.log.warn({ topic: this.topic, err: (err as Error).message }, 'ingest request failed');
    if (!this.aborted) this.res.cork(() => deps.answers.send(this.res, err, closeConnection || deps.lifecycle.draining, this.cors));
  };

  readonly ingested: Ingested = (err, a) => (err ? this.fail(err) : this.finish(a!));

  private settle(): void {
    if (!this.settled) {
      this.settled = true;
      this.deps.lifecycle.end();
    }
  }
}
