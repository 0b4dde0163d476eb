/**
 * Instances share nothing but Kafka: two gateways on one broker. A resume token from one continues
 * exactly on the other, a group with members on both deals each record once, and an Idempotency-Key retry
 * that lands on the other instance is written again but carries the same `idempotency-key` header, by
 * which a consumer drops it.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { connect, type RecordingSocket } from './helpers/websocket-client.js';
import { readTopic } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');
const a = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }));
const b = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }));

interface Frame { event?: string; partition: number; offset: number; value: Record<string, number>; token: string }
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
const seqs = (frames: Frame[]) => frames.map((f) => f.value.seq).filter((s) => s !== undefined).sort((x, y) => x - y);

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
    const members = [await connect(`${a().wsUrl}/ws/topics/${topic}?group=${group}&from=earliest`),
      await connect(`${b().wsUrl}/ws/topics/${topic}?group=${group}&from=earliest`)];
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
});
