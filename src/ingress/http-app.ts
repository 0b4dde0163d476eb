/**
 * Builds one uWS app with every route: ingest, WebSocket fan-out, health, 404. The same code serves on
 * the main thread or in each ingress worker thread; what differs is only where the ProducePort and the
 * SubscribeGate lead (directly to Kafka clients, or over a MessagePort to the main thread).
 */
import type { TemplatedApp } from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { SluiceError } from '../errors.js';
import type { ProducePort } from '../producer/produce-port.js';
import { SubscriberHub, type SubscribeGate } from '../fanout/subscriber-hub.js';
import { registerHealthRoutes } from '../ops/health-routes.js';
import { registerIngestRoutes } from './ingest-routes.js';
import { Lifecycle } from './lifecycle.js';
import { sendError, setRetryAfterSeconds } from './respond.js';
import { setReadingBudget } from './body-reader.js';
import { DecodePool } from '../decode/decode-pool.js';
import { AccessControl } from './access-control.js';
import type { loadUws } from './uws-native.js';

export interface HttpAppDeps {
  config: Config;
  producer: ProducePort;
  gate: SubscribeGate;
  /** True while the producer reaches a broker. */
  ready: () => boolean;
  countRequest: (route: string, status: number, records: number) => void;
  /** Prometheus text for GET /metrics (gathered on the main thread). */
  metricsText: () => Promise<string>;
  log: Logger;
}

export interface HttpApp {
  app: TemplatedApp;
  hub: SubscriberHub;
  lifecycle: Lifecycle;
  /** Releases the decode pool's threads. */
  close(): Promise<void>;
}

export function buildHttpApp(uws: ReturnType<typeof loadUws>, deps: HttpAppDeps): HttpApp {
  const { config, log } = deps;
  setRetryAfterSeconds(config.retryAfterSeconds);
  setReadingBudget(Math.floor(config.maxReadingBytes / Math.max(1, config.ingressThreads)));
  const app = uws.App();
  const lifecycle = new Lifecycle();
  const access = config.apiKeysFile ? AccessControl.fromFile(config.apiKeysFile) : AccessControl.open();
  const hub = new SubscriberHub(app, deps.gate, access, log.child({ component: 'fanout' }));
  const decodePool = config.decodeOffloadBytes > 0 ? new DecodePool(config.decodeThreads, log.child({ component: 'decode-pool' })) : undefined;
  registerIngestRoutes(app, { config, producer: deps.producer, lifecycle, decodePool, access, countRequest: deps.countRequest, log: log.child({ component: 'ingest' }) });
  hub.register({ maxBackpressureBytes: config.wsMaxBackpressureBytes, idleTimeoutSeconds: config.wsIdleTimeoutSeconds });
  registerHealthRoutes(app, { ready: deps.ready, draining: () => lifecycle.draining });
  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    deps.metricsText().then((text) => {
      if (aborted) return;
      res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8').end(text));
    }, (err: unknown) => {
      if (!aborted) res.cork(() => sendError(res, err));
    });
  });
  app.any('/*', (res, req) => {
    const what = `${req.getMethod().toUpperCase()} ${req.getUrl()}`;
    sendError(res, new SluiceError('ROUTE_NOT_FOUND', `no route for ${what}`));
  });
  return { app, hub, lifecycle, close: async () => decodePool?.close() };
}

/** Listens; resolves with the listen socket, or false when the port cannot be bound. */
export function listen(app: TemplatedApp, host: string, port: number) {
  return new Promise<Parameters<Parameters<TemplatedApp['listen']>[2]>[0]>((resolve) => app.listen(host, port, resolve));
}
