/**
 * Many topics, one subscriber each (issue #18.1): every followed topic is read by the gateway's one live
 * consumer, so threads and open files do not grow with the topics followed (one consumer per topic cost 4
 * threads and ~9 files each), an idle gateway following them does not spin, each record reaches its own
 * topic's subscriber only, and once everyone has left (after a short SLUICE_LIVE_IDLE_GRACE_MS) the gauges
 * read 0 and threads and files are back at their baseline. Counts come from /proc of the gateway child.
 * SLUICE_TEST_FANOUT_TOPICS=1000 runs it by hand with more topics.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { afterAll, expect, inject, it } from 'vitest';
import { randomTopic, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { connect, type RecordingSocket } from './helpers/websocket-client.js';

const kafka = inject('kafkaBootstrap');
const TOPICS = Number(process.env.SLUICE_TEST_FANOUT_TOPICS ?? 200);
/** Sockets opened (and records posted) at once: gentle on a shared 2-core machine. */
const CONCURRENCY = 16;
/** What one live consumer may add over the idle baseline (librdkafka's threads, libuv's pool, slack); 200 per-topic consumers added ~800. */
const THREAD_ALLOWANCE = 40;
/** Files beyond one per client socket: the live consumer's sockets and wake-up fds, slack. 200 per-topic consumers added ~1,800. */
const FD_ALLOWANCE = 40;
/** Back at baseline: the same margins as the churn soak (a client socket not yet reaped). */
const THREAD_MARGIN = 2;
const FD_MARGIN = 4;
/** Generous: librdkafka's idle fetch cycle and one read wake-up per 100 ms cost well under 2 % of a core. */
const IDLE_CPU_MAX = 0.2;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let gw: SluiceProcess | undefined;
const sockets: RecordingSocket[] = [];

afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await gw?.stop();
});

/** No connection reuse: a pooled keep-alive socket would count as an open file of the gateway. */
function http(url: string, method = 'GET', body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent: false, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function counts(pid: number) {
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { threads: readdirSync(`/proc/${pid}/task`).length, fds: readdirSync(`/proc/${pid}/fd`).length, rssMb: Math.round(rssKb / 1024) };
}

/** CPU time (user + system, in clock ticks of 10 ms) the process has used. */
function cpuTicks(pid: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Share of one core the process used while it sat idle for a while (a ratio, not a duration). */
async function idleCpu(pid: number, ms = 2_000): Promise<number> {
  const t0 = process.hrtime.bigint();
  const c0 = cpuTicks(pid);
  await sleep(ms);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return (cpuTicks(pid) - c0) / 100 / seconds;
}

async function gauge(series: string): Promise<number | undefined> {
  const { text } = await http(`${gw!.url}/metrics`);
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function until(check: () => Promise<boolean> | boolean, what: string, polls = 120): Promise<void> {
  for (let i = 0; i < polls; i++) {
    if (await check()) return;
    await sleep(250);
  }
  throw new Error(`still waiting for ${what}`);
}

/** A topic the first subscription creates may not be ready yet (503 TOPIC_NOT_READY): retry that, bounded. */
async function subscribe(topic: string): Promise<RecordingSocket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect(`${gw!.wsUrl}/ws/topics/${topic}`);
    } catch (err) {
      if (attempt >= 30 || !String((err as { body?: string }).body).includes('TOPIC_NOT_READY')) throw err;
      await sleep(1000);
    }
  }
}

async function inBatches<T>(items: T[], each: (item: T, i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += CONCURRENCY) await Promise.all(items.slice(i, i + CONCURRENCY).map((x, j) => each(x, i + j)));
}

it(
  `${TOPICS} topics × 1 WebSocket subscriber share one live consumer: threads and files bounded, idle, each record to its own subscriber, back to baseline`,
  async () => {
    gw = await startSluice({
      KAFKA_BOOTSTRAP_SERVERS: kafka,
      SLUICE_CREATE_TOPIC_PARTITIONS: '1',
      SLUICE_LIVE_IDLE_GRACE_MS: '1000',
    });
    const pid = gw.proc.pid!;
    const cold = counts(pid);
    // Warm-up: one topic followed and left, so the baseline includes what any first subscription starts once (libuv's pool).
    const warm = await subscribe(randomTopic('many-warm'));
    await warm.waitForFrames(1);
    warm.ws.close();
    await warm.closed;
    await until(async () => (await gauge('sluice_kafka_consumers{role="live"}')) === 0, 'the warm-up topic to be left');
    await sleep(500);
    const baseline = counts(pid);
    const baselineCpu = await idleCpu(pid);

    const topics = Array.from({ length: TOPICS }, (_, i) => randomTopic(`many${i}`));
    await inBatches(topics, async (topic, i) => {
      const s = await subscribe(topic);
      sockets[i] = s;
      expect(JSON.parse((await s.waitForFrames(1, 60_000))[0])).toMatchObject({ event: 'subscribed', topic });
    });
    expect(await gauge('sluice_kafka_consumers{role="live"}')).toBe(1);
    expect(await gauge('sluice_live_topics')).toBe(TOPICS);
    expect(await gauge('sluice_live_partitions')).toBeGreaterThanOrEqual(TOPICS); // as many as the cluster gives each new topic

    const followed = counts(pid);
    const followedCpu = await idleCpu(pid);
    console.error(
      `[many-topics] topics=${TOPICS} cold threads/fds/rss=${cold.threads}/${cold.fds}/${cold.rssMb}MB baseline=${baseline.threads}/${baseline.fds}/${baseline.rssMb}MB idle cpu ${(baselineCpu * 100).toFixed(1)}%` +
        ` followed=${followed.threads}/${followed.fds}/${followed.rssMb}MB idle cpu ${(followedCpu * 100).toFixed(1)}%`,
    );
    expect(followed.threads, `threads (baseline ${baseline.threads})`).toBeLessThanOrEqual(baseline.threads + THREAD_ALLOWANCE);
    // One file per client socket is the sockets' own; the consumer side must not add one set per topic.
    expect(followed.fds, `open files (baseline ${baseline.fds})`).toBeLessThanOrEqual(baseline.fds + TOPICS + FD_ALLOWANCE);
    expect(followedCpu, 'share of a core used while idle').toBeLessThan(IDLE_CPU_MAX);

    await inBatches(topics, async (topic) => {
      const res = await http(`${gw!.url}/topics/${topic}`, 'POST', JSON.stringify({ t: topic }));
      expect(res.status, res.text).toBe(200);
    });
    await inBatches(topics, async (_topic, i) => {
      await sockets[i].waitForFrames(2, 60_000);
    });
    await sleep(500); // a record sent to the wrong socket would have arrived with the rest
    topics.forEach((topic, i) => {
      const records = sockets[i].frames.slice(1).map((f) => JSON.parse(f) as { topic: string; value: { t: string } });
      expect(records.map((r) => [r.topic, r.value.t])).toEqual([[topic, topic]]);
    });

    for (const s of sockets) s.ws.close();
    await Promise.all(sockets.map((s) => s.closed));
    await until(async () => (await gauge('sluice_kafka_consumers{role="live"}')) === 0, 'the live consumer to close after the grace');
    expect(await gauge('sluice_live_topics')).toBe(0);
    expect(await gauge('sluice_live_partitions')).toBe(0);
    let after = counts(pid);
    for (let i = 0; i < 40 && (after.threads > baseline.threads + THREAD_MARGIN || after.fds > baseline.fds + FD_MARGIN); i++) {
      await sleep(250);
      after = counts(pid);
    }
    const afterCpu = await idleCpu(pid);
    console.error(
      `[many-topics] after everyone left: threads/fds/rss=${after.threads}/${after.fds}/${after.rssMb}MB idle cpu ${(afterCpu * 100).toFixed(1)}%`,
    );
    expect(after.threads, `threads (baseline ${baseline.threads})`).toBeLessThanOrEqual(baseline.threads + THREAD_MARGIN);
    expect(after.fds, `open files (baseline ${baseline.fds})`).toBeLessThanOrEqual(baseline.fds + FD_MARGIN);
  },
  180_000 * Math.max(1, TOPICS / 200),
);
