/**
 * Serialises a Kafka record once into the frame every subscriber of the topic receives:
 * `{"topic","partition","offset","timestamp","key","value"}`. A value that is JSON (everything Sluice
 * produced) is embedded as-is, without a parse/stringify round trip changing its bytes; any other value
 * is sent as a string with `"valueEncoding":"text"` (UTF-8) or `"base64"` (binary).
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

export function encodeEnvelope(m: RecordLike, topicJson: string = JSON.stringify(m.topic)): string {
  let key = 'null';
  if (m.key != null) key = JSON.stringify(typeof m.key === 'string' ? m.key : m.key.toString('utf8'));
  return `{"topic":${topicJson},"partition":${m.partition},"offset":${m.offset},"timestamp":${m.timestamp ?? null},"key":${key},${valueField(m.value)}}`;
}

function valueField(value: Buffer | null): string {
  if (value === null) return '"value":null';
  if (isUtf8(value)) {
    const text = value.toString('utf8');
    try {
      JSON.parse(text);
      return `"value":${text}`;
    } catch {
      return `"value":${JSON.stringify(text)},"valueEncoding":"text"`;
    }
  }
  return `"value":${JSON.stringify(value.toString('base64'))},"valueEncoding":"base64"`;
}

/** Serialises a batch once for the channels that have subscribers; null where nobody listens. */
export function encodeFrames(topic: string, records: readonly RecordLike[], envelopes: boolean, values: boolean) {
  const topicJson = JSON.stringify(topic);
  const env: string[] | null = envelopes ? new Array<string>(records.length) : null;
  const val: Uint8Array[] | null = values ? [] : null;
  for (let i = 0; i < records.length; i++) {
    const m = records[i];
    if (env) env[i] = encodeEnvelope(m, topicJson);
    if (val && m.value) val.push(m.value);
  }
  return { envelopes: env, values: val };
}
