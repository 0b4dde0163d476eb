/**
 * Reads a subscription's options — `from`, `key`, `where`, `group`, `frames` — from a query string or a
 * `{"op":"subscribe",…}` control message into a SubscribeRequest, refusing bad values with
 * INVALID_PARAMETER before anything reaches Kafka. Pure: runs in whichever thread holds the socket.
 */
import { SluiceError, unknownParameter } from '../errors.js';
import { assertLegalTopicName } from '../decode/topic-name.js';
import { decodeResumeToken } from './resume-token.js';
import { joinKeyList, parseRecordFilter } from './record-filter.js';
import type { StartFrom, SubscribeRequest } from './protocol.js';
import { SUBSCRIBE_MESSAGE_FIELDS, UNSUBSCRIBE_MESSAGE_FIELDS } from './subscribe-params.js';
import { parseDuration, parseSnapshot, parseViewSpec, type ViewParams } from './view-spec.js';

const GROUP = /^[A-Za-z0-9._-]{1,100}$/;
/** The whole `key=` text (up to SLUICE_MAX_KEYS_PER_SUBSCRIPTION keys; each key is at most 1,024 characters). */
const MAX_KEY_LIST_LENGTH = 65_536;
/** `conflate=` bounds: a frame per key at most every 10 ms … 1 h. */
export const CONFLATE_MIN_MS = 10;
export const CONFLATE_MAX_MS = 3_600_000;

/** `style` is `record` (one frame per record, the default) or `batch` (`frames=batch`); the seed route sets `value` itself. */
export type SubscribeOptions = Pick<
  SubscribeRequest,
  'topic' | 'from' | 'key' | 'where' | 'group' | 'snapshotMs' | 'view' | 'conflateMs'
> & {
  style: 'record' | 'batch';
};

const VIEW_OPTIONS = ['hop', 'grace', 'agg', 'by', 'alert'] as const;

/** `get` returns a parameter's value, or undefined/'' when absent. `lastEventId` (SSE) resumes when `from` is absent. */
export function readSubscribeOptions(topic: string, get: (name: string) => string | undefined | null, lastEventId = ''): SubscribeOptions {
  assertLegalTopicName(topic);
  const fromText = get('from') || lastEventId;
  const from = parseFrom(fromText || 'latest');
  const key = get('key') || null;
  if (key !== null && key.length > MAX_KEY_LIST_LENGTH)
    throw new SluiceError('INVALID_PARAMETER', `key is longer than ${MAX_KEY_LIST_LENGTH} characters`);
  const where = get('where') || null;
  // Refuse a bad filter here, as a 400 / error frame (the key count against SLUICE_MAX_KEYS_PER_SUBSCRIPTION is checked where the setting is: the registry).
  parseRecordFilter(key, where);
  const conflateText = get('conflate') || null;
  const conflateMs = conflateText === null ? null : parseConflate(conflateText);
  const group = get('group') || null;
  if (group !== null) {
    if (!GROUP.test(group)) throw new SluiceError('INVALID_PARAMETER', 'group must be 1-100 characters of A-Z a-z 0-9 . _ -');
    if (from.kind === 'time' || from.kind === 'token') {
      throw new SluiceError(
        'INVALID_PARAMETER',
        'a group resumes from its committed offsets: with group, from may only be latest or earliest (where a new group starts)',
      );
    }
    if (key !== null || where !== null) throw new SluiceError('INVALID_PARAMETER', 'key and where filters are not available with group');
    if (conflateMs !== null)
      throw new SluiceError('INVALID_PARAMETER', 'conflate is not available with group (each record goes to one member)');
  }
  const snapshotText = get('snapshot') || null;
  const snapshotMs = snapshotText === null ? null : parseSnapshot(snapshotText);
  const windowText = get('window') || null;
  let view: ViewParams | null = null;
  if (windowText !== null) {
    view = {
      window: windowText,
      hop: get('hop') || null,
      grace: get('grace') || null,
      agg: get('agg') || null,
      by: get('by') || null,
      alert: get('alert') || null,
    };
    parseViewSpec(view); // refuse a bad view here, as a 400 / error frame
  } else {
    for (const name of VIEW_OPTIONS) {
      if (!get(name)) continue;
      throw new SluiceError(
        'INVALID_PARAMETER',
        name === 'alert'
          ? 'alert needs a window (e.g. window=1m&agg=avg(temperature)&alert=avg(temperature)>50); for an alert per record use where=temperature>50'
          : `${name} needs window= (e.g. window=10s)`,
      );
    }
  }
  if (snapshotMs !== null || view !== null) {
    const what = snapshotMs !== null ? 'snapshot' : 'window';
    if (group !== null) throw new SluiceError('INVALID_PARAMETER', `${what} is not available with group`);
    if (view !== null && conflateMs !== null)
      throw new SluiceError('INVALID_PARAMETER', 'conflate is not available with window (a view sends one frame per window already)');
    if (snapshotMs !== null && view !== null)
      throw new SluiceError('INVALID_PARAMETER', 'snapshot and window cannot be combined: subscribe twice');
    if (snapshotMs !== null && from.kind !== 'latest') {
      throw new SluiceError(
        'INVALID_PARAMETER',
        'snapshot starts its own read back over the span: leave out from (to resume after a snapshot, use from=<token> without snapshot)',
      );
    }
  }
  // Only set when asked for: a plain subscription's options stay what they were.
  return {
    topic,
    from,
    key,
    where,
    group,
    style: parseFrames(get('frames') || 'record'),
    ...(snapshotMs !== null ? { snapshotMs } : {}),
    ...(view !== null ? { view } : {}),
    ...(conflateMs !== null ? { conflateMs } : {}),
  };
}

/** `conflate=<duration>` in ms, within CONFLATE_MIN_MS … CONFLATE_MAX_MS; throws INVALID_PARAMETER. */
export function parseConflate(text: string): number {
  const ms = parseDuration(text, 'conflate');
  if (ms < CONFLATE_MIN_MS || ms > CONFLATE_MAX_MS)
    throw new SluiceError(
      'INVALID_PARAMETER',
      `conflate must be between ${CONFLATE_MIN_MS}ms and ${CONFLATE_MAX_MS / 3_600_000}h (got "${text.slice(0, 40)}")`,
    );
  return ms;
}

function parseFrames(text: string): 'record' | 'batch' {
  if (text === 'record') return 'record';
  if (text === 'batch') return 'batch';
  throw new SluiceError(
    'INVALID_PARAMETER',
    `frames must be record (one frame per record, the default) or batch (one frame per batch of records) (got "${text.slice(0, 80)}")`,
  );
}

function parseFrom(text: string): StartFrom {
  if (text === 'latest') return { kind: 'latest' };
  if (text === 'earliest') return { kind: 'earliest' };
  if (/^\d{1,15}$/.test(text)) return { kind: 'time', timestampMs: Number(text) };
  const offsets = decodeResumeToken(text);
  if (offsets) return { kind: 'token', offsets };
  throw new SluiceError(
    'INVALID_PARAMETER',
    `from must be latest, earliest, a timestamp in epoch milliseconds, or a resume token from a frame (got "${text.slice(0, 80)}")`,
  );
}

/** A control message on a WebSocket: `{"op":"subscribe","topic":…,…}` or `{"op":"unsubscribe","topic":…}`. */
export type ControlMessage = { op: 'subscribe'; options: SubscribeOptions } | { op: 'unsubscribe'; topic: string };

export function readControlMessage(text: string): ControlMessage {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    throw new SluiceError('INVALID_JSON', 'a control message must be a JSON object like {"op":"subscribe","topic":"t"}');
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg))
    throw new SluiceError('INVALID_PARAMETER', 'a control message must be a JSON object like {"op":"subscribe","topic":"t"}');
  const m = msg as Record<string, unknown>;
  const fields = m.op === 'unsubscribe' ? UNSUBSCRIBE_MESSAGE_FIELDS : SUBSCRIBE_MESSAGE_FIELDS;
  for (const name of Object.keys(m))
    if (!fields.includes(name))
      throw unknownParameter(`${m.op === 'unsubscribe' ? 'unsubscribe' : 'subscribe'} message field`, name, fields);
  if (typeof m.topic !== 'string') throw new SluiceError('INVALID_PARAMETER', 'a control message needs "topic" (a string)');
  const option = (name: string): string | undefined => {
    const v = m[name];
    if (v === undefined || v === null) return undefined;
    // Several keys as a JSON array: no escaping of commas needed.
    if (name === 'key' && Array.isArray(v)) {
      if (v.length === 0 || !v.every((k) => typeof k === 'string'))
        throw new SluiceError('INVALID_PARAMETER', '"key" must be a string or a non-empty array of strings');
      return joinKeyList(v as string[]);
    }
    if (typeof v === 'number' && name === 'from') return String(v);
    if (typeof v !== 'string') throw new SluiceError('INVALID_PARAMETER', `"${name}" must be a string`);
    return v;
  };
  if (m.op === 'subscribe') return { op: 'subscribe', options: readSubscribeOptions(m.topic, option) };
  if (m.op === 'unsubscribe') {
    assertLegalTopicName(m.topic);
    return { op: 'unsubscribe', topic: m.topic };
  }
  throw new SluiceError('INVALID_PARAMETER', '"op" must be "subscribe" or "unsubscribe"');
}
