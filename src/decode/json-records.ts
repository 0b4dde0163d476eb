/**
 * Turns a request body into Kafka record values without re-serialising anything: each record value is a
 * slice of the original bytes (so big integers, number formats and key order survive byte-exact).
 * Validation is all-or-nothing: the first invalid element or line fails the whole body, before any
 * record reaches the producer.
 */
import { isUtf8 } from 'node:buffer';
import { SluiceError } from '../errors.js';
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COMMA, isJsonText, isWs, LF, OPEN_BRACE, OPEN_BRACKET, QUOTE } from './json-validate.js';

export type BodyFormat = 'json' | 'ndjson';

export interface DecodedRecords {
  /** The request body; record values are `body.subarray(starts[i], ends[i])`. */
  readonly body: Buffer;
  readonly count: number;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  /** Per-record keys taken from the key field, or null when no key field is configured. */
  readonly keys: (string | null)[] | null;
  /**
   * The parsed records, parsed once during validation — only when the caller asked for them (seed routes
   * read fields) or the key field needs them; otherwise empty: the bytes are validated without building
   * values (`isJsonText`), which costs a quarter of JSON.parse.
   */
  readonly parsed: unknown[];
}

const NO_VALUES: unknown[] = [];

/** `wantValues`: fill `parsed` (seed routes, schemas); values are parsed anyway when `keyField` is set. */
export function decodeRecords(body: Buffer, format: BodyFormat, keyField: string, wantValues = false): DecodedRecords {
  if (!isUtf8(body)) throw new SluiceError('INVALID_UTF8', 'request body is not valid UTF-8');
  let start = 0;
  // A UTF-8 byte-order mark is not part of the JSON text.
  if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) start = 3;
  const parse = wantValues || keyField !== '';
  return format === 'json' ? decodeJson(body, start, keyField, parse) : decodeNdjson(body, start, keyField, parse);
}

function decodeJson(body: Buffer, from: number, keyField: string, parse: boolean): DecodedRecords {
  let start = from;
  let end = body.length;
  while (start < end && isWs(body[start])) start++;
  while (end > start && isWs(body[end - 1])) end--;
  if (start === end) throw new SluiceError('EMPTY_BATCH', 'request body is empty');
  // Valid without building values; an invalid body goes on to JSON.parse, whose message names the fault.
  if (!parse && isJsonText(body, start, end)) {
    if (body[start] === OPEN_BRACE)
      return { body, count: 1, starts: Int32Array.of(start), ends: Int32Array.of(end), keys: null, parsed: NO_VALUES };
    if (body[start] === OPEN_BRACKET) {
      const n = scanArrayElements(body, start, end, EMPTY, EMPTY); // counts only
      if (n === 0) throw new SluiceError('EMPTY_BATCH', 'JSON array holds no records');
      if (n > 0) {
        const starts = new Int32Array(n);
        const ends = new Int32Array(n);
        scanArrayElements(body, start, end, starts, ends);
        return { body, count: n, starts, ends, keys: null, parsed: NO_VALUES };
      }
    }
    // A scalar (or a structure the scan disagrees with): the path below gives the answer.
  }

  const text = body.toString('utf8', start, end);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    if (body[start] === OPEN_BRACKET) throw locateArrayError(body, start, end);
    throw new SluiceError('INVALID_JSON', `invalid JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(parsed)) {
    if (parsed.length === 0) throw new SluiceError('EMPTY_BATCH', 'JSON array holds no records');
    const starts = new Int32Array(parsed.length);
    const ends = new Int32Array(parsed.length);
    const n = scanArrayElements(body, start, end, starts, ends);
    if (n !== parsed.length) throw new SluiceError('INTERNAL', `array scan found ${n} elements, JSON.parse ${parsed.length}`);
    return { body, count: n, starts, ends, keys: extractKeys(parsed, keyField), parsed };
  }
  if (parsed === null || typeof parsed !== 'object') {
    throw new SluiceError(
      'NOT_A_JSON_CONTAINER',
      'an application/json body must be a JSON object (one record) or an array (one record per element)',
    );
  }
  const records = [parsed];
  return { body, count: 1, starts: Int32Array.of(start), ends: Int32Array.of(end), keys: extractKeys(records, keyField), parsed: records };
}

const EMPTY = new Int32Array(0);

function decodeNdjson(body: Buffer, from: number, keyField: string, parse: boolean): DecodedRecords {
  let starts: Int32Array<ArrayBuffer> = new Int32Array(64);
  let ends: Int32Array<ArrayBuffer> = new Int32Array(64);
  const parsed: unknown[] = [];
  let count = 0;
  let line = 0;
  let pos = from;
  while (pos < body.length) {
    line++;
    let nl = body.indexOf(LF, pos);
    if (nl === -1) nl = body.length;
    let s = pos;
    let e = nl;
    while (s < e && isWs(body[s])) s++;
    while (e > s && isWs(body[e - 1])) e--;
    pos = nl + 1;
    if (s === e) continue; // blank lines separate nothing
    if (parse || !isJsonText(body, s, e)) {
      // Values wanted, or an invalid line: JSON.parse's message names the fault.
      try {
        const value = JSON.parse(body.toString('utf8', s, e));
        if (parse) parsed.push(value);
      } catch (err) {
        throw new SluiceError('INVALID_JSON', `line ${line}: ${(err as Error).message}`, { line });
      }
    }
    if (count === starts.length) {
      starts = grow(starts);
      ends = grow(ends);
    }
    starts[count] = s;
    ends[count] = e;
    count++;
  }
  if (count === 0) throw new SluiceError('EMPTY_BATCH', 'NDJSON body holds no records');
  return {
    body,
    count,
    starts: starts.subarray(0, count),
    ends: ends.subarray(0, count),
    keys: extractKeys(parsed, keyField),
    parsed: parse ? parsed : NO_VALUES,
  };
}

function grow(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

function extractKeys(records: unknown[], keyField: string): (string | null)[] | null {
  if (keyField === '') return null;
  const keys = new Array<string | null>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const v = r !== null && typeof r === 'object' && !Array.isArray(r) ? (r as Record<string, unknown>)[keyField] : undefined;
    keys[i] = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : null;
  }
  return keys;
}

/**
 * Finds the [start, end) byte range of each top-level element of a JSON array spanning body[start, end).
 * Only structure is tracked (strings, nesting, commas); the caller has already validated the text, or
 * validates each slice. Returns the number of elements, or -1 when the structure is broken.
 */
export function scanArrayElements(body: Buffer, start: number, end: number, starts: Int32Array, ends: Int32Array): number {
  let i = start + 1; // past '['
  let depth = 0;
  let inString = false;
  let elemStart = -1;
  let lastNonWs = -1;
  let n = 0;
  for (; i < end; i++) {
    const c = body[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      lastNonWs = i;
      continue;
    }
    if (isWs(c)) continue;
    if (depth === 0 && (c === COMMA || c === CLOSE_BRACKET || c === CLOSE_BRACE)) {
      if (c === CLOSE_BRACE) return -1;
      if (elemStart < 0) {
        // `[]` is fine; `[,` `[1,,2]` and `[1,]` are not
        if (c === CLOSE_BRACKET && n === 0 && lastNonWs < 0) return i === end - 1 ? 0 : -1;
        return -1;
      }
      if (n < starts.length) {
        starts[n] = elemStart;
        ends[n] = lastNonWs + 1;
      }
      n++;
      elemStart = -1;
      if (c === CLOSE_BRACKET) return i === end - 1 ? n : -1;
      lastNonWs = i;
      continue;
    }
    if (elemStart < 0) elemStart = i;
    if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
    lastNonWs = i;
  }
  return -1; // never closed
}

/** Slow path, only for invalid input: name the first element that does not parse. */
function locateArrayError(body: Buffer, start: number, end: number): SluiceError {
  const bounds = new Int32Array(Math.max(16, end - start));
  const ends = new Int32Array(bounds.length);
  const n = scanArrayElements(body, start, end, bounds, ends);
  const known = n < 0 ? countScanned(body, start, end, bounds, ends) : n;
  for (let i = 0; i < known; i++) {
    try {
      JSON.parse(body.toString('utf8', bounds[i], ends[i]));
    } catch (err) {
      return new SluiceError('INVALID_JSON', `element ${i}: ${(err as Error).message}`, { index: i });
    }
  }
  return new SluiceError('INVALID_JSON', `invalid JSON array after element ${known - 1} (a missing or extra comma or bracket)`, {
    index: known,
  });
}

/** For a broken array: how many leading elements were delimited before the structure broke. */
function countScanned(body: Buffer, start: number, end: number, starts: Int32Array, ends: Int32Array): number {
  starts.fill(-1);
  scanArrayElements(body, start, end, starts, ends);
  let k = 0;
  while (k < starts.length && starts[k] >= 0) k++;
  return k;
}
