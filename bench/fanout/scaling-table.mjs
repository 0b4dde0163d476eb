// The tables of issue #18 (fan-out that scales with what dashboards follow): one dashboard per device
// beside Centrifugo, many topics, a reconnect storm; and the goals as ratios of one run.
const fmt = (n, d = 0) =>
  typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–';
const CAP_MS = 30_000; // the swarm's latency histogram ends at 30 s
const fmtMs = (v) => (v >= CAP_MS ? '≥ 30,000' : fmt(v, 1));
const bad = (n) => (n > 0 ? `**${fmt(n)}**` : fmt(n));
const verdict = (ok) => (ok ? 'met' : '**not met**');
const statuses = (m) =>
  Object.entries(m ?? {})
    .map(([code, n]) => `${fmt(n)}× ${code}`)
    .join(', ');

/** One line for the bench's progress output. */
export function scalingSummary(r) {
  const common = `lost ${r.lost}, duplicated ${r.duplicated}, misrouted ${r.misrouted}, p50/p99 ${fmt(r.p50Ms, 1)}/${fmt(r.p99Ms, 1)} ms, server CPU ${fmt(r.cpuSecondsPerMillion, 2)} s per 1M frames`;
  if (r.scaling === 'topics')
    return `${fmt(r.subscribed)} of ${fmt(r.topics)} topics subscribed, threads ${r.threadsBefore} → ${r.threadsSubscribed} → ${r.threadsLoaded}, files ${r.filesBefore} → ${r.filesSubscribed}, RSS ${fmt(r.rssBeforeMB)} → ${fmt(r.rssIdleMB)} MB, idle CPU ${fmt(r.idleCpuPct, 1)} %, ${common}`;
  if (r.scaling === 'storm')
    return `${fmt(r.accepted)} of ${fmt(r.dashboards)} resumes accepted (${fmt(r.refused)} refused ${statuses(r.refusedStatuses)}), all subscribed in ${fmt(r.allSubscribedMs)} ms, all live in ${fmt(r.allLiveMs)} ms, from memory/Kafka ${r.resumesFromMemory}/${r.resumesFromKafka}, replay consumers ${r.maxReplayConsumers}, ${common}`;
  return `${fmt(r.subscribed)} subscribed, ${fmt(r.framesDelivered)} of ${fmt(r.framesExpected)} frames, ${common}`;
}

/** CPU of the row's processes, then the rest of the machine (other projects' work on a shared box), % of one core. */
const cpuSplit = (s, parts) => {
  const own = parts.reduce((a, x) => a + (Number.isFinite(x) ? x : 0), 0);
  const others = Number.isFinite(s.machineBusyPct) ? Math.max(0, s.machineBusyPct - own) : undefined;
  return [...parts, others].map((x) => fmt(x)).join(' / ');
};

const serverLabel = (s) => `${s.server === 'centrifugo' ? 'Centrifugo v6.9.1' : 'Sluice'}${s.baseline ? ` (baseline, ${s.baseline})` : ''}`;

/**
 * With `--baseline`: every fan-out row that ran from both builds, this build against the baseline (another
 * checkout's dist, in the same run): CPU per million frames and p99, and what each lost or repeated.
 */
function baselineLines(scenarios) {
  const lines = [];
  for (const [name, b] of Object.entries(scenarios)) {
    if (!b.baseline || b.subscribers === undefined) continue;
    const s = scenarios[name.replace(/@baseline$/, '')];
    if (!s) continue;
    lines.push(
      `| ${name.replace(/@baseline$/, '')} | ${fmt(s.cpuSecondsPerMillion, 2)} / ${fmt(b.cpuSecondsPerMillion, 2)} = ${fmt(s.cpuSecondsPerMillion / b.cpuSecondsPerMillion, 2)} | ${fmtMs(s.p99Ms)} / ${fmtMs(b.p99Ms)} = ${fmt(s.p99Ms / b.p99Ms, 2)} | ${fmt(s.lost)} / ${fmt(b.lost)} | ${fmt(s.duplicated)} / ${fmt(b.duplicated)} | ${fmt(s.connectFailed ?? 0)} / ${fmt(b.connectFailed ?? 0)} |`,
    );
  }
  if (!lines.length) return [];
  const base = Object.values(scenarios).find((x) => x.baseline)?.baseline;
  return [
    '',
    `This build against the baseline build (\`--baseline\`, ${base ?? 'another checkout'}), same run, same broker; ratios below 1 favour this build.`,
    '',
    '| scenario | server CPU s per 1M frames: this / baseline | p99 ms: this / baseline | lost: this / baseline | duplicated: this / baseline | failed to connect: this / baseline |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...lines,
  ];
}

/** Markdown lines for the scenarios with `scaling`, and the baseline comparison (none: no lines). */
export function scalingMarkdown(scenarios) {
  const all = Object.entries(scenarios).filter(([, s]) => s.scaling);
  if (!all.length) return baselineLines(scenarios);
  const lines = [];
  const goals = [];
  const keyed = all.filter(([, s]) => s.scaling === 'keyed');
  if (keyed.length) {
    lines.push(
      '',
      'One dashboard per device (issue #18): D subscribers, each on its own key (`/ws/topics/T?key=dev-K`; Centrifugo: channel `dev-K`), D records/s POSTed to a Sluice gateway of their own, record n keyed `dev-(n mod D)` with the Kafka header `centrifugo-channels: dev-(n mod D)`: every record is one frame to one subscriber. One fan-out server at a time; its CPU per million frames delivered. Subscribers count by the record seq: lost and duplicated against the acknowledged POSTs, misrouted = a frame of another device.',
      '',
      '| scenario | server | devices × records/s | frames expected / delivered | lost | duplicated | misrouted | p50 ms | p99 ms | p99.9 ms | p50 / p99 ms from Kafka timestamp | server CPU s per 1M frames | CPU % of server / subscribers / ingest gateway / broker / poster / rest of the machine | server CPU % by thread: main / librdkafka / other | waiting for a core, % of server / subscribers |',
      '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const [name, s] of keyed) {
      const failed = s.connectFailed ? ` (**${fmt(s.connectFailed)} failed to connect**)` : '';
      lines.push(
        `| ${name} | ${serverLabel(s)} | ${s.keyedGroup}${failed} | ${fmt(s.framesExpected)} / ${fmt(s.framesDelivered)} | ${bad(s.lost)} | ${bad(s.duplicated)} | ${bad(s.misrouted)} | ${fmtMs(s.p50Ms)} | ${fmtMs(s.p99Ms)} | ${fmtMs(s.p999Ms)} | ${s.server === 'centrifugo' ? '–' : `${fmtMs(s.produceToFrameP50Ms)} / ${fmtMs(s.produceToFrameP99Ms)}`} | ${fmt(s.cpuSecondsPerMillion, 2)} | ${cpuSplit(s, [s.cpuPct, s.clientCpuPct, s.ingestCpuPct, s.brokerCpuPct, s.posterCpuPct])} | ${s.serverThreadsPct && s.server !== 'centrifugo' ? [s.serverThreadsPct.main, s.serverThreadsPct.rdkafka, s.serverThreadsPct.other].map((x) => fmt(x, 1)).join(' / ') : '–'} | ${fmt(s.waitPct)} / ${fmt(s.clientWaitPct)} |`,
      );
    }
    const by = (d, server) => keyed.find(([, s]) => s.subscribers === d && s.server === server && !s.baseline)?.[1];
    for (const d of [2000, 5000]) {
      const sl = by(d, 'sluice');
      const cf = by(d, 'centrifugo');
      if (!sl) continue;
      const parts = [];
      if (cf) {
        const lat = sl.p99Ms / cf.p99Ms;
        const cpu = sl.cpuSecondsPerMillion / cf.cpuSecondsPerMillion;
        parts.push(
          `p99 Sluice / Centrifugo ${fmt(lat, 2)} (goal ≤ 0.5, ${verdict(lat <= 0.5)})`,
          `CPU per 1M frames ${fmt(cpu, 2)} (goal ≤ 0.5, ${verdict(cpu <= 0.5)})`,
        );
      }
      parts.push(
        `Sluice lost ${fmt(sl.lost)}, misrouted ${fmt(sl.misrouted)} (goal 0, ${verdict(sl.lost + sl.misrouted === 0 && sl.connectFailed === 0)})`,
      );
      goals.push(`one dashboard per device at ${fmt(d)} devices: ${parts.join('; ')}`);
    }
    const s500 = by(500, 'sluice');
    const s5000 = by(5000, 'sluice');
    if (s500 && s5000) {
      const r = s5000.cpuSecondsPerMillion / s500.cpuSecondsPerMillion;
      goals.push(
        `Sluice CPU per frame at 5,000 devices / at 500: ${fmt(s5000.cpuSecondsPerMillion, 2)} / ${fmt(s500.cpuSecondsPerMillion, 2)} s per 1M = ${fmt(r, 2)} (goal ≤ 1.3, ${verdict(r <= 1.3)})`,
      );
    }
  }
  const topics = all.filter(([, x]) => x.scaling === 'topics');
  if (topics.length) {
    const t = topics[0][1];
    lines.push(
      '',
      `Many topics (issue #18): ${fmt(t.topics)} topics (3 partitions each), one WebSocket subscriber on each, on a fan-out gateway of its own; first idle for ${fmt(t.idleS)} s with every topic followed and nothing posted (idle CPU), then 1 record/s per topic (${fmt(t.recordsPerSec)} records/s POSTed to another gateway, record n to topic n mod ${fmt(t.topics)}). Threads and open files from /proc: on a fresh gateway, with every subscriber idle, and after the load.`,
      '',
      '| scenario | topics × subscribers | subscribed (refused) | threads: fresh / subscribed / after load | open files: fresh / subscribed / after load | RSS MB: fresh / subscribed | idle CPU % of a core (main thread / librdkafka / other threads) | live Kafka consumers | frames expected / delivered | lost | duplicated | misrouted | p50 ms | p99 ms | p50 / p99 ms from Kafka timestamp | server CPU s per 1M frames | CPU % of server / subscribers / ingest gateway / broker / poster / rest of the machine | server CPU % by thread: main / librdkafka / other | waiting for a core, % of server / subscribers |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const [name, s] of topics) {
      lines.push(
        `| ${name} | ${fmt(s.topics)} × 1 | ${fmt(s.subscribed)}${s.connectFailed ? ` (**${fmt(s.connectFailed)}**: ${statuses(s.refusedStatuses)})` : ''} | ${fmt(s.threadsBefore)} / ${fmt(s.threadsSubscribed)} / ${fmt(s.threadsLoaded)} | ${fmt(s.filesBefore)} / ${fmt(s.filesSubscribed)} / ${fmt(s.filesLoaded)} | ${fmt(s.rssBeforeMB)} / ${fmt(s.rssIdleMB)} | ${fmt(s.idleCpuPct, 1)}${s.idleCpuSplitPct ? ` (${[s.idleCpuSplitPct.main, s.idleCpuSplitPct.rdkafka, s.idleCpuSplitPct.other].map((x) => fmt(x, 1)).join(' / ')})` : ''} | ${fmt(s.liveConsumers)} | ${fmt(s.framesExpected)} / ${fmt(s.framesDelivered)} | ${bad(s.lost)} | ${bad(s.duplicated)} | ${bad(s.misrouted)} | ${fmtMs(s.p50Ms)} | ${fmtMs(s.p99Ms)} | ${fmtMs(s.produceToFrameP50Ms)} / ${fmtMs(s.produceToFrameP99Ms)} | ${fmt(s.cpuSecondsPerMillion, 2)} | ${cpuSplit(s, [s.cpuPct, s.clientCpuPct, s.ingestCpuPct, s.brokerCpuPct, s.posterCpuPct])} | ${s.serverThreadsPct ? [s.serverThreadsPct.main, s.serverThreadsPct.rdkafka, s.serverThreadsPct.other].map((x) => fmt(x, 1)).join(' / ') : '–'} | ${fmt(s.waitPct)} / ${fmt(s.clientWaitPct)} |`,
      );
      if (s.baseline) continue; // goals: this build
      const threadsOk = s.threadsSubscribed <= s.threadsBefore + 40 && s.threadsLoaded <= s.threadsBefore + 40;
      goals.push(
        `${fmt(s.topics)} topics × 1 subscriber: all subscribed ${fmt(s.subscribed)} / ${fmt(s.topics)} (${verdict(s.subscribed === s.topics)}); threads ≤ fresh + 40: ${fmt(s.threadsBefore)} → ${fmt(Math.max(s.threadsSubscribed, s.threadsLoaded))} (${verdict(threadsOk)}); idle CPU ≤ 2 % of a core: ${fmt(s.idleCpuPct, 1)} % (${verdict(s.idleCpuPct <= 2)}); p99 ≤ 50 ms at 1 record/s per topic: ${fmtMs(s.p99Ms)} ms (${verdict(s.p99Ms <= 50)}); lost / duplicated / misrouted ${fmt(s.lost)} / ${fmt(s.duplicated)} / ${fmt(s.misrouted)} (${verdict(s.lost + s.duplicated + s.misrouted === 0)})`,
      );
    }
  }
  const storms = all.filter(([, x]) => x.scaling === 'storm');
  if (storms.length) {
    const t = storms[0][1];
    lines.push(
      '',
      `Reconnect storm (issue #18): ${fmt(t.dashboards)} WebSocket dashboards follow one topic on a fan-out gateway of their own while ${fmt(t.recordsPerSec)} records/s are POSTed to another; all drop at once (sockets destroyed), records keep coming for ${fmt(t.awayS)} s, then all reconnect at once (no stagger, no retry) with \`from=<their last token>\`. "All live" is when every accepted dashboard has received a record posted after the storm began; resumes by source and the replay consumers and slots (the highest value seen, sampled every 100 ms through the storm) are read from the fan-out gateway's \`/metrics\`. Lost and duplicated count every record posted from before the drop to after the storm, per accepted dashboard; latency includes the records posted while the dashboards were away.`,
      '',
      '| scenario | dashboards × records/s | accepted / refused on the first try | all subscribed after ms | all live after ms | resumes from memory / from Kafka | replay consumers / replay slots (max) | frames delivered | lost | duplicated | p50 ms | p99 ms | server CPU s per 1M frames | CPU % of server / subscribers / ingest gateway / broker / poster / rest of the machine | waiting for a core, % of server / subscribers | threads before / after |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const [name, s] of storms) {
      lines.push(
        `| ${name} | ${fmt(s.dashboards)} × ${fmt(s.recordsPerSec)} | ${fmt(s.accepted)} / ${bad(s.refused)}${s.refused ? ` (${statuses(s.refusedStatuses)})` : ''} | ${fmt(s.allSubscribedMs)} | ${fmt(s.allLiveMs)} | ${fmt(s.resumesFromMemory)} / ${bad(s.resumesFromKafka)} | ${fmt(s.maxReplayConsumers)} / ${fmt(s.maxReplaySlots)} | ${fmt(s.framesDelivered)} | ${bad(s.lost)} | ${bad(s.duplicated)} | ${fmtMs(s.p50Ms)} | ${fmtMs(s.p99Ms)} | ${fmt(s.cpuSecondsPerMillion, 2)} | ${cpuSplit(s, [s.cpuPct, s.clientCpuPct, s.ingestCpuPct, s.brokerCpuPct, s.posterCpuPct])} | ${fmt(s.waitPct)} / ${fmt(s.clientWaitPct)} | ${fmt(s.threadsBefore)} / ${fmt(s.threadsAfter)} |`,
      );
      if (s.baseline) continue;
      goals.push(
        `${fmt(s.dashboards)} dashboards resuming at once: accepted on the first try ${fmt(s.accepted)} / ${fmt(s.dashboards)} (${verdict(s.accepted === s.dashboards)}); lost / duplicated ${fmt(s.lost)} / ${fmt(s.duplicated)} (${verdict(s.lost + s.duplicated === 0)}); no Kafka consumer for them: ${fmt(s.resumesFromKafka)} resumes from Kafka, at most ${fmt(s.maxReplayConsumers)} replay consumers (${verdict(s.resumesFromKafka === 0 && s.maxReplayConsumers === 0)}); all live ${fmt(s.allLiveMs)} ms after the storm began`,
      );
    }
  }
  if (goals.length) lines.push('', 'Goals (issue #18, this run):', '', ...goals.map((x) => `- ${x}`));
  return [...lines, ...baselineLines(scenarios)];
}
