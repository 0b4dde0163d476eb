/**
 * The one route table: every route the gateway serves, with its parameters, bodies, answers and the error
 * codes it can give. The HTTP app checks at start-up that what it registers is exactly this table
 * (`contract-app.ts`), every request's query parameters are checked against it (`query-check.ts`), and
 * `GET /openapi.json` / `GET /asyncapi.json` are generated from it and the error registry. A route added
 * to the app without a row here stops start-up; a row without a route does too.
 */
import type { ErrorCode } from '../errors.js';
import { sseEventSchema } from './frames.js';
import { SUBSCRIBE_PARAMS } from '../subscription/subscribe-params.js';

export interface ParamSpec {
  readonly name: string;
  readonly type: 'string' | 'integer';
  readonly description: string;
  readonly default?: string;
  readonly enum?: readonly string[];
  readonly pattern?: string;
  readonly maxLength?: number;
  readonly example?: string;
  readonly required?: boolean;
  /** An API key: described as an OpenAPI security scheme rather than a parameter. */
  readonly credential?: boolean;
}

/** A success (or non-error) answer: status → what comes back. Errors are described by `errors`. */
export interface Answer {
  readonly description: string;
  /** Media type of the body; none: no body. */
  readonly type?: string;
  /** A JSON Schema (OpenAPI 3.1 dialect) of the body, or a name in `SCHEMAS`. */
  readonly schema?: string | Record<string, unknown>;
  readonly example?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface BodySpec {
  /** Media type → schema name in SCHEMAS and an example body. */
  readonly types: Readonly<Record<string, { schema: string; example: unknown }>>;
  readonly encodings: readonly string[];
  readonly description: string;
}

export type Method = 'get' | 'post' | 'options';
export type Transport = 'http' | 'websocket' | 'sse';

export interface RouteSpec {
  /** Stable id: OpenAPI operationId and the `route` label of metrics. */
  readonly id: string;
  readonly method: Method;
  /** uWS pattern (`:name` one path segment, `/*` anything). WebSocket routes are GET + Upgrade. */
  readonly path: string;
  readonly transport: Transport;
  readonly summary: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly pathParams?: Readonly<Record<string, Omit<ParamSpec, 'name'>>>;
  /** `any`: not checked (CORS preflight repeats the query of the request it asks about). */
  readonly query: readonly ParamSpec[] | 'any';
  /** Takes an API key in headers (`X-API-Key`, `Authorization: Bearer`); the URL's `api_key` only where `query` lists it. */
  readonly apiKey?: boolean;
  readonly headers: readonly ParamSpec[];
  readonly body?: BodySpec;
  readonly answers: Readonly<Record<number, Answer>>;
  readonly errors: readonly ErrorCode[];
}

const TOPIC: Omit<ParamSpec, 'name'> = {
  type: 'string',
  pattern: '^[A-Za-z0-9._-]{1,249}$',
  example: 'telemetry',
  description: 'Kafka topic: 1–249 of `a-z A-Z 0-9 . _ -`, not `.` or `..`. Percent-decoded.',
};

const API_KEY: ParamSpec = {
  name: 'api_key',
  type: 'string',
  credential: true,
  description:
    'API key, for clients that cannot set headers (browser WebSockets and EventSource); `X-API-Key` or `Authorization: Bearer` are preferred. Not taken by POST routes (400 `INVALID_PARAMETER`): keys in URLs end up in proxy logs.',
};

const ORIGIN: ParamSpec = {
  name: 'Origin',
  type: 'string',
  description: 'Browser origin, checked against `SLUICE_CORS_ORIGINS` when that is set.',
};

const ACK: ParamSpec = {
  name: 'ack',
  type: 'string',
  enum: ['all', 'none'],
  example: 'all',
  description:
    '`all`: answer 200 once Kafka acknowledged every record (with partitions and offsets). `none`: answer 202 as soon as the records are queued in the producer. Default: `SLUICE_ACK_MODE` (`durable` → `all`).',
};

const KEY: ParamSpec = {
  name: 'key',
  type: 'string',
  example: 'pump-7',
  description:
    'Kafka record key for every record of the request (partitioning and compaction). Default: the `SLUICE_KEY_FIELD` field of each record, or no key.',
};

const CONTENT_ENCODING: ParamSpec = {
  name: 'Content-Encoding',
  type: 'string',
  // HTTP allows an empty list of codings: an empty header is no coding, like an absent one.
  enum: ['', 'identity', 'gzip', 'lz4'],
  description:
    'Compressed bodies: `gzip` or `lz4` (frame format). The decoded size counts against `SLUICE_MAX_BODY_BYTES`. Empty or `identity`: not compressed.',
};

const IDEMPOTENCY_KEY: ParamSpec = {
  name: 'Idempotency-Key',
  type: 'string',
  description:
    'A retry with the same key, route, topic, query and body within `SLUICE_IDEMPOTENCY_WINDOW_S` gets the first answer again and writes nothing; the same key with another request gets 422 `IDEMPOTENCY_KEY_REUSED`. Also written as Kafka header `idempotency-key` on every record. Per instance.',
};

/** The ingest pipeline checks the header with this pattern (ingress/request-metadata.ts): one rule for docs and code. */
export const KAFKA_TIMESTAMP: ParamSpec = {
  name: 'X-Kafka-Timestamp',
  type: 'string',
  // Epoch ms as a plain decimal integer (15 digits: exact as a double); the broker refuses a time too far
  // from its clock (log.message.timestamp.after.max.ms / before.max.ms): 422 TIMESTAMP_REFUSED after the
  // broker's answer, since only the broker knows the topic's limits and its own clock.
  pattern: '^[0-9]{1,15}$',
  description:
    "Kafka CreateTime of every record of the request, in epoch milliseconds (the device's clock); default: the time the producer queued it.",
};

const KAFKA_HEADERS =
  'Every `X-Kafka-Header-<name>: <value>` request header becomes Kafka header `<name>` (lower-cased) on every record; at most 32.';

const INGEST_ERRORS: readonly ErrorCode[] = [
  'INVALID_PARAMETER',
  'INVALID_JSON',
  'INVALID_UTF8',
  'EMPTY_BATCH',
  'INVALID_ENCODING',
  'NOT_A_JSON_CONTAINER',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'TOPIC_NOT_FOUND',
  'BODY_TOO_LARGE',
  'TOO_MANY_RECORDS',
  'RECORD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'INVALID_TOPIC',
  'HEADERS_TOO_LARGE',
  'RATE_LIMITED',
  'IDEMPOTENCY_KEY_REUSED',
  'SCHEMA_VALIDATION_FAILED',
  'QUEUE_FULL',
  'SCHEMA_REGISTRY_UNAVAILABLE',
  'OVERLOADED',
  'TOPIC_NOT_READY',
  'BROKER_UNAVAILABLE',
  'DELIVERY_FAILED',
  'DELIVERY_UNCONFIRMED',
  'SHUTTING_DOWN',
  'INTERNAL',
];

const SUBSCRIBE_ERRORS: readonly ErrorCode[] = [
  'INVALID_PARAMETER',
  'INVALID_TOPIC',
  'UNAUTHORIZED',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'CONNECTION_LIMIT',
  'CLIENT_LIMIT',
  'TOPIC_NOT_FOUND',
  'OVERLOADED',
  'TOPIC_NOT_READY',
  'BROKER_UNAVAILABLE',
  'TOKEN_KEYS_UNAVAILABLE',
  'SHUTTING_DOWN',
  'INTERNAL',
];

const TOKEN: ParamSpec = {
  name: 'token',
  type: 'string',
  credential: true,
  description:
    'Signed subscription token (JWT: HS256, or RS256/ES256 with a public key or JWKS; with `sluice.sub` and `exp`) for clients that cannot set `Authorization: Bearer` (browser WebSockets and EventSource); see docs/security.md, "Signed subscriptions".',
};

const SUBSCRIBE_QUERY: readonly ParamSpec[] = [...SUBSCRIBE_PARAMS, API_KEY, TOKEN];

const PLAIN_GET_ERRORS: readonly ErrorCode[] = ['INVALID_PARAMETER', 'INTERNAL'];

const JSON_RECORDS = {
  'application/json': {
    schema: 'JsonRecords',
    example: [
      { device_id: 'pump-7', temperature: 21.5 },
      { device_id: 'pump-8', temperature: 19 },
    ],
  },
  'application/x-ndjson': {
    schema: 'NdjsonRecords',
    example: [
      { device_id: 'pump-7', temperature: 21.5 },
      { device_id: 'pump-8', temperature: 19 },
    ],
  },
};

const UPGRADED: Answer = { description: 'Switching Protocols: the WebSocket is open; frames as described in `GET /asyncapi.json`.' };

function webSocketRoute(
  id: string,
  path: string,
  summary: string,
  description: string,
  query: readonly ParamSpec[],
  errors: readonly ErrorCode[],
): RouteSpec {
  return {
    id,
    method: 'get',
    path,
    transport: 'websocket',
    summary,
    tags: ['live'],
    description: `${description} A WebSocket route: a plain GET without \`Upgrade: websocket\` gets 426. Refusals before the upgrade are HTTP answers; frames and control messages are in \`GET /asyncapi.json\`.`,
    pathParams: path.includes(':topic') ? { topic: TOPIC } : undefined,
    query,
    headers: [ORIGIN],
    answers: { 101: UPGRADED },
    errors: [...errors, 'UPGRADE_REQUIRED'],
  };
}

export const ROUTES: readonly RouteSpec[] = [
  {
    id: 'topics',
    method: 'post',
    path: '/topics/:topic',
    transport: 'http',
    tags: ['ingest'],
    summary: 'Produce records to a topic',
    description: `One JSON object (one record), a JSON array (one record per element) or NDJSON (one record per line); accepted whole or refused whole: nothing of a refused request reaches Kafka. ${KAFKA_HEADERS}`,
    pathParams: { topic: TOPIC },
    query: [ACK, KEY],
    apiKey: true,
    headers: [CONTENT_ENCODING, ORIGIN, IDEMPOTENCY_KEY, KAFKA_TIMESTAMP],
    body: { types: JSON_RECORDS, encodings: ['identity', 'gzip', 'lz4'], description: 'The records.' },
    answers: {
      200: {
        description: 'With `ack=all` (the default): Kafka acknowledged every record.',
        type: 'application/json',
        schema: 'DeliveryResult',
        example: { topic: 'telemetry', count: 2, partitions: [{ partition: 0, count: 2, offsets: [41, 42] }] },
      },
      202: {
        description: 'With `ack=none`: the records are queued in the producer.',
        type: 'application/json',
        schema: 'Queued',
        example: { topic: 'telemetry', count: 2 },
      },
    },
    // Only this route takes X-Kafka-Timestamp (the seed routes let the producer stamp the time).
    errors: [...INGEST_ERRORS, 'TIMESTAMP_REFUSED'],
  },
  {
    id: 'producer',
    method: 'post',
    path: '/producer/:topic',
    transport: 'http',
    tags: ['ingest', 'seed'],
    summary: 'Produce one geo message (seed-compatible)',
    description:
      "The seed app's route: one JSON object `{name, message_id, lat, lon}` (extra fields kept); a missing `message_id` is filled with a UUID.",
    pathParams: { topic: TOPIC },
    query: [],
    apiKey: true,
    headers: [CONTENT_ENCODING, ORIGIN, IDEMPOTENCY_KEY],
    body: {
      types: { 'application/json': { schema: 'GeoMessage', example: { name: 'truck-12', message_id: 'm-1', lat: 52.52, lon: 13.405 } } },
      encodings: ['identity', 'gzip', 'lz4'],
      description: 'One geo message.',
    },
    answers: {
      200: {
        description: 'Kafka acknowledged the message.',
        type: 'application/json',
        schema: 'GeoAccepted',
        example: { name: 'truck-12', message_id: 'm-1', topic: 'telemetry' },
      },
    },
    errors: [...INGEST_ERRORS, 'VALIDATION_FAILED'],
  },
  {
    id: 'send',
    method: 'post',
    path: '/send',
    transport: 'http',
    tags: ['ingest', 'seed'],
    summary: 'Produce one object to the default topic (seed-compatible)',
    description: "The seed app's route: one JSON object, produced to `SLUICE_DEFAULT_TOPIC`.",
    query: [],
    apiKey: true,
    headers: [CONTENT_ENCODING, ORIGIN, IDEMPOTENCY_KEY],
    body: {
      types: { 'application/json': { schema: 'JsonObject', example: { device_id: 'pump-7', temperature: 21.5 } } },
      encodings: ['identity', 'gzip', 'lz4'],
      description: 'One JSON object.',
    },
    answers: {
      200: { description: 'Kafka acknowledged the object.', type: 'application/json', schema: 'Sent', example: { status: 'sent' } },
    },
    errors: [...INGEST_ERRORS.filter((c) => c !== 'INVALID_TOPIC'), 'VALIDATION_FAILED'],
  },
  webSocketRoute(
    'ws_topics',
    '/ws/topics/:topic',
    'Follow a topic over a WebSocket',
    'Record frames (envelopes with resume tokens) of the topic; more topics can be added on the same socket with control messages.',
    SUBSCRIBE_QUERY,
    SUBSCRIBE_ERRORS,
  ),
  webSocketRoute(
    'ws',
    '/ws',
    'Open a WebSocket for control messages',
    'No topic yet: subscribe and unsubscribe with `{"op":"subscribe",…}` / `{"op":"unsubscribe",…}` messages.',
    [API_KEY, TOKEN],
    [
      'INVALID_PARAMETER',
      'UNAUTHORIZED',
      'TOKEN_INVALID',
      'TOKEN_EXPIRED',
      'FORBIDDEN',
      'RATE_LIMITED',
      'TOKEN_KEYS_UNAVAILABLE',
      'SHUTTING_DOWN',
      'INTERNAL',
    ],
  ),
  webSocketRoute(
    'consumer',
    '/consumer/:topic',
    'Follow a topic, bare values (seed-compatible)',
    'The seed app\'s route: `{"Message":"connected"}` first, then each record\'s value as sent, without an envelope.',
    [API_KEY],
    SUBSCRIBE_ERRORS,
  ),
  {
    id: 'sse_topics',
    method: 'get',
    path: '/sse/topics/:topic',
    transport: 'sse',
    tags: ['live'],
    summary: 'Follow a topic as Server-Sent Events',
    description:
      'The same record frames as the WebSocket route, as an endless `text/event-stream`: `id:` is the resume token, so a reconnecting `EventSource` resumes by itself (`Last-Event-ID`). Events: `subscribed`, record frames (`message`), `error` (then the stream ends). Refusals come before the stream, as HTTP answers.',
    pathParams: { topic: TOPIC },
    query: SUBSCRIBE_QUERY,
    headers: [
      { name: 'Last-Event-ID', type: 'string', description: 'Resume token of the last event received; used when `from` is absent.' },
      ORIGIN,
    ],
    answers: {
      200: {
        description:
          'The event stream (does not end by itself), e.g. `retry: 1000`, then `id: djE6MSww` / `event: subscribed` / `data: {"event":"subscribed","topic":"telemetry","token":"djE6MSww"}` and a blank line. The schema describes each event as a parser reads it.',
        type: 'text/event-stream',
        schema: sseEventSchema(),
        example: { event: 'subscribed', data: '{"event":"subscribed","topic":"telemetry","token":"djE6MSww"}', id: 'djE6MSww' },
      },
    },
    errors: SUBSCRIBE_ERRORS,
  },
  {
    id: 'healthz',
    method: 'get',
    path: '/healthz',
    transport: 'http',
    tags: ['operations'],
    summary: 'Liveness',
    description: 'The process serves requests.',
    query: [],
    headers: [],
    answers: { 200: { description: 'Alive.', type: 'application/json', schema: 'Status', example: { status: 'ok' } } },
    errors: PLAIN_GET_ERRORS,
  },
  {
    id: 'readyz',
    method: 'get',
    path: '/readyz',
    transport: 'http',
    tags: ['operations'],
    summary: 'Readiness',
    description: '200 while the producer reaches a Kafka broker and the gateway is not draining.',
    query: [],
    headers: [],
    answers: {
      200: { description: 'Ready.', type: 'application/json', schema: 'Status', example: { status: 'ready' } },
      503: {
        description: 'Not ready: `kafka unreachable` or `draining`. Take the instance out of rotation.',
        type: 'application/json',
        schema: 'Status',
        example: { status: 'kafka unreachable' },
      },
    },
    errors: PLAIN_GET_ERRORS,
  },
  {
    id: 'topic_list',
    method: 'get',
    path: '/topics',
    transport: 'http',
    tags: ['live'],
    summary: 'List the topics this credential may subscribe to',
    description:
      "The cluster's topics with their partition counts, sorted by name: with API keys, those matching the key's `subscribe` patterns (`X-API-Key` or `Authorization: Bearer`; not in the URL); with open access, every topic but Kafka's own (`__…`). Read from the cluster's metadata at most every 2 s.",
    query: [],
    apiKey: true,
    headers: [ORIGIN],
    answers: {
      200: {
        description: 'The topics.',
        type: 'application/json',
        schema: {
          type: 'object',
          required: ['topics'],
          additionalProperties: false,
          properties: {
            topics: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'partitions'],
                additionalProperties: false,
                properties: { name: { type: 'string' }, partitions: { type: 'integer', minimum: 0 } },
              },
            },
          },
        },
        example: { topics: [{ name: 'telemetry', partitions: 6 }] },
      },
    },
    errors: ['INVALID_PARAMETER', 'UNAUTHORIZED', 'RATE_LIMITED', 'BROKER_UNAVAILABLE', 'INTERNAL'],
  },
  {
    id: 'metrics',
    method: 'get',
    path: '/metrics',
    transport: 'http',
    tags: ['operations'],
    summary: 'Prometheus metrics',
    description: 'Prometheus text format 0.0.4; `sluice_` series (see docs/operations.md).',
    query: [],
    headers: [],
    answers: { 200: { description: 'Metrics.', type: 'text/plain; version=0.0.4; charset=utf-8', schema: { type: 'string' } } },
    errors: PLAIN_GET_ERRORS,
  },
  ...(
    [
      ['dashboard', '/', 'text/html; charset=utf-8', 'The live dashboard page'],
      ['dashboard_js', '/dashboard/dashboard.js', 'text/javascript; charset=utf-8', "The dashboard's script"],
      ['dashboard_css', '/dashboard/dashboard.css', 'text/css; charset=utf-8', "The dashboard's style sheet"],
    ] as const
  ).map(
    ([id, path, type, summary]): RouteSpec => ({
      id,
      method: 'get',
      path,
      transport: 'http',
      tags: ['dashboard'],
      summary,
      description: 'Served from `src/dashboard/`, nothing from other hosts. `Cache-Control: no-cache` with an ETag.',
      query: [],
      headers: [{ name: 'If-None-Match', type: 'string', description: 'ETag of a copy the client holds: 304 when it is current.' }],
      answers: {
        200: { description: summary, type, schema: { type: 'string' } },
        304: { description: 'The copy the client holds is current.' },
      },
      errors: PLAIN_GET_ERRORS,
    }),
  ),
  {
    id: 'openapi',
    method: 'get',
    path: '/openapi.json',
    transport: 'http',
    tags: ['contract'],
    summary: 'This OpenAPI 3.1 document',
    description: 'Generated from the route table and the error registry.',
    query: [],
    headers: [],
    answers: { 200: { description: 'OpenAPI 3.1.', type: 'application/json', schema: 'JsonObject' } },
    errors: PLAIN_GET_ERRORS,
  },
  {
    id: 'asyncapi',
    method: 'get',
    path: '/asyncapi.json',
    transport: 'http',
    tags: ['contract'],
    summary: 'The AsyncAPI 3 document of the live channels',
    description: 'WebSocket and SSE channels, control messages and frames.',
    query: [],
    headers: [],
    answers: { 200: { description: 'AsyncAPI 3.0.', type: 'application/json', schema: 'JsonObject' } },
    errors: PLAIN_GET_ERRORS,
  },
  {
    id: 'api_docs',
    method: 'get',
    path: '/api-docs',
    transport: 'http',
    tags: ['contract'],
    summary: 'A readable page of both documents',
    description: 'Renders /openapi.json and /asyncapi.json in the browser; works offline (nothing from other hosts).',
    query: [],
    headers: [],
    answers: { 200: { description: 'The page.', type: 'text/html; charset=utf-8', schema: { type: 'string' } } },
    errors: PLAIN_GET_ERRORS,
  },
  {
    id: 'api_docs_js',
    method: 'get',
    path: '/api-docs/api-docs.js',
    transport: 'http',
    tags: ['contract'],
    summary: "The page's script",
    description: 'Plain JavaScript, no build step.',
    query: [],
    headers: [],
    answers: { 200: { description: 'The script.', type: 'text/javascript; charset=utf-8', schema: { type: 'string' } } },
    errors: PLAIN_GET_ERRORS,
  },
  {
    id: 'preflight',
    method: 'options',
    path: '/*',
    transport: 'http',
    tags: ['cors'],
    summary: 'CORS preflight',
    description: 'Any path: 204, with `Access-Control-Allow-*` headers when the `Origin` is allowed by `SLUICE_CORS_ORIGINS`.',
    query: 'any',
    headers: [
      ORIGIN,
      {
        name: 'Access-Control-Request-Headers',
        type: 'string',
        description: 'Headers the actual request will send; echoed back when the origin is allowed.',
      },
    ],
    answers: {
      204: {
        description: 'Preflight answered.',
        headers: {
          'Access-Control-Allow-Origin': 'The allowed origin (or `*`), when allowed.',
          'Access-Control-Allow-Methods': '`POST, GET, OPTIONS`, when allowed.',
        },
      },
    },
    errors: [],
  },
];

/** Answers of requests that matched no route (404, 405 with Allow, 426): counted under this route label. */
export const UNMATCHED_ROUTE = 'unmatched';

/** `/topics/:topic` → `/topics/{topic}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_]+)/g, '{$1}');
}

/** A matcher for a uWS pattern: `:name` is one non-empty path segment, a trailing `/*` anything. */
export function patternRegExp(path: string): RegExp {
  const body = path
    .split('/')
    .map((seg) => (seg === '*' ? '.*' : seg.startsWith(':') ? '[^/]+' : seg.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${body}$`);
}
