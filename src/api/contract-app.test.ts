import { describe, expect, it } from 'vitest';
import type { TemplatedApp } from 'uWebSockets.js';
import { ContractApp } from './contract-app.js';
import { ErrorAnswers } from '../http/respond.js';
import { CorsPolicy } from '../http/cors.js';
import { ROUTES } from './routes.js';

/** Records registrations like uWS would receive them. */
function fakeApp() {
  const registered: string[] = [];
  const record = (method: string) => (pattern: string) => {
    registered.push(`${method} ${pattern}`);
    return app;
  };
  const app = {
    get: record('get'),
    post: record('post'),
    options: record('options'),
    any: record('any'),
    ws: record('ws'),
  } as unknown as TemplatedApp;
  return { app, registered };
}

const answers = new ErrorAnswers({ retryAfterSeconds: 1, observeError: () => {} });
const cors = new CorsPolicy('');

function registerAll(app: TemplatedApp, skip = '') {
  for (const r of ROUTES) {
    if (r.id === skip) continue;
    if (r.transport === 'websocket') app.ws(r.path, { upgrade: () => {} });
    else app[r.method](r.path, () => {});
  }
}

describe('the app serves exactly the route table', () => {
  it('accepts every row once and passes registrations on to uWS', () => {
    const { app, registered } = fakeApp();
    const contract = new ContractApp(app, answers, cors);
    registerAll(app);
    contract.installFallback();
    expect(() => contract.assertComplete()).not.toThrow();
    expect(registered).toHaveLength(ROUTES.length + 1);
    expect(registered.at(-1)).toBe('any /*');
  });

  it('stops start-up for a route that is not in the table', () => {
    const { app } = fakeApp();
    new ContractApp(app, answers, cors);
    expect(() => app.get('/debug', () => {})).toThrow(/GET \/debug \(http\) is registered but not in the route table/);
    expect(() => app.post('/healthz', () => {})).toThrow(/POST \/healthz/);
  });

  it('stops start-up for a row the app does not serve', () => {
    const { app } = fakeApp();
    const contract = new ContractApp(app, answers, cors);
    registerAll(app, 'readyz');
    expect(() => contract.assertComplete()).toThrow(/lists routes the app does not serve: GET \/readyz/);
  });

  it('refuses a route registered twice', () => {
    const { app } = fakeApp();
    new ContractApp(app, answers, cors);
    app.get('/healthz', () => {});
    expect(() => app.get('/healthz', () => {})).toThrow(/registered twice/);
  });
});

/** The fallback's answer to a request, through a response that records what it is given. */
function fallbackAnswer(method: string, url: string): { status: string; headers: Record<string, string>; body: unknown } {
  const handlers: Record<string, (res: unknown, req: unknown) => void> = {};
  const app = {
    get: () => app,
    post: () => app,
    options: () => app,
    ws: () => app,
    any: (pattern: string, h: (res: unknown, req: unknown) => void) => {
      handlers[pattern] = h;
      return app;
    },
  } as unknown as TemplatedApp;
  new ContractApp(app, answers, cors).installFallback();
  const out = { status: '', headers: {} as Record<string, string>, body: undefined as unknown };
  const res = {
    writeStatus: (s: string) => ((out.status = s), res),
    writeHeader: (k: string, v: string) => ((out.headers[k] = v), res),
    end: (b: string) => ((out.body = JSON.parse(b)), res),
  };
  // As uWS 20.57 gives them: getMethod() and getCaseSensitiveMethod() both lower-case.
  const req = { getMethod: () => method.toLowerCase(), getCaseSensitiveMethod: () => method, getUrl: () => url, getHeader: () => '' };
  handlers['/*'](res, req);
  return out;
}

describe('the fallback answers every method', () => {
  it('a method uWS does not know (QUERY) on a known path: 405 with Allow; elsewhere 404', () => {
    const q = fallbackAnswer('QUERY', '/topics/x');
    expect(q.status).toMatch(/^405/);
    expect(q.headers.allow).toBe('POST, OPTIONS');
    expect(q.body).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED', allow: ['POST', 'OPTIONS'] } });
    expect((q.body as { error: { message: string } }).error.message).toContain('QUERY /topics/x is not served');
    expect(fallbackAnswer('PROPFIND', '/nowhere').status).toMatch(/^404/);
  });

  it('a served method in another case (get) is 405 saying methods are case-sensitive', () => {
    const g = fallbackAnswer('get', '/healthz');
    expect(g.status).toMatch(/^405/);
    expect(g.headers.allow).toBe('GET, OPTIONS');
    expect((g.body as { error: { message: string } }).error.message).toMatch(/^HTTP methods are case-sensitive: send GET, not get/);
    // A plain GET on a WebSocket route stays 426.
    expect(fallbackAnswer('GET', '/ws').status).toMatch(/^426/);
  });
});
