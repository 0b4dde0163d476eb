/**
 * Serialises a Kafka record once into the frame every subscriber of a channel receives:
 * `{"topic","partition","offset","timestamp","key","value","token"}`. A value that is JSON (everything Sluice
 * produced) is embedded as-is, without a parse/stringify round trip changing its bytes; any other value
 * is sent as a string with `"valueEncoding":"text"` (UTF-8) or `"base64"` (binary). `token` is the resume
 * token of the position just after the record.
 */
import { isUtf8 } from 'node:buffer';

export interface RecordLike {
  topic: string;
  partition: number;
  offset: number;
  timestamp?: number;
  key?: Buffer | string | null;
  value: Buffer | null;
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

export function encodeEnvelope(m: RecordLike, topicJson: string = JSON.stringify(m.topic), token: string | null = null, value: ValueText = readValue(m.value)): string {
  const key = keyText(m.key);
  const tokenField = token === null ? '' : `,"token":"${token}"`;
  return `{"topic":${topicJson},"partition":${m.partition},"offset":${m.offset},"timestamp":${m.timestamp ?? null},"key":${key === null ? 'null' : JSON.stringify(key)},${value.field}${tokenField}}`;
}
