/**
 * The resume window against a model: the topic's whole log (records from before the feed started
 * included). Whatever the window answers must be what Kafka would answer from that log — every record
 * from the start on, in order, none missing — and it must answer whenever its held records allow it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RECORD_OVERHEAD_BYTES, ResumeWindow, type ResumeWindowLimits } from './resume-window.js';
import type { Message } from './kafka-reader.js';

function rec(partition: number, offset: number, bytes = 10, timestamp = 0): Message {
  return { topic: 't', partition, offset, value: Buffer.alloc(bytes), size: bytes, key: null, timestamp };
}

const RECORD = RECORD_OVERHEAD_BYTES + 10;

function windowOf(start: number[], limits: Partial<ResumeWindowLimits>, clock = { t: 0 }) {
  return new ResumeWindow(start, { maxRecords: 1000, maxBytes: 1 << 30, maxAgeMs: 1e9, ...limits }, () => clock.t);
}

describe('resume window bounds', () => {
  it('evicts the oldest past the record bound, and positions move per partition', () => {
    const w = windowOf([0, 5], { maxRecords: 3 });
    w.append([rec(0, 0), rec(1, 5), rec(0, 1), rec(1, 6)]);
    expect(w.size).toBe(3);
    expect(w.oldest()).toEqual([1, 5]); // (0,0) went; partition 1 still holds everything from 5
    expect(w.headPosition()).toEqual([2, 7]);
    expect(w.fromPositions([0, 5])).toBeUndefined(); // (0,0) is gone
    expect(w.fromPositions([1, 5])?.records.map((m) => [m.partition, m.offset])).toEqual([
      [1, 5],
      [0, 1],
      [1, 6],
    ]);
    expect(w.fromPositions([2, 7])?.records).toEqual([]); // at the head: nothing to send, still from memory
    expect(w.fromPositions([3, 7])).toBeUndefined(); // ahead of the head
    expect(w.fromPositions([2])).toBeUndefined(); // a partition the token does not know
  });

  it('evicts the oldest past the byte bound', () => {
    const w = windowOf([0], { maxBytes: 2 * RECORD });
    w.append([rec(0, 0), rec(0, 1), rec(0, 2)]);
    expect(w.size).toBe(2);
    expect(w.bytes).toBe(2 * RECORD);
    expect(w.oldest()).toEqual([1]);
  });

  it('evicts records older than the age bound (since they arrived), also without new records', () => {
    const clock = { t: 0 };
    const w = windowOf([0], { maxAgeMs: 100 }, clock);
    w.append([rec(0, 0)]);
    clock.t = 60;
    w.append([rec(0, 1)]);
    clock.t = 101;
    expect(w.fromPositions([0])).toBeUndefined();
    expect(w.oldest()).toEqual([1]);
    expect(w.fromPositions([1])?.records.map((m) => m.offset)).toEqual([1]);
    clock.t = 161;
    w.evict();
    expect(w.size).toBe(0);
    expect(w.fromPositions([2])?.records).toEqual([]);
  });

  it('with no window (0 records) only the head is inside', () => {
    const w = windowOf([0], { maxRecords: 0 });
    w.append([rec(0, 0), rec(0, 1)]);
    expect(w.size).toBe(0);
    expect(w.fromPositions([1])).toBeUndefined();
    expect(w.fromPositions([2])?.records).toEqual([]);
  });

  it('a time is answered only where nothing below the window could be the answer', () => {
    const w = windowOf([0, 3], {});
    w.append([rec(0, 0, 10, 100), rec(1, 3, 10, 100), rec(0, 1, 10, 200)]);
    // Partition 1 had records before the feed started: their timestamps are unknown.
    expect(w.fromTime(150)).toBeUndefined();
    const fresh = windowOf([0, 0], {});
    fresh.append([rec(0, 0, 10, 100), rec(1, 0, 10, 100), rec(0, 1, 10, 200)]);
    const h = fresh.fromTime(150)!;
    expect(h.start).toEqual([1, 1]);
    expect(h.records.map((m) => [m.partition, m.offset])).toEqual([[0, 1]]);
  });
});

/** One partition's whole log in the model: records before the feed started, then those it read. */
interface Op {
  kind: 'append' | 'tick';
  batch: { partition: number; gap: number; bytes: number; ts: number }[];
  ms: number;
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('append' as const),
    batch: fc.array(fc.record({ partition: fc.nat(2), gap: fc.nat(2), bytes: fc.nat(40), ts: fc.integer({ min: 0, max: 50 }) }), {
      maxLength: 8,
    }),
    ms: fc.constant(0),
  }),
  fc.record({ kind: fc.constant('tick' as const), batch: fc.constant([]), ms: fc.nat(30) }),
);

describe('resume window model (fast-check)', () => {
  it('answers exactly what the whole log holds from a start, whenever it holds all of it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 3 }), { minLength: 3, maxLength: 3 }),
        fc.record({
          maxRecords: fc.integer({ min: 0, max: 12 }),
          maxBytes: fc.integer({ min: 0, max: 600 }),
          maxAgeMs: fc.integer({ min: 0, max: 60 }),
        }),
        fc.array(opArb, { maxLength: 25 }),
        fc.array(fc.tuple(fc.nat(20), fc.nat(20), fc.nat(20)), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 60 }),
        (before, limits, ops, starts, time) => {
          // Records before the feed started (timestamps only: the feed never saw them).
          const log: Message[][] = before.map((tss, p) => tss.map((ts, o) => rec(p, o, 1, ts)));
          const startAt = log.map((l) => l.length);
          const clock = { t: 0 };
          const w = new ResumeWindow(startAt, limits, () => clock.t);
          const read: { m: Message; at: number }[] = []; // what the feed handed over, with arrival times
          for (const op of ops) {
            if (op.kind === 'tick') {
              clock.t += op.ms;
              continue;
            }
            const batch = op.batch.map(({ partition, gap, bytes, ts }) => {
              const l = log[partition];
              const offset = (l.length > 0 ? l[l.length - 1].offset + 1 : 0) + gap;
              const m = rec(partition, offset, bytes, ts);
              l.push(m);
              return m;
            });
            w.append(batch);
            for (const m of batch) read.push({ m, at: clock.t });
          }
          w.evict();
          // Bounds.
          expect(w.size).toBeLessThanOrEqual(limits.maxRecords);
          expect(w.bytes).toBeLessThanOrEqual(limits.maxBytes);
          const head = log.map((l, p) => (l.length > 0 ? l[l.length - 1].offset + 1 : startAt[p]));
          expect(w.headPosition()).toEqual(head);
          // Held: a suffix of what was read, none older than the age bound, and the longest such suffix within the bounds.
          const held = w.fromPositions(w.oldest());
          expect(held).toBeDefined();
          const suffix = read.slice(read.length - w.size);
          expect(held!.records).toEqual(suffix.map((r) => r.m));
          for (const r of suffix) expect(r.at).toBeGreaterThanOrEqual(clock.t - limits.maxAgeMs);
          if (w.size < read.length) {
            const one = read[read.length - w.size - 1];
            const bytes = w.bytes + RECORD_OVERHEAD_BYTES + (one.m.value?.length ?? 0);
            expect(w.size + 1 > limits.maxRecords || bytes > limits.maxBytes || one.at < clock.t - limits.maxAgeMs).toBe(true);
          }
          // Any start: defined exactly when every partition's start lies in [oldest, head]; then the exact history.
          const oldest = w.oldest();
          for (const start of starts) {
            const h = w.fromPositions(start);
            const inside = start.every((s, p) => s >= oldest[p] && s <= head[p]);
            expect(h !== undefined).toBe(inside);
            if (!h) continue;
            const truth = read.map((r) => r.m).filter((m) => m.offset >= start[m.partition]);
            expect(h.records).toEqual(truth);
            expect(h.join).toEqual(head);
          }
          // A time: when answered, Kafka's answer (first offset with timestamp ≥ time, else the head) over the whole log.
          const th = w.fromTime(time);
          if (th) {
            const kafka = log.map((l, p) => l.find((m) => (m.timestamp ?? 0) >= time)?.offset ?? head[p]);
            expect(th.start).toEqual(kafka);
            expect(th.records).toEqual(read.map((r) => r.m).filter((m) => m.offset >= kafka[m.partition]));
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
