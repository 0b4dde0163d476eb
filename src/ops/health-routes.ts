/**
 * `GET /healthz`: the process serves requests. `GET /readyz`: 200 only while the producer reaches a broker
 * and no shutdown has begun. `GET /metrics`: Prometheus text, optionally behind a bearer token. Served on
 * the public port, or on the admin port (`SLUICE_ADMIN_PORT`, src/ops/admin-app.ts) and then only there.
 */
import { timingSafeEqual } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { SluiceError } from '../errors.js';
import { sendJson, type ErrorAnswers } from '../http/respond.js';

export interface Readiness {
  ready(): boolean;
  /**
   * A shutdown has begun: during SLUICE_SHUTDOWN_DELAY_MS the gateway still serves while `/readyz` already
   * says 503, so load balancers take the instance out before its connections close.
   */
  draining(): boolean;
}

export const HEALTH_ROUTE_IDS = ['healthz', 'readyz', 'metrics'] as const;

export function registerHealthRoutes(app: TemplatedApp, readiness: Readiness): void {
  app.get('/healthz', (res) => sendJson(res, 200, '{"status":"ok"}'));
  app.get('/readyz', (res) => {
    if (readiness.draining()) sendJson(res, 503, '{"status":"draining"}');
    else if (readiness.ready()) sendJson(res, 200, '{"status":"ready"}');
    else sendJson(res, 503, '{"status":"kafka unreachable"}');
  });
}

/** `GET /metrics`; with `token` set, only for `Authorization: Bearer <token>` (compared in constant time). */
export function registerMetricsRoute(app: TemplatedApp, metricsText: () => Promise<string>, answers: ErrorAnswers, token: string): void {
  const expected = Buffer.from(`Bearer ${token}`);
  const authorised = (req: HttpRequest) => {
    if (token === '') return true;
    const presented = Buffer.from(req.getHeader('authorization'));
    return presented.length === expected.length && timingSafeEqual(presented, expected);
  };
  app.get('/metrics', (res: HttpResponse, req: HttpRequest) => {
    if (!authorised(req)) {
      answers.send(res, new SluiceError('UNAUTHORIZED', '/metrics needs Authorization: Bearer <SLUICE_METRICS_TOKEN>'));
      return;
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    metricsText().then(
      (text) => {
        if (aborted) return;
        res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8').end(text));
      },
      (err: unknown) => {
        if (!aborted) res.cork(() => answers.send(res, err));
      },
    );
  });
}
