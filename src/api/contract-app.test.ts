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
