/**
 * Routing by key over a real broker: many subscribers each on its own key, on several keys at once
 * (`key=a,b,c`, in the URL and as a JSON array in a subscribe message), on a `field=value` filter, and
 * unfiltered, over WebSocket (both framings) and SSE: each gets exactly the records it selects, in order
 * per key, none misrouted. `SLUICE_MAX_KEYS_PER_SUBSCRIPTION` bounds a subscription's keys (400).
 * Conflation (`conflate=`): a bounded number of frames per key, the latest record of each key delivered,
 * and the token of the last conflated frame resumes after it (no record sent twice).
 */
import { describe, expect, inject, it } from 'vitest';
import { fetchAnswer, postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { connect, type RecordingSocket } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';
import { FRAMINGS, framed, recordsIn, subscribeMessage, type RecordFrame } from './helpers/framing.js';

const kafka = inject('kafkaBootstrap');
const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_MAX_KEYS_PER_SUBSCRIPTION: '5' }));

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function postKeyed(topic: string, key: string, values: object[]): Promise<void> {
  const res = await postJson(
    `${gateway().url}/topics/${topic}?key=${encodeURIComponent(key)}`,
    values.map((v) => JSON.stringify(v)).join('\n'),
    'application/x-ndjson',
  );
  expect(res.status).toBe(200);
}

const DEVICES = 24;
const PER_DEVICE = 6;
const dev = (i: number) => `dev-${i}`;

for (const framing of FRAMINGS)
  describe(`key routing (${framing} frames)`, () => {
    const recordsOf = (s: { frames: string[] }) => recordsIn(s.frames, framing);
    const url = (path: string) => framed(`${gateway().wsUrl}${path}`, framing);

    it('each subscriber gets exactly its keys’ records, in order per key, none misrouted', async () => {
      const topic = randomTopic('keys');
      await postKeyed(topic, 'warmup', [{ warmup: true }]);
      // Who wants what: one key each; three keys in the URL; two keys (one with a comma) as a JSON array in a
      // subscribe message; a field=value filter (value-indexed); a range filter (scanned); everything.
      const subs: { name: string; socket: RecordingSocket; wants: (key: string, v: { d: number; n: number }) => boolean }[] = [];
      for (let i = 0; i < DEVICES; i++)
        subs.push({ name: `own ${i}`, socket: await connect(url(`/ws/topics/${topic}?key=${dev(i)}`)), wants: (k) => k === dev(i) });
      subs.push({
        name: 'three keys',
        socket: await connect(url(`/ws/topics/${topic}?key=${encodeURIComponent('dev-3,dev-5,dev-7')}`)),
        wants: (k) => ['dev-3', 'dev-5', 'dev-7'].includes(k),
      });
      const byMessage = await connect(`${gateway().wsUrl}/ws`);
      byMessage.ws.send(subscribeMessage(framing, { topic, key: ['dev-1', 'odd,key'] }));
      subs.push({ name: 'array of keys', socket: byMessage, wants: (k) => k === 'dev-1' || k === 'odd,key' });
      subs.push({
        name: 'field=value',
        socket: await connect(url(`/ws/topics/${topic}?where=${encodeURIComponent('n=2')}`)),
        wants: (_k, v) => v.n === 2,
      });
      subs.push({
        name: 'range',
        socket: await connect(url(`/ws/topics/${topic}?where=${encodeURIComponent('d>=20')}`)),
        wants: (_k, v) => v.d >= 20,
      });
      subs.push({ name: 'all', socket: await connect(url(`/ws/topics/${topic}`)), wants: () => true });
      for (const s of subs) await s.socket.waitForFrames(1);
      const sse = await openSse(`${gateway().url}/sse/topics/${topic}?key=${encodeURIComponent('dev-2,odd\\,key')}`);
      await sse.waitForEvents(1);

      const keys = [...Array.from({ length: DEVICES }, (_, i) => dev(i)), 'odd,key'];
      const posted: { key: string; v: { d: number; n: number } }[] = [];
      for (let n = 0; n < PER_DEVICE; n += 3)
        await Promise.all(
          keys.map((key, d) => {
            const values = [n, n + 1, n + 2].map((m) => ({ d, n: m }));
            for (const v of values) posted.push({ key, v });
            return postKeyed(topic, key, values);
          }),
        );
      const all = subs.at(-1)!;
      await until(() => recordsOf(all.socket).length === posted.length, 'every record on the unfiltered socket');
      for (const s of subs) {
        const want = posted.filter((p) => s.wants(p.key, p.v));
        await until(() => recordsOf(s.socket).length >= want.length, `${s.name}: ${want.length} records`);
      }
      await new Promise((r) => setTimeout(r, 300)); // anything misrouted would show up now
      for (const s of subs) {
        const got = recordsOf(s.socket);
        const want = posted.filter((p) => s.wants(p.key, p.v));
        expect(got.length, s.name).toBe(want.length);
        for (const f of got) expect(s.wants(f.key!, f.value), `${s.name} got ${f.key} ${JSON.stringify(f.value)}`).toBe(true);
        for (const key of new Set(want.map((p) => p.key)))
          expect(
            got.filter((f) => f.key === key).map((f) => f.value.n),
            `${s.name}: ${key} in order`,
          ).toEqual(want.filter((p) => p.key === key).map((p) => p.v.n));
      }
      const sseRecords = sse.events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data) as RecordFrame);
      await until(() => sse.events.filter((e) => e.event === 'message').length >= 2 * PER_DEVICE, 'the SSE subscriber’s two keys');
      const sseGot = sse.events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data) as RecordFrame);
      expect(sseRecords.length).toBeLessThanOrEqual(sseGot.length);
      expect(sseGot.map((f) => `${f.key}:${f.value.n}`).sort()).toEqual(
        ['dev-2', 'odd,key'].flatMap((k) => Array.from({ length: PER_DEVICE }, (_, n) => `${k}:${n}`)).sort(),
      );
      sse.close();
      for (const s of subs) s.socket.ws.close();
    });

    it('a subscription naming more keys than SLUICE_MAX_KEYS_PER_SUBSCRIPTION is refused with 400', async () => {
      const topic = randomTopic('many-keys');
      await postKeyed(topic, 'warmup', [{ warmup: true }]); // the topic exists: the five-key subscription below is served
      const six = Array.from({ length: 6 }, (_, i) => dev(i)).join(',');
      const res = await fetchAnswer(`${gateway().url}/sse/topics/${topic}?key=${encodeURIComponent(six)}`, {
        headers: { accept: 'text/event-stream' },
      });
      expect(res.status).toBe(400);
      expect(res.json.error).toMatchObject({ code: 'INVALID_PARAMETER', message: expect.stringContaining('at most 5') });
      const ws = await connect(`${gateway().wsUrl}/ws`);
      ws.ws.send(subscribeMessage(framing, { topic, key: six.split(',') }));
      const [frame] = await ws.waitForFrames(1);
      expect(JSON.parse(frame)).toMatchObject({ event: 'error', error: { code: 'INVALID_PARAMETER' } });
      // Five keys are fine.
      const five = await connect(url(`/ws/topics/${topic}?key=${encodeURIComponent(six.split(',').slice(1).join(','))}`));
      expect(JSON.parse((await five.waitForFrames(1))[0])).toMatchObject({ event: 'subscribed' });
      ws.ws.close();
      five.ws.close();
    });

    it('conflate=: a bounded number of frames per key, the latest record of each key, and a token that resumes after it', async () => {
      const topic = randomTopic('conflate');
      await postKeyed(topic, 'warmup', [{ warmup: true }]);
      const intervalMs = 400;
      const started = Date.now();
      const chart = await connect(url(`/ws/topics/${topic}?key=a,b&conflate=${intervalMs}ms`));
      const plain = await connect(url(`/ws/topics/${topic}?key=a,b`));
      for (const s of [chart, plain]) await s.waitForFrames(1);
      const N = 60;
      for (let n = 0; n < N; n += 10)
        for (const key of ['a', 'b', 'c'])
          await postKeyed(
            topic,
            key,
            Array.from({ length: 10 }, (_, i) => ({ n: n + i })),
          );
      await until(() => recordsOf(plain).length === 2 * N, 'every record on the unconflated socket');
      // The latest record of each key arrives (at the latest when its interval ends).
      await until(
        () => ['a', 'b'].every((k) => recordsOf(chart).some((f) => f.key === k && f.value.n === N - 1)),
        'the latest record of a and b',
      );
      await new Promise((r) => setTimeout(r, 2 * intervalMs)); // nothing more may come
      const elapsedIntervals = Math.ceil((Date.now() - started) / intervalMs);
      const got = recordsOf(chart);
      expect(got.every((f) => f.key === 'a' || f.key === 'b')).toBe(true);
      for (const k of ['a', 'b']) {
        const mine = got.filter((f) => f.key === k).map((f) => f.value.n);
        // At most one frame per key per interval (and far fewer than the records posted), going forward.
        expect(mine.length).toBeLessThanOrEqual(elapsedIntervals + 1);
        expect(mine.length).toBeLessThan(N);
        expect(mine).toEqual([...mine].sort((x, y) => x - y));
        expect(mine.at(-1)).toBe(N - 1);
      }
      // Resuming from the last conflated frame's token: nothing sent is sent again; what follows arrives.
      const lastToken = got.at(-1)!.token!;
      expect(typeof lastToken).toBe('string');
      const resumed = await connect(url(`/ws/topics/${topic}?key=a,b&from=${lastToken}`));
      await resumed.waitForFrames(1);
      await postKeyed(topic, 'b', [{ n: N }]);
      await until(() => recordsOf(resumed).length >= 1, 'the record posted after the token');
      await new Promise((r) => setTimeout(r, 300));
      expect(recordsOf(resumed).map((f) => `${f.key}:${f.value.n}`)).toEqual([`b:${N}`]);
      for (const s of [chart, plain, resumed]) s.ws.close();
    });
  });
