/**
 * Signed subscriptions verified against a JWKS URL (SLUICE_JWT_JWKS_URL), against the real broker. The JWKS
 * is served by a small HTTP server in this test (keys made with jose), which can rotate keys, go down, or
 * hold its answer while clients leave. SLUICE_JWT_JWKS_COOLDOWN_S=0 so every unknown `kid` is fetched again.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { hmacJwt, inSeconds, produceKeyed, records, until } from './helpers/token-subscriptions.js';
import { connect, upgradeOutcome } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';

const kafka = inject('kafkaBootstrap');
const AUDIENCE = 'sluice-test';
const ISSUER = 'https://idp.test/';

// ---- the identity provider's key set ----

interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  jwk: JWK;
}
async function signingKey(kid: string, alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

const jwks = {
  published: [] as SigningKey[],
  /** `up`: the set; `down`: the connection is dropped; `hold`: answers wait for `release()`. */
  mode: 'up' as 'up' | 'down' | 'hold',
  fetches: 0,
  held: [] as ServerResponse[],
  answer(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.published.map((k) => k.jwk) }));
  },
  release(): void {
    this.mode = 'up';
    for (const res of this.held.splice(0)) this.answer(res);
  },
};
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  jwks.fetches++;
  if (jwks.mode === 'down') req.socket.destroy();
  else if (jwks.mode === 'hold') jwks.held.push(res);
  else jwks.answer(res);
});
let jwksUrl = '';
let k1: SigningKey;
let k2: SigningKey;
let unpublished: SigningKey;
beforeAll(async () => {
  [k1, k2, unpublished] = await Promise.all([signingKey('k1', 'RS256'), signingKey('k2', 'ES256'), signingKey('k-never', 'RS256')]);
  jwks.published = [k1];
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

// One thread serving HTTP: each ingress thread keeps its own key cache (documented), and the rotation and
// outage cases below assert what one cache holds.
const gateway = sluiceForFile(() => ({
  KAFKA_BOOTSTRAP_SERVERS: kafka,
  SLUICE_JWT_JWKS_URL: jwksUrl,
  SLUICE_JWT_JWKS_COOLDOWN_S: '0',
  SLUICE_INGRESS_THREADS: '0',
  SLUICE_JWT_AUDIENCE: AUDIENCE,
  SLUICE_JWT_ISSUER: ISSUER,
  SLUICE_JWT_MAX_LIFETIME_S: '3600',
}));

/** A token as the identity provider mints it for Sluice (its `aud` and `iss`); `claims` may override them. */
function token(key: SigningKey, claims: object, kid = key.kid, header: object = {}): Promise<string> {
  return new SignJWT({ aud: AUDIENCE, iss: ISSUER, ...claims }).setProtectedHeader({ alg: key.alg, kid, ...header }).sign(key.privateKey);
}
const grant = (topic: string, extra: object = {}, expSeconds = 300) => ({
  exp: inSeconds(expSeconds),
  'sluice.sub': [{ topic, ...extra }],
});

/** sluice_subscriptions (summed over state and transport) and sluice_kafka_consumers (per role). */
async function holdings(): Promise<string> {
  const text = await (await fetch(`${gateway().url}/metrics`)).text();
  let subscriptions = 0;
  const consumers: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^(sluice_subscriptions|sluice_kafka_consumers)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'sluice_subscriptions') subscriptions += Number(m[3]);
    else consumers.push(`${m[2]}=${m[3]}`);
  }
  return `subscriptions=${subscriptions} consumers=${consumers.sort().join(',')}`;
}

describe('signed subscriptions with a JWKS URL', () => {
  it("a token signed by a published key reads only its claims' topic and key; other algorithms and unknown keys are refused", async () => {
    const topic = randomTopic('orders');
    await produceKeyed(gateway().url, topic, 'order-1', 1);
    await produceKeyed(gateway().url, topic, 'order-2', 2);
    const t = await token(k1, grant(topic, { key: 'order-1' }));
    const ws = await connect(`${gateway().wsUrl}/ws/topics/${topic}?from=earliest&token=${t}`);
    const sse = await openSse(`${gateway().url}/sse/topics/${topic}?from=earliest`, { authorization: `Bearer ${t}` });
    await until(() => records(ws.frames).length >= 1 && sse.events.filter((e) => e.event === 'message').length >= 1, 'the replayed record');
    await produceKeyed(gateway().url, topic, 'order-2', 3);
    await produceKeyed(gateway().url, topic, 'order-1', 4);
    const sseRecords = () => sse.events.filter((e) => e.event === 'message');
    await until(() => records(ws.frames).length >= 2 && sseRecords().length >= 2, 'the live record');
    await new Promise((r) => setTimeout(r, 300)); // order-2's records would have arrived by now
    expect(records(ws.frames).map((f) => [f.key, f.value.n])).toEqual([
      ['order-1', 1],
      ['order-1', 4],
    ]);
    expect(sseRecords().map((e) => (JSON.parse(e.data) as { value: { n: number } }).value.n)).toEqual([1, 4]);
    ws.ws.close();
    sse.close();

    const at = (tk: string, q = '') => upgradeOutcome(`${gateway().wsUrl}/ws/topics/${topic}?token=${tk}${q}`);
    expect(await at(t, '&key=order-2')).toEqual({ status: 403, code: 'FORBIDDEN' });
    expect(await at(await token(k1, grant(`${topic}-x`)))).toEqual({ status: 403, code: 'FORBIDDEN' });
    // HS256 keyed with the published public key (the algorithm-confusion forgery), and alg none.
    expect(await at(hmacJwt(grant(topic), JSON.stringify(k1.jwk)))).toEqual({ status: 401, code: 'TOKEN_INVALID' });
    expect(await at(hmacJwt(grant(topic), 'x', 'none'))).toEqual({ status: 401, code: 'TOKEN_INVALID' });
    // Signed by a key the issuer never published: under its own kid, and under a published one.
    expect(await at(await token(unpublished, grant(topic))), 'unknown kid, JWKS reachable').toEqual({ status: 401, code: 'TOKEN_INVALID' });
    expect(await at(await token(unpublished, grant(topic), 'k1'))).toEqual({ status: 401, code: 'TOKEN_INVALID' });
  });

  it('registered claims: another audience or issuer, none, nbf ahead, crit, and a lifetime over the maximum are refused (401)', async () => {
    const topic = randomTopic('claims');
    await produceKeyed(gateway().url, topic, 'a', 1);
    // A bare /ws checks the token and follows no topic: no live feed left lingering for the next test's baseline.
    const at = async (tk: string) => upgradeOutcome(`${gateway().wsUrl}/ws?token=${tk}`);
    const refusedSse = async (tk: string) => {
      const res = await fetch(`${gateway().url}/sse/topics/${topic}`, { headers: { authorization: `Bearer ${tk}` } });
      return { status: res.status, body: (await res.json()) as { error: { code: string; message: string } } };
    };
    const ok = await token(k1, grant(topic));
    expect(await at(ok)).toEqual({ status: 101 });
    expect(await at(await token(k1, { ...grant(topic), aud: ['billing', AUDIENCE] }))).toEqual({ status: 101 });
    const now = Math.floor(Date.now() / 1000);
    for (const [claims, why] of [
      [{ ...grant(topic), aud: 'billing' }, /"aud"/],
      [{ ...grant(topic), aud: undefined }, /"aud"/],
      [{ ...grant(topic), iss: 'https://other-idp.test/' }, /"iss"/],
      [{ ...grant(topic), iss: undefined }, /"iss"/],
      [{ ...grant(topic), nbf: now + 600 }, /"nbf"/],
      [{ ...grant(topic, {}, 7200), iat: now }, /SLUICE_JWT_MAX_LIFETIME_S=3600/],
      [grant(topic, {}, 7200), /SLUICE_JWT_MAX_LIFETIME_S=3600/],
    ] as const) {
      const tk = await token(k1, claims);
      expect(await at(tk), JSON.stringify(claims)).toEqual({ status: 401, code: 'TOKEN_INVALID' });
      const sse = await refusedSse(tk);
      expect(sse.status).toBe(401);
      expect(sse.body.error.message).toMatch(why);
    }
    // `b64` is the one extension jose itself understands; Sluice refuses every `crit` all the same.
    const crit = await token(k1, grant(topic), 'k1', { crit: ['b64'], b64: true });
    expect(await at(crit)).toEqual({ status: 401, code: 'TOKEN_INVALID' });
  });

  it('key rotation: a token of a newly published key is accepted once the set is fetched again', async () => {
    const topic = randomTopic('rotate');
    await produceKeyed(gateway().url, topic, 'a', 1);
    const t = await token(k2, grant(topic));
    expect(await upgradeOutcome(`${gateway().wsUrl}/ws/topics/${topic}?token=${t}`)).toEqual({ status: 401, code: 'TOKEN_INVALID' });
    jwks.published = [k1, k2];
    const before = jwks.fetches;
    const ws = await connect(`${gateway().wsUrl}/ws/topics/${topic}?from=earliest&token=${t}`);
    await until(() => records(ws.frames).length >= 1, 'the record');
    expect(jwks.fetches).toBeGreaterThan(before);
    ws.ws.close();
    // The retired key's tokens stop working once the set without it is fetched.
    jwks.published = [k2];
    expect(
      await upgradeOutcome(`${gateway().wsUrl}/ws/topics/${topic}?token=${await token(unpublished, grant(topic), 'k-new')}`),
    ).toMatchObject({ status: 401 });
    expect(await upgradeOutcome(`${gateway().wsUrl}/ws/topics/${topic}?token=${await token(k1, grant(topic))}`)).toEqual({
      status: 401,
      code: 'TOKEN_INVALID',
    });
    jwks.published = [k1, k2];
  });

  it('JWKS down: a token whose key is not cached gets 503 TOKEN_KEYS_UNAVAILABLE with Retry-After; a cached key still works', async () => {
    const topic = randomTopic('down');
    await produceKeyed(gateway().url, topic, 'a', 1);
    jwks.published = [k1, k2];
    const k3 = await signingKey('k3', 'ES256');
    const cached = await token(k2, grant(topic));
    expect(await upgradeOutcome(`${gateway().wsUrl}/ws/topics/${topic}?token=${cached}`)).toEqual({ status: 101 }); // k2 is in the cached set
    jwks.mode = 'down';
    try {
      const t = await token(k3, grant(topic));
      expect(await upgradeOutcome(`${gateway().wsUrl}/ws/topics/${topic}?token=${t}`)).toEqual({
        status: 503,
        code: 'TOKEN_KEYS_UNAVAILABLE',
      });
      const res = await fetch(`${gateway().url}/sse/topics/${topic}`, { headers: { authorization: `Bearer ${t}` } });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await res.json()) as { error: { code: string; retriable: boolean } }).error).toMatchObject({
        code: 'TOKEN_KEYS_UNAVAILABLE',
        retriable: true,
      });
      expect(await upgradeOutcome(`${gateway().wsUrl}/ws/topics/${topic}?token=${cached}`)).toEqual({ status: 101 });
    } finally {
      jwks.mode = 'up';
    }
  });

  it('an expired token is refused with 401 TOKEN_EXPIRED; one that expires while connected closes the WebSocket with 4001', async () => {
    const topic = randomTopic('exp');
    await produceKeyed(gateway().url, topic, 'a', 1);
    expect(await upgradeOutcome(`${gateway().wsUrl}/ws/topics/${topic}?token=${await token(k1, grant(topic, {}, -10))}`)).toEqual({
      status: 401,
      code: 'TOKEN_EXPIRED',
    });
    const ws = await connect(`${gateway().wsUrl}/ws/topics/${topic}?token=${await token(k1, grant(topic, {}, 2))}`);
    const closed = await ws.closed;
    expect(closed.code).toBe(4001);
    expect(closed.reason).toMatch(/TOKEN_EXPIRED/);
  });

  it('clients that leave while their token waits for the JWKS leave nothing behind', async () => {
    const topic = randomTopic('leave');
    await produceKeyed(gateway().url, topic, 'a', 1);
    const baseline = await holdings();
    const k4 = await signingKey('k4', 'RS256');
    const t = await token(k4, grant(topic));
    jwks.mode = 'hold';
    const fetchesBefore = jwks.fetches;
    // A replay (a Kafka consumer of its own) by WebSocket and a live SSE stream, both waiting on the fetch.
    const ws = new WebSocket(`${gateway().wsUrl}/ws/topics/${topic}?from=earliest&token=${t}`);
    ws.on('error', () => {});
    const sseAbort = new AbortController();
    const sse = fetch(`${gateway().url}/sse/topics/${topic}?from=earliest`, {
      headers: { authorization: `Bearer ${t}` },
      signal: sseAbort.signal,
    }).catch(() => null);
    await until(() => jwks.held.length >= 1 && jwks.fetches > fetchesBefore, 'the gateway to fetch the JWKS');
    await new Promise((r) => setTimeout(r, 200)); // both requests reach the gateway (they share the one fetch)
    ws.terminate();
    sseAbort.abort();
    await sse;
    await new Promise((r) => setTimeout(r, 200)); // the gateway sees both connections close
    jwks.published = [k1, k2, k4];
    jwks.release();
    // Once a bare /ws with the same token is admitted, the fetch the leavers waited on has been answered and
    // their verification went on past it.
    const probe = await connect(`${gateway().wsUrl}/ws?token=${t}`);
    probe.ws.close();
    expect(await holdings()).toBe(baseline);
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      expect(await holdings()).toBe(baseline);
      await new Promise((r) => setTimeout(r, 250));
    }
    // And the gateway still serves that token.
    const again = await connect(`${gateway().wsUrl}/ws/topics/${topic}?from=earliest&token=${t}`);
    await until(() => records(again.frames).length >= 1, 'the record');
    again.ws.close();
  });
});
