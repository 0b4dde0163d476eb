/**
 * Faults on a real 3-broker KRaft cluster (6 partitions, replication factor 3, min.insync.replicas=2:
 * docker/compose.yaml's layout): a crashed partition leader, every broker down, and the gateway itself
 * stopped (SIGTERM) or killed (SIGKILL) under load. Each test keeps several clients posting NDJSON
 * batches of uniquely numbered records, then reads the topic with kcat and checks, record by record and
 * batch by batch, what the answers promised. docs/api.md's "Delivery guarantees" table names these tests.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { randomTopic, ROOT, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { readTopic, type KafkaRecord } from './helpers/kafka-read.js';
import { KraftCluster } from './helpers/kraft-cluster.js';

const BATCH = 20;
/** Delivery timeout (message.timeout.ms) of the all-brokers-down test; the shipped default is 30 s. */
const TIMEOUT_MS = 8000;
/** librdkafka scans for timed-out records about once a second; the rest is scheduling on a busy machine. */
const SLACK_MS = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

type Ack = 'all' | 'none';
/** Six durable clients and one fire-and-forget client: a 202 comes back in about a millisecond, so more
 * fire-and-forget clients would take the machine's CPU from the durable ones the tests are mostly about. */
const MIXED: Ack[] = ['all', 'all', 'all', 'all', 'all', 'all', 'none'];

interface Batch {
  n: number;
  ack: Ack;
  startedAt: number;
  ms: number;
  /** HTTP status, or 'no answer' (connection refused or reset, or our own abort). */
  status: number | 'no answer';
  code?: string;
  /** DELIVERY_FAILED, DELIVERY_UNCONFIRMED: how many of the batch's records Kafka confirmed. */
  delivered?: number;
}

/** Clients posting BATCH-record NDJSON requests back to back, one loop per entry of `acks`. */
class Load {
  readonly batches: Batch[] = [];
  private stopping = false;
  private readonly clients: Promise<void>[];

  constructor(
    private readonly url: string,
    private readonly topic: string,
    acks: Ack[],
    private readonly abortAfterMs = 120_000,
  ) {
    this.clients = acks.map((ack) => this.client(ack));
  }

  private async client(ack: Ack): Promise<void> {
    while (!this.stopping) {
      const b: Batch = { n: this.batches.length, ack, startedAt: Date.now(), ms: 0, status: 'no answer' };
      this.batches.push(b);
      const body = Array.from({ length: BATCH }, (_, i) => JSON.stringify({ id: `${b.n}/${i}`, ack })).join('\n');
      try {
        const res = await fetch(`${this.url}/topics/${this.topic}?ack=${ack}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body,
          signal: AbortSignal.timeout(this.abortAfterMs),
        });
        const text = await res.text();
        b.status = res.status;
        if (res.status >= 300) {
          const err = JSON.parse(text).error;
          b.code = err?.code;
          b.delivered = err?.delivered;
        }
      } catch {
        // connection refused or reset (the gateway stopped), or no answer within abortAfterMs
      }
      b.ms = Date.now() - b.startedAt;
      // Back off after a refusal as a client reading Retry-After would (shorter, to keep the test brief).
      if (b.status !== 200 && b.status !== 202) await sleep(200);
    }
  }

  acknowledged(ack: Ack, since = 0): number {
    return this.batches.filter((b) => b.ack === ack && b.status === (ack === 'all' ? 200 : 202) && b.startedAt >= since).length;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.clients);
  }
}

interface Audit {
  batches: number;
  /** Records answered 200 (durable) and 202 (fire-and-forget). */
  acknowledged: number;
  acknowledgedFire: number;
  /** Distinct records in Kafka, and extra copies of any of them. */
  found: number;
  duplicates: number;
  missingAcknowledged: number;
  lostFire: number;
  /** Batches answered 503, by code. */
  refused: Record<string, number>;
  refusedRecords: number;
  /** Records in Kafka of batches refused with a code that says nothing was queued: must be 0. */
  writtenDespiteRefusal: number;
  /** DELIVERY_FAILED/UNCONFIRMED batches with fewer records in Kafka than the answer's `delivered`: must be 0. */
  deliveredUndercounted: number;
  /** Batches with some but not all records in Kafka (all-or-nothing does not cover DELIVERY_FAILED or lost 202s). */
  partialBatches: number;
  unanswered: number;
  /** Records in Kafka of requests that got no answer. */
  unansweredWritten: number;
  otherStatuses: Record<string, number>;
}

function audit(records: KafkaRecord[], batches: Batch[]): Audit {
  const copies = new Map<string, number>();
  for (const r of records) {
    const id = (JSON.parse(r.value!) as { id: string }).id;
    copies.set(id, (copies.get(id) ?? 0) + 1);
  }
  const a: Audit = {
    batches: batches.length,
    acknowledged: 0,
    acknowledgedFire: 0,
    found: copies.size,
    duplicates: 0,
    missingAcknowledged: 0,
    lostFire: 0,
    refused: {},
    refusedRecords: 0,
    writtenDespiteRefusal: 0,
    deliveredUndercounted: 0,
    partialBatches: 0,
    unanswered: 0,
    unansweredWritten: 0,
    otherStatuses: {},
  };
  for (const c of copies.values()) a.duplicates += c - 1;
  for (const b of batches) {
    let found = 0;
    for (let i = 0; i < BATCH; i++) if (copies.has(`${b.n}/${i}`)) found++;
    if (found > 0 && found < BATCH) a.partialBatches++;
    if (b.status === 200) {
      a.acknowledged += BATCH;
      a.missingAcknowledged += BATCH - found;
    } else if (b.status === 202) {
      a.acknowledgedFire += BATCH;
      a.lostFire += BATCH - found;
    } else if (b.status === 503) {
      a.refused[b.code!] = (a.refused[b.code!] ?? 0) + 1;
      a.refusedRecords += BATCH;
      // Both promise only `delivered` records; the rest may or may not be in Kafka.
      if (b.code === 'DELIVERY_FAILED' || b.code === 'DELIVERY_UNCONFIRMED') {
        if (found < b.delivered!) a.deliveredUndercounted++;
      } else {
        a.writtenDespiteRefusal += found;
      }
    } else if (b.status === 'no answer') {
      a.unanswered++;
      a.unansweredWritten += found;
    } else {
      a.otherStatuses[b.status] = (a.otherStatuses[b.status] ?? 0) + 1;
    }
  }
  return a;
}

function report(test: string, a: Audit, extra: Record<string, unknown> = {}): void {
  console.log(`[faults] ${test}: ${JSON.stringify({ ...a, ...extra })}`);
}

/** The shipped producer properties with some lines replaced: what an operator would do. */
function producerConfigWith(overrides: Record<string, string>): string {
  let text = readFileSync(join(ROOT, 'native-config', 'producer.properties'), 'utf8');
  for (const [k, v] of Object.entries(overrides)) {
    const line = new RegExp(`^${k.replace(/\./g, '\\.')}=.*$`, 'm');
    if (!line.test(text)) throw new Error(`native-config/producer.properties has no ${k}`);
    text = text.replace(line, `${k}=${v}`);
  }
  const file = join(scratch, 'producer.properties');
  writeFileSync(file, text);
  return file;
}

/** A gateway on the cluster whose log is printed if the test fails. */
async function gateway(extra: Record<string, string> = {}): Promise<SluiceProcess> {
  const sluice = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: cluster.bootstrapServers, ...extra });
  onTestFailed(() => console.log(`gateway log (last 8 kB):\n${sluice.output().slice(-8000)}`));
  return sluice;
}

async function readyStatus(url: string): Promise<number> {
  try {
    return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) })).status;
  } catch {
    return 0;
  }
}

const cluster = new KraftCluster();
const scratch = mkdtempSync(join(tmpdir(), 'sluice-faults-'));

describe('faults on a 3-broker KRaft cluster', () => {
  beforeAll(() => cluster.start(), 300_000);
  afterAll(async () => {
    await cluster.stop();
    rmSync(scratch, { recursive: true, force: true });
  }, 120_000);

  it('leader-crash: a partition leader killed (kill -9) and restarted under load: every acknowledged record is in Kafka exactly once', async () => {
    const topic = randomTopic('leader-loss');
    await cluster.createTopic(topic);
    // The shipped producer configuration (30 s delivery timeout).
    const sluice = await gateway();
    const load = new Load(sluice.url, topic, MIXED);
    const partition = 0;
    let victim = 0;
    let killedAt = 0;
    let failoverMs = 0;
    try {
      await waitUntil('acknowledged batches before the crash', () => load.acknowledged('all') >= 20 || undefined, 60_000);
      victim = cluster.leaderOf(topic, partition);
      killedAt = Date.now();
      await cluster.signal(victim, 'SIGKILL');
      // The controller moves leadership once the victim's heartbeats stop (broker.session.timeout.ms, 9 s).
      const newLeader = await waitUntil(
        'a new leader',
        () => {
          const l = cluster.leaderOf(topic, partition);
          return l > 0 && l !== victim ? l : undefined;
        },
        60_000,
      );
      failoverMs = Date.now() - killedAt;
      expect(newLeader).not.toBe(victim);
      await waitUntil('acknowledged batches with the victim down', () => load.acknowledged('all', killedAt) >= 20 || undefined, 60_000);
      await cluster.start([victim]);
      await cluster.waitForReplicas(topic, 3);
      const back = Date.now();
      await waitUntil('acknowledged batches after the restart', () => load.acknowledged('all', back) >= 20 || undefined, 60_000);
    } finally {
      await load.stop();
    }
    expect(await sluice.stop()).toBe(0);

    const records = await readTopic(cluster.bootstrapServers, topic, 1, 30_000);
    const a = audit(records, load.batches);
    report('leader-crash', a, { victim, failoverMs });
    expect(a.otherStatuses).toEqual({});
    expect(a.unanswered).toBe(0);
    expect(a.acknowledged).toBeGreaterThan(0);
    expect(a.missingAcknowledged).toBe(0);
    expect(a.duplicates).toBe(0);
    // Refusals (QUEUE_FULL while records for the leaderless partitions pile up) wrote nothing.
    expect(a.writtenDespiteRefusal).toBe(0);
    // Requests waiting for the new leader were answered once it took over: the failover fits in the 30 s timeout.
    expect(a.refused.DELIVERY_FAILED ?? 0).toBe(0);
    expect(a.partialBatches).toBe(0);
    // Fire-and-forget records queued across the failover are retried within message.timeout.ms too.
    expect(a.lostFire).toBe(0);
    // The crash really hit traffic: the partition took records from requests sent after its leader died.
    const firstAfterKill = load.batches.find((b) => b.startedAt >= killedAt)!.n;
    const onPartitionAfter = records.filter(
      (r) => r.partition === partition && Number((JSON.parse(r.value!) as { id: string }).id.split('/')[0]) >= firstAfterKill,
    );
    expect(onPartitionAfter.length).toBeGreaterThan(0);
  }, 300_000);

  it('all-brokers-down: requests end within message.timeout.ms with 503, /readyz is 503, and Sluice recovers by itself', async () => {
    const topic = randomTopic('all-down');
    await cluster.createTopic(topic);
    const sluice = await gateway({ SLUICE_PRODUCER_CONFIG: producerConfigWith({ 'message.timeout.ms': String(TIMEOUT_MS) }) });
    // Our clients give up at three times the limit: a hang shows up as a late 'no answer', not a stuck test.
    const load = new Load(sluice.url, topic, MIXED, 3 * (TIMEOUT_MS + SLACK_MS));
    let downAt = 0;
    let allDeadAt = 0;
    let restartAt = 0;
    let notReadyMs = 0;
    let recoveredMs = 0;
    try {
      await waitUntil('acknowledged batches before the outage', () => load.acknowledged('all') >= 20 || undefined, 60_000);
      expect(await readyStatus(sluice.url)).toBe(200);
      downAt = Date.now();
      await Promise.all([1, 2, 3].map((id) => cluster.signal(id, 'SIGKILL')));
      allDeadAt = Date.now();
      await waitUntil('/readyz 503', async () => (await readyStatus(sluice.url)) === 503 || undefined, 30_000);
      notReadyMs = Date.now() - downAt;
      // Stay down past the delivery timeout, so requests queued before Sluice noticed must end by themselves.
      await sleep(TIMEOUT_MS + SLACK_MS);
      expect(await readyStatus(sluice.url)).toBe(503);
      restartAt = Date.now();
      await cluster.start();
      await waitUntil('/readyz 200 again', async () => (await readyStatus(sluice.url)) === 200 || undefined, 120_000);
      recoveredMs = Date.now() - restartAt;
      await waitUntil('acknowledged batches after the outage', () => load.acknowledged('all', restartAt) >= 20 || undefined, 120_000);
    } finally {
      await load.stop();
    }
    expect(await sluice.stop()).toBe(0);

    const records = await readTopic(cluster.bootstrapServers, topic, 1, 30_000);
    const a = audit(records, load.batches);
    const slowest = Math.max(...load.batches.map((b) => b.ms));
    const duringOutage = load.batches.filter((b) => b.startedAt >= downAt && b.startedAt < restartAt);
    report('all-brokers-down', a, {
      timeoutMs: TIMEOUT_MS,
      slowestRequestMs: slowest,
      notReadyMs,
      recoveredMs,
      requestsDuringOutage: duringOutage.length,
    });
    // No hang and no 500: every request was answered, within the delivery timeout plus slack.
    expect(a.unanswered).toBe(0);
    expect(a.otherStatuses).toEqual({});
    expect(slowest).toBeLessThanOrEqual(TIMEOUT_MS + SLACK_MS);
    // Durable requests sent while every broker was dead were refused with 503, never acknowledged.
    const durableDuring = duringOutage.filter((b) => b.ack === 'all' && b.startedAt >= allDeadAt);
    expect(durableDuring.length).toBeGreaterThan(0);
    expect(durableDuring.filter((b) => b.status !== 503)).toEqual([]);
    for (const b of duringOutage)
      if (b.status === 503) expect(['BROKER_UNAVAILABLE', 'DELIVERY_FAILED', 'DELIVERY_UNCONFIRMED', 'QUEUE_FULL']).toContain(b.code);
    // Acknowledged before and after: all there, once; refused "nothing queued" batches: nothing there.
    expect(a.acknowledged).toBeGreaterThan(0);
    expect(a.missingAcknowledged).toBe(0);
    expect(a.duplicates).toBe(0);
    expect(a.writtenDespiteRefusal).toBe(0);
    expect(a.deliveredUndercounted).toBe(0);
    // Fire-and-forget records that expired are not silently gone: the log says so.
    if (a.lostFire > 0) expect(sluice.output()).toContain('fire-and-forget records were not delivered');
  }, 400_000);

  it('gateway-sigterm: under load, every record answered 200 or 202 is in Kafka exactly once', async () => {
    const topic = randomTopic('gw-term');
    await cluster.createTopic(topic);
    const sluice = await gateway();
    const load = new Load(sluice.url, topic, MIXED);
    let code: number | null;
    try {
      await waitUntil(
        'acknowledged batches',
        () => (load.acknowledged('all') >= 50 && load.acknowledged('none') >= 20) || undefined,
        60_000,
      );
      code = await sluice.stop('SIGTERM');
    } finally {
      await load.stop();
    }
    expect(code).toBe(0);

    const a0 = audit([], load.batches);
    const records = await readTopic(cluster.bootstrapServers, topic, a0.acknowledged + a0.acknowledgedFire, 30_000);
    const a = audit(records, load.batches);
    report('gateway-sigterm', a);
    expect(a.otherStatuses).toEqual({});
    expect(a.acknowledged).toBeGreaterThan(0);
    expect(a.acknowledgedFire).toBeGreaterThan(0);
    expect(a.missingAcknowledged).toBe(0);
    expect(a.lostFire).toBe(0);
    expect(a.duplicates).toBe(0);
    expect(a.writtenDespiteRefusal).toBe(0);
    // Requests the draining gateway did not answer (connection refused or closed) were not processed at all.
    expect(a.unansweredWritten).toBe(0);
    expect(a.partialBatches).toBe(0);
  }, 300_000);

  it('gateway-sigkill: every 200 is in Kafka exactly once; 202 (fire-and-forget) is at most once, losses counted', async () => {
    const topic = randomTopic('gw-kill');
    await cluster.createTopic(topic);
    const sluice = await gateway();
    const load = new Load(sluice.url, topic, ['all', 'all', 'all', 'all', 'none', 'none', 'none', 'none']);
    try {
      await waitUntil(
        'acknowledged batches',
        () => (load.acknowledged('all') >= 50 && load.acknowledged('none') >= 50) || undefined,
        60_000,
      );
      await sluice.stop('SIGKILL');
    } finally {
      await load.stop();
    }
    // Nothing more can arrive from a dead process; a moment for what was already on the wire.
    await sleep(2000);
    const records = await readTopic(cluster.bootstrapServers, topic, Number.MAX_SAFE_INTEGER, 0);
    const a = audit(records, load.batches);
    report('gateway-sigkill', a);
    expect(a.otherStatuses).toEqual({});
    expect(a.acknowledged).toBeGreaterThan(0);
    expect(a.acknowledgedFire).toBeGreaterThan(0);
    // Durable answers come after Kafka's acknowledgement, so killing the gateway cannot take them back.
    expect(a.missingAcknowledged).toBe(0);
    // At most once: a record is produced once and never retried by a dead process, so no copies.
    expect(a.duplicates).toBe(0);
    expect(a.writtenDespiteRefusal).toBe(0);
  }, 300_000);
});
