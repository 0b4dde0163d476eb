/**
 * Live views: the options that turn a subscription's record stream into a snapshot (`snapshot=`) or into
 * windowed aggregates with optional threshold alerts (`window=`, `hop=`, `grace=`, `agg=`, `by=`, `alert=`).
 * Parsed once into plain data (never `eval`), with bounded sizes; pure, so the socket's thread refuses a bad
 * view with INVALID_PARAMETER before anything reaches Kafka, and the registry parses the same text again
 * when it builds the view's channel. Grammar (documented in docs/live.md, "Live views"):
 *
 *   duration := integer ("ms" | "s" | "m" | "h" | "d")              e.g. 500ms, 10s, 1m, 1h
 *   agg      := item ("," item)*                                    at most 16 items
 *   item     := "count()" | fn "(" path ")"                         fn: sum avg min max last
 *   by       := "key" | path                                        the record key, or a field of the value
 *   alert    := item op number                                      op: > >= < <= = !=
 *   path     := name ("." name)*                                    name: letters, digits, _ or -, up to 8 levels
 */
import { SluiceError } from '../errors.js';

/** The view options as the client sent them (plain strings: they cross threads inside a SubscribeRequest). */
export interface ViewParams {
  window: string;
  hop: string | null;
  grace: string | null;
  agg: string | null;
  by: string | null;
  alert: string | null;
}

export type AggFn = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'last';

export interface AggSpec {
  fn: AggFn;
  /** The value's field; null for count(). */
  path: string[] | null;
  /** The frame field, as written: `avg(temperature)`, `count` for count(). */
  name: string;
}

export type AlertOp = '>' | '>=' | '<' | '<=' | '=' | '!=';

export interface AlertSpec {
  /** Index into `aggs` of the aggregate compared. */
  agg: number;
  op: AlertOp;
  threshold: number;
  text: string;
}

export type GroupBy = { kind: 'key' } | { kind: 'field'; path: string[]; name: string };

export interface ViewSpec {
  sizeMs: number;
  hopMs: number;
  graceMs: number;
  aggs: AggSpec[];
  by: GroupBy | null;
  alert: AlertSpec | null;
  /** Equal views have equal text: subscribers of equal views share one computation. */
  canonical: string;
  /** The record value must be parsed (a field is aggregated or grouped by). */
  needsValue: boolean;
}

export const VIEW_LIMITS = {
  maxAggs: 16,
  maxAggTextLength: 512,
  maxPathDepth: 8,
  /** Windows one record falls into (window / hop): bounds the work per record. */
  maxWindowsPerRecord: 100,
  maxWindowMs: 7 * 86_400_000,
  maxGraceMs: 86_400_000,
  maxSnapshotMs: 30 * 86_400_000,
} as const;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/;
const PATH = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
const ITEM = /^\s*(count|sum|avg|min|max|last)\(\s*([^()]*?)\s*\)\s*$/;
const ALERT = /^\s*([a-z]+\([^()]*\))\s*(>=|<=|!=|==|=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*$/;

export function parseDuration(text: string, option: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw invalid(`${option} must be a duration like 500ms, 10s, 1m, 1h or 1d (got "${text.slice(0, 40)}")`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** `snapshot=<duration>`: how far back the latest record per key is looked for. */
export function parseSnapshot(text: string): number {
  const ms = parseDuration(text, 'snapshot');
  if (ms <= 0 || ms > VIEW_LIMITS.maxSnapshotMs)
    throw invalid(`snapshot must be between 1ms and ${VIEW_LIMITS.maxSnapshotMs / 86_400_000}d`);
  return ms;
}

function parsePath(text: string, what: string): string[] {
  if (!PATH.test(text)) throw invalid(`${what}: "${text.slice(0, 60)}" is not a field path (letters, digits, _ or -, dot-separated)`);
  const path = text.split('.');
  if (path.length > VIEW_LIMITS.maxPathDepth)
    throw invalid(`${what}: field path "${text}" is deeper than ${VIEW_LIMITS.maxPathDepth} levels`);
  return path;
}

function parseItem(text: string): AggSpec {
  const m = ITEM.exec(text);
  if (!m) throw invalid(`agg: cannot read "${text.trim().slice(0, 60)}": expected count() or sum|avg|min|max|last(field)`);
  const fn = m[1] as AggFn;
  if (fn === 'count') {
    if (m[2] !== '') throw invalid('agg: count() takes no field (it counts records)');
    return { fn, path: null, name: 'count' };
  }
  if (m[2] === '') throw invalid(`agg: ${fn}() needs a field, e.g. ${fn}(temperature)`);
  const path = parsePath(m[2], 'agg');
  return { fn, path, name: `${fn}(${path.join('.')})` };
}

export function parseViewSpec(p: ViewParams): ViewSpec {
  const sizeMs = parseDuration(p.window, 'window');
  if (sizeMs <= 0 || sizeMs > VIEW_LIMITS.maxWindowMs)
    throw invalid(`window must be between 1ms and ${VIEW_LIMITS.maxWindowMs / 86_400_000}d`);
  const hopMs = p.hop ? parseDuration(p.hop, 'hop') : sizeMs;
  if (hopMs <= 0 || hopMs > sizeMs) throw invalid('hop must be more than 0 and at most the window (hop = window: tumbling windows)');
  if (Math.ceil(sizeMs / hopMs) > VIEW_LIMITS.maxWindowsPerRecord)
    throw invalid(`window / hop must be at most ${VIEW_LIMITS.maxWindowsPerRecord} (each record falls into that many windows)`);
  const graceMs = p.grace ? parseDuration(p.grace, 'grace') : 0;
  if (graceMs > VIEW_LIMITS.maxGraceMs) throw invalid(`grace must be at most ${VIEW_LIMITS.maxGraceMs / 3_600_000}h`);

  const alertMatch = p.alert ? ALERT.exec(p.alert) : null;
  if (p.alert && !alertMatch)
    throw invalid(`alert: cannot read "${p.alert.slice(0, 60)}": expected aggregate op number, e.g. avg(temperature)>50`);
  const alertItem = alertMatch ? parseItem(alertMatch[1]) : null;

  const aggText = p.agg ?? (alertItem ? alertItem.name : 'count()');
  if (aggText.length > VIEW_LIMITS.maxAggTextLength) throw invalid(`agg is longer than ${VIEW_LIMITS.maxAggTextLength} characters`);
  const items = aggText.split(/,(?![^(]*\))/);
  if (items.length > VIEW_LIMITS.maxAggs) throw invalid(`agg has more than ${VIEW_LIMITS.maxAggs} aggregates`);
  const aggs: AggSpec[] = [];
  for (const item of items) {
    const a = parseItem(item);
    if (!aggs.some((b) => b.name === a.name)) aggs.push(a);
  }

  let alert: AlertSpec | null = null;
  if (alertMatch && alertItem) {
    const agg = aggs.findIndex((a) => a.name === alertItem.name);
    if (agg < 0) throw invalid(`alert compares ${alertItem.name}, which agg= does not list`);
    const op = (alertMatch[2] === '==' ? '=' : alertMatch[2]) as AlertOp;
    const threshold = Number(alertMatch[3]);
    alert = { agg, op, threshold, text: `${alertItem.name}${op}${threshold}` };
  }

  let by: GroupBy | null = null;
  if (p.by) {
    if (p.by === 'key') by = { kind: 'key' };
    else {
      const path = parsePath(p.by, 'by');
      by = { kind: 'field', path, name: path.join('.') };
    }
  }
  const canonical = `window=${sizeMs};hop=${hopMs};grace=${graceMs};by=${by === null ? '' : by.kind === 'key' ? 'key()' : by.name};agg=${aggs.map((a) => a.name).join(',')};alert=${alert?.text ?? ''}`;
  const needsValue = by?.kind === 'field' || aggs.some((a) => a.path !== null);
  return { sizeMs, hopMs, graceMs, aggs, by, alert, canonical, needsValue };
}

/** Reads a field path of a parsed JSON value (undefined when any step is missing). */
export function fieldAt(value: unknown, path: readonly string[]): unknown {
  let v = value;
  for (const name of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, name)) return undefined;
    v = (v as Record<string, unknown>)[name];
  }
  return v;
}

function invalid(message: string): SluiceError {
  return new SluiceError('INVALID_PARAMETER', message);
}
