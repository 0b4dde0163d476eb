/**
 * Conflation against its promises, over random batches and interval ends (the timer is driven by the test):
 * at most one frame per key per interval; each key's latest record is sent by the end of the interval after
 * it arrived; frames of a key never go back in time; tokens never go backwards, never come before a record
 * already sent (resuming sends nothing twice) and never skip a record still held; close() releases the timer.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Conflation, type HeldRecord } from './conflation.js';
import { decodeResumeToken } from '../subscription/resume-token.js';

const PARTITIONS = 3;
const partitionOf = (key: string | null) => (key === null ? 0 : key.charCodeAt(0) % PARTITIONS);

function setup(intervalMs = 100) {
  const live = new Array<number>(PARTITIONS).fill(0);
  const sent: { fields: string; token: number[]; interval: number }[] = [];
  let timer: (() => void) | null = null;
  let interval = 0;
  const c = new Conflation({
    intervalMs,
    livePosition: () => live,
    emit: (fields, tokens) => {
      for (let i = 0; i < fields.length; i++) sent.push({ fields: fields[i], token: decodeResumeToken(tokens[i])!, interval });
    },
    setTimer: (fn) => {
      expect(timer, 'one timer at a time').toBeNull();
      timer = fn;
      return fn;
    },
    clearTimer: () => {
      timer = null;
    },
  });
  return {
    c,
    sent,
    live,
    get armed() {
      return timer !== null;
    },
    /** Records (key, value) arrive: they take the next offsets of their partitions. */
    batch(recs: [string | null, number][]) {
      const held: HeldRecord[] = [];
      for (const [k, v] of recs) {
        const p = partitionOf(k);
        held.push({ fields: JSON.stringify({ k, v, p, o: live[p] }), partition: p, offset: live[p]++ });
      }
      c.offer(
        recs.map((r) => r[0]),
        held,
      );
    },
    tick() {
      const fn = timer;
      timer = null;
      interval++;
      fn?.();
    },
  };
}

const recArb = fc.tuple(fc.option(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { nil: null }), fc.nat(1000));
const stepArb = fc.oneof(fc.array(recArb, { minLength: 1, maxLength: 8 }), fc.constant('tick' as const));

describe('conflation', () => {
  it('keeps its promises over random batches and intervals', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 40 }), (steps) => {
        const env = setup();
        const all: { k: string | null; p: number; o: number }[] = [];
        for (const step of steps) {
          if (step === 'tick') env.tick();
          else {
            const before = env.live.slice();
            env.batch(step);
            for (const [k] of step) {
              const p = partitionOf(k);
              all.push({ k, p, o: before[p]++ });
            }
          }
        }
        // Two more interval ends send whatever is held, and then the timer stops.
        env.tick();
        env.tick();
        expect(env.armed).toBe(false);
        const frames = env.sent.map((s) => ({ ...(JSON.parse(s.fields) as { k: string | null; p: number; o: number }), ...s }));
        // At most one frame per key per interval.
        const perInterval = new Map<string, number>();
        for (const f of frames) {
          const id = `${f.interval}/${f.k}`;
          perInterval.set(id, (perInterval.get(id) ?? 0) + 1);
        }
        for (const [id, n] of perInterval) expect(n, id).toBe(1);
        // Each key's latest record was sent; a key's frames go forward.
        for (const k of new Set(all.map((r) => r.k))) {
          const mine = frames.filter((f) => f.k === k);
          const last = all.filter((r) => r.k === k).at(-1)!;
          expect(mine.at(-1)).toMatchObject({ p: last.p, o: last.o });
          for (let i = 1; i < mine.length; i++) expect(mine[i].o).toBeGreaterThan(mine[i - 1].o);
        }
        // Tokens: monotone; after every record sent so far.
        for (let j = 0; j < frames.length; j++) {
          const t = frames[j].token;
          if (j > 0) for (let p = 0; p < PARTITIONS; p++) expect(t[p]).toBeGreaterThanOrEqual(frames[j - 1].token[p]);
          for (let i = 0; i <= j; i++) expect(t[frames[i].p]).toBeGreaterThan(frames[i].o);
        }
        // The last token is the live position: every record was sent or superseded.
        if (frames.length > 0) expect(frames.at(-1)!.token).toEqual(env.live);
      }),
      { numRuns: 300 },
    );
  });

  it('the first record of a key goes at once, the latest of the interval at its end', () => {
    const env = setup();
    env.batch([
      ['a', 1],
      ['a', 2],
      ['b', 1],
    ]);
    // Within one batch the latest of each key goes: a=2 and b=1.
    expect(env.sent.map((s) => JSON.parse(s.fields).v)).toEqual([2, 1]);
    env.batch([
      ['a', 3],
      ['a', 4],
    ]);
    expect(env.sent).toHaveLength(2);
    env.tick();
    expect(env.sent.map((s) => JSON.parse(s.fields).v)).toEqual([2, 1, 4]);
    expect(env.armed).toBe(true); // a is still in the table for this interval
    env.tick();
    expect(env.armed).toBe(false);
    expect(env.c.keys).toBe(0);
  });

  it('a held record not yet sent keeps the token before it', () => {
    const env = setup();
    env.batch([['a', 1]]); // a: partition 1, offset 0; sent
    env.batch([['a', 2]]); // a: offset 1; held
    env.batch([['b', 1]]); // b: partition 2, offset 0; sent, while a@1 is held
    const t = env.sent.at(-1)!.token;
    expect(t[1]).toBe(1); // resuming from b's frame still gets a@1
    expect(t[2]).toBe(1);
  });

  it('past its key bound, records of new keys go unconflated and the table does not grow', () => {
    const sent: string[] = [];
    const c = new Conflation({
      intervalMs: 100,
      maxKeys: 2,
      livePosition: () => [100],
      emit: (fields) => sent.push(...fields),
      setTimer: () => 1,
      clearTimer: () => {},
    });
    const rec = (o: number) => ({ fields: String(o), partition: 0, offset: o });
    c.offer(['a', 'b', 'c', 'c'], [rec(0), rec(1), rec(2), rec(3)]);
    c.offer(['c', 'a'], [rec(4), rec(5)]);
    expect(sent).toEqual(['0', '1', '3', '4']);
    expect(c.keys).toBe(2);
  });

  it('close() clears the timer and sends nothing more', () => {
    const env = setup();
    env.batch([['a', 1]]);
    env.batch([['a', 2]]);
    expect(env.armed).toBe(true);
    env.c.close();
    expect(env.armed).toBe(false);
    env.batch([['a', 3]]);
    expect(env.sent).toHaveLength(1);
  });
});
