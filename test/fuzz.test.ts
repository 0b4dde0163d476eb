/**
 * Bad input never crashes the gateway and never half-writes: random and adversarial bodies, content types
 * and encodings against the ingest route (fast-check), each answered 2xx or 4xx with a JSON error; a 2xx
 * means exactly the records the body holds are in Kafka, a 4xx means none of them.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { connect as connectSocket } from 'node:net';
import { postJson, randomTopic, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { readTopic, readTopicOnce } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');
let sluice: SluiceProcess;
let cases = 0;

beforeAll(async () => {
  sluice = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_MAX_BODY_BYTES: '65536' });
});
afterAll(async () => {
  console.log(`fuzz: ${cases} requests`);
  expect(await sluice.stop()).toBe(0);
});

const jsonText = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc
    .jsonValue()
    .map((v) => JSON.stringify(v))
    .chain((t) => fc.nat(t.length).map((n) => t.slice(0, n))), // truncated
  fc.nat(3000).map((d) => '['.repeat(d) + ']'.repeat(d)), // deep nesting
  fc.nat(80).map((d) => `{"n":${'9'.repeat(300 + d)}}`), // huge number
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')), // binary junk
);

it('random bodies, content types and encodings: 2xx with exactly the records sent, or 4xx with nothing written', async () => {
  const topic = randomTopic('fuzz');
  let expected = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(jsonText, { minLength: 1, maxLength: 8 }),
      fc.constantFrom('application/json', 'application/x-ndjson', 'text/plain', '', 'application/json; charset=utf-8'),
      fc.constantFrom('identity', 'gzip', 'lz4', 'br'),
      fc.boolean(),
      async (parts, contentType, encoding, asArray) => {
        const text = asArray ? `[${parts.join(',')}]` : parts.join('\n');
        let body: Buffer = Buffer.from(text, 'latin1');
        if (encoding === 'gzip') body = gzipSync(body);
        const headers: Record<string, string> = encoding === 'identity' ? {} : { 'content-encoding': encoding };
        const res = await postJson(`${sluice.url}/topics/${topic}`, body, contentType, headers);
        cases++;
        expect(res.status === 200 || (res.status >= 400 && res.status < 500), `${res.status} ${res.text}`).toBe(true);
        if (res.status === 200) expected += res.json.count;
        else expect(typeof res.json?.error?.code).toBe('string');
      },
    ),
    { numRuns: 400 },
  );
  // Every 200 wrote exactly its count; no refused request wrote anything.
  const records = await readTopic(kafka, topic, expected, 5000);
  await new Promise((r) => setTimeout(r, 300));
  expect(readTopicOnce(kafka, topic)).toHaveLength(records.length);
  expect(records.length).toBe(expected);
  expect((await fetch(`${sluice.url}/healthz`)).status).toBe(200);
});

it('many uploads aborted half-way at once and slow bodies leave the gateway healthy and write nothing', async () => {
  const topic = randomTopic('aborted');
  const sockets = await Promise.all(
    Array.from(
      { length: 200 },
      (_, i) =>
        new Promise<void>((resolve) => {
          const s = connectSocket(sluice.port, '127.0.0.1', () => {
            s.write(
              `POST /topics/${topic} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n[{"i":${i}},`,
            );
            setTimeout(
              () => {
                s.destroy();
                resolve();
              },
              i % 2 ? 10 : 200,
            );
          });
          s.on('error', () => resolve());
        }),
    ),
  );
  cases += sockets.length;
  expect((await fetch(`${sluice.url}/healthz`)).status).toBe(200);
  expect((await postJson(`${sluice.url}/topics/${topic}`, '{"after":"aborts"}')).status).toBe(200);
  expect((await readTopic(kafka, topic, 1)).map((r) => r.value)).toEqual(['{"after":"aborts"}']);
});
