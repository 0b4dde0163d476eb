/**
 * Against a cluster that does not auto-create topics (a second real broker, auto.create.topics.enable=false):
 * unknown topics get 404 and nothing is written, unless Sluice is configured to create them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EmbeddedBroker } from '../src/embedded-broker/broker.js';
import { postJson, randomTopic, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { partitionCount, readTopic, readTopicOnce } from './helpers/kafka-read.js';
import { connect } from './helpers/websocket-client.js';

const dataDir = mkdtempSync(join(tmpdir(), 'sluice-noauto-'));
const broker = new EmbeddedBroker({ port: Number(process.env.SLUICE_TEST_KAFKA_PORT ?? 19092) + 10, dataDir, autoCreateTopics: false, heapMb: 512 });
let strict: SluiceProcess;
let creating: SluiceProcess;

beforeAll(async () => {
  await broker.start();
  [strict, creating] = await Promise.all([
    startSluice({ KAFKA_BOOTSTRAP_SERVERS: broker.bootstrapServers }),
    startSluice({ KAFKA_BOOTSTRAP_SERVERS: broker.bootstrapServers, SLUICE_CREATE_TOPICS: 'true', SLUICE_CREATE_TOPIC_PARTITIONS: '4' }),
  ]);
});
afterAll(async () => {
  await Promise.all([strict?.stop(), creating?.stop()]);
  await broker.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

it('404 TOPIC_NOT_FOUND for an unknown topic, and the topic is not created', async () => {
  const topic = randomTopic('missing');
  const res = await postJson(`${strict.url}/topics/${topic}`, '{"a":1}');
  expect(res.status).toBe(404);
  expect(res.json.error.code).toBe('TOPIC_NOT_FOUND');
  expect(res.json.error.message).toContain(topic);
  expect(readTopicOnce(broker.bootstrapServers, topic)).toEqual([]);
  // Subscribing to it is refused the same way.
  await expect(connect(`${strict.wsUrl}/ws/topics/${topic}`)).rejects.toMatchObject({ status: 404 });
});

it('with SLUICE_CREATE_TOPICS=true Sluice creates the topic with the configured partitions and writes', async () => {
  const topic = randomTopic('created');
  const body = Array.from({ length: 40 }, (_, i) => JSON.stringify({ i })).join('\n');
  const res = await postJson(`${creating.url}/topics/${topic}`, body, 'application/x-ndjson');
  expect(res.status).toBe(200);
  const records = await readTopic(broker.bootstrapServers, topic, 40);
  expect(records).toHaveLength(40);
  expect(partitionCount(broker.bootstrapServers, topic)).toBe(4);
  // Once created, the strict gateway accepts it too.
  expect((await postJson(`${strict.url}/topics/${topic}`, '{"later":true}')).status).toBe(200);
});
