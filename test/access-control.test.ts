/** API keys: 401 without a valid key, 403 outside the key's topic patterns, 429 over its rate. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, runSluiceExpectingExit, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { readTopic, readTopicOnce } from './helpers/kafka-read.js';
import { connect } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';

const kafka = inject('kafkaBootstrap');
const sha = (k: string) => createHash('sha256').update(k).digest('hex');
const dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'));
const keysFile = join(dir, 'keys.json');
let sluice: SluiceProcess;

beforeAll(async () => {
  writeFileSync(
    keysFile,
    JSON.stringify({
      keys: [
        { id: 'fleet-a', sha256: sha('key-for-a'), produce: ['a.*'], subscribe: ['a.*'] },
        { id: 'reader-b', sha256: sha('key-for-b'), produce: [], subscribe: ['b'] },
        { id: 'slow', sha256: sha('slow-key'), produce: ['a.*'], subscribe: [], requestsPerSec: 2 },
      ],
    }),
  );
  sluice = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_API_KEYS_FILE: keysFile });
});
afterAll(async () => {
  await sluice?.stop();
});

describe('API keys', () => {
  it('401 without a key or with an unknown one; nothing written', async () => {
    const topic = `a.${randomTopic()}`;
    const none = await postJson(`${sluice.url}/topics/${topic}`, '{"x":1}');
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('UNAUTHORIZED');
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await postJson(`${sluice.url}/topics/${topic}`, '{"x":1}', 'application/json', { 'x-api-key': 'nope' });
    expect(wrong.status).toBe(401);
    expect(readTopicOnce(kafka, topic)).toEqual([]);
  });

  it('a key for a.* writes to a.x (X-API-Key or Bearer) but gets 403 for b, and cannot subscribe to b', async () => {
    const topic = `a.${randomTopic()}`;
    expect((await postJson(`${sluice.url}/topics/${topic}`, '{"x":1}', 'application/json', { 'x-api-key': 'key-for-a' })).status).toBe(200);
    expect(
      (await postJson(`${sluice.url}/topics/${topic}`, '{"x":2}', 'application/json', { authorization: 'Bearer key-for-a' })).status,
    ).toBe(200);
    expect((await readTopic(kafka, topic, 2)).map((r) => r.value).sort()).toEqual(['{"x":1}', '{"x":2}']);
    const other = await postJson(`${sluice.url}/topics/b`, '{"x":1}', 'application/json', { 'x-api-key': 'key-for-a' });
    expect(other.status).toBe(403);
    expect(other.json.error.code).toBe('FORBIDDEN');
    await expect(connect(`${sluice.wsUrl}/ws/topics/b?api_key=key-for-a`)).rejects.toMatchObject({ status: 403 });
    await expect(connect(`${sluice.wsUrl}/ws/topics/b`)).rejects.toMatchObject({ status: 401 });
    const ok = await connect(`${sluice.wsUrl}/ws/topics/${topic}?api_key=key-for-a`);
    expect(JSON.parse((await ok.waitForFrames(1))[0]).event).toBe('subscribed');
    ok.ws.close();
  });

  it('?api_key= is refused on POST routes even with a valid key (URLs end up in proxy logs); WebSocket and SSE take it', async () => {
    const topic = `a.${randomTopic()}`;
    for (const path of [`/topics/${topic}?api_key=key-for-a`, `/producer/${topic}?api_key=key-for-a`, '/send?api_key=key-for-a']) {
      const res = await postJson(`${sluice.url}${path}`, '{"name":"n","lat":1,"lon":2}');
      expect(res.status, path).toBe(400);
      expect(res.json.error).toMatchObject({ code: 'INVALID_PARAMETER', parameter: 'api_key', retriable: false });
      expect(res.json.error.message).toContain('X-API-Key or Authorization: Bearer');
      expect(JSON.stringify(res.json)).not.toContain('key-for-a');
    }
    expect(readTopicOnce(kafka, topic)).toEqual([]);
    expect((await postJson(`${sluice.url}/topics/${topic}`, '{"x":1}', 'application/json', { 'x-api-key': 'key-for-a' })).status).toBe(200);
    const sse = await openSse(`${sluice.url}/sse/topics/${topic}?api_key=key-for-a`);
    expect((await sse.waitForEvents(1))[0].event).toBe('subscribed');
    sse.close();
  });

  it('a read-only key cannot produce to the topic it may read', async () => {
    const res = await postJson(`${sluice.url}/topics/b`, '{"x":1}', 'application/json', { 'x-api-key': 'key-for-b' });
    expect(res.status).toBe(403);
  });

  it('429 with Retry-After once a key passes its rate', async () => {
    const topic = `a.${randomTopic()}`;
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 6; i++) {
      const res = await postJson(`${sluice.url}/topics/${topic}`, '{"x":1}', 'application/json', { 'x-api-key': 'slow-key' });
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers.get('retry-after');
        expect(res.json.error.code).toBe('RATE_LIMITED');
      }
    }
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    expect(statuses).toContain(429);
    expect(retryAfter).toMatch(/^\d+$/);
  });
});

it('a keys file that cannot be read stops start-up and names SLUICE_API_KEYS_FILE', async () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"keys":[{"id":"x","sha256":"short"}]}');
  const { code, output } = await runSluiceExpectingExit({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_API_KEYS_FILE: bad });
  expect(code).toBe(1);
  expect(output).toMatch(/SLUICE_API_KEYS_FILE: key 0 in .* needs an "id" and a "sha256"/);
});
