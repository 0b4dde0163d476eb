/**
 * Loads uWebSockets.js and refuses its silent pure-JS fallback. The unofficial build used here falls back
 * to a slow Node `http` implementation when its native binary does not load (wrong Node ABI or glibc);
 * the fallback lacks `SSLApp` and native pub/sub, so Sluice would run at a fraction of its speed without
 * saying so. Set SLUICE_ALLOW_UWS_FALLBACK=true to run on it anyway.
 */
import { createRequire } from 'node:module';
import { StartupError } from '../errors.js';
import type * as Uws from 'uWebSockets.js';

const require = createRequire(import.meta.url);

export function isNativeUws(mod: Record<string, unknown>): boolean {
  return typeof mod.SSLApp === 'function' && typeof mod.getParts === 'function';
}

export function loadUws(allowFallback: boolean): typeof Uws {
  const mod = require('uWebSockets.js') as typeof Uws;
  if (!isNativeUws(mod as unknown as Record<string, unknown>)) {
    if (!allowFallback) {
      throw new StartupError(
        `uWebSockets.js loaded its pure-JS fallback instead of the native binary (Node ABI ${process.versions.modules}, ` +
          `${process.platform}-${process.arch}); throughput would be a fraction of normal. Use Node.js 20, reinstall ` +
          'dependencies (npm ci), or set SLUICE_ALLOW_UWS_FALLBACK=true to run on the fallback anyway',
      );
    }
  }
  return mod;
}
