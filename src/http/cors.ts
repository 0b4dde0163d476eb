/**
 * Cross-origin policy for browser clients (SLUICE_CORS_ORIGINS): `*`, or a comma-separated list of
 * origins allowed to POST records and open WebSockets from web pages. Empty: no CORS headers, and
 * WebSocket upgrades are not checked (same-origin pages and non-browser clients work as before).
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';

let allowAll = false;
let allowed = new Set<string>();

/** Set once from configuration at start-up. */
export function setCorsOrigins(setting: string): void {
  const list = setting.split(',').map((s) => s.trim()).filter(Boolean);
  allowAll = list.includes('*');
  allowed = new Set(list);
}

export function corsEnabled(): boolean {
  return allowAll || allowed.size > 0;
}

/** The Access-Control-Allow-Origin value for a request's Origin, or null (no header / not allowed). */
export function allowedOrigin(origin: string): string | null {
  if (!corsEnabled() || origin === '') return null;
  if (allowAll) return '*';
  return allowed.has(origin) ? origin : null;
}

/** A WebSocket upgrade from a browser page of another origin is refused unless that origin is allowed. */
export function originForbidden(origin: string): boolean {
  return corsEnabled() && origin !== '' && allowedOrigin(origin) === null;
}

/** Preflight for POST with JSON/NDJSON bodies, compression, API keys and X-Kafka-Header-* headers. */
export function answerPreflight(res: HttpResponse, req: HttpRequest): void {
  const origin = allowedOrigin(req.getHeader('origin'));
  const requested = req.getHeader('access-control-request-headers');
  res.writeStatus('204 No Content');
  if (origin) {
    res.writeHeader('access-control-allow-origin', origin);
    res.writeHeader('vary', 'Origin');
    res.writeHeader('access-control-allow-methods', 'POST, GET, OPTIONS');
    if (requested) res.writeHeader('access-control-allow-headers', requested);
    res.writeHeader('access-control-max-age', '600');
  }
  res.end();
}
