/**
 * The subscription options a client can choose — the same names in a WebSocket or SSE URL's query string
 * and in a `{"op":"subscribe",…}` control message — described once here. The route table (src/api/routes.ts)
 * builds its query-parameter checks and the OpenAPI/AsyncAPI documents from this list; `readSubscribeOptions`
 * reads these names, and `subscribe-params.test.ts` fails when the two differ: a new option is added here
 * as well as there.
 */

export const SUBSCRIBE_PARAMS = [
  {
    name: 'from',
    type: 'string',
    default: 'latest',
    example: 'earliest',
    description:
      'Where to start: `latest` (new records only), `earliest` (all retained history), a timestamp in epoch milliseconds, or a resume token (`token` of a frame, the SSE `id:`) to continue exactly after that record.',
  },
  {
    name: 'key',
    type: 'string',
    // What fits a URL: uWS closes a connection whose request head passes 4 KiB before any handler runs, so a
    // longer key list can only be refused by a reset. A subscribe message carries up to 65,536 characters.
    maxLength: 2048,
    example: 'pump-1,pump-2',
    description:
      'Only records with exactly this key, or one of these comma-separated keys (at most `SLUICE_MAX_KEYS_PER_SUBSCRIPTION`, 100 by default; a comma inside a key is written `\\,`). In a URL at most 2,048 characters (the request head is limited to 4 KiB); a subscribe message takes up to 65,536, or a JSON array of keys.',
  },
  {
    name: 'where',
    type: 'string',
    maxLength: 512,
    example: 'temperature>50,site.zone=north',
    description:
      'Only records whose JSON value matches every comma-separated condition `field<op>value` (ops `=`, `!=`, `>`, `>=`, `<`, `<=`; dotted paths reach nested fields).',
  },
  {
    name: 'group',
    type: 'string',
    // Empty, like every option left empty, is the option not given (no group).
    pattern: '^[A-Za-z0-9._-]{0,100}$',
    description:
      'Share the topic with the other subscribers of this group (Kafka consumer-group semantics: each record goes to one of them; offsets are committed). With `group`, `from` may only be `latest` or `earliest` and `key`/`where` are not available. Empty: no group.',
  },
  {
    name: 'frames',
    type: 'string',
    enum: ['record', 'batch'],
    default: 'record',
    example: 'batch',
    description:
      'Frame style: `record` (one frame per record, the default) or `batch` (one `{"event":"batch","topic","records":[…],"token"}` message per batch of records — live, replayed, filtered and group deliveries alike — with the resume token after its last record; over SSE one `batch` event per batch). Snapshot, window and alert frames stay one message each.',
  },
  {
    name: 'conflate',
    type: 'string',
    example: '1s',
    description:
      "At most one frame per key per interval (`100ms`, `1s`, …; 10 ms to 1 h): the first record of a key goes at once, later ones within the interval are held and only the latest is sent when it ends. Each frame's `token` resumes after the newest record any frame of the subscription carried; records conflated away are not sent again (see docs/live.md). Not with `group` or `window`.",
  },
  {
    name: 'snapshot',
    type: 'string',
    example: '1h',
    description:
      'Live view: first the latest record of every key seen in this span (`30s`, `10m`, `1h`, …; frames marked `"snapshot":true`, then `{"event":"snapshot-end",…}`), then the live stream from exactly after it. Not with `from` or `group`.',
  },
  {
    name: 'window',
    type: 'string',
    example: '1m',
    description:
      'Live view: aggregate records in windows of this length on Kafka record timestamps (tumbling; with `hop`, hopping); one `{"event":"window",…}` frame per window and group when it closes.',
  },
  {
    name: 'hop',
    type: 'string',
    example: '10s',
    description: 'With `window`: start a window every `hop` (hopping windows); must divide the window length.',
  },
  {
    name: 'agg',
    type: 'string',
    example: 'count(),avg(temperature),max(temperature)',
    description:
      'With `window`: the aggregates, comma-separated: `count()`, `avg(f)`, `min(f)`, `max(f)`, `sum(f)`, `last(f)` over a numeric JSON field `f` (dotted paths allowed).',
  },
  {
    name: 'by',
    type: 'string',
    example: 'device_id',
    description: 'With `window`: group by this JSON field, or `key` for the record key.',
  },
  {
    name: 'grace',
    type: 'string',
    example: '5s',
    description:
      'With `window`: how long after a window ends late records are still counted in it; later ones are counted in `sluice_window_late_records_total`.',
  },
  {
    name: 'alert',
    type: 'string',
    example: 'avg(temperature)>50',
    description:
      'With `window`: `{"event":"alert","state":"firing"|"resolved",…}` frames when a group\'s aggregate crosses the threshold and when it recovers.',
  },
] as const;

export type SubscribeParamName = (typeof SUBSCRIBE_PARAMS)[number]['name'];

export const SUBSCRIBE_PARAM_NAMES: readonly string[] = SUBSCRIBE_PARAMS.map((p) => p.name);

/** Fields a `{"op":"subscribe",…}` message may carry, and an `{"op":"unsubscribe",…}` one. */
export const SUBSCRIBE_MESSAGE_FIELDS: readonly string[] = ['op', 'topic', ...SUBSCRIBE_PARAM_NAMES];
export const UNSUBSCRIBE_MESSAGE_FIELDS: readonly string[] = ['op', 'topic'];
