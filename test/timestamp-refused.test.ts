/**
 * A record timestamp the broker refuses (Kafka 4.x: more than `log.message.timestamp.after.max.ms`, 1 h, ahead
 * of its clock) is the request's own fault: 422 TIMESTAMP_REFUSED, not retriable, no Retry-After, nothing in
 * Kafka. The refusal fails the whole Kafka batch, so concurrent requests whose records shared it must keep
 * the retriable 503 DELIVERY_FAILED (their retry succeeds), never the 422. So by default the gateway refuses
 * such a timestamp itself, before producing (SLUICE_MAX_TIMESTAMP_AHEAD_MS, 1 h): then no neighbour fails.
 * The first two tests turn that check off to see Kafka's refusal and how it is answered.
 */
import { expect, inject, it } from 'vitest';
import { postJson, postJsonOnce, randomTopic, sluiceForFile, startSluice } from './helpers/sluice-process.js';
import { readTopic } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');
// The gateway's own check off: these records reach Kafka, which refuses them.
const sluice = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_MAX_TIMESTAMP_AHEAD_MS: '0' }));

const YEAR_MS = 365 * 86_400_000;
const farFuture = () => String(Date.now() + 2 * YEAR_MS);

it('a far-future X-Kafka-Timestamp is 422 TIMESTAMP_REFUSED and writes nothing; a normal or far-past one is 200', async () => {
  const topic = randomTopic('ts-refused');
  const url = `${sluice().url}/topics/${topic}?key=k`;
  expect((await postJson(url, '{"n":"warm"}')).status).toBe(200);

  const refused = await postJsonOnce(url, '[{"n":"future-1"},{"n":"future-2"}]', 'application/json', {
    'X-Kafka-Timestamp': farFuture(),
  });
  // Status and body in one assertion: a failure shows the whole answer.
  expect({ status: refused.status, ...refused.json.error }).toMatchObject({
    status: 422,
    code: 'TIMESTAMP_REFUSED',
    retriable: false,
    delivered: 0,
  });
  expect(refused.headers.get('retry-after')).toBeNull();
  expect(refused.json.error.message).toMatch(/X-Kafka-Timestamp \d+ is 2 y ahead of the gateway's clock/);

  // Kafka 4.1's `log.message.timestamp.before.max.ms` is unlimited by default: an old measurement is accepted.
  const past = await postJsonOnce(url, '{"n":"past"}', 'application/json', { 'X-Kafka-Timestamp': '1' });
  expect(past.text).toMatch(/"count":1/);
  expect(past.status).toBe(200);
  const now = await postJsonOnce(url, '{"n":"now"}', 'application/json', { 'X-Kafka-Timestamp': String(Date.now()) });
  expect(now.text).toMatch(/"count":1/);
  expect(now.status).toBe(200);

  // ack=none answers when the records are queued, before Kafka's verdict: the refused record is dropped (and
  // logged). It goes last: a record sharing its Kafka batch is refused with it (see the next test).
  const fire = await postJsonOnce(`${url}&ack=none`, '{"n":"future-fire"}', 'application/json', { 'X-Kafka-Timestamp': farFuture() });
  expect(fire.text).toMatch(/"count":1/);
  expect(fire.status).toBe(202);
  // A later record of the same partition answered 200 shows the fire record was settled (the idempotent
  // producer keeps a partition's order); one refused in its batch is 503 DELIVERY_FAILED and retried (bounded).
  let after = await postJsonOnce(url, '{"n":"after"}');
  for (let attempt = 0; attempt < 5 && after.json?.error?.code === 'DELIVERY_FAILED'; attempt++)
    after = await postJsonOnce(url, '{"n":"after"}');
  expect(after.status).toBe(200);

  // One key, one partition: once the last 200's record is readable, the refused ones before it were settled.
  const values = (await readTopic(kafka, topic, 4)).map((r) => r.value);
  expect(values).toEqual(['{"n":"warm"}', '{"n":"past"}', '{"n":"now"}', '{"n":"after"}']);
});

it('requests that shared a refused Kafka batch keep the retriable 503, and their retry is written; only the far-future one gets 422', async () => {
  const topic = randomTopic('ts-batch');
  const url = `${sluice().url}/topics/${topic}?key=k`;
  expect((await postJson(url, '{"n":"warm"}')).status).toBe(200);

  // 10 rounds of 20 concurrent requests to one partition, one of each round far-future: many of the others
  // land in its Kafka batch (librdkafka then fails them with ERR__INVALID_DIFFERENT_RECORD or INVALID_TIMESTAMP).
  const good: { body: string; status: number; code?: string; retriable?: boolean }[] = [];
  const bad: { status: number; code?: string }[] = [];
  for (let round = 0; round < 10; round++) {
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const isBad = i === 10;
        const body = JSON.stringify({ round, i });
        const headers: Record<string, string> = isBad
          ? { 'X-Kafka-Timestamp': farFuture() }
          : i % 2
            ? { 'X-Kafka-Timestamp': String(Date.now()) }
            : {};
        const res = await postJsonOnce(url, body, 'application/json', headers);
        const seen = { body, status: res.status, code: res.json?.error?.code, retriable: res.json?.error?.retriable };
        (isBad ? bad : good).push(seen);
      }),
    );
  }
  expect(bad.map((b) => `${b.status} ${b.code}`)).toEqual(Array(10).fill('422 TIMESTAMP_REFUSED'));
  const goodOutcomes = new Set(good.map((g) => `${g.status} ${g.code ?? ''} ${g.retriable ?? ''}`));
  for (const outcome of goodOutcomes) expect(['200  ', '503 DELIVERY_FAILED true']).toContain(outcome);

  // A retry of each refused neighbour succeeds (one by one: no far-future record shares its batch now).
  const retried = good.filter((g) => g.status === 503);
  for (const g of retried) expect((await postJsonOnce(url, g.body, 'application/json')).status).toBe(200);
  const values = (await readTopic(kafka, topic, 1 + good.length)).map((r) => r.value);
  expect(values).toHaveLength(1 + good.length);
  expect(new Set(values)).toEqual(new Set(['{"n":"warm"}', ...good.map((g) => g.body)]));
  console.log(
    `ts-batch: ${retried.length} of ${good.length} neighbour requests were refused with the far-future one's batch and then retried`,
  );
});

it('by default a timestamp over SLUICE_MAX_TIMESTAMP_AHEAD_MS ahead is refused before producing: every concurrent neighbour is written', async () => {
  const gateway = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka });
  try {
    const topic = randomTopic('ts-ahead');
    const url = `${gateway.url}/topics/${topic}?key=k`;
    expect((await postJson(url, '{"n":"warm"}')).status).toBe(200);
    const good: { body: string; status: number }[] = [];
    const bad: { status: number; code?: string; limit?: string; retryAfter: string | null }[] = [];
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const isBad = i === 10;
          const body = JSON.stringify({ round, i });
          const res = await postJsonOnce(url, body, 'application/json', isBad ? { 'X-Kafka-Timestamp': farFuture() } : {});
          if (isBad)
            bad.push({
              status: res.status,
              code: res.json?.error?.code,
              limit: res.json?.error?.limit,
              retryAfter: res.headers.get('retry-after'),
            });
          else good.push({ body, status: res.status });
        }),
      );
    }
    expect(bad).toEqual(
      Array(5).fill({ status: 422, code: 'TIMESTAMP_REFUSED', limit: 'SLUICE_MAX_TIMESTAMP_AHEAD_MS', retryAfter: null }),
    );
    // With the check off, most of these neighbours shared the refused batch (test above); here none may fail.
    expect(good.filter((g) => g.status !== 200)).toEqual([]);
    const values = (await readTopic(kafka, topic, 1 + good.length)).map((r) => r.value);
    expect(new Set(values)).toEqual(new Set(['{"n":"warm"}', ...good.map((g) => g.body)]));
  } finally {
    await gateway.stop();
  }
});
