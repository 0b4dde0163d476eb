// Cost of windowed views (`window=…`) per record: gateway CPU while records are POSTed at the fan-out
// scenario's rate (fanout-1000: 1,000 records/s) to one topic followed by one plain record subscriber plus
// 0, 1, 10 or 100 distinct views (each a different window length: one computation each).
//
//   node bench/views/view-cost.mjs [--bootstrap host:port | --kafka-port 29092] [--duration 10] [--rounds 2] [--views 0,1,10,100]
//
// Each case runs in a fresh gateway process (SLUICE_INGRESS_THREADS=0), cases alternate order between
// rounds. Correctness check of every timed run: every view subscriber gets window frames, the counts of one
// view's closed windows add up to at most the records posted and more than none. Late records are counted, not
// failed: with grace 0 a record of one partition behind another partition's newest can miss its window.
// Output: one JSON line per case and round, then a Markdown table with µs of gateway CPU per record.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { EmbeddedBroker } from '../../dist/embedded-broker/broker.js';
import { startServer, stopServer, sampler } from '../processes.mjs';
import { postSteadily } from '../fanout/steady-poster.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    bootstrap: { type: 'string' },
    'kafka-port': { type: 'string', default: '29092' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    views: { type: 'string', default: '0,1,10,100' },
    rate: { type: 'string', default: '1000' },
  },
});
const DURATION_S = Number(args.duration);
const RATE = Number(args.rate);
const ROUNDS = Number(args.rounds);
const CASES = args.views.split(',').map(Number);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function subscriber(url) {
  const ws = new WebSocket(url);
  const s = { ws, frames: 0, windows: [], late: 0, error: null };
  ws.on('message', (d) => {
    s.frames++;
    const text = d.toString();
    if (text.startsWith('{"event":"window"')) s.windows.push(JSON.parse(text));
    else if (text.startsWith('{"event":"error"')) s.error = text;
  });
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode} for ${url}`)));
    ws.once('open', () => resolve(s));
  });
}

async function runCase(bootstrap, views, round) {
  const server = startServer(
    {
      cmd: [process.execPath, join(ROOT, 'dist', 'main.js')],
      env: { SLUICE_LOG_LEVEL: 'info', SLUICE_INGRESS_THREADS: '0', SLUICE_MAX_VIEWS_PER_TOPIC: '1000' },
      sluice: true,
    },
    bootstrap,
  );
  try {
    const port = await server.port;
    const topic = `views-${views}-${round}-${Date.now()}`;
    // Create the topic and the live feed first.
    await fetch(`http://127.0.0.1:${port}/topics/${topic}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"warmup":true}',
    });
    const plain = await subscriber(`ws://127.0.0.1:${port}/ws/topics/${topic}`);
    const subs = [];
    // Distinct views (one computation each): windows of 1–5 s, so all close during the run, told apart by
    // their grace (i ms); count, avg and max of the reading per device (1,000 devices).
    for (let i = 0; i < views; i++)
      subs.push(
        await subscriber(
          `ws://127.0.0.1:${port}/ws/topics/${topic}?window=${1 + (i % 5)}s&grace=${i}ms&agg=count(),avg(temp),max(temp)&by=device`,
        ),
      );
    await sleep(500);
    const metricsText = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const metric = (text, name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    const pid = server.child.pid;
    const stop = sampler(pid);
    const posted = await postSteadily({ port, topic, rate: RATE, durationS: DURATION_S });
    await sleep(1500);
    const { cpuPct, rssMB } = stop();
    const text = await metricsText();
    // Smoke check: views computed, counts plausible, nothing late, the plain subscriber got every record.
    const problems = [];
    if (plain.frames < posted.acked) problems.push(`plain subscriber got ${plain.frames} frames for ${posted.acked} records`);
    if (views > 0) {
      if (metric(text, 'sluice_window_views') !== views)
        problems.push(`sluice_window_views=${metric(text, 'sluice_window_views')}, expected ${views}`);
      const counted = subs[0].windows.reduce((n, w) => n + w.count, 0);
      if (!(counted > 0 && counted <= posted.acked)) problems.push(`the 1 s view counted ${counted} records of ${posted.acked}`);
      for (const s of subs)
        if (s.error || s.windows.length === 0)
          problems.push(`a view got ${s.windows.length} windows${s.error ? `, error ${s.error}` : ''}`);
    }
    const late = metric(text, 'sluice_window_late_records_total');
    for (const s of [plain, ...subs]) s.ws.close();
    const cpuSeconds = (cpuPct / 100) * DURATION_S;
    return {
      views,
      round,
      rate: RATE,
      durationS: DURATION_S,
      acked: posted.acked,
      cpuPct: Math.round(cpuPct * 10) / 10,
      cpuUsPerRecord: Math.round((cpuSeconds / posted.acked) * 1e6),
      rssMB: Math.round(rssMB),
      late,
      problems,
    };
  } finally {
    await stopServer(server);
  }
}

let broker;
let dataDir;
let bootstrap = args.bootstrap;
if (!bootstrap) {
  dataDir = mkdtempSync(join(tmpdir(), 'sluice-bench-views-'));
  broker = new EmbeddedBroker({ port: Number(args['kafka-port']), dataDir, log: () => {} });
  await broker.start();
  bootstrap = broker.bootstrapServers;
}
console.error(
  `Environment: node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB; broker ${bootstrap}; ${RATE} records/s for ${DURATION_S} s per case, ${ROUNDS} rounds`,
);
const results = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? CASES : [...CASES].reverse();
    for (const views of order) {
      const r = await runCase(bootstrap, views, round);
      console.log(JSON.stringify(r));
      results.push(r);
    }
  }
} finally {
  await broker?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
console.log('\n| views on the topic | records/s | gateway CPU % (median) | µs CPU per record (median) | runs | smoke check |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const views of CASES) {
  const rs = results.filter((r) => r.views === views);
  const ok = rs.every((r) => r.problems.length === 0);
  console.log(
    `| ${views} | ${RATE} | ${median(rs.map((r) => r.cpuPct))} | ${median(rs.map((r) => r.cpuUsPerRecord))} | ${rs.length} | ${ok ? 'ok' : rs.flatMap((r) => r.problems).join('; ')} |`,
  );
}
