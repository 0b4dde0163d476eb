/**
 * Reconnect storm (issue #18 item 3): N WebSocket dashboards follow one topic, all drop at once (a gateway
 * blip), more records are posted, and all come back at once with `from=<their last token>`. Every resume is
 * inside the topic's resume window, so each is served from memory: all accepted on the first try (no 503
 * OVERLOADED from the 16 replay slots), every record exactly once per dashboard (seq numbers checked per
 * subscriber), and no Kafka consumer made for them (`sluice_resumes_total{source="memory"}` = N, and
 * `{source="kafka"}` = 0). Mixed frame styles and filters: per record, `frames=batch`, and `key=`.
 *
 * N is bounded here (SLUICE_TEST_STORM_DASHBOARDS, default 400); every wait is a bounded poll and nothing
 * asserts a duration. By hand: SLUICE_TEST_STORM_DASHBOARDS=2000 prints the numbers of a larger storm.
 */
import { describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { connect, type RecordingSocket } from './helpers/websocket-client.js';
import { framed, recordsIn, type Framing, type RecordFrame } from './helpers/framing.js';

const kafka = inject('kafkaBootstrap');
const DASHBOARDS = Number(process.env.SLUICE_TEST_STORM_DASHBOARDS ?? 400);
const DEVICES = 7;

type Frame = RecordFrame & { value: { seq: number; key: string } };

interface Dashboard {
  framing: Framing;
  /** `key=` filter, or null for every record. */
  key: string | null;
  socket: RecordingSocket;
  /** Records of earlier connections. */
  before: Frame[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

for (const threads of ['0', '2'])
  describe(`reconnect storm, SLUICE_INGRESS_THREADS=${threads}`, () => {
    const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_INGRESS_THREADS: threads }));

    /** Posts records seq from..to-1, keyed over DEVICES devices so they spread over the partitions. */
    async function post(topic: string, from: number, to: number): Promise<void> {
      const byKey = new Map<string, string[]>();
      for (let seq = from; seq < to; seq++) {
        const key = `dev-${seq % DEVICES}`;
        byKey.set(key, [...(byKey.get(key) ?? []), JSON.stringify({ seq, key })]);
      }
      const answers = await Promise.all(
        [...byKey].map(([key, lines]) => postJson(`${gateway().url}/topics/${topic}?key=${key}`, lines.join('\n'), 'application/x-ndjson')),
      );
      for (const a of answers) expect(a.status, a.text).toBe(200);
    }

    const seqsOf = (d: Dashboard, to: number) => {
      const all = Array.from({ length: to }, (_, i) => i);
      return d.key === null ? all : all.filter((s) => `dev-${s % DEVICES}` === d.key);
    };
    const records = (d: Dashboard) => [...d.before, ...(recordsIn(d.socket.frames, d.framing) as Frame[])];

    /** Waits (bounded) until every dashboard has every record below `to` it asked for; returns when that was. */
    async function waitAll(dashboards: Dashboard[], to: number): Promise<number> {
      for (let i = 0; i < Math.max(600, DASHBOARDS) && dashboards.some((d) => records(d).length < seqsOf(d, to).length); i++)
        await sleep(100);
      const at = Date.now();
      await sleep(300); // anything extra (a duplicate) would show up now
      return at;
    }

    it(
      `${DASHBOARDS} dashboards resume at once from their last token: all accepted, none lost, none twice, no Kafka consumer`,
      async () => {
        const topic = randomTopic('storm');
        const url = (d: Dashboard, from: string | null) =>
          framed(`${gateway().wsUrl}/ws/topics/${topic}?${d.key ? `key=${d.key}&` : ''}${from ? `from=${from}` : ''}`, d.framing);
        const dashboards: Dashboard[] = [];
        // Connected in groups (a connect storm is not what this test is about); the first starts the live feed.
        const specs = Array.from({ length: DASHBOARDS }, (_, i) => ({
          framing: (i % 2 === 0 ? 'record' : 'batch') as Framing,
          key: i % 4 === 3 ? `dev-${i % DEVICES}` : null,
        }));
        for (let i = 0; i < specs.length; i += 100) {
          const group = specs.slice(i, i + 100);
          const sockets = await Promise.all(group.map((s) => connect(url({ ...s, socket: undefined as never, before: [] }, null))));
          for (let j = 0; j < group.length; j++) dashboards.push({ ...group[j], socket: sockets[j], before: [] });
        }
        await Promise.all(dashboards.map((d) => d.socket.waitForFrames(1))); // `subscribed`: live from here
        await post(topic, 0, 300);
        await waitAll(dashboards, 300);
        const before = await (await fetch(`${gateway().url}/metrics`)).text();

        // All drop at once; records keep coming meanwhile.
        for (const d of dashboards) d.socket.ws.terminate();
        await Promise.all(dashboards.map((d) => d.socket.closed));
        await post(topic, 300, 600);

        // All reconnect at once with the token of the last record each one got.
        const reconnectAt = Date.now();
        const resumes = dashboards.map((d) => {
          const seen = records(d);
          d.before = seen;
          const token = seen[seen.length - 1].token;
          expect(token, 'the last record of every frame style carries a token').toBeDefined();
          return connect(url(d, token!));
        });
        const answers = await Promise.allSettled(resumes);
        const refused = answers
          .filter((a) => a.status === 'rejected')
          .map((a) => (a as PromiseRejectedResult).reason as { status?: number });
        const accepted = dashboards.filter((d, i) => {
          const a = answers[i];
          if (a.status === 'fulfilled') d.socket = a.value;
          return a.status === 'fulfilled';
        });
        // Printed, never asserted (a shared, noisy machine): how long until every accepted one had caught up.
        const caughtUpMs = (await waitAll(accepted, 600)) - reconnectAt;
        await post(topic, 600, 700);
        await waitAll(accepted, 700); // a refused one gets nothing more: its missing records count as lost
        const after = await (await fetch(`${gateway().url}/metrics`)).text();

        let lost = 0;
        let duplicated = 0;
        for (const d of dashboards) {
          const got = records(d).map((f) => f.value.seq);
          const want = seqsOf(d, 700);
          const seen = new Set<number>();
          for (const s of got) if (seen.has(s)) duplicated++;
          for (const s of got) seen.add(s);
          for (const s of want) if (!seen.has(s)) lost++;
        }
        const memory = metric(after, 'sluice_resumes_total{source="memory"}') - metric(before, 'sluice_resumes_total{source="memory"}');
        const fromKafka = metric(after, 'sluice_resumes_total{source="kafka"}') - metric(before, 'sluice_resumes_total{source="kafka"}');
        console.log(
          `[storm] threads=${threads} dashboards=${DASHBOARDS} accepted=${DASHBOARDS - refused.length} refused=${refused.length}` +
            ` (statuses ${[...new Set(refused.map((r) => r.status))].join(',')}) lost=${lost} duplicated=${duplicated}` +
            ` resumes from memory=${memory} from kafka=${fromKafka} window records=${metric(after, 'sluice_resume_window_records')}` +
            ` bytes=${metric(after, 'sluice_resume_window_bytes')} all caught up ${caughtUpMs} ms after the reconnect began`,
        );
        expect(refused.length).toBe(0);
        expect(lost).toBe(0);
        expect(duplicated).toBe(0);
        expect(memory).toBe(DASHBOARDS);
        expect(fromKafka).toBe(0);
        expect(metric(after, 'sluice_kafka_consumers{role="replay"}')).toBe(0);
        expect(metric(after, 'sluice_replays_in_progress')).toBe(0);
        expect(metric(after, 'sluice_resume_window_records')).toBeGreaterThanOrEqual(700);
        for (const d of dashboards) d.socket.ws.close();
      },
      Math.max(60_000, DASHBOARDS * 150),
    ); // by hand, a larger N gets more time; nothing here measures it
  });
