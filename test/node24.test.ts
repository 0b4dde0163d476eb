/**
 * Sluice on Node 24, whatever Node runs the rest of the suite: the gateway runs on Node 24.21.0 from the
 * npm registry (installed into .node24/ by `npm test`'s set-up, .ci/setup.d/test/40-node24.sh, with
 * librdkafka's binding compiled for it) against the test broker, and a device's POST reaches a WebSocket
 * and an SSE subscriber as frames, live and replayed from the earliest offset. uWebSockets.js loads its
 * Node 24 binary (ABI 137), through the glibc compatibility copy where glibc is older than 2.38.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, postJson, randomTopic, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { connect } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';
import { recordsIn, waitForRecordCount } from './helpers/framing.js';

const kafka = inject('kafkaBootstrap');
// The test process's own lz4 (the machine's Node) compresses; the gateway on Node 24 decodes with its build.
const lz4 = createRequire(import.meta.url)('lz4') as { encode(b: Buffer): Buffer };
const NODE24 = join(ROOT, '.node24', 'node_modules', 'node', 'bin', 'node');
const HOOK = join(ROOT, 'test', 'helpers', 'node24-binding-hook.mjs');

let sluice: SluiceProcess;
beforeAll(async () => {
  if (!existsSync(NODE24) || !existsSync(join(ROOT, '.node24', 'binding')))
    throw new Error('Node 24 is not set up in .node24/: run `npm run setup` (npm test does it)');
  sluice = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka }, 90_000, [NODE24, '--import', HOOK]);
});
afterAll(async () => {
  expect(await sluice?.stop()).toBe(0);
});

describe('the gateway on Node 24 from npm', () => {
  it('runs on Node 24 (ABI 137) with the native uWebSockets.js', async () => {
    const metrics = await (await fetch(`${sluice.url}/metrics`)).text();
    expect(metrics).toMatch(/nodejs_version_info\{[^}]*version="v24\.21\.0"/);
    expect(sluice.output()).not.toMatch(/fallback/i);
    // Pointed at a cluster: the banner names it, without the embedded broker's development note.
    expect(sluice.output()).toContain(`Sluice is up (Kafka: ${kafka})`);
  });

  it('delivers POSTed records to WebSocket and SSE subscribers, live and replayed from the earliest offset', async () => {
    const topic = randomTopic('node24');
    const first = ['{"seq":0}', '{"seq":1}', '{"seq":2}'].join('\n');
    expect((await postJson(`${sluice.url}/topics/${topic}?key=dev`, first, 'application/x-ndjson')).status).toBe(200);

    // Replay: a WebSocket from the earliest offset gets the three records already in Kafka, then live ones.
    const ws = await connect(`${sluice.wsUrl}/ws/topics/${topic}?from=earliest`);
    // Live: an SSE subscriber from now on.
    const sse = await openSse(`${sluice.url}/sse/topics/${topic}`);
    const [subscribed] = await sse.waitForEvents(1);
    expect(subscribed.event).toBe('subscribed');
    await waitForRecordCount(() => recordsIn(ws.frames, 'record'), 3);

    expect((await postJson(`${sluice.url}/topics/${topic}?key=dev`, '{"seq":3}\n{"seq":4}', 'application/x-ndjson')).status).toBe(200);
    const wsRecords = await waitForRecordCount(() => recordsIn(ws.frames, 'record'), 5);
    expect(wsRecords.map((r) => (r.value as { seq: number }).seq)).toEqual([0, 1, 2, 3, 4]);
    expect(wsRecords.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
    expect(wsRecords.every((r) => r.topic === topic && r.key === 'dev')).toBe(true);

    const sseRecords = await waitForRecordCount(
      () =>
        recordsIn(
          sse.events.map((e) => e.data),
          'record',
        ),
      2,
    );
    expect(sseRecords.map((r) => (r.value as { seq: number }).seq)).toEqual([3, 4]);
    sse.close();
    ws.ws.close();
  });

  it("decodes a Content-Encoding: lz4 body (lz4 is a native addon, compiled for Node 24 like librdkafka's binding)", async () => {
    const topic = randomTopic('node24-lz4');
    const body = lz4.encode(Buffer.from('{"seq":0}\n{"seq":1}'));
    const answer = await postJson(`${sluice.url}/topics/${topic}`, body, 'application/x-ndjson', { 'content-encoding': 'lz4' });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json).toMatchObject({ topic, count: 2 });
  });
});
