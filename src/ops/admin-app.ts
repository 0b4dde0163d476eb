/**
 * The admin listener (`SLUICE_ADMIN_PORT`): `/healthz`, `/readyz` and `/metrics` on a port of their own,
 * plain HTTP, on the main thread in both thread modes (probes and scrapes then never queue behind ingest
 * traffic, and the port need not be exposed beyond the cluster). Anything else is 404.
 */
import type { Logger } from 'pino';
import type * as Uws from 'uWebSockets.js';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { SluiceError, StartupError } from '../errors.js';
import type { ErrorAnswers } from '../http/respond.js';
import { registerHealthRoutes, registerMetricsRoute, type Readiness } from './health-routes.js';

export interface AdminListener {
  port: number;
  close(): void;
}

export async function startAdminListener(
  uws: typeof Uws,
  options: {
    host: string;
    port: number;
    readiness: Readiness;
    metricsText: () => Promise<string>;
    metricsToken: string;
    /** The main thread's error answers (built once, by the composition root). */
    answers: ErrorAnswers;
    log: Logger;
  },
): Promise<AdminListener> {
  const app: TemplatedApp = uws.App();
  const { answers } = options;
  registerHealthRoutes(app, options.readiness);
  registerMetricsRoute(app, options.metricsText, answers, options.metricsToken);
  app.any('/*', (res, req) =>
    answers.send(res, new SluiceError('ROUTE_NOT_FOUND', `the admin port serves GET /healthz, /readyz and /metrics, not ${req.getUrl()}`)),
  );
  const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen(options.host, options.port, resolve));
  if (!socket) throw new StartupError(`SLUICE_ADMIN_PORT=${options.port}: cannot listen on ${options.host}:${options.port} (in use?)`);
  const port = uws.us_socket_local_port(socket);
  options.log.info({ adminPort: port }, 'admin listener: /healthz /readyz /metrics');
  return { port, close: () => uws.us_listen_socket_close(socket) };
}
