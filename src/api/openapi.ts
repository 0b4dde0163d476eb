/**
 * `GET /openapi.json`: the OpenAPI 3.1 document, generated from the route table and the error registry
 * (nothing here is written by hand twice). Each operation's error answers list exactly the codes its row
 * names, with the registry's description, `Retry-After` where the registry says a retry can succeed, and
 * one example per code.
 */
import { ERRORS, type ErrorCode } from '../errors.js';
import { errorBodySchema } from './frames.js';
import { openApiPath, ROUTES, type Answer, type ParamSpec, type RouteSpec } from './routes.js';

export { errorBodySchema };

type Json = Record<string, unknown>;

const TOPIC_RECORD_SCHEMAS: Json = {
  JsonRecords: {
    description: 'One JSON object (one record) or a non-empty JSON array (one record per element; elements may be any JSON value).',
    anyOf: [{ type: 'object' }, { type: 'array', minItems: 1 }],
  },
  NdjsonRecords: {
    // Any one JSON value is one valid NDJSON line: only the empty list (an empty body) is not a body.
    anyOf: [{ type: 'array', minItems: 1 }, { not: { type: 'array' } }],
    description:
      'Sent as NDJSON: one JSON value (one record) per line, blank lines skipped. Described here as the list of those values (a single value: one line).',
  },
  JsonObject: { type: 'object' },
  GeoMessage: {
    type: 'object',
    required: ['name', 'lat', 'lon'],
    properties: {
      name: { type: 'string', minLength: 1 },
      message_id: { type: ['string', 'integer'], description: 'Filled with a UUID when absent.' },
      lat: { type: 'number', minimum: -90, maximum: 90 },
      lon: { type: 'number', minimum: -180, maximum: 180 },
    },
  },
  DeliveryResult: {
    type: 'object',
    required: ['topic', 'count', 'partitions'],
    properties: {
      topic: { type: 'string' },
      count: { type: 'integer', minimum: 1, description: 'Records written.' },
      partitions: {
        type: 'array',
        items: {
          type: 'object',
          required: ['partition', 'count', 'offsets'],
          properties: {
            partition: { type: 'integer', minimum: 0 },
            count: { type: 'integer', minimum: 1 },
            offsets: {
              type: 'array',
              items: { type: 'integer', minimum: 0 },
              minItems: 2,
              maxItems: 2,
              description: "Lowest and highest offset of this request's records in the partition.",
            },
          },
        },
      },
    },
  },
  Queued: {
    type: 'object',
    required: ['topic', 'count'],
    properties: { topic: { type: 'string' }, count: { type: 'integer', minimum: 1 } },
  },
  GeoAccepted: {
    type: 'object',
    required: ['name', 'message_id', 'topic'],
    properties: { name: { type: 'string' }, message_id: { type: ['string', 'integer'] }, topic: { type: 'string' } },
  },
  Sent: { type: 'object', required: ['status'], properties: { status: { const: 'sent' } } },
  Status: { type: 'object', required: ['status'], properties: { status: { type: 'string' } } },
};

/** An example error body for a code. */
export function errorExample(code: ErrorCode): Json {
  const spec = ERRORS[code];
  const details: Json =
    ({
      INVALID_PARAMETER: { parameter: 'acks', didYouMean: 'ack' },
      METHOD_NOT_ALLOWED: { allow: ['POST', 'OPTIONS'] },
      OVERLOADED: { limit: 'SLUICE_MAX_READING_BYTES' },
      CONNECTION_LIMIT: { limit: 'SLUICE_MAX_SUBSCRIPTIONS_PER_CONNECTION' },
      CLIENT_LIMIT: { limit: 'SLUICE_MAX_TOPICS_PER_CLIENT' },
      BODY_TOO_LARGE: { limitBytes: 1048576 },
      INVALID_JSON: { index: 2 },
      INTERNAL: { correlationId: '3f2c4a8e-1b7d-4c55-9a0e-6d1f2b3c4d5e' },
    }[code as string] as Json | undefined) ?? {};
  const message =
    code === 'INVALID_PARAMETER'
      ? 'unknown query parameter "acks" for POST /topics/{topic}; did you mean "ack"?'
      : spec.description.split(/(?<=\.)\s/)[0];
  return { error: { code, message, retriable: spec.retriable, ...details } };
}

function parameter(p: ParamSpec, where: 'query' | 'header' | 'path'): Json {
  const schema: Json = { type: p.type };
  if (p.enum) schema.enum = [...p.enum];
  if (p.pattern) schema.pattern = p.pattern;
  if (p.maxLength !== undefined) schema.maxLength = p.maxLength;
  if (p.default !== undefined) schema.default = p.default;
  return {
    name: p.name,
    in: where,
    required: where === 'path' || p.required === true,
    description: p.description,
    schema,
    ...(p.example !== undefined ? { example: p.example } : {}),
  };
}

function answer(a: Answer): Json {
  const out: Json = { description: a.description };
  if (a.headers)
    out.headers = Object.fromEntries(Object.entries(a.headers).map(([n, d]) => [n, { description: d, schema: { type: 'string' } }]));
  if (a.type) {
    const schema = typeof a.schema === 'string' ? { $ref: `#/components/schemas/${a.schema}` } : (a.schema ?? {});
    out.content = { [a.type]: { schema, ...(a.example !== undefined ? { example: a.example } : {}) } };
  }
  return out;
}

function errorAnswers(route: RouteSpec): Record<string, Json> {
  const codes = [...route.errors];
  // A path parameter left empty (`/topics/`) matches no route.
  if (route.pathParams && !codes.includes('ROUTE_NOT_FOUND')) codes.push('ROUTE_NOT_FOUND');
  // Any route: uWS answers a request head over 4 KiB itself (a long query string is enough), before a handler runs.
  if (!codes.includes('HEADERS_TOO_LARGE')) codes.push('HEADERS_TOO_LARGE');
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of codes) byStatus.set(ERRORS[c].status, [...(byStatus.get(ERRORS[c].status) ?? []), c]);
  const out: Record<string, Json> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    const headers: Json = {};
    if (list.some((c) => ERRORS[c].retryAfter))
      headers['Retry-After'] = { description: 'Seconds to wait before retrying (`SLUICE_RETRY_AFTER_S`).', schema: { type: 'string' } };
    if (status === 401) headers['WWW-Authenticate'] = { description: '`Bearer`.', schema: { type: 'string' } };
    if (status === 426) headers.Upgrade = { description: '`websocket`.', schema: { type: 'string' } };
    if (status === ERRORS.HEADERS_TOO_LARGE.status && !route.errors.includes('HEADERS_TOO_LARGE')) {
      // uWS answers a head over 4 KiB itself with a short HTML page and no Content-Type: documented with no
      // media type, since none can be promised (docs/api.md, Connection limits). Ingest routes also list
      // Sluice's own JSON HEADERS_TOO_LARGE and keep its media type.
      out[String(status)] = {
        description: `\`HEADERS_TOO_LARGE\`: ${ERRORS.HEADERS_TOO_LARGE.description} Answered by uWebSockets.js itself: a short HTML page without a Content-Type.`,
      };
      continue;
    }
    out[String(status)] = {
      description: list.map((c) => `\`${c}\`: ${ERRORS[c].description}`).join('\n\n'),
      ...(Object.keys(headers).length ? { headers } : {}),
      content: {
        'application/json': {
          schema: errorBodySchema(list),
          examples: Object.fromEntries(list.map((c) => [c, { summary: c, value: errorExample(c) }])),
        },
      },
    };
  }
  return out;
}

const CREDENTIALS = [{}, { ApiKeyHeader: [] }, { BearerAuth: [] }, { ApiKeyQuery: [] }];
/** POST routes: headers only (a key in a URL ends up in proxy logs). */
const HEADER_CREDENTIALS = [{}, { ApiKeyHeader: [] }, { BearerAuth: [] }];

function operation(route: RouteSpec): Json {
  const params: Json[] = [];
  for (const [name, p] of Object.entries(route.pathParams ?? {})) params.push(parameter({ name, ...p }, 'path'));
  const query = route.query === 'any' ? [] : route.query;
  for (const p of query) if (!p.credential) params.push(parameter(p, 'query'));
  for (const p of route.headers) params.push(parameter(p, 'header'));
  const op: Json = {
    operationId: route.id,
    summary: route.summary,
    description: route.description,
    tags: [...route.tags],
    ...(params.length ? { parameters: params } : {}),
  };
  if (query.some((p) => p.credential)) op.security = CREDENTIALS;
  else if (route.apiKey) op.security = HEADER_CREDENTIALS;
  if (route.body) {
    op.requestBody = {
      required: true,
      description: `${route.body.description} Content-Encoding: ${route.body.encodings.join(', ')}. At most \`SLUICE_MAX_BODY_BYTES\` (sent and decoded).`,
      content: Object.fromEntries(
        Object.entries(route.body.types).map(([type, b]) => [
          type,
          { schema: { $ref: `#/components/schemas/${b.schema}` }, example: b.example },
        ]),
      ),
    };
  }
  op.responses = {
    ...Object.fromEntries(Object.entries(route.answers).map(([status, a]) => [status, answer(a)])),
    ...errorAnswers(route),
  };
  return op;
}

/**
 * A preflight's path parameters take any value: it answers every path, and the request it asks about gets
 * the checks — a 400 with CORS headers the page can read, where a refused preflight would reach the page
 * only as an opaque CORS failure.
 */
function anyValue(params: RouteSpec['pathParams']): RouteSpec['pathParams'] {
  if (!params) return undefined;
  return Object.fromEntries(
    Object.keys(params).map((name) => [
      name,
      { type: 'string', description: 'Any value: the preflight answers every path; the request it asks about checks it.' } as const,
    ]),
  );
}

export function openApiDocument(version: string): Json {
  const preflight = ROUTES.find((r) => r.method === 'options' && r.path === '/*');
  const paths: Record<string, Json> = {};
  for (const route of ROUTES) {
    if (route === preflight) continue;
    const item = (paths[openApiPath(route.path)] ??= {});
    item[route.method] = operation(route);
    // The CORS preflight answers every path: shown on each.
    if (preflight && !item.options)
      item.options = { ...operation({ ...preflight, pathParams: anyValue(route.pathParams) }), operationId: `${route.id}_preflight` };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sluice',
      version,
      description:
        'HTTP → Kafka ingest and Kafka → WebSocket/SSE fan-out. Generated from the route table (src/api/routes.ts) and the error registry (src/errors.ts). ' +
        'Live channels (frames, control messages) are described in AsyncAPI 3 at `/asyncapi.json`; both are readable at `/api-docs`. ' +
        'Unknown or repeated query parameters get 400 `INVALID_PARAMETER`; a known path with another method gets 405 `METHOD_NOT_ALLOWED` with `Allow`; a plain GET on a WebSocket route gets 426 `UPGRADE_REQUIRED`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'ingest', description: 'Records into Kafka.' },
      { name: 'seed', description: 'Routes compatible with the seed app.' },
      { name: 'live', description: 'Records out of Kafka, live (WebSocket, SSE); see /asyncapi.json.' },
      { name: 'operations', description: 'Health and metrics.' },
      { name: 'dashboard', description: 'The live dashboard page.' },
      { name: 'contract', description: 'These documents.' },
      { name: 'cors', description: 'Browser preflight.' },
    ],
    paths,
    components: {
      schemas: { ...TOPIC_RECORD_SCHEMAS, Error: errorBodySchema() },
      securitySchemes: {
        ApiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'Only when `SLUICE_API_KEYS_FILE` is set.' },
        BearerAuth: { type: 'http', scheme: 'bearer', description: 'The API key as a bearer token.' },
        ApiKeyQuery: {
          type: 'apiKey',
          in: 'query',
          name: 'api_key',
          description:
            'For clients that cannot set headers (browser WebSockets and EventSource): WebSocket and SSE routes only; POST routes refuse it (400 `INVALID_PARAMETER`).',
        },
      },
    },
  };
}
