// CPU per record of decoding a request body, without and with its topic's JSON Schema (SLUICE_SCHEMAS_DIR),
// the work one ingest thread does per request. Each case runs in a fresh process, the order alternates,
// and every case first checks its result (1,000 records decoded; the schema case: a bad record is refused).
//   node bench/micro/schema-validation.mjs [--rounds 3]
import { spawnSync } from 'node:child_process';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deviceRecord } from '../records.mjs';
import { schemaDir } from '../scenarios/schema.mjs';

const dist = fileURLToPath(new URL('../../dist/', import.meta.url));
const RECORDS = 1000;
const REQUESTS = 300;

if (process.argv[2] === '--case') {
  const [, , , mode, dir] = process.argv;
  const { decodeRecords } = await import(join(dist, 'decode/json-records.js'));
  const { TopicSchemas, validateRecords } = await import(join(dist, 'decode/schemas.js'));
  const validate = mode === 'schema' ? TopicSchemas.load(dir).validatorFor('readings') : null;
  const body = Buffer.from(`[${Array.from({ length: RECORDS }, (_, i) => deviceRecord(i)).join(',')}]`);
  const run = (b) => {
    const r = decodeRecords(b, 'json', '');
    if (validate) validateRecords(validate, r, 'json');
    return r;
  };
  // Smoke check before timing.
  if (run(body).count !== RECORDS) throw new Error('decode count');
  if (validate) {
    let refused = false;
    try {
      run(Buffer.from('[{"device_id":"x","ts":1,"seq":1,"temp":"hot"}]'));
    } catch (e) {
      refused = e.code === 'SCHEMA_VALIDATION_FAILED';
    }
    if (!refused) throw new Error('the schema did not refuse a bad record');
  }
  for (let i = 0; i < 50; i++) run(body); // warm-up
  const t0 = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) run(body);
  const t = process.cpuUsage(t0);
  console.log(JSON.stringify({ mode, usPerRecord: (t.user + t.system) / (REQUESTS * RECORDS) }));
  process.exit(0);
}

const dir = schemaDir('readings');
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 3;
const results = { plain: [], schema: [] };
for (let r = 0; r < rounds; r++) {
  for (const mode of r % 2 === 0 ? ['plain', 'schema'] : ['schema', 'plain']) {
    const p = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--case', mode, dir], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(p.stderr);
    results[mode].push(JSON.parse(p.stdout).usPerRecord);
  }
}
console.log(
  `Environment: Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}, Linux ${release()}; ${RECORDS} records of 200 B per body, ${REQUESTS} bodies per run, ${rounds} runs per case`,
);
console.log('| case | CPU µs per record (runs) | median |');
console.log('| --- | --- | --- |');
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
for (const mode of ['plain', 'schema'])
  console.log(
    `| decode${mode === 'schema' ? ' + schema' : ''} | ${results[mode].map((x) => x.toFixed(2)).join(', ')} | ${median(results[mode]).toFixed(2)} |`,
  );
