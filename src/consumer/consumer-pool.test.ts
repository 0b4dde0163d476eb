/**
 * ConsumerPool (live feeds) against the fake cluster: one shared consumer for every topic, partitions added
 * and removed as topics gain and lose subscribers, each topic handed only its own records from its exact
 * start offsets, leases, the idle grace, the partition bound, failed starts, shutdown.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import pino from 'pino';
import { ConsumerPool, livePartitionBound, type LiveFeedHooks } from './consumer-pool.js';
import type { Message } from './kafka-reader.js';
import { FakeCluster, Scheduler } from '../../test/helpers/fake-kafka.js';

const log = pino({ level: 'silent' });

function pool(maxPartitions = 4) {
  const sched = new Scheduler();
  const cluster = new FakeCluster(sched);
  for (const t of ['a', 'b', 'c']) cluster.createTopic(t, 2);
  const started: string[] = [];
  const stopped: string[] = [];
  const starts = new Map<string, number[]>();
  const got = new Map<string, Message[]>();
  const hooks: LiveFeedHooks = {
    started: (t, next) => {
      started.push(t);
      starts.set(t, next);
    },
    batch: (t, records) => got.set(t, [...(got.get(t) ?? []), ...records]),
    stopped: (t) => stopped.push(t),
  };
  const p = new ConsumerPool(cluster.newReader, hooks, { startTimeoutMs: 1000, maxPartitions, lingerMs: 0, idleGraceMs: 0 }, log);
  return { sched, cluster, p, started, stopped, starts, got };
}

const polling = (label: string) => label === 'live:read';

describe('ConsumerPool', () => {
  it('one consumer for every topic: each topic is added at its end offsets and gets only its own records, in order', async () => {
    const { sched, cluster, p, starts, got } = pool();
    cluster.append('a', 4); // history: not handed over
    const a = p.acquire('a', 2);
    const b = p.acquire('b', 2);
    await sched.drain(100, polling);
    await Promise.all([a.ready, b.ready]);
    expect(cluster.liveReaders).toHaveLength(1);
    expect(cluster.openReaders().live).toBe(1);
    expect(starts.get('a')).toEqual([2, 2]);
    expect(starts.get('b')).toEqual([0, 0]);
    expect(cluster.liveAssigned()).toEqual(
      new Map([
        ['a', 2],
        ['b', 2],
      ]),
    );
    cluster.append('a', 4);
    cluster.append('b', 2);
    await sched.quiesce(polling, 2);
    expect(got.get('a')!.map((m) => `${m.partition}:${m.offset}`)).toEqual(['0:2', '0:3', '1:2', '1:3']);
    expect(got.get('b')!.map((m) => m.topic)).toEqual(['b', 'b']);
    a.release();
    expect(cluster.liveAssigned()).toEqual(new Map([['b', 2]]));
    cluster.append('a', 2);
    await sched.quiesce(polling, 2);
    expect(got.get('a')).toHaveLength(4);
    b.release();
    await sched.drain();
    expect(p.size).toBe(0);
    expect(p.partitions).toBe(0);
    expect(cluster.openReaders().live).toBe(0);
  });

  it('one feed per topic, shared; released twice counts once; the last release stops it, and the consumer with the last topic', async () => {
    const { sched, cluster, p, started, stopped } = pool();
    const x = p.acquire('a', 2);
    const y = p.acquire('a', 2);
    await sched.drain(100, polling);
    await x.ready;
    expect(started).toEqual(['a']);
    expect(cluster.openReaders().live).toBe(1);
    x.release();
    x.release();
    expect(p.feedTable.get('a')?.refs).toBe(1);
    y.release();
    expect(stopped).toEqual(['a']);
    await sched.drain();
    expect(cluster.openReaders().live).toBe(0);
    // Followed again: a new consumer, connected only once the old one is gone.
    const z = p.acquire('a', 2);
    await sched.drain(100, polling);
    await z.ready;
    expect(cluster.openReaders().live).toBe(1);
    z.release();
    await sched.drain();
    expect(cluster.openReaders().live).toBe(0);
  });

  it('every lease given back while the feed starts: it stops and hands nothing over', async () => {
    const { sched, cluster, p, started } = pool();
    const x = p.acquire('a', 2);
    const outcome = x.ready.then(
      () => 'ready',
      () => 'stopped',
    );
    await sched.step(); // connect
    x.release();
    await sched.drain();
    expect(await outcome).toBe('stopped');
    expect(started).toEqual([]);
    expect(cluster.openReaders().live).toBe(0);
  });

  it('a topic whose partitions are refused fails only its own subscribers', async () => {
    const { sched, cluster, p, got } = pool();
    cluster.refuseAssign.add('b');
    const a = p.acquire('a', 2);
    const b = p.acquire('b', 2);
    const bOutcome = b.ready.catch((err: Error) => err.message);
    await sched.drain(100, polling);
    await a.ready;
    expect(await bOutcome).toMatch(/cannot follow b/);
    expect(p.size).toBe(1);
    expect(p.partitions).toBe(2);
    cluster.append('a', 2);
    await sched.quiesce(polling, 2);
    expect(got.get('a')).toHaveLength(2);
    a.release();
    b.release(); // late release of the failed feed: nothing to give back
    await sched.drain();
    expect(cluster.openReaders().live).toBe(0);
  });

  it('past SLUICE_MAX_LIVE_PARTITIONS a new topic is refused; a failed start frees its place and its late release touches no newer feed', async () => {
    const { sched, cluster, p } = pool(4);
    const a = p.acquire('a', 2);
    const b = p.acquire('b', 2);
    expect(() => p.acquire('c', 2)).toThrow(/SLUICE_MAX_LIVE_PARTITIONS/);
    const bFailed = b.ready.catch(() => 'failed');
    await sched.step(0); // the consumer connects
    const i = sched.labels().indexOf('live:watermarks');
    await sched.step(i + 1, true); // b's watermarks fail
    expect(await bFailed).toBe('failed');
    const again = p.acquire('b', 2);
    b.release();
    expect(p.feedTable.get('b')?.refs).toBe(1);
    for (const lease of [a, again]) lease.release();
    await sched.drain();
    expect(p.size).toBe(0);
    expect(cluster.openReaders().live).toBe(0);
  });

  it('a record fetched under an earlier assignment of a partition is never handed to a newer feed of its topic', async () => {
    const { sched, cluster, p, got, starts } = pool();
    const held = p.acquire('b', 2); // keeps the consumer (and its fetched records) across a's restart
    const a = p.acquire('a', 2);
    await sched.drain(100, polling);
    await a.ready;
    cluster.append('a', 4);
    a.release();
    const again = p.acquire('a', 2);
    await sched.drain(100, polling);
    await again.ready;
    expect(starts.get('a')).toEqual([2, 2]);
    got.delete('a');
    // What librdkafka could still deliver from the old assignment: the same partitions from offset 0.
    cluster.liveReaders[0].assign([
      { topic: 'a', partition: 0, offset: 0 },
      { topic: 'a', partition: 1, offset: 0 },
    ]);
    cluster.append('a', 2);
    await sched.quiesce(polling, 2);
    expect(got.get('a')!.map((m) => `${m.partition}:${m.offset}`)).toEqual(['0:2', '1:2']);
    for (const lease of [again, held]) lease.release();
    await sched.drain();
    expect(cluster.openReaders().live).toBe(0);
  });

  it('a large consumed batch reaches its topic in slices of about 1 MiB, in order, the next read waiting for them', async () => {
    const { sched, cluster, p } = pool();
    const slices: string[][] = [];
    (p as unknown as { hooks: LiveFeedHooks }).hooks.batch = (_t, records) => slices.push(records.map((m) => `${m.partition}:${m.offset}`));
    const a = p.acquire('a', 2);
    await sched.drain(100, polling);
    await a.ready;
    cluster.append('a', 8);
    for (const part of cluster.topics.get('a')!) for (const m of part) m.size = 400_000; // 3.2 MB in one read
    await sched.quiesce(polling, 2);
    expect(slices).toEqual([
      ['0:0', '0:1'],
      ['0:2', '0:3'],
      ['1:0', '1:1'],
      ['1:2', '1:3'],
    ]);
    a.release();
    await sched.drain();
    expect(cluster.openReaders().live).toBe(0);
  });

  it('closeAll stops the consumer after its read, and refuses new leases', async () => {
    const { sched, cluster, p } = pool();
    p.acquire('a', 2);
    p.acquire('b', 2);
    await sched.drain(100, polling);
    const closing = p.closeAll();
    await sched.drain();
    await closing;
    expect(cluster.openReaders().live).toBe(0);
    expect(p.partitions).toBe(0);
    expect(() => p.acquire('a', 2)).toThrow(/shutting down/);
  });

  it('model: for any sequence of acquires, releases, appends and reads, each topic gets exactly its records from its start on', async () => {
    const topics = ['a', 'b', 'c'];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('acquire' as const), topic: fc.constantFrom(...topics) }),
      fc.record({ kind: fc.constant('release' as const), index: fc.nat(20) }),
      fc.record({ kind: fc.constant('append' as const), topic: fc.constantFrom(...topics), count: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('step' as const), index: fc.nat(20) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const { sched, cluster, p, got, starts } = pool(6);
        const leases: { topic: string; release(): void }[] = [];
        // Every run of a topic's feed, from its `started` to its `stopped`, with what it was handed.
        const runs: { topic: string; from: number[]; records: Message[] }[] = [];
        const hooks = (p as unknown as { hooks: LiveFeedHooks }).hooks;
        const { started, batch } = hooks;
        hooks.started = (t, next) => {
          started(t, next);
          runs.push({ topic: t, from: next.slice(), records: [] });
        };
        hooks.batch = (t, records) => {
          batch(t, records);
          [...runs]
            .reverse()
            .find((r) => r.topic === t)!
            .records.push(...records);
        };
        for (const o of ops) {
          if (o.kind === 'acquire') {
            try {
              const lease = p.acquire(o.topic, 2);
              lease.ready.catch(() => {});
              leases.push({ topic: o.topic, release: lease.release });
            } catch {}
          } else if (o.kind === 'release') {
            leases.splice(o.index % Math.max(1, leases.length), 1)[0]?.release();
          } else if (o.kind === 'append') cluster.append(o.topic, o.count);
          else if (sched.pending.length > 0) await sched.step(o.index % sched.pending.length);
          expect(p.partitions).toBeLessThanOrEqual(6);
          expect(cluster.openReaders().live).toBeLessThanOrEqual(1);
        }
        await sched.quiesce(polling, 3);
        for (const r of runs) {
          for (let partition = 0; partition < 2; partition++) {
            const offsets = r.records.filter((m) => m.partition === partition).map((m) => m.offset);
            // In order, no gap, no duplicate, from the start offset on.
            expect(offsets).toEqual(offsets.map((_, i) => r.from[partition] + i));
            for (const m of r.records) expect(m.topic).toBe(r.topic);
          }
        }
        for (const l of leases) l.release();
        await sched.drain();
        expect(p.size).toBe(0);
        expect(cluster.openReaders().live).toBe(0);
        void got;
        void starts;
      }),
      { numRuns: 60 },
    );
  });
});

describe('livePartitionBound', () => {
  it('a quarter of the memory over one fetch per partition', () => {
    expect(livePartitionBound(1 << 20, 24 * 2 ** 30)).toBe(6144);
    expect(livePartitionBound(1 << 20, 512 * 2 ** 20)).toBe(128);
    expect(livePartitionBound(1 << 30, 1 << 20)).toBe(1);
  });
});
