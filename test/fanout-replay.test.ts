/**
 * Replay and resume: `from=earliest|<time>|<token>` reads history and continues live with no gap and no
 * duplicate, also while records keep arriving during the replay; a client that loses its connection
 * continues exactly where it stopped with the token of the last frame it got (WebSocket and SSE).
 */
import { describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { connect, type RecordingSocket } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';
import { partitionCount } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');

interface Frame { topic: string; partition: number; offset: number; key: string | null; value: { seq: number }; token: string }

function records(s: { frames: string[] }): Frame[] {
  return s.frames.map((f) => JSON.parse(f) as Frame & { event?: string }).filter((f) => f.event === undefined);
}

/** Every seq in [0, n) exactly once, and per partition offsets strictly increasing by one from `firstOffset`. */
function expectExactlyOnce(frames: Frame[], seqs: number[]): void {
  const got = frames.map((f) => f.value.seq).sort((a, b) => a - b);
  expect(got).toEqual([...seqs].sort((a, b) => a - b));
  const byPartition = new Map<number, number[]>();
  for (const f of frames) byPartition.set(f.partition, [...(byPartition.get(f.partition) ?? []), f.offset]);
  for (const offsets of byPartition.values()) for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[i - 1] + 1);
}

async function waitForRecords(s: RecordingSocket, n: number): Promise<Frame[]> {
  const deadline = Date.now() + 30_000;
  while (records(s).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300)); // anything extra would show up now
  return records(s);
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

/** The same checks with sockets on the main thread and in two ingress worker threads (the registry feeds each worker by message). */
for (const threads of ['0', '2']) describe(`SLUICE_INGRESS_THREADS=${threads}`, () => {
  const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_INGRESS_THREADS: threads }));

  /** Posts records seq from..to-1, keyed over several devices so they spread across partitions. */
  async function post(topic: string, from: number, to: number): Promise<void> {
    const byKey = new Map<string, string[]>();
    for (let seq = from; seq < to; seq++) {
      const key = `dev-${seq % 7}`;
      byKey.set(key, [...(byKey.get(key) ?? []), JSON.stringify({ seq, key })]);
    }
    const answers = await Promise.all([...byKey].map(([key, lines]) => postJson(`${gateway().url}/topics/${topic}?key=${key}`, lines.join('\n'), 'application/x-ndjson')));
    for (const a of answers) expect(a.status).toBe(200);
  }

  describe('replay', () => {
    it('from=earliest sends the history then live records, across all partitions, none twice, none missing, while records keep arriving', async () => {
      const topic = randomTopic('replay');
      await post(topic, 0, 3000);
      expect(partitionCount(kafka, topic)).toBeGreaterThan(1);
      // Records posted while the replay runs must come either from the history or live, exactly once.
      const during = post(topic, 3000, 3600);
      const s = await connect(`${gateway().wsUrl}/ws/topics/${topic}?from=earliest`);
      await during;
      await post(topic, 3600, 4000);
      const frames = await waitForRecords(s, 4000);
      expectExactlyOnce(frames, range(0, 4000));
      for (const offsets of groupOffsets(frames).values()) expect(offsets[0]).toBe(0);
      expect(JSON.parse(s.frames[0])).toMatchObject({ event: 'subscribed', topic, token: expect.any(String) });
      s.ws.close();
    });

    it('from=<epoch ms> starts at the first record at or after that time', async () => {
      const topic = randomTopic('replay-time');
      await post(topic, 0, 50);
      await new Promise((r) => setTimeout(r, 50));
      const since = Date.now();
      await new Promise((r) => setTimeout(r, 50));
      await post(topic, 50, 100);
      const s = await connect(`${gateway().wsUrl}/ws/topics/${topic}?from=${since}`);
      await post(topic, 100, 120);
      expectExactlyOnce(await waitForRecords(s, 70), range(50, 120));
      s.ws.close();
    });
  });

  describe('resume', () => {
    it('WebSocket: after a forced disconnect, from=<token of the last frame> continues exactly', async () => {
      const topic = randomTopic('resume-ws');
      await post(topic, 0, 10);
      const first = await connect(`${gateway().wsUrl}/ws/topics/${topic}`);
      await first.waitForFrames(1);
      await post(topic, 10, 410);
      const seen = await waitForRecords(first, 400);
      // Cut the connection in the middle of what was received: keep only the first 150 frames as "processed".
      first.ws.terminate();
      const processed = seen.slice(0, 150);
      await post(topic, 410, 600);
      const second = await connect(`${gateway().wsUrl}/ws/topics/${topic}?from=${processed[processed.length - 1].token}`);
      await post(topic, 600, 700);
      const rest = await waitForRecords(second, 700 - 10 - 150);
      expectExactlyOnce([...processed, ...rest], range(10, 700));
      second.ws.close();
    });

    it('SSE: each event id is the token, and Last-Event-ID resumes exactly', async () => {
      const topic = randomTopic('resume-sse');
      await post(topic, 0, 5);
      const first = await openSse(`${gateway().url}/sse/topics/${topic}`);
      const [subscribed] = await first.waitForEvents(1);
      expect(subscribed.event).toBe('subscribed');
      expect(JSON.parse(subscribed.data)).toMatchObject({ event: 'subscribed', topic });
      expect(first.status).toBe(200);
      await post(topic, 5, 205);
      const events = (await first.waitForEvents(201)).slice(1);
      for (const e of events) expect(e.id).toBe((JSON.parse(e.data) as Frame).token);
      first.close();
      const kept = events.slice(0, 80);
      await post(topic, 205, 300);
      const second = await openSse(`${gateway().url}/sse/topics/${topic}`, { 'last-event-id': kept[kept.length - 1].id! });
      const rest = (await second.waitForEvents(1 + 300 - 5 - 80)).slice(1);
      await new Promise((r) => setTimeout(r, 300));
      expect(second.events).toHaveLength(1 + 300 - 5 - 80);
      expectExactlyOnce([...kept, ...rest].map((e) => JSON.parse(e.data) as Frame), range(5, 300));
      second.close();
    });

    it('a token that is not one gets 400 before upgrading', async () => {
      await expect(connect(`${gateway().wsUrl}/ws/topics/${randomTopic()}?from=yesterday`)).rejects.toMatchObject({ status: 400 });
      const res = await fetch(`${gateway().url}/sse/topics/${randomTopic()}?from=nope`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_PARAMETER');
    });
  });

});

function groupOffsets(frames: Frame[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const f of frames) m.set(f.partition, [...(m.get(f.partition) ?? []), f.offset]);
  return m;
}
