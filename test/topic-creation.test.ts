/**
 * Unknown topics against real brokers. A cluster that does not auto-create topics (a second broker,
 * auto.create.topics.enable=false) gets 404 and nothing is written, unless Sluice is configured to create
 * them. A cluster that does (the shared test broker) never gets 404 for a new topic: when creation takes
 * longer than the lookup may wait, the answer is 503 TOPIC_NOT_READY with Retry-After, and a retry succeeds.
 * The deadline logic itself, on a scripted cluster, is src/producer/topic-registry.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EmbeddedBroker } from '../src/embedded-broker/broker.js';
import { postJsonOnce as postJson, randomTopic, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { partitionCount, readTopic, readTopicOnce } from './helpers/kafka-read.js';
import { connect } from './helpers/websocket-client.js';

const kafka = inject('kafkaBootstrap');
const dataDir = mkdtempSync(join(tmpdir(), 'sluice-noauto-'));
// Its own port (controller on port + 1); SLUICE_TEST_EXTRA_KAFKA_PORT moves it next to a private SLUICE_TEST_KAFKA_PORT.
const noAutoPort = Number(process.env.SLUICE_TEST_EXTRA_KAFKA_PORT ?? Number(process.env.SLUICE_TEST_KAFKA_PORT ?? 19092) + 10);
const broker = new EmbeddedBroker({ port: noAutoPort, dataDir, autoCreateTopics: false, heapMb: 512 });
let strict: SluiceProcess;
let creating: SluiceProcess;
/**
 * Against the auto-creating test broker, with a short lookup deadline: a burst of new topics outlasts it (the
 * broker creates them one after another, ~40 ms each here), while a lookup of one topic stays well inside it.
 */
let hasty: SluiceProcess;

beforeAll(async () => {
  await broker.start();
  [strict, creating, hasty] = await Promise.all([
    startSluice({ KAFKA_BOOTSTRAP_SERVERS: broker.bootstrapServers }),
    startSluice({ KAFKA_BOOTSTRAP_SERVERS: broker.bootstrapServers, SLUICE_CREATE_TOPICS: 'true', SLUICE_CREATE_TOPIC_PARTITIONS: '4' }),
    startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_METADATA_TIMEOUT_MS: '500' }),
  ]);
});
afterAll(async () => {
  await Promise.all([strict?.stop(), creating?.stop(), hasty?.stop()]);
  await broker.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Answer = Awaited<ReturnType<typeof postJson>>;

/** A 503 for a topic being created: the new code, a message that says so and to retry, and Retry-After. */
function expectNotReady(res: Answer, topic: string) {
  expect(res.status, res.text).toBe(503);
  expect(res.json.error.code).toBe('TOPIC_NOT_READY');
  expect(res.json.error.message).toContain(`"${topic}" is being created`);
  expect(res.json.error.message).toMatch(/retry/);
  expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
}

describe('a cluster that does not create topics', () => {
  it('404 TOPIC_NOT_FOUND for an unknown topic once Sluice has seen the cluster not create one (503 until then); nothing is created', async () => {
    const topic = randomTopic('missing');
    // A fresh gateway cannot read the brokers' setting: it answers 503 until a requested topic stayed absent
    // for the verdict window (15 s), then 404. Bounded by attempts, each paced by Retry-After.
    let res: Answer;
    let attempts = 0;
    while (true) {
      res = await postJson(`${strict.url}/topics/${topic}`, '{"a":1}');
      if (res.status !== 503 || ++attempts > 40) break;
      expectNotReady(res, topic);
      await sleep(Number(res.headers.get('retry-after')) * 1000);
    }
    expect(res.status, res.text).toBe(404);
    expect(res.json.error.code).toBe('TOPIC_NOT_FOUND');
    expect(res.json.error.message).toContain(topic);
    expect(readTopicOnce(broker.bootstrapServers, topic)).toEqual([]);
    expect(partitionCount(broker.bootstrapServers, topic)).toBe(0);
    expect(strict.output()).toMatch(/the cluster does not create topics on first use/);

    // From then on, a new unknown topic gets 404 on the first request, and subscribing to it is refused the same way.
    const other = randomTopic('missing');
    const first = await postJson(`${strict.url}/topics/${other}`, '{"a":1}');
    expect(first.status, first.text).toBe(404);
    expect(first.json.error.code).toBe('TOPIC_NOT_FOUND');
    await expect(connect(`${strict.wsUrl}/ws/topics/${randomTopic('missing')}`)).rejects.toMatchObject({ status: 404 });
    expect(readTopicOnce(broker.bootstrapServers, other)).toEqual([]);
  });

  it('with SLUICE_CREATE_TOPICS=true Sluice creates the topic with the configured partitions and writes', async () => {
    const topic = randomTopic('created');
    const body = Array.from({ length: 40 }, (_, i) => JSON.stringify({ i })).join('\n');
    const res = await postJson(`${creating.url}/topics/${topic}`, body, 'application/x-ndjson');
    expect(res.status).toBe(200);
    const records = await readTopic(broker.bootstrapServers, topic, 40);
    expect(records).toHaveLength(40);
    expect(partitionCount(broker.bootstrapServers, topic)).toBe(4);
    // Once created, the strict gateway accepts it too.
    expect((await postJson(`${strict.url}/topics/${topic}`, '{"later":true}')).status).toBe(200);
  });
});

describe('a cluster that creates topics', () => {
  it('never answers 404 to many concurrent POSTs to new topics: each is 200 or 503 TOPIC_NOT_READY, and retries land every record', async () => {
    const topics = Array.from({ length: 24 }, () => randomTopic('burst'));
    // Three requests per topic, to 24 topics, all at once: more creations than the broker finishes in 500 ms.
    const accepted = new Map<string, string[]>(topics.map((t) => [t, []]));
    let pending = topics.flatMap((topic) => [0, 1, 2].map((n) => ({ topic, n })));
    const statuses = new Map<number, number>();
    for (let round = 0; pending.length > 0; round++) {
      expect(round, `still refused after ${round} rounds: ${pending.map((p) => p.topic).join(' ')}`).toBeLessThan(30);
      const answers = await Promise.all(
        pending.map(async (p) => {
          const value = JSON.stringify({ topic: p.topic, n: p.n, round });
          return { ...p, value, res: await postJson(`${hasty.url}/topics/${p.topic}`, value) };
        }),
      );
      let retryAfterS = 0;
      pending = [];
      for (const a of answers) {
        statuses.set(a.res.status, (statuses.get(a.res.status) ?? 0) + 1);
        if (a.res.status === 200) {
          accepted.get(a.topic)!.push(a.value);
          continue;
        }
        expectNotReady(a.res, a.topic);
        retryAfterS = Math.max(retryAfterS, Number(a.res.headers.get('retry-after')));
        pending.push({ topic: a.topic, n: a.n });
      }
      if (pending.length > 0) await sleep(retryAfterS * 1000);
    }
    expect([...statuses.keys()].every((s) => s === 200 || s === 503)).toBe(true);
    // Exactly the records of the 200 answers are in Kafka: a 503 queued nothing.
    for (const topic of topics) {
      const values = accepted.get(topic)!;
      expect(values).toHaveLength(3);
      const records = await readTopic(kafka, topic, values.length);
      expect(records.map((r) => r.value).sort()).toEqual([...values].sort());
    }
    console.error(`[topic-creation] answers to new-topic POSTs: ${JSON.stringify(Object.fromEntries(statuses))}`);
  });

  it('a WebSocket subscription to a topic being created is refused with the same 503 before the upgrade, and a retry subscribes', async () => {
    const topics = Array.from({ length: 20 }, () => randomTopic('sub'));
    const refusals: { status: number; code: string }[] = [];
    await Promise.all(
      topics.map(async (topic) => {
        for (let attempt = 0; ; attempt++) {
          expect(attempt, topic).toBeLessThan(30);
          try {
            const socket = await connect(`${hasty.wsUrl}/ws/topics/${topic}`);
            socket.ws.close();
            return;
          } catch (err) {
            const { status, body } = err as { status?: number; body?: string };
            if (status === undefined) throw err;
            const code = JSON.parse(body!).error.code as string;
            refusals.push({ status, code });
            expect({ status, code }, body).toEqual({ status: 503, code: 'TOPIC_NOT_READY' });
            await sleep(1000);
          }
        }
      }),
    );
    // Subscribing to a new topic asks the cluster to create it, like a POST does.
    for (const topic of topics) expect(partitionCount(kafka, topic)).toBeGreaterThan(0);
    console.error(`[topic-creation] subscription refusals before success: ${refusals.length}`);
  });
});
