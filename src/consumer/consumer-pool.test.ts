/** ConsumerPool (live feeds) against a fake reader: leases, the idle grace, the bound, failed starts, shutdown. */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { ConsumerPool, type LiveFeedHooks } from './consumer-pool.js';
import { FakeCluster, Scheduler } from '../../test/helpers/fake-kafka.js';

const log = pino({ level: 'silent' });

function pool(maxTopics = 2) {
  const sched = new Scheduler();
  const cluster = new FakeCluster(sched);
  for (const t of ['a', 'b', 'c']) cluster.createTopic(t, 2);
  const started: string[] = [];
  const stopped: string[] = [];
  const hooks: LiveFeedHooks = { started: (t) => started.push(t), batch: () => {}, stopped: (t) => stopped.push(t) };
  const p = new ConsumerPool(cluster.newReader, hooks, { timeoutMs: 1000, maxTopics, lingerMs: 0, idleGraceMs: 0 }, log);
  return { sched, cluster, p, started, stopped };
}

const polling = (label: string) => label === 'live:read';

describe('ConsumerPool', () => {
  it('one feed per topic, shared; released twice counts once; the last release stops it', async () => {
    const { sched, cluster, p, started, stopped } = pool();
    const x = p.acquire('a', 2);
    const y = p.acquire('a', 2);
    await sched.drain(100, polling);
    await x.ready;
    expect(started).toEqual(['a']);
    expect(cluster.openReaders().live).toBe(1);
    x.release();
    x.release();
    expect(p.refs('a')).toBe(1);
    y.release();
    expect(stopped).toEqual(['a']);
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

  it('past SLUICE_MAX_LIVE_TOPICS a new topic is refused; a failed start frees its place and its late release touches no newer feed', async () => {
    const { sched, cluster, p } = pool(2);
    const a = p.acquire('a', 2);
    const b = p.acquire('b', 2);
    expect(() => p.acquire('c', 2)).toThrow(/SLUICE_MAX_LIVE_TOPICS/);
    const bFailed = b.ready.catch(() => 'failed');
    await sched.step(1, true); // b's connect fails
    expect(await bFailed).toBe('failed');
    const again = p.acquire('b', 2);
    b.release();
    expect(p.refs('b')).toBe(1);
    for (const lease of [a, again]) lease.release();
    await sched.drain();
    expect(p.size).toBe(0);
    expect(cluster.openReaders().live).toBe(0);
  });

  it('closeAll stops every feed, and refuses new leases', async () => {
    const { sched, cluster, p } = pool();
    p.acquire('a', 2);
    await sched.drain(100, polling);
    const closing = p.closeAll();
    await sched.drain();
    await closing;
    expect(cluster.openReaders().live).toBe(0);
    expect(() => p.acquire('a', 2)).toThrow(/shutting down/);
  });
});
