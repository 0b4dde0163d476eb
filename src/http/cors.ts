/**
 * Cross-origin policy for browser clients (SLUICE_CORS_ORIGINS): `*`, or a comma-separated list of
 * origins allowed to POST records and open WebSockets from web pages. Empty: no CORS headers, and
 * WebSocket upgrades are not checked (same-origin pages and non-browser clients need none).
 * One `CorsPolicy` is built per uWS app (per thread) from the setting and handed to the routes that use it.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';

export class CorsPolicy {
  private readonly allowAll: boolean;
  private readonly allowed: Set<string>;
  readonly enabled: boolean;

  /** `setting`: the SLUICE_CORS_ORIGINS value. */
  constructor(setting: string) {
    const list = setting
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    this.allowAll = list.includes('*');
    this.allowed = new Set(list);
    this.enabled = this.allowAll || this.allowed.size > 0;
  }

  /** The Access-Control-Allow-Origin value for a request's Origin, or null (no header / not allowed). */
  allowedOrigin(origin: string): string | null {
    if (!this.enabled || origin === '') return null;
    if (this.allowAll) return '*';
    return this.allowed.has(origin) ? origin : null;
  }

  /** A WebSocket upgrade from a browser page of another origin is refused unless that origin is allowed. */
  originForbidden(origin: string): boolean {
    return this.enabled && origin !== '' && this.allowedOrigin(origin) === null;
  }

  /** Preflight for POST with JSON/NDJSON bodies, compression, API keys and X-Kafka-Header-* headers. */
  answerPreflight(res: HttpResponse, req: HttpRequest): void {
    const origin = this.allowedOrigin(req.getHeader('origin'));
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
}
