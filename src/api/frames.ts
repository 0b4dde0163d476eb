/**
 * The JSON Schemas of what the live side sends — the error body every answer shares, and the frames of the
 * WebSocket and SSE channels — used by both documents: `/asyncapi.json` lists the frames per channel, and
 * `/openapi.json` describes `GET /sse/topics/{topic}`'s events with them (OpenAPI before 3.2 has a
 * `text/event-stream` schema describe one event: `{event, data, id?, retry?}`, `data` the JSON frame).
 * Each frame kind is one entry of FRAME_SCHEMAS, built where the code named in its description builds it.
 */
import { ERRORS, type ErrorCode } from '../errors.js';

type Json = Record<string, unknown>;

/** The error body, for the codes given (all codes when none). */
export function errorBodySchema(codes: readonly ErrorCode[] = Object.keys(ERRORS) as ErrorCode[]): Json {
  return {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message', 'retriable'],
        properties: {
          code: { type: 'string', enum: [...codes] },
          message: { type: 'string' },
          retriable: { type: 'boolean', description: 'A later retry of the same request can succeed; otherwise fix the request.' },
          correlationId: { type: 'string', description: 'INTERNAL only: quote it when reporting; the gateway logged the error under it.' },
          parameter: { type: 'string', description: 'INVALID_PARAMETER: the parameter or field at fault.' },
          didYouMean: { type: 'string', description: 'INVALID_PARAMETER: the accepted name closest to an unknown one.' },
          allow: { type: 'array', items: { type: 'string' }, description: 'METHOD_NOT_ALLOWED: the methods the path takes.' },
          limit: {
            description:
              'OVERLOADED: the setting whose bound was reached; CONNECTION_LIMIT, CLIENT_LIMIT: the setting of the share this connection or client holds; TOO_MANY_RECORDS: the record limit; TIMESTAMP_REFUSED (refused before producing): the setting.',
          },
          limitBytes: { type: 'integer', description: 'BODY_TOO_LARGE, HEADERS_TOO_LARGE: the limit.' },
          index: { type: 'integer', description: 'INVALID_JSON: the failing array element.' },
          line: { type: 'integer', description: 'INVALID_JSON: the failing NDJSON line.' },
        },
      },
    },
  };
}

const TOKEN = {
  type: 'string',
  description: 'Resume token of the position just after this record: reconnect with `from=<token>` to continue without gap or duplicate.',
};

/** A record's Kafka headers in order (repeats kept), e.g. the W3C `traceparent` its POST carried. Absent when it has none. */
const RECORD_HEADERS: Json = {
  type: 'array',
  description:
    "The record's Kafka headers, in order; absent when it has none. A POST's W3C `traceparent`/`tracestate` arrive here (docs/operations.md, Tracing).",
  items: {
    type: 'object',
    required: ['name', 'value'],
    properties: {
      name: { type: 'string' },
      value: { type: 'string' },
      valueEncoding: { const: 'base64', description: 'Present when the header value is not UTF-8: base64 of its bytes.' },
    },
  },
};

export const FRAME_SCHEMAS: Record<string, Json> = {
  record: {
    type: 'object',
    required: ['topic', 'partition', 'offset', 'timestamp', 'key', 'value'],
    properties: {
      topic: { type: 'string' },
      partition: { type: 'integer', minimum: 0 },
      offset: { type: 'integer', minimum: 0 },
      timestamp: { type: ['integer', 'null'], description: 'Kafka record timestamp, epoch ms.' },
      key: { type: ['string', 'null'] },
      value: { description: 'The record value: embedded as-is when it is JSON; otherwise a string (see `valueEncoding`).' },
      valueEncoding: { enum: ['text', 'base64'], description: 'Present when the value is not JSON: UTF-8 text, or base64 of binary.' },
      headers: RECORD_HEADERS,
      token: TOKEN,
      snapshot: {
        const: true,
        description: 'With `snapshot=`: the latest record of its key in the span (no `token`: snapshot frames are not in offset order).',
      },
    },
    not: { required: ['event'] },
    examples: [
      {
        topic: 'telemetry',
        partition: 0,
        offset: 42,
        timestamp: 1735689600000,
        key: 'pump-7',
        value: { temperature: 21.5 },
        token: 'djE6NDMsMA',
      },
    ],
  },
  subscribed: {
    type: 'object',
    required: ['event', 'topic'],
    properties: {
      event: { const: 'subscribed' },
      topic: { type: 'string' },
      token: { ...TOKEN, description: 'The start position (absent for groups).' },
    },
    examples: [{ event: 'subscribed', topic: 'telemetry', token: 'djE6NDMsMA' }],
  },
  unsubscribed: {
    type: 'object',
    required: ['event', 'topic'],
    properties: { event: { const: 'unsubscribed' }, topic: { type: 'string' } },
    examples: [{ event: 'unsubscribed', topic: 'telemetry' }],
  },
  error: {
    type: 'object',
    required: ['event', 'error'],
    properties: {
      event: { const: 'error' },
      topic: { type: 'string', description: 'The subscription concerned, when there is one.' },
      error: (errorBodySchema().properties as Json).error,
    },
    description: `A refused control message (the socket stays open) or a subscription that ended (a subscription from the URL then closes the socket with 1011, or 4008 when \`TOO_SLOW\`). Codes: ${Object.keys(
      ERRORS,
    )
      .map((c) => `\`${c}\``)
      .join(', ')}.`,
    examples: [
      {
        event: 'error',
        topic: 'telemetry',
        error: {
          code: 'INVALID_PARAMETER',
          message: 'unknown "subscribe" message field "form"; did you mean "from"?',
          retriable: false,
          parameter: 'form',
          didYouMean: 'from',
        },
      },
    ],
  },
  'snapshot-end': {
    type: 'object',
    required: ['event', 'topic', 'keys', 'token'],
    description:
      'With `snapshot=`: after the snapshot frames; `token` is the position after the snapshot (live records follow from there). Built in consumer/replay.ts.',
    properties: {
      event: { const: 'snapshot-end' },
      topic: { type: 'string' },
      keys: { type: 'integer', minimum: 0, description: 'Snapshot frames sent (one per key).' },
      token: { ...TOKEN, description: 'The position after the snapshot.' },
    },
    examples: [{ event: 'snapshot-end', topic: 'prices', keys: 2, token: 'djE6NDEsMzc' }],
  },
  window: {
    type: 'object',
    required: ['event', 'topic', 'start', 'end', 'by', 'count'],
    description:
      'With `window=`: one frame per closed window and group, instead of records (no `token`). Each aggregate of `agg` other than `count()` is a field named as written (`avg(temperature)`), `null` when the group had no numeric value. Built in consumer/window-aggregator.ts.',
    properties: {
      event: { const: 'window' },
      topic: { type: 'string' },
      start: { type: 'integer', description: 'Window start, epoch ms (Kafka record time).' },
      end: { type: 'integer', description: 'Window end (exclusive), epoch ms.' },
      by: { type: 'object', description: '`{}` without `by=`; else `{"key": …}` or `{"<field>": …}`: the group.' },
      count: { type: 'integer', minimum: 0 },
    },
    additionalProperties: { description: 'An aggregate: a number, `null`, or with `last(f)` any JSON value.' },
    examples: [
      {
        event: 'window',
        topic: 'sensors',
        start: 1764060000000,
        end: 1764060060000,
        by: { device_id: 'pump-7' },
        count: 12,
        'avg(temperature)': 48.5,
      },
    ],
  },
  alert: {
    type: 'object',
    required: ['event', 'topic', 'start', 'end', 'by', 'state', 'alert'],
    description:
      "With `window=` and `alert=`: after the window frame whose aggregate crossed the threshold (`firing`) or came back (`resolved`); the alert's aggregate is a field named as written. Built in consumer/window-aggregator.ts.",
    properties: {
      event: { const: 'alert' },
      topic: { type: 'string' },
      start: { type: 'integer' },
      end: { type: 'integer' },
      by: { type: 'object' },
      state: { enum: ['firing', 'resolved'] },
      alert: { type: 'string', description: 'The `alert=` condition as given.' },
    },
    examples: [
      {
        event: 'alert',
        topic: 'sensors',
        start: 1764060060000,
        end: 1764060120000,
        by: { device_id: 'pump-7' },
        state: 'firing',
        alert: 'avg(temperature)>50',
        'avg(temperature)': 60,
      },
    ],
  },
  batch: {
    type: 'object',
    required: ['event', 'topic', 'records', 'token'],
    description:
      'With `frames=batch`: the records of one batch (live, replayed, filtered or from a group) in one message, each a `record` frame without its own `token`; `token` is the position after the last of them. Snapshot, window and alert frames are not combined into batches.',
    properties: {
      event: { const: 'batch' },
      topic: { type: 'string' },
      records: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          required: ['partition', 'offset', 'timestamp', 'key', 'value'],
          properties: {
            partition: { type: 'integer', minimum: 0 },
            offset: { type: 'integer', minimum: 0 },
            timestamp: { type: ['integer', 'null'] },
            key: { type: ['string', 'null'] },
            value: {},
            valueEncoding: { enum: ['text', 'base64'] },
            headers: RECORD_HEADERS,
          },
        },
      },
      token: { ...TOKEN, description: "Resume token of the position just after the batch's last record." },
    },
    examples: [
      {
        event: 'batch',
        topic: 'telemetry',
        records: [{ partition: 0, offset: 42, timestamp: 1735689600000, key: 'pump-7', value: { temperature: 21.5 } }],
        token: 'djE6NDMsMA',
      },
    ],
  },
};

/** Frames a subscriber receives on the envelope channels (WebSocket and SSE). */
export const RECEIVED_FRAMES = ['record', 'batch', 'snapshot-end', 'window', 'alert', 'subscribed', 'unsubscribed', 'error'] as const;

/**
 * One event of `GET /sse/topics/{topic}` as an SSE parser reads it: `event` is `subscribed`, `error` or
 * `message` (every other frame), `data` the frame's JSON, `id` the resume token where the frame has one
 * (a parser repeats the last one on events without), `retry` only on the stream's first, data-less field.
 */
export function sseEventSchema(): Json {
  const frame = (name: string) => ({ type: 'string', contentMediaType: 'application/json', contentSchema: FRAME_SCHEMAS[name] });
  const messages = RECEIVED_FRAMES.filter((f) => f !== 'subscribed' && f !== 'error' && f !== 'unsubscribed');
  const variant = (event: string, data: Json) => ({
    type: 'object',
    required: ['event', 'data'],
    properties: { event: { const: event }, data, id: { type: 'string' }, retry: { type: 'integer', minimum: 0 } },
  });
  return {
    description:
      'One event of the stream (the schema of each event, as OpenAPI 3.1 reads a `text/event-stream` schema): `data` holds one JSON frame of `GET /asyncapi.json` — `subscribed`, `error` (then the stream ends), or (`message`) a record, batch, snapshot-end, window or alert frame. A frame whose value holds raw line breaks spans several `data:` lines, joined with LF by the parser.',
    oneOf: [
      variant('subscribed', frame('subscribed')),
      variant('error', frame('error')),
      variant('message', {
        type: 'string',
        contentMediaType: 'application/json',
        contentSchema: { oneOf: messages.map((m) => FRAME_SCHEMAS[m]) },
      }),
    ],
  };
}
