/**
 * `GET /openapi.json`, `GET /asyncapi.json` and `GET /api-docs` (a page that renders both, from files in
 * src/api/docs-page/, nothing fetched from other hosts). The documents are generated once at start-up.
 */
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartupError } from '../errors.js';
import { PROJECT_ROOT } from '../project-root.js';
import { openApiDocument } from './openapi.js';
import { asyncApiDocument } from './asyncapi.js';

const PAGE_DIR = join(PROJECT_ROOT, 'src', 'api', 'docs-page');
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

function pageFile(name: string): Buffer {
  try {
    return readFileSync(join(PAGE_DIR, name));
  } catch (err) {
    throw new StartupError(`API docs page: cannot read ${join(PAGE_DIR, name)}: ${(err as Error).message}`);
  }
}

function serve(res: HttpResponse, body: string | Buffer, type: string): void {
  res
    .writeStatus('200 OK')
    .writeHeader('content-type', type)
    .writeHeader('cache-control', 'no-cache')
    .writeHeader('x-content-type-options', 'nosniff');
  if (type.startsWith('text/html')) res.writeHeader('content-security-policy', CSP).writeHeader('referrer-policy', 'no-referrer');
  res.end(body);
}

export function registerContractRoutes(app: TemplatedApp): void {
  const version = packageVersion();
  const openapi = JSON.stringify(openApiDocument(version));
  const asyncapi = JSON.stringify(asyncApiDocument(version));
  const page = pageFile('index.html');
  const script = pageFile('api-docs.js');
  app.get('/openapi.json', (res) => serve(res, openapi, 'application/json'));
  app.get('/asyncapi.json', (res) => serve(res, asyncapi, 'application/json'));
  app.get('/api-docs', (res) => serve(res, page, 'text/html; charset=utf-8'));
  app.get('/api-docs/api-docs.js', (res) => serve(res, script, 'text/javascript; charset=utf-8'));
}
