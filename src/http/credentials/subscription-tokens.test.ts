import { createHmac, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { CLOCK_TOLERANCE_S, SubscribeAuth, SubscriptionTokens } from './subscription-tokens.js';
import { chooseTokenVerifier as subscriptionTokens } from './token-verifier.js';
import { AccessControl, hashApiKey } from './api-keys.js';
import { readSubscribeOptions } from '../../subscription/subscribe-options.js';

const SECRET = Buffer.from('s'.repeat(32));
const jwt = (claims: object, alg = 'HS256', extraHeader: object = {}) => {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg, ...extraHeader })}.${enc(claims)}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
};
/** A correctly signed token whose header and payload are the JSON texts given (valid JSON, maybe no object). */
const signedRaw = (header: string, payload: string) => {
  const head = `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
};
let now = 1_000_000_000_000;
const tokens = new SubscriptionTokens({ alg: 'HS256', secret: SECRET }, () => now);
const auth = new SubscribeAuth(AccessControl.open(), tokens);
const exp = now / 1000 + 60;
const opts = (topic: string, q: Record<string, string> = {}) => readSubscribeOptions(topic, (n) => q[n]);

describe('SubscriptionTokens.verify', () => {
  it('accepts an HS256 token and reads its grant', async () => {
    expect(await tokens.verify(jwt({ exp, 'sluice.sub': [{ topic: 'orders', key: 'o-1' }] }))).toEqual({
      expiresAtMs: exp * 1000,
      entries: [{ topic: 'orders', keys: ['o-1'], where: null, conflateMs: null }],
    });
  });

  it('refuses other algorithms, tampering, missing claims and bad filters', async () => {
    const good = jwt({ exp, 'sluice.sub': [{ topic: 'orders' }] });
    const [h, , s] = good.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ exp, 'sluice.sub': [{ topic: '*' }] })).toString('base64url')}.${s}`;
    for (const bad of [
      jwt({ exp, 'sluice.sub': [] }, 'none'),
      jwt({ exp, 'sluice.sub': [] }, 'RS256'),
      forged,
      jwt({ 'sluice.sub': [] }),
      jwt({ exp }),
      jwt({ exp, 'sluice.sub': [{ topic: 't', where: 'no operator' }] }),
      'a.b',
      'not-a-token',
      signedRaw('{"alg":"HS256"}', 'null'),
      signedRaw('{"alg":"HS256"}', '42'),
      signedRaw('null', `{"exp":${exp},"sluice.sub":[]}`),
    ]) {
      await expect(tokens.verify(bad), bad).rejects.toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));
    }
    await expect(tokens.verify(jwt({ exp: now / 1000, 'sluice.sub': [] }))).rejects.toThrow(
      expect.objectContaining({ code: 'TOKEN_EXPIRED' }),
    );
  });

  describe('registered claims, as an identity provider expects them checked', () => {
    const checked = new SubscriptionTokens({ alg: 'HS256', secret: SECRET }, () => now, {
      audience: 'sluice',
      issuer: 'https://idp.example/',
      maxLifetimeSeconds: 3600,
    });
    const base = { exp, iat: now / 1000, aud: 'sluice', iss: 'https://idp.example/', sub: 'alice', 'sluice.sub': [{ topic: 'orders' }] };
    const refusal = async (token: string, why: RegExp) =>
      expect(checked.verify(token)).rejects.toThrow(
        expect.objectContaining({ code: 'TOKEN_INVALID', message: expect.stringMatching(why) }),
      );

    it('accepts a token that passes every check, with its subject; aud may be a list naming it', async () => {
      expect(await checked.verify(jwt(base))).toMatchObject({ subject: 'alice', entries: [{ topic: 'orders' }] });
      expect(await checked.verify(jwt({ ...base, aud: ['billing', 'sluice'] }))).toMatchObject({ subject: 'alice' });
    });

    it('refuses another audience, no audience, another issuer, no issuer', async () => {
      await refusal(jwt({ ...base, aud: 'billing' }), /"aud"/);
      await refusal(jwt({ ...base, aud: undefined }), /"aud"/);
      await refusal(jwt({ ...base, iss: 'https://evil.example/' }), /"iss"/);
      await refusal(jwt({ ...base, iss: undefined }), /"iss"/);
    });

    it('refuses nbf in the future past the clock tolerance, accepts it within', async () => {
      await refusal(jwt({ ...base, nbf: now / 1000 + CLOCK_TOLERANCE_S + 5 }), /"nbf"/);
      expect(await checked.verify(jwt({ ...base, nbf: now / 1000 + CLOCK_TOLERANCE_S - 5 }))).toMatchObject({ subject: 'alice' });
    });

    it('refuses a crit header, even one naming an extension jose knows', async () => {
      await refusal(jwt(base, 'HS256', { crit: ['exp'], exp }), /"crit"/);
      await refusal(jwt(base, 'HS256', { crit: ['b64'], b64: true }), /"crit"/);
    });

    it('refuses a lifetime over SLUICE_JWT_MAX_LIFETIME_S, from iat or (without iat) from now', async () => {
      await refusal(jwt({ ...base, iat: now / 1000 - 10, exp: now / 1000 + 3600 }), /SLUICE_JWT_MAX_LIFETIME_S=3600/);
      await refusal(jwt({ ...base, iat: undefined, exp: now / 1000 + 3700 }), /from now/);
      expect(await checked.verify(jwt({ ...base, iat: undefined, exp: now / 1000 + 3500 }))).toMatchObject({ subject: 'alice' });
    });

    it('without the settings, none of aud, iss or lifetime is checked (nbf and crit always are)', async () => {
      expect(await tokens.verify(jwt({ ...base, aud: 'billing', iss: 'x', exp: now / 1000 + 10 * 365 * 86400 }))).toMatchObject({
        subject: 'alice',
      });
      await expect(tokens.verify(jwt({ ...base, nbf: now / 1000 + 3600 }))).rejects.toThrow(/"nbf"/);
      await expect(tokens.verify(jwt(base, 'HS256', { crit: ['x'], x: 1 }))).rejects.toThrow(/"crit"/);
    });
  });
});

const authorizedGrant = await tokens.verify(
  jwt({ exp, 'sluice.sub': [{ topic: 'orders', key: 'o-1' }, { topic: 'alerts', where: 'level=high' }, { topic: 'all' }] }),
);
const subjectGrant = await tokens.verify(jwt({ exp, sub: 'alice', 'sluice.sub': [{ topic: 'all' }] }));

describe('SubscribeAuth.authorize', () => {
  const creds = { apiKey: '', grant: authorizedGrant };

  it('forces the key, ANDs the where, and leaves unrestricted topics alone', () => {
    expect(auth.authorize(creds, opts('orders'))).toMatchObject({ key: 'o-1', where: null });
    expect(auth.authorize(creds, opts('orders', { key: 'o-1' }))).toMatchObject({ key: 'o-1' });
    expect(auth.authorize(creds, opts('alerts', { where: 'site=x' }))).toMatchObject({ key: null, where: 'level=high,site=x' });
    expect(auth.authorize({ apiKey: '', grant: subjectGrant }, opts('all', { group: 'g' }))).toMatchObject({
      group: 'token:alice/g',
      key: null,
      where: null,
    });
  });

  it('groups are scoped per credential: a token by its sub (none: refused), a key by its id, open access not at all', () => {
    expect(() => auth.authorize(creds, opts('all', { group: 'g' }))).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN', message: expect.stringMatching(/"sub"/) }),
    );
    const dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'));
    const keys = join(dir, 'keys.json');
    writeFileSync(
      keys,
      JSON.stringify({
        keys: [
          { id: 'fleet-a', sha256: hashApiKey('ka'), produce: ['telemetry.*'], subscribe: ['telemetry.*'] },
          { id: 'dashboards', sha256: hashApiKey('kd'), produce: [], subscribe: ['telemetry.*'] },
        ],
      }),
    );
    const keyed = new SubscribeAuth(AccessControl.fromFile(keys), null);
    const a = { apiKey: 'ka', grant: null };
    const d = { apiKey: 'kd', grant: null };
    expect(keyed.authorize(a, opts('telemetry.x', { group: 'billing' }))).toMatchObject({ group: 'key:fleet-a/billing' });
    expect(keyed.authorize(d, opts('telemetry.x', { group: 'billing' }))).toMatchObject({ group: 'key:dashboards/billing' });
    const open = new SubscribeAuth(AccessControl.open(), null);
    expect(open.authorize({ apiKey: '', grant: null }, opts('telemetry.x', { group: 'billing' }))).toMatchObject({ group: 'billing' });
    // Creating by subscribing: only a credential that may produce to the topic.
    expect(keyed.mayCreate(a, 'telemetry.x')).toBe(true);
    expect(keyed.mayCreate(d, 'telemetry.x')).toBe(false);
    expect(keyed.mayCreate(a, 'other')).toBe(false);
    expect(open.mayCreate({ apiKey: '', grant: null }, 'anything')).toBe(true);
    expect(auth.mayCreate({ apiKey: '', grant: subjectGrant }, 'all')).toBe(false);
    // Who the client is, for per-client shares.
    expect(keyed.client(a, '10.0.0.1')).toBe('key:fleet-a');
    expect(open.client({ apiKey: '', grant: null }, '10.0.0.1')).toBe('addr:10.0.0.1');
    expect(auth.client({ apiKey: '', grant: subjectGrant }, '10.0.0.1')).toBe('token:alice');
    expect(auth.client(creds, '10.0.0.1')).toBe('addr:10.0.0.1');
  });

  it('refuses another key, another topic, group= on a filtered topic, and an expired grant', () => {
    expect(() => auth.authorize(creds, opts('orders', { key: 'o-2' }))).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    expect(() => auth.authorize(creds, opts('billing'))).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    expect(() => auth.authorize(creds, opts('alerts', { group: 'g' }))).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    now += 61_000;
    expect(() => auth.authorize(creds, opts('all'))).toThrow(expect.objectContaining({ code: 'TOKEN_EXPIRED' }));
    now -= 61_000;
  });

  it('an entry with several keys: any of them, all of them by default, none other; a conflate floor', async () => {
    const grant = await tokens.verify(
      jwt({
        exp,
        'sluice.sub': [
          { topic: 'pumps', keys: ['pump-2', 'pump-1', 'odd,key'] },
          { topic: 'chart', key: 'k', conflate: '1s' },
        ],
      }),
    );
    const c = { apiKey: '', grant };
    expect(grant.entries[0].keys).toEqual(['odd,key', 'pump-1', 'pump-2']);
    // A claim's key is exact: the comma in it is escaped in the key= text, not a separator.
    expect(auth.authorize(c, opts('pumps'))).toMatchObject({ key: 'odd\\,key,pump-1,pump-2' });
    expect(auth.authorize(c, opts('pumps', { key: 'pump-1' }))).toMatchObject({ key: 'pump-1' });
    expect(auth.authorize(c, opts('pumps', { key: 'pump-2,pump-1' }))).toMatchObject({ key: 'pump-1,pump-2' });
    expect(() => auth.authorize(c, opts('pumps', { key: 'pump-1,pump-3' }))).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN', message: expect.stringContaining('"pump-3"') }),
    );
    expect(auth.authorize(c, opts('chart'))).toMatchObject({ key: 'k', conflateMs: 1000 });
    expect(auth.authorize(c, opts('chart', { conflate: '200ms' }))).toMatchObject({ conflateMs: 1000 });
    expect(auth.authorize(c, opts('chart', { conflate: '5s' }))).toMatchObject({ conflateMs: 5000 });
    await expect(tokens.verify(jwt({ exp, 'sluice.sub': [{ topic: 't', keys: 'a' }] }))).rejects.toThrow(
      expect.objectContaining({ code: 'TOKEN_INVALID' }),
    );
    await expect(tokens.verify(jwt({ exp, 'sluice.sub': [{ topic: 't', conflate: 'soon' }] }))).rejects.toThrow(
      expect.objectContaining({ code: 'TOKEN_INVALID' }),
    );
  });

  it('without a token: 401, unless API keys are configured and one is presented', async () => {
    await expect(auth.admit({ apiKey: '', token: '' })).rejects.toThrow(expect.objectContaining({ code: 'UNAUTHORIZED' }));
    await expect(auth.admit({ apiKey: 'some-key', token: '' })).rejects.toThrow(expect.objectContaining({ code: 'UNAUTHORIZED' }));
  });

  it('without tokens configured, API keys decide as before', async () => {
    const open = new SubscribeAuth(AccessControl.open(), null);
    const p = open.presented(
      (h) => (h === 'authorization' ? 'Bearer k' : ''),
      () => undefined,
    );
    expect(p).toEqual({ apiKey: 'k', token: '' });
    expect(open.authorize(await open.admit(p), opts('x'))).toMatchObject({ topic: 'x' });
  });
});

describe('RS256 and ES256 tokens (public key file), signed with jose as an issuer would', () => {
  const keyFile = (pem: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'sluice-jwt-')), 'key.pem');
    writeFileSync(file, pem);
    return file;
  };
  const claims = { 'sluice.sub': [{ topic: 'orders', key: 'order-123' }] };
  for (const [alg, pair] of [
    ['RS256', generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['ES256', generateKeyPairSync('ec', { namedCurve: 'prime256v1' })],
  ] as const) {
    it(`${alg}: verifies with the public key; refuses another algorithm, another key, and HS256 keyed with the public key`, async () => {
      const file = keyFile(pair.publicKey.export({ type: 'spki', format: 'pem' }).toString());
      const verifier = SubscriptionTokens.fromPublicKeyFile(file);
      const good = await new SignJWT(claims).setProtectedHeader({ alg }).setExpirationTime('1h').sign(pair.privateKey);
      expect((await verifier.verify(good)).entries).toEqual([{ topic: 'orders', keys: ['order-123'], where: null, conflateMs: null }]);
      const other = generateKeyPairSync(
        alg === 'RS256' ? 'rsa' : 'ec',
        alg === 'RS256' ? { modulusLength: 2048 } : ({ namedCurve: 'prime256v1' } as never),
      );
      const forged = await new SignJWT(claims).setProtectedHeader({ alg }).setExpirationTime('1h').sign(other.privateKey);
      await expect(verifier.verify(forged)).rejects.toThrow(/signature does not verify/);
      // Algorithm confusion: an HS256 token whose HMAC key is the public key's PEM text.
      const pem = Buffer.from(pair.publicKey.export({ type: 'spki', format: 'pem' }).toString());
      const confused = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(pem);
      await expect(verifier.verify(confused)).rejects.toThrow(new RegExp(`not accepted \\(${alg}\\)`));
      const expired = await new SignJWT(claims)
        .setProtectedHeader({ alg })
        .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
        .sign(pair.privateKey);
      await expect(verifier.verify(expired)).rejects.toThrow(/expired/);
    });
  }

  it('a key file that is not an RSA or P-256 public key stops start-up naming the setting; two settings at once too', () => {
    const ed = generateKeyPairSync('ed25519');
    expect(() => SubscriptionTokens.fromPublicKeyFile(keyFile(ed.publicKey.export({ type: 'spki', format: 'pem' }).toString()))).toThrow(
      /SLUICE_JWT_PUBLIC_KEY_FILE: .* RSA \(RS256\) or P-256/,
    );
    expect(() => SubscriptionTokens.fromPublicKeyFile(keyFile('not a key'))).toThrow(
      /SLUICE_JWT_PUBLIC_KEY_FILE: cannot read a PEM public key/,
    );
    expect(() => SubscriptionTokens.fromFiles('/a', '/b')).toThrow(/set one, not both/);
    const none = { jwtSecretFile: '', jwtPublicKeyFile: '', jwtJwksUrl: '', jwtJwksCooldownSeconds: 30 };
    expect(() => subscriptionTokens({ ...none, jwtSecretFile: '/a', jwtJwksUrl: 'https://idp.example/jwks.json' })).toThrow(
      /SLUICE_JWT_SECRET_FILE and SLUICE_JWT_JWKS_URL: set one/,
    );
    expect(() => subscriptionTokens({ ...none, jwtPublicKeyFile: '/b', jwtJwksUrl: 'https://idp.example/jwks.json' })).toThrow(
      /SLUICE_JWT_PUBLIC_KEY_FILE and SLUICE_JWT_JWKS_URL: set one/,
    );
    expect(subscriptionTokens(none)).toBeNull();
  });
});
