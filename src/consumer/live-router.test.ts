/**
 * The live router against its model: for random channels (no filter, one or several keys, `where` with
 * and without an indexable `field=value`, keys with `where`), added and removed between random batches,
 * every channel reached gets exactly the records its filter selects, in record order, and a channel that
 * selects nothing is not reached.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LiveRouter } from './live-router.js';
import { joinKeyList, parseRecordFilter, type RecordFilter } from '../subscription/record-filter.js';

interface Ch {
  id: number;
  filter: RecordFilter | null;
}

const KEYS = ['a', 'b', 'c', 'd,e', 'f'];
const keyArb = fc.option(fc.constantFrom(...KEYS), { nil: null });
const valueArb = fc.oneof(
  fc.record({ s: fc.constantFrom('x', 'y', '1'), n: fc.integer({ min: -2, max: 3 }), t: fc.boolean() }, { requiredKeys: [] }),
  fc.constantFrom(null, 7, 'text', [1], { s: { nested: 1 } }),
);
const whereArb = fc.constantFrom(
  's=x',
  's=1',
  'n=1',
  'n=0',
  't=true',
  'n>0',
  's!=x',
  'n=1,s=x',
  'n>=1,t=false',
  'n<2',
  's="y"',
  'missing=null',
);
const filterArb = fc.oneof(
  fc.constant({ key: null as string | null, where: null as string | null }),
  fc.record({ key: fc.uniqueArray(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 3 }).map(joinKeyList), where: fc.constant(null) }),
  fc.record({ key: fc.constant(null), where: whereArb }),
  fc.record({ key: fc.uniqueArray(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 3 }).map(joinKeyList), where: whereArb }),
);
const stepArb = fc.oneof(
  fc.record({ op: fc.constant('add' as const), filter: filterArb }),
  fc.record({ op: fc.constant('remove' as const), which: fc.nat() }),
  fc.record({ op: fc.constant('batch' as const), records: fc.array(fc.tuple(keyArb, valueArb), { maxLength: 30 }) }),
);

describe('live router', () => {
  it('every channel gets exactly the records its filter selects, in order', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 40 }), (steps) => {
        const router = new LiveRouter<Ch>();
        const channels: Ch[] = [];
        let next = 0;
        for (const step of steps) {
          if (step.op === 'add') {
            const ch = { id: next++, filter: parseRecordFilter(step.filter.key, step.filter.where) };
            channels.push(ch);
            router.add(ch);
          } else if (step.op === 'remove') {
            if (channels.length === 0) continue;
            const [ch] = channels.splice(step.which % channels.length, 1);
            router.remove(ch);
          } else {
            const recs = step.records;
            expect(router.needsValues).toBe(channels.some((c) => c.filter?.needsValue));
            const routed = router.route(
              recs.length,
              (i) => recs[i][0],
              (i) => recs[i][1],
            );
            const got = new Map<number, number[]>();
            for (const r of routed) {
              expect(got.has(r.channel.id), 'a channel is reached once per batch').toBe(false);
              got.set(r.channel.id, r.selection ?? recs.map((_, i) => i));
            }
            for (const ch of channels) {
              const want = recs.flatMap(([k, v], i) => (ch.filter === null || ch.filter.matches(k, v) ? [i] : []));
              if (want.length === 0) expect(got.has(ch.id), `channel ${ch.id} reached with nothing`).toBe(false);
              else expect(got.get(ch.id), `channel ${ch.id} (${ch.filter?.canonical ?? 'all'})`).toEqual(want);
            }
            for (const id of got.keys())
              expect(
                channels.some((c) => c.id === id),
                'a removed channel is not reached',
              ).toBe(true);
          }
        }
        for (const ch of channels) router.remove(ch);
        expect(router.size).toBe(0);
        expect(router.needsValues).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('a record meets only the channels of its key: the work does not grow with the keys subscribed', () => {
    const router = new LiveRouter<Ch>();
    let checks = 0;
    for (let i = 0; i < 5000; i++) {
      const f = parseRecordFilter(`dev-${i}`, null)!;
      // Count the filter checks: a key-indexed channel without where is never checked at all.
      router.add({ id: i, filter: { ...f, matches: (k, v) => (checks++, f.matches(k, v)) } });
    }
    const routed = router.route(3, (i) => `dev-${i * 7}`, null);
    expect(routed.map((r) => [r.channel.id, r.selection])).toEqual([
      [0, [0]],
      [7, [1]],
      [14, [2]],
    ]);
    expect(checks).toBe(0);
  });
});
