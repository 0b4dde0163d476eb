/**
 * `snapshot=<duration>` against the real broker, in both thread modes: the latest record of every key in the
 * span, then live from exactly after it — every record is either its key's latest in the snapshot or in the
 * live stream, once — also while records are posted during the snapshot; filters, SSE, resume tokens, the
 * span (records posted with an older X-Kafka-Timestamp), and the key bound.
 */
import { describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { connect, type RecordingSocket } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';
import { readTopic } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');
const MAX_KEYS = 40;

interface Frame {
  event?: string;
  partition: number;
  offset: number;
  key: string | null;
  value: { seq: number; price?: number };
  token?: string;
  snapshot?: boolean;
  keys?: number;
}

const parse = (s: { frames: string[] }) => s.frames.map((f) => JSON.parse(f) as Frame);

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Splits a snapshot subscriber's frames: subscribed, snapshot frames, the end marker, live frames. */
function split(s: RecordingSocket) {
  const frames = parse(s);
  const end = frames.findIndex((f) => f.event === 'snapshot-end');
  expect(end, 'a snapshot-end marker').toBeGreaterThan(0);
  expect(frames[0].event).toBe('subscribed');
  const decoded = Buffer.from(frames[end].token!, 'base64url').toString('latin1');
  const seam = decoded.slice(3).split(',').map(Number);
  return { subscribed: frames[0], snapshot: frames.slice(1, end), marker: frames[end], live: frames.slice(end + 1), seam };
}

for (const threads of ['0', '2'])
  describe(`snapshot, SLUICE_INGRESS_THREADS=${threads}`, () => {
    const gateway = sluiceForFile(() => ({
      KAFKA_BOOTSTRAP_SERVERS: kafka,
      SLUICE_INGRESS_THREADS: threads,
      SLUICE_SNAPSHOT_MAX_KEYS: String(MAX_KEYS),
    }));

    async function post(topic: string, key: string, values: object[], headers: Record<string, string> = {}): Promise<void> {
      // postJson retries a brand-new topic's 503 TOPIC_NOT_READY, as a device would.
      const res = await postJson(
        `${gateway().url}/topics/${topic}?key=${key}`,
        values.map((v) => JSON.stringify(v)).join('\n'),
        'application/x-ndjson',
        headers,
      );
      expect(res.status, res.text).toBe(200);
    }

    it('the latest record per key, then live from exactly after it: none lost, none twice, also with posts during the snapshot', async () => {
      const topic = randomTopic('snap');
      const keys = Array.from({ length: 12 }, (_, i) => `sym-${i}`);
      let seq = 0;
      for (let round = 0; round < 5; round++) await Promise.all(keys.map((k) => post(topic, k, [{ seq: seq++ }, { seq: seq++ }])));
      // Posts keep arriving while the snapshot is read and handed over.
      let posting = true;
      const poster = (async () => {
        while (posting) await Promise.all(keys.slice(0, 4).map((k) => post(topic, k, [{ seq: seq++ }])));
      })();
      const s = await connect(`${gateway().wsUrl}/ws/topics/${topic}?snapshot=1h`);
      await until(() => s.frames.some((f) => f.includes('"snapshot-end"')), 'the snapshot');
      await new Promise((r) => setTimeout(r, 300));
      posting = false;
      await poster;
      await Promise.all(keys.map((k) => post(topic, k, [{ seq: seq++ }])));
      const total = seq;
      const all = await readTopic(kafka, topic, total);
      expect(all).toHaveLength(total);
      await until(() => {
        const { live, seam } = split(s);
        return live.length === all.filter((r) => r.offset >= seam[r.partition]).length;
      }, 'the live records after the seam');
      await new Promise((r) => setTimeout(r, 300)); // anything extra would show up now
      const { subscribed, snapshot, marker, live, seam } = split(s);

      // The snapshot: for each key, exactly its latest record below the seam.
      const before = all.filter((r) => r.offset < seam[r.partition]);
      const latest = new Map<string, (typeof all)[number]>();
      for (const r of before) latest.set(r.key!, r);
      expect(snapshot.every((f) => f.snapshot === true && f.token === undefined)).toBe(true);
      expect(new Map(snapshot.map((f) => [f.key!, `${f.partition}/${f.offset}`]))).toEqual(
        new Map([...latest].map(([k, r]) => [k, `${r.partition}/${r.offset}`])),
      );
      expect(snapshot).toHaveLength(latest.size);
      expect(marker).toMatchObject({ event: 'snapshot-end', topic, keys: latest.size });
      expect(subscribed.token).toBe(marker.token);
      // Live: every record from the seam on, once, in partition order.
      const after = all.filter((r) => r.offset >= seam[r.partition]);
      expect(live.map((f) => `${f.partition}/${f.offset}`).sort()).toEqual(after.map((r) => `${r.partition}/${r.offset}`).sort());
      for (const p of new Set(live.map((f) => f.partition))) {
        const offsets = live.filter((f) => f.partition === p).map((f) => f.offset);
        expect(offsets[0]).toBe(seam[p]);
        for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[i - 1] + 1);
      }
      // The marker's token resumes exactly after the snapshot, like any token.
      s.ws.close();
      const resumed = await connect(`${gateway().wsUrl}/ws/topics/${topic}?from=${marker.token}`);
      await until(() => parse(resumed).filter((f) => f.event === undefined).length >= after.length, 'the resumed stream');
      expect(
        parse(resumed)
          .filter((f) => f.event === undefined)
          .map((f) => `${f.partition}/${f.offset}`)
          .sort(),
      ).toEqual(after.map((r) => `${r.partition}/${r.offset}`).sort());
      resumed.ws.close();
    });

    it('only records within the span (Kafka timestamps), and with key= or where= only matching ones', async () => {
      const topic = randomTopic('snap-span');
      const twoHoursAgo = String(Date.now() - 2 * 3_600_000);
      await post(topic, 'old', [{ seq: 0, price: 500 }], { 'x-kafka-timestamp': twoHoursAgo });
      await post(topic, 'a', [
        { seq: 1, price: 90 },
        { seq: 2, price: 120 },
      ]);
      await post(topic, 'b', [
        { seq: 3, price: 150 },
        { seq: 4, price: 80 },
      ]);
      const span = await connect(`${gateway().wsUrl}/ws/topics/${topic}?snapshot=1h`);
      await until(() => span.frames.some((f) => f.includes('"snapshot-end"')), 'the snapshot');
      expect(
        split(span)
          .snapshot.map((f) => f.value.seq)
          .sort(),
      ).toEqual([2, 4]);
      span.ws.close();
      // The latest *matching* record per key: where= filters before the reduction, as it filters the live stream.
      const where = await connect(`${gateway().wsUrl}/ws/topics/${topic}?snapshot=1h&where=price>100`);
      await until(() => where.frames.some((f) => f.includes('"snapshot-end"')), 'the filtered snapshot');
      expect(
        split(where)
          .snapshot.map((f) => f.value.seq)
          .sort(),
      ).toEqual([2, 3]);
      await post(topic, 'b', [
        { seq: 5, price: 10 },
        { seq: 6, price: 101 },
      ]);
      await until(() => split(where).live.length >= 1, 'a live match');
      await new Promise((r) => setTimeout(r, 300));
      expect(split(where).live.map((f) => f.value.seq)).toEqual([6]);
      where.ws.close();
      const byKey = await connect(`${gateway().wsUrl}/ws/topics/${topic}?snapshot=3h&key=old`);
      await until(() => byKey.frames.some((f) => f.includes('"snapshot-end"')), 'the keyed snapshot');
      expect(split(byKey).snapshot.map((f) => f.value.seq)).toEqual([0]);
      byKey.ws.close();
    });

    it('SSE and /ws subscribe messages: snapshot frames, then snapshot-end whose event id is the token', async () => {
      const topic = randomTopic('snap-sse');
      await post(topic, 'x', [{ seq: 1 }, { seq: 2 }]);
      await post(topic, 'y', [{ seq: 3 }]);
      const sse = await openSse(`${gateway().url}/sse/topics/${topic}?snapshot=10m`);
      const events = await sse.waitForEvents(4);
      const data = events.map((e) => JSON.parse(e.data) as Frame);
      expect(
        data
          .slice(1, 3)
          .map((f) => f.value.seq)
          .sort(),
      ).toEqual([2, 3]);
      expect(data[3]).toMatchObject({ event: 'snapshot-end', keys: 2 });
      expect(events[3].id).toBe(data[3].token);
      expect(events[1].id ?? null).toBeNull();
      sse.close();
      const ws = await connect(`${gateway().wsUrl}/ws`);
      ws.ws.send(JSON.stringify({ op: 'subscribe', topic, snapshot: '10m' }));
      await until(() => ws.frames.some((f) => f.includes('"snapshot-end"')), 'the snapshot by control message');
      expect(
        split(ws)
          .snapshot.map((f) => f.value.seq)
          .sort(),
      ).toEqual([2, 3]);
      ws.ws.close();
    });

    it('more keys than SLUICE_SNAPSHOT_MAX_KEYS: an error frame naming the bound; bad values are 400 before the upgrade', async () => {
      const topic = randomTopic('snap-limit');
      await Promise.all(Array.from({ length: MAX_KEYS + 5 }, (_, i) => post(topic, `k${i}`, [{ seq: i }])));
      const s = await connect(`${gateway().wsUrl}/ws/topics/${topic}?snapshot=1h`);
      const closed = await s.closed;
      const error = parse(s).find((f) => f.event === 'error') as unknown as { error: { code: string; limit: string } };
      expect(error.error).toMatchObject({ code: 'SNAPSHOT_TOO_LARGE', limit: 'SLUICE_SNAPSHOT_MAX_KEYS' });
      expect(closed.code).toBe(1011);
      await expect(connect(`${gateway().wsUrl}/ws/topics/${topic}?snapshot=forever`)).rejects.toMatchObject({ status: 400 });
      await expect(connect(`${gateway().wsUrl}/ws/topics/${topic}?snapshot=1h&from=earliest`)).rejects.toMatchObject({ status: 400 });
      // Every replay slot came back.
      const metrics = await (await fetch(`${gateway().url}/metrics`)).text();
      expect(metrics).toMatch(/^sluice_replays_in_progress 0$/m);
    });
  });
