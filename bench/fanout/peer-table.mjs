// The fan-out peer table of issue #10: Sluice per-record frames, Sluice batch frames and Centrifugo, each
// fan-out server measured alone on the same records and subscribers, and the goals as ratios of one run.
const fmt = (n, d = 0) =>
  typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–';

// The swarm's latency histogram ends at 30 s: a percentile there means "30 s or more".
const CAP_MS = 30_000;
const fmtMs = (v) => (v >= CAP_MS ? '≥ 30,000' : fmt(v, 1));
const ratio = (a, b) => (b >= CAP_MS ? `≤ ${fmt(a / b, 2)}` : fmt(a / b, 2));

const LABEL = { record: 'Sluice, per-record frames', batch: 'Sluice, batch frames', centrifugo: 'Centrifugo v6.9.1' };

/** Markdown lines for the scenarios that have a `peerGroup` (none: no lines). `skipped`: peers that could not run, with why. */
export function peerMarkdown(scenarios, skipped = []) {
  const rows = Object.entries(scenarios).filter(([, s]) => s.peerGroup);
  if (!rows.length && !skipped.length) return [];
  const lines = [
    '',
    "Fan-out beside Centrifugo (issue #10): the same single-record POSTs (to a Sluice gateway of their own) and the same subscriber swarm, against one fan-out server at a time — Sluice with per-record frames, Sluice with `frames=batch`, Centrifugo in Kafka publication-data mode — alternating in one run; no slow clients. Server CPU is the fan-out process only (for Sluice: its live consumer, framing and sockets), per million records delivered to subscribers; WebSocket messages are those the subscribers received in the measured window. Centrifugo pushes carry no Kafka offset: its lost/duplicated are counted by each record's sequence number instead. \"Waiting for a core\" is the run-queue delay of the process's threads (/proc schedstat): time it was ready to run while the machine's two cores were busy with something else.",
    '',
  ];
  for (const s of skipped) lines.push(`**${s}**`, '');
  if (rows.length) {
    lines.push(
      '| scenario | server | subscribers × records/s | records expected / delivered | lost | duplicated | p50 ms | p99 ms | p99.9 ms | server CPU s per 1M records | WebSocket messages (records per message) | CPU % of server / subscribers / ingest gateway / broker / poster | waiting for a core, % of server / subscribers |',
      '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const [name, s] of rows) {
      const expected = s.framesExpected;
      const bad = (n) => (n > 0 ? `**${fmt(n)}**` : fmt(n));
      lines.push(
        `| ${name} | ${LABEL[s.frames] ?? s.frames} | ${s.peerGroup} | ${fmt(expected)} / ${fmt(s.framesDelivered)} | ${bad(s.lost)} | ${bad(s.duplicated)} | ${fmtMs(s.p50Ms)} | ${fmtMs(s.p99Ms)} | ${fmtMs(s.p999Ms)} | ${fmt(s.cpuSecondsPerMillion, 2)} | ${fmt(s.wsMessages)} (${fmt(s.recordsPerMessage, 1)}) | ${[s.cpuPct, s.clientCpuPct, s.ingestCpuPct, s.brokerCpuPct, s.posterCpuPct].map((x) => fmt(x)).join(' / ')} | ${fmt(s.waitPct)} / ${fmt(s.clientWaitPct)} |`,
      );
    }
  }
  const byGroup = new Map();
  for (const [, s] of rows) {
    const g = byGroup.get(s.peerGroup) ?? {};
    g[s.frames] = s;
    byGroup.set(s.peerGroup, g);
  }
  const verdict = (ok) => (ok ? 'met' : '**not met**');
  const goals = [];
  for (const [group, g] of byGroup) {
    const { batch, centrifugo, record } = g;
    if (batch && group.endsWith('× 1,000'))
      goals.push(
        `at ${group} with batch frames p99 ≤ 50 ms: ${fmtMs(batch.p99Ms)} ms, ${verdict(batch.p99Ms <= 50)}; 0 lost, 0 duplicated: ${fmt(batch.lost)} / ${fmt(batch.duplicated)}, ${verdict(batch.lost + batch.duplicated === 0)}`,
      );
    if (batch && centrifugo) {
      const lat = batch.p99Ms / centrifugo.p99Ms;
      const cpu = batch.cpuSecondsPerMillion / centrifugo.cpuSecondsPerMillion;
      goals.push(
        `at ${group}: Sluice batch / Centrifugo p99 ${ratio(batch.p99Ms, centrifugo.p99Ms)} (goal ≤ 0.5, ${verdict(lat <= 0.5)}), CPU per 1M records ${fmt(cpu, 2)} (goal ≤ 0.7, ${verdict(cpu <= 0.7)})`,
      );
    }
    if (record && centrifugo)
      goals.push(
        `at ${group}: Sluice per-record / Centrifugo p99 ${ratio(record.p99Ms, centrifugo.p99Ms)}, CPU per 1M records ${fmt(record.cpuSecondsPerMillion / centrifugo.cpuSecondsPerMillion, 2)}`,
      );
    if (record && batch)
      goals.push(
        `at ${group}: Sluice batch / per-record p99 ${fmt(batch.p99Ms / record.p99Ms, 2)}, CPU per 1M records ${fmt(batch.cpuSecondsPerMillion / record.cpuSecondsPerMillion, 2)}, WebSocket messages ${fmt(batch.wsMessages / record.wsMessages, 3)}`,
      );
  }
  if (goals.length) lines.push('', 'Goals and ratios (issue #10, this run):', '', ...goals.map((x) => `- ${x}`));
  return lines;
}
