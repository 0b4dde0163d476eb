/**
 * What one credential or connection may take, against the real broker (docs/security.md, "API keys",
 * "Consumer groups per credential", "Limits per client"; docs/live.md, "Subscription lifecycle"):
 * - subscribing creates no topic for a key that may not produce to it (404 TOPIC_NOT_FOUND; kcat's listing
 *   of the cluster's topics shows none), and does for a key that may;
 * - `group=billing` of one key and of another are different Kafka groups: each gets every record;
 * - one connection and one client exhaust their shares (429 CONNECTION_LIMIT / CLIENT_LIMIT) while
 *   another client is still served, and the shares come back (the gauge returns to 0).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { records, until } from './helpers/token-subscriptions.js';
import { connect, type RecordingSocket, upgradeOutcome } from './helpers/websocket-client.js';

const kafka = inject('kafkaBootstrap');
const sha = (k: string) => createHash('sha256').update(k).digest('hex');
const keysFile = join(mkdtempSync(join(tmpdir(), 'sluice-keys-')), 'keys.json');
writeFileSync(
  keysFile,
  JSON.stringify({
    keys: [
      { id: 'fleet-a', sha256: sha('key-a'), produce: ['telemetry.*'], subscribe: ['telemetry.*'] },
      // The docs' own read-only key.
      { id: 'dashboards', sha256: sha('key-d'), produce: [], subscribe: ['telemetry.*'] },
    ],
  }),
);
const gateway = sluiceForFile(() => ({
  KAFKA_BOOTSTRAP_SERVERS: kafka,
  SLUICE_API_KEYS_FILE: keysFile,
  SLUICE_MAX_SUBSCRIPTIONS_PER_CONNECTION: '3',
  SLUICE_MAX_REPLAYS_PER_CONNECTION: '1',
  SLUICE_MAX_TOPICS_PER_CLIENT: '4',
  SLUICE_MAX_REPLAYS_PER_CLIENT: '8',
}));

/** Whether the cluster lists the topic: kcat's listing of every topic (asking for one topic by name would auto-create it). */
function topicListed(topic: string): boolean {
  const r = spawnSync('kcat', ['-b', kafka, '-L', '-J'], { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`kcat -L failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { topics: { topic: string }[] }).topics.some((t) => t.topic === topic);
}

const produce = async (topic: string, n: number, key = 'key-a') => {
  const body = Array.from({ length: n }, (_, i) => JSON.stringify({ n: i })).join('\n');
  const res = await postJson(`${gateway().url}/topics/${topic}`, body, 'application/x-ndjson', { 'x-api-key': key });
  expect(res.status, res.text).toBe(200);
};

/** Frames of one kind (an `event`) on a socket. */
const events = (s: RecordingSocket, event: string) =>
  s.frames.map((f) => JSON.parse(f) as { event?: string; error?: { code: string; limit?: string } }).filter((f) => f.event === event);

async function largestShares(): Promise<Record<string, number>> {
  const text = await (await fetch(`${gateway().url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^sluice_client_share_largest\{limit="([A-Z_]+)"\} (\S+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

describe('what a credential may create and take', () => {
  it('a key that may not produce creates no topic by subscribing (404, by URL, SSE, control message, group); one that may does', async () => {
    const topic = `telemetry.${randomTopic('absent')}`;
    const ws = `${gateway().wsUrl}/ws/topics/${topic}`;
    expect(await upgradeOutcome(`${ws}?api_key=key-d`)).toEqual({ status: 404, code: 'TOPIC_NOT_FOUND' });
    expect(await upgradeOutcome(`${ws}?api_key=key-d&group=g`)).toEqual({ status: 404, code: 'TOPIC_NOT_FOUND' });
    expect(await upgradeOutcome(`${ws}?api_key=key-d&from=earliest`)).toEqual({ status: 404, code: 'TOPIC_NOT_FOUND' });
    const sse = await fetch(`${gateway().url}/sse/topics/${topic}`, { headers: { 'x-api-key': 'key-d' } });
    expect(sse.status).toBe(404);
    expect(((await sse.json()) as { error: { code: string } }).error.code).toBe('TOPIC_NOT_FOUND');
    const bare = await connect(`${gateway().wsUrl}/ws?api_key=key-d`);
    bare.ws.send(JSON.stringify({ op: 'subscribe', topic }));
    await until(() => events(bare, 'error').length === 1, 'the error frame');
    expect(events(bare, 'error')[0].error?.code).toBe('TOPIC_NOT_FOUND');
    bare.ws.close();
    // A cluster that creates topics on first use (this one does) would have listed it within this time.
    for (let i = 0; i < 3; i++) {
      expect(topicListed(topic), `listed after check ${i}`).toBe(false);
      await new Promise((r) => setTimeout(r, 300));
    }
    // The key that may produce to it creates it by subscribing, as before; then the read-only key is served.
    const a = await connect(`${ws}?api_key=key-a`);
    await until(() => events(a, 'subscribed').length === 1, 'subscribed');
    expect(topicListed(topic)).toBe(true);
    expect(await upgradeOutcome(`${ws}?api_key=key-d`)).toEqual({ status: 101 });
    a.ws.close();
  });

  it('group=billing of one key and of another are different groups: each gets every record', async () => {
    const topic = `telemetry.${randomTopic('groups')}`;
    await produce(topic, 1);
    const a = await connect(`${gateway().wsUrl}/ws/topics/${topic}?api_key=key-a&group=billing`);
    const d = await connect(`${gateway().wsUrl}/ws/topics/${topic}?api_key=key-d&group=billing`);
    await until(() => events(a, 'subscribed').length === 1 && events(d, 'subscribed').length === 1, 'both subscribed');
    await new Promise((r) => setTimeout(r, 1000)); // both groups assigned before the records are written
    await produce(topic, 40);
    await until(() => records(a.frames).length >= 40 && records(d.frames).length >= 40, 'every record in both groups');
    expect(records(a.frames).map((f) => f.value.n)).toEqual(records(d.frames).map((f) => f.value.n));
    a.ws.close();
    d.ws.close();
  });

  it('one connection and one client exhaust their shares (429) while another client is served; the shares come back', async () => {
    const topics = Array.from({ length: 5 }, (_, i) => `telemetry.${randomTopic(`share${i}`)}`);
    for (const t of topics) await produce(t, 1);
    // Connection 1 of fleet-a: a replay, then a second replay (over its share of 1), then subscriptions up to 3, then a fourth.
    const c1 = await connect(`${gateway().wsUrl}/ws?api_key=key-a`);
    const subscribe = (s: RecordingSocket, topic: string, from = 'latest') => s.ws.send(JSON.stringify({ op: 'subscribe', topic, from }));
    subscribe(c1, topics[0], 'earliest');
    await until(() => events(c1, 'subscribed').length === 1, 'the replay');
    subscribe(c1, topics[1], 'earliest');
    await until(() => events(c1, 'error').length === 1, 'the replay refused');
    expect(events(c1, 'error')[0].error).toMatchObject({ code: 'CONNECTION_LIMIT', limit: 'SLUICE_MAX_REPLAYS_PER_CONNECTION' });
    subscribe(c1, topics[1]);
    subscribe(c1, topics[2]);
    await until(() => events(c1, 'subscribed').length === 3, 'three subscriptions');
    subscribe(c1, topics[3]);
    await until(() => events(c1, 'error').length === 2, 'the fourth refused');
    expect(events(c1, 'error')[1].error).toMatchObject({ code: 'CONNECTION_LIMIT', limit: 'SLUICE_MAX_SUBSCRIPTIONS_PER_CONNECTION' });
    // A second connection of the same key: a fourth topic is served, a fifth is over the client's share.
    expect(await upgradeOutcome(`${gateway().wsUrl}/ws/topics/${topics[3]}?api_key=key-a`)).toEqual({ status: 101 });
    const c2 = await connect(`${gateway().wsUrl}/ws/topics/${topics[3]}?api_key=key-a`);
    const over = await fetch(`${gateway().url}/sse/topics/${topics[4]}`, { headers: { 'x-api-key': 'key-a' } });
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await over.json()) as { error: { code: string; limit: string } }).error).toMatchObject({
      code: 'CLIENT_LIMIT',
      limit: 'SLUICE_MAX_TOPICS_PER_CLIENT',
    });
    // Another client (the other key) is still served on that topic, with a replay.
    const other = await connect(`${gateway().wsUrl}/ws/topics/${topics[4]}?api_key=key-d&from=earliest`);
    await until(() => records(other.frames).length === 1, "the other client's replayed record");
    expect(await largestShares()).toMatchObject({
      SLUICE_MAX_SUBSCRIPTIONS_PER_CONNECTION: 3,
      SLUICE_MAX_TOPICS_PER_CLIENT: 4,
    });
    for (const s of [c1, c2, other]) s.ws.close();
    // Every share given back once the clients left.
    let shares: Record<string, number> = {};
    for (let i = 0; i < 100; i++) {
      shares = await largestShares();
      if (Object.values(shares).every((n) => n === 0)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(Object.values(shares).length).toBe(5);
    expect(
      Object.values(shares).every((n) => n === 0),
      JSON.stringify(shares),
    ).toBe(true);
  });
});
