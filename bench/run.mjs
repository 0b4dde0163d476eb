// Sluice load benchmark: every scenario side by side in one run on this machine, each in a fresh
// process, checked for correct answers before it is timed, and every record a scenario claims delivered
// counted in Kafka afterwards.
//
//   npm run bench                   full run (2 rounds, alternating order; ~15 s per scenario and round)
//   npm run bench -- --quick        a few seconds per scenario, one round (the test suite runs this)
//   options: --only a,b   --rounds N   --duration S   --bootstrap host:port (use a running broker)
//            --kafka-port P (port of the bench's own broker, default $SLUICE_BENCH_KAFKA_PORT or 29092;
//                            P+1 is its controller)
//            --pin auto|on|off (taskset: gateway, broker and load generator on their own CPUs; auto = on
//                               with at least 2 CPUs; see cpuLayout)
//            --out DIR (default bench/results)   --no-readme (do not update docs/performance.md and README's summary)
//            --docs-only (run nothing: rewrite docs/performance.md and README's summary from DIR/latest.json)
//            --merge (keep the scenarios of DIR/latest.json that this run does not repeat; with --only,
//                     e.g. --only fanout-1000,fanout-5000 --merge, refreshes those rows and docs/performance.md)
//            --baseline CHECKOUT (another checkout of Sluice, built: every Sluice scenario can also run from
//                     CHECKOUT/dist as `<name>@baseline`, e.g. --only fanout-1000,fanout-1000@baseline: a
//                     build before a change beside the build after it, in one run)
//
// Writes DIR/latest.json and DIR/latest.md. Ingest load comes from autocannon in this process; the
// fan-out scenarios (bench/fanout/) POST from this process and subscribe from 1–2 child processes.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import autocannon from 'autocannon';
import Kafka from '@confluentinc/kafka-javascript';
import { EmbeddedBroker } from '../dist/embedded-broker/broker.js';
import { deviceRecord } from './records.mjs';
import { startServer, stopServer, sampler, threadTimes, threadShares, pin, cpuLayout } from './processes.mjs';
import { runFanoutScenario, openFileLimit } from './fanout/fanout-scenario.mjs';
import { ensureCentrifugo } from './fanout/centrifugo-peer.mjs';
import { peerMarkdown } from './fanout/peer-table.mjs';
import { runResumeStormScenario, runTopicsScenario } from './fanout/scaling-scenarios.mjs';
import { scalingMarkdown, scalingSummary } from './fanout/scaling-table.mjs';
import { schemaScenarios, SCHEMA_RATIOS } from './scenarios/schema.mjs';
import { fmt, readmeSummary, sizingMarkdown, writeMarked } from './perf-docs.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const require = createRequire(import.meta.url);
const lz4 = require('lz4');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    bootstrap: { type: 'string' },
    'kafka-port': { type: 'string', default: process.env.SLUICE_BENCH_KAFKA_PORT ?? '29092' },
    pin: { type: 'string', default: 'auto' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    'no-readme': { type: 'boolean', default: false },
    'docs-only': { type: 'boolean', default: false },
    merge: { type: 'boolean', default: false },
    baseline: { type: 'string' },
  },
});
const QUICK = args.quick;
const DURATION_S = Number(args.duration ?? (QUICK ? 3 : 15));
const ROUNDS = Number(args.rounds ?? (QUICK ? 1 : 2));
const OVERLOAD_S = QUICK ? 5 : 60;
const RECORD_BYTES = 200;
// Records/s offered to 5,000 and 10,000 subscribers: 100,000 frames/s each (see the scenarios below).
const FANOUT_5000_RATE = 20;
const FANOUT_10000_RATE = 10;
// Records/s of kafka-ceiling-node-paced: about the single-record rate Sluice sustains here.
const PACED_RATE = 40_000;

if (!['auto', 'on', 'off'].includes(args.pin)) throw new Error(`--pin must be auto, on or off, not "${args.pin}"`);

const PIN =
  args.pin === 'off'
    ? null
    : (() => {
        try {
          return cpuLayout();
        } catch (err) {
          if (args.pin === 'on') throw new Error(`--pin on: taskset failed: ${err.message}`);
          return null;
        }
      })();
if (args.pin === 'on' && !PIN) throw new Error('--pin on needs at least 2 CPUs');

// ---------------------------------------------------------------- payloads
const record = (i) => deviceRecord(i, RECORD_BYTES);
const SINGLE = record(1);
const ndjson = (n) => Array.from({ length: n }, (_, i) => record(i)).join('\n');
const NDJSON_100 = ndjson(100);
const NDJSON_1000 = ndjson(1000);
const LZ4_1000 = lz4.encode(Buffer.from(NDJSON_1000));

// ---------------------------------------------------------------- scenarios
const sluice = (env = {}) => ({
  cmd: [process.execPath, join(ROOT, 'dist', 'main.js')],
  env: { SLUICE_LOG_LEVEL: 'info', ...env },
  sluice: true,
});
const peer = (file, env = {}) => ({ cmd: [process.execPath, join(ROOT, 'bench', 'peers', file)], env });
const JSON_CT = 'application/json';
const ND_CT = 'application/x-ndjson';

const SCENARIOS = [
  {
    name: 'http-ceiling',
    server: { cmd: [process.execPath, join(ROOT, 'bench', 'servers', 'http-ceiling.mjs')], env: {} },
    body: SINGLE,
    ct: JSON_CT,
    records: 1,
    connections: 100,
    kafka: false,
  },
  { name: 'kafka-ceiling-java', producer: 'java-producer-perf.mjs' },
  { name: 'kafka-ceiling-node', producer: 'rdkafka-producer.mjs' },
  // The same producer paced like a gateway's single-record traffic: a few produce() calls per event-loop
  // turn at PACED_RATE records/s instead of a loop that keeps librdkafka's queue full. Batches, wake-ups
  // of librdkafka's threads and delivery-report hand-offs then cost what they cost behind HTTP.
  { name: 'kafka-ceiling-node-paced', producer: 'rdkafka-producer.mjs', rate: PACED_RATE },
  { name: 'sluice-single-durable', server: sluice(), body: SINGLE, ct: JSON_CT, records: 1, connections: 100, expect: 200 },
  {
    name: 'sluice-single-fire',
    server: sluice(),
    query: '?ack=none',
    body: SINGLE,
    ct: JSON_CT,
    records: 1,
    connections: 100,
    expect: 202,
  },
  { name: 'sluice-ndjson-100', server: sluice(), body: NDJSON_100, ct: ND_CT, records: 100, connections: 50, expect: 200 },
  { name: 'sluice-ndjson-1000', server: sluice(), body: NDJSON_1000, ct: ND_CT, records: 1000, connections: 16, expect: 200 },
  {
    name: 'sluice-lz4-1000',
    server: sluice(),
    body: LZ4_1000,
    ct: ND_CT,
    headers: { 'content-encoding': 'lz4' },
    records: 1000,
    connections: 16,
    expect: 200,
  },
  {
    name: 'sluice-ndjson-1000-inline',
    server: sluice({ SLUICE_DECODE_OFFLOAD_BYTES: '0' }),
    body: NDJSON_1000,
    ct: ND_CT,
    records: 1000,
    connections: 16,
    expect: 200,
  },
  {
    name: 'sluice-lz4-1000-inline',
    server: sluice({ SLUICE_DECODE_OFFLOAD_BYTES: '0' }),
    body: LZ4_1000,
    ct: ND_CT,
    headers: { 'content-encoding': 'lz4' },
    records: 1000,
    connections: 16,
    expect: 200,
  },
  {
    name: 'sluice-single-fire-threads-0',
    server: sluice({ SLUICE_INGRESS_THREADS: '0' }),
    query: '?ack=none',
    body: SINGLE,
    ct: JSON_CT,
    records: 1,
    connections: 100,
    expect: 202,
  },
  {
    name: 'sluice-single-fire-threads-1',
    server: sluice({ SLUICE_INGRESS_THREADS: '1' }),
    query: '?ack=none',
    body: SINGLE,
    ct: JSON_CT,
    records: 1,
    connections: 100,
    expect: 202,
  },
  {
    name: 'sluice-single-fire-threads-2',
    server: sluice({ SLUICE_INGRESS_THREADS: '2' }),
    query: '?ack=none',
    body: SINGLE,
    ct: JSON_CT,
    records: 1,
    connections: 100,
    expect: 202,
  },
  {
    name: 'sluice-ndjson-1000-threads-0',
    server: sluice({ SLUICE_INGRESS_THREADS: '0' }),
    body: NDJSON_1000,
    ct: ND_CT,
    records: 1000,
    connections: 16,
    expect: 200,
  },
  {
    name: 'sluice-ndjson-1000-threads-2',
    server: sluice({ SLUICE_INGRESS_THREADS: '2' }),
    body: NDJSON_1000,
    ct: ND_CT,
    records: 1000,
    connections: 16,
    expect: 200,
  },
  {
    name: 'peer-fastify-kafkajs',
    server: peer('fastify-kafkajs.mjs'),
    body: SINGLE,
    ct: JSON_CT,
    records: 1,
    connections: 100,
    expect: 200,
  },
  { name: 'peer-fastify-ckjs', server: peer('fastify-ckjs.mjs'), body: SINGLE, ct: JSON_CT, records: 1, connections: 100, expect: 200 },
  {
    name: 'peer-fastify-ckjs-tuned',
    server: peer('fastify-ckjs.mjs', { PEER_LINGER_MS: '1' }),
    body: SINGLE,
    ct: JSON_CT,
    records: 1,
    connections: 100,
    expect: 200,
  },
  {
    name: 'peer-fastify-kafkajs-fire',
    server: peer('fastify-kafkajs.mjs'),
    query: '?ack=none',
    body: SINGLE,
    ct: JSON_CT,
    records: 1,
    connections: 100,
    expect: 202,
  },
  {
    name: 'peer-fastify-ckjs-fire',
    server: peer('fastify-ckjs.mjs'),
    query: '?ack=none',
    body: SINGLE,
    ct: JSON_CT,
    records: 1,
    connections: 100,
    expect: 202,
  },
  // Fan-out: N WebSocket subscribers on one topic, records POSTed at a steady rate (bench/fanout/). 1% of
  // the subscribers stop reading after subscribing. 1,000 records/s to 5,000 or 10,000 sockets is 5–10 M
  // frames/s, beyond a 2-core machine that also runs the broker and the subscribers; and at low rates
  // every record is its own write to every socket (no batching), so those scenarios offer 100,000
  // frames/s: fan-out to many sockets, not saturation. Quick runs (the test suite) run only fanout-slow:
  // 100 subscribers, 5 of them stalled, with records big enough that the stalled ones pass the gateway's
  // buffer limit (after filling the loopback socket buffers, ~4 MB) within seconds.
  {
    name: 'fanout-1000',
    server: sluice({ SLUICE_INGRESS_THREADS: '0' }),
    fanout: { subscribers: 1000, rate: 1000, slowPct: 1 },
    full: true,
  },
  {
    name: 'fanout-1000-threads-2',
    server: sluice({ SLUICE_INGRESS_THREADS: '2' }),
    fanout: { subscribers: 1000, rate: 1000, slowPct: 1 },
    full: true,
  },
  // SLUICE_FANOUT_LINGER_MS=5 gathers each live batch for 5 ms: one write per socket per batch (default 0: at once).
  {
    name: 'fanout-1000-linger-5',
    server: sluice({ SLUICE_INGRESS_THREADS: '0', SLUICE_FANOUT_LINGER_MS: '5' }),
    fanout: { subscribers: 1000, rate: 1000, slowPct: 1 },
    full: true,
  },
  {
    name: 'fanout-5000',
    server: sluice({ SLUICE_INGRESS_THREADS: '0' }),
    fanout: { subscribers: 5000, rate: FANOUT_5000_RATE, slowPct: 1 },
    full: true,
  },
  {
    name: 'fanout-10000',
    server: sluice({ SLUICE_INGRESS_THREADS: '0' }),
    fanout: { subscribers: 10000, rate: FANOUT_10000_RATE, slowPct: 1 },
    full: true,
  },
  {
    name: 'fanout-slow',
    server: sluice({ SLUICE_INGRESS_THREADS: '0' }),
    fanout: { subscribers: 100, rate: 1000, slowPct: 5, recordBytes: 2048, durationS: QUICK ? 5 : 10 },
  },
  // Issue #10: Sluice per-record frames, Sluice batch frames and Centrifugo (built from the Go module proxy,
  // bench/fanout/centrifugo-peer.mjs), each fan-out server alone while another Sluice takes the POSTs; 1,000
  // subscribers (no slow ones) at 400 and 1,000 records/s. Run together, they alternate in one run:
  //   npm run bench -- --only fanout-peer-400-record,fanout-peer-400-batch,fanout-peer-400-centrifugo,fanout-peer-1000-record,fanout-peer-1000-batch,fanout-peer-1000-centrifugo --merge
  ...[400, 1000].flatMap((rate) =>
    ['record', 'batch', 'centrifugo'].map((frames) => ({
      name: `fanout-peer-${rate}-${frames}`,
      server: sluice({ SLUICE_INGRESS_THREADS: '0' }),
      full: true,
      fanout: {
        subscribers: 1000,
        rate,
        slowPct: 0,
        peer: frames === 'centrifugo' ? 'centrifugo' : 'sluice',
        frames,
        peerGroup: `1,000 × ${rate.toLocaleString('en-US')}`,
      },
    })),
  ),
  // The same with the fan-out gateway gathering each live batch for 5 ms (SLUICE_FANOUT_LINGER_MS=5): bigger
  // batches, fewer writes and messages per socket, up to 5 ms more latency.
  ...[400, 1000].map((rate) => ({
    name: `fanout-peer-${rate}-batch-linger-5`,
    server: sluice({ SLUICE_INGRESS_THREADS: '0' }),
    full: true,
    fanout: {
      subscribers: 1000,
      rate,
      slowPct: 0,
      peer: 'sluice',
      frames: 'batch',
      fanoutEnv: { SLUICE_FANOUT_LINGER_MS: '5' },
      peerGroup: `1,000 × ${rate.toLocaleString('en-US')}, linger 5 ms`,
    },
  })),
  // Issue #18: fan-out that scales with what dashboards follow (bench/fanout/, table in scaling-table.mjs).
  // One dashboard per device: D subscribers each on its own key, D records/s spread over the D devices
  // (every record is one frame to one subscriber), fan-out server alone (Sluice or Centrifugo with a
  // channel per device) while another Sluice takes the POSTs; 500 devices for Sluice's CPU per frame at
  // 5,000 against 500. Many topics: 1,000 topics × 1 subscriber, 1 record/s each. Reconnect storm: 2,000
  // dashboards on one topic drop at once and resume at once from their last tokens. Alternating in one run:
  //   npm run bench -- --only fanout-keyed-500,fanout-keyed-2000,fanout-keyed-2000-centrifugo,fanout-keyed-5000,fanout-keyed-5000-centrifugo,fanout-topics-1000,fanout-resume-storm --merge
  ...[500, 2000, 5000].flatMap((devices) =>
    (devices === 500 ? ['sluice'] : ['sluice', 'centrifugo']).map((peer) => ({
      name: `fanout-keyed-${devices}${peer === 'centrifugo' ? '-centrifugo' : ''}`,
      server: sluice({ SLUICE_INGRESS_THREADS: '0' }),
      full: true,
      fanout: {
        subscribers: devices,
        rate: devices,
        slowPct: 0,
        peer,
        keyed: true,
        keyedGroup: `${devices.toLocaleString('en-US')} × ${devices.toLocaleString('en-US')}/s`,
      },
    })),
  ),
  {
    name: 'fanout-topics-1000',
    server: sluice({ SLUICE_INGRESS_THREADS: '0' }),
    full: true,
    // Every subscriber of the bench comes from one address, which Sluice counts as one client (a real
    // fleet's dashboards are a client each): its per-client topic bound is raised to the row's topics.
    fanout: { scaling: 'topics', topics: 1000, idleS: 10, fanoutEnv: { SLUICE_MAX_TOPICS_PER_CLIENT: '1000' } },
  },
  {
    name: 'fanout-resume-storm',
    server: sluice({ SLUICE_INGRESS_THREADS: '0' }),
    full: true,
    fanout: { scaling: 'storm', dashboards: 2000, rate: 20, beforeS: 4, awayS: 1, afterS: 8 },
  },
  // Runs last: offers twice the highest single-record rate Sluice sustained in this run (durable answers).
  { name: 'overload', server: sluice(), body: SINGLE, ct: JSON_CT, records: 1, connections: 400, expect: 200, overload: true },
];
SCENARIOS.push(...schemaScenarios(sluice, Object.fromEntries(SCENARIOS.map((s) => [s.name, s]))));
// --baseline: the same scenarios with their Sluice processes from another checkout's build (Centrifugo rows
// have nothing of Sluice to compare but the ingest gateway: left out), named in the results by its commit.
const BASELINE = args.baseline
  ? (() => {
      const dir = resolve(args.baseline);
      const git = spawnSync('git', ['-C', dir, 'log', '-1', '--format=%h %cs'], { encoding: 'utf8' });
      return { dir, label: git.status === 0 ? `commit ${git.stdout.trim()}` : dir };
    })()
  : null;
// Each right after its original, so that the two alternate in a run rather than one always coming later.
if (BASELINE)
  for (const s of [...SCENARIOS])
    if (s.server?.sluice && s.fanout?.peer !== 'centrifugo')
      SCENARIOS.splice(SCENARIOS.indexOf(s) + 1, 0, {
        ...s,
        name: `${s.name}@baseline`,
        baseline: BASELINE.label,
        server: { ...s.server, cmd: [process.execPath, join(BASELINE.dir, 'dist', 'main.js')] },
        ...(s.fanout?.peerGroup ? { fanout: { ...s.fanout, peerGroup: `${s.fanout.peerGroup}, baseline build` } } : {}),
      });

let broker; // the bench's own broker (none with --bootstrap)

// ---------------------------------------------------------------- Kafka helpers
let admin;
async function kafkaCount(bootstrap, topic) {
  admin ??= await new Promise((resolve, reject) => {
    const p = new Kafka.Producer({ 'bootstrap.servers': bootstrap });
    p.connect({}, (err) => (err ? reject(err) : resolve(p)));
  });
  const meta = await new Promise((resolve, reject) =>
    admin.getMetadata({ topic, timeout: 10_000 }, (e, m) => (e ? reject(e) : resolve(m))),
  );
  const t = meta.topics.find((x) => x.name === topic);
  if (!t) return 0;
  let total = 0;
  for (const { id } of t.partitions) {
    const { highOffset, lowOffset } = await retry(
      () => new Promise((resolve, reject) => admin.queryWatermarkOffsets(topic, id, 10_000, (e, o) => (e ? reject(e) : resolve(o)))),
    );
    total += highOffset - lowOffset;
  }
  return total;
}

/** Leadership of a just-created topic settles within moments: retry transient metadata errors. */
async function retry(fn, attempts = 20) {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

// ---------------------------------------------------------------- runners
const topicFor = (name, round) => `bench-${name}-r${round}-${Math.random().toString(36).slice(2, 8)}`;

async function smokeCheck(url, s, bootstrap, topic) {
  const res = await fetch(`${url}/topics/${topic}${s.query ?? ''}`, {
    method: 'POST',
    headers: { 'content-type': s.ct, ...(s.headers ?? {}) },
    body: s.body,
  });
  const text = await res.text();
  const okStatus = s.kafka === false ? 200 : s.expect;
  if (res.status !== okStatus) throw new Error(`${s.name}: smoke check got ${res.status} ${text}, expected ${okStatus}`);
  await s.check?.(url, topic);
  if (s.kafka === false) return 0;
  const deadline = Date.now() + 10_000;
  while ((await kafkaCount(bootstrap, topic)) < s.records) {
    if (Date.now() > deadline) throw new Error(`${s.name}: smoke-check records did not reach Kafka`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (s.kafka !== false && s.expect === 200) {
    const body = JSON.parse(text);
    if (body.count !== s.records) throw new Error(`${s.name}: smoke check answered count ${body.count}, sent ${s.records}`);
  }
  return s.records;
}

/**
 * librdkafka's counters as Sluice exports them (statistics every second): records and produce requests
 * sent, bytes on the wire. Read before and after a window; the differences give records per produce
 * request and wire bytes per record.
 */
async function producerCounters(url) {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const read = (name) => Number(new RegExp(`^${name}(?:_total)? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN); // `_total` since the counters' rename; a checkout from before has the bare names
    return {
      txMessages: read('sluice_kafka_tx_messages'),
      produceRequests: read('sluice_kafka_produce_requests'),
      txBytes: read('sluice_kafka_tx_bytes'),
    };
  } catch {
    return undefined;
  }
}

async function runHttpScenario(s, round, bootstrap, sustainable) {
  const server = startServer(PIN ? { ...s.server, cpus: PIN.gateway } : s.server, bootstrap);
  const port = await server.port;
  const pid = server.child.pid;
  const url = `http://127.0.0.1:${port}`;
  const topic = topicFor(s.name, round);
  const warm = await smokeCheck(url, s, bootstrap, topic);
  const duration = s.overload ? OVERLOAD_S : DURATION_S;
  const overallRate = s.overload ? Math.max(100, Math.round(2 * sustainable)) : undefined;
  const workerTids = [...server.output().matchAll(/"tid":(\d+)[^\n]*"msg":"ingress worker listening"/g)].map((m) => Number(m[1]));
  const kafkaBefore = s.server.sluice ? await producerCounters(url) : undefined;
  // The load generator (this process, autocannon) on its own CPUs while it runs; child processes
  // started later (fan-out subscribers, ceilings) must not inherit that, so it is undone afterwards.
  if (PIN) pin(process.pid, PIN.load);
  const threadsBefore = threadTimes(pid);
  const stop = sampler(pid);
  const result = await autocannon({
    url: `${url}/topics/${topic}${s.query ?? ''}`,
    method: 'POST',
    headers: { 'content-type': s.ct, ...(s.headers ?? {}) },
    body: s.body,
    connections: s.connections,
    duration,
    timeout: 10,
    ...(overallRate ? { overallRate } : {}),
  });
  const usage = stop();
  const threadsAfter = threadTimes(pid);
  let recovery;
  if (s.overload) {
    // Load drops back to a normal level: does throughput come back?
    const after = await autocannon({
      url: `${url}/topics/${topic}`,
      method: 'POST',
      headers: { 'content-type': s.ct },
      body: s.body,
      connections: 100,
      duration: Math.min(DURATION_S, 5),
      timeout: 10,
    });
    recovery = { requestsPerSec: after.requests.average, non2xx: after.non2xx, errors: after.errors, twoxx: after['2xx'] };
  }
  if (PIN) pin(process.pid, PIN.all);
  const kafkaAfter = s.server.sluice ? await producerCounters(url) : undefined;
  await stopServer(server);
  const ok = result['2xx'] + (recovery?.twoxx ?? 0);
  const claimed = s.kafka === false ? 0 : ok * s.records + warm;
  const counted = s.kafka === false ? 0 : await kafkaCount(bootstrap, topic);
  const seconds = duration;
  const okPerSec = result['2xx'] / seconds;
  // CPU per answered request (errors and 503s are answers too) and per record accepted, over the window.
  const answered = result['2xx'] + result.non2xx;
  const accepted = result['2xx'] * s.records;
  const perRequest = (cpuSeconds) => (answered > 0 ? (cpuSeconds * 1e6) / answered : undefined);
  const shares = threadShares(pid, threadsBefore, threadsAfter, usage.cpuSeconds, workerTids);
  const sent = kafkaBefore && kafkaAfter ? kafkaAfter.txMessages - kafkaBefore.txMessages : NaN;
  const produceRequests = kafkaBefore && kafkaAfter ? kafkaAfter.produceRequests - kafkaBefore.produceRequests : NaN;
  const txBytes = kafkaBefore && kafkaAfter ? kafkaAfter.txBytes - kafkaBefore.txBytes : NaN;
  return {
    requestsPerSec: result.requests.average,
    recordsPerSec: okPerSec * s.records,
    mbPerSec: (okPerSec * s.records * RECORD_BYTES) / 1e6,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    p999Ms: result.latency.p99_9 ?? result.latency.p99,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    status503: result.statusCodeStats?.['503']?.count ?? 0,
    cpuPct: usage.cpuPct,
    cpuUsPerRequest: perRequest(usage.cpuSeconds),
    cpuUsPerRecord: accepted > 0 ? (usage.cpuSeconds * 1e6) / accepted : undefined,
    mainThreadUsPerRequest: perRequest(shares.main),
    workerThreadsUsPerRequest: perRequest(shares.workers),
    rdkafkaThreadsUsPerRequest: perRequest(shares.rdkafka),
    otherThreadsUsPerRequest: perRequest(shares.other),
    ...(sent > 0 && produceRequests > 0 ? { recordsPerProduceRequest: sent / produceRequests, wireBytesPerRecord: txBytes / sent } : {}),
    rssMB: usage.rssMB,
    recordsClaimed: claimed,
    recordsCounted: counted,
    lost: Math.max(0, claimed - counted),
    connections: s.connections,
    recordsPerRequest: s.records,
    ...(overallRate ? { offeredRequestsPerSec: overallRate, durationS: duration } : {}),
    ...(recovery
      ? { recoveryRequestsPerSec: recovery.requestsPerSec, recoveryNon2xx: recovery.non2xx, recoveryErrors: recovery.errors }
      : {}),
  };
}

let centrifugo; // { bin } or { skip: why }, found or built once per run
const skippedPeers = [];

async function runFanout(s, round, bootstrap) {
  const durationS = args.duration ? DURATION_S : (s.fanout.durationS ?? (QUICK ? 5 : DURATION_S));
  const log = (m) => process.stderr.write(`\n[bench] ${s.name}: ${m}\n`);
  if (s.fanout.peer === 'centrifugo') {
    centrifugo ??= ensureCentrifugo(log);
    if (centrifugo.skip) {
      if (!skippedPeers.includes(centrifugo.skip)) skippedPeers.push(centrifugo.skip);
      log(centrifugo.skip);
      return null;
    }
  }
  // Quick runs check the harness, not the numbers: no warm-up.
  const topic = topicFor(s.name.replace('@', '-'), round);
  const context = { bootstrap, topic, durationS, warmupS: QUICK ? 0 : 5, log, brokerPid: broker?.pid };
  const tag = (r) => (r && s.baseline ? { ...r, baseline: s.baseline } : r);
  if (s.fanout.scaling === 'topics') return tag(await runTopicsScenario(s, context));
  if (s.fanout.scaling === 'storm') return tag(await runResumeStormScenario(s, context));
  return tag(await runFanoutScenario(s, { ...context, centrifugoBin: centrifugo?.bin }));
}

async function runProducerCeiling(s, round, bootstrap) {
  const topic = topicFor(s.name, round);
  // A paced ceiling runs as long as an HTTP scenario; the others produce a fixed count as fast as they can.
  const records = s.rate ? s.rate * DURATION_S : QUICK ? 100_000 : 1_000_000;
  const cmd = [
    process.execPath,
    join(ROOT, 'bench', 'ceilings', s.producer),
    '--topic',
    topic,
    '--records',
    String(records),
    '--record-size',
    String(RECORD_BYTES),
    '--bootstrap',
    bootstrap,
    ...(s.rate ? ['--rate', String(s.rate)] : []),
  ];
  const pinned = PIN ? ['taskset', '-c', PIN.gateway, ...cmd] : cmd;
  const child = spawn(pinned[0], pinned.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = sampler(child.pid);
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => {
    out += c;
  });
  child.stderr.on('data', (c) => {
    err += c;
  });
  const code = await new Promise((r) => child.once('exit', r));
  const usage = stop();
  if (code !== 0) throw new Error(`${s.name} failed (${code}): ${err}`);
  const r = JSON.parse(out.trim().split('\n').pop());
  const counted = await kafkaCount(bootstrap, topic);
  return {
    requestsPerSec: 0, // no HTTP: one produce() per record
    recordsPerSec: r.recordsPerSec,
    mbPerSec: r.mbPerSec,
    p50Ms: r.p50Ms ?? 0,
    p99Ms: r.p99Ms ?? 0,
    p999Ms: r.p999Ms ?? 0,
    errors: r.failed ?? 0,
    non2xx: 0,
    cpuPct: usage.cpuPct,
    // The Node ceiling measures its own CPU (all threads) from first produce() to last delivery report;
    // the Java one has no such window here and its process time includes the JVM's start-up: not reported.
    ...(r.cpuSeconds !== undefined ? { cpuUsPerRecord: (r.cpuSeconds * 1e6) / r.delivered } : {}),
    rssMB: usage.rssMB,
    recordsClaimed: records,
    recordsCounted: counted,
    lost: Math.max(0, records - counted),
  };
}

// ---------------------------------------------------------------- main
function environment(bootstrap, ownBroker, loadAtStart) {
  const pom = readFileSync(join(ROOT, 'src', 'embedded-broker', 'pom.xml'), 'utf8');
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    librdkafka: Kafka.librdkafkaVersion,
    kafka: /<kafka\.version>([^<]+)</.exec(pom)?.[1],
    broker: `single KRaft node at ${bootstrap} (same machine)`,
    loadGenerator: 'autocannon (in the bench process, same machine)',
    fanoutClients:
      'single-record durable POSTs from the bench process; subscribers: bench/fanout/subscriber-swarm.mjs in 1–2 child processes (same machine)',
    openFileLimit: openFileLimit(),
    // Ingest scenarios and producer ceilings only; the fan-out scenarios run unpinned.
    pinning: PIN ? { gateway: PIN.gateway, broker: ownBroker ? PIN.broker : 'not pinned (--bootstrap)', loadGenerator: PIN.load } : null,
    loadAverage: { atStart: loadAtStart, atEnd: loadavg()[0] },
    flags: {
      quick: QUICK,
      rounds: ROUNDS,
      durationS: DURATION_S,
      overloadS: OVERLOAD_S,
      recordBytes: RECORD_BYTES,
      producerConfig: 'native-config/producer.properties',
    },
  };
}

// Counts that add up across rounds (a loss in any round shows); every other number is averaged.
const SUMMED = new Set([
  'recordsClaimed',
  'recordsCounted',
  'lost',
  'duplicated',
  'unexpected',
  'clientsWithLoss',
  'connectFailed',
  'postFailures',
  'badFrames',
  'misrouted',
  'refused',
]);

// Fields whose value in every round is kept (perRound) beside the mean: the spread of the rounds.
const PER_ROUND = ['requestsPerSec', 'recordsPerSec', 'cpuUsPerRequest', 'cpuUsPerRecord', 'p99Ms'];

function average(runs) {
  const out = {};
  for (const key of new Set(runs.flatMap((r) => Object.keys(r)))) {
    const values = runs.map((r) => r[key]);
    const numbers = values.filter((v) => typeof v === 'number');
    if (values.some((v) => v !== undefined && typeof v !== 'number'))
      out[key] = values[values.length - 1]; // breakdowns: the last round's
    else if (SUMMED.has(key)) out[key] = numbers.reduce((a, v) => a + v, 0);
    else if (numbers.length) out[key] = numbers.reduce((a, v) => a + v, 0) / numbers.length; // rounds that measured it
  }
  out.rounds = runs.length;
  const perRound = {};
  for (const key of PER_ROUND) if (runs.every((r) => typeof r[key] === 'number')) perRound[key] = runs.map((r) => r[key]);
  if (Object.keys(perRound).length) out.perRound = perRound;
  return out;
}

// [label, numerator scenario, denominator scenario, field]; a ratio is reported when both ran.
const RATIOS = [
  ['sluice-ndjson-1000/kafka-ceiling-node records', 'sluice-ndjson-1000', 'kafka-ceiling-node', 'recordsPerSec'],
  ['sluice-ndjson-1000/kafka-ceiling-java records', 'sluice-ndjson-1000', 'kafka-ceiling-java', 'recordsPerSec'],
  ['sluice-single-fire/http-ceiling requests', 'sluice-single-fire', 'http-ceiling', 'requestsPerSec'],
  ['sluice-single-durable/http-ceiling requests', 'sluice-single-durable', 'http-ceiling', 'requestsPerSec'],
  ['sluice-single-durable/peer-fastify-kafkajs requests', 'sluice-single-durable', 'peer-fastify-kafkajs', 'requestsPerSec'],
  ['sluice-single-durable/peer-fastify-ckjs requests', 'sluice-single-durable', 'peer-fastify-ckjs', 'requestsPerSec'],
  ['sluice-single-fire/peer-fastify-kafkajs-fire requests', 'sluice-single-fire', 'peer-fastify-kafkajs-fire', 'requestsPerSec'],
  ['sluice-single-fire/peer-fastify-ckjs-fire requests', 'sluice-single-fire', 'peer-fastify-ckjs-fire', 'requestsPerSec'],
  ['sluice-single-fire threads-2/threads-0 requests', 'sluice-single-fire-threads-2', 'sluice-single-fire-threads-0', 'requestsPerSec'],
  ['sluice-single-fire threads-1/threads-0 requests', 'sluice-single-fire-threads-1', 'sluice-single-fire-threads-0', 'requestsPerSec'],
  ['sluice-single-durable/peer-fastify-ckjs-tuned requests', 'sluice-single-durable', 'peer-fastify-ckjs-tuned', 'requestsPerSec'],
  ['sluice-ndjson-1000 pool-decoded (default)/inline records', 'sluice-ndjson-1000', 'sluice-ndjson-1000-inline', 'recordsPerSec'],
  ['sluice-lz4-1000 pool-decoded (default)/inline records', 'sluice-lz4-1000', 'sluice-lz4-1000-inline', 'recordsPerSec'],
  ['sluice-ndjson-1000 threads-2/threads-0 records', 'sluice-ndjson-1000-threads-2', 'sluice-ndjson-1000-threads-0', 'recordsPerSec'],
  ['fanout-1000 threads-2/threads-0 frames', 'fanout-1000-threads-2', 'fanout-1000', 'framesPerSec'],
  ['fanout-1000 threads-2/threads-0 p99 latency', 'fanout-1000-threads-2', 'fanout-1000', 'p99Ms'],
  ['fanout-1000 linger 5 ms/linger 0 (default) p99 latency', 'fanout-1000-linger-5', 'fanout-1000', 'p99Ms'],
  ['fanout-1000 linger 5 ms/linger 0 (default) gateway CPU', 'fanout-1000-linger-5', 'fanout-1000', 'cpuPct'],
];
RATIOS.push(...SCHEMA_RATIOS);

// CPU ratios (issue #11): [label, numerator scenario, its field, denominator as a sum of [scenario, field]].
// The single-record path against what it cannot avoid (HTTP alone + librdkafka alone, per record); the
// batch path against librdkafka alone; fire against durable; Sluice against the peers, mode for mode.
const SINGLE_SCENARIOS = [
  'sluice-single-durable',
  'sluice-single-fire',
  'sluice-single-fire-threads-0',
  'sluice-single-fire-threads-1',
  'sluice-single-fire-threads-2',
];
const BATCH_SCENARIOS = [
  'sluice-ndjson-100',
  'sluice-ndjson-1000',
  'sluice-lz4-1000',
  'sluice-ndjson-1000-inline',
  'sluice-lz4-1000-inline',
  'sluice-ndjson-1000-threads-0',
  'sluice-ndjson-1000-threads-2',
];
const FLOOR = [
  ['http-ceiling', 'cpuUsPerRequest'],
  ['kafka-ceiling-node', 'cpuUsPerRecord'],
];
const PACED_FLOOR = [
  ['http-ceiling', 'cpuUsPerRequest'],
  ['kafka-ceiling-node-paced', 'cpuUsPerRecord'],
];
const CPU_RATIOS = [
  ...SINGLE_SCENARIOS.map((n) => [
    `${n} CPU/request ÷ (http-ceiling CPU/request + kafka-ceiling-node CPU/record)`,
    n,
    'cpuUsPerRequest',
    FLOOR,
  ]),
  ...SINGLE_SCENARIOS.slice(0, 2).map((n) => [
    `${n} CPU/request ÷ (http-ceiling CPU/request + kafka-ceiling-node-paced CPU/record)`,
    n,
    'cpuUsPerRequest',
    PACED_FLOOR,
  ]),
  ...BATCH_SCENARIOS.map((n) => [
    `${n} CPU/record ÷ kafka-ceiling-node CPU/record`,
    n,
    'cpuUsPerRecord',
    [['kafka-ceiling-node', 'cpuUsPerRecord']],
  ]),
  [
    'sluice-single-fire/sluice-single-durable CPU/request',
    'sluice-single-fire',
    'cpuUsPerRequest',
    [['sluice-single-durable', 'cpuUsPerRequest']],
  ],
  [
    'sluice-single-durable/peer-fastify-kafkajs CPU/request',
    'sluice-single-durable',
    'cpuUsPerRequest',
    [['peer-fastify-kafkajs', 'cpuUsPerRequest']],
  ],
  [
    'sluice-single-durable/peer-fastify-ckjs CPU/request',
    'sluice-single-durable',
    'cpuUsPerRequest',
    [['peer-fastify-ckjs', 'cpuUsPerRequest']],
  ],
  [
    'sluice-single-durable/peer-fastify-ckjs-tuned CPU/request',
    'sluice-single-durable',
    'cpuUsPerRequest',
    [['peer-fastify-ckjs-tuned', 'cpuUsPerRequest']],
  ],
  [
    'sluice-single-fire/peer-fastify-kafkajs-fire CPU/request',
    'sluice-single-fire',
    'cpuUsPerRequest',
    [['peer-fastify-kafkajs-fire', 'cpuUsPerRequest']],
  ],
  [
    'sluice-single-fire/peer-fastify-ckjs-fire CPU/request',
    'sluice-single-fire',
    'cpuUsPerRequest',
    [['peer-fastify-ckjs-fire', 'cpuUsPerRequest']],
  ],
  [
    'sluice-single-fire threads-1/threads-0 CPU/request',
    'sluice-single-fire-threads-1',
    'cpuUsPerRequest',
    [['sluice-single-fire-threads-0', 'cpuUsPerRequest']],
  ],
  [
    'sluice-single-fire threads-2/threads-0 CPU/request',
    'sluice-single-fire-threads-2',
    'cpuUsPerRequest',
    [['sluice-single-fire-threads-0', 'cpuUsPerRequest']],
  ],
  [
    'sluice-ndjson-1000 threads-2/threads-0 CPU/record',
    'sluice-ndjson-1000-threads-2',
    'cpuUsPerRecord',
    [['sluice-ndjson-1000-threads-0', 'cpuUsPerRecord']],
  ],
];

/** A field's value in round i (rounds alternate order, so round i of two scenarios ran in the same pass). */
const inRound = (x, field, i) => x?.perRound?.[field]?.[i];

/**
 * Ratios compare scenarios of one run only: with --merge, rows kept from an earlier run (`kept`) are never
 * divided by rows of this one (the machine's load differs between runs far more than within one).
 */
function ratios(sc, kept = []) {
  const out = {};
  const oneRun = (...names) => names.every((n) => kept.includes(n)) || names.every((n) => !kept.includes(n));
  for (const [label, a, b, field] of RATIOS) if (sc[a] && sc[b]?.[field] && oneRun(a, b)) out[label] = sc[a][field] / sc[b][field];
  for (const [label, a, field, parts] of CPU_RATIOS) {
    if (!oneRun(a, ...parts.map(([n]) => n))) continue;
    const denominator = parts.reduce((sum, [n, f]) => sum + (sc[n]?.[f] ?? NaN), 0);
    if (typeof sc[a]?.[field] === 'number' && denominator > 0) out[label] = sc[a][field] / denominator;
  }
  return out;
}

/** Per round, min and max of each CPU ratio whose scenarios all ran the same rounds in this run. */
function ratioSpreads(sc, kept = []) {
  const out = {};
  for (const [label, a, field, parts] of CPU_RATIOS) {
    if ([a, ...parts.map(([n]) => n)].some((n) => kept.includes(n))) continue;
    const rounds = sc[a]?.perRound?.[field]?.length ?? 0;
    if (rounds < 2 || parts.some(([n, f]) => sc[n]?.perRound?.[f]?.length !== rounds)) continue;
    const values = Array.from(
      { length: rounds },
      (_, i) => inRound(sc[a], field, i) / parts.reduce((sum, [n, f]) => sum + inRound(sc[n], f, i), 0),
    );
    out[label] = [Math.min(...values), Math.max(...values)];
  }
  return out;
}

/** Issue #11's goals, as measured in this run: [text, value, met] for each whose scenarios ran. */
function cpuGoals(sc, r) {
  const goals = [];
  const ratio = (label) => r[label];
  const add = (text, value, met, digits = 2) => {
    if (typeof value === 'number' && Number.isFinite(value))
      goals.push(`${text}: ${fmt(value, digits)}, ${met(value) ? 'met' : '**not met**'}`);
  };
  add('durable CPU/request ≤ 1.5× (HTTP ceiling + producer per record)', ratio(CPU_RATIOS[0][0]), (v) => v <= 1.5);
  add('fire CPU/request ≤ 1.5× (HTTP ceiling + producer per record)', ratio(CPU_RATIOS[1][0]), (v) => v <= 1.5);
  add('fire ≤ durable in CPU/request', ratio('sluice-single-fire/sluice-single-durable CPU/request'), (v) => v <= 1);
  add(
    'sluice-ndjson-1000 CPU/record ≤ 1.3× kafka-ceiling-node',
    ratio('sluice-ndjson-1000 CPU/record ÷ kafka-ceiling-node CPU/record'),
    (v) => v <= 1.3,
  );
  for (const [mine, peer, lead] of [
    ['sluice-single-durable', 'peer-fastify-kafkajs', 8],
    ['sluice-single-durable', 'peer-fastify-ckjs', 2.5],
    ['sluice-single-fire', 'peer-fastify-ckjs-fire', 1.5],
  ]) {
    if (!sc[mine] || !sc[peer]) continue;
    add(`${mine} ≥ ${lead}× ${peer} req/s`, sc[mine].requestsPerSec / sc[peer].requestsPerSec, (v) => v >= lead);
    add(`${mine} CPU/request ≤ 0.5× ${peer}'s`, sc[mine].cpuUsPerRequest / sc[peer].cpuUsPerRequest, (v) => v <= 0.5);
  }
  return goals;
}

/** The mean and, with 2+ rounds, their range: `35.2 (34.1–36.0)`. */
function spread(s, field, digits = 0) {
  const v = s.perRound?.[field];
  const mean = fmt(s[field], digits);
  return v && v.length > 1 && mean ? `${mean} (${fmt(Math.min(...v), digits)}–${fmt(Math.max(...v), digits)})` : mean;
}

function environmentLines(result, command) {
  const e = result.environment;
  const p = e.pinning;
  const pinning = p
    ? `pinned with taskset: gateway (or peer, or producer ceiling) on CPU ${p.gateway}, broker on ${/^[\d,-]+$/.test(p.broker) ? `CPU ${p.broker}` : p.broker}, load generator on CPU ${p.loadGenerator}`
    : 'not pinned';
  const load = e.loadAverage ? `; 1-min load average ${fmt(e.loadAverage.atStart, 1)} at start, ${fmt(e.loadAverage.atEnd, 1)} at end` : '';
  return [
    ...(e.merged
      ? [`Rows ${e.merged.scenarios.join(', ')} are kept from the run of ${e.merged.from}; the others are from the run below.`]
      : []),
    `Environment: ${e.cpu}, ${e.cores} cores, ${e.memoryGB} GiB; Node ${e.node}; librdkafka ${e.librdkafka}; Apache Kafka ${e.kafka} (${e.broker}); load: ${e.loadGenerator}; ${pinning}${load}; ${e.flags.rounds} round(s) × ${e.flags.durationS} s (overload ${e.flags.overloadS} s), ${e.flags.recordBytes}-byte JSON records; ${e.date}.`,
    `Command: \`${command}\``,
  ];
}

/**
 * CPU per request and per record (docs/performance.md leads with this): gateway CPU over the
 * measured window from /proc (utime + stime of every thread; the broker and the load generator are not
 * counted), split by thread, then the CPU ratios and issue #11's goals.
 */
function cpuMarkdown(result, command) {
  const lines = environmentLines(result, command);
  const ingest = Object.entries(result.scenarios).filter(
    ([, x]) => x.subscribers === undefined && (x.cpuUsPerRequest !== undefined || x.cpuUsPerRecord !== undefined),
  );
  if (!ingest.length) return lines.join('\n') + '\n';
  lines.push(
    '',
    "Gateway CPU over the measured window, all threads, from `/proc/<pid>/stat` (utime + stime; broker and load generator not counted); mean of the rounds with their range in brackets. The thread columns split CPU per request: the main thread (uWS with `SLUICE_INGRESS_THREADS=0`, and always the producer), librdkafka's threads, ingress worker threads, and the rest (V8 GC/compiler threads, libuv, the decode pool). Records/s per core = 10⁶ ÷ CPU µs per record.",
    '',
    '| scenario | ack | records/request | req/s | CPU µs/request | CPU µs/record | main thread µs/request | librdkafka threads µs/request | ingress workers µs/request | other threads µs/request | records per produce request | records/s per gateway core |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const [name, s] of ingest) {
    const def = SCENARIOS.find((x) => x.name === name);
    const ack = def?.producer
      ? `librdkafka alone${def.rate ? `, paced at ${fmt(def.rate)}/s` : ''}`
      : def?.kafka === false
        ? 'no Kafka'
        : def?.expect === 202
          ? 'fire (`?ack=none`)'
          : def
            ? 'durable'
            : '';
    const perRequest = (f) => (s.requestsPerSec ? fmt(s[f], 1) : '');
    lines.push(
      `| ${name} | ${ack} | ${fmt(s.recordsPerRequest ?? def?.records)} | ${s.requestsPerSec ? spread(s, 'requestsPerSec') : ''} | ${s.requestsPerSec ? spread(s, 'cpuUsPerRequest', 1) : ''} | ${spread(s, 'cpuUsPerRecord', 2)} | ${perRequest('mainThreadUsPerRequest')} | ${perRequest('rdkafkaThreadsUsPerRequest')} | ${perRequest('workerThreadsUsPerRequest')} | ${perRequest('otherThreadsUsPerRequest')} | ${fmt(s.recordsPerProduceRequest, 1)} | ${s.cpuUsPerRecord ? fmt(Math.round(1e6 / s.cpuUsPerRecord / 1000) * 1000) : ''} |`,
    );
  }
  const cpuRatios = CPU_RATIOS.map(([label]) => label).filter((label) => label in result.ratios);
  if (cpuRatios.length) {
    lines.push('', '| CPU ratio | value (range over rounds) |', '| --- | ---: |');
    for (const label of cpuRatios) {
      const r = result.ratioSpreads?.[label];
      lines.push(`| ${label} | ${fmt(result.ratios[label], 2)}${r ? ` (${fmt(r[0], 2)}–${fmt(r[1], 2)})` : ''} |`);
    }
  }
  const goals = cpuGoals(result.scenarios, result.ratios);
  if (goals.length) lines.push('', `Goals (issue #11): ${goals.join('; ')}.`);
  lines.push(...scalingModel(result.scenarios));
  return lines.join('\n') + '\n';
}

/**
 * Records/s on a V-vCPU VM, from this run's split of CPU by thread with 2 ingress worker threads. The
 * Kafka producer lives on each process's main thread (it cannot run in a worker thread), so a process
 * can never go faster than its main thread's share allows (10⁶ ÷ main-thread µs per record, one core);
 * past that, cores only help as more processes, each with its own producer, on the same port.
 * Assumes the per-record costs stay what they were here (2 vCPUs, one broker) and the VM runs nothing
 * else; librdkafka's broker threads are spread over the brokers (one here, so their cap is the lowest).
 */
function scalingModel(sc) {
  const cases = [
    ['single records, fire', 'sluice-single-fire-threads-2', 1],
    ['NDJSON × 1,000, durable', 'sluice-ndjson-1000-threads-2', 1000],
  ];
  const rows = [];
  for (const [label, name, perRequest] of cases) {
    const s = sc[name];
    if (!s?.mainThreadUsPerRequest || !s.cpuUsPerRequest) continue;
    const total = s.cpuUsPerRequest / perRequest;
    const main = s.mainThreadUsPerRequest / perRequest;
    const mainCap = 1e6 / main; // records/s at which the main thread is 100% busy
    for (const vcpus of [4, 8, 16, 32]) {
      const cpuBound = (vcpus * 1e6) / total;
      const one = Math.min(cpuBound, mainCap);
      // Enough processes that each main thread stays below 80% busy at the CPU-bound rate.
      const processes = Math.max(1, Math.ceil(cpuBound / (0.8 * mainCap)));
      const threads = Math.max(0, Math.floor(vcpus / processes) - 1);
      rows.push(
        `| ${label} | ${vcpus} | ${fmt(Math.round(one / 1000) * 1000)} | ${one < cpuBound ? 'main thread' : 'CPU'} | ${processes} × (${threads} ingress threads) | ${fmt(Math.round(cpuBound / 1000) * 1000)} |`,
      );
    }
  }
  if (!rows.length) return [];
  return [
    '',
    "Model for multi-vCPU VMs (from the `-threads-2` rows: CPU per record of all threads, and the main thread's share, which holds the Kafka producer and cannot be spread): a process goes no faster than 10⁶ ÷ its main-thread µs per record; more cores then pay only as more processes, each with its own producer, on the same port (`SO_REUSEPORT`).",
    '',
    '| traffic | vCPUs | one process with ingress threads, records/s | limited by | processes × threads to use every core | records/s with them |',
    '| --- | ---: | ---: | --- | --- | ---: |',
    ...rows,
  ];
}

function markdown(result, command) {
  const lines = environmentLines(result, command);
  const entries = Object.entries(result.scenarios);
  const ingest = entries.filter(([, x]) => x.subscribers === undefined);
  if (ingest.length) {
    lines.push(
      '',
      '| scenario | req/s | records/s | CPU µs/request | CPU µs/record | MB/s | p50 ms | p99 ms | p99.9 ms | errors | non-2xx | CPU % | peak RSS MB | records claimed / counted in Kafka (lost) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
  }
  for (const [name, s] of ingest) {
    lines.push(
      `| ${name} | ${fmt(s.requestsPerSec)} | ${fmt(s.recordsPerSec)} | ${s.requestsPerSec ? fmt(s.cpuUsPerRequest, 1) : ''} | ${fmt(s.cpuUsPerRecord, 2)} | ${fmt(s.mbPerSec, 1)} | ${fmt(s.p50Ms, 1)} | ${fmt(s.p99Ms, 1)} | ${fmt(s.p999Ms, 1)} | ${fmt(s.errors)} | ${fmt(s.non2xx)} | ${fmt(s.cpuPct)} | ${fmt(s.rssMB)} | ${fmt(s.recordsClaimed)} / ${fmt(s.recordsCounted)}${s.lost > 0 ? ` (**${fmt(s.lost)} lost**)` : ''} |`,
    );
  }
  const fanout = entries.filter(([, x]) => x.subscribers !== undefined && !x.peerGroup && !x.scaling);
  if (fanout.length) {
    lines.push(
      '',
      `Fan-out: N WebSocket subscribers on one topic while single records are POSTed at a steady rate; latency is POST-to-frame, from the send time in each record to its arrival at a subscriber${fanout[0][1].warmupS ? `, after a ${fmt(fanout[0][1].warmupS)} s unmeasured warm-up at the same rate` : ''}; lost/duplicated compare every fast subscriber's frames with the offsets the POSTs were acknowledged; 1% of the subscribers (5% in fanout-slow) stop reading after subscribing.`,
      '',
      '| scenario | subscribers | gateway threads | records/s offered × s | frame bytes | frames/s delivered | p50 ms | p99 ms | p99.9 ms | p99 ms from Kafka timestamp | lost | duplicated | slow clients closed by server (close codes) | RSS per idle socket KB | gateway CPU % | subscriber CPU % |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const [name, s] of fanout) {
      const codes = Object.entries(s.slowCloseCodes ?? {})
        .map(([c, n]) => `${n}× ${c}`)
        .join(', ');
      const failed = s.connectFailed ? ` (**${fmt(s.connectFailed)} failed to connect**)` : '';
      lines.push(
        `| ${name} | ${fmt(s.subscribers)}${failed} | ${s.ingressThreads} | ${fmt(s.recordsPerSec)} × ${fmt(s.durationS)} | ${fmt(s.frameBytes)} | ${fmt(s.framesPerSec)} | ${fmt(s.p50Ms, 1)} | ${fmt(s.p99Ms, 1)} | ${fmt(s.p999Ms, 1)} | ${fmt(s.produceToFrameP99Ms, 1)} | ${s.lost > 0 ? `**${fmt(s.lost)}**` : fmt(s.lost)} | ${s.duplicated > 0 ? `**${fmt(s.duplicated)}**` : fmt(s.duplicated)} | ${fmt(s.slowDrops)} of ${fmt(s.slowClients)}${codes ? ` (${codes})` : ''} | ${fmt(s.rssPerConnKB, 1)} | ${fmt(s.cpuPct)} | ${fmt(s.clientCpuPct)} |`,
      );
    }
  }
  const goal = result.scenarios['fanout-1000'];
  if (goal) {
    // With 100 sockets garbage collection moves RSS by more than the sockets take: judge from 1,000 up.
    const worstKB = Math.max(...fanout.filter(([, x]) => x.subscribers >= 1000).map(([, x]) => x.rssPerConnKB));
    const bad = fanout.filter(([, x]) => x.lost + x.duplicated > 0).map(([n]) => n);
    const verdict = (ok) => (ok ? 'met' : '**not met**');
    lines.push(
      '',
      `Goals (issue #4): p99 ≤ 50 ms at 1,000 subscribers × 1,000 records/s: ${fmt(goal.p99Ms, 1)} ms, ${verdict(goal.p99Ms <= 50)}; 0 lost or duplicated frames: ${bad.length ? `**not met** (${bad.join(', ')})` : 'met'}; ≤ 10 KB RSS per idle socket (scenarios with ≥ 1,000 sockets): at most ${fmt(worstKB, 1)} KB, ${verdict(worstKB <= 10)}.`,
    );
  }
  lines.push(...peerMarkdown(result.scenarios, result.skippedPeers ?? []));
  lines.push(...scalingMarkdown(result.scenarios));
  const throughputRatios = RATIOS.map(([label]) => label).filter((label) => label in result.ratios);
  if (throughputRatios.length) lines.push('', '| ratio | value |', '| --- | ---: |');
  for (const k of throughputRatios) lines.push(`| ${k} | ${fmt(result.ratios[k], 2)} |`);
  const o = result.scenarios.overload;
  if (o)
    lines.push(
      '',
      `Overload: ${fmt(o.offeredRequestsPerSec)} req/s offered (2× the best single-record rate above; autocannon delivers what it can of it) for ${o.durationS} s → ${fmt(o.requestsPerSec)} req/s answered, ${fmt(o.status503)} × 503, ${fmt(o.timeouts)} timeouts, ${fmt(o.errors)} errors, peak RSS ${fmt(o.rssMB)} MB; afterwards, at normal load: ${fmt(o.recoveryRequestsPerSec)} req/s.`,
    );
  return lines.join('\n') + '\n';
}

async function main() {
  const only = args.only ? new Set(args.only.split(',')) : null;
  // Quick runs skip the big fan-out scenarios (minutes each with thousands of sockets) unless named.
  const scenarios = SCENARIOS.filter((s) => (only ? only.has(s.name) : !(QUICK && s.full)));
  if (only) for (const name of only) if (!SCENARIOS.some((s) => s.name === name)) throw new Error(`--only: no scenario "${name}"`);
  const loadAtStart = loadavg()[0];
  let bootstrap = args.bootstrap;
  let dataDir;
  if (!bootstrap) {
    dataDir = mkdtempSync(join(tmpdir(), 'sluice-bench-kafka-'));
    broker = new EmbeddedBroker({
      port: Number(args['kafka-port']),
      dataDir,
      heapMb: 2048,
      log: (m) => console.error(`[bench-kafka] ${m}`),
    });
    await broker.start();
    bootstrap = broker.bootstrapServers;
    if (PIN && broker.pid) pin(broker.pid, PIN.broker);
  }
  if (PIN)
    process.stderr.write(
      `[bench] pinned: gateway CPU ${PIN.gateway}, broker ${broker ? `CPU ${PIN.broker}` : 'not pinned (--bootstrap)'}, load generator CPU ${PIN.load}\n`,
    );
  const runs = new Map();
  const sustainable = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const regular = scenarios.filter((s) => !s.overload);
      const order = round % 2 === 1 ? regular : [...regular].reverse();
      for (const s of [...order, ...scenarios.filter((x) => x.overload)]) {
        if (s.overload && round < ROUNDS) continue; // once, at the very end
        process.stderr.write(`[bench] round ${round}: ${s.name} … `);
        const sus = sustainable.length ? Math.max(...sustainable) : 1000;
        if (s.fanout) {
          const r = await runFanout(s, round, bootstrap);
          if (!r) continue; // a peer that cannot run here (its line says why)
          if (r.scaling) process.stderr.write(`${scalingSummary(r)}\n`);
          else
            process.stderr.write(
              `${fmt(r.subscribed)} subscribed, ${fmt(r.framesPerSec)} frames/s, p50/p99/p99.9 ${fmt(r.p50Ms, 1)}/${fmt(r.p99Ms, 1)}/${fmt(r.p999Ms, 1)} ms, lost ${r.lost}, duplicated ${r.duplicated}, slow closed ${r.slowDrops}/${r.slowClients}, ${fmt(r.rssPerConnKB, 1)} KB/socket, server CPU ${fmt(r.cpuSecondsPerMillion, 2)} s per 1M records, ${fmt(r.wsMessages)} WebSocket messages\n`,
            );
          runs.set(s.name, [...(runs.get(s.name) ?? []), r]);
          continue;
        }
        const r = s.producer ? await runProducerCeiling(s, round, bootstrap) : await runHttpScenario(s, round, bootstrap, sus);
        if (s.name === 'sluice-single-durable' || s.name === 'sluice-single-fire') sustainable.push(r.requestsPerSec);
        process.stderr.write(
          `${fmt(r.requestsPerSec)} req/s, ${fmt(r.recordsPerSec)} records/s, p99 ${fmt(r.p99Ms, 1)} ms, counted ${r.recordsCounted}/${r.recordsClaimed}\n`,
        );
        runs.set(s.name, [...(runs.get(s.name) ?? []), r]);
      }
    }
  } finally {
    if (admin) await new Promise((r) => admin.disconnect(r));
    if (broker) await broker.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
  const scenariosOut = {};
  for (const s of scenarios) if (runs.has(s.name)) scenariosOut[s.name] = average(runs.get(s.name));
  const env = environment(bootstrap, broker !== undefined, loadAtStart);
  let all = scenariosOut;
  if (args.merge) {
    let previous;
    try {
      previous = JSON.parse(readFileSync(join(args.out, 'latest.json'), 'utf8'));
    } catch {
      /* nothing to merge with */
    }
    if (previous) {
      const kept = Object.keys(previous.scenarios).filter((n) => !(n in scenariosOut));
      all = {};
      // The order of SCENARIOS, then anything the previous file had that this version no longer runs.
      for (const n of [...SCENARIOS.map((x) => x.name), ...kept]) {
        if (n in scenariosOut) all[n] = scenariosOut[n];
        else if (kept.includes(n)) all[n] = previous.scenarios[n];
      }
      // Rows the previous file had kept from earlier runs stay attributed to those runs too.
      if (kept.length)
        env.merged = {
          from: [previous.environment?.merged?.from, previous.environment?.date].filter(Boolean).join(' and '),
          scenarios: kept,
        };
    }
  }
  const argv = process.argv.slice(2);
  const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  const kept = env.merged?.scenarios ?? [];
  const result = {
    environment: env,
    command,
    scenarios: all,
    ratios: ratios(all, kept),
    ratioSpreads: ratioSpreads(all, kept),
    ...(skippedPeers.length ? { skippedPeers } : {}),
  };
  mkdirSync(args.out, { recursive: true });
  writeFileSync(join(args.out, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
  const md = writeReports(result, !QUICK && !args['no-readme'] && (!args.only || args.merge));
  process.stdout.write(md);
  // A peer losing records is a finding to report; Sluice or a ceiling losing one fails the run.
  const lost = Object.entries(scenariosOut).filter(([, s]) => s.lost > 0 && s.subscribers === undefined);
  if (lost.length) console.error(`records claimed but missing from Kafka: ${lost.map(([n, s]) => `${n}: ${s.lost}`).join(', ')}`);
  // A subscriber that kept up missing a frame, or getting one twice, is a Sluice failure too.
  // (Centrifugo losing or repeating one is a finding about the peer, reported in its row.)
  const frames = Object.entries(scenariosOut).filter(
    ([, s]) => s.subscribers !== undefined && s.server !== 'centrifugo' && s.lost + s.duplicated + (s.misrouted ?? 0) > 0,
  );
  if (frames.length)
    console.error(
      `fan-out frames lost / duplicated / misrouted: ${frames.map(([n, s]) => `${n}: ${s.lost} / ${s.duplicated} / ${s.misrouted ?? 0}`).join(', ')}`,
    );
  if (frames.length || lost.some(([name]) => !name.startsWith('peer-'))) process.exit(1);
  process.exit(0);
}

/**
 * latest.md beside latest.json, and with `docs`: docs/performance.md's generated blocks (the CPU table
 * first, the sizing rule, the full results) and README's short summary. Answers latest.md's text.
 */
function writeReports(result, docs) {
  const command = result.command ?? 'npm run bench';
  const cpuMd = cpuMarkdown(result, command);
  const md = `${cpuMd}\n${markdown(result, command)}`;
  writeFileSync(join(args.out, 'latest.md'), md);
  if (docs) {
    const missing = [
      ...writeMarked(join(ROOT, 'docs', 'performance.md'), [
        ['bench-cpu', cpuMd],
        ['bench-sizing', sizingMarkdown(result.scenarios)],
        ['bench', markdown(result, command)],
      ]),
      ...writeMarked(join(ROOT, 'README.md'), [['bench-summary', readmeSummary(result)]]),
    ];
    if (missing.length) console.error(`[bench] no markers for ${missing.join(', ')}: those blocks were not written`);
  }
  return md;
}

if (args['docs-only']) {
  const result = JSON.parse(readFileSync(join(args.out, 'latest.json'), 'utf8'));
  const kept = result.environment.merged?.scenarios ?? [];
  // Recomputed, so that a change to the ratios or the goals shows without a new run.
  result.ratios = ratios(result.scenarios, kept);
  result.ratioSpreads = ratioSpreads(result.scenarios, kept);
  writeReports(result, true);
  process.exit(0);
}

main().catch((err) => {
  console.error(err.stack ?? err);
  process.exit(1);
});
