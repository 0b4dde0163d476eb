/**
 * The one error registry. Every error a client can see has a stable code, an HTTP status, and says
 * what the caller does next (`retriable`: retry the same request later; otherwise fix the request).
 * `test/readme.test.ts` fails when a code here is missing from the README's error table.
 */

export interface ErrorSpec {
  readonly status: number;
  readonly retriable: boolean;
  readonly description: string;
}

export const ERRORS = {
  INVALID_JSON: { status: 400, retriable: false, description: 'The body is not valid JSON (or an NDJSON line is not); the message names the element index or line number.' },
  INVALID_UTF8: { status: 400, retriable: false, description: 'The body is not valid UTF-8.' },
  EMPTY_BATCH: { status: 400, retriable: false, description: 'The body holds no record (empty array or blank NDJSON).' },
  INVALID_PARAMETER: { status: 400, retriable: false, description: 'A query parameter or header has a value Sluice does not accept.' },
  INVALID_ENCODING: { status: 400, retriable: false, description: 'The body does not decode with its `Content-Encoding` (corrupt gzip or LZ4 frame).' },
  NOT_A_JSON_CONTAINER: { status: 400, retriable: false, description: 'An `application/json` body must be an object (one record) or an array (one record per element).' },
  UNAUTHORIZED: { status: 401, retriable: false, description: 'API keys are configured and the request has none, or one that is not valid.' },
  FORBIDDEN: { status: 403, retriable: false, description: 'The API key may not produce to (or subscribe to) this topic.' },
  ROUTE_NOT_FOUND: { status: 404, retriable: false, description: 'No such route.' },
  TOPIC_NOT_FOUND: { status: 404, retriable: false, description: 'The topic does not exist and the cluster does not create topics on first use: asked to, it did not create one within seconds (set `SLUICE_CREATE_TOPICS=true` to let Sluice create it).' },
  BODY_TOO_LARGE: { status: 413, retriable: false, description: 'The body, as sent or once decoded, is larger than `SLUICE_MAX_BODY_BYTES`; checked while reading and while decoding.' },
  TOO_MANY_RECORDS: { status: 413, retriable: false, description: 'The body holds more records than `SLUICE_MAX_RECORDS_PER_REQUEST`; split it.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retriable: false, description: 'Content-Type is neither `application/json` nor `application/x-ndjson`, or Content-Encoding is not gzip or lz4.' },
  HEADERS_TOO_LARGE: { status: 431, retriable: false, description: 'The request\'s header block is over 4 KiB (request line and all headers); send fewer or shorter headers.' },
  RATE_LIMITED: { status: 429, retriable: true, description: 'The API key is over its request rate; retry after `Retry-After` seconds.' },
  INVALID_TOPIC: { status: 422, retriable: false, description: 'The topic name is not a legal Kafka topic name (1–249 of `[a-zA-Z0-9._-]`, not `.` or `..`), or names one of Kafka\'s internal topics (produce only).' },
  VALIDATION_FAILED: { status: 422, retriable: false, description: 'The JSON is valid but does not have the fields the route needs (seed route `/producer/{topic}`).' },
  QUEUE_FULL: { status: 503, retriable: true, description: 'The producer queue or the in-flight budget is full; nothing of the request was queued. Retry after `Retry-After` seconds.' },
  OVERLOADED: { status: 503, retriable: true, description: 'The gateway is receiving more request bodies at once than `SLUICE_MAX_READING_BYTES` allows; nothing was queued. Retry after `Retry-After` seconds.' },
  TOPIC_NOT_READY: { status: 503, retriable: true, description: 'The topic is being created (by the cluster on first use, or by Sluice with `SLUICE_CREATE_TOPICS=true`) and was not ready within `SLUICE_METADATA_TIMEOUT_MS`; nothing was queued. Retry after `Retry-After` seconds.' },
  BROKER_UNAVAILABLE: { status: 503, retriable: true, description: 'No Kafka broker is reachable; nothing of the request was queued. Retry after `Retry-After` seconds.' },
  DELIVERY_FAILED: { status: 503, retriable: true, description: 'Kafka did not acknowledge every record before `message.timeout.ms`; records the message counts as delivered may be in Kafka, so a retry of the whole request can duplicate them.' },
  TOO_SLOW: { status: 503, retriable: true, description: 'Sent to a subscriber, not as an HTTP answer: it fell more than `SLUICE_WS_MAX_BACKPRESSURE_BYTES` (or, while replaying, `SLUICE_REPLAY_BUFFER_BYTES`) behind and is closed (WebSocket close code 4008, SSE `event: error`); reconnect with `from=<last token>`.' },
  SHUTTING_DOWN: { status: 503, retriable: true, description: 'The gateway is draining for shutdown; retry against another instance.' },
  INTERNAL: { status: 500, retriable: true, description: 'An unexpected error; it is logged with details.' },
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
}

/** The one mapping from any thrown value to the HTTP answer. */
export function toErrorResponse(err: unknown): ErrorResponse {
  const e = err instanceof SluiceError ? err : new SluiceError('INTERNAL', 'internal error');
  const payload = { error: { code: e.code, message: e.message, ...(e.details ?? {}) } };
  return { status: e.status, body: JSON.stringify(payload), retriable: e.retriable };
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
