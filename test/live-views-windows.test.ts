/**
 * Windowed views and alerts against the real broker, in both thread modes, with records posted at known
 * Kafka timestamps (X-Kafka-Timestamp): tumbling and hopping windows, live and over history (`from=earliest`),
 * equal to the plain reference computation (test/helpers/window-reference.ts) on random cases; late records
 * within and beyond grace (and the metric); alerts entering and leaving; equal views shared; the bounds.
 */
import { describe, expect, inject, it } from 'vitest';
import fc from 'fast-check';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { connect, type RecordingSocket } from './helpers/websocket-client.js';
import { reference, type Rec } from './helpers/window-reference.js';
import { parseViewSpec, type ViewParams } from '../src/subscription/view-spec.js';

const kafka = inject('kafkaBootstrap');
const HOUR = 3_600_000;
/**
 * Event time of the tests' records: aligned to every window used, hours in the past (the broker refuses a
 * timestamp more than 1 h ahead; the closing records are 3 h later) and well inside the broker's 7-day
 * retention: records stamped years ago are deleted at its next retention check (30 s after it starts, then
 * every 5 min), and a `from=earliest` view replaying after that check would find no history.
 */
const BASE = Date.now() - (Date.now() % HOUR) - 6 * HOUR;
const AGGS = 'count(),sum(temperature),avg(temperature),min(temperature),max(temperature),last(temperature)';

interface Out {
  event?: string;
  start?: number;
  end?: number;
  state?: string;
  by?: Record<string, unknown>;
  count?: number;
  error?: { code: string; limit?: string };
}

const parse = (s: { frames: string[] }) => s.frames.map((f) => JSON.parse(f) as Out);
const outputs = (s: RecordingSocket) => parse(s).filter((f) => f.event === 'window' || f.event === 'alert');

/**
 * Waits for the socket's `subscribed` frame: `from=latest` gets what is produced after it (docs/live.md), not
 * after the 101. With ingress threads the 101 leaves the worker before the main thread joins the channel (or
 * counts the view), so a record posted at `open` may reach the live feed first and miss the view; with history
 * the frame is sent as the replay takes its join point.
 */
async function subscribed(s: RecordingSocket): Promise<void> {
  const [first] = await s.waitForFrames(1, 30_000);
  expect(JSON.parse(first)).toMatchObject({ event: 'subscribed' });
}

/** `what` is read when the wait times out, so it can describe the state at that moment. */
async function until(cond: () => boolean, what: string | (() => string), timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const query = (p: ViewParams) =>
  Object.entries(p)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}=${encodeURIComponent(v!)}`)
    .join('&');

/** Sorted canonically: frames of one close are ordered by window, then by first appearance of the group (which differs across partitions). */
const canonical = (frames: unknown[]) => frames.map((f) => JSON.stringify(f, Object.keys(f as object).sort())).sort();

for (const threads of ['0', '2'])
  describe(`windowed views, SLUICE_INGRESS_THREADS=${threads}`, () => {
    const gateway = sluiceForFile(() => ({
      KAFKA_BOOTSTRAP_SERVERS: kafka,
      SLUICE_INGRESS_THREADS: threads,
      SLUICE_VIEW_MAX_GROUPS: '5',
      SLUICE_MAX_VIEWS_PER_TOPIC: '3',
    }));

    /** One record per request: its own key (device) and Kafka timestamp. */
    async function post(topic: string, r: Rec): Promise<void> {
      // postJson retries a brand-new topic's 503 TOPIC_NOT_READY, as a device would.
      const res = await postJson(`${gateway().url}/topics/${topic}?key=${r.key}`, JSON.stringify(r.value), 'application/json', {
        'x-kafka-timestamp': String(r.ts),
      });
      expect(res.status, res.text).toBe(200);
    }

    const metric = async (name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${gateway().url}/metrics`)).text())?.[1] ?? NaN);

    // Random cases, generated once (not shrunk against a broker): records at increasing timestamps over three
    // devices, a random window and hop. grace=1h: the order records of different partitions arrive in (live or
    // replayed) can never make one late; a record 3 h later closes every window.
    const cases = fc.sample(
      fc.record({
        size: fc.constantFrom(5, 10, 20, 30),
        hopDiv: fc.constantFrom(1, 2, 5),
        by: fc.constantFrom(null, 'key', 'device_id'),
        gaps: fc.array(fc.integer({ min: 0, max: 4000 }), { minLength: 10, maxLength: 40 }),
        temps: fc.array(fc.integer({ min: -20, max: 120 }), { minLength: 40, maxLength: 40 }),
        devices: fc.array(fc.constantFrom('d1', 'd2', 'd3'), { minLength: 40, maxLength: 40 }),
      }),
      { numRuns: 2, seed: 12 + Number(threads) },
    );

    for (const [n, c] of cases.entries()) {
      it(`random case ${n}: ${c.size}s windows, hop ${c.size / c.hopDiv}s, by=${c.by}: live subscribers and a from=earliest one get the reference's frames`, async () => {
        const topic = randomTopic('win');
        const p: ViewParams = {
          window: `${c.size}s`,
          hop: `${(c.size * 1000) / c.hopDiv}ms`,
          grace: '1h',
          agg: AGGS,
          by: c.by,
          alert: 'avg(temperature)>50',
        };
        let ts = BASE;
        // Per device distinct timestamps (last() is then the same whatever the arrival order).
        const records: Rec[] = c.gaps.map((gap, i) => ({
          ts: (ts += gap + 1),
          key: c.devices[i],
          value: { device_id: c.devices[i], temperature: c.temps[i] },
        }));
        const half = Math.floor(records.length / 2);
        await post(topic, { ts: BASE - 1, key: 'warm-up', value: { note: 'creates the topic' } });
        // A plain record subscriber: once it has every record, the live feed has handed them to the views too
        // (one batch feeds every channel), so the closing record cannot overtake one from another partition.
        const tap = await connect(`${gateway().wsUrl}/ws/topics/${topic}`);
        const live = await connect(`${gateway().wsUrl}/ws/topics/${topic}?${query(p)}`);
        const liveToo = await connect(`${gateway().wsUrl}/ws/topics/${topic}?${query(p)}`);
        for (const s of [tap, live, liveToo]) await subscribed(s);
        for (const r of records.slice(0, half)) await post(topic, r);
        // Closed however the case ends: a failed case must not leave views that the next case counts.
        let history: RecordingSocket | undefined;
        try {
          history = await connect(`${gateway().wsUrl}/ws/topics/${topic}?${query(p)}&from=earliest`);
          // Posted while the replay starts: each record lands in its history or in its live buffer.
          for (const r of records.slice(half)) await post(topic, r);
          await until(() => parse(tap).filter((f) => f.event === undefined).length >= records.length, 'every record at the live feed');
          // The closing record must come after the replay's join point: read back from Kafka with the history,
          // it could come before another partition's records (partitions are read one after another) and make
          // them late, as a live feed never does here.
          await subscribed(history);
          const flush: Rec = { ts: ts + 3 * 3_600_000, key: 'd1', value: { device_id: 'd1', temperature: 0 } };
          await post(topic, flush);
          const spec = parseViewSpec(p);
          const warmUp: Rec = { ts: BASE - 1, key: 'warm-up', value: { note: 'creates the topic' } };
          // Live subscribers saw everything after the warm-up; the replaying one everything, the warm-up too.
          const wantLive = canonical(reference(spec, topic, [...records, flush], 'temperature').frames);
          const wantHistory = canonical(reference(spec, topic, [warmUp, ...records, flush], 'temperature').frames);
          for (const [name, s, want] of [
            ['live', live, wantLive],
            ['liveToo', liveToo, wantLive],
            ['history', history, wantHistory],
          ] as const) {
            await until(
              () => outputs(s).length >= want.length,
              () =>
                `${want.length} window and alert frames at ${name} (has ${outputs(s).length}; socket readyState ${s.ws.readyState}; other events: ${parse(
                  s,
                )
                  .filter((f) => f.event !== 'window' && f.event !== 'alert')
                  .map((f) => f.event ?? 'record')
                  .join(',')})`,
            );
          }
          await new Promise((r) => setTimeout(r, 300));
          expect(canonical(outputs(live))).toEqual(wantLive);
          expect(canonical(outputs(liveToo))).toEqual(wantLive);
          expect(canonical(outputs(history))).toEqual(wantHistory);
          // The two live subscribers share one computation; the replaying one has its own.
          expect(await metric('sluice_window_views')).toBe(2);
        } finally {
          for (const s of [tap, live, liveToo, history]) s?.ws.close();
        }
      });
    }

    it('late records: within grace they count in their window; beyond it they are counted in sluice_window_late_records_total', async () => {
      const topic = randomTopic('win-late');
      const lateBefore = await metric('sluice_window_late_records_total');
      await post(topic, { ts: BASE - 60_000, key: 'd', value: { temperature: 0 } });
      const s = await connect(`${gateway().wsUrl}/ws/topics/${topic}?window=10s&grace=5s&agg=sum(temperature)`);
      await subscribed(s);
      const at = (sec: number, temperature: number) => post(topic, { ts: BASE + sec * 1000, key: 'd', value: { temperature } });
      await at(1, 10);
      await at(12, 20); // watermark 12 s: [0, 10 s) stays open until 15 s
      await at(8, 30); // within grace: in [0, 10 s)
      await at(16, 40); // watermark 16 s: [0, 10 s) closes
      await at(9, 99); // beyond grace: late
      await at(100, 0); // closes [10 s, 20 s)
      await until(() => outputs(s).length >= 2, 'two windows');
      await new Promise((r) => setTimeout(r, 300));
      expect(outputs(s)).toEqual([
        { event: 'window', topic, start: BASE, end: BASE + 10_000, by: {}, count: 2, 'sum(temperature)': 40 },
        { event: 'window', topic, start: BASE + 10_000, end: BASE + 20_000, by: {}, count: 2, 'sum(temperature)': 60 },
      ]);
      let late = NaN;
      for (let i = 0; i < 50 && !(late >= lateBefore + 1); i++) {
        late = await metric('sluice_window_late_records_total');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(late).toBe(lateBefore + 1);
      s.ws.close();
    });

    it('alerts: firing when a window crosses the threshold, no repeat while it stays above, resolved on recovery (seed 003)', async () => {
      const topic = randomTopic('win-alert');
      await post(topic, { ts: BASE - 60_000, key: 'sensor-1', value: { temperature: 0 } });
      const s = await connect(`${gateway().wsUrl}/ws/topics/${topic}?window=1m&agg=avg(temperature)&by=key&alert=avg(temperature)>50`);
      await subscribed(s);
      const minute = (m: number, temperature: number) =>
        post(topic, { ts: BASE + m * 60_000 + 1000, key: 'sensor-1', value: { temperature } });
      for (const [m, t] of [
        [0, 40],
        [1, 60],
        [2, 70],
        [3, 30],
        [4, 55],
        [5, 0],
      ] as const)
        await minute(m, t);
      await until(() => outputs(s).filter((f) => f.event === 'window').length >= 5, 'five windows');
      await new Promise((r) => setTimeout(r, 300));
      const all = outputs(s);
      const alerts = all.filter((f) => f.event === 'alert');
      expect(alerts).toEqual([
        {
          event: 'alert',
          topic,
          start: BASE + 60_000,
          end: BASE + 120_000,
          by: { key: 'sensor-1' },
          state: 'firing',
          alert: 'avg(temperature)>50',
          'avg(temperature)': 60,
        },
        {
          event: 'alert',
          topic,
          start: BASE + 180_000,
          end: BASE + 240_000,
          by: { key: 'sensor-1' },
          state: 'resolved',
          alert: 'avg(temperature)>50',
          'avg(temperature)': 30,
        },
        {
          event: 'alert',
          topic,
          start: BASE + 240_000,
          end: BASE + 300_000,
          by: { key: 'sensor-1' },
          state: 'firing',
          alert: 'avg(temperature)>50',
          'avg(temperature)': 55,
        },
      ]);
      // Each alert follows the frame of its window.
      for (const a of alerts) expect(all[all.indexOf(a) - 1]).toMatchObject({ event: 'window', start: a.start });
      s.ws.close();
    });

    it('bounds: more groups than SLUICE_VIEW_MAX_GROUPS end the view with VIEW_TOO_LARGE; one view more than SLUICE_MAX_VIEWS_PER_TOPIC is 503; bad views are 400', async () => {
      const topic = randomTopic('win-limit');
      await post(topic, { ts: BASE, key: 'x', value: {} });
      const s = await connect(`${gateway().wsUrl}/ws/topics/${topic}?window=10s&by=device_id`);
      await subscribed(s);
      for (let d = 0; d < 6; d++) await post(topic, { ts: BASE + 1000, key: `d${d}`, value: { device_id: `d${d}` } });
      const closed = await s.closed;
      expect(parse(s).find((f) => f.event === 'error')?.error).toMatchObject({ code: 'VIEW_TOO_LARGE' });
      expect(closed.code).toBe(1011);
      const views = await Promise.all(['10s', '20s', '30s'].map((w) => connect(`${gateway().wsUrl}/ws/topics/${topic}?window=${w}`)));
      // Counted once joined (each one's `subscribed`): a view still between its 101 and its join is no computation yet.
      for (const v of views) await subscribed(v);
      await expect(connect(`${gateway().wsUrl}/ws/topics/${topic}?window=40s`)).rejects.toMatchObject({ status: 503 });
      // An equal view is no new computation.
      const same = await connect(`${gateway().wsUrl}/ws/topics/${topic}?window=10s&agg=count()`);
      for (const v of [...views, same]) v.ws.close();
      for (const bad of [
        'window=ten',
        'window=10s&hop=1ms',
        'window=10s&agg=median(t)',
        'alert=avg(t)>5',
        'window=10s&group=g',
        'window=1m&snapshot=1h',
      ]) {
        await expect(connect(`${gateway().wsUrl}/ws/topics/${topic}?${bad}`), bad).rejects.toMatchObject({ status: 400 });
      }
      // X-Kafka-Timestamp must be epoch ms.
      const badTime = await postJson(`${gateway().url}/topics/${topic}`, '{}', 'application/json', { 'x-kafka-timestamp': 'yesterday' });
      expect(badTime.status).toBe(400);
      expect(badTime.json.error).toMatchObject({ code: 'INVALID_PARAMETER', message: expect.stringContaining('X-Kafka-Timestamp') });
      const res = await fetch(`${gateway().url}/sse/topics/${topic}?alert=${encodeURIComponent('avg(temperature)>50')}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/where=temperature>50/);
    });
  });
