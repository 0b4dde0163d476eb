// One fan-out scenario: N WebSocket subscribers on one topic while records are POSTed at a steady rate.
//
//   1. fresh gateway; smoke check: a sentinel subscriber (kept open, so the topic's consumer exists for
//      the whole scenario) must get a posted record as a frame with the partition and offset the POST
//      answered and the value intact;
//   2. gateway RSS before, N sockets connected and subscribed by 1–2 swarm processes, RSS with N idle
//      sockets → rssPerConnKB;
//   3. records POSTed at `rate`/s for the duration (gateway CPU sampled), then the fast clients drain;
//   4. the slow clients (stopped reading after subscribing) read again to learn whether the server closed
//      them and with which code; every fast client's frames are checked against the acknowledged offsets.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startServer, stopServer, sampler, procTree } from '../processes.mjs';
import { postSteadily, stampedRecord } from './steady-poster.mjs';

const SWARM = fileURLToPath(new URL('./subscriber-swarm.mjs', import.meta.url));
const BUCKETS_PER_MS = 10; // as in subscriber-swarm.mjs
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Soft (or, with `hard`, hard) limit on open files of this process, which children inherit. */
export function openFileLimit(hard = false) {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const v = m?.[hard ? 2 : 1];
  return !v || v === 'unlimited' ? Infinity : Number(v);
}

const swarmProcesses = (n) => (n >= 1000 ? 2 : 1);

/**
 * A command that runs `cmd` with at least `need` open files: the gateway holds one descriptor per
 * subscriber. A soft limit below that (1024 is a common default) is raised up to the hard limit through
 * the shell's `ulimit -n`, which `exec`s the command so its pid stays the one sampled.
 */
function withOpenFiles(cmd, need) {
  if (openFileLimit() >= need) return cmd;
  const hard = openFileLimit(true);
  if (hard < need) throw new Error(`this scenario needs ${need} open files per process, but the hard limit is ${hard}: raise it (e.g. ulimit -Hn ${need} as root, or LimitNOFILE in systemd) and run again`);
  return ['/bin/sh', '-c', `ulimit -n ${need} && exec "$0" "$@"`, ...cmd];
}

async function rssKB(pid, samples = 5) {
  const values = [];
  for (let i = 0; i < samples; i++) {
    values.push(procTree(pid).rss * 1024);
    await sleep(200);
  }
  values.sort((a, b) => a - b);
  return values[Math.floor(samples / 2)];
}

/** A plain `ws` subscriber for the smoke check; stays open through the scenario. */
async function sentinel(url) {
  const ws = new WebSocket(url);
  const frames = [];
  let wake = () => {};
  ws.on('message', (d) => {
    frames.push(d.toString());
    wake();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`sentinel subscribe got HTTP ${res.statusCode}`)));
  });
  const next = async (n, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (frames.length < n) {
      if (Date.now() > deadline) throw new Error(`sentinel got ${frames.length} of ${n} frames: ${frames.slice(-2).join(' | ')}`);
      await new Promise((r) => { wake = r; setTimeout(r, 100); });
    }
    return frames[n - 1];
  };
  return { ws, next, frames };
}

async function smokeCheck(port, topic) {
  const url = `http://127.0.0.1:${port}/topics/${topic}`;
  // Creates the topic; the sentinel subscribes after, so this record is not for it.
  const first = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"smoke":"create"}' });
  if (first.status !== 200) throw new Error(`fanout smoke check: POST got ${first.status} ${await first.text()}`);
  const s = await sentinel(`ws://127.0.0.1:${port}/ws/topics/${topic}`);
  const hello = JSON.parse(await s.next(1));
  if (hello.event !== 'subscribed' || hello.topic !== topic) throw new Error(`fanout smoke check: first frame ${JSON.stringify(hello)}`);
  const body = stampedRecord(-1);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const answer = await res.json();
  if (res.status !== 200 || answer.count !== 1) throw new Error(`fanout smoke check: POST got ${res.status} ${JSON.stringify(answer)}`);
  const frame = JSON.parse(await s.next(2));
  const { partition, offsets } = answer.partitions[0];
  if (frame.topic !== topic || frame.partition !== partition || frame.offset !== offsets[0] || JSON.stringify(frame.value) !== JSON.stringify(JSON.parse(body))) {
    throw new Error(`fanout smoke check: frame ${JSON.stringify(frame)} does not match POST answer ${JSON.stringify(answer)} of ${body}`);
  }
  return s;
}

function startSwarm(sockets) {
  const [cmd, ...argv] = withOpenFiles([process.execPath, SWARM], sockets + 256);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue = [];
  const waiters = [];
  child.on('message', (m) => {
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
    else queue.push(m);
  });
  const exited = new Promise((r) => child.once('exit', r));
  const next = (type, timeoutMs) => {
    const i = queue.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { type, resolve: (m) => { clearTimeout(timer); resolve(m); } };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`subscriber swarm: no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.push(w);
      exited.then((code) => reject(new Error(`subscriber swarm exited (${code}) while waiting for "${type}"`)));
    });
  };
  const ask = (msg, type, timeoutMs = 60_000) => {
    child.send(msg);
    return next(type, timeoutMs);
  };
  const stop = async () => {
    if (child.exitCode === null && child.connected) child.send({ cmd: 'exit' });
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  return { child, ask, stop };
}

/** Union of two per-partition sets of sorted, disjoint [lo, hi] offset runs. */
function mergeAcknowledged(a, b) {
  const out = {};
  for (const p of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const runs = [...(a[p] ?? []), ...(b[p] ?? [])].sort((x, y) => x[0] - y[0]);
    const merged = [];
    for (const [lo, hi] of runs) {
      const last = merged[merged.length - 1];
      if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
      else merged.push([lo, hi]);
    }
    out[p] = merged;
  }
  return out;
}

/** p-th percentile (0–100) of the merged 0.1 ms histogram, in ms. */
function percentile(hist, total, p) {
  if (total === 0) return 0;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (const [bucket, count] of hist) {
    seen += count;
    if (seen >= rank) return (bucket + 1) / BUCKETS_PER_MS; // upper edge of the bucket
  }
  return hist.length ? (hist[hist.length - 1][0] + 1) / BUCKETS_PER_MS : 0;
}

/**
 * Runs one scenario. `f` = { subscribers, rate (records/s), slowPct, durationS }; `server` = the gateway's
 * process spec for startServer. Resolves with the scenario's fields for latest.json.
 */
export async function runFanoutScenario({ server: spec, fanout: f }, { bootstrap, topic, durationS, warmupS = 0, log = () => {} }) {
  const slowTotal = Math.round((f.subscribers * (f.slowPct ?? 1)) / 100);
  // Every subscriber's socket, plus Kafka connections, files and the poster's sockets.
  const server = startServer({ ...spec, cmd: withOpenFiles(spec.cmd, f.subscribers + 1000) }, bootstrap);
  const swarms = [];
  let sentinelSocket;
  try {
    const port = await server.port;
    const pid = server.child.pid;
    sentinelSocket = await smokeCheck(port, topic);
    await sleep(1000);
    const rssBefore = await rssKB(pid);

    // N sockets, subscribed, idle.
    const procs = swarmProcesses(f.subscribers);
    const connectStart = Date.now();
    const share = (i) => Math.floor(f.subscribers / procs) + (i < f.subscribers % procs ? 1 : 0);
    for (let i = 0; i < procs; i++) swarms.push(startSwarm(share(i)));
    const connected = await Promise.all(swarms.map((sw, i) => {
      const count = share(i);
      const slowCount = Math.floor(slowTotal / procs) + (i < slowTotal % procs ? 1 : 0);
      return sw.ask({ cmd: 'connect', host: '127.0.0.1', port, path: `/ws/topics/${topic}`, count, slowCount, concurrency: 128 }, 'connected', 60_000 + f.subscribers * 20);
    }));
    const connectSeconds = (Date.now() - connectStart) / 1000;
    const subscribed = connected.reduce((a, c) => a + c.subscribed, 0);
    const connectFailed = connected.reduce((a, c) => a + c.failed, 0);
    if (connectFailed) log(`${connectFailed} of ${f.subscribers} subscribers failed to connect: ${connected.flatMap((c) => c.errors).slice(0, 3).join(' | ')}`);
    await sleep(2000);
    const rssIdle = await rssKB(pid);
    const rssPerConnKB = subscribed > 0 ? (rssIdle - rssBefore) / subscribed : 0;

    // Drain: until every fast client has `expected` record frames, or nothing moves for 5 s.
    const drain = async (expected) => {
      let lastProgress = Date.now();
      let lastFrames = -1;
      for (;;) {
        const st = await Promise.all(swarms.map((sw) => sw.ask({ cmd: 'status', expected }, 'status')));
        const frames = st.reduce((a, s) => a + s.fastFrames, 0);
        if (st.every((s) => s.open === 0)) return;
        if (frames !== lastFrames) {
          lastFrames = frames;
          lastProgress = Date.now();
        } else if (Date.now() - lastProgress > 5000) return;
        await sleep(250);
      }
    };
    const post = (seconds) => postSteadily({ port, topic, rate: f.rate, durationS: seconds, recordBytes: f.recordBytes ?? 0 });

    // Warm-up at the same rate, unmeasured (a fresh gateway's JIT; a broker that has not served yet),
    // though its records are checked for loss like the others.
    let warm = { acked: 0, acknowledged: {} };
    if (warmupS > 0) {
      warm = await post(warmupS);
      await drain(warm.acked);
      await Promise.all(swarms.map((sw) => sw.ask({ cmd: 'resetStats' }, 'reset')));
    }

    // Steady load.
    const stopGateway = sampler(pid);
    const stopSwarms = swarms.map((sw) => sampler(sw.child.pid));
    const posted = await post(durationS);
    await drain(warm.acked + posted.acked);
    const gateway = stopGateway();
    const clients = stopSwarms.map((stop) => stop());

    // Slow clients read again: were they closed, and how?
    await Promise.all(swarms.map((sw) => sw.ask({ cmd: 'resumeSlow', quietMs: 2000 }, 'slowDone', 120_000)));
    const reports = await Promise.all(swarms.map((sw) => sw.ask({ cmd: 'report', acked: mergeAcknowledged(warm.acknowledged, posted.acknowledged) }, 'report', 120_000)));

    const merge = (k) => {
      const m = new Map();
      for (const r of reports) for (const [b, c] of r[k]) m.set(b, (m.get(b) ?? 0) + c);
      return [...m.entries()].sort((a, b) => a[0] - b[0]);
    };
    const hist = merge('hist');
    const samples = hist.reduce((a, [, c]) => a + c, 0);
    const kafkaHist = merge('kafkaHist');
    const sum = (k) => reports.reduce((a, r) => a + r[k], 0);
    const mergeCounts = (k) => {
      const out = {};
      for (const r of reports) for (const [code, n] of Object.entries(r[k])) out[code] = (out[code] ?? 0) + n;
      return out;
    };
    const fastFrames = sum('fastFrames');
    const fastClosed = mergeCounts('fastClosed');
    if (Object.keys(fastClosed).length || posted.acked < posted.sent) {
      // Say why: the gateway's own log (a signal from outside, an error) beats guessing from close codes.
      const notable = server.output().split('\n').filter((l) => /"level":(40|50|60)|signal|shutting|shutdown/.test(l)).slice(-5);
      log(`fast subscribers closed by the server ${JSON.stringify(fastClosed)}, ${posted.sent - posted.acked} POSTs failed ${JSON.stringify(posted.failures)}; gateway log: ${notable.join(' | ') || '(nothing notable)'}`);
    }
    const lastFrameAt = Math.max(...reports.map((r) => r.lastFrameAt));
    const deliverySeconds = Math.max(0.001, (lastFrameAt - posted.startedAt) / 1000);
    return {
      subscribers: f.subscribers,
      ingressThreads: Number(spec.env.SLUICE_INGRESS_THREADS ?? 0),
      subscribed,
      connectFailed,
      connectSeconds,
      fastClients: sum('fastClients'),
      slowClients: sum('slowClients'),
      recordsPerSec: f.rate, // offered
      durationS,
      warmupS,
      recordsPosted: posted.sent,
      recordsAcked: posted.acked,
      postFailures: posted.sent - posted.acked,
      postFailureKinds: posted.failures,
      framesExpected: posted.acked * sum('fastClients'),
      framesDelivered: fastFrames,
      frameBytes: fastFrames ? sum('fastBytes') / fastFrames : 0,
      framesPerSec: fastFrames / deliverySeconds,
      p50Ms: percentile(hist, samples, 50),
      p99Ms: percentile(hist, samples, 99),
      p999Ms: percentile(hist, samples, 99.9),
      maxMs: Math.max(...reports.map((r) => r.maxLatencyMs)),
      // From the record's Kafka timestamp (whole ms, stamped when the gateway produced it) to the frame.
      produceToFrameP50Ms: percentile(kafkaHist, samples, 50),
      produceToFrameP99Ms: percentile(kafkaHist, samples, 99),
      lost: sum('lost'),
      duplicated: sum('duplicated'),
      unexpected: sum('unexpected'),
      clientsWithLoss: sum('clientsWithLoss'),
      fastClosedByServer: fastClosed,
      slowDrops: sum('slowDropped'),
      slowCloseCodes: mergeCounts('slowCloseCodes'),
      slowCloseReasons: reports.flatMap((r) => r.slowCloseReasons).slice(0, 3),
      badFrames: sum('badFrames'),
      rssBeforeMB: rssBefore / 1024,
      rssIdleMB: rssIdle / 1024,
      rssPerConnKB,
      cpuPct: gateway.cpuPct,
      rssMB: gateway.rssMB,
      clientCpuPct: clients.reduce((a, c) => a + c.cpuPct, 0),
      swarmProcesses: procs,
    };
  } finally {
    for (const sw of swarms) await sw.stop();
    sentinelSocket?.ws.terminate();
    await stopServer(server);
  }
}
