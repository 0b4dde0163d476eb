/**
 * Instances share nothing but Kafka: two gateways on one broker. A resume token from one continues
 * exactly on the other, a group with members on both deals each record once, and an Idempotency-Key retry
 * that lands on the other instance is written again but carries the same `idempotency-key` header, by
 * which a consumer drops it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, sluiceForFile, startSluice } from './helpers/sluice-process.js';
import { connect, type RecordingSocket } from './helpers/websocket-client.js';
import { readTopic } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');
const a = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }));
const b = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }));

interface Frame {
  event?: string;
  partition: number;
  offset: number;
  value: Record<string, number>;
  token: string;
}
const recordsOf = (s: RecordingSocket) => s.frames.map((f) => JSON.parse(f) as Frame).filter((f) => f.event === undefined);

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function post(url: string, topic: string, from: number, to: number, key = ''): Promise<void> {
  const lines = Array.from({ length: to - from }, (_, i) => JSON.stringify({ seq: from + i })).join('\n');
  const res = await postJson(`${url}/topics/${topic}${key ? `?key=${key}` : ''}`, lines, 'application/x-ndjson');
  expect(res.status).toBe(200);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const seqs = (frames: Frame[]) =>
  frames
    .map((f) => f.value.seq)
    .filter((s) => s !== undefined)
    .sort((x, y) => x - y);

describe('two gateways, one Kafka', () => {
  it('a resume token from gateway A continues exactly on gateway B', async () => {
    const topic = randomTopic('inst');
    await post(a().url, topic, 0, 100);
    const onA = await connect(`${a().wsUrl}/ws/topics/${topic}?from=earliest`);
    await until(() => recordsOf(onA).length >= 100, 'the history on A');
    const processed = recordsOf(onA).slice(0, 40);
    onA.ws.terminate();
    await post(b().url, topic, 100, 150);
    const onB = await connect(`${b().wsUrl}/ws/topics/${topic}?from=${processed[processed.length - 1].token}`);
    await post(a().url, topic, 150, 200);
    await until(() => recordsOf(onB).length >= 160, 'the rest on B');
    await new Promise((r) => setTimeout(r, 300));
    expect(seqs([...processed, ...recordsOf(onB)])).toEqual(range(0, 200)); // each exactly once
    onB.ws.close();
  });

  it('a group with members on both gateways gets each record exactly once', async () => {
    const topic = randomTopic('inst');
    const group = randomTopic('g');
    await post(a().url, topic, -1, 0, 'warmup');
    const members = [
      await connect(`${a().wsUrl}/ws/topics/${topic}?group=${group}&from=earliest`),
      await connect(`${b().wsUrl}/ws/topics/${topic}?group=${group}&from=earliest`),
    ];
    for (const m of members) await m.waitForFrames(1);
    for (let k = 0; k < 10; k++) await post(k % 2 ? a().url : b().url, topic, k * 20, k * 20 + 20, `k${k}`);
    const all = () => members.flatMap(recordsOf);
    await until(() => seqs(all()).filter((s) => s >= 0).length >= 200, 'all 200 records in the group');
    await new Promise((r) => setTimeout(r, 1000));
    expect(seqs(all()).filter((s) => s >= 0)).toEqual(range(0, 200));
    for (const m of members) m.ws.close();
  });

  it('an Idempotency-Key retry on the other gateway carries the same header: a consumer keeps each record once', async () => {
    const topic = randomTopic('inst');
    const key = randomUUID();
    const body = '[{"n":1},{"n":2}]';
    const first = await postJson(`${a().url}/topics/${topic}`, body, 'application/json', { 'Idempotency-Key': key });
    const retryElsewhere = await postJson(`${b().url}/topics/${topic}`, body, 'application/json', { 'Idempotency-Key': key });
    const retrySame = await postJson(`${a().url}/topics/${topic}`, body, 'application/json', { 'Idempotency-Key': key });
    expect([first.status, retryElsewhere.status, retrySame.status]).toEqual([200, 200, 200]);
    expect(retrySame.text).toBe(first.text); // caught by the instance that saw it
    const records = await readTopic(kafka, topic, 4);
    expect(records).toHaveLength(4); // the other instance wrote it again…
    for (const r of records) expect(r.headers['idempotency-key']).toBe(key);
    // …and a consumer dedups by (idempotency-key, value): what the header is for.
    const kept = new Map(records.map((r) => [`${r.headers['idempotency-key']}\0${r.value}`, r]));
    expect([...kept.values()].map((r) => r.value).sort()).toEqual(['{"n":1}', '{"n":2}']);
  });

  it('processes, not only threads: two gateways on one port (SO_REUSEPORT) both start, the kernel spreads connections over them, and every record lands once', async () => {
    // docs/performance.md's multi-vCPU model: past the main thread's limit, more cores pay as more processes
    // (each with its own producer) on one port. uWS sets SO_REUSEPORT on a listening socket with a fixed port
    // (not on port 0, which is why these two get a fixed one), so the second binds beside the first.
    const port = String(await freePort());
    const first = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_PORT: port });
    const second = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_PORT: port }).catch(async (err) => {
      await first.stop();
      throw err;
    });
    try {
      expect([first.port, second.port]).toEqual([Number(port), Number(port)]);
      const topic = randomTopic('inst');
      // Each request on a connection of its own (`connection: close`): a new source port, hashed anew.
      const answers = [];
      for (let i = 0; i < 40; i++) {
        answers.push(
          await postJson(`${first.url}/topics/${topic}`, JSON.stringify({ seq: i }), 'application/json', { connection: 'close' }),
        );
      }
      expect(answers.map((r) => r.status)).toEqual(Array(40).fill(200));
      await second.stop();
      // With one process left on the port, its own count shows it took some but not all 40 (1 - 2^-39 certain).
      const metrics = await (await fetch(`${first.url}/metrics`)).text();
      const byFirst = Number(/^sluice_records_received_total\{route="topics"\} (\S+)$/m.exec(metrics)?.[1] ?? 0);
      expect(byFirst).toBeGreaterThan(0);
      expect(byFirst).toBeLessThan(40);
      const records = await readTopic(kafka, topic, 40);
      expect(records.map((r) => (JSON.parse(r.value!) as { seq: number }).seq).sort((x, y) => x - y)).toEqual(range(0, 40));
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
