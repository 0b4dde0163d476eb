/**
 * Replay and resume: `from=earliest|<time>|<token>` reads history and continues live with no gap and no
 * duplicate, also while records keep arriving during the replay; a client that loses its connection
 * continues exactly where it stopped with the token of the last frame it got (WebSocket and SSE). In both
 * framings: one frame per record, and `frames=batch` (replays framed the same way, resume after any batch).
 */
import { describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { connect, type RecordingSocket } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';
import { partitionCount } from './helpers/kafka-read.js';
import { FRAMINGS, framed, recordsIn, type Framing, type RecordFrame } from './helpers/framing.js';

const kafka = inject('kafkaBootstrap');

type Frame = RecordFrame & { value: { seq: number } };

/** Every seq in [0, n) exactly once, and per partition offsets strictly increasing by one from `firstOffset`. */
function expectExactlyOnce(frames: Frame[], seqs: number[]): void {
  const got = frames.map((f) => f.value.seq).sort((a, b) => a - b);
  expect(got).toEqual([...seqs].sort((a, b) => a - b));
  const byPartition = new Map<number, number[]>();
  for (const f of frames) byPartition.set(f.partition, [...(byPartition.get(f.partition) ?? []), f.offset]);
  for (const offsets of byPartition.values()) for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[i - 1] + 1);
}

async function waitForRecords(s: RecordingSocket, n: number, framing: Framing): Promise<Frame[]> {
  const records = () => recordsIn(s.frames, framing) as Frame[];
  const deadline = Date.now() + 30_000;
  while (records().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300)); // anything extra would show up now
  return records();
}

/**
 * The records a client "processed" before losing its connection: the first `n`, cut back to the last
 * one that carries a token (every record per record; the last of each batch in batch framing).
 */
function processedUpTo(seen: Frame[], n: number): Frame[] {
  let i = Math.min(n, seen.length) - 1;
  while (i > 0 && seen[i].token === undefined) i--;
  if (seen[i].token === undefined) i = seen.findIndex((f) => f.token !== undefined);
  return seen.slice(0, i + 1);
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

/** The same checks with sockets on the main thread and in two ingress worker threads (the registry feeds each worker by message). */
for (const threads of ['0', '2'])
  describe(`SLUICE_INGRESS_THREADS=${threads}`, () => {
    const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_INGRESS_THREADS: threads }));

    /** Posts records seq from..to-1, keyed over several devices so they spread across partitions. */
    async function post(topic: string, from: number, to: number): Promise<void> {
      const byKey = new Map<string, string[]>();
      for (let seq = from; seq < to; seq++) {
        const key = `dev-${seq % 7}`;
        byKey.set(key, [...(byKey.get(key) ?? []), JSON.stringify({ seq, key })]);
      }
      const answers = await Promise.all(
        [...byKey].map(([key, lines]) => postJson(`${gateway().url}/topics/${topic}?key=${key}`, lines.join('\n'), 'application/x-ndjson')),
      );
      for (const a of answers) expect(a.status, a.text).toBe(200);
    }

    for (const framing of FRAMINGS)
      describe(`${framing} frames`, () => {
        const waitFor = (s: RecordingSocket, n: number) => waitForRecords(s, n, framing);
        const url = (path: string) => framed(`${gateway().wsUrl}${path}`, framing);

        describe('replay', () => {
          it('from=earliest sends the history then live records, across all partitions, none twice, none missing, while records keep arriving', async () => {
            const topic = randomTopic('replay');
            await post(topic, 0, 3000);
            expect(partitionCount(kafka, topic)).toBeGreaterThan(1);
            // Records posted while the replay runs must come either from the history or live, exactly once.
            const during = post(topic, 3000, 3600);
            const s = await connect(url(`/ws/topics/${topic}?from=earliest`));
            await during;
            await post(topic, 3600, 4000);
            const frames = await waitFor(s, 4000);
            expectExactlyOnce(frames, range(0, 4000));
            for (const offsets of groupOffsets(frames).values()) expect(offsets[0]).toBe(0);
            expect(JSON.parse(s.frames[0])).toMatchObject({ event: 'subscribed', topic, token: expect.any(String) });
            // The history comes framed like live records: in batch framing, hundreds of records per message.
            if (framing === 'batch') expect(s.frames.length - 1).toBeLessThan(frames.length / 10);
            s.ws.close();
          });

          it('from=<epoch ms> starts at the first record at or after that time', async () => {
            const topic = randomTopic('replay-time');
            await post(topic, 0, 50);
            await new Promise((r) => setTimeout(r, 50));
            const since = Date.now();
            await new Promise((r) => setTimeout(r, 50));
            await post(topic, 50, 100);
            const s = await connect(url(`/ws/topics/${topic}?from=${since}`));
            await post(topic, 100, 120);
            expectExactlyOnce(await waitFor(s, 70), range(50, 120));
            s.ws.close();
          });
        });

        describe('resume', () => {
          it('WebSocket: after a forced disconnect, from=<token of the last frame> continues exactly', async () => {
            const topic = randomTopic('resume-ws');
            await post(topic, 0, 10);
            const first = await connect(url(`/ws/topics/${topic}`));
            await first.waitForFrames(1);
            await post(topic, 10, 410);
            const seen = await waitFor(first, 400);
            // Cut the connection in the middle of what was received: keep only the first ~150 records as "processed".
            first.ws.terminate();
            const processed = processedUpTo(seen, 150);
            await post(topic, 410, 600);
            const second = await connect(url(`/ws/topics/${topic}?from=${processed[processed.length - 1].token}`));
            await post(topic, 600, 700);
            const rest = await waitFor(second, 700 - 10 - processed.length);
            expectExactlyOnce([...processed, ...rest], range(10, 700));
            second.ws.close();
          });

          it('SSE: each event id is the token, and Last-Event-ID resumes exactly', async () => {
            const topic = randomTopic('resume-sse');
            await post(topic, 0, 5);
            const first = await openSse(framed(`${gateway().url}/sse/topics/${topic}`, framing));
            const [subscribed] = await first.waitForEvents(1);
            expect(subscribed.event).toBe('subscribed');
            expect(JSON.parse(subscribed.data)).toMatchObject({ event: 'subscribed', topic });
            expect(first.status).toBe(200);
            await post(topic, 5, 205);
            const recordsOf = (events: { data: string }[]) =>
              recordsIn(
                events.map((e) => e.data),
                framing,
              ) as Frame[];
            const deadline = Date.now() + 30_000;
            while (recordsOf(first.events.slice(1)).length < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
            const events = first.events.slice(1);
            expect(recordsOf(events)).toHaveLength(200);
            for (const e of events) expect(e.id).toBe((JSON.parse(e.data) as { token: string }).token);
            first.close();
            // Keep the events up to about 80 records (at least one event) as "processed".
            let k = 1;
            while (k < events.length && recordsOf(events.slice(0, k + 1)).length <= 80) k++;
            const kept = events.slice(0, k);
            const keptRecords = recordsOf(kept);
            await post(topic, 205, 300);
            const second = await openSse(framed(`${gateway().url}/sse/topics/${topic}`, framing), {
              'last-event-id': kept[kept.length - 1].id!,
            });
            const want = 300 - 5 - keptRecords.length;
            while (recordsOf(second.events.slice(1)).length < want && Date.now() < deadline + 30_000)
              await new Promise((r) => setTimeout(r, 50));
            await new Promise((r) => setTimeout(r, 300));
            const rest = recordsOf(second.events.slice(1));
            expect(rest).toHaveLength(want);
            expectExactlyOnce([...keptRecords, ...rest], range(5, 300));
            second.close();
          });
        });
      });

    describe('upgrade after the wait for the registry', () => {
      // uWS.js 20.57 closed about half of the WebSockets upgraded inside res.cork after an asynchronous wait, the
      // client seeing an open socket that never gets a frame (see SubscriberHub.upgrade): sockets opened one after
      // another on a thread reuse the memory of the one before, so a sequence shows it where a single one may not.
      it('each of 12 WebSockets opened one after another with from=earliest gets `subscribed` and the whole history', async () => {
        const topic = randomTopic('upgrade-seq');
        await post(topic, 0, 10);
        const records: number[] = [];
        for (let i = 0; i < 12; i++) {
          const s = await connect(`${gateway().wsUrl}/ws/topics/${topic}?from=earliest`);
          await s.waitForFrames(11, 10_000).catch(() => undefined);
          expect(JSON.parse(s.frames[0] ?? '{}'), `socket ${i}`).toMatchObject({ event: 'subscribed', topic });
          records.push(recordsIn(s.frames, 'record').length);
          s.ws.close();
        }
        expect(records).toEqual(Array(12).fill(10));
      });
    });

    describe('resume', () => {
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
