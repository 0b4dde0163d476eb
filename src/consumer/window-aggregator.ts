/**
 * One windowed view's computation (`window=`, `hop=`, `grace=`, `agg=`, `by=`, `alert=`; spec in
 * src/subscription/view-spec.ts), hand-written as the native-libs guide says: bucket by event time
 * (the Kafka record timestamp), a watermark with a grace period, emit on close.
 *
 * Contract (the reference test `window-aggregator.test.ts` states it again in plain code):
 *   - Windows start at multiples of the hop: a record at `ts` belongs to every [s, s + window) holding it.
 *   - The watermark is the largest timestamp seen so far (over all partitions). A window is closed once
 *     `end + grace <= watermark`; the watermark moves with each record before that record is placed.
 *   - A record is placed in each of its windows still open; if one or more of them were closed it is
 *     counted once as late (`late`, exported as `sluice_window_late_records_total`), never silently lost.
 *   - `flush()` emits every newly closed window, ordered by end, then start, then first appearance of the
 *     group, as one `{"event":"window",…}` frame per (window, group), each followed by an alert frame when
 *     the group's alert state changes (firing on crossing, resolved on recovery; no repeat while it holds).
 *   - count(): records in the cell. sum/avg/min/max: over the numeric values of the field (null when there
 *     is none). last(f): the field's value of the record with the largest timestamp (ties: the later one).
 * Event time only moves with records: the newest windows close when a later record arrives.
 * Bounds (each a ViewLimitError, which ends the view's subscriptions with VIEW_TOO_LARGE): groups in
 * one window, open windows, groups with a firing alert.
 */
import { SluiceError } from '../errors.js';
import { alertFrame, windowFrame, windowHead } from '../subscription/frames.js';
import { fieldAt, type AlertSpec, type ViewSpec } from '../subscription/view-spec.js';

export interface ViewLimits {
  maxGroups: number;
  maxOpenWindows: number;
}

interface Cell {
  byValue: unknown;
  count: number;
  /** Per aggregate: numeric values seen (sum/avg/min/max) or the last value's timestamp (last). */
  n: number[];
  acc: number[];
  last: unknown[];
}

export class WindowAggregator {
  /** Window start → group text → cell, in first-appearance order. */
  private readonly windows = new Map<number, Map<string, Cell>>();
  private watermark = -Infinity;
  /** Groups whose alert is firing. */
  private readonly firing = new Set<string>();
  /** Records counted late since the last `takeLate()`. */
  private late = 0;
  private readonly topicJson: string;
  /** The grouping's name in frames' `by` (`key` or the field's name; null: one group). */
  private readonly byName: string | null;

  constructor(
    private readonly spec: ViewSpec,
    topic: string,
    private readonly limits: ViewLimits,
  ) {
    this.topicJson = JSON.stringify(topic);
    this.byName = spec.by === null ? null : spec.by.kind === 'key' ? 'key' : spec.by.name;
  }

  get openWindows(): number {
    return this.windows.size;
  }

  /** One record. `key`: the record key (or SLUICE_KEY_FIELD's value); `value`: the parsed JSON value. Throws a ViewLimitError at a bound. */
  add(ts: number, key: string | null, value: unknown): void {
    const { sizeMs, hopMs, graceMs, by } = this.spec;
    if (ts > this.watermark) this.watermark = ts;
    const byValue = by === null ? null : by.kind === 'key' ? key : (fieldAt(value, by.path) ?? null);
    const group = by === null ? '' : JSON.stringify(byValue);
    let missed = false;
    // Starts s = k * hop with s <= ts < s + size, newest first.
    for (let s = Math.floor(ts / hopMs) * hopMs; s > ts - sizeMs; s -= hopMs) {
      if (s + sizeMs + graceMs <= this.watermark) {
        missed = true;
        continue;
      }
      let cells = this.windows.get(s);
      if (!cells) {
        if (this.windows.size >= this.limits.maxOpenWindows) {
          throw new ViewLimitError(
            `the view has ${this.windows.size} windows open (SLUICE_VIEW_MAX_OPEN_WINDOWS); use a shorter grace or a larger hop`,
          );
        }
        this.windows.set(s, (cells = new Map()));
      }
      let cell = cells.get(group);
      if (!cell) {
        if (cells.size >= this.limits.maxGroups) {
          throw new ViewLimitError(
            `a window of the view has more than ${this.limits.maxGroups} groups (SLUICE_VIEW_MAX_GROUPS); group by a field with fewer values, or filter with where=`,
          );
        }
        const k = this.spec.aggs.length;
        cells.set(
          group,
          (cell = {
            byValue,
            count: 0,
            n: new Array<number>(k).fill(0),
            acc: new Array<number>(k).fill(0),
            last: new Array<unknown>(k).fill(null),
          }),
        );
      }
      this.place(cell, ts, value);
    }
    if (missed) this.late++;
  }

  /** Frames of the windows closed since the last flush (window frames and alert transitions). */
  flush(): string[] {
    const closed: number[] = [];
    const { sizeMs, graceMs } = this.spec;
    for (const s of this.windows.keys()) if (s + sizeMs + graceMs <= this.watermark) closed.push(s);
    if (closed.length === 0) return [];
    closed.sort((a, b) => a - b); // one size: ordered by start is ordered by end
    const frames: string[] = [];
    for (const s of closed) {
      const cells = this.windows.get(s)!;
      this.windows.delete(s);
      for (const [group, cell] of cells) {
        const head = windowHead(this.topicJson, s, s + sizeMs, this.byName, cell.byValue);
        const aggregates: [string, unknown][] = [];
        for (let i = 0; i < this.spec.aggs.length; i++) {
          const a = this.spec.aggs[i];
          if (a.fn !== 'count') aggregates.push([a.name, this.result(cell, i)]);
        }
        frames.push(windowFrame(head, cell.count, aggregates));
        const alert = this.spec.alert;
        if (alert) {
          const v = this.result(cell, alert.agg);
          const now = holds(alert, v);
          if (now !== this.firing.has(group)) {
            if (now) {
              if (this.firing.size >= this.limits.maxGroups)
                throw new ViewLimitError(
                  `more than ${this.limits.maxGroups} groups of the view have a firing alert (SLUICE_VIEW_MAX_GROUPS)`,
                );
              this.firing.add(group);
            } else this.firing.delete(group);
            frames.push(alertFrame(head, now, alert.text, this.spec.aggs[alert.agg].name, v));
          }
        }
      }
    }
    return frames;
  }

  /** Late records counted since the last call. */
  takeLate(): number {
    const n = this.late;
    this.late = 0;
    return n;
  }

  private place(cell: Cell, ts: number, value: unknown): void {
    cell.count++;
    const aggs = this.spec.aggs;
    for (let i = 0; i < aggs.length; i++) {
      const a = aggs[i];
      if (a.path === null) continue;
      const v = fieldAt(value, a.path);
      if (a.fn === 'last') {
        if (v !== undefined && (cell.n[i] === 0 || ts >= cell.acc[i])) {
          cell.n[i] = 1;
          cell.acc[i] = ts;
          cell.last[i] = v;
        }
        continue;
      }
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      if (cell.n[i] === 0) cell.acc[i] = v;
      else if (a.fn === 'min') cell.acc[i] = Math.min(cell.acc[i], v);
      else if (a.fn === 'max') cell.acc[i] = Math.max(cell.acc[i], v);
      else cell.acc[i] += v;
      cell.n[i]++;
    }
  }

  private result(cell: Cell, i: number): unknown {
    const a = this.spec.aggs[i];
    if (a.fn === 'count') return cell.count;
    if (a.fn === 'last') return cell.n[i] === 0 ? null : cell.last[i];
    if (cell.n[i] === 0) return null;
    return a.fn === 'avg' ? cell.acc[i] / cell.n[i] : cell.acc[i];
  }
}

function holds(alert: AlertSpec, v: unknown): boolean {
  if (typeof v !== 'number') return false;
  const t = alert.threshold;
  switch (alert.op) {
    case '>':
      return v > t;
    case '>=':
      return v >= t;
    case '<':
      return v < t;
    case '<=':
      return v <= t;
    case '=':
      return v === t;
    default:
      return v !== t;
  }
}

/** A view passed one of its bounds; its subscriptions end with VIEW_TOO_LARGE. */
export class ViewLimitError extends SluiceError {
  constructor(message: string) {
    super('VIEW_TOO_LARGE', message);
  }
}
