/** `GET /healthz`: the process serves requests. `GET /readyz`: 200 only while the producer reaches a broker. */
import type { TemplatedApp } from 'uWebSockets.js';
import { sendJson } from '../http/respond.js';

export interface Readiness {
  ready(): boolean;
  draining(): boolean;
}

export function registerHealthRoutes(app: TemplatedApp, readiness: Readiness): void {
  app.get('/healthz', (res) => sendJson(res, 200, '{"status":"ok"}'));
  app.get('/readyz', (res) => {
    if (readiness.draining()) sendJson(res, 503, '{"status":"draining"}');
    else if (readiness.ready()) sendJson(res, 200, '{"status":"ready"}');
    else sendJson(res, 503, '{"status":"kafka unreachable"}');
  });
}
