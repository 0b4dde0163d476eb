/**
 * The quick start's first command: with no KAFKA_BOOTSTRAP_SERVERS, Sluice starts its own Kafka broker,
 * serves on it, and stops it again on SIGTERM.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { postJson, randomTopic, startSluice } from './helpers/sluice-process.js';
import { readTopic } from './helpers/kafka-read.js';
import { connect } from './helpers/websocket-client.js';
import { freePortPair as freePortPairFrom, portFree } from './helpers/free-port.js';

const freePortPair = () => freePortPairFrom(20000, 6000);

it('starts an embedded broker when no cluster is configured, serves ingest and fan-out on it, and stops it', async () => {
  const kafkaPort = await freePortPair();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-embedded-'));
  const sluice = await startSluice({ SLUICE_EMBEDDED_KAFKA_PORT: String(kafkaPort), SLUICE_EMBEDDED_KAFKA_DIR: dir }, 120_000);
  const bootstrap = `127.0.0.1:${kafkaPort}`;
  try {
    expect(sluice.output()).toContain(`"kafka":"${bootstrap}","embeddedKafka":true`);
    // The banner says what the embedded broker is for, and how to leave it.
    expect(sluice.output()).toContain('the embedded single-node broker: for development; set KAFKA_BOOTSTRAP_SERVERS for a cluster');
    const topic = randomTopic();
    const socket = await connect(`${sluice.wsUrl}/ws/topics/${topic}`);
    await socket.waitForFrames(1);
    const res = await postJson(`${sluice.url}/topics/${topic}`, '{"device_id":"d1","temp":21.5}');
    expect(res.status).toBe(200);
    expect(JSON.parse((await socket.waitForFrames(2))[1]).value).toEqual({ device_id: 'd1', temp: 21.5 });
    expect((await readTopic(bootstrap, topic, 1)).map((r) => r.value)).toEqual(['{"device_id":"d1","temp":21.5}']);
  } finally {
    expect(await sluice.stop('SIGTERM')).toBe(0);
  }
  // The broker went down with the gateway: its port is free again.
  expect(await portFree(kafkaPort)).toBe(true);
  rmSync(dir, { recursive: true, force: true });
});
