/**
 * Server-side subscription filters: `key=<key>` (exact record key) and `where=<predicates>` on the JSON
 * value. Parsed once per subscription into a closure over plain comparisons: never `eval`, bounded length.
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

export interface RecordFilter {
  /** Same filter, same text: subscribers with equal filters share one channel. */
  readonly canonical: string;
  /** True when the value must be parsed (a `where` is set). */
  readonly needsValue: boolean;
  matches(key: string | null, value: unknown): boolean;
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
  const canonicalParts: string[] = [];
  if (hasKey) canonicalParts.push(`key=${JSON.stringify(key)}`);
  if (predicates.length)
    canonicalParts.push(`where=${predicates.map((p) => `${p.path.join('.')}${p.op}${JSON.stringify(p.literal)}`).join(',')}`);
  const wantedKey = hasKey ? key : null;
  return {
    canonical: canonicalParts.join(';'),
    needsValue: predicates.length > 0,
    matches(recordKey, value) {
      if (wantedKey !== null && recordKey !== wantedKey) return false;
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
