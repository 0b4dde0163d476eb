// Fan-out that scales with what dashboards follow (issue #18): the many-topics row and the reconnect-storm
// row. Both measure a fan-out gateway of its own while another Sluice gateway takes the POSTs (as the peer
// rows do), and count every subscriber's records by seq (bench/fanout/subscriber-swarm.mjs, seq mode).
//
//   fanout-topics-N: N topics (3 partitions each, as the embedded broker auto-creates them), one subscriber
//     on each; the fan-out gateway's threads, open files and RSS before any subscriber and with all of them
//     subscribed, its CPU while they sit idle (nothing posted yet), then 1 record/s per topic (record seq to
//     topic seq mod N): latency, lost, duplicated, misrouted, CPU per million frames.
//   fanout-resume-storm: N dashboards follow one topic while records are POSTed at a steady rate; all
//     drop at once (sockets destroyed), records keep coming, and all come back at once with
//     from=<their last token>: accepted on the first try or refused (by HTTP status), how long until all
//     are subscribed and until all receive a record posted after the storm began, lost, duplicated, and
//     from `/metrics` where the resumes were served from (memory or Kafka) and whether any Kafka consumer
//     or replay slot was taken for them.
import { readdirSync, readFileSync } from 'node:fs';
import Kafka from '@confluentinc/kafka-javascript';
import { startServer, stopServer, sampler, machineSampler, threadTimes, threadShares } from '../processes.mjs';
import { postSteadily } from './steady-poster.mjs';
import { drainSwarms, mergeAcknowledged, percentile, rssKB, startSwarm, withOpenFiles } from './fanout-scenario.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Threads and open files of a process, from /proc. */
function threadsAndFiles(pid) {
  try {
    const threads = Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
    return { threads, files: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return { threads: NaN, files: NaN };
  }
}

/** Every sample of a Prometheus text exposition whose name is `name`, as { labels text → value }. */
async function metric(port, name) {
  const out = {};
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))) out[m[1] ?? ''] = Number(m[2]);
  } catch {
    /* reported as missing */
  }
  return out;
}
const labelled = (samples, label) => Object.entries(samples).find(([k]) => k.includes(label))?.[1] ?? 0;

/** Creates `names` (3 partitions each), `concurrency` at a time; a topic that exists already is fine. */
async function createTopics(bootstrap, names, concurrency = 32) {
  const admin = Kafka.AdminClient.create({ 'bootstrap.servers': bootstrap });
  try {
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const topic = names[next++];
        await new Promise((resolve, reject) =>
          admin.createTopic({ topic, num_partitions: 3, replication_factor: 1 }, 30_000, (err) =>
            err && !/already exists/i.test(err.message) ? reject(err) : resolve(),
          ),
        );
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    admin.disconnect();
  }
}

/** Ingest gateway + fan-out gateway (its own process: its CPU is the row's), both with room for `sockets`. */
async function startPair(spec, f, bootstrap, sockets) {
  const ingest = startServer({ ...spec, cmd: withOpenFiles(spec.cmd, 1000) }, bootstrap);
  const fanout = startServer(
    { ...spec, env: { ...spec.env, ...(f.fanoutEnv ?? {}) }, cmd: withOpenFiles(spec.cmd, sockets + 1000) },
    bootstrap,
  );
  return { ingest, fanout, ingestPort: await ingest.port, fanoutPort: await fanout.port };
}

function swarmsFor(n) {
  const procs = n >= 1000 ? 2 : 1;
  const share = (i) => Math.floor(n / procs) + (i < n % procs ? 1 : 0);
  const first = (i) => Array.from({ length: i }, (_, j) => share(j)).reduce((a, x) => a + x, 0);
  return Array.from({ length: procs }, (_, i) => ({ sw: startSwarm(share(i)), count: share(i), firstIndex: first(i) }));
}

/** Until every client has all it is owed of `expected` records, or nothing moves for 15 s (the rows keep `{ sw }` per swarm). */
function drain(swarms, expected) {
  return drainSwarms(
    swarms.map(({ sw }) => sw),
    expected,
  );
}

/** Lost, duplicated, misrouted and latency over every swarm, against the acknowledged seqs. */
async function reportOf(swarms, ...posts) {
  const ackedSeqs = posts.reduce((acc, p) => mergeAcknowledged({ 0: acc }, { 0: p.acknowledgedSeqs })[0], []);
  const reports = await Promise.all(swarms.map(({ sw }) => sw.ask({ cmd: 'report', acked: {}, ackedSeqs }, 'report', 120_000)));
  const hist = new Map();
  const kafkaHist = new Map();
  for (const r of reports) {
    for (const [b, c] of r.hist) hist.set(b, (hist.get(b) ?? 0) + c);
    for (const [b, c] of r.kafkaHist) kafkaHist.set(b, (kafkaHist.get(b) ?? 0) + c);
  }
  const sorted = (m) => [...m.entries()].sort((a, b) => a[0] - b[0]);
  const h = sorted(hist);
  const kh = sorted(kafkaHist);
  const samples = h.reduce((a, [, c]) => a + c, 0);
  const kSamples = kh.reduce((a, [, c]) => a + c, 0);
  const sum = (k) => reports.reduce((a, r) => a + r[k], 0);
  return {
    framesDelivered: sum('fastFrames'),
    wsMessages: sum('fastMessages'),
    lost: sum('lost'),
    duplicated: sum('duplicated'),
    unexpected: sum('unexpected'),
    misrouted: sum('misrouted'),
    clientsWithLoss: sum('clientsWithLoss'),
    badFrames: sum('badFrames'),
    p50Ms: percentile(h, samples, 50),
    p99Ms: percentile(h, samples, 99),
    p999Ms: percentile(h, samples, 99.9),
    maxMs: Math.max(...reports.map((r) => r.maxLatencyMs)),
    produceToFrameP50Ms: percentile(kh, kSamples, 50),
    produceToFrameP99Ms: percentile(kh, kSamples, 99),
    lastFrameAt: Math.max(...reports.map((r) => r.lastFrameAt)),
  };
}

/** `f` = { topics, idleS, fanoutEnv }: N topics × 1 subscriber, 1 record/s each. */
export async function runTopicsScenario(
  { server: spec, fanout: f },
  { bootstrap, topic, durationS, warmupS = 0, log = () => {}, brokerPid },
) {
  const n = f.topics;
  const names = Array.from({ length: n }, (_, i) => `${topic}-${i}`);
  const createdAt = Date.now();
  await createTopics(bootstrap, names);
  const createSeconds = (Date.now() - createdAt) / 1000;
  const { ingest, fanout, ingestPort, fanoutPort } = await startPair(spec, f, bootstrap, n);
  const pid = fanout.child.pid;
  let swarms = [];
  try {
    // Baseline: a fresh fan-out gateway, nothing followed.
    await sleep(2000);
    const base = threadsAndFiles(pid);
    const rssBefore = await rssKB(pid);

    swarms = swarmsFor(n);
    const connectStart = Date.now();
    const connected = await Promise.all(
      swarms.map(({ sw, count, firstIndex }) =>
        sw.ask(
          {
            cmd: 'connect',
            host: '127.0.0.1',
            port: fanoutPort,
            path: `/ws/topics/${topic}`,
            paths: Array.from({ length: count }, (_, k) => `/ws/topics/${names[firstIndex + k]}`),
            protocol: 'sluice',
            count,
            slowCount: 0,
            concurrency: 64,
            bySeq: true,
            seqMod: n,
            firstIndex,
          },
          'connected',
          120_000 + n * 50,
        ),
      ),
    );
    const connectSeconds = (Date.now() - connectStart) / 1000;
    const subscribed = connected.reduce((a, c) => a + c.subscribed, 0);
    const connectFailed = connected.reduce((a, c) => a + c.failed, 0);
    const refusedStatuses = {};
    for (const c of connected) for (const [k, v] of Object.entries(c.statuses ?? {})) refusedStatuses[k] = (refusedStatuses[k] ?? 0) + v;
    if (connectFailed)
      log(
        `${connectFailed} of ${n} subscribers failed to connect: ${connected
          .flatMap((c) => c.errors)
          .slice(0, 3)
          .join(' | ')}`,
      );

    // Idle: every topic followed, nothing posted.
    await sleep(3000);
    const idleS = f.idleS ?? 10;
    const stopIdle = sampler(pid);
    const idleThreadsBefore = threadTimes(pid);
    await sleep(idleS * 1000);
    const idle = stopIdle();
    // Where idle CPU goes: the main thread (event loop, timers), librdkafka's threads (rdk:*), the rest
    // (libuv's pool, where the consumer's long poll waits; V8).
    const idleShares = threadShares(pid, idleThreadsBefore, threadTimes(pid), idle.cpuSeconds);
    const subscribedState = threadsAndFiles(pid);
    const rssIdle = await rssKB(pid);
    const consumers = await metric(fanoutPort, 'sluice_kafka_consumers');

    const post = (seconds, firstSeq = 0) =>
      postSteadily({
        port: ingestPort,
        topic,
        rate: n, // 1 record/s per topic
        durationS: seconds,
        firstSeq,
        route: (seq) => ({ topic: names[seq % n] }),
      });
    let warm = { sent: 0, acked: 0, acknowledgedSeqs: [] };
    if (warmupS > 0) {
      warm = await post(warmupS);
      await drain(swarms, warm.acked);
      await Promise.all(swarms.map(({ sw }) => sw.ask({ cmd: 'resetStats' }, 'reset')));
    }
    const stopGateway = sampler(pid);
    const loadThreadsBefore = threadTimes(pid);
    const stopIngest = sampler(ingest.child.pid);
    const stopBroker = brokerPid ? sampler(brokerPid) : null;
    const stopMachine = machineSampler();
    const posterStartCpu = process.cpuUsage();
    const stopSwarms = swarms.map(({ sw }) => sampler(sw.child.pid));
    const posted = await post(durationS, warm.sent);
    await drain(swarms, warm.acked + posted.acked);
    const gateway = stopGateway();
    const ingestUse = stopIngest();
    const brokerUse = stopBroker?.();
    const machine = stopMachine();
    const posterSelf = process.cpuUsage(posterStartCpu);
    const clients = stopSwarms.map((s) => s());
    const loaded = threadsAndFiles(pid);
    const loadShares = threadShares(pid, loadThreadsBefore, threadTimes(pid), gateway.cpuSeconds);
    const r = await reportOf(swarms, warm, posted);
    return {
      scaling: 'topics',
      topics: n,
      subscribers: n,
      subscribed,
      connectFailed,
      refusedStatuses,
      connectSeconds,
      createTopicsSeconds: createSeconds,
      recordsPerSec: n,
      durationS,
      warmupS,
      idleS,
      recordsPosted: posted.sent,
      recordsAcked: posted.acked,
      postFailures: posted.sent - posted.acked,
      ...r,
      // Owed to the subscribers that were accepted (one topic each): what they got once, and what they missed.
      framesExpected: r.framesDelivered - r.duplicated + r.lost,
      framesPerSec: r.framesDelivered / Math.max(0.001, (r.lastFrameAt - posted.startedAt) / 1000),
      threadsBefore: base.threads,
      threadsSubscribed: subscribedState.threads,
      threadsLoaded: loaded.threads,
      filesBefore: base.files,
      filesSubscribed: subscribedState.files,
      filesLoaded: loaded.files,
      rssBeforeMB: rssBefore / 1024,
      rssIdleMB: rssIdle / 1024,
      rssMB: gateway.rssMB,
      idleCpuPct: idle.cpuPct,
      idleCpuSplitPct: {
        main: (idleShares.main / idle.seconds) * 100,
        rdkafka: (idleShares.rdkafka / idle.seconds) * 100,
        other: (idleShares.other / idle.seconds) * 100,
      },
      liveConsumers: labelled(consumers, 'role="live"'),
      cpuPct: gateway.cpuPct,
      cpuSeconds: gateway.cpuSeconds,
      waitPct: gateway.waitPct,
      serverThreadsPct: {
        main: (loadShares.main / gateway.seconds) * 100,
        rdkafka: (loadShares.rdkafka / gateway.seconds) * 100,
        other: (loadShares.other / gateway.seconds) * 100,
      },
      ...usedAround(gateway, r.framesDelivered, { ingestUse, brokerUse, posterSelf, machine, clients }),
    };
  } finally {
    for (const { sw } of swarms) await sw.stop();
    await stopServer(fanout);
    await stopServer(ingest);
  }
}

/**
 * `f` = { dashboards, rate, beforeS, awayS, afterS }: the reconnect storm. The poster runs through the
 * whole sequence (records arrive while the dashboards are away and while they come back).
 */
export async function runResumeStormScenario({ server: spec, fanout: f }, { bootstrap, topic, log = () => {}, brokerPid }) {
  const n = f.dashboards;
  const { ingest, fanout, ingestPort, fanoutPort } = await startPair(spec, f, bootstrap, n);
  const pid = fanout.child.pid;
  let swarms = [];
  try {
    const created = await fetch(`http://127.0.0.1:${ingestPort}/topics/${topic}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"seq":-1,"smoke":"create"}',
    });
    if (created.status !== 200) throw new Error(`resume storm: creating ${topic} got ${created.status} ${await created.text()}`);
    // The dashboards subscribe before the first record: every record is owed to every one of them.
    swarms = swarmsFor(n);
    const connected = await Promise.all(
      swarms.map(({ sw, count }) =>
        sw.ask(
          {
            cmd: 'connect',
            host: '127.0.0.1',
            port: fanoutPort,
            path: `/ws/topics/${topic}`,
            protocol: 'sluice',
            count,
            slowCount: 0,
            concurrency: 128,
            bySeq: true,
            keepToken: true,
          },
          'connected',
          60_000 + n * 20,
        ),
      ),
    );
    const subscribed = connected.reduce((a, c) => a + c.subscribed, 0);
    const connectFailed = connected.reduce((a, c) => a + c.failed, 0);
    if (connectFailed) log(`${connectFailed} of ${n} dashboards failed to connect before the storm`);
    await sleep(1000);
    const before = {
      resumes: await metric(fanoutPort, 'sluice_resumes_total'),
      consumers: await metric(fanoutPort, 'sluice_kafka_consumers'),
      ...threadsAndFiles(pid),
    };

    const beforeS = f.beforeS ?? 4;
    const awayS = f.awayS ?? 1;
    const afterS = f.afterS ?? 8;
    const progress = { sent: 0 };
    const stopGateway = sampler(pid);
    const stopIngest = sampler(ingest.child.pid);
    const stopBroker = brokerPid ? sampler(brokerPid) : null;
    const stopMachine = machineSampler();
    const posterStartCpu = process.cpuUsage();
    const stopSwarms = swarms.map(({ sw }) => sampler(sw.child.pid));
    const posting = postSteadily({
      port: ingestPort,
      topic,
      rate: f.rate,
      durationS: beforeS + awayS + afterS,
      progress,
    });
    // Replay consumers and slots, sampled through the storm (a gauge read once could miss a short replay).
    let maxReplayConsumers = 0;
    let maxReplaySlots = 0;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const c = await metric(fanoutPort, 'sluice_kafka_consumers');
        const slots = await metric(fanoutPort, 'sluice_replays_in_progress');
        maxReplayConsumers = Math.max(maxReplayConsumers, labelled(c, 'role="replay"'));
        maxReplaySlots = Math.max(maxReplaySlots, slots[''] ?? 0);
        await sleep(100);
      }
    })();
    await sleep(beforeS * 1000);
    const dropped = await Promise.all(swarms.map(({ sw }) => sw.ask({ cmd: 'drop' }, 'dropped')));
    const withToken = dropped.reduce((a, d) => a + d.withToken, 0);
    await sleep(awayS * 1000);
    const liveFromSeq = progress.sent;
    const resumed = await Promise.all(swarms.map(({ sw }) => sw.ask({ cmd: 'resume', liveFromSeq, concurrency: n }, 'connected', 120_000)));
    const accepted = resumed.reduce((a, c) => a + c.subscribed, 0);
    const refused = resumed.reduce((a, c) => a + c.failed, 0);
    const refusedStatuses = {};
    for (const c of resumed) for (const [k, v] of Object.entries(c.statuses ?? {})) refusedStatuses[k] = (refusedStatuses[k] ?? 0) + v;
    if (refused)
      log(
        `${refused} of ${n} resumes refused: ${resumed
          .flatMap((c) => c.errors)
          .slice(0, 3)
          .join(' | ')}`,
      );
    const resumeStartedAt = Math.min(...resumed.map((c) => c.resumeStartedAt));
    const allSubscribedMs = Math.max(...resumed.map((c) => c.lastSubscribedAt)) - resumeStartedAt;
    // Live again: every accepted dashboard has a record posted after the storm began.
    let allLiveMs = NaN;
    let live = 0;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      const st = await Promise.all(swarms.map(({ sw }) => sw.ask({ cmd: 'status', expected: 0 }, 'status')));
      live = st.reduce((a, s) => a + s.live, 0);
      if (live >= accepted) {
        allLiveMs = Math.max(...st.map((s) => s.lastLiveAt)) - resumeStartedAt;
        break;
      }
      await sleep(50);
    }
    const posted = await posting;
    await drain(swarms, posted.acked);
    watching = false;
    await watch;
    const gateway = stopGateway();
    const ingestUse = stopIngest();
    const brokerUse = stopBroker?.();
    const machine = stopMachine();
    const posterSelf = process.cpuUsage(posterStartCpu);
    const clients = stopSwarms.map((s) => s());
    const after = {
      resumes: await metric(fanoutPort, 'sluice_resumes_total'),
      consumers: await metric(fanoutPort, 'sluice_kafka_consumers'),
      ...threadsAndFiles(pid),
    };
    const r = await reportOf(swarms, posted);
    const delta = (label) => labelled(after.resumes, label) - labelled(before.resumes, label);
    return {
      scaling: 'storm',
      dashboards: n,
      subscribers: n,
      subscribed,
      connectFailed,
      recordsPerSec: f.rate,
      durationS: beforeS + awayS + afterS,
      awayS,
      withToken,
      accepted,
      refused,
      refusedStatuses,
      allSubscribedMs,
      allLiveMs,
      live,
      resumesFromMemory: delta('source="memory"'),
      resumesFromKafka: delta('source="kafka"'),
      maxReplayConsumers,
      maxReplaySlots,
      liveConsumersBefore: labelled(before.consumers, 'role="live"'),
      liveConsumersAfter: labelled(after.consumers, 'role="live"'),
      threadsBefore: before.threads,
      threadsAfter: after.threads,
      recordsPosted: posted.sent,
      recordsAcked: posted.acked,
      postFailures: posted.sent - posted.acked,
      framesExpected: posted.acked * n,
      ...r,
      cpuPct: gateway.cpuPct,
      cpuSeconds: gateway.cpuSeconds,
      waitPct: gateway.waitPct,
      rssMB: gateway.rssMB,
      ...usedAround(gateway, r.framesDelivered, { ingestUse, brokerUse, posterSelf, machine, clients }),
    };
  } finally {
    for (const { sw } of swarms) await sw.stop();
    await stopServer(fanout);
    await stopServer(ingest);
  }
}

/**
 * The CPU a row's measured window cost beyond the fan-out server itself, the same fields for the topics and
 * the storm rows: CPU seconds per million frames delivered, the ingest server, the broker (when this bench
 * started it), the poster (this process), the whole machine and the subscriber clients.
 */
function usedAround(gateway, framesDelivered, { ingestUse, brokerUse, posterSelf, machine, clients }) {
  return {
    cpuSecondsPerMillion: framesDelivered ? gateway.cpuSeconds / (framesDelivered / 1e6) : 0,
    ingestCpuPct: ingestUse.cpuPct,
    ...(brokerUse ? { brokerCpuPct: brokerUse.cpuPct } : {}),
    posterCpuPct: ((posterSelf.user + posterSelf.system) / 1e6 / gateway.seconds) * 100,
    machineBusyPct: machine.busyPct,
    clientCpuPct: clients.reduce((a, c) => a + c.cpuPct, 0),
    clientWaitPct: clients.reduce((a, c) => a + c.waitPct, 0),
  };
}
