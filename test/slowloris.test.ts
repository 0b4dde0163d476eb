/**
 * Slow clients cannot take the gateway away from everyone else. uWS closes an HTTP connection whose request
 * head is incomplete about 30 s after it opened (uWS 20.57; its timer ticks every 4 s: 28–32 s), however slowly bytes keep
 * coming, and one whose body arrives slower than 16 KB/s likewise; bodies count against the reading
 * budget by bytes received, so connections that declare a large body and trickle it hold nothing.
 * Normal requests during the attack are compared with a baseline from the same run (a ratio, not times).
 */
import { expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { readTopic, readTopicOnce } from './helpers/kafka-read.js';
import { postHead, trickle, type Trickler } from './helpers/raw-http.js';

const kafka = inject('kafkaBootstrap');
const sluice = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }), { expectCleanExit: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `n` sequential single-record POSTs, each with a unique id; resolves with their durations (ms) and ids. */
async function timedPosts(topic: string, n: number, tag: string) {
  const ms: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${tag}-${i}`;
    const t = performance.now();
    const res = await postJson(`${sluice().url}/topics/${topic}`, JSON.stringify({ id }));
    ms.push(performance.now() - t);
    expect(res.status, res.text).toBe(200);
    ids.push(id);
  }
  return { ms, ids };
}

async function connected(t: Trickler[]) {
  await Promise.all(
    t.map(
      (x) =>
        new Promise<void>((resolve) => {
          if (!x.socket.connecting) resolve();
          else {
            x.socket.once('connect', () => resolve());
            x.socket.once('close', () => resolve());
          }
        }),
    ),
  );
}

/** Waits for every slow connection to end and reports how (all must be closed by the server). */
async function closedByServer(t: Trickler[], label: string) {
  const timeout = setTimeout(() => {
    for (const x of t) x.stop();
  }, 45_000);
  const ends = await Promise.all(t.map((x) => x.closed));
  clearTimeout(timeout);
  const after = ends.map((e) => e.afterMs);
  console.log(
    `${label}: ${ends.filter((e) => e.byServer).length}/${t.length} closed by the server, after ${Math.min(...after)}–${Math.max(...after)} ms (median ${median(after)}); answers received: ${ends.filter((e) => e.gotBytes > 0).length}`,
  );
  expect(ends.every((e) => e.byServer)).toBe(true);
  return ends;
}

it('500 connections trickling request headers: normal requests are still answered promptly, and the server closes the slow ones', async () => {
  const topic = randomTopic('slowloris');
  await timedPosts(topic, 20, 'warmup');
  const baseline = await timedPosts(topic, 60, 'baseline');

  const tag = randomBytes(4).toString('hex');
  const slow = Array.from({ length: 500 }, (_, i) =>
    trickle(
      sluice().port,
      postHead(`/topics/${topic}`, { 'content-type': 'application/json', 'content-length': 40, 'x-padding': 'p'.repeat(200) }) +
        JSON.stringify({ slow: `${tag}-${i}` }),
      500,
    ),
  );
  await connected(slow);
  await new Promise((r) => setTimeout(r, 1000));
  const during = await timedPosts(topic, 60, 'during');
  const ratio = median(during.ms) / median(baseline.ms);
  console.log(
    `slowloris (500 header tricklers): median POST ${median(baseline.ms).toFixed(2)} ms before, ${median(during.ms).toFixed(2)} ms during; ratio ${ratio.toFixed(2)}`,
  );
  // Slow sockets cost the event loop a few tiny reads a second; a server that waited on them would not answer at all.
  expect(ratio).toBeLessThan(5);

  const ends = await closedByServer(slow, 'header tricklers');
  // Closed without an answer: the request head never completed.
  expect(ends.every((e) => e.gotBytes === 0)).toBe(true);
  expect(Math.max(...ends.map((e) => e.afterMs))).toBeLessThan(40_000);

  const records = await readTopic(kafka, topic, 140);
  expect(records).toHaveLength(140);
  expect(records.some((r) => r.value?.includes(tag))).toBe(false);
  expect((await fetch(`${sluice().url}/healthz`)).status).toBe(200);
});

it('300 connections declaring a 1 MiB body and trickling it hold no reading budget: uploads still get 200, and the slow ones are closed with nothing written', async () => {
  const topic = randomTopic('slowbody');
  await timedPosts(topic, 20, 'warmup');
  const baseline = await timedPosts(topic, 60, 'baseline');

  // 300 × 1 MiB declared is more than the default 256 MiB SLUICE_MAX_READING_BYTES: reserving declared
  // lengths (as the gateway once did) refused every other upload with 503 OVERLOADED until these closed.
  const tag = randomBytes(4).toString('hex');
  const slow = Array.from({ length: 300 }, (_, i) => {
    const body = `[${JSON.stringify({ slow: `${tag}-${i}` })}`;
    const t = trickle(sluice().port, body, 500);
    t.socket.once('connect', () =>
      t.socket.write(postHead(`/topics/${topic}`, { 'content-type': 'application/json', 'content-length': 1024 * 1024 })),
    );
    return t;
  });
  await connected(slow);
  await new Promise((r) => setTimeout(r, 1500));
  const during = await timedPosts(topic, 60, 'during');
  const big = await postJson(`${sluice().url}/topics/${topic}`, JSON.stringify([{ id: 'big', pad: 'b'.repeat(512 * 1024) }]));
  expect(big.status, big.text).toBe(200);
  const ratio = median(during.ms) / median(baseline.ms);
  console.log(
    `slow bodies (300 × 1 MiB declared): median POST ${median(baseline.ms).toFixed(2)} ms before, ${median(during.ms).toFixed(2)} ms during; ratio ${ratio.toFixed(2)}`,
  );
  expect(ratio).toBeLessThan(5);

  const ends = await closedByServer(slow, 'body tricklers');
  expect(ends.every((e) => e.gotBytes === 0)).toBe(true);

  const records = await readTopic(kafka, topic, 141);
  await new Promise((r) => setTimeout(r, 500));
  expect(readTopicOnce(kafka, topic)).toHaveLength(141);
  expect(records.some((r) => r.value?.includes(tag))).toBe(false);
});
