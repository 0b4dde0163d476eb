/** The seed guide's `POST /send` goes to the configured default topic and answers {"status":"sent"}. */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { postJson, randomTopic, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { readTopic } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');
const topic = randomTopic('test-topic');
let sluice: SluiceProcess;

beforeAll(async () => {
  sluice = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_DEFAULT_TOPIC: topic });
});
afterAll(async () => {
  await sluice?.stop();
});

it('POST /send writes the JSON object to SLUICE_DEFAULT_TOPIC', async () => {
  const res = await postJson(`${sluice.url}/send`, '{"key": "Hello Kafka!"}');
  expect(res.status).toBe(200);
  expect(res.json).toEqual({ status: 'sent' });
  const records = await readTopic(kafka, topic, 1);
  expect(records.map((r) => r.value)).toEqual(['{"key": "Hello Kafka!"}']);
});

it('POST /send refuses non-objects with 422 and invalid JSON with 400', async () => {
  expect((await postJson(`${sluice.url}/send`, '[1,2]')).json.error.code).toBe('VALIDATION_FAILED');
  expect((await postJson(`${sluice.url}/send`, '{"a":')).status).toBe(400);
});
