/**
 * Server-side subscription filters: `key=<key>[,<key>…]` (exact record keys, any of them) and
 * `where=<predicates>` on the JSON value. Parsed once per subscription into a closure over plain
 * comparisons: never `eval`, bounded length.
 *
 * A key list is split on commas; a key holding a comma writes it `\,` (and a backslash before a comma or
 * a backslash as `\\`). The keys are kept sorted and unique, so `key=b,a` and `key=a,b` are one filter
 * (one channel). The live router (src/consumer/live-router.ts) indexes a filter by its `keys`, or else by
 * its first `field=value` predicate (`index`), so a record is tested only against filters that can match it.
 *
 * Grammar of `where` (documented in docs/live.md):
 *   where     := predicate (("," | "&&") predicate)*          all must hold
 *   predicate := path op literal
 *   path      := name ("." name)*                             name: letters, digits, _ or -, up to 8 levels
 *   op        := "=" | "==" | "!=" | ">" | ">=" | "<" | "<="
 *   literal   := number | true | false | null | "quoted string" | bare text (up to the next separator)
 * A predicate on a missing field, or comparing a number with a non-number, is false. `>`/`<` compare
 * numbers numerically and strings lexicographically.
 */
import { SluiceError } from '../errors.js';

type Op = '=' | '!=' | '>' | '>=' | '<' | '<=';
type Literal = number | string | boolean | null;

interface Predicate {
  path: string[];
  op: Op;
  literal: Literal;
}

/** An equality predicate `path=literal` a router can look records up by: the record's field at `path`, as `valueIndexKey` gives it. */
export interface EqualityIndex {
  path: readonly string[];
  /** The path joined with dots: one index per distinct path. */
  pathText: string;
  /** `valueIndexKey(literal)`: equal for exactly the values the predicate accepts. */
  valueKey: string;
}

export interface RecordFilter {
  /** Same filter, same text: subscribers with equal filters share one channel. */
  readonly canonical: string;
  /** True when the value must be parsed (a `where` is set). */
  readonly needsValue: boolean;
  /** The keys of `key=` (sorted, unique), or null when any key passes. */
  readonly keys: readonly string[] | null;
  /** With no keys: the first `field=value` predicate, for a value index; null when there is none. */
  readonly index: EqualityIndex | null;
  matches(key: string | null, value: unknown): boolean;
}

/** Upper bound of keys in one `key=` whatever SLUICE_MAX_KEYS_PER_SUBSCRIPTION says (its schema maximum). */
export const MAX_KEYS_PER_FILTER = 1000;
const MAX_KEY_LENGTH = 1024;

/**
 * The index key of a JSON field value for `=` lookups: two values get the same text exactly when `=`
 * (strict equality on parsed JSON scalars) holds between them; objects, arrays and absent fields never
 * match a literal, so they get none (undefined).
 */
export function valueIndexKey(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return `s${v}`;
    case 'number':
      return `n${v === 0 ? 0 : v}`; // -0 === 0
    case 'boolean':
      return v ? 't' : 'f';
    default:
      return v === null ? 'z' : undefined;
  }
}

/** Splits a `key=` text into its keys: commas separate, `\,` is a comma in a key, `\\` a backslash. */
export function splitKeyList(text: string): string[] {
  const keys: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && (text[i + 1] === ',' || text[i + 1] === '\\')) {
      current += text[++i];
      continue;
    }
    if (c === ',') {
      keys.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  keys.push(current);
  return keys;
}

/** The `key=` text of a list of keys (the inverse of splitKeyList), e.g. for keys given as a JSON array. */
export function joinKeyList(keys: readonly string[]): string {
  return keys.map((k) => k.replace(/[\\,]/g, (c) => `\\${c}`)).join(',');
}

/** The sorted unique keys of a `key=` text; throws INVALID_PARAMETER for an empty key, a key too long, or too many keys. */
export function parseKeyList(text: string, maxKeys = MAX_KEYS_PER_FILTER): string[] {
  const keys = splitKeyList(text);
  if (keys.some((k) => k === ''))
    throw new SluiceError('INVALID_PARAMETER', 'key has an empty entry: separate keys by single commas (write a comma in a key as \\,)');
  if (keys.some((k) => k.length > MAX_KEY_LENGTH))
    throw new SluiceError('INVALID_PARAMETER', `a key is longer than ${MAX_KEY_LENGTH} characters`);
  const unique = [...new Set(keys)].sort();
  if (unique.length > maxKeys)
    throw new SluiceError('INVALID_PARAMETER', `key names ${unique.length} keys; at most ${maxKeys} per subscription`, {
      limit: 'SLUICE_MAX_KEYS_PER_SUBSCRIPTION',
    });
  return unique;
}

const MAX_WHERE_LENGTH = 512;
const MAX_PREDICATES = 16;
const MAX_PATH_DEPTH = 8;
const PREDICATE = /^\s*([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\s*(==|=|!=|>=|<=|>|<)\s*(.*?)\s*$/s;

/** Parses `key` and `where` options; null when neither is set. Throws INVALID_PARAMETER naming the problem. */
export function parseRecordFilter(key: string | null | undefined, where: string | null | undefined): RecordFilter | null {
  const hasKey = key !== undefined && key !== null && key !== '';
  const hasWhere = where !== undefined && where !== null && where.trim() !== '';
  if (!hasKey && !hasWhere) return null;
  const predicates = hasWhere ? parseWhere(where) : [];
  const keys = hasKey ? parseKeyList(key) : null;
  const canonicalParts: string[] = [];
  // One key keeps its canonical text of before multi-key subscriptions (channel names stay as they were).
  if (keys) canonicalParts.push(`key=${JSON.stringify(keys.length === 1 ? keys[0] : keys)}`);
  if (predicates.length)
    canonicalParts.push(`where=${predicates.map((p) => `${p.path.join('.')}${p.op}${JSON.stringify(p.literal)}`).join(',')}`);
  const oneKey = keys?.length === 1 ? keys[0] : null;
  const keySet = keys && keys.length > 1 ? new Set(keys) : null;
  const equality = keys ? undefined : predicates.find((p) => p.op === '=');
  return {
    canonical: canonicalParts.join(';'),
    needsValue: predicates.length > 0,
    keys,
    index: equality
      ? { path: equality.path, pathText: equality.path.join('.'), valueKey: valueIndexKey(equality.literal) as string }
      : null,
    matches(recordKey, value) {
      if (oneKey !== null ? recordKey !== oneKey : keySet !== null && (recordKey === null || !keySet.has(recordKey))) return false;
      for (const p of predicates) if (!holds(p, value)) return false;
      return true;
    },
  };
}

function parseWhere(where: string): Predicate[] {
  if (where.length > MAX_WHERE_LENGTH) throw invalid(`where is longer than ${MAX_WHERE_LENGTH} characters`);
  const parts = splitPredicates(where);
  if (parts.length > MAX_PREDICATES) throw invalid(`where has more than ${MAX_PREDICATES} predicates`);
  return parts.map((text) => {
    const m = PREDICATE.exec(text);
    if (!m) throw invalid(`cannot read predicate "${text.trim()}": expected field op value, e.g. temperature>50 (ops: = != > >= < <=)`);
    const path = m[1].split('.');
    if (path.length > MAX_PATH_DEPTH) throw invalid(`field path "${m[1]}" is deeper than ${MAX_PATH_DEPTH} levels`);
    const op = (m[2] === '==' ? '=' : m[2]) as Op;
    if (m[3] === '') throw invalid(`predicate "${text.trim()}" has no value`);
    return { path, op, literal: parseLiteral(m[3]) };
  });
}

/** Splits on `,` and `&&` outside double quotes. */
function splitPredicates(where: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < where.length; i++) {
    const c = where[i];
    if (c === '"' && where[i - 1] !== '\\') quoted = !quoted;
    if (!quoted && (c === ',' || (c === '&' && where[i + 1] === '&'))) {
      parts.push(current);
      current = '';
      if (c === '&') i++;
      continue;
    }
    current += c;
  }
  if (quoted) throw invalid('where has an unterminated "quoted string"');
  parts.push(current);
  if (parts.some((p) => p.trim() === '')) throw invalid('where has an empty predicate');
  return parts;
}

function parseLiteral(text: string): Literal {
  if (text.startsWith('"')) {
    try {
      const s = JSON.parse(text) as unknown;
      if (typeof s === 'string') return s;
    } catch {
      // fall through
    }
    throw invalid(`cannot read the quoted string ${text}`);
  }
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text === 'null') return null;
  if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) return Number(text);
  return text;
}

function holds(p: Predicate, value: unknown): boolean {
  let v: unknown = value;
  for (const name of p.path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, name)) return false;
    v = (v as Record<string, unknown>)[name];
  }
  const lit = p.literal;
  switch (p.op) {
    case '=':
      return v === lit;
    case '!=':
      return v !== lit;
    default: {
      if (typeof lit === 'number' ? typeof v !== 'number' : typeof lit !== 'string' || typeof v !== 'string') return false;
      const a = v as number | string;
      const b = lit as number | string;
      if (p.op === '>') return a > b;
      if (p.op === '>=') return a >= b;
      if (p.op === '<') return a < b;
      return a <= b;
    }
  }
}

function invalid(message: string): SluiceError {
  return new SluiceError('INVALID_PARAMETER', `where: ${message}`);
}
