/**
 * The one error registry. Every error a client can see has a stable code, an HTTP status, and says what
 * the caller does next: `retriable` (retry the same request later; otherwise fix the request) goes into
 * every error body, and `retryAfter` decides the `Retry-After` header. docs/api.md's error table is
 * generated from this table (`npm run docs:config`) and `test/docs.test.ts` fails when they drift.
 */

export interface ErrorSpec {
  readonly status: number;
  readonly retriable: boolean;
  /** HTTP answers carry `Retry-After: <SLUICE_RETRY_AFTER_S>` (one number for every such code): a later retry can succeed. */
  readonly retryAfter: boolean;
  readonly description: string;
}

const fix = (status: number, description: string): ErrorSpec => ({ status, retriable: false, retryAfter: false, description });
const later = (status: number, description: string): ErrorSpec => ({ status, retriable: true, retryAfter: true, description });

export const ERRORS = {
  INVALID_JSON: fix(
    400,
    'The body (or an NDJSON line) is not valid JSON; `index` names the array element, `line` the NDJSON line. Fix and resend.',
  ),
  INVALID_UTF8: fix(400, 'The body is not valid UTF-8.'),
  EMPTY_BATCH: fix(400, 'No record in the body (empty array, blank NDJSON, empty body).'),
  INVALID_PARAMETER: fix(
    400,
    'A query parameter, header or control-message field is not accepted: an unknown or repeated parameter (`parameter` names it, with a "did you mean" when one is close), a bad value (`ack=maybe`), too many Kafka headers.',
  ),
  INVALID_ENCODING: fix(400, 'The body does not decode with its `Content-Encoding` (corrupt gzip or LZ4 frame).'),
  NOT_A_JSON_CONTAINER: fix(400, 'An `application/json` body must be an object (one record) or an array (one record per element).'),
  UNAUTHORIZED: fix(401, 'API keys are configured and the request has none, or an unknown one.'),
  TOKEN_INVALID: fix(
    401,
    'The subscription token (JWT) does not verify: not the configured algorithm (HS256 with `SLUICE_JWT_SECRET_FILE`; RS256/ES256 with `SLUICE_JWT_PUBLIC_KEY_FILE` or `SLUICE_JWT_JWKS_URL`), a bad signature, a `kid` the JWKS does not hold, no `exp`, no `sluice.sub` claim, an `aud` or `iss` other than `SLUICE_JWT_AUDIENCE` / `SLUICE_JWT_ISSUER` (when set), an `nbf` still in the future (beyond 30 s of clock tolerance), a `crit` header, or a lifetime over `SLUICE_JWT_MAX_LIFETIME_S`; the message says which. Get a valid token.',
  ),
  TOKEN_EXPIRED: fix(
    401,
    "The subscription token's `exp` has passed: refused before the upgrade, or, once connected, the WebSocket is closed with `4001` (SSE: `event: error`). Get a new token and resume with `from=<last token>`.",
  ),
  FORBIDDEN: fix(403, "The API key may not produce to (or subscribe to) this topic, or the page's origin is not in `SLUICE_CORS_ORIGINS`."),
  ROUTE_NOT_FOUND: fix(404, 'No such route (see `GET /openapi.json` and `GET /asyncapi.json` for the routes there are).'),
  TOPIC_NOT_FOUND: fix(
    404,
    'The topic does not exist and the cluster does not create topics on first use (see `SLUICE_CREATE_TOPICS`). Only answered once Sluice has seen the cluster leave a requested topic uncreated for 15 s; until then an unknown topic gets `503 TOPIC_NOT_READY`. A subscription whose credential may not produce to the topic (a read-only API key, a subscription token) gets it at once: subscribing creates a topic only for a credential that may produce to it.',
  ),
  METHOD_NOT_ALLOWED: fix(405, 'The path exists but not for this method; `Allow` (and `allow` in the body) lists the methods it takes.'),
  BODY_TOO_LARGE: fix(
    413,
    'Body over `SLUICE_MAX_BODY_BYTES` (default 1 MiB) as sent or once decoded: refused from `Content-Length` before reading, as soon as a streamed body passes the limit, or as soon as decoding does. `limitBytes` gives the limit.',
  ),
  RECORD_TOO_LARGE: fix(
    413,
    "A record (its value, key and headers) is larger than the producer's `message.max.bytes` (librdkafka's default 1,000,000 bytes, below the default `SLUICE_MAX_BODY_BYTES`); librdkafka refuses it before sending. `queued` counts the request's records queued before it (they are written). Send smaller records.",
  ),
  TOO_MANY_RECORDS: fix(413, 'More records in one body than `SLUICE_MAX_RECORDS_PER_REQUEST` (default 10,000); nothing written. Split it.'),
  UNSUPPORTED_MEDIA_TYPE: fix(415, 'Content-Type is not JSON/NDJSON, or a Content-Encoding other than gzip or lz4.'),
  UPGRADE_REQUIRED: fix(
    426,
    'A WebSocket route was requested without a WebSocket upgrade (`Upgrade: websocket`); connect with a WebSocket client, or use `GET /sse/topics/{topic}` for a plain HTTP stream.',
  ),
  HEADERS_TOO_LARGE: fix(
    431,
    'The request line and headers take more than 4 KiB (see [Connection limits](#connection-limits)); send fewer or shorter headers.',
  ),
  SNAPSHOT_TOO_LARGE: fix(
    413,
    'A `snapshot=` found more keys than `SLUICE_SNAPSHOT_MAX_KEYS` or more bytes of latest records than `SLUICE_SNAPSHOT_MAX_BYTES` in its span (an error frame; the subscription ends). `limit` names the bound. Ask for a shorter span, or narrow it with `key=`/`where=`.',
  ),
  VIEW_TOO_LARGE: fix(
    413,
    'A windowed view (`window=`) passed `SLUICE_VIEW_MAX_GROUPS` (groups in one window, or groups with a firing alert) or `SLUICE_VIEW_MAX_OPEN_WINDOWS` (an error frame; every subscription of the view ends). Group by a field with fewer values, filter with `where=`, or use a larger hop or shorter grace.',
  ),
  RATE_LIMITED: later(429, 'The API key is over its `requestsPerSec`; retry after `Retry-After`.'),
  CONNECTION_LIMIT: later(
    429,
    'This connection holds its share of a subscription resource; `limit` names it: `SLUICE_MAX_SUBSCRIPTIONS_PER_CONNECTION`, `SLUICE_MAX_REPLAYS_PER_CONNECTION` (replays in progress) or `SLUICE_MAX_GROUPS_PER_CONNECTION`. Refused before the upgrade, or an error frame for a `/ws` subscribe message; nothing was opened. Unsubscribe from one (or wait for a replay to catch up) and retry.',
  ),
  CLIENT_LIMIT: later(
    429,
    "This client — its API key, its token's `sub`, or (open access, or a token without `sub`) its address — holds its share over all its connections; `limit` names it: `SLUICE_MAX_TOPICS_PER_CLIENT` (distinct topics subscribed to) or `SLUICE_MAX_REPLAYS_PER_CLIENT` (replays in progress). Nothing was opened; retry after `Retry-After`, or once one of its subscriptions ends.",
  ),
  INVALID_TOPIC: fix(
    422,
    'Not a legal Kafka topic name (1–249 of `a-z A-Z 0-9 . _ -`, not `.` or `..`), or a Kafka internal topic (`__consumer_offsets`, `__transaction_state`, `__share_group_state`: brokers refuse produce requests to them).',
  ),
  IDEMPOTENCY_KEY_REUSED: fix(
    422,
    'The `Idempotency-Key` was already used, within `SLUICE_IDEMPOTENCY_WINDOW_S`, for a different request (route, topic, query parameters or body); nothing written. Use a new key for a new request.',
  ),
  SCHEMA_VALIDATION_FAILED: fix(
    422,
    "A record does not match its topic's JSON Schema (`SLUICE_SCHEMAS_DIR`, or the Schema Registry): `index` names the array element (or `line` the NDJSON line), `pointer` the JSON pointer into the record, `rule` the schema keyword that failed; the whole request was refused, nothing written. Fix the record and resend.",
  ),
  VALIDATION_FAILED: fix(422, 'Valid JSON without the fields a seed route needs.'),
  TIMESTAMP_REFUSED: fix(
    422,
    "The `X-Kafka-Timestamp` is one Kafka does not take. Refused before producing when it is more than `SLUICE_MAX_TIMESTAMP_AHEAD_MS` (default 1 h, Kafka 4's default `message.timestamp.after.max.ms`) ahead of the gateway's clock, with `limit` naming that setting: Kafka would refuse the whole batch such a record travels in, other requests' records too. Otherwise Kafka refused the records for it: too far ahead of the broker's clock (the topic's `message.timestamp.after.max.ms`) or behind it (`message.timestamp.before.max.ms`; unlimited by default), answered when every record Kafka did not write was refused by its record validation and the timestamp is more than 60 s from the gateway's clock; `delivered` counts the records Kafka did write (none, when the timestamp is at fault). The same request fails again: send the measurement's real time, or no timestamp. (With `ack=none` the `202` came first: the records are dropped and logged.)",
  ),
  QUEUE_FULL: later(503, "The producer's queue or Sluice's in-flight budget is full; nothing was queued. Retry after `Retry-After`."),
  OVERLOADED: later(
    503,
    'A bound was reached; `limit` names it: `SLUICE_MAX_READING_BYTES` (request bodies being received at once; nothing was queued), or, for a subscription, `SLUICE_MAX_LIVE_PARTITIONS`, `SLUICE_MAX_REPLAYS` `SLUICE_MAX_GROUPS` or `SLUICE_MAX_VIEWS_PER_TOPIC`. Retry after `Retry-After`.',
  ),
  TOPIC_NOT_READY: later(
    503,
    'The topic is being created (by the cluster on first use, or by Sluice with `SLUICE_CREATE_TOPICS=true`) and was not ready within `SLUICE_METADATA_TIMEOUT_MS` (at most 2 s of it spent waiting); nothing was queued. Retry after `Retry-After`: the same request then succeeds.',
  ),
  BROKER_UNAVAILABLE: later(503, 'No Kafka broker is reachable; nothing was queued. Retry after `Retry-After`.'),
  DELIVERY_FAILED: later(
    503,
    "Kafka did not acknowledge every record within `message.timeout.ms` (30 s), or refused them because another request's record in the same Kafka batch failed its validation (a retry lands in another batch); `delivered` of them may be in Kafka, so a retry can duplicate those.",
  ),
  DELIVERY_UNCONFIRMED: later(
    503,
    "Kafka reported records delivered without the offset that proves a write (librdkafka's implicit acknowledgement, seen on a partition just created or whose leader just changed), so Sluice does not count them as written: they may or may not be in Kafka, the same promise as `DELIVERY_FAILED`. `delivered` counts the records whose write Kafka confirmed, `unconfirmed` the others; a retry can duplicate records. Retry after `Retry-After`.",
  ),
  TOO_SLOW: later(
    503,
    'Sent to a subscriber (WebSocket close `4008`, SSE `event: error`), not as an HTTP answer: it fell more than `SLUICE_WS_MAX_BACKPRESSURE_BYTES` behind (or, replaying, `SLUICE_REPLAY_BUFFER_BYTES`); reconnect with `from=<last token>`.',
  ),
  SCHEMA_REGISTRY_UNAVAILABLE: later(
    503,
    "The topic's schema could not be fetched from `SLUICE_SCHEMA_REGISTRY_URL` (unreachable, a 5xx, a timeout; or its subject is not a JSON Schema that compiles) and none was fetched before; nothing was written, never unchecked. Retry after `Retry-After`.",
  ),
  TOKEN_KEYS_UNAVAILABLE: later(
    503,
    "The subscription token's key (its `kid`) is not among the keys fetched before from `SLUICE_JWT_JWKS_URL`, and the JWKS cannot be fetched now (unreachable, a non-200, not a key set, a timeout); nothing was opened, never unchecked. Retry after `Retry-After`.",
  ),
  SHUTTING_DOWN: later(503, 'The gateway is draining for shutdown; retry (another instance).'),
  INTERNAL: {
    status: 500,
    retriable: true,
    retryAfter: false,
    description:
      'Unexpected; logged once with the route and the `correlationId` that the body also carries (quote it when reporting). Retrying may work.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** A client-facing error. Crosses threads as `{code, message, retriable}` (structuredClone drops the class). */
export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retriable: boolean;
  /** Extra JSON fields for the error body, e.g. the failing element index. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'SluiceError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.retriable = ERRORS[code].retriable;
    this.details = details;
  }
}

export interface ErrorResponse {
  status: number;
  body: string;
  retriable: boolean;
  /** Send `Retry-After`. */
  retryAfter: boolean;
}

export const ERROR_TABLE_START =
  '<!-- errors:start (generated by `npm run docs:config` from src/errors.ts; test/docs.test.ts checks it) -->';
export const ERROR_TABLE_END = '<!-- errors:end -->';

/** docs/api.md's error table, from the registry. */
export function renderErrorTable(): string {
  const rows = Object.entries(ERRORS).map(
    ([code, e]: [string, ErrorSpec]) =>
      `| \`${code}\` | ${e.status} | ${e.retryAfter ? 'yes, after `Retry-After`' : e.retriable ? 'yes' : 'no: fix the request'} | ${e.description.replace(/\|/g, '\\|')} |`,
  );
  return [
    ERROR_TABLE_START,
    '| Code | Status | Retry? | Meaning and what to do |',
    '| --- | --- | --- | --- |',
    ...rows,
    ERROR_TABLE_END,
  ].join('\n');
}

/** The one mapping from any thrown value to the HTTP answer (`correlationId`: an INTERNAL error's log reference). */
export function toErrorResponse(err: unknown, correlationId?: string): ErrorResponse {
  const e = err instanceof SluiceError ? err : new SluiceError('INTERNAL', 'internal error');
  const payload = { error: errorBody(e, correlationId) };
  return { status: e.status, body: JSON.stringify(payload), retriable: e.retriable, retryAfter: ERRORS[e.code].retryAfter };
}

/**
 * The `error` object of every error a client sees, in this key order: an HTTP body's, and a WebSocket or SSE
 * `error` frame's (src/subscription/frames.ts), so each carries `code`, `message` and `retriable` alike.
 */
export function errorBody(e: PlainError, correlationId?: string): Record<string, unknown> {
  return {
    code: e.code,
    message: e.message,
    retriable: ERRORS[e.code].retriable,
    ...(e.details ?? {}),
    ...(correlationId ? { correlationId } : {}),
  };
}

/** The code any thrown value answers with. */
export function errorCodeOf(err: unknown): ErrorCode {
  return err instanceof SluiceError ? err.code : 'INTERNAL';
}

/**
 * INVALID_PARAMETER for a name that is not accepted (a query parameter, a control-message field), naming it
 * and suggesting the closest accepted one within a small edit distance (`form` → `from`, `acks` → `ack`).
 */
export function unknownParameter(what: string, name: string, accepted: readonly string[], where = ''): SluiceError {
  const shown = JSON.stringify(name.slice(0, 100));
  const suggestion = closest(name, accepted);
  const hint = suggestion ? `; did you mean "${suggestion}"?` : accepted.length ? `; accepted: ${accepted.join(', ')}` : '; it takes none';
  return new SluiceError('INVALID_PARAMETER', `unknown ${what} ${shown}${where ? ` for ${where}` : ''}${hint}`, {
    parameter: name.slice(0, 100),
    ...(suggestion ? { didYouMean: suggestion } : {}),
  });
}

/** The accepted name within edit distance ⌈len/3⌉ (at most 2) of `name`, or null. */
export function closest(name: string, accepted: readonly string[]): string | null {
  const lower = name.toLowerCase();
  let best: string | null = null;
  let bestDistance = Math.min(2, Math.ceil(lower.length / 3)) + 1;
  for (const candidate of accepted) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Damerau–Levenshtein (optimal string alignment): a swap of two neighbours (`form`/`from`) counts once. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** Start-up failure: names the setting (or resource) at fault; the process exits non-zero. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** An error as it crosses threads (structuredClone drops an Error's class and fields). */
export interface PlainError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export function toPlainError(err: unknown): PlainError {
  if (err instanceof SluiceError) return { code: err.code, message: err.message, details: err.details };
  return { code: 'INTERNAL', message: 'internal error' };
}

export function fromPlainError(e: PlainError): SluiceError {
  return new SluiceError(e.code, e.message, e.details);
}
