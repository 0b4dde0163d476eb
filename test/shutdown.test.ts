/**
 * Graceful shutdown: SIGTERM under load stops accepting, answers what it accepted, flushes the producer,
 * closes WebSockets with 1001 and exits 0 — and every record it accepted is in Kafka. With ingress worker
 * threads, every thread ends and none is taken for lost (test/ingress-worker-loss.test.ts covers threads
 * that do die).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { postJson, randomTopic, ROOT, startSluice } from './helpers/sluice-process.js';
import { readTopic } from './helpers/kafka-read.js';
import { connect } from './helpers/websocket-client.js';

const kafka = inject('kafkaBootstrap');

it('every record accepted (202 fire-and-forget or 200 durable) before SIGTERM is in Kafka', async () => {
  const topic = randomTopic('drain');
  // A long linger keeps fire-and-forget records queued in librdkafka when SIGTERM arrives: only a real flush delivers them.
  const dir = mkdtempSync(join(tmpdir(), 'sluice-drain-'));
  const producerConfig = join(dir, 'producer.properties');
  writeFileSync(
    producerConfig,
    readFileSync(join(ROOT, 'native-config', 'producer.properties'), 'utf8').replace(/^linger\.ms=.*$/m, 'linger.ms=500'),
  );
  const sluice = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_PRODUCER_CONFIG: producerConfig });
  expect((await postJson(`${sluice.url}/topics/${topic}`, '{"warm":"up"}')).status).toBe(200);
  const socket = await connect(`${sluice.wsUrl}/ws/topics/${topic}`);
  await socket.waitForFrames(1);

  let accepted = 1;
  let sent = 0;
  let stop = false;
  const clients = Array.from({ length: 8 }, async (_, c) => {
    while (!stop) {
      const n = sent++;
      const body = Array.from({ length: 20 }, (_, i) => JSON.stringify({ c, n, i })).join('\n');
      try {
        const res = await postJson(`${sluice.url}/topics/${topic}?ack=${n % 2 ? 'none' : 'all'}`, body, 'application/x-ndjson');
        if (res.status === 200 || res.status === 202) accepted += 20;
        else if (res.status !== 503) throw new Error(`unexpected ${res.status}: ${res.text}`);
      } catch (err) {
        // a connection closed by the stopping gateway: not accepted
        if ((err as Error).message.startsWith('unexpected')) throw err;
      }
    }
  });
  await new Promise((r) => setTimeout(r, 700));
  const code = await sluice.stop('SIGTERM');
  stop = true;
  await Promise.all(clients);

  expect(code).toBe(0);
  expect(accepted).toBeGreaterThan(100);
  const closed = await socket.closed;
  expect(closed.code).toBe(1001);
  const records = await readTopic(kafka, topic, accepted, 10_000);
  expect(records.length).toBe(accepted);
  expect(sluice.output()).toMatch(/"undelivered":0/);
});

it('with ingress worker threads, SIGTERM ends every thread, exits 0 and reports no thread as lost', async () => {
  const topic = randomTopic('threads');
  const sluice = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_INGRESS_THREADS: '2' });
  const socket = await connect(`${sluice.wsUrl}/ws/topics/${topic}`);
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => postJson(`${sluice.url}/topics/${topic}`, JSON.stringify({ i }))));
  expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
  expect(await sluice.stop('SIGTERM')).toBe(0);
  expect((await socket.closed).code).toBe(1001);
  expect(sluice.output()).toMatch(/shutdown complete/);
  expect(sluice.output()).not.toMatch(/ingress worker thread lost|did not report drained/);
  expect(await readTopic(kafka, topic, 8)).toHaveLength(8);
});
