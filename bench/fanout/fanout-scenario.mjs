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
//
// Peer rows (`fanout.peer`: 'sluice' or 'centrifugo') measure the fan-out server alone: the records are
// POSTed to a Sluice gateway of their own (ingest), and the subscribers connect to a second process — a
// Sluice gateway (per-record or `frames=batch` frames) or Centrifugo (bench/fanout/centrifugo-peer.mjs) —
// whose CPU is the row's. Every record carries the `centrifugo-channels` header, whichever server reads it.
//
// Keyed rows (`fanout.keyed`, issue #18): one dashboard per device. Subscriber i follows its own key,
// `/ws/topics/T?key=dev-i` (Centrifugo: channel `dev-i`), and record seq goes to device dev-(seq mod D),
// keyed so and with `centrifugo-channels: dev-(seq mod D)`: every record is one frame to one subscriber.
// Subscribers count by seq (each is owed exactly its device's records) and a frame of another device is
// misrouted. The sentinel follows a key of its own, so it receives nothing during the measured window.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startServer, stopServer, sampler, procTree, machineSampler, threadTimes, threadShares } from '../processes.mjs';
import { postSteadily, stampedRecord } from './steady-poster.mjs';
import { CENTRIFUGO_CHANNEL, CENTRIFUGO_HEADERS, startCentrifugo } from './centrifugo-peer.mjs';

const SWARM = fileURLToPath(new URL('./subscriber-swarm.mjs', import.meta.url));
const BUCKETS_PER_MS = 10; // as in subscriber-swarm.mjs
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Soft (or, with `hard`, hard) limit on open files of this process, which children inherit. */
/**
 * Waits until every swarm's clients have closed, or no frame has arrived for 15 s: each swarm is told the
 * number of records to expect and answers how many its fast clients got and how many are still open.
 */
export async function drainSwarms(swarms, expected) {
  let lastProgress = Date.now();
  let lastFrames = -1;
  for (;;) {
    const st = await Promise.all(swarms.map((sw) => sw.ask({ cmd: 'status', expected }, 'status')));
    const frames = st.reduce((a, s) => a + s.fastFrames, 0);
    if (st.every((s) => s.open === 0)) return;
    if (frames !== lastFrames) {
      lastFrames = frames;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > 15_000) return;
    await sleep(250);
  }
}

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
export function withOpenFiles(cmd, need) {
  if (openFileLimit() >= need) return cmd;
  const hard = openFileLimit(true);
  if (hard < need)
    throw new Error(
      `this scenario needs ${need} open files per process, but the hard limit is ${hard}: raise it (e.g. ulimit -Hn ${need} as root, or LimitNOFILE in systemd) and run again`,
    );
  return ['/bin/sh', '-c', `ulimit -n ${need} && exec "$0" "$@"`, ...cmd];
}

export async function rssKB(pid, samples = 5) {
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
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
    return frames[n - 1];
  };
  return { ws, next, frames };
}

/**
 * A record posted to the ingest gateway (`port`) must reach a sentinel subscribed on the fan-out server
 * (`fanout`: { port, kind: 'sluice' | 'centrifugo', frames }) with the partition and offset the POST answered
 * (Sluice) and the value intact. The topic is created first (Centrifugo's consumer starts on it after that).
 */
async function smokeCheck(port, topic, fanout, createTopic = true, sentinelKey = '') {
  const keyQuery = sentinelKey ? `?key=${sentinelKey}` : '';
  const url = `http://127.0.0.1:${port}/topics/${topic}${keyQuery}`;
  const headers = { 'content-type': 'application/json', ...CENTRIFUGO_HEADERS };
  // Creates the topic; the sentinel subscribes after, so this record is not for it.
  if (createTopic) {
    const first = await fetch(url, { method: 'POST', headers, body: '{"smoke":"create"}' });
    if (first.status !== 200) throw new Error(`fanout smoke check: POST got ${first.status} ${await first.text()}`);
  }
  const centrifugo = fanout.kind === 'centrifugo';
  const batch = fanout.frames === 'batch';
  const s = await sentinel(
    centrifugo
      ? `ws://127.0.0.1:${fanout.port}/connection/websocket`
      : `ws://127.0.0.1:${fanout.port}/ws/topics/${topic}${batch ? '?frames=batch' : ''}${keyQuery ? `${batch ? '&' : '?'}${keyQuery.slice(1)}` : ''}`,
  );
  if (centrifugo) {
    s.ws.send(`{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"${CENTRIFUGO_CHANNEL}"}}`);
    const deadline = Date.now() + 15_000;
    while (!s.frames.join('\n').includes('{"id":2,"subscribe":')) {
      if (Date.now() > deadline) throw new Error(`fanout smoke check: centrifugo did not answer the subscribe: ${s.frames.join(' | ')}`);
      await sleep(50);
    }
  } else {
    const hello = JSON.parse(await s.next(1));
    if (hello.event !== 'subscribed' || hello.topic !== topic) throw new Error(`fanout smoke check: first frame ${JSON.stringify(hello)}`);
  }
  const seen = s.frames.length;
  const body = stampedRecord(-1);
  const deadline = Date.now() + 30_000;
  for (;;) {
    // Centrifugo's consumer joins its group a moment after it starts: post again until one arrives.
    const res = await fetch(url, { method: 'POST', headers, body });
    const answer = await res.json();
    if (res.status !== 200 || answer.count !== 1) throw new Error(`fanout smoke check: POST got ${res.status} ${JSON.stringify(answer)}`);
    if (centrifugo) {
      const pushes = () =>
        s.frames
          .slice(seen)
          .join('\n')
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l))
          .filter((r) => r.push);
      const mine = () =>
        pushes().find(
          (r) => r.push.channel === CENTRIFUGO_CHANNEL && JSON.stringify(r.push.pub?.data) === JSON.stringify(JSON.parse(body)),
        );
      const waitUntil = Date.now() + 2000;
      while (!mine() && Date.now() < waitUntil) await sleep(20);
      if (mine()) break;
      if (Date.now() > deadline)
        throw new Error(
          `fanout smoke check: no centrifugo push carried ${body} within 30 s: ${s.frames.slice(seen, seen + 3).join(' | ')}`,
        );
      continue;
    }
    const text = await s.next(seen + 1);
    const parsed = JSON.parse(text);
    const frame = batch ? { ...parsed.records?.[0], topic: parsed.topic } : parsed;
    const { partition, offsets } = answer.partitions[0];
    if (
      (batch && parsed.event !== 'batch') ||
      frame.topic !== topic ||
      frame.partition !== partition ||
      frame.offset !== offsets[0] ||
      JSON.stringify(frame.value) !== JSON.stringify(JSON.parse(body))
    ) {
      throw new Error(`fanout smoke check: frame ${text} does not match POST answer ${JSON.stringify(answer)} of ${body}`);
    }
    break;
  }
  return s;
}

export function startSwarm(sockets) {
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
      const w = {
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
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
export function mergeAcknowledged(a, b) {
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
export function percentile(hist, total, p) {
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
export async function runFanoutScenario(
  { server: spec, fanout: f },
  { bootstrap, topic, durationS, warmupS = 0, log = () => {}, centrifugoBin, brokerPid },
) {
  const slowTotal = Math.round((f.subscribers * (f.slowPct ?? 1)) / 100);
  const peer = f.peer; // undefined: one gateway takes the POSTs and serves the subscribers
  // Every subscriber's socket, plus Kafka connections, files and the poster's sockets.
  const server = startServer({ ...spec, cmd: withOpenFiles(spec.cmd, f.subscribers + 1000) }, bootstrap);
  let fanoutServer; // peer rows: the measured process (a second Sluice, or Centrifugo)
  const swarms = [];
  let sentinelSocket;
  try {
    const port = await server.port;
    let fanoutPort = port;
    let pid = server.child.pid;
    if (peer === 'centrifugo') {
      // The topic first: Centrifugo's consumer is configured with it.
      const created = await fetch(`http://127.0.0.1:${port}/topics/${topic}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"smoke":"create"}',
      });
      if (created.status !== 200) throw new Error(`fanout: creating ${topic} got ${created.status}`);
      fanoutServer = await startCentrifugo({
        bin: centrifugoBin,
        bootstrap,
        topic,
        cmdWrap: (cmd) => withOpenFiles(cmd, f.subscribers + 1000),
      });
      fanoutPort = fanoutServer.port;
      pid = fanoutServer.child.pid;
    } else if (peer === 'sluice') {
      const s = startServer(
        { ...spec, env: { ...spec.env, ...(f.fanoutEnv ?? {}) }, cmd: withOpenFiles(spec.cmd, f.subscribers + 1000) },
        bootstrap,
      );
      fanoutServer = { ...s, stop: () => stopServer(s) };
      fanoutPort = await s.port;
      pid = s.child.pid;
    }
    const fanoutKind = { port: fanoutPort, kind: peer === 'centrifugo' ? 'centrifugo' : 'sluice', frames: f.frames ?? 'record' };
    sentinelSocket = await smokeCheck(port, topic, fanoutKind, peer !== 'centrifugo', f.keyed && peer !== 'centrifugo' ? 'sentinel' : '');
    await sleep(1000);
    const rssBefore = await rssKB(pid);

    // N sockets, subscribed, idle.
    const procs = swarmProcesses(f.subscribers);
    const connectStart = Date.now();
    const share = (i) => Math.floor(f.subscribers / procs) + (i < f.subscribers % procs ? 1 : 0);
    for (let i = 0; i < procs; i++) swarms.push(startSwarm(share(i)));
    const connected = await Promise.all(
      swarms.map((sw, i) => {
        const count = share(i);
        const firstIndex = Array.from({ length: i }, (_, j) => share(j)).reduce((a, n) => a + n, 0);
        const slowCount = Math.floor(slowTotal / procs) + (i < slowTotal % procs ? 1 : 0);
        const path = peer === 'centrifugo' ? fanoutServer.path : `/ws/topics/${topic}${f.frames === 'batch' ? '?frames=batch' : ''}`;
        const devices = f.keyed ? Array.from({ length: count }, (_, k) => `dev-${firstIndex + k}`) : undefined;
        return sw.ask(
          {
            cmd: 'connect',
            host: '127.0.0.1',
            port: fanoutPort,
            path,
            protocol: peer === 'centrifugo' ? 'centrifugo' : 'sluice',
            channel: CENTRIFUGO_CHANNEL,
            count,
            slowCount,
            concurrency: 128,
            ...(devices
              ? {
                  bySeq: true,
                  seqMod: f.subscribers,
                  firstIndex,
                  paths: peer === 'centrifugo' ? undefined : devices.map((d) => `${path}${path.includes('?') ? '&' : '?'}key=${d}`),
                  channels: devices,
                }
              : {}),
          },
          'connected',
          60_000 + f.subscribers * 20,
        );
      }),
    );
    const connectSeconds = (Date.now() - connectStart) / 1000;
    const subscribed = connected.reduce((a, c) => a + c.subscribed, 0);
    const connectFailed = connected.reduce((a, c) => a + c.failed, 0);
    if (connectFailed)
      log(
        `${connectFailed} of ${f.subscribers} subscribers failed to connect: ${connected
          .flatMap((c) => c.errors)
          .slice(0, 3)
          .join(' | ')}`,
      );
    await sleep(2000);
    const rssIdle = await rssKB(pid);
    const rssPerConnKB = subscribed > 0 ? (rssIdle - rssBefore) / subscribed : 0;

    // Drain: until every fast client has `expected` record frames, or nothing moves for 15 s (on a machine
    // loaded by others, a starved subscriber process can make no progress for several seconds: 5 s once cut
    // a run 20 s behind short and counted its last records as lost).
    const drain = (expected) => drainSwarms(swarms, expected);
    const post = (seconds, firstSeq = 0) =>
      postSteadily({
        port,
        topic,
        rate: f.rate,
        durationS: seconds,
        recordBytes: f.recordBytes ?? 0,
        headers: peer ? CENTRIFUGO_HEADERS : {},
        firstSeq,
        route: f.keyed
          ? (seq) => {
              const device = `dev-${seq % f.subscribers}`;
              return { key: device, headers: { 'x-kafka-header-centrifugo-channels': device } };
            }
          : undefined,
      });

    // Warm-up at the same rate, unmeasured (a fresh gateway's JIT; a broker that has not served yet),
    // though its records are checked for loss like the others.
    let warm = { acked: 0, sent: 0, acknowledged: {}, acknowledgedSeqs: [] };
    if (warmupS > 0) {
      warm = await post(warmupS);
      await drain(warm.acked);
      await Promise.all(swarms.map((sw) => sw.ask({ cmd: 'resetStats' }, 'reset')));
    }

    // Steady load.
    const stopGateway = sampler(pid);
    const serverThreadsBefore = threadTimes(pid);
    const stopSwarms = swarms.map((sw) => sampler(sw.child.pid));
    const stopIngest = peer ? sampler(server.child.pid) : null;
    // Where the rest of the machine goes: the broker and this process (the poster).
    const stopBroker = brokerPid ? sampler(brokerPid) : null;
    const stopMachine = machineSampler();
    const posterStart = process.cpuUsage(); // this process alone (a sampler would add its children: every server and swarm)
    const posterAt = Date.now();
    const posted = await post(durationS, warm.sent);
    await drain(warm.acked + posted.acked);
    const gateway = stopGateway();
    // The server's CPU by thread: main (event loop: consumer hand-over, routing, framing, socket writes),
    // librdkafka's (fetching), the rest (libuv's pool where the consumer polls, V8). Centrifugo: all "other".
    let serverThreadsPct;
    try {
      const sh = threadShares(pid, serverThreadsBefore, threadTimes(pid), gateway.cpuSeconds);
      const pct = (x) => (x / gateway.seconds) * 100;
      serverThreadsPct = { main: pct(sh.main), rdkafka: pct(sh.rdkafka), other: pct(sh.other) };
    } catch {
      /* process gone: no split */
    }
    const ingest = stopIngest?.();
    const brokerUse = stopBroker?.();
    const machine = stopMachine();
    const posterCpu = process.cpuUsage(posterStart);
    const posterUse = { cpuPct: ((posterCpu.user + posterCpu.system) / 1e6 / ((Date.now() - posterAt) / 1000)) * 100 };
    const clients = stopSwarms.map((stop) => stop());

    // Slow clients read again: were they closed, and how?
    await Promise.all(swarms.map((sw) => sw.ask({ cmd: 'resumeSlow', quietMs: 2000 }, 'slowDone', 120_000)));
    const ackedSeqs = mergeAcknowledged({ 0: warm.acknowledgedSeqs }, { 0: posted.acknowledgedSeqs })[0];
    const reports = await Promise.all(
      swarms.map((sw) =>
        sw.ask({ cmd: 'report', acked: mergeAcknowledged(warm.acknowledged, posted.acknowledged), ackedSeqs }, 'report', 120_000),
      ),
    );

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
      const notable = server
        .output()
        .split('\n')
        .filter((l) => /"level":(40|50|60)|signal|shutting|shutdown/.test(l))
        .slice(-5);
      log(
        `fast subscribers closed by the server ${JSON.stringify(fastClosed)}, ${posted.sent - posted.acked} POSTs failed ${JSON.stringify(posted.failures)}; gateway log: ${notable.join(' | ') || '(nothing notable)'}`,
      );
    }
    const lastFrameAt = Math.max(...reports.map((r) => r.lastFrameAt));
    const deliverySeconds = Math.max(0.001, (lastFrameAt - posted.startedAt) / 1000);
    const wsMessages = sum('fastMessages');
    return {
      ...(peer ? { peerGroup: f.peerGroup, server: peer, frames: peer === 'centrifugo' ? 'centrifugo' : (f.frames ?? 'record') } : {}),
      ...(f.keyed ? { scaling: 'keyed', keyedGroup: f.keyedGroup, misrouted: sum('misrouted') } : {}),
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
      framesExpected: f.keyed ? posted.acked : posted.acked * sum('fastClients'), // keyed: each record is owed to one subscriber
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
      cpuSeconds: gateway.cpuSeconds,
      // Run-queue delay: % of the window the process's threads were runnable but waited for a core.
      waitPct: gateway.waitPct,
      clientWaitPct: clients.reduce((a, c) => a + c.waitPct, 0),
      // Server CPU seconds per million records delivered to fast subscribers (the measured window).
      cpuSecondsPerMillion: fastFrames ? gateway.cpuSeconds / (fastFrames / 1e6) : 0,
      wsMessages,
      recordsPerMessage: wsMessages ? fastFrames / wsMessages : 0,
      ...(ingest ? { ingestCpuPct: ingest.cpuPct } : {}),
      ...(brokerUse ? { brokerCpuPct: brokerUse.cpuPct } : {}),
      posterCpuPct: posterUse.cpuPct,
      ...(serverThreadsPct ? { serverThreadsPct } : {}),
      // The whole machine over the same window (% of one core): what the row's processes leave is others'.
      machineBusyPct: machine.busyPct,
      rssMB: gateway.rssMB,
      clientCpuPct: clients.reduce((a, c) => a + c.cpuPct, 0),
      swarmProcesses: procs,
    };
  } finally {
    for (const sw of swarms) await sw.stop();
    sentinelSocket?.ws.terminate();
    if (fanoutServer) await fanoutServer.stop();
    await stopServer(server);
  }
}
