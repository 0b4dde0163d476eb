/**
 * Every frame a subscriber receives that is not a record: `subscribed`, `unsubscribed`, `error`, the
 * snapshot's records and its `snapshot-end` marker, a view's `window` and `alert` frames, and the seed
 * route's `{"Message":…}` frames. Records and batches are built beside it (frame-encoder.ts); together they
 * are the only place frame JSON is written, so the schemas of src/api/frames.ts describe one module.
 * Error frames carry the error registry's body (`code`, `message`, `retriable`, details), the same object an
 * HTTP error answer carries.
 */
import { errorBody, type PlainError } from '../errors.js';
import { encodeEnvelope, type RecordLike, type ValueText } from './frame-encoder.js';

/** The first frame of a subscription: `token` is its start position (none for groups). */
export function subscribedFrame(topic: string, token: string | null): string {
  return JSON.stringify(token === null ? { event: 'subscribed', topic } : { event: 'subscribed', topic, token });
}

export function unsubscribedFrame(topic: string): string {
  return JSON.stringify({ event: 'unsubscribed', topic });
}

/** A refused control message, a subscription that ended, or the reason a stream closes (`topic` when there is one). */
export function errorFrame(topic: string | undefined, error: PlainError): string {
  const body = errorBody(error);
  return JSON.stringify(topic === undefined ? { event: 'error', error: body } : { event: 'error', topic, error: body });
}

/** The seed route's first frame (`/consumer/{topic}`), as the seed app sent it. */
export const SEED_CONNECTED_FRAME = '{"Message":"connected"}';

/** The seed route's answer to a text a client sends, as the seed app gave it. */
export function seedEchoFrame(text: string): string {
  return JSON.stringify({ Message: text });
}

/** A key's latest record in a snapshot: its per-record frame (no token: a snapshot is not in offset order), marked. */
export function snapshotRecordFrame(m: RecordLike, topicJson: string, value: ValueText): string {
  const envelope = encodeEnvelope(m, topicJson, null, value);
  return `${envelope.slice(0, -1)},"snapshot":true}`;
}

/** After a snapshot's records: how many keys it held and the position right after it. */
export function snapshotEndFrame(topic: string, keys: number, token: string): string {
  return `{"event":"snapshot-end","topic":${JSON.stringify(topic)},"keys":${keys},"token":"${token}"}`;
}

/** A JSON value as a frame writes it (`undefined`, a missing field, as `null`). */
function json(v: unknown): string {
  return v === undefined ? 'null' : JSON.stringify(v);
}

/**
 * The fields a window and its alert share: `"topic":…,"start":…,"end":…,"by":{…}`; `byName` is the grouping
 * (`key` or a field name; null: one group, `"by":{}`).
 */
export function windowHead(topicJson: string, start: number, end: number, byName: string | null, byValue: unknown): string {
  const by = byName === null ? '{}' : `{${JSON.stringify(byName)}:${json(byValue)}}`;
  return `"topic":${topicJson},"start":${start},"end":${end},"by":${by}`;
}

/** One closed window of one group: its record count, then each other aggregate by name, in order. */
export function windowFrame(head: string, count: number, aggregates: readonly (readonly [name: string, value: unknown])[]): string {
  let fields = '';
  for (const [name, value] of aggregates) fields += `,${JSON.stringify(name)}:${json(value)}`;
  return `{"event":"window",${head},"count":${count}${fields}}`;
}

/** A group's alert began (`firing`) or ended (`resolved`) with this window; `aggregate` is the value it checks. */
export function alertFrame(head: string, firing: boolean, alert: string, aggregate: string, value: unknown): string {
  return `{"event":"alert",${head},"state":"${firing ? 'firing' : 'resolved'}","alert":${JSON.stringify(alert)},${JSON.stringify(aggregate)}:${json(value)}}`;
}
