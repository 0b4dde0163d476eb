/**
 * JSON Schema per topic on produce, against the real broker: a record that fails refuses its whole
 * request (422, element/line, pointer, rule) and nothing reaches Kafka; inline and on the decode pool.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, runSluiceExpectingExit, sluiceForFile } from './helpers/sluice-process.js';
import { readTopic, readTopicOnce } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');
const prefix = randomTopic('sch');
const dir = mkdtempSync(join(tmpdir(), 'sluice-schemas-'));
writeFileSync(
  join(dir, `${prefix}.readings.schema.json`),
  JSON.stringify({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    required: ['device_id', 'temp'],
    properties: { device_id: { type: 'string', minLength: 1 }, temp: { type: 'number', minimum: -50, maximum: 100 } },
  }),
);
writeFileSync(
  join(dir, `${prefix}.geo-*.schema.json`),
  JSON.stringify({
    type: 'object',
    required: ['lat', 'lon'],
    properties: { lat: { type: 'number' }, lon: { type: 'number' } },
  }),
);

const inline = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_SCHEMAS_DIR: dir }));
// Every body decodes (and so validates) on a piscina pool thread.
const pooled = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_SCHEMAS_DIR: dir, SLUICE_DECODE_OFFLOAD_BYTES: '1' }));

const quiet = () => new Promise((r) => setTimeout(r, 500));

for (const [mode, gateway] of [
  ['inline', inline],
  ['decode pool', pooled],
] as const) {
  describe(`schemas (${mode})`, () => {
    it("writes records that match the topic's schema", async () => {
      const topic = `${prefix}.readings`;
      const before = readTopicOnce(kafka, topic).length;
      const res = await postJson(`${gateway().url}/topics/${topic}`, '[{"device_id":"d1","temp":21.5},{"device_id":"d2","temp":-3}]');
      expect(res.status, res.text).toBe(200);
      expect(await readTopic(kafka, topic, before + 2)).toHaveLength(before + 2);
    });

    it('one bad element refuses the whole array: 422 with index, pointer and rule, nothing written', async () => {
      const topic = `${prefix}.readings`;
      await quiet();
      const before = readTopicOnce(kafka, topic).length;
      const res = await postJson(
        `${gateway().url}/topics/${topic}`,
        '[{"device_id":"d1","temp":1},{"device_id":"d2","temp":1},{"device_id":"d3","temp":140}]',
      );
      expect(res.status).toBe(422);
      expect(res.json.error).toMatchObject({
        code: 'SCHEMA_VALIDATION_FAILED',
        retriable: false,
        index: 2,
        pointer: '/temp',
        rule: 'maximum',
      });
      await quiet();
      expect(readTopicOnce(kafka, topic)).toHaveLength(before);
    });

    it('NDJSON names the line; a pattern file applies to matching topics; other topics are not validated', async () => {
      const geo = `${prefix}.geo-${mode === 'inline' ? 'a' : 'b'}`;
      const res = await postJson(
        `${gateway().url}/topics/${geo}`,
        '{"lat":1,"lon":2}\n\n{"lat":"north","lon":2}\n',
        'application/x-ndjson',
      );
      expect(res.status).toBe(422);
      expect(res.json.error).toMatchObject({ code: 'SCHEMA_VALIDATION_FAILED', line: 3, pointer: '/lat', rule: 'type' });
      await quiet();
      expect(readTopicOnce(kafka, geo)).toEqual([]);
      const free = randomTopic('free');
      expect((await postJson(`${gateway().url}/topics/${free}`, '{"anything":true}')).status).toBe(200);
    });
  });
}

it('a schema file that does not compile stops start-up naming it', async () => {
  const bad = mkdtempSync(join(tmpdir(), 'sluice-schemas-'));
  writeFileSync(join(bad, 'orders.schema.json'), '{"type":"object","properties":{"n":{"type":"integr"}}}');
  const { code, output } = await runSluiceExpectingExit({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_SCHEMAS_DIR: bad });
  expect(code).not.toBe(0);
  expect(output).toMatch(/orders\.schema\.json/);
});

it('a .json file not named *.schema.json stops start-up naming the file and the rule (never a silently unchecked topic)', async () => {
  const misnamed = mkdtempSync(join(tmpdir(), 'sluice-schemas-'));
  writeFileSync(join(misnamed, 'readings.json'), '{"type":"object","required":["device_id"]}');
  const { code, output } = await runSluiceExpectingExit({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_SCHEMAS_DIR: misnamed });
  expect(code).not.toBe(0);
  expect(output).toContain(`${join(misnamed, 'readings.json')} is not named <topic>.schema.json`);
  expect(output).toContain('readings.json → readings.schema.json');
});
