/** GroupFeed and GroupPool against a fake reader: dealing, commits, members leaving with records in hand, leases. */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { GroupFeed, GroupPool, type GroupMember } from './group-feed.js';
import { FakeCluster, Scheduler, settle } from '../../test/helpers/fake-kafka.js';

const log = pino({ level: 'silent' });

/** A member whose deliveries the test answers: `answer(true)` hands the oldest one to its socket, `answer(false)` says it is gone. */
function member() {
  const waiting: { fields: string[]; resolve: (handed: boolean) => void }[] = [];
  const got: number[] = [];
  const m: GroupMember & { waiting: typeof waiting; got: number[]; answer(handed: boolean): Promise<void> } = {
    waiting,
    got,
    deliver: (fields) => new Promise((resolve) => waiting.push({ fields, resolve })),
    answer: async (handed) => {
      const d = waiting.shift()!;
      // A member is handed record fields (see frame-encoder.ts), which it frames in its own style.
      if (handed) for (const f of d.fields) got.push((JSON.parse(`{${f}}`) as { value: { n: number } }).value.n);
      d.resolve(handed);
      await settle();
    },
  };
  return m;
}

function groupFeed(records = 0) {
  const sched = new Scheduler();
  const cluster = new FakeCluster(sched);
  cluster.createTopic('t', 1);
  cluster.append('t', records);
  const reader = cluster.newReader({
    role: 'group',
    topic: 't',
    clientId: 'c',
    groupId: 'sluice-g',
    overrides: { 'auto.offset.reset': 'earliest' },
  });
  const feed = new GroupFeed('t', reader, 1000, log);
  return { sched, cluster, feed };
}

describe('GroupFeed', () => {
  it('records whose only member left before they were handed wait for the next member; then they are committed', async () => {
    const { sched, cluster, feed } = groupFeed(5);
    const a = member();
    feed.add(a);
    await sched.step(); // connect
    await sched.step(); // the first read: 5 records, all dealt to a
    expect(a.waiting).toHaveLength(1);
    feed.remove(a);
    await a.answer(false); // a's socket was gone: nobody else is here
    expect(cluster.commits.get('sluice-g')).toBeUndefined();
    const b = member();
    feed.add(b);
    await settle();
    expect(b.waiting).toHaveLength(1);
    await b.answer(true);
    expect(b.got).toEqual([0, 1, 2, 3, 4]);
    expect(cluster.commits.get('sluice-g')?.get(0)).toBe(5);
    const stopping = feed.stop();
    await sched.drain();
    await stopping;
    expect(cluster.openReaders().group).toBe(0);
  });

  it('a member that leaves with records in hand passes them to another member; commits wait for every share', async () => {
    const { sched, cluster, feed } = groupFeed(4);
    const a = member();
    const b = member();
    feed.add(a);
    feed.add(b);
    await sched.step();
    await sched.step();
    expect(a.waiting).toHaveLength(1);
    expect(b.waiting).toHaveLength(1);
    await b.answer(true);
    expect(cluster.commits.get('sluice-g')).toBeUndefined(); // a's share is not handed yet
    feed.remove(a);
    await a.answer(false);
    expect(b.waiting).toHaveLength(1);
    await b.answer(true);
    expect(b.got.sort()).toEqual([0, 1, 2, 3]);
    expect(cluster.commits.get('sluice-g')?.get(0)).toBe(4);
    void feed.stop();
    await sched.drain();
  });

  it('a feed stopped with records not handed commits nothing (at-least-once for the next consumer)', async () => {
    const { sched, cluster, feed } = groupFeed(3);
    const a = member();
    feed.add(a);
    await sched.step();
    await sched.step();
    const stopping = feed.stop();
    await a.answer(false);
    await sched.drain();
    await stopping;
    expect(cluster.commits.get('sluice-g')).toBeUndefined();
    expect(cluster.openReaders().group).toBe(0);
  });
});

describe('GroupPool', () => {
  it('leases: the last one given back stops the consumer; a release is idempotent; the bound refuses one group more', async () => {
    const sched = new Scheduler();
    const cluster = new FakeCluster(sched);
    cluster.createTopic('t', 1);
    const pool = new GroupPool(cluster.newReader, { maxGroups: 1, groupIdPrefix: 'sluice-', connectTimeoutMs: 1000 }, log);
    const first = pool.acquire('t', 'g', 'latest');
    const second = pool.acquire('t', 'g', 'latest');
    expect(() => pool.acquire('t', 'other', 'latest')).toThrow(/SLUICE_MAX_GROUPS/);
    first.release();
    first.release();
    expect(pool.size).toBe(1);
    second.release();
    expect(pool.size).toBe(0);
    await sched.drain();
    expect(cluster.openReaders().group).toBe(0);
  });

  it('a lease on a feed that failed to start never takes a lease off the newer feed of the same group', async () => {
    const sched = new Scheduler();
    const cluster = new FakeCluster(sched);
    cluster.createTopic('t', 1);
    const pool = new GroupPool(cluster.newReader, { maxGroups: 4, groupIdPrefix: 'sluice-', connectTimeoutMs: 1000 }, log);
    const failed = pool.acquire('t', 'g', 'latest');
    const readyFailed = failed.feed.ready.catch(() => 'failed');
    await sched.step(0, true); // connect fails
    expect(await readyFailed).toBe('failed');
    expect(pool.size).toBe(0);
    const fresh = pool.acquire('t', 'g', 'latest');
    failed.release();
    expect(pool.size).toBe(1);
    fresh.release();
    await sched.drain();
    expect(cluster.openReaders().group).toBe(0);
  });
});
