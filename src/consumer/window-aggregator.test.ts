/**
 * The window engine against a plain reference computation (fast-check: random records, windows, hops,
 * graces, groupings, alerts and batch splits): the frames Sluice emits equal the frames the reference
 * derives from the contract in window-aggregator.ts, and so does the late count. Plus the view grammar's
 * refusals and the engine's bounds.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WindowAggregator, ViewLimitError } from './window-aggregator.js';
import { parseViewSpec, type ViewParams, type ViewSpec } from '../subscription/view-spec.js';
import { reference, type Rec } from '../../test/helpers/window-reference.js';

const LIMITS = { maxGroups: 1000, maxOpenWindows: 10_000 };

const record: fc.Arbitrary<Rec> = fc.record({
  ts: fc.integer({ min: 0, max: 400 }),
  key: fc.option(fc.constantFrom('k1', 'k2', 'k3'), { nil: null }),
  value: fc.record(
    {
      g: fc.constantFrom('a', 'b', 'c'),
      x: fc.oneof(
        fc.integer({ min: -50, max: 100 }),
        fc.double({ min: -10, max: 10, noNaN: true }),
        fc.constant('text'),
        fc.constant(undefined),
      ),
    },
    { requiredKeys: [] },
  ),
});

const params: fc.Arbitrary<ViewParams> = fc
  .record({
    size: fc.integer({ min: 1, max: 60 }),
    hopDiv: fc.integer({ min: 1, max: 5 }),
    grace: fc.integer({ min: 0, max: 40 }),
    by: fc.constantFrom(null, 'key', 'g'),
    alert: fc.constantFrom(null, 'avg(x)>20', 'max(x)>=90', 'count()<2', 'sum(x)!=0'),
  })
  .map(({ size, hopDiv, grace, by, alert }) => ({
    window: `${size}ms`,
    hop: `${Math.max(1, Math.floor(size / hopDiv))}ms`,
    grace: grace ? `${grace}ms` : null,
    agg: 'count(),sum(x),avg(x),min(x),max(x),last(x)',
    by,
    alert,
  }));

/** Feeds the engine in batches of the given sizes (then the rest), flushing after each batch as the registry does. */
function run(spec: ViewSpec, records: Rec[], sizes: number[]): { frames: unknown[]; late: number } {
  const engine = new WindowAggregator(spec, 't', LIMITS);
  const frames: unknown[] = [];
  let late = 0;
  let i = 0;
  for (const size of [...sizes, records.length]) {
    for (const r of records.slice(i, i + size)) engine.add(r.ts, r.key, r.value);
    i += size;
    for (const f of engine.flush()) frames.push(JSON.parse(f));
    late += engine.takeLate();
  }
  return { frames, late };
}

describe('window engine = reference computation', () => {
  it('tumbling and hopping windows, grace, late records, groups, every aggregate and alerts, over random batches', () => {
    fc.assert(
      fc.property(
        params,
        fc.array(record, { maxLength: 120 }),
        fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 8 }),
        (p, records, cuts) => {
          const spec = parseViewSpec(p);
          const got = run(spec, records, cuts);
          const want = reference(spec, 't', records);
          // Compared as the wire carries them: JSON has no -0 (JSON.stringify(-0) is "0"), the reference's objects do.
          expect(got.frames).toEqual(JSON.parse(JSON.stringify(want.frames)));
          expect(got.late).toBe(want.late);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('a worked example: 10 s tumbling windows by device, avg and max, an alert entering and leaving, a late record', () => {
    const spec = parseViewSpec({
      window: '10s',
      hop: null,
      grace: '2s',
      agg: 'avg(temperature),max(temperature)',
      by: 'device_id',
      alert: 'avg(temperature)>50',
    });
    const e = new WindowAggregator(spec, 'sensors', LIMITS);
    const add = (ts: number, temperature: number) => e.add(ts, null, { device_id: 'd1', temperature });
    add(1_000, 40);
    add(5_000, 70); // window [0, 10 s): avg 55
    add(11_500, 10); // watermark 11.5 s: [0, 10 s) still open (grace 2 s)
    add(9_000, 80); // within grace: counted in [0, 10 s): avg 63.33
    expect(e.flush()).toEqual([]);
    add(12_500, 10); // watermark 12.5 s >= 10 s + 2 s: [0, 10 s) closes
    expect(e.flush()).toEqual([
      '{"event":"window","topic":"sensors","start":0,"end":10000,"by":{"device_id":"d1"},"count":3,"avg(temperature)":63.333333333333336,"max(temperature)":80}',
      '{"event":"alert","topic":"sensors","start":0,"end":10000,"by":{"device_id":"d1"},"state":"firing","alert":"avg(temperature)>50","avg(temperature)":63.333333333333336}',
    ]);
    add(8_000, 99); // beyond grace: late, counted
    expect(e.takeLate()).toBe(1);
    add(25_000, 20); // closes [10 s, 20 s): avg 10, the alert resolves
    expect(e.flush().map((f) => JSON.parse(f).state ?? JSON.parse(f).event)).toEqual(['window', 'resolved']);
  });
});

describe('bounds and grammar', () => {
  it('groups per window and open windows are bounded with VIEW_TOO_LARGE', () => {
    const spec = parseViewSpec({ window: '1s', hop: null, grace: null, agg: null, by: 'g', alert: null });
    const e = new WindowAggregator(spec, 't', { maxGroups: 2, maxOpenWindows: 3 });
    e.add(0, null, { g: 1 });
    e.add(0, null, { g: 2 });
    expect(() => e.add(0, null, { g: 3 })).toThrow(ViewLimitError);
    const w = new WindowAggregator(parseViewSpec({ window: '10s', hop: '1s', grace: '1h', agg: null, by: null, alert: null }), 't', {
      maxGroups: 10,
      maxOpenWindows: 3,
    });
    try {
      w.add(0, null, {});
      w.add(5000, null, {});
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ViewLimitError);
      expect((err as ViewLimitError).code).toBe('VIEW_TOO_LARGE');
    }
  });

  it('refuses what it cannot read, naming the problem', () => {
    const v = (o: Partial<ViewParams>): ViewParams => ({ window: '10s', hop: null, grace: null, agg: null, by: null, alert: null, ...o });
    expect(() => parseViewSpec(v({ window: '10 parsecs' }))).toThrow(/window must be a duration/);
    expect(() => parseViewSpec(v({ hop: '20s' }))).toThrow(/hop must be/);
    expect(() => parseViewSpec(v({ window: '1d', hop: '1s' }))).toThrow(/window \/ hop/);
    expect(() => parseViewSpec(v({ agg: 'median(x)' }))).toThrow(/agg: cannot read/);
    expect(() => parseViewSpec(v({ agg: 'avg()' }))).toThrow(/needs a field/);
    expect(() => parseViewSpec(v({ agg: Array.from({ length: 17 }, (_, i) => `sum(f${i})`).join(',') }))).toThrow(/more than 16/);
    expect(() => parseViewSpec(v({ agg: 'avg(x)', alert: 'max(x)>1' }))).toThrow(/does not list/);
    expect(() => parseViewSpec(v({ alert: 'avg(x) > fifty' }))).toThrow(/alert: cannot read/);
    expect(() => parseViewSpec(v({ by: 'a.b.c.d.e.f.g.h.i' }))).toThrow(/deeper than 8/);
    expect(() => parseViewSpec(v({ agg: 'sum(constructor)+1' }))).toThrow(/agg: cannot read/);
    // agg defaults to the alert's aggregate, or count().
    expect(parseViewSpec(v({ alert: 'avg(temperature)>50' })).aggs.map((a) => a.name)).toEqual(['avg(temperature)']);
    expect(parseViewSpec(v({})).canonical).toBe(parseViewSpec(v({ agg: 'count()', hop: '10s', grace: '0s' })).canonical);
  });
});
