/**
 * The registry's deadline and learning logic against a scripted cluster on fake time: a slow creation is a
 * 503 TOPIC_NOT_READY that a later retry turns into success, never a 404; a 404 only comes once the cluster
 * has been seen not to create topics. The real brokers' answers are covered by test/topic-creation.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { AUTO_CREATE_VERDICT_MS, TopicRegistry } from './topic-registry.js';
import type { ClusterTopics, NewTopicSpec, TopicState } from './cluster-topics.js';
import { SluiceError } from '../errors.js';

interface ScriptedTopic {
  partitions: number;
  appearsAt: number;
  leadersAt: number;
  /** When the leaders serve the partitions (a KRaft broker names leaders in its metadata before that). */
  servedAt: number;
}

/** A cluster whose topics appear, get leaders and are served at scripted (fake) times. */
class ScriptedCluster implements ClusterTopics {
  reachable = true;
  /** The brokers' auto.create.topics.enable. */
  autoCreates: boolean;
  /** How long after being asked a topic appears, and then until its partitions have leaders. */
  creationMs = 0;
  electionMs = 0;
  /** From the leaders showing in the metadata until they serve the partitions. */
  servingMs = 0;
  /** Describe calls fail (as a busy broker's time out) while this is set. */
  describeFails = false;
  readonly topics = new Map<string, ScriptedTopic>();
  readonly autoCreateRequests: string[] = [];
  describes = 0;

  constructor(autoCreates: boolean) {
    this.autoCreates = autoCreates;
  }

  async describe(topic: string): Promise<TopicState> {
    this.describes++;
    if (this.describeFails) throw new SluiceError('BROKER_UNAVAILABLE', `cannot look up topic "${topic}": Local: Timed out`);
    const t = this.topics.get(topic);
    if (!t || Date.now() < t.appearsAt) return null;
    return { partitions: t.partitions, leadersElected: Date.now() >= t.leadersAt };
  }

  async serves(topic: string, partitions: number): Promise<boolean> {
    const t = this.topics.get(topic);
    return t !== undefined && partitions === t.partitions && Date.now() >= t.servedAt;
  }

  async requestAutoCreate(topic: string): Promise<void> {
    this.autoCreateRequests.push(topic);
    if (this.autoCreates) this.schedule(topic, 3);
  }

  async create(spec: NewTopicSpec): Promise<'created' | 'exists'> {
    if (this.topics.has(spec.topic)) return 'exists';
    this.schedule(spec.topic, spec.partitions);
    return 'created';
  }

  private schedule(topic: string, partitions: number): void {
    if (this.topics.has(topic)) return;
    const appearsAt = Date.now() + this.creationMs;
    const leadersAt = appearsAt + this.electionMs;
    this.topics.set(topic, { partitions, appearsAt, leadersAt, servedAt: leadersAt + this.servingMs });
  }
}

const OPTIONS = { createTopics: false, createTopicPartitions: 6, createTopicReplicationFactor: -1, metadataTimeoutMs: 100 };
const silent = pino({ level: 'silent' });

type Outcome = { partitions: number } | { code: string; status: number; retriable: boolean; message: string };

/** Starts ensure(); the outcome settles once fake time has moved on far enough. */
function startEnsure(registry: TopicRegistry, topic: string): Promise<Outcome> {
  let pending: Promise<{ partitions: number }>;
  try {
    pending = Promise.resolve(registry.ensure(topic));
  } catch (err) {
    pending = Promise.reject(err);
  }
  return pending.then(
    ({ partitions }) => ({ partitions }),
    (err: SluiceError) => ({ code: err.code, status: err.status, retriable: err.retriable, message: err.message }),
  );
}

/** Runs ensure() to its end while fake time moves on by `advanceMs`. */
async function ensureWithin(registry: TopicRegistry, topic: string, advanceMs = 1000): Promise<Outcome> {
  const outcome = startEnsure(registry, topic);
  await vi.advanceTimersByTimeAsync(advanceMs);
  return outcome;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('a cluster that creates topics', () => {
  it('a creation slower than the wait is 503 TOPIC_NOT_READY, never 404, and a retry later succeeds', async () => {
    const cluster = new ScriptedCluster(true);
    cluster.creationMs = 5000;
    const registry = new TopicRegistry(cluster, OPTIONS, silent);
    const first = await ensureWithin(registry, 'slow');
    expect(first).toMatchObject({ code: 'TOPIC_NOT_READY', status: 503, retriable: true });
    expect((first as { message: string }).message).toMatch(/"slow" is being created.*retry/);
    // Retries before the topic is there keep getting 503, then one succeeds.
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 8; i++) outcomes.push(await ensureWithin(registry, 'slow'));
    expect(outcomes.map((o) => ('code' in o ? o.code : 'ok'))).not.toContain('TOPIC_NOT_FOUND');
    expect(outcomes.at(-1)).toEqual({ partitions: 3 });
    expect(registry.autoCreateVerdict).toBe('creates');
  });

  it('many new topics at once, all slower than the wait: every answer is 503 or success until each succeeds', async () => {
    const cluster = new ScriptedCluster(true);
    // Slower than the wait by far, but within the verdict window (a creation slower than that would be judged "does not create").
    cluster.creationMs = AUTO_CREATE_VERDICT_MS - 5000;
    const registry = new TopicRegistry(cluster, OPTIONS, silent);
    const topics = Array.from({ length: 20 }, (_, i) => `new-${i}`);
    const seen = new Set<string>();
    let pending = topics;
    for (let round = 0; round < 30 && pending.length > 0; round++) {
      const outcomes = pending.map((t) => startEnsure(registry, t));
      await vi.advanceTimersByTimeAsync(1000);
      const settled = await Promise.all(outcomes);
      for (const o of settled) seen.add('code' in o ? o.code : 'ok');
      pending = pending.filter((_, i) => 'code' in settled[i]);
    }
    expect(pending).toEqual([]);
    expect([...seen].sort()).toEqual(['TOPIC_NOT_READY', 'ok']);
    // The background follow-up's next poll (at most 2 s apart) sees its topic too.
    await vi.advanceTimersByTimeAsync(2000);
    expect(registry.autoCreateVerdict).toBe('creates');
  });

  it('a topic that appears without leaders is being created: 503, and the cluster is known to create topics', async () => {
    const cluster = new ScriptedCluster(true);
    cluster.electionMs = 5000;
    const registry = new TopicRegistry(cluster, OPTIONS, silent);
    expect(await ensureWithin(registry, 'leaderless')).toMatchObject({ code: 'TOPIC_NOT_READY' });
    expect(registry.autoCreateVerdict).toBe('creates');
    await vi.advanceTimersByTimeAsync(5000);
    expect(await ensureWithin(registry, 'leaderless')).toEqual({ partitions: 3 });
  });

  it('a topic whose metadata names leaders that do not serve it yet is not ready: 503 TOPIC_NOT_READY, then succeeds once served', async () => {
    const cluster = new ScriptedCluster(true);
    // The KRaft gap of #17.1: leaders in the metadata, partitions not yet created by the leader's replica manager.
    cluster.servingMs = 5000;
    const registry = new TopicRegistry(cluster, OPTIONS, silent);
    expect(await ensureWithin(registry, 'unserved')).toMatchObject({ code: 'TOPIC_NOT_READY', status: 503 });
    // The same for a topic that already exists at the first lookup (created by another request or gateway).
    const other = new TopicRegistry(cluster, OPTIONS, silent);
    const again = await ensureWithin(other, 'unserved');
    expect(again).toMatchObject({ code: 'TOPIC_NOT_READY' });
    expect((again as { message: string }).message).toMatch(/leaders do not serve it yet/);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await ensureWithin(registry, 'unserved')).toEqual({ partitions: 3 });
    expect(await ensureWithin(other, 'unserved')).toEqual({ partitions: 3 });
  });

  it('polls that time out while the topic is being created are 503 TOPIC_NOT_READY, not BROKER_UNAVAILABLE', async () => {
    const cluster = new ScriptedCluster(true);
    const registry = new TopicRegistry(cluster, OPTIONS, silent);
    cluster.creationMs = 50;
    // The first describe answers (absent); every poll after the auto-create request times out.
    const describe = cluster.describe.bind(cluster);
    cluster.describe = async (topic) => {
      const answer = await describe(topic);
      cluster.describeFails = true;
      return answer;
    };
    expect(await ensureWithin(registry, 'busy')).toMatchObject({ code: 'TOPIC_NOT_READY' });
    cluster.describeFails = false;
    cluster.describe = describe;
    expect(await ensureWithin(registry, 'busy')).toEqual({ partitions: 3 });
  });

  it('a quick creation answers at once and teaches the registry that the cluster creates topics', async () => {
    const cluster = new ScriptedCluster(true);
    cluster.creationMs = 30;
    const registry = new TopicRegistry(cluster, OPTIONS, silent);
    expect(await ensureWithin(registry, 'quick')).toEqual({ partitions: 3 });
    expect(registry.autoCreateVerdict).toBe('creates');
    // Known topics are answered from the cache, synchronously.
    const describes = cluster.describes;
    expect(registry.ensure('quick')).toEqual({ partitions: 3 });
    expect(cluster.describes).toBe(describes);
  });
});

describe('a cluster that does not create topics', () => {
  it('503 until the registry has seen a requested topic stay absent for the verdict window, then 404 (cached briefly)', async () => {
    const cluster = new ScriptedCluster(false);
    const registry = new TopicRegistry(cluster, OPTIONS, silent);
    expect(await ensureWithin(registry, 'missing')).toMatchObject({ code: 'TOPIC_NOT_READY' });
    expect(registry.autoCreateVerdict).toBe('unknown');
    await vi.advanceTimersByTimeAsync(AUTO_CREATE_VERDICT_MS);
    expect(registry.autoCreateVerdict).toBe('does-not-create');
    // The follow-up kept asking the cluster to create it, not just once.
    expect(cluster.autoCreateRequests.filter((t) => t === 'missing').length).toBeGreaterThan(2);
    expect(await ensureWithin(registry, 'missing')).toMatchObject({ code: 'TOPIC_NOT_FOUND', status: 404, retriable: false });
    expect(await ensureWithin(registry, 'other')).toMatchObject({ code: 'TOPIC_NOT_FOUND' });
    // The 404 is cached: a repeat within the negative-cache time asks the cluster nothing.
    const describes = cluster.describes;
    expect(() => registry.ensure('other')).toThrowError(expect.objectContaining({ code: 'TOPIC_NOT_FOUND' }));
    expect(cluster.describes).toBe(describes);
  });

  it('revises the verdict both ways: a topic appearing after the 404s began, then one staying absent again', async () => {
    const cluster = new ScriptedCluster(false);
    const registry = new TopicRegistry(cluster, OPTIONS, silent);
    await ensureWithin(registry, 'probe', AUTO_CREATE_VERDICT_MS + 1000);
    expect(registry.autoCreateVerdict).toBe('does-not-create');
    cluster.autoCreates = true;
    cluster.creationMs = 30;
    expect(await ensureWithin(registry, 'now-created')).toEqual({ partitions: 3 });
    expect(registry.autoCreateVerdict).toBe('creates');
    cluster.autoCreates = false;
    expect(await ensureWithin(registry, 'never')).toMatchObject({ code: 'TOPIC_NOT_READY' });
    await vi.advanceTimersByTimeAsync(AUTO_CREATE_VERDICT_MS);
    expect(registry.autoCreateVerdict).toBe('does-not-create');
    expect(await ensureWithin(registry, 'never')).toMatchObject({ code: 'TOPIC_NOT_FOUND' });
  });

  it('with SLUICE_CREATE_TOPICS, a created topic whose leaders are not elected in time is 503, then succeeds', async () => {
    const cluster = new ScriptedCluster(false);
    cluster.electionMs = 3000;
    const registry = new TopicRegistry(cluster, { ...OPTIONS, createTopics: true }, silent);
    expect(await ensureWithin(registry, 'admin-made')).toMatchObject({ code: 'TOPIC_NOT_READY' });
    await vi.advanceTimersByTimeAsync(3000);
    expect(await ensureWithin(registry, 'admin-made')).toEqual({ partitions: 6 });
    // Sluice's own creations say nothing about the cluster's auto-creation.
    expect(registry.autoCreateVerdict).toBe('unknown');
  });
});

it('an unreachable cluster is 503 BROKER_UNAVAILABLE, and the verdict follow-up gives up without a verdict', async () => {
  const cluster = new ScriptedCluster(false);
  const registry = new TopicRegistry(cluster, OPTIONS, silent);
  expect(await ensureWithin(registry, 'missing')).toMatchObject({ code: 'TOPIC_NOT_READY' });
  cluster.reachable = false;
  await vi.advanceTimersByTimeAsync(AUTO_CREATE_VERDICT_MS * 2);
  expect(registry.autoCreateVerdict).toBe('unknown');
  expect(await ensureWithin(registry, 'missing')).toMatchObject({ code: 'BROKER_UNAVAILABLE' });
});
