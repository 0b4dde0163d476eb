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
 * Every token, whatever its algorithm or key source, goes through one verifier (`verifyToken`, jose's
 * `jwtVerify`): only the configured algorithm, `nbf` with CLOCK_TOLERANCE_S, `aud` and `iss` when
 * SLUICE_JWT_AUDIENCE / SLUICE_JWT_ISSUER are set, a `crit` header refused, and at most
 * SLUICE_JWT_MAX_LIFETIME_S between `iat` (or now) and `exp` when that is set.
 *
 * With one of SLUICE_JWT_SECRET_FILE, SLUICE_JWT_PUBLIC_KEY_FILE or SLUICE_JWT_JWKS_URL set (exactly one:
 * they do not combine), every subscription needs a valid token, or a valid API key when SLUICE_API_KEYS_FILE
 * is set too (an API key's subscribe patterns apply to it). Verification is asynchronous (jose's API;
 * a JWKS key may have to be fetched): the admission of an upgrade or SSE stream already awaits it and
 * re-checks afterwards that its client is still there.
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { SluiceError, StartupError } from '../../errors.js';
import { joinKeyList, MAX_KEYS_PER_FILTER, parseKeyList, parseRecordFilter } from '../../subscription/record-filter.js';
import { parseConflate, type SubscribeOptions } from '../../subscription/subscribe-options.js';
import { presentedKey, type AccessControl } from './api-keys.js';

/** WebSocket close code for a subscription token that expired while connected (4000–4999: application codes). */
export const CLOSE_TOKEN_EXPIRED = 4001;

/** Seconds a token's `nbf` may lie in the future (clocks of the issuer and of Sluice differ a little). */
export const CLOCK_TOLERANCE_S = 30;

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
  /** The token's `sub` claim, if any: its holder's identity (per-client limits, consumer-group scope). */
  subject?: string;
}

/** What a request presented: an API key, and/or a token. */
export interface Credentials {
  apiKey: string;
  grant: Grant | null;
}

const looksLikeJwt = (s: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(s);

/** How tokens are signed: an HS256 shared secret, or an RSA (RS256) or P-256 EC (ES256) public key. */
export type TokenKey = { alg: 'HS256'; secret: Buffer } | { alg: 'RS256' | 'ES256'; publicKey: KeyObject };

/** What every token must satisfy beyond its signature (the SLUICE_JWT_* settings; empty / 0: not checked). */
export interface TokenChecks {
  audience: string;
  issuer: string;
  /** Longest `exp` − (`iat`, or now without one) accepted, seconds; 0: any. */
  maxLifetimeSeconds: number;
}

export const NO_CHECKS: TokenChecks = { audience: '', issuer: '', maxLifetimeSeconds: 0 };

/** Verifies a token into its grant. */
export interface TokenVerifier {
  verify(token: string): Promise<Grant>;
  readonly clock: () => number;
}

/**
 * The one verifier of every token: signature and algorithm (only `algorithms`; never `none`, and never
 * HS256 keyed with a public key — jose checks the key's type against the algorithm), then the registered
 * claims, then the grant. Throws TOKEN_INVALID / TOKEN_EXPIRED; a SluiceError from `key` (a JWKS that
 * cannot be fetched) passes through.
 */
export async function verifyToken(
  token: string,
  key: KeyObject | JWTVerifyGetKey,
  algorithms: string[],
  checks: TokenChecks,
  nowMs: number,
): Promise<Grant> {
  if (!looksLikeJwt(token)) throw invalid('not a JWT');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw invalid('its header is not base64url JSON');
  }
  // Extensions Sluice does not implement must not be ignored (RFC 7515 4.1.11): refused whatever they name.
  if (header.crit !== undefined) throw invalid(`it has a "crit" header (${JSON.stringify(header.crit)}); no extension is understood`);
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg))
    throw invalid(`algorithm ${JSON.stringify(header.alg)} is not accepted (${algorithms.join(', ')})`);
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, key as JWTVerifyGetKey, {
      algorithms,
      audience: checks.audience || undefined,
      issuer: checks.issuer || undefined,
      clockTolerance: CLOCK_TOLERANCE_S,
      currentDate: new Date(nowMs),
      requiredClaims: ['exp'],
    }));
  } catch (err) {
    throw tokenError(err);
  }
  const grant = grantOf(payload, nowMs);
  if (checks.maxLifetimeSeconds > 0) {
    const from = typeof payload.iat === 'number' ? payload.iat * 1000 : nowMs;
    if (grant.expiresAtMs - from > checks.maxLifetimeSeconds * 1000)
      throw invalid(
        `it is valid for ${Math.round((grant.expiresAtMs - from) / 1000)} s from ${typeof payload.iat === 'number' ? 'its "iat"' : 'now'}, more than SLUICE_JWT_MAX_LIFETIME_S=${checks.maxLifetimeSeconds}`,
      );
  }
  if (typeof payload.sub === 'string' && payload.sub !== '') grant.subject = payload.sub;
  return grant;
}

/** jose's refusals as Sluice's codes, saying which check failed. */
function tokenError(err: unknown): SluiceError {
  if (err instanceof SluiceError) return err;
  if (err instanceof errors.JWTExpired) return new SluiceError('TOKEN_EXPIRED', 'the subscription token has expired; get a new one');
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('the signature does not verify');
  if (err instanceof errors.JWKSNoMatchingKey) return invalid('no key of the JWKS matches its "kid" and algorithm');
  if (err instanceof errors.JWTClaimValidationFailed) {
    const claim = err.claim;
    if (claim === 'nbf') return invalid(`its "nbf" is in the future (more than ${CLOCK_TOLERANCE_S} s of clock tolerance)`);
    if (claim === 'aud') return invalid('its "aud" does not name SLUICE_JWT_AUDIENCE');
    if (claim === 'iss') return invalid('its "iss" is not SLUICE_JWT_ISSUER');
    if (claim === 'exp') return invalid('it has no "exp" claim');
    return invalid(`its "${claim}" claim: ${err.message}`);
  }
  if (err instanceof errors.JOSEError) return invalid(err.message);
  return invalid((err as Error).message);
}

/** Tokens signed with a secret (HS256) or a public key file (RS256/ES256). */
export class SubscriptionTokens implements TokenVerifier {
  private readonly verifyKey: KeyObject;

  constructor(
    private readonly key: TokenKey,
    private readonly now: () => number = Date.now,
    private readonly checks: TokenChecks = NO_CHECKS,
  ) {
    this.verifyKey = key.alg === 'HS256' ? createSecretKey(key.secret) : key.publicKey;
  }

  /** The secret file (HS256) or the public key file (RS256/ES256, by the key's type); exactly one is set. */
  static fromFiles(secretFile: string, publicKeyFile: string, checks: TokenChecks = NO_CHECKS): SubscriptionTokens {
    if (secretFile && publicKeyFile) throw new StartupError('SLUICE_JWT_SECRET_FILE and SLUICE_JWT_PUBLIC_KEY_FILE: set one, not both');
    return publicKeyFile ? SubscriptionTokens.fromPublicKeyFile(publicKeyFile, checks) : SubscriptionTokens.fromFile(secretFile, checks);
  }

  static fromFile(path: string, checks: TokenChecks = NO_CHECKS): SubscriptionTokens {
    let text: string;
    try {
      text = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new StartupError(`SLUICE_JWT_SECRET_FILE: cannot read ${path}: ${(err as Error).message}`);
    }
    if (Buffer.byteLength(text) < 32)
      throw new StartupError(`SLUICE_JWT_SECRET_FILE: ${path} must hold at least 32 bytes (an HS256 secret)`);
    return new SubscriptionTokens({ alg: 'HS256', secret: Buffer.from(text) }, Date.now, checks);
  }

  static fromPublicKeyFile(path: string, checks: TokenChecks = NO_CHECKS): SubscriptionTokens {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey(readFileSync(path));
    } catch (err) {
      throw new StartupError(`SLUICE_JWT_PUBLIC_KEY_FILE: cannot read a PEM public key from ${path}: ${(err as Error).message}`);
    }
    if (publicKey.asymmetricKeyType === 'rsa') return new SubscriptionTokens({ alg: 'RS256', publicKey }, Date.now, checks);
    if (publicKey.asymmetricKeyType === 'ec' && publicKey.asymmetricKeyDetails?.namedCurve === 'prime256v1')
      return new SubscriptionTokens({ alg: 'ES256', publicKey }, Date.now, checks);
    throw new StartupError(`SLUICE_JWT_PUBLIC_KEY_FILE: ${path} must hold an RSA (RS256) or P-256 EC (ES256) public key`);
  }

  /** Checks signature, algorithm, registered claims and the grant; rejects with TOKEN_INVALID / TOKEN_EXPIRED. */
  verify(token: string): Promise<Grant> {
    return verifyToken(token, this.verifyKey, [this.key.alg], this.checks, this.now());
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

  /**
   * Who holds these credentials, for per-client shares: the API key's id, the token's `sub`, or (open
   * access, or a token without `sub`) the client's address.
   */
  client(c: Credentials, address: string): string {
    if (c.grant?.subject !== undefined) return `token:${c.grant.subject}`;
    const id = c.grant === null ? this.access.idOf(c.apiKey) : null;
    return id !== null ? `key:${id}` : `addr:${address}`;
  }

  /**
   * Whether subscribing may create the topic: only for a credential that may produce to it — an API key by
   * its produce patterns, and anyone when access is open (anyone may produce, so creating by subscribing
   * gives nothing more). A token grants reading only: never.
   */
  mayCreate(c: Credentials, topic: string): boolean {
    return c.grant === null && this.access.allows(c.apiKey, 'produce', topic);
  }

  /** Authorizes one subscription (null: a bare `/ws`, the credentials alone); throws 401/403. */
  authorize<O extends SubscribeOptions | null>(c: Credentials, options: O): O {
    if (c.grant === null) {
      const keyId = this.access.check(c.apiKey, 'subscribe', options?.topic ?? null);
      // Groups are scoped per key: another tenant's `group=billing` is another Kafka group.
      if (options === null || options.group === null || keyId === null) return options;
      return { ...options, group: `key:${keyId}/${options.group}` };
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
    const conflate = conflateMs ? { conflateMs } : {};
    if (options.group === null) return { ...options, key, where, ...conflate };
    // Groups are scoped per token subject; without one, whose group it is cannot be told.
    if (c.grant.subject === undefined)
      throw new SluiceError('FORBIDDEN', 'group= needs a subscription token with a "sub" claim (consumer groups are scoped per subject)');
    return { ...options, key, where, ...conflate, group: `token:${c.grant.subject}/${options.group}` };
  }
}
