// Gateway CPU per request, split by thread, for one ingest case — and the same case against other
// checkouts of Sluice in alternating order, so a change is measured side by side in one run. With
// --cpu-prof the gateway writes V8 CPU profiles of its threads; with --perf, `perf record` samples every
// thread (librdkafka's too). Pinned like the bench (cpuLayout in processes.mjs: gateway on the upper half
// of the CPUs, broker and load generator on the rest) unless --pin off.
//
//   node bench/profile.mjs [--mode fire|durable] [--body single|ndjson-1000] [--threads N] [--connections N]
//        [--duration S] [--rounds N] [--rate R (fixed req/s; default: as fast as it goes)]
//        [--compare DIR,DIR,... (checkouts with a built dist/; default: this one)] [--env K=V,K=V]
//        [--cpu-prof DIR] [--perf DIR [--perf-call-graph fp|dwarf]] [--bootstrap host:port | --kafka-port P]
//
// Prints one JSON line per run and a table of medians (range) per checkout: req/s, CPU µs per request
// (all threads, from /proc, over the measured window), main thread, librdkafka threads, ingress
// workers, other threads, and records per Kafka produce request (from the gateway's librdkafka stats).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { EmbeddedBroker } from '../dist/embedded-broker/broker.js';
import { deviceRecord } from './records.mjs';
import { startServer, stopServer, sampler, threadTimes, threadShares, pin, cpuLayout } from './processes.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: a } = parseArgs({
  options: {
    mode: { type: 'string', default: 'fire' },
    body: { type: 'string', default: 'single' },
    threads: { type: 'string', default: '0' },
    connections: { type: 'string' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    rate: { type: 'string', default: '0' },
    compare: { type: 'string', default: ROOT },
    env: { type: 'string', default: '' },
    'cpu-prof': { type: 'string' },
    perf: { type: 'string' },
    'perf-call-graph': { type: 'string', default: 'fp' },
    bootstrap: { type: 'string' },
    'kafka-port': { type: 'string', default: process.env.SLUICE_BENCH_KAFKA_PORT ?? '29092' },
    pin: { type: 'string', default: 'on' },
  },
});
if (!['fire', 'durable'].includes(a.mode)) throw new Error('--mode fire|durable');
if (!['single', 'ndjson-1000'].includes(a.body)) throw new Error('--body single|ndjson-1000');
const checkouts = a.compare.split(',').map((d) => resolve(d));
const extraEnv = Object.fromEntries(
  a.env
    .split(',')
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const records = a.body === 'single' ? 1 : 1000;
const body = records === 1 ? deviceRecord(1) : Array.from({ length: 1000 }, (_, i) => deviceRecord(i)).join('\n');
const contentType = records === 1 ? 'application/json' : 'application/x-ndjson';
const query = a.mode === 'fire' ? '?ack=none' : '';
const connections = Number(a.connections ?? (records === 1 ? 100 : 16));

const PIN = a.pin === 'off' ? null : cpuLayout();

async function counters(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name) => Number(new RegExp(`^${name}(?:_total)? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN); // `_total` since the counters' rename; a checkout from before has the bare names
  return { sent: read('sluice_kafka_tx_messages'), requests: read('sluice_kafka_produce_requests') };
}

async function once(checkout, round, bootstrap) {
  const label = checkout === ROOT.replace(/\/$/, '') || checkout === resolve(ROOT) ? 'this' : checkout;
  const flags = [];
  if (a['cpu-prof']) {
    const dir = join(resolve(a['cpu-prof']), `${checkouts.indexOf(checkout)}-r${round}`);
    mkdirSync(dir, { recursive: true });
    flags.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  if (a.perf) flags.push('--perf-basic-prof-only-functions');
  const spec = {
    cmd: [process.execPath, ...flags, join(checkout, 'dist', 'main.js')],
    env: { SLUICE_LOG_LEVEL: 'info', SLUICE_INGRESS_THREADS: a.threads, ...extraEnv },
    sluice: true,
    cpus: PIN?.gateway,
  };
  const server = startServer(spec, bootstrap);
  const port = await server.port;
  const pid = server.child.pid;
  const url = `http://127.0.0.1:${port}`;
  const target = `${url}/topics/profile-${Math.random().toString(36).slice(2, 8)}${query}`;
  const load = (duration, rate) =>
    autocannon({
      url: target,
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
      connections,
      duration,
      ...(rate ? { overallRate: rate } : {}),
    });
  const smoke = await fetch(target, { method: 'POST', headers: { 'content-type': contentType }, body });
  if (smoke.status !== (a.mode === 'fire' ? 202 : 200)) throw new Error(`smoke check: ${smoke.status} ${await smoke.text()}`);
  await load(2, Number(a.rate)); // warm-up: JIT, connections, the topic's metadata
  await new Promise((r) => setTimeout(r, 1100)); // a fresh statistics window
  const before = await counters(url);
  const workerTids = [...server.output().matchAll(/"tid":(\d+)[^\n]*"msg":"ingress worker listening"/g)].map((m) => Number(m[1]));
  let perf;
  if (a.perf) {
    mkdirSync(resolve(a.perf), { recursive: true });
    perf = spawn(
      'perf',
      [
        'record',
        '-F',
        '499',
        '--call-graph',
        a['perf-call-graph'],
        '-p',
        String(pid),
        '-o',
        join(resolve(a.perf), `${checkouts.indexOf(checkout)}-r${round}.perf.data`),
        '--',
        'sleep',
        a.duration,
      ],
      { stdio: 'ignore' },
    );
  }
  if (PIN) pin(process.pid, PIN.load);
  const t0 = threadTimes(pid);
  const stop = sampler(pid);
  const result = await load(Number(a.duration), Number(a.rate));
  const usage = stop();
  const t1 = threadTimes(pid);
  if (PIN) pin(process.pid, PIN.all);
  if (perf && perf.exitCode === null) await new Promise((r) => perf.once('exit', r));
  await new Promise((r) => setTimeout(r, 1100));
  const after = await counters(url);
  await stopServer(server);
  const answered = result['2xx'] + result.non2xx;
  const us = (cpu) => +((cpu * 1e6) / answered).toFixed(2);
  const sh = threadShares(pid, t0, t1, usage.cpuSeconds, workerTids);
  return {
    checkout: label,
    round,
    reqPerSec: Math.round(result.requests.average),
    non2xx: result.non2xx,
    errors: result.errors,
    p99Ms: result.latency.p99,
    cpuUsPerRequest: us(usage.cpuSeconds),
    mainUs: us(sh.main),
    rdkafkaUs: us(sh.rdkafka),
    workersUs: us(sh.workers),
    otherUs: us(sh.other),
    recordsPerProduceRequest: +((after.sent - before.sent) / (after.requests - before.requests)).toFixed(1),
  };
}

let broker;
let dataDir;
let bootstrap = a.bootstrap;
if (!bootstrap) {
  dataDir = mkdtempSync(join(tmpdir(), 'sluice-profile-kafka-'));
  broker = new EmbeddedBroker({ port: Number(a['kafka-port']), dataDir, heapMb: 2048, log: (m) => console.error(`[profile-kafka] ${m}`) });
  await broker.start();
  if (PIN && broker.pid) pin(broker.pid, PIN.broker);
  bootstrap = broker.bootstrapServers;
}
const runs = [];
try {
  for (let round = 1; round <= Number(a.rounds); round++) {
    const order = round % 2 === 1 ? checkouts : [...checkouts].reverse();
    for (const c of order) {
      const r = await once(c, round, bootstrap);
      console.log(JSON.stringify(r));
      runs.push(r);
    }
  }
} finally {
  if (broker) await broker.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const cell = (v, d = 1) => `${median(v).toFixed(d)} (${Math.min(...v).toFixed(d)}–${Math.max(...v).toFixed(d)})`;
console.log(
  `\n${a.mode}, ${a.body}, ${a.threads} ingress threads, ${connections} connections${Number(a.rate) ? `, ${a.rate} req/s offered` : ''}; median (range) of ${a.rounds} rounds`,
);
console.log(
  '| checkout | req/s | CPU µs/request | main thread | librdkafka threads | ingress workers | other | records per produce request |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const c of checkouts) {
  const rs = runs.filter((r) => r.checkout === (c === resolve(ROOT) ? 'this' : c));
  const col = (k, d) =>
    cell(
      rs.map((r) => r[k]),
      d,
    );
  console.log(
    `| ${rs[0].checkout} | ${col('reqPerSec', 0)} | ${col('cpuUsPerRequest')} | ${col('mainUs')} | ${col('rdkafkaUs')} | ${col('workersUs')} | ${col('otherUs')} | ${col('recordsPerProduceRequest')} |`,
  );
}
process.exit(0);
