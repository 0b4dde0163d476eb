/**
 * What a subscriber chooses: server-side filters (`key=`, `where=`), several topics on one socket through
 * control messages (malformed ones get an error frame, the socket stays), and `group=` queue semantics;
 * each in both framings (one frame per record, and `frames=batch`).
 */
import { describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, sluiceForFile, startSluice } from './helpers/sluice-process.js';
import { connect, type RecordingSocket } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';
import { FRAMINGS, eventsIn, framed, recordsIn, subscribeMessage } from './helpers/framing.js';

const kafka = inject('kafkaBootstrap');
const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_SSE_HEARTBEAT_S: '1' }));

const parsed = (s: { frames: string[] }) => eventsIn(s.frames);

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function postLines(topic: string, lines: object[], key?: string): Promise<void> {
  const res = await postJson(
    `${gateway().url}/topics/${topic}${key ? `?key=${key}` : ''}`,
    lines.map((l) => JSON.stringify(l)).join('\n'),
    'application/x-ndjson',
  );
  expect(res.status).toBe(200);
}

for (const framing of FRAMINGS)
  describe(`${framing} frames`, () => {
    const recordsOf = (s: { frames: string[] }) => recordsIn(s.frames, framing);
    const url = (path: string) => framed(`${gateway().wsUrl}${path}`, framing);

    describe('filters', () => {
      it('where= and key= deliver only matching records; unfiltered subscribers still get all', async () => {
        const topic = randomTopic('filter');
        await postLines(topic, [{ warmup: true }]);
        const hot = await connect(url(`/ws/topics/${topic}?where=${encodeURIComponent('temperature>50,site.zone=north')}`));
        const pump = await connect(url(`/ws/topics/${topic}?key=pump-7`));
        const all = await connect(url(`/ws/topics/${topic}`));
        for (const s of [hot, pump, all]) await s.waitForFrames(1);
        await postLines(
          topic,
          [
            { temperature: 51, site: { zone: 'north' }, n: 1 },
            { temperature: 49, site: { zone: 'north' }, n: 2 },
            { temperature: 70, site: { zone: 'south' }, n: 3 },
            { temperature: '99', site: { zone: 'north' }, n: 4 },
          ],
          'pump-7',
        );
        await postLines(topic, [{ temperature: 80, site: { zone: 'north' }, n: 5 }], 'pump-8');
        await until(() => recordsOf(all).length === 5, 'all five records');
        await new Promise((r) => setTimeout(r, 300));
        expect(
          recordsOf(hot)
            .map((f) => f.value.n)
            .sort(),
        ).toEqual([1, 5]);
        expect(recordsOf(pump).map((f) => f.value.n)).toEqual([1, 2, 3, 4]);
        // A filtered subscriber's last token is the position after its last match: resuming from it repeats nothing.
        const last = recordsOf(hot).at(-1)!;
        expect(typeof last.token).toBe('string');
        await postLines(topic, [{ temperature: 90, site: { zone: 'north' }, n: 6 }], 'pump-8');
        const resumed = await connect(
          url(`/ws/topics/${topic}?where=${encodeURIComponent('temperature>50,site.zone=north')}&from=${last.token}`),
        );
        await until(() => recordsOf(resumed).length === 1, 'the match posted after the token');
        await new Promise((r) => setTimeout(r, 300));
        expect(recordsOf(resumed).map((f) => f.value.n)).toEqual([6]);
        for (const s of [hot, pump, all, resumed]) s.ws.close();
      });
    });

    describe('control messages', () => {
      it('one socket follows several topics, can unsubscribe, and gets error frames for malformed messages without being dropped', async () => {
        const a = randomTopic('multi-a');
        const b = randomTopic('multi-b');
        const s = await connect(`${gateway().wsUrl}/ws`);
        const send = (text: string) => s.ws.send(text);
        const bad = [
          'not json',
          '[1]',
          '{"op":"subscribe"}',
          '{"op":"jump","topic":"x"}',
          '{"op":"subscribe","topic":"a b"}',
          '{"op":"subscribe","topic":"x","from":"never"}',
          '{"op":"unsubscribe","topic":"never-subscribed"}',
        ];
        for (const text of bad) send(text);
        await until(() => parsed(s).filter((f) => f.event === 'error').length === bad.length, 'an error frame per malformed message');
        const errors = parsed(s).filter((f) => f.event === 'error');
        expect(errors.map((e) => e.error!.code)).toEqual([
          'INVALID_JSON',
          'INVALID_PARAMETER',
          'INVALID_PARAMETER',
          'INVALID_PARAMETER',
          'INVALID_TOPIC',
          'INVALID_PARAMETER',
          'INVALID_PARAMETER',
        ]);
        for (const e of errors) expect(e.error!.message.length).toBeGreaterThan(5);

        send(subscribeMessage(framing, { topic: a }));
        send(subscribeMessage(framing, { topic: b, where: 'n>=2' }));
        await until(() => parsed(s).filter((f) => f.event === 'subscribed').length === 2, 'two subscriptions');
        send(subscribeMessage(framing, { topic: a }));
        await until(() => parsed(s).filter((f) => f.event === 'error').length === bad.length + 1, 'a duplicate subscription refused');
        await postLines(a, [{ n: 1 }, { n: 2 }]);
        await postLines(b, [{ n: 1 }, { n: 2 }, { n: 3 }]);
        await until(() => recordsOf(s).length === 4, 'records of both topics');
        expect(
          recordsOf(s)
            .filter((f) => f.topic === a)
            .map((f) => f.value.n),
        ).toEqual([1, 2]);
        expect(
          recordsOf(s)
            .filter((f) => f.topic === b)
            .map((f) => f.value.n)
            .sort(),
        ).toEqual([2, 3]);

        send(JSON.stringify({ op: 'unsubscribe', topic: a }));
        await until(() => parsed(s).some((f) => f.event === 'unsubscribed'), 'unsubscribed');
        await postLines(a, [{ n: 9 }]);
        await postLines(b, [{ n: 9 }]);
        await until(() => recordsOf(s).length === 5, 'the record of the topic still followed');
        await new Promise((r) => setTimeout(r, 300));
        expect(
          recordsOf(s)
            .slice(4)
            .map((f) => [f.topic, f.value.n]),
        ).toEqual([[b, 9]]);
        expect(s.ws.readyState).toBe(s.ws.OPEN);
        s.ws.close();
      });
    });

    describe('groups', () => {
      it('group= deals each record to one member; offsets are committed, so a later member of the group gets only newer records', async () => {
        const topic = randomTopic('group');
        const group = randomTopic('g');
        await postLines(topic, [{ warmup: true }]);
        const members: RecordingSocket[] = [];
        for (let i = 0; i < 2; i++) members.push(await connect(url(`/ws/topics/${topic}?group=${group}&from=latest`)));
        const watcher = await connect(url(`/ws/topics/${topic}`));
        for (const s of [...members, watcher]) await s.waitForFrames(1);
        // A group member gets records once the group has its partitions: post until the first one arrives.
        let n = 0;
        await until(
          () => members.some((m) => recordsOf(m).length > 0) || (void postLines(topic, [{ probe: n++ }]), false),
          'the group to start',
          30_000,
        );
        await until(() => recordsOf(watcher).length === n, 'the watcher to see the probes');
        const probesDelivered = members.reduce((sum, m) => sum + recordsOf(m).length, 0);
        // Keys spread the records over every partition, so the group commits an offset on each.
        for (let k = 0; k < 10; k++)
          await postLines(
            topic,
            Array.from({ length: 20 }, (_, i) => ({ seq: k * 20 + i })),
            `k${k}`,
          );
        await until(
          () => members.reduce((sum, m) => sum + recordsOf(m).filter((f) => 'seq' in f.value).length, 0) >= 200,
          'all 200 records in the group',
        );
        await new Promise((r) => setTimeout(r, 500));
        const seqs = members.map((m) =>
          recordsOf(m)
            .filter((f) => 'seq' in f.value)
            .map((f) => f.value.seq as number),
        );
        expect([...seqs[0], ...seqs[1]].sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i)); // each once
        expect(seqs[0].length).toBeGreaterThan(0);
        expect(seqs[1].length).toBeGreaterThan(0);
        expect(probesDelivered).toBeGreaterThan(0);
        expect(recordsOf(watcher).length).toBe(n + 200); // broadcast subscribers still get everything

        for (const m of members) m.ws.close();
        await new Promise((r) => setTimeout(r, 1000));
        for (let k = 0; k < 10; k++) await postLines(topic, [{ after: k }], `k${k}`);
        // from=latest only says where a group without commits starts: this group resumes from its commits, so
        // it gets what was posted while it had no member, and nothing it had handed before.
        const late = await connect(url(`/ws/topics/${topic}?group=${group}&from=latest`));
        await until(() => recordsOf(late).length >= 10, 'the records posted while the group had no member');
        await new Promise((r) => setTimeout(r, 500));
        expect(
          recordsOf(late)
            .map((f) => f.value.after as number)
            .sort((x, y) => x - y),
        ).toEqual(Array.from({ length: 10 }, (_, k) => k));
        late.ws.close();
        watcher.ws.close();
      });
    });
  });

describe('options refused, heartbeats', () => {
  it('a where= that cannot be read gets 400 naming the problem', async () => {
    await expect(connect(`${gateway().wsUrl}/ws/topics/${randomTopic()}?where=temperature`)).rejects.toMatchObject({
      status: 400,
      body: expect.stringContaining('where'),
    });
  });

  it('SSE streams send heartbeats on idle streams', async () => {
    const sse = await openSse(`${gateway().url}/sse/topics/${randomTopic('sse-idle')}`);
    await sse.waitForEvents(1);
    await until(() => sse.comments.includes('keep-alive'), 'a heartbeat', 5000);
    sse.close();
  });
});

describe('bounds on Kafka consumers', () => {
  it('a subscription to one topic past SLUICE_MAX_LIVE_PARTITIONS (partitions over every followed topic), or one group more than SLUICE_MAX_GROUPS, is refused with OVERLOADED', async () => {
    const small = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_MAX_LIVE_PARTITIONS: '4', SLUICE_MAX_GROUPS: '0' }); // one topic of the test broker (3 partitions) fits, two do not
    try {
      const first = await connect(`${small.wsUrl}/ws/topics/${randomTopic('bound')}`);
      await first.waitForFrames(1);
      await expect(connect(`${small.wsUrl}/ws/topics/${randomTopic('bound')}`)).rejects.toMatchObject({
        status: 503,
        body: expect.stringContaining('SLUICE_MAX_LIVE_PARTITIONS'),
      });
      const sse = await fetch(`${small.url}/sse/topics/${randomTopic('bound')}`);
      expect(sse.status).toBe(503);
      expect(sse.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await sse.json()) as { error: unknown }).error).toMatchObject({
        code: 'OVERLOADED',
        retriable: true,
        limit: 'SLUICE_MAX_LIVE_PARTITIONS',
      });
      first.ws.send(JSON.stringify({ op: 'subscribe', topic: randomTopic('bound'), group: 'g' }));
      await until(() => parsed(first).some((f) => f.event === 'error'), 'an error frame');
      expect(parsed(first).find((f) => f.event === 'error')!.error).toMatchObject({
        code: 'OVERLOADED',
        retriable: true,
        limit: 'SLUICE_MAX_GROUPS',
        message: expect.stringContaining('SLUICE_MAX_GROUPS'),
      });
      first.ws.close();
    } finally {
      await small.stop();
    }
  });
});
