// The generated parts of docs/performance.md and of README's short Performance section: bench/run.mjs
// writes them from a run's results (and `--docs-only` from bench/results/latest.json). Hand-written text
// lives between the markers; only what lies between `<!-- name:start -->` and `<!-- name:end -->` changes.
import { readFileSync, writeFileSync } from 'node:fs';

export const fmt = (n, d = 0) =>
  typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '';

/** Replaces each named block of the file; a block whose markers are missing is left out (and named in the answer). */
export function writeMarked(path, blocks) {
  let text = readFileSync(path, 'utf8');
  const missing = [];
  for (const [marker, body] of blocks) {
    const a = text.indexOf(`<!-- ${marker}:start -->`);
    const b = text.indexOf(`<!-- ${marker}:end -->`);
    if (a < 0 || b < a) {
      missing.push(marker);
      continue;
    }
    text = text.slice(0, a) + `<!-- ${marker}:start -->\n` + body + text.slice(b);
  }
  writeFileSync(path, text);
  return missing;
}

/** What an operator sizes by: the traffic shapes of the bench, with their ack mode and records per request. */
const SIZING = [
  ['sluice-single-durable', 'single records', 'durable (default)', 1],
  ['sluice-single-fire', 'single records', 'fire (`?ack=none`)', 1],
  ['sluice-ndjson-100', 'NDJSON', 'durable', 100],
  ['sluice-ndjson-1000', 'NDJSON', 'durable', 1000],
  ['sluice-lz4-1000', 'NDJSON, lz4-compressed', 'durable', 1000],
];

const perCore = (usPerRecord) => (usPerRecord > 0 ? Math.round(1e6 / usPerRecord / 100) * 100 : NaN);

/** Records/s per gateway core = 10⁶ ÷ CPU µs per record, with the range over the rounds. */
function perCoreCell(s) {
  const v = s.perRound?.cpuUsPerRecord;
  const mean = fmt(perCore(s.cpuUsPerRecord));
  if (!v || v.length < 2) return mean;
  return `${mean} (${fmt(perCore(Math.max(...v)))}–${fmt(perCore(Math.min(...v)))})`;
}

/** The sizing table for docs/performance.md. */
export function sizingMarkdown(sc) {
  const rows = SIZING.filter(([name]) => sc[name]?.cpuUsPerRecord);
  if (!rows.length) return 'No ingest scenario with CPU per record in this run.\n';
  return [
    "Records/s one gateway core carries = 10⁶ ÷ CPU µs per record (all the gateway's threads; the broker and the clients not counted), from the table above; range over the rounds in brackets.",
    '',
    '| traffic | ack | records/request | CPU µs/record | records/s per gateway core |',
    '| --- | --- | ---: | ---: | ---: |',
    ...rows.map(
      ([name, what, ack, n]) =>
        `| ${what} (\`${name}\`) | ${ack} | ${fmt(n)} | ${fmt(sc[name].cpuUsPerRecord, 2)} | ${perCoreCell(sc[name])} |`,
    ),
    '',
    sizingRule(sc),
    '',
  ].join('\n');
}

/** The rule in one paragraph, with this run's numbers; `model`: where the multi-vCPU model is, from where the rule stands. */
function sizingRule(sc, model = 'the multi-vCPU model above') {
  const n = (name) => fmt(perCore(sc[name]?.cpuUsPerRecord));
  const parts = [];
  if (sc['sluice-single-durable']) parts.push(`${n('sluice-single-durable')} records/s for single durable records`);
  if (sc['sluice-single-fire']) parts.push(`${n('sluice-single-fire')} fire-and-forget`);
  if (sc['sluice-ndjson-1000']) parts.push(`${n('sluice-ndjson-1000')} in NDJSON batches of 1,000`);
  return `**Sizing rule:** gateway cores = peak records/s ÷ records/s per core of the traffic's shape (here ${parts.join(', ')}), ÷ 0.7 to keep them at most 70% busy; past the main-thread limit of ${model}, add processes, not threads.`;
}

/** README's short section: a few rows, the rule, the link. */
export function readmeSummary(result) {
  const sc = result.scenarios;
  const rows = [
    ['http-ceiling', 'bare uWS reading the body (no Kafka)'],
    ['kafka-ceiling-node', 'librdkafka alone from Node, per record'],
    ['sluice-single-durable', 'Sluice, one record, durable'],
    ['sluice-single-fire', 'Sluice, one record, `?ack=none`'],
    ['sluice-ndjson-1000', 'Sluice, NDJSON × 1,000, durable'],
    ['peer-fastify-ckjs', 'Fastify + confluent-kafka-javascript, durable'],
    ['peer-fastify-ckjs-fire', 'Fastify + confluent-kafka-javascript, fire'],
  ].filter(([name]) => sc[name]);
  const lines = [
    `Gateway CPU per request and per record, ${result.environment.cores} cores, one run of ${result.environment.date.slice(0, 10)} (all numbers, ratios and the goals: [docs/performance.md](docs/performance.md)):`,
    '',
    '| scenario | what | CPU µs/request | CPU µs/record | records/s per gateway core |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  for (const [name, what] of rows) {
    const s = sc[name];
    lines.push(
      `| \`${name}\` | ${what} | ${s.requestsPerSec ? fmt(s.cpuUsPerRequest, 1) : ''} | ${fmt(s.cpuUsPerRecord, 2)} | ${fmt(perCore(s.cpuUsPerRecord))} |`,
    );
  }
  lines.push('', sizingRule(sc, 'the multi-vCPU model there'), '');
  return lines.join('\n');
}
