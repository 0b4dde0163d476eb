/**
 * Signed subscriptions against the real broker: a JWT (HS256, made here) scoped to one key of a topic sees
 * only that key's records — live, replayed, by URL, by control message and over SSE — and an expired
 * token closes the connection with 4001.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { hmacJwt, inSeconds, produceKeyed, records, until, type Frame } from './helpers/token-subscriptions.js';
import { connect } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';

const kafka = inject('kafkaBootstrap');
const SECRET = 'a-test-secret-of-at-least-32-bytes-long!';
const secretFile = join(mkdtempSync(join(tmpdir(), 'sluice-jwt-')), 'secret');
writeFileSync(secretFile, `${SECRET}\n`);
const gateway = sluiceForFile(() => ({
  KAFKA_BOOTSTRAP_SERVERS: kafka,
  SLUICE_JWT_SECRET_FILE: secretFile,
  SLUICE_JWT_MAX_LIFETIME_S: '3600',
}));

const jwt = (claims: object, secret = SECRET, alg = 'HS256') => hmacJwt(claims, secret, alg);
const produce = (topic: string, key: string, n: number) => produceKeyed(gateway().url, topic, key, n);

describe('signed subscriptions', () => {
  it('a token for one key gets only that key, replayed and live, by URL (?token=) and by control message', async () => {
    const topic = randomTopic('orders');
    const other = randomTopic('other');
    await produce(topic, 'order-123', 1);
    await produce(topic, 'order-456', 2);
    const token = jwt({ exp: inSeconds(300), 'sluice.sub': [{ topic, key: 'order-123' }] });
    // No key in the URL: the token forces it, also for the replay from earliest.
    const byUrl = await connect(`${gateway().wsUrl}/ws/topics/${topic}?from=earliest&token=${token}`);
    const byMessage = await connect(`${gateway().wsUrl}/ws?token=${token}`);
    byMessage.ws.send(JSON.stringify({ op: 'subscribe', topic, from: 'earliest' }));
    byMessage.ws.send(JSON.stringify({ op: 'subscribe', topic: other }));
    await until(() => records(byUrl.frames).length >= 1 && records(byMessage.frames).length >= 1, 'the replayed record');
    await produce(topic, 'order-456', 3);
    await produce(topic, 'order-123', 4);
    await until(() => records(byUrl.frames).length >= 2 && records(byMessage.frames).length >= 2, 'the live record');
    await new Promise((r) => setTimeout(r, 300));
    for (const s of [byUrl, byMessage]) {
      expect(records(s.frames).map((f) => [f.key, f.value.n])).toEqual([
        ['order-123', 1],
        ['order-123', 4],
      ]);
    }
    const refused = byMessage.frames.map((f) => JSON.parse(f) as Frame).find((f) => f.event === 'error');
    expect(refused?.error?.code).toBe('FORBIDDEN');
    for (const s of [byUrl, byMessage]) s.ws.close();
  });

  it('refuses another key, another topic, group=, no token, a bad signature, alg none and an expired token', async () => {
    const topic = randomTopic('orders');
    await produce(topic, 'order-1', 1);
    const token = jwt({ exp: inSeconds(300), 'sluice.sub': [{ topic, key: 'order-1' }] });
    const status = async (url: string) =>
      connect(url).then(
        (s) => (s.ws.close(), 101),
        (e: { status: number }) => e.status,
      );
    expect(await status(`${gateway().wsUrl}/ws/topics/${topic}?key=order-2&token=${token}`)).toBe(403);
    expect(await status(`${gateway().wsUrl}/ws/topics/${topic}-x?token=${token}`)).toBe(403);
    expect(await status(`${gateway().wsUrl}/ws/topics/${topic}?group=g1&token=${token}`)).toBe(403);
    expect(await status(`${gateway().wsUrl}/ws/topics/${topic}`)).toBe(401);
    expect(
      await status(
        `${gateway().wsUrl}/ws/topics/${topic}?token=${jwt({ exp: inSeconds(300), 'sluice.sub': [{ topic }] }, 'x'.repeat(40))}`,
      ),
    ).toBe(401);
    const none = jwt({ exp: inSeconds(300), 'sluice.sub': [{ topic }] }, SECRET, 'none');
    expect(await status(`${gateway().wsUrl}/ws/topics/${topic}?token=${none}`)).toBe(401);
    expect(await status(`${gateway().wsUrl}/ws/topics/${topic}?token=${jwt({ exp: inSeconds(-10), 'sluice.sub': [{ topic }] })}`)).toBe(
      401,
    );
    const sse = await fetch(`${gateway().url}/sse/topics/${topic}`, {
      headers: { authorization: `Bearer ${jwt({ exp: inSeconds(-10), 'sluice.sub': [{ topic }] })}` },
    });
    expect(sse.status).toBe(401);
    expect(((await sse.json()) as { error: { code: string } }).error.code).toBe('TOKEN_EXPIRED');
  });

  it('refuses nbf ahead, a crit header and a lifetime over SLUICE_JWT_MAX_LIFETIME_S; accepts nbf within the clock tolerance', async () => {
    const topic = randomTopic('claims');
    await produce(topic, 'a', 1);
    const now = Math.floor(Date.now() / 1000);
    const code = async (token: string) => {
      const res = await fetch(`${gateway().url}/sse/topics/${topic}`, { headers: { authorization: `Bearer ${token}` } });
      if (res.status === 200) {
        await res.body?.cancel();
        return '200';
      }
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      return `${res.status} ${error.code} ${error.message}`;
    };
    const grant = { exp: now + 300, 'sluice.sub': [{ topic }] };
    expect(await code(jwt({ ...grant, nbf: now + 5 }))).toBe('200');
    expect(await code(jwt({ ...grant, nbf: now + 600 }))).toMatch(/^401 TOKEN_INVALID .*"nbf"/);
    expect(await code(jwt({ ...grant, exp: now + 7200 }))).toMatch(/^401 TOKEN_INVALID .*SLUICE_JWT_MAX_LIFETIME_S=3600/);
    expect(await code(jwt({ ...grant, iat: now - 3600 }))).toMatch(/^401 TOKEN_INVALID .*SLUICE_JWT_MAX_LIFETIME_S=3600/);
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const head = `${enc({ alg: 'HS256', crit: ['exp'] })}.${enc(grant)}`;
    const crit = `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
    expect(await code(crit)).toMatch(/^401 TOKEN_INVALID .*"crit"/);
  });

  it("SSE with Authorization: Bearer gets only the token's key", async () => {
    const topic = randomTopic('orders');
    await produce(topic, 'a', 1);
    await produce(topic, 'b', 2);
    await produce(topic, 'a', 3);
    const token = jwt({ exp: inSeconds(300), 'sluice.sub': [{ topic, key: 'a' }] });
    const sse = await openSse(`${gateway().url}/sse/topics/${topic}?from=earliest`, { authorization: `Bearer ${token}` });
    await until(() => sse.events.filter((e) => e.event === 'message').length >= 2, 'two records');
    await new Promise((r) => setTimeout(r, 300));
    expect(sse.events.filter((e) => e.event === 'message').map((e) => (JSON.parse(e.data) as Frame).value.n)).toEqual([1, 3]);
    sse.close();
  });

  it('a token that expires while connected closes the WebSocket with 4001 and the SSE stream with TOKEN_EXPIRED', async () => {
    const topic = randomTopic('orders');
    await produce(topic, 'a', 1);
    const token = jwt({ exp: inSeconds(2), 'sluice.sub': [{ topic }] });
    const ws = await connect(`${gateway().wsUrl}/ws/topics/${topic}?token=${token}`);
    const sse = await openSse(`${gateway().url}/sse/topics/${topic}`, { authorization: `Bearer ${token}` });
    const closed = await ws.closed;
    expect(closed.code).toBe(4001);
    expect(closed.reason).toMatch(/TOKEN_EXPIRED/);
    await sse.ended;
    expect(sse.events.some((e) => e.event === 'error' && e.data.includes('TOKEN_EXPIRED'))).toBe(true);
  });
});
