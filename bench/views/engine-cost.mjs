// In-process cost of the window engine alone (no HTTP, no Kafka): CPU time per record and view of
// WindowAggregator.add + flush, as the registry runs it for each view channel on each live batch (the value
// is parsed once per batch for all channels, so parsing is not in this number). Each case in a fresh
// process (this script re-runs itself per case); 1, 10 and 100 distinct views over the same records.
//
//   node bench/views/engine-cost.mjs [--records 200000] [--rounds 3]
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { records: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '3' }, case: { type: 'string' } },
});
const N = Number(args.records);

if (args.case !== undefined) {
  const views = Number(args.case);
  const { WindowAggregator } = await import('../../dist/consumer/window-aggregator.js');
  const { parseViewSpec } = await import('../../dist/subscription/view-spec.js');
  const engines = Array.from(
    { length: views },
    (_, i) =>
      new WindowAggregator(
        parseViewSpec({
          window: `${1 + (i % 5)}s`,
          hop: null,
          grace: `${i}ms`,
          agg: 'count(),avg(temp),max(temp)',
          by: 'device',
          alert: null,
        }),
        't',
        { maxGroups: 10_000, maxOpenWindows: 1000 },
      ),
  );
  // 1,000 records/s of event time over 1,000 devices, in batches of 100 (what the live feed hands over).
  const values = Array.from({ length: N }, (_, i) => ({
    seq: i,
    device: `dev-${String(i % 1000).padStart(5, '0')}`,
    temp: 20 + (i % 100) / 10,
  }));
  let frames = 0;
  const run = (from, to) => {
    for (let b = from; b < to; b += 100) {
      for (const e of engines) {
        for (let i = b; i < Math.min(to, b + 100); i++) e.add(1_700_000_000_000 + i, null, values[i]);
        frames += e.flush().length;
      }
    }
  };
  run(0, Math.min(N, 20_000)); // warm-up (JIT)
  const t0 = process.cpuUsage();
  run(20_000, N);
  const t = process.cpuUsage(t0);
  const us = t.user + t.system;
  console.log(
    JSON.stringify({
      views,
      records: N - 20_000,
      cpuMs: Math.round(us / 1000),
      nsPerRecord: Math.round((us * 1000) / (N - 20_000)),
      nsPerRecordPerView: Math.round((us * 1000) / (N - 20_000) / views),
      frames,
    }),
  );
  process.exit(0);
}

console.error(`Environment: node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}; ${N} records per case`);
const CASES = [1, 10, 100];
const results = [];
for (let round = 0; round < Number(args.rounds); round++) {
  for (const views of round % 2 === 0 ? CASES : [...CASES].reverse()) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--case', String(views), '--records', String(N)], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(r.stderr);
    const line = JSON.parse(r.stdout.trim());
    if (line.frames === 0) throw new Error(`no window closed with ${views} views: nothing was measured`);
    console.log(JSON.stringify({ round, ...line }));
    results.push(line);
  }
}
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
console.log('\n| distinct views | ns CPU per record (all views, median) | ns per record and view | window frames per case | runs |');
console.log('| --- | --- | --- | --- | --- |');
for (const views of CASES) {
  const rs = results.filter((r) => r.views === views);
  console.log(
    `| ${views} | ${median(rs.map((r) => r.nsPerRecord))} | ${median(rs.map((r) => r.nsPerRecordPerView))} | ${rs[0].frames} | ${rs.length} |`,
  );
}
