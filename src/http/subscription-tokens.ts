/**
 * Signed subscriptions: a JWT (HS256 with a shared secret from SLUICE_JWT_SECRET_FILE, or RS256/ES256 with the public
 * key in SLUICE_JWT_PUBLIC_KEY_FILE) on a WebSocket or SSE
 * request (`Authorization: Bearer <jwt>` or `?token=<jwt>` for browsers) names what its holder may read:
 *   {"exp": 1767225600, "sluice.sub": [{"topic": "orders", "key": "order-123"}, {"topic": "alerts", "where": "level=high"}]}
 * An entry may name several keys (`"keys": ["pump-1", "pump-2"]`): the subscription may ask for any of them
 * (`key=pump-1` or `key=pump-1,pump-2`), and without `key=` gets all of them; and a minimum conflation
 * interval (`"conflate": "1s"`): the subscription's `conflate=` is at least that.
 * The claims are enforced on the server for every subscription — in the URL, by control message, and so
 * for every replay (a replay reads through the subscription's filter): an entry with `key` forces the
 * subscription's `key=` filter (another key is refused), an entry with `where` is ANDed with the
 * client's own `where`, and a filtered entry cannot be used with `group=` (groups do not filter).
 * `exp` (seconds since the epoch) is required; at expiry the connection is closed with 4001 (WebSocket) or
 * an `event: error` `TOKEN_EXPIRED` (SSE).
 *
 * With one of SLUICE_JWT_SECRET_FILE, SLUICE_JWT_PUBLIC_KEY_FILE or SLUICE_JWT_JWKS_URL set (exactly one:
 * they do not combine), every subscription needs a valid token, or a valid API key when SLUICE_API_KEYS_FILE
 * is set too (an API key's subscribe patterns apply as before). A secret or a key file is verified here with
 * node:crypto, synchronously; a JWKS URL by `jwks-tokens.ts`, asynchronously (the key may have to be fetched).
 */
import { createHmac, createPublicKey, timingSafeEqual, verify as verifySignature, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SluiceError, StartupError } from '../errors.js';
import { joinKeyList, MAX_KEYS_PER_FILTER, parseKeyList, parseRecordFilter } from '../subscription/record-filter.js';
import { parseConflate, type SubscribeOptions } from '../subscription/subscribe-options.js';
import { presentedKey, type AccessControl } from './access-control.js';

/** WebSocket close code for a subscription token that expired while connected (4000–4999: application codes). */
export const CLOSE_TOKEN_EXPIRED = 4001;

export interface GrantEntry {
  topic: string;
  /** The keys the entry allows (`key` or `keys` of the claim); null: any key. */
  keys: string[] | null;
  where: string | null;
  /** The least `conflate=` interval in ms (`conflate` of the claim); null: none forced. */
  conflateMs: number | null;
}

export interface Grant {
  /** Expiry, epoch milliseconds. */
  expiresAtMs: number;
  entries: GrantEntry[];
}

/** What a request presented: an API key, and/or a token. */
export interface Credentials {
  apiKey: string;
  grant: Grant | null;
}

const b64url = (s: string) => Buffer.from(s, 'base64url');
const looksLikeJwt = (s: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(s);

/** How tokens are signed: an HS256 shared secret, or an RSA (RS256) or P-256 EC (ES256) public key. */
export type TokenKey = { alg: 'HS256'; secret: Buffer } | { alg: 'RS256' | 'ES256'; publicKey: KeyObject };

/** Verifies a token into its grant: synchronously (a secret or key file) or once its key is at hand (a JWKS URL). */
export interface TokenVerifier {
  verify(token: string): Grant | Promise<Grant>;
  readonly clock: () => number;
}

export class SubscriptionTokens implements TokenVerifier {
  constructor(
    private readonly key: TokenKey,
    private readonly now: () => number = Date.now,
  ) {}

  /** The secret file (HS256) or the public key file (RS256/ES256, by the key's type); exactly one is set. */
  static fromFiles(secretFile: string, publicKeyFile: string): SubscriptionTokens {
    if (secretFile && publicKeyFile) throw new StartupError('SLUICE_JWT_SECRET_FILE and SLUICE_JWT_PUBLIC_KEY_FILE: set one, not both');
    return publicKeyFile ? SubscriptionTokens.fromPublicKeyFile(publicKeyFile) : SubscriptionTokens.fromFile(secretFile);
  }

  static fromFile(path: string): SubscriptionTokens {
    let text: string;
    try {
      text = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new StartupError(`SLUICE_JWT_SECRET_FILE: cannot read ${path}: ${(err as Error).message}`);
    }
    if (Buffer.byteLength(text) < 32)
      throw new StartupError(`SLUICE_JWT_SECRET_FILE: ${path} must hold at least 32 bytes (an HS256 secret)`);
    return new SubscriptionTokens({ alg: 'HS256', secret: Buffer.from(text) });
  }

  static fromPublicKeyFile(path: string): SubscriptionTokens {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey(readFileSync(path));
    } catch (err) {
      throw new StartupError(`SLUICE_JWT_PUBLIC_KEY_FILE: cannot read a PEM public key from ${path}: ${(err as Error).message}`);
    }
    if (publicKey.asymmetricKeyType === 'rsa') return new SubscriptionTokens({ alg: 'RS256', publicKey });
    if (publicKey.asymmetricKeyType === 'ec' && publicKey.asymmetricKeyDetails?.namedCurve === 'prime256v1')
      return new SubscriptionTokens({ alg: 'ES256', publicKey });
    throw new StartupError(`SLUICE_JWT_PUBLIC_KEY_FILE: ${path} must hold an RSA (RS256) or P-256 EC (ES256) public key`);
  }

  private signatureVerifies(signed: string, signature: Buffer): boolean {
    const k = this.key;
    if (k.alg === 'HS256') {
      const expected = createHmac('sha256', k.secret).update(signed).digest();
      return signature.length === expected.length && timingSafeEqual(signature, expected);
    }
    // JWS ES256 signatures are r||s (IEEE P1363), not DER.
    return verifySignature(
      'sha256',
      Buffer.from(signed),
      k.alg === 'ES256' ? { key: k.publicKey, dsaEncoding: 'ieee-p1363' } : k.publicKey,
      signature,
    );
  }

  /** Checks signature, algorithm, expiry and claims; throws TOKEN_INVALID / TOKEN_EXPIRED. */
  verify(token: string): Grant {
    const parts = token.split('.');
    if (parts.length !== 3) throw invalid('not a JWT');
    let header: { alg?: unknown } | null;
    let claims: unknown;
    try {
      header = JSON.parse(b64url(parts[0]).toString('utf8'));
      claims = JSON.parse(b64url(parts[1]).toString('utf8'));
    } catch {
      throw invalid('its header or payload is not base64url JSON');
    }
    // Only the algorithm of the configured key: never `none`, and never HS256 with a public key as its
    // "secret" (the classic algorithm-confusion forgery).
    if (header?.alg !== this.key.alg) throw invalid(`algorithm ${JSON.stringify(header?.alg)} is not accepted (${this.key.alg})`);
    if (!this.signatureVerifies(`${parts[0]}.${parts[1]}`, b64url(parts[2]))) throw invalid('the signature does not verify');
    return grantOf(claims, this.now());
  }

  get clock(): () => number {
    return this.now;
  }
}

/** The grant a verified token's claims give: `exp` (required, in the future) and the `sluice.sub` entries. */
export function grantOf(payload: unknown, nowMs: number): Grant {
  // A payload of `null`, a number or a string is valid JSON but no claims: a bad token (401), not a crash (500).
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw invalid('its payload is not a JSON object');
  const claims = payload as Record<string, unknown>;
  if (typeof claims.exp !== 'number') throw invalid('it has no "exp" claim');
  const expiresAtMs = claims.exp * 1000;
  if (expiresAtMs <= nowMs) throw new SluiceError('TOKEN_EXPIRED', 'the subscription token has expired; get a new one');
  const sub = claims['sluice.sub'];
  if (!Array.isArray(sub)) throw invalid('it has no "sluice.sub" claim (an array of {"topic", "key"?, "keys"?, "where"?, "conflate"?})');
  const entries = sub.map((e: unknown): GrantEntry => {
    const o = e as Record<string, unknown> | null;
    if (o === null || typeof o !== 'object' || typeof o.topic !== 'string') throw invalid('each "sluice.sub" entry needs a "topic"');
    const keys = grantKeys(o);
    const where = typeof o.where === 'string' && o.where !== '' ? o.where : null;
    let conflateMs: number | null = null;
    try {
      // A claim's key is one exact key (a comma in it is no separator): escaped into a key list.
      parseRecordFilter(keys ? joinKeyList(keys) : null, where);
      if (typeof o.conflate === 'string' && o.conflate !== '') conflateMs = parseConflate(o.conflate);
    } catch (err) {
      throw invalid(`an entry's filter does not parse: ${(err as Error).message}`);
    }
    return { topic: o.topic, keys, where, conflateMs };
  });
  return { expiresAtMs, entries };
}

/** An entry's keys: `"key": "k"` (one) and/or `"keys": ["a", "b"]`; null when it names none. */
function grantKeys(o: Record<string, unknown>): string[] | null {
  const keys: string[] = [];
  if (typeof o.key === 'string' && o.key !== '') keys.push(o.key);
  if (o.keys !== undefined) {
    if (!Array.isArray(o.keys) || !o.keys.every((k) => typeof k === 'string' && k !== ''))
      throw invalid('"keys" of a "sluice.sub" entry must be an array of non-empty strings');
    keys.push(...(o.keys as string[]));
  }
  if (keys.length > MAX_KEYS_PER_FILTER) throw invalid(`an entry names more than ${MAX_KEYS_PER_FILTER} keys`);
  return keys.length > 0 ? [...new Set(keys)].sort() : null;
}

export function invalid(why: string): SluiceError {
  return new SluiceError('TOKEN_INVALID', `the subscription token is not valid: ${why}`);
}

/**
 * The one place subscriptions are authorized: API keys, tokens, or both. `admit` runs before an upgrade
 * or SSE stream and returns the credentials the connection keeps; `authorize` runs for every
 * subscription (URL or control message) and returns the options to use (with the token's filters forced).
 */
export class SubscribeAuth {
  constructor(
    private readonly access: AccessControl,
    private readonly tokens: TokenVerifier | null,
  ) {}

  /** Reads credentials from the request (synchronously: uWS's req is only valid in the handler). */
  presented(header: (name: string) => string, query: (name: string) => string | undefined): { apiKey: string; token: string } {
    if (!this.tokens) return { apiKey: presentedKey(header, query), token: '' };
    const fromQuery = query('token') ?? '';
    const auth = header('authorization');
    const bearer = auth.toLowerCase().startsWith('bearer ') ? auth.slice(7).trim() : '';
    const token = fromQuery || (looksLikeJwt(bearer) ? bearer : '');
    const apiKey = header('x-api-key') || (token === bearer ? '' : bearer) || (query('api_key') ?? '');
    return { apiKey, token };
  }

  /**
   * Checks the credentials once per connection; rejects with 401 (or 503 TOKEN_KEYS_UNAVAILABLE when a JWKS
   * key cannot be fetched). Asynchronous: the caller re-checks that its client is still there afterwards.
   */
  async admit(p: { apiKey: string; token: string }): Promise<Credentials> {
    if (!this.tokens) return { apiKey: p.apiKey, grant: null };
    if (p.token !== '') return { apiKey: '', grant: await this.tokens.verify(p.token) };
    if (this.access.enabled && p.apiKey !== '') return { apiKey: p.apiKey, grant: null };
    throw new SluiceError('UNAUTHORIZED', 'a subscription token is required: send Authorization: Bearer <jwt> or ?token=<jwt>');
  }

  /** Authorizes one subscription (null: a bare `/ws`, the credentials alone); throws 401/403. */
  authorize<O extends SubscribeOptions | null>(c: Credentials, options: O): O {
    if (c.grant === null) {
      this.access.check(c.apiKey, 'subscribe', options?.topic ?? null);
      return options;
    }
    if (c.grant.expiresAtMs <= this.tokens!.clock())
      throw new SluiceError('TOKEN_EXPIRED', 'the subscription token has expired; get a new one');
    if (options === null) return options;
    const entry = c.grant.entries.find((e) => e.topic === options.topic);
    if (!entry) throw new SluiceError('FORBIDDEN', `the subscription token does not cover topic "${options.topic}"`);
    if ((entry.keys !== null || entry.where !== null || entry.conflateMs !== null) && options.group !== null) {
      throw new SluiceError(
        'FORBIDDEN',
        `the subscription token limits topic "${options.topic}" to keys, a filter or conflation; group= cannot be used with it`,
      );
    }
    let key = options.key;
    if (entry.keys !== null) {
      const allowed = new Set(entry.keys);
      const asked = options.key === null ? null : parseKeyList(options.key);
      const outside = asked?.find((k) => !allowed.has(k));
      if (outside !== undefined) {
        const shown = entry.keys.length === 1 ? `only key "${entry.keys[0]}"` : `only keys ${entry.keys.map((k) => `"${k}"`).join(', ')}`;
        throw new SluiceError('FORBIDDEN', `the subscription token allows ${shown} of topic "${options.topic}" (not "${outside}")`);
      }
      key = joinKeyList(asked ?? entry.keys);
    }
    const where = entry.where === null ? options.where : options.where === null ? entry.where : `${entry.where},${options.where}`;
    parseRecordFilter(key, where); // the combination may pass the predicate limit: refuse it here
    // The token's interval is a floor: a client may ask for fewer frames, not more.
    const conflateMs = entry.conflateMs === null ? options.conflateMs : Math.max(entry.conflateMs, options.conflateMs ?? 0);
    return { ...options, key, where, ...(conflateMs ? { conflateMs } : {}) };
  }
}
