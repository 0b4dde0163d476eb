// What a topic's JSON Schema costs end to end (issue #13): the same ingest scenarios as
// `sluice-single-durable` and `sluice-ndjson-1000`, with the gateway started with SLUICE_SCHEMAS_DIR holding
// a schema that matches every bench topic (`bench-*.schema.json`), so the table shows req/s with and without
// validation and a ratio row gives the delta. Before it is timed, each scenario checks that validation is on:
// a record that breaks the schema is refused with 422 SCHEMA_VALIDATION_FAILED and writes nothing.
// Registered in bench/run.mjs with `...schemaScenarios(…)`, `...SCHEMA_RATIOS` and the `check` hook.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A device reading (bench/records.mjs) with ranges, a `pattern` and an `enum`: 10 properties, all checked. */
export const DEVICE_READING_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['device_id', 'ts', 'seq', 'temp'],
  properties: {
    device_id: { type: 'string', pattern: '^dev-[0-9]{5}$' },
    ts: { type: 'integer', minimum: 0 },
    seq: { type: 'integer' },
    temp: { type: 'number', minimum: -50, maximum: 150 },
    humidity: { type: 'number' },
    battery: { type: 'number' },
    lat: { type: 'number', minimum: -90, maximum: 90 },
    lon: { type: 'number', minimum: -180, maximum: 180 },
    status: { enum: ['ok', 'warn', 'fail'] },
    pad: { type: 'string' },
  },
};
/** A record the schema refuses (`temp` is not a number). */
export const BAD_READING = '{"device_id":"dev-00001","ts":1,"seq":1,"temp":"hot"}';

/** A fresh folder with the schema under `fileName` (a topic name, or a pattern with `*`). */
export function schemaDir(fileName) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-schemas-'));
  writeFileSync(join(dir, `${fileName}.schema.json`), JSON.stringify(DEVICE_READING_SCHEMA));
  return dir;
}

/** Refuses the run if the gateway writes a record that breaks the schema. */
async function refusesBadRecord(url, topic) {
  const res = await fetch(`${url}/topics/${topic}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BAD_READING });
  const text = await res.text();
  if (res.status !== 422 || !text.includes('SCHEMA_VALIDATION_FAILED'))
    throw new Error(`schema scenario: a bad record got ${res.status} ${text}, expected 422 SCHEMA_VALIDATION_FAILED`);
}

/** `base`: the scenarios without a schema, by name; `sluice(env)`: a gateway server spec. */
export function schemaScenarios(sluice, base) {
  const dir = schemaDir('bench-*'); // every bench topic is `bench-<scenario>-r<round>-<random>`
  return ['sluice-single-durable', 'sluice-ndjson-1000'].map((name) => ({
    ...base[name],
    name: name === 'sluice-single-durable' ? 'sluice-single-schema' : 'sluice-ndjson-1000-schema',
    server: sluice({ SLUICE_SCHEMAS_DIR: dir }),
    check: refusesBadRecord,
  }));
}

export const SCHEMA_RATIOS = [
  ['sluice-single with schema/without requests', 'sluice-single-schema', 'sluice-single-durable', 'requestsPerSec'],
  ['sluice-ndjson-1000 with schema/without records', 'sluice-ndjson-1000-schema', 'sluice-ndjson-1000', 'recordsPerSec'],
  ['sluice-ndjson-1000 with schema/without gateway CPU', 'sluice-ndjson-1000-schema', 'sluice-ndjson-1000', 'cpuPct'],
];
