/**
 * `GET /`: the live dashboard page (src/dashboard/), plain files with no build step and nothing fetched
 * from other hosts, so it works offline. Read once at start-up (a missing file stops start-up instead of
 * 404-ing later); `Cache-Control: no-cache` + ETag so an upgraded gateway never serves a stale script.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartupError } from '../errors.js';
import { PROJECT_ROOT } from '../project-root.js';

const DASHBOARD_DIR = join(PROJECT_ROOT, 'src', 'dashboard');

/** URL path → file in src/dashboard and its content type. Paths are relative in index.html (works under a path prefix). */
const FILES: readonly { path: string; file: string; type: string }[] = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/dashboard/dashboard.js', file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  { path: '/dashboard/dashboard.css', file: 'dashboard.css', type: 'text/css; charset=utf-8' },
];

// The page talks only to its own origin; this keeps injected content (should escaping ever fail) inert.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function loadAsset(file: string, type: string): Asset {
  let body: Buffer;
  try {
    body = readFileSync(join(DASHBOARD_DIR, file));
  } catch (err) {
    throw new StartupError(`dashboard page: cannot read ${join(DASHBOARD_DIR, file)}: ${(err as Error).message}`);
  }
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

export function registerDashboardRoutes(app: TemplatedApp): void {
  for (const { path, file, type } of FILES) {
    const asset = loadAsset(file, type);
    app.get(path, (res, req) => serve(res, req, asset));
  }
}

function serve(res: HttpResponse, req: HttpRequest, asset: Asset): void {
  const notModified = req.getHeader('if-none-match') === asset.etag;
  res.cork(() => {
    res.writeStatus(notModified ? '304 Not Modified' : '200 OK');
    res.writeHeader('cache-control', 'no-cache');
    res.writeHeader('etag', asset.etag);
    res.writeHeader('x-content-type-options', 'nosniff');
    if (notModified) {
      res.endWithoutBody();
      return;
    }
    res.writeHeader('content-type', asset.type);
    if (asset.type.startsWith('text/html')) {
      res.writeHeader('content-security-policy', CSP);
      res.writeHeader('referrer-policy', 'no-referrer');
    }
    res.end(asset.body);
  });
}
