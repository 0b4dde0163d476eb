/**
 * Subscription tokens verified against a JWKS URL (SLUICE_JWT_JWKS_URL): the signing keys come from the
 * identity provider's key set, so keys can rotate without restarting Sluice.
 *
 * Keys are fetched with jose's `createRemoteJWKSet`: the set is cached (fetched again after 10 minutes, on
 * the next token), and a token whose `kid` is not in it makes it fetch again at once — unless the set was
 * fetched less than SLUICE_JWT_JWKS_COOLDOWN_S ago, in which case the `kid` is unknown (401 TOKEN_INVALID).
 * When the set cannot be fetched (down, a non-200, not a key set, a 5 s timeout), the last set fetched keeps
 * verifying the tokens whose key it holds; any other token gets 503 TOKEN_KEYS_UNAVAILABLE with Retry-After,
 * never an unchecked pass. Only RS256 and ES256 are accepted, each only with a key of its own type (an HS256
 * token, whose "secret" would be a public key, is refused before any key is looked up).
 *
 * Each thread serving HTTP (SLUICE_INGRESS_THREADS) keeps its own cache: one fetch per thread.
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import { SluiceError } from '../../errors.js';
import { NO_CHECKS, verifyToken, type Grant, type TokenChecks, type TokenVerifier } from './subscription-tokens.js';

const ALGORITHMS = ['RS256', 'ES256'];
/** jose's codes for "the key set could not be fetched or read" (a down endpoint throws a plain fetch TypeError). */
const FETCH_FAILURES = new Set(['ERR_JOSE_GENERIC', 'ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID']);
const FETCH_TIMEOUT_MS = 5000;
const MAX_AGE_MS = 10 * 60 * 1000;

type KeySet = ReturnType<typeof createRemoteJWKSet>;
type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

export class JwksTokens implements TokenVerifier {
  private readonly remote: KeySet;
  /** The last good set, rebuilt only when jose fetched a new one (`jwks()` returns a fresh copy each call). */
  private fallback: { source: string; keys: LocalKeySet } | null = null;

  constructor(
    private readonly url: URL,
    cooldownMs: number,
    private readonly now: () => number = Date.now,
    private readonly checks: TokenChecks = NO_CHECKS,
  ) {
    this.remote = createRemoteJWKSet(url, { cooldownDuration: cooldownMs, cacheMaxAge: MAX_AGE_MS, timeoutDuration: FETCH_TIMEOUT_MS });
  }

  get clock(): () => number {
    return this.now;
  }

  /** The same verifier as a key file's (`verifyToken`), with the key picked from the set by the token's `kid`. */
  verify(token: string): Promise<Grant> {
    return verifyToken(token, (header, jws) => this.key(header, jws), ALGORITHMS, this.checks, this.now());
  }

  private async key(header: JWSHeaderParameters, jws: FlattenedJWSInput) {
    try {
      return await this.remote(header, jws);
    } catch (err) {
      // A key set fetched just now without the kid, an algorithm it has no key for: the token's fault (401).
      if (err instanceof errors.JOSEError && !FETCH_FAILURES.has(err.code)) throw err;
      const last = this.lastGoodSet();
      if (last) {
        try {
          return await last(header, jws);
        } catch (e) {
          if (!(e instanceof errors.JWKSNoMatchingKey)) throw e;
        }
      }
      throw new SluiceError(
        'TOKEN_KEYS_UNAVAILABLE',
        `the key of this subscription token is not known yet and SLUICE_JWT_JWKS_URL (${this.url.origin}${this.url.pathname}) cannot be fetched: ${(err as Error).message}; retry later`,
      );
    }
  }

  private lastGoodSet(): LocalKeySet | null {
    const jwks: JSONWebKeySet | undefined = this.remote.jwks();
    if (!jwks) return null;
    const source = JSON.stringify(jwks);
    if (this.fallback?.source !== source) this.fallback = { source, keys: createLocalJWKSet(jwks) };
    return this.fallback.keys;
  }
}
