/**
 * Brand-new topics hit at once, under CPU load: a `200` names only records Kafka has written.
 *
 * The race this guards against (issue #17.1): a KRaft broker publishes a new topic's leaders in its
 * metadata before its replica manager has created the partitions, so a first produce can fail with
 * NOT_LEADER_OR_FOLLOWER; a second batch of the same partition (max.in.flight=5) is then accepted at any
 * sequence (the broker holds no state for the producer there yet), and librdkafka "implicitly acks" the
 * failed batch: success reports with offset -1001 for records that were never written. The gateway must
 * neither call such a topic ready (it waits until every partition's leader serves it) nor count such a
 * report as delivered (503 DELIVERY_UNCONFIRMED).
 *
 * Every `200` here must name offsets >= 0 whose counts add up to the records sent, and kcat must find each
 * acknowledged record exactly once, on the partition and within the offsets its answer named. Requests
 * answered 503 (TOPIC_NOT_READY, DELIVERY_UNCONFIRMED) are retried with new values, as a device would;
 * their own values may or may not be in Kafka.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postJsonOnce as postJson, randomTopic, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { readTopics } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');
/** Topics per thread mode, all brand new and hit at once. */
const TOPICS = 16;
/** Per topic: keyed NDJSON requests of RECORDS_PER_BATCH records, and single-record requests. */
const BATCHES = 3;
const RECORDS_PER_BATCH = 20;
const SINGLES = 3;
const KEYS = 6;
const MAX_ROUNDS = 20;
/** CPU hogs widen the window between a broker's metadata and its replica manager; each also exits after HOG_LIMIT_MS. */
const HOGS = 2;
const HOG_LIMIT_MS = 120_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const THREAD_MODES = ['0', '2'] as const;
let hogs: ChildProcess[] = [];
const gateways = new Map<string, SluiceProcess>();
beforeAll(async () => {
  const started = await Promise.all(
    THREAD_MODES.map((threads) =>
      startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_INGRESS_THREADS: threads, SLUICE_KEY_FIELD: 'device_id' }),
    ),
  );
  for (const [i, threads] of THREAD_MODES.entries()) gateways.set(threads, started[i]);
});

/** CPU hogs run while the requests are written, not while kcat reads (which they would only slow down). */
function startHogs(): void {
  hogs = Array.from({ length: HOGS }, () =>
    spawn(process.execPath, ['-e', `setTimeout(() => process.exit(0), ${HOG_LIMIT_MS}); for (;;) {}`], { stdio: 'ignore' }),
  );
}
function stopHogs(): void {
  for (const h of hogs) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
  hogs = [];
}
afterAll(async () => {
  stopHogs();
  await Promise.all([...gateways.values()].map((g) => g.stop()));
});

interface Pending {
  topic: string;
  /** Which request of its topic (stable across retries). */
  request: number;
  keyed: boolean;
}

interface PartitionAnswer {
  partition: number;
  count: number;
  offsets: [number, number];
}

/** The records of one attempt: unique values, so each attempt's records can be found (or not) in Kafka. */
function body(p: Pending, attempt: number): { text: string; contentType: string; values: string[] } {
  if (!p.keyed) {
    const v = JSON.stringify({ topic: p.topic, request: p.request, attempt });
    return { text: v, contentType: 'application/json', values: [v] };
  }
  const values = Array.from({ length: RECORDS_PER_BATCH }, (_, i) =>
    JSON.stringify({ device_id: `d${i % KEYS}`, request: p.request, attempt, i }),
  );
  return { text: values.join('\n'), contentType: 'application/x-ndjson', values };
}

for (const threads of THREAD_MODES) {
  describe(`SLUICE_INGRESS_THREADS=${threads}`, () => {
    it('new-topics: every 200 for brand-new topics names offsets >= 0 matching its count, and kcat finds each acknowledged record exactly once', async () => {
      const sluice = gateways.get(threads)!;
      const topics = Array.from({ length: TOPICS }, () => randomTopic('fresh'));
      let pending: Pending[] = topics.flatMap((topic) => [
        ...Array.from({ length: BATCHES }, (_, request) => ({ topic, request, keyed: true })),
        ...Array.from({ length: SINGLES }, (_, i) => ({ topic, request: BATCHES + i, keyed: false })),
      ]);
      /** topic → acknowledged value → the partition and offset range its answer named. */
      const acked = new Map<string, Map<string, PartitionAnswer[]>>(topics.map((t) => [t, new Map()]));
      const answers = new Map<string, number>();
      const impossible: string[] = [];
      const unconfirmedTopics = new Set<string>();
      startHogs();
      for (let round = 0; pending.length > 0; round++) {
        expect(round, `still refused after ${round} rounds`).toBeLessThan(MAX_ROUNDS);
        const results = await Promise.all(
          pending.map(async (p) => {
            const b = body(p, round);
            return { p, b, res: await postJson(`${sluice.url}/topics/${p.topic}`, b.text, b.contentType) };
          }),
        );
        pending = [];
        let retryAfterS = 0;
        for (const { p, b, res } of results) {
          const label = res.status === 200 ? '200' : `${res.status} ${res.json?.error?.code}`;
          answers.set(label, (answers.get(label) ?? 0) + 1);
          if (res.status !== 200) {
            expect(res.status, res.text).toBe(503);
            expect(['TOPIC_NOT_READY', 'DELIVERY_UNCONFIRMED']).toContain(res.json.error.code);
            if (res.json.error.code === 'DELIVERY_UNCONFIRMED') unconfirmedTopics.add(p.topic);
            expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
            retryAfterS = Math.max(retryAfterS, Number(res.headers.get('retry-after')));
            pending.push(p);
            continue;
          }
          const parts = res.json.partitions as PartitionAnswer[];
          for (const part of parts)
            if (part.offsets[0] < 0 || part.offsets[1] < part.offsets[0]) impossible.push(`${p.topic}: ${res.text}`);
          expect(res.json.count).toBe(b.values.length);
          expect(parts.reduce((n, part) => n + part.count, 0)).toBe(b.values.length);
          for (const v of b.values) acked.get(p.topic)!.set(v, parts);
        }
        if (pending.length > 0) await sleep(retryAfterS * 1000);
      }
      stopHogs();
      const metrics = await (await fetch(`${sluice.url}/metrics`)).text();
      const unconfirmedRecords = /^sluice_records_delivered_total\{result="unconfirmed"\} (\d+)$/m.exec(metrics)?.[1];
      console.error(
        `[new-topic-delivery] threads=${threads}: answers ${JSON.stringify(Object.fromEntries(answers))}; records reported delivered without an offset: ${unconfirmedRecords}`,
      );
      expect(impossible, 'answers naming offsets no write can have').toEqual([]);
      // Each unconfirmed answer left a warning naming its topic and partition.
      for (const topic of unconfirmedTopics)
        expect(sluice.output()).toMatch(new RegExp(`"topic":"${topic}","partition":\\d+,"unconfirmed"`));
      expect(unconfirmedRecords).toBeDefined();

      let checked = 0;
      const read = await readTopics(kafka, new Map(topics.map((t) => [t, acked.get(t)!.size])));
      for (const topic of topics) {
        const expected = acked.get(topic)!;
        const records = read.get(topic)!;
        const seen = new Map<string, number>();
        for (const r of records) {
          const parts = r.value !== null ? expected.get(r.value) : undefined;
          if (!parts) continue; // a record of an unconfirmed attempt, retried since
          seen.set(r.value!, (seen.get(r.value!) ?? 0) + 1);
          const named = parts.find((part) => part.partition === r.partition);
          expect(named, `${topic}: ${r.value} on partition ${r.partition}, answer named ${JSON.stringify(parts)}`).toBeDefined();
          expect(r.offset).toBeGreaterThanOrEqual(named!.offsets[0]);
          expect(r.offset).toBeLessThanOrEqual(named!.offsets[1]);
        }
        const missing = [...expected.keys()].filter((v) => seen.get(v) !== 1);
        expect(missing, `${topic}: acknowledged records not found exactly once`).toEqual([]);
        checked += expected.size;
      }
      console.error(`[new-topic-delivery] threads=${threads}: ${checked} acknowledged records found exactly once in ${TOPICS} new topics`);
    });
  });
}
