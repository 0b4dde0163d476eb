/**
 * `GET /asyncapi.json`: the AsyncAPI 3.0 document of the live side — the WebSocket and SSE channels of the
 * route table, the control messages a WebSocket client sends, and the frames it receives. Subscription
 * options come from `SUBSCRIBE_PARAMS` and error codes from the registry, as in the OpenAPI document.
 *
 * Frames are listed in RECEIVED_FRAMES (frames.ts, shared with the OpenAPI document's SSE events): a new
 * frame kind is one more entry there, with its schema in FRAME_SCHEMAS.
 */
import { SUBSCRIBE_PARAMS } from '../subscription/subscribe-params.js';
import { FRAME_SCHEMAS, RECEIVED_FRAMES } from './frames.js';
import { openApiPath, ROUTES, type RouteSpec } from './routes.js';

type Json = Record<string, unknown>;

const subscribeOptionSchemas = Object.fromEntries(
  SUBSCRIBE_PARAMS.map((p) => [
    p.name,
    {
      type: p.type,
      description: p.description,
      ...('default' in p ? { default: p.default } : {}),
      ...('pattern' in p ? { pattern: p.pattern } : {}),
      ...('maxLength' in p ? { maxLength: p.maxLength } : {}),
      ...('enum' in p ? { enum: [...p.enum] } : {}),
    },
  ]),
);

const CONTROL_SCHEMAS: Record<string, Json> = {
  subscribe: {
    type: 'object',
    required: ['op', 'topic'],
    additionalProperties: false,
    properties: { op: { const: 'subscribe' }, topic: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,249}$' }, ...subscribeOptionSchemas },
    description: 'Adds a topic to the socket. Unknown fields are refused with an `error` frame (`INVALID_PARAMETER`, with "did you mean").',
    examples: [{ op: 'subscribe', topic: 'telemetry', from: 'earliest', where: 'temperature>50' }],
  },
  unsubscribe: {
    type: 'object',
    required: ['op', 'topic'],
    additionalProperties: false,
    properties: { op: { const: 'unsubscribe' }, topic: { type: 'string' } },
    description: 'Removes a topic; answered with an `unsubscribed` frame.',
    examples: [{ op: 'unsubscribe', topic: 'telemetry' }],
  },
};

const SEED_SCHEMAS: Record<string, Json> = {
  connected: {
    type: 'object',
    required: ['Message'],
    properties: { Message: { const: 'connected' } },
    examples: [{ Message: 'connected' }],
  },
  value: {
    description: 'A record value exactly as produced (no envelope).',
    examples: [{ name: 'truck-12', message_id: 'm-1', lat: 52.52, lon: 13.405 }],
  },
};

function message(name: string, schema: Json, summary: string): Json {
  return {
    name,
    title: name,
    summary,
    contentType: 'application/json',
    payload: { $ref: `#/components/schemas/${name}` },
    ...(schema.examples ? { examples: [{ payload: (schema.examples as unknown[])[0] }] } : {}),
  };
}

function channelParameters(route: RouteSpec): Json | undefined {
  if (!route.pathParams) return undefined;
  return Object.fromEntries(
    Object.entries(route.pathParams).map(([n, p]) => [n, { description: p.description, ...(p.example ? { examples: [p.example] } : {}) }]),
  );
}

function queryBinding(route: RouteSpec): Json {
  const names = route.query === 'any' ? [] : route.query.map((p) => p.name);
  const properties = Object.fromEntries(
    names.map((n) => [
      n,
      subscribeOptionSchemas[n] ?? {
        type: 'string',
        description:
          'API key (when `SLUICE_API_KEYS_FILE` is set); `X-API-Key` or `Authorization: Bearer` where the client can set headers.',
      },
    ]),
  );
  return { type: 'object', additionalProperties: false, properties };
}

export function asyncApiDocument(version: string): Json {
  const ref = (channel: string, msg: string) => ({ $ref: `#/channels/${channel}/messages/${msg}` });
  const channels: Json = {};
  const operations: Json = {};
  for (const route of ROUTES.filter((r) => r.transport !== 'http')) {
    const seed = route.id === 'consumer';
    const sse = route.transport === 'sse';
    const received = seed ? ['connected', 'value'] : RECEIVED_FRAMES.filter((f) => !(sse && f === 'unsubscribed'));
    const sent = seed || sse ? [] : ['subscribe', 'unsubscribe'];
    const messages = Object.fromEntries([...received, ...sent].map((m) => [m, { $ref: `#/components/messages/${m}` }]));
    channels[route.id] = {
      address: openApiPath(route.path),
      title: route.summary,
      description: `${route.description}${sse ? ' Each frame is one event: `data:` holds the JSON frame (one `data:` line per line of it: a value may hold raw line breaks), `id:` the resume token, `event:` is `subscribed`, `error` or absent (`message`: every other frame).' : ''}`,
      servers: [{ $ref: sse ? '#/servers/http' : '#/servers/ws' }],
      ...(channelParameters(route) ? { parameters: channelParameters(route) } : {}),
      messages,
      bindings: sse
        ? { http: { method: 'GET', bindingVersion: '0.3.0' } }
        : { ws: { method: 'GET', query: queryBinding(route), bindingVersion: '0.1.0' } },
    };
    operations[`${route.id}_receive`] = {
      action: 'receive',
      channel: { $ref: `#/channels/${route.id}` },
      summary: `Frames on ${openApiPath(route.path)}`,
      messages: received.map((m) => ref(route.id, m)),
    };
    if (sent.length) {
      operations[`${route.id}_control`] = {
        action: 'send',
        channel: { $ref: `#/channels/${route.id}` },
        summary: `Control messages on ${openApiPath(route.path)}`,
        messages: sent.map((m) => ref(route.id, m)),
      };
    }
  }
  const schemas = { ...FRAME_SCHEMAS, ...CONTROL_SCHEMAS, ...SEED_SCHEMAS };
  const summaries: Record<string, string> = {
    record: 'One Kafka record (the envelope).',
    'snapshot-end': 'With snapshot=: the end of the snapshot frames.',
    window: 'With window=: one closed window of one group.',
    alert: 'With alert=: a group crossed the threshold or came back.',
    batch: 'With frames=batch: one batch of records.',
    subscribed: 'The subscription is in place.',
    unsubscribed: 'The topic was removed from the socket.',
    error: 'A refusal or the end of a subscription.',
    subscribe: 'Client → server: follow a topic.',
    unsubscribe: 'Client → server: stop following a topic.',
    connected: 'Seed route: first frame.',
    value: 'Seed route: a record value.',
  };
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Sluice live channels',
      version,
      description:
        'Kafka records out to WebSocket and Server-Sent Events subscribers. Generated from the route table (src/api/routes.ts) and the error registry; the HTTP side (including the refusals before an upgrade) is at `/openapi.json`. ' +
        'A subscriber that falls behind is closed (WebSocket 4008, SSE `error` event `TOO_SLOW`) and resumes from its last token; on shutdown sockets close with 1001.',
      license: { name: 'Apache-2.0' },
    },
    servers: {
      ws: { host: 'localhost:8080', protocol: 'ws', description: 'The gateway (use `wss` with `SLUICE_TLS_CERT_FILE`).' },
      http: { host: 'localhost:8080', protocol: 'http', description: 'The gateway, for Server-Sent Events.' },
    },
    defaultContentType: 'application/json',
    channels,
    operations,
    components: {
      schemas,
      messages: Object.fromEntries(Object.entries(schemas).map(([name, s]) => [name, message(name, s, summaries[name] ?? name)])),
    },
  };
}
