/**
 * GET /topics lists what a credential may subscribe to, with partition counts as the cluster reports them:
 * a key sees only its `subscribe` patterns, open access sees every topic but Kafka's own, and it works the
 * same from ingress worker threads (the list comes from the main thread).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { postJson, randomTopic, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { partitionCount } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');
const sha = (k: string) => createHash('sha256').update(k).digest('hex');
const keysFile = join(mkdtempSync(join(tmpdir(), 'sluice-topic-list-')), 'keys.json');
const prefix = randomTopic('list');
let open: SluiceProcess;
let keyed: SluiceProcess;

beforeAll(async () => {
  writeFileSync(
    keysFile,
    JSON.stringify({
      keys: [
        { id: 'writer', sha256: sha('writer-key'), produce: [`${prefix}.*`], subscribe: [] },
        { id: 'fleet-a', sha256: sha('key-for-a'), produce: [], subscribe: [`${prefix}.a.*`] },
      ],
    }),
  );
  [open, keyed] = await Promise.all([
    startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_INGRESS_THREADS: '2' }),
    startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_API_KEYS_FILE: keysFile }),
  ]);
});
afterAll(async () => {
  await Promise.all([open?.stop(), keyed?.stop()]);
});

interface Listing {
  topics: { name: string; partitions: number }[];
}

async function list(
  base: string,
  headers: Record<string, string> = {},
  query = '',
): Promise<{ status: number; body: Listing & { error?: { code: string } } }> {
  const res = await fetch(`${base}/topics${query}`, { headers });
  return { status: res.status, body: (await res.json()) as Listing & { error?: { code: string } } };
}

/** The listing is read from metadata at most every 2 s: wait (bounded) until it shows every topic wanted. */
async function listShowing(base: string, wanted: string[], headers: Record<string, string> = {}): Promise<Listing> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const { status, body } = await list(base, headers);
    expect(status).toBe(200);
    if (wanted.every((name) => body.topics.some((t) => t.name === name))) return body;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`GET /topics never listed ${wanted.join(', ')}`);
}

it('lists topics with their partition counts: all of them with open access (from worker threads), a key only its subscribe patterns', async () => {
  const topics = [`${prefix}.a.one`, `${prefix}.a.two`, `${prefix}.b.other`];
  for (const topic of topics) {
    expect((await postJson(`${keyed.url}/topics/${topic}`, '{"x":1}', 'application/json', { 'x-api-key': 'writer-key' })).status).toBe(200);
  }

  const all = await listShowing(open.url, topics);
  for (const topic of topics) expect(all.topics.find((t) => t.name === topic)?.partitions).toBe(partitionCount(kafka, topic));
  expect(all.topics.some((t) => t.name.startsWith('__'))).toBe(false);
  const names = all.topics.map((t) => t.name);
  expect(names).toEqual([...names].sort());

  const forA = await listShowing(keyed.url, topics.slice(0, 2), { 'x-api-key': 'key-for-a' });
  expect(forA.topics.map((t) => t.name)).toEqual(topics.slice(0, 2));
  // A key that may subscribe to nothing sees nothing, even the topics it writes.
  expect((await list(keyed.url, { authorization: 'Bearer writer-key' })).body).toEqual({ topics: [] });
});

it('refuses a missing or unknown key (401) and a key in the URL (400): keys in URLs end up in proxy logs', async () => {
  const none = await list(keyed.url);
  expect(none.status).toBe(401);
  expect(none.body.error?.code).toBe('UNAUTHORIZED');
  expect((await list(keyed.url, { 'x-api-key': 'nope' })).status).toBe(401);
  const inUrl = await list(keyed.url, {}, '?api_key=key-for-a');
  expect(inUrl.status).toBe(400);
  expect(inUrl.body.error?.code).toBe('INVALID_PARAMETER');
});
