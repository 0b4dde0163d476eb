/**
 * The subscription options a client can choose — the same names in a WebSocket or SSE URL's query string
 * and in a `{"op":"subscribe",…}` control message — described once here. The route table (src/api/routes.ts)
 * builds its query-parameter checks and the OpenAPI/AsyncAPI documents from this list; `readSubscribeOptions`
 * reads these names, and `subscribe-params.test.ts` fails when the two differ: a new option (the fan-out
 * branch's `frames=batch`) is added here as well as there.
 */

export const SUBSCRIBE_PARAMS = [
  {
    name: 'from', type: 'string', default: 'latest', example: 'earliest',
    description: 'Where to start: `latest` (new records only), `earliest` (all retained history), a timestamp in epoch milliseconds, or a resume token (`token` of a frame, the SSE `id:`) to continue exactly after that record.',
  },
  {
    name: 'key', type: 'string', maxLength: 1024,
    description: 'Only records with exactly this key.',
  },
  {
    name: 'where', type: 'string', maxLength: 512, example: 'temperature>50,site.zone=north',
    description: 'Only records whose JSON value matches every comma-separated condition `field<op>value` (ops `=`, `!=`, `>`, `>=`, `<`, `<=`; dotted paths reach nested fields).',
  },
  {
    name: 'group', type: 'string', pattern: '^[A-Za-z0-9._-]{1,100}$',
    description: 'Share the topic with the other subscribers of this group (Kafka consumer-group semantics: each record goes to one of them; offsets are committed). With `group`, `from` may only be `latest` or `earliest` and `key`/`where` are not available.',
  },
] as const;

export type SubscribeParamName = (typeof SUBSCRIBE_PARAMS)[number]['name'];

export const SUBSCRIBE_PARAM_NAMES: readonly string[] = SUBSCRIBE_PARAMS.map((p) => p.name);

/** Fields a `{"op":"subscribe",…}` message may carry, and an `{"op":"unsubscribe",…}` one. */
export const SUBSCRIBE_MESSAGE_FIELDS: readonly string[] = ['op', 'topic', ...SUBSCRIBE_PARAM_NAMES];
export const UNSUBSCRIBE_MESSAGE_FIELDS: readonly string[] = ['op', 'topic'];
