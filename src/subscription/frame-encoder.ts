/**
 * Serialises Kafka records into the frames subscribers receive. A record is read once into its fields
 * `"partition","offset","timestamp","key","value"`; the frame styles wrap those same fields:
 *   per record (default): `{"topic",<fields>,"token"}`, one WebSocket message (SSE event) per record;
 *   batch (`frames=batch`): `{"event":"batch","topic","records":[{<fields>},…],"token"}`, one message per
 *     batch, whose `token` is the position after its last record (the token that record's own frame
 *     would carry), so a client resumes exactly after any batch.
 * A value that is JSON (everything Sluice produced) is embedded as-is, without a parse/stringify round
 * trip changing its bytes (raw line breaks between its tokens included: SSE writes such a frame as one
 * `data:` line per line, fanout/sse-stream.ts); any other value is sent as a string with `"valueEncoding":"text"` (UTF-8) or
 * `"base64"` (binary). Group frames carry no token (a group resumes from its committed offsets).
 * A record with Kafka headers carries them after its value, in order and repeats kept, as
 * `"headers":[{"name":"traceparent","value":"00-…"},…]` (a header value that is not UTF-8 as base64 with
 * `"valueEncoding":"base64"`), so a W3C `traceparent` posted with the record reaches the dashboard; a record
 * without headers (most) costs nothing more.
 */
import { isUtf8 } from 'node:buffer';
import type { FrameStyle } from './protocol.js';

export interface RecordLike {
  topic: string;
  partition: number;
  offset: number;
  timestamp?: number;
  key?: Buffer | string | null;
  value: Buffer | null;
  /** Kafka headers as the native client gives them: one single-entry object per header, in order. */
  headers?: readonly Readonly<Record<string, string | Buffer>>[];
}

/** A record value read once: its envelope field, and the parsed JSON for `where` filters (undefined if not JSON). */
export interface ValueText {
  field: string;
  parsed: unknown;
}

export function readValue(value: Buffer | null): ValueText {
  if (value === null) return { field: '"value":null', parsed: null };
  if (isUtf8(value)) {
    const text = value.toString('utf8');
    try {
      // Parsing is also the validity check that lets the text be embedded verbatim.
      return { field: `"value":${text}`, parsed: JSON.parse(text) as unknown };
    } catch {
      return { field: `"value":${JSON.stringify(text)},"valueEncoding":"text"`, parsed: undefined };
    }
  }
  return { field: `"value":${JSON.stringify(value.toString('base64'))},"valueEncoding":"base64"`, parsed: undefined };
}

export function keyText(key: Buffer | string | null | undefined): string | null {
  if (key == null) return null;
  return typeof key === 'string' ? key : key.toString('utf8');
}

/** `,"headers":[…]` for a record with Kafka headers; '' without (the common case, no work). */
export function headersField(headers: RecordLike['headers']): string {
  if (headers === undefined || headers.length === 0) return '';
  let out = '';
  for (const header of headers) {
    for (const name in header) {
      const v = header[name];
      let entry: string;
      if (typeof v === 'string') entry = `{"name":${JSON.stringify(name)},"value":${JSON.stringify(v)}}`;
      else if (isUtf8(v)) entry = `{"name":${JSON.stringify(name)},"value":${JSON.stringify(v.toString('utf8'))}}`;
      else entry = `{"name":${JSON.stringify(name)},"value":${JSON.stringify(v.toString('base64'))},"valueEncoding":"base64"}`;
      out += out === '' ? entry : `,${entry}`;
    }
  }
  return out === '' ? '' : `,"headers":[${out}]`;
}

/** A record's fields without braces, topic or token: `"partition":2,"offset":41,"timestamp":…,"key":…,"value":…`. */
export function encodeFields(m: RecordLike, value: ValueText = readValue(m.value)): string {
  const key = keyText(m.key);
  return `"partition":${m.partition},"offset":${m.offset},"timestamp":${m.timestamp ?? null},"key":${key === null ? 'null' : JSON.stringify(key)},${value.field}${headersField(m.headers)}`;
}

/** The per-record frame of a record's fields. */
export function recordFrame(topicJson: string, fields: string, token: string | null): string {
  return token === null ? `{"topic":${topicJson},${fields}}` : `{"topic":${topicJson},${fields},"token":"${token}"}`;
}

/** One batch frame holding the records' fields in order; `token` is the position after the last one (null for groups). */
export function batchFrame(topicJson: string, fields: readonly string[], token: string | null): string {
  let records = '';
  for (let i = 0; i < fields.length; i++) records += i === 0 ? `{${fields[i]}}` : `,{${fields[i]}}`;
  return token === null
    ? `{"event":"batch","topic":${topicJson},"records":[${records}]}`
    : `{"event":"batch","topic":${topicJson},"records":[${records}],"token":"${token}"}`;
}

/** The per-record frame of a record, built as one string (the live path when no batch channel or replay needs the fields apart). */
export function encodeEnvelope(
  m: RecordLike,
  topicJson: string = JSON.stringify(m.topic),
  token: string | null = null,
  value: ValueText = readValue(m.value),
): string {
  const key = keyText(m.key);
  const tokenField = token === null ? '' : `,"token":"${token}"`;
  return `{"topic":${topicJson},"partition":${m.partition},"offset":${m.offset},"timestamp":${m.timestamp ?? null},"key":${key === null ? 'null' : JSON.stringify(key)},${value.field}${headersField(m.headers)}${tokenField}}`;
}

/**
 * Records (their fields, and the token after each, or null) as the frames a subscriber of `style` gets,
 * with the token of each frame: per record, one frame per record; batch, one frame for all of them.
 * Nothing to send (no records) gives no frames.
 */
export function frameRecords(
  style: Exclude<FrameStyle, 'value'>,
  topicJson: string,
  fields: readonly string[],
  tokens: readonly string[] | null,
): { frames: string[]; tokens: string[] | null } {
  const n = fields.length;
  if (n === 0) return { frames: [], tokens: tokens ? [] : null };
  if (style === 'batch') {
    const token = tokens ? tokens[n - 1] : null;
    return { frames: [batchFrame(topicJson, fields, token)], tokens: token === null ? null : [token] };
  }
  const frames = new Array<string>(n);
  for (let i = 0; i < n; i++) frames[i] = recordFrame(topicJson, fields[i], tokens ? tokens[i] : null);
  return { frames, tokens: tokens ? tokens.slice() : null };
}
