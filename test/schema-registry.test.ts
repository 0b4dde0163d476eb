/**
 * Schemas from a Schema Registry: a small in-test server speaks the Confluent REST API
 * (`GET /subjects/{subject}/versions/latest` → `{subject, version, id, schemaType, schema}`, 404 with
 * error_code 40401 for an unknown subject). An outage never lets a record through unchecked.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { readTopicOnce } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');
const subjects = new Map<string, { id: number; schemaType?: string; schema: object }>();
let down = false;
let fetches = 0;
let server: Server;
let registryUrl = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    fetches++;
    if (down) return void req.socket.destroy(); // the registry is gone: connection reset
    const m = /^\/subjects\/([^/]+)\/versions\/latest$/.exec(req.url ?? '');
    const s = m ? subjects.get(decodeURIComponent(m[1])) : undefined;
    res.setHeader('content-type', 'application/vnd.schemaregistry.v1+json');
    if (!m || !s) {
      res.statusCode = 404;
      return void res.end(JSON.stringify({ error_code: 40401, message: 'Subject not found.' }));
    }
    res.end(
      JSON.stringify({
        subject: m[1],
        version: 1,
        id: s.id,
        ...(s.schemaType ? { schemaType: s.schemaType } : {}),
        schema: JSON.stringify(s.schema),
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  registryUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const env =
  (extra: Record<string, string> = {}) =>
  () => ({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_SCHEMA_REGISTRY_URL: registryUrl, SLUICE_SCHEMA_REGISTRY_REFRESH_S: '1', ...extra });
const inline = sluiceForFile(env());
const pooled = sluiceForFile(env({ SLUICE_DECODE_OFFLOAD_BYTES: '1' }));

const reading = (max: number) => ({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['temp'],
  properties: { temp: { type: 'number', maximum: max } },
});
const quiet = () => new Promise((r) => setTimeout(r, 500));
/** Every gateway of this run has ingress worker threads (each with its own schema cache). */
const THREADED = Number(process.env.SLUICE_TEST_INGRESS_THREADS ?? '0') > 0;

describe('Schema Registry', () => {
  for (const [mode, gateway] of [
    ['inline', inline],
    ['decode pool', pooled],
  ] as const) {
    it(`checks records against <topic>-value (${mode}); a topic without a subject is not checked`, async () => {
      const topic = randomTopic('reg');
      subjects.set(`${topic}-value`, { id: 1000 + fetches, schemaType: 'JSON', schema: reading(100) });
      expect((await postJson(`${gateway().url}/topics/${topic}`, '[{"temp":20},{"temp":30}]')).status).toBe(200);
      const bad = await postJson(`${gateway().url}/topics/${topic}`, '[{"temp":20},{"temp":300}]');
      expect(bad.status).toBe(422);
      expect(bad.json.error).toMatchObject({ code: 'SCHEMA_VALIDATION_FAILED', index: 1, pointer: '/temp', rule: 'maximum' });
      await quiet();
      expect(readTopicOnce(kafka, topic)).toHaveLength(2);
      expect((await postJson(`${gateway().url}/topics/${randomTopic('nosubject')}`, '{"anything":1}')).status).toBe(200);
    });
  }

  it('an outage: a topic never fetched gets 503 (nothing written); a fetched schema keeps being checked', async () => {
    const known = randomTopic('reg');
    subjects.set(`${known}-value`, { id: 2000, schemaType: 'JSON', schema: reading(10) });
    expect((await postJson(`${inline().url}/topics/${known}`, '{"temp":1}')).status).toBe(200);
    let knownWritten = 1;
    const never = randomTopic('reg');
    subjects.set(`${never}-value`, { id: 2001, schemaType: 'JSON', schema: reading(10) });
    down = true;
    try {
      await new Promise((r) => setTimeout(r, 1100)); // past the refresh: the known topic's schema is fetched again, and fails
      const refused = await postJson(`${inline().url}/topics/${never}`, '{"temp":1}');
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).not.toBeNull();
      expect(refused.json.error).toMatchObject({ code: 'SCHEMA_REGISTRY_UNAVAILABLE', retriable: true });
      // Schemas are cached per thread serving HTTP: with ingress threads, one that never fetched this topic's
      // schema refuses with the same 503 (docs/security.md); none may write a record unchecked.
      const notFetchedHere = THREADED ? [503] : [];
      expect([422, ...notFetchedHere]).toContain((await postJson(`${inline().url}/topics/${known}`, '{"temp":99}')).status);
      const valid = (await postJson(`${inline().url}/topics/${known}`, '{"temp":2}')).status;
      expect([200, ...notFetchedHere]).toContain(valid);
      knownWritten += valid === 200 ? 1 : 0;
    } finally {
      down = false;
    }
    await quiet();
    expect(readTopicOnce(kafka, never)).toEqual([]);
    expect(readTopicOnce(kafka, known)).toHaveLength(knownWritten);
    expect((await postJson(`${inline().url}/topics/${never}`, '{"temp":1}')).status).toBe(200); // back: checked and written
  });

  it('a new version is picked up after the refresh; a subject that is not JSON Schema is refused, not skipped', async () => {
    const topic = randomTopic('reg');
    subjects.set(`${topic}-value`, { id: 3000, schemaType: 'JSON', schema: reading(10) });
    expect((await postJson(`${inline().url}/topics/${topic}`, '{"temp":50}')).status).toBe(422);
    subjects.set(`${topic}-value`, { id: 3001, schemaType: 'JSON', schema: reading(100) });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await postJson(`${inline().url}/topics/${topic}`, '{"temp":50}')).status).toBe(200);
    const avro = randomTopic('reg');
    subjects.set(`${avro}-value`, { id: 3002, schema: { type: 'record', name: 'r', fields: [] } }); // no schemaType: AVRO
    const res = await postJson(`${inline().url}/topics/${avro}`, '{"temp":1}');
    expect(res.status).toBe(503);
    expect(res.json.error.message).toMatch(/AVRO/);
  });
});
