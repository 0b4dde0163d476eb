/**
 * The plain reference computation of windowed views (the contract in src/consumer/window-aggregator.ts,
 * written out without the engine's data structures): every record's windows, the watermark, lateness,
 * aggregates over field `x`, grouping by key or field `g` (or the field named in `by`), and alert transitions.
 * Used by the engine's fast-check test and the integration test against the broker.
 */
import type { ViewSpec } from '../../src/subscription/view-spec.js';

export interface Rec {
  ts: number;
  key: string | null;
  value: Record<string, unknown>;
}

/** The reference: every record's windows, the watermark, lateness and aggregates, written out plainly. */
export function reference(spec: ViewSpec, topic: string, records: Rec[], field = 'x'): { frames: unknown[]; late: number } {
  const xOf = (r: Rec) => fieldOf(r.value, [field]);
  let wm = -Infinity;
  let late = 0;
  const cells = new Map<number, Map<string, { by: unknown; recs: Rec[] }>>();
  for (const r of records) {
    wm = Math.max(wm, r.ts);
    let missed = false;
    const starts: number[] = [];
    for (let s = Math.floor(r.ts / spec.hopMs) * spec.hopMs; s + spec.sizeMs > r.ts; s -= spec.hopMs) starts.push(s);
    for (const s of starts) {
      if (s + spec.sizeMs + spec.graceMs <= wm) {
        missed = true;
        continue;
      }
      const by = spec.by === null ? null : spec.by.kind === 'key' ? r.key : (fieldOf(r.value, spec.by.path) ?? null);
      const group = spec.by === null ? '' : JSON.stringify(by);
      if (!cells.has(s)) cells.set(s, new Map());
      const w = cells.get(s)!;
      if (!w.has(group)) w.set(group, { by, recs: [] });
      w.get(group)!.recs.push(r);
    }
    if (missed) late++;
  }
  const frames: unknown[] = [];
  const firing = new Set<string>();
  for (const s of [...cells.keys()].sort((a, b) => a - b)) {
    if (s + spec.sizeMs + spec.graceMs > wm) continue;
    for (const [group, { by, recs }] of cells.get(s)!) {
      const frame: Record<string, unknown> = { event: 'window', topic, start: s, end: s + spec.sizeMs };
      frame.by = spec.by === null ? {} : { [spec.by.kind === 'key' ? 'key' : spec.by.name]: by };
      frame.count = recs.length;
      const nums = recs.map((r) => xOf(r)).filter((x): x is number => typeof x === 'number');
      const values: Record<string, unknown> = { count: recs.length };
      for (const a of spec.aggs) {
        let v: unknown;
        if (a.fn === 'count') v = recs.length;
        else if (a.fn === 'last') {
          let best: Rec | undefined;
          for (const r of recs) if (xOf(r) !== undefined && (best === undefined || r.ts >= best.ts)) best = r;
          v = best === undefined ? null : xOf(best);
        } else if (nums.length === 0) v = null;
        else if (a.fn === 'sum') v = nums.reduce((p, c) => p + c);
        else if (a.fn === 'avg') v = nums.reduce((p, c) => p + c) / nums.length;
        else if (a.fn === 'min') v = nums.reduce((p, c) => Math.min(p, c));
        else v = nums.reduce((p, c) => Math.max(p, c));
        values[a.name] = v;
        if (a.fn !== 'count') frame[a.name] = v;
      }
      frames.push(frame);
      if (spec.alert) {
        const v = values[spec.aggs[spec.alert.agg].name];
        const t = spec.alert.threshold;
        const op = spec.alert.op;
        const now =
          typeof v === 'number' &&
          (op === '>' ? v > t : op === '>=' ? v >= t : op === '<' ? v < t : op === '<=' ? v <= t : op === '=' ? v === t : v !== t);
        if (now !== firing.has(group)) {
          if (now) firing.add(group);
          else firing.delete(group);
          frames.push({
            event: 'alert',
            topic,
            start: s,
            end: s + spec.sizeMs,
            by: frame.by,
            state: now ? 'firing' : 'resolved',
            alert: spec.alert.text,
            [spec.aggs[spec.alert.agg].name]: v,
          });
        }
      }
    }
  }
  return { frames, late };
}

function fieldOf(value: Record<string, unknown>, path: string[]): unknown {
  let v: unknown = value;
  for (const name of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, name)) return undefined;
    v = (v as Record<string, unknown>)[name];
  }
  return v;
}
