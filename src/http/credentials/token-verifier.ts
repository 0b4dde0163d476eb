/**
 * Chooses the one subscription-token verifier the settings name: a shared secret or a public key file
 * (subscription-tokens.ts) or a JWKS URL (jwks-tokens.ts). Built once per thread in the composition root;
 * the main thread builds it first so that a bad setting stops start-up.
 */
import { StartupError } from '../../errors.js';
import { JwksTokens } from './jwks-tokens.js';
import { SubscriptionTokens, type TokenChecks, type TokenVerifier } from './subscription-tokens.js';

/** The token verifier the settings name: a secret, a public key file or a JWKS URL (at most one), or none. */
export function chooseTokenVerifier(settings: {
  jwtSecretFile: string;
  jwtPublicKeyFile: string;
  jwtJwksUrl: string;
  jwtJwksCooldownSeconds: number;
  jwtAudience?: string;
  jwtIssuer?: string;
  jwtMaxLifetimeSeconds?: number;
}): TokenVerifier | null {
  const set = [
    ['SLUICE_JWT_SECRET_FILE', settings.jwtSecretFile],
    ['SLUICE_JWT_PUBLIC_KEY_FILE', settings.jwtPublicKeyFile],
    ['SLUICE_JWT_JWKS_URL', settings.jwtJwksUrl],
  ].filter(([, v]) => v !== '');
  if (set.length > 1)
    throw new StartupError(`${set.map(([n]) => n).join(' and ')}: set one, not several (each names the only way tokens are verified)`);
  const checks: TokenChecks = {
    audience: settings.jwtAudience ?? '',
    issuer: settings.jwtIssuer ?? '',
    maxLifetimeSeconds: settings.jwtMaxLifetimeSeconds ?? 0,
  };
  if (settings.jwtJwksUrl) return new JwksTokens(new URL(settings.jwtJwksUrl), settings.jwtJwksCooldownSeconds * 1000, Date.now, checks);
  if (settings.jwtSecretFile || settings.jwtPublicKeyFile)
    return SubscriptionTokens.fromFiles(settings.jwtSecretFile, settings.jwtPublicKeyFile, checks);
  return null;
}
