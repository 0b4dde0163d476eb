/**
 * Builds one uWS app with every route: ingest, WebSocket/SSE fan-out, health, 404. The same code serves on
 * the main thread or in each ingress worker thread; what differs is only where the ProducePort and the
 * FanoutGate lead (directly to Kafka clients, or over a MessagePort to the main thread) and the services it
 * is given (edge-services.ts: built by the thread's composition root, never here).
 */
import type { TemplatedApp } from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { accessSync, constants } from 'node:fs';
import { StartupError } from '../errors.js';
import type { ProducePort } from '../producer/produce-port.js';
import { SubscriberHub } from '../fanout/subscriber-hub.js';
import type { FanoutGate, HubPort } from '../subscription/protocol.js';
import { HEALTH_ROUTE_IDS, registerHealthRoutes, registerMetricsRoute } from '../ops/health-routes.js';
import { registerIngestRoutes } from './ingest-routes.js';
import { Lifecycle } from './lifecycle.js';
import { ContractApp } from '../api/contract-app.js';
import { registerContractRoutes } from '../api/contract-routes.js';
import { ReadingBudget } from './body-reader.js';
import { DecodePool } from '../decode/decode-pool.js';
import type { EdgeServices } from './edge-services.js';
import { registerDashboardRoutes } from './dashboard-route.js';
import { registerTopicListRoute } from './topic-list-route.js';
import type { loadUws } from './uws-native.js';

export interface HttpAppDeps {
  config: Config;
  producer: ProducePort;
  /** Connects this app's subscriber hub to the subscription registry (directly, or over the main-thread link). */
  connectFanout: (hub: HubPort) => FanoutGate;
  /** True while the producer reaches a broker. */
  ready: () => boolean;
  countRequest: (route: string, status: number, records: number, seconds: number) => void;
  /** Prometheus text for GET /metrics (gathered on the main thread). */
  metricsText: () => Promise<string>;
  /** This thread's services (buildEdgeServices). */
  services: EdgeServices;
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
  const { config, log, services } = deps;
  const { answers, cors, access } = services;
  // This thread's share of SLUICE_MAX_READING_BYTES.
  const reading = new ReadingBudget(Math.floor(config.maxReadingBytes / Math.max(1, config.ingressThreads)));
  const app = config.tlsCertFile
    ? uws.SSLApp({ cert_file_name: config.tlsCertFile, key_file_name: config.tlsKeyFile, passphrase: config.tlsKeyPassphrase || undefined })
    : uws.App();
  // Every route below must be a row of the route table (src/api/routes.ts), and every row a route.
  // With an admin port, health and metrics are served there (by the main thread) and not here.
  const adminElsewhere = config.adminPort >= 0;
  const contract = new ContractApp(app, answers, cors, adminElsewhere ? HEALTH_ROUTE_IDS : []);
  const lifecycle = new Lifecycle();
  const hub = new SubscriberHub(app, services.subscribeAuth, answers, cors, log.child({ component: 'fanout' }));
  const decodePool =
    config.decodeOffloadBytes > 0 ? new DecodePool(config.decodeThreads, log.child({ component: 'decode-pool' })) : undefined;
  registerIngestRoutes(app, {
    config,
    producer: deps.producer,
    lifecycle,
    answers,
    cors,
    reading,
    decodePool,
    access,
    idempotency: services.idempotency,
    schemas: services.schemas,
    countRequest: deps.countRequest,
    log: log.child({ component: 'ingest' }),
  });
  hub.register(deps.connectFanout(hub), {
    maxBufferedBytes: config.wsMaxBackpressureBytes,
    idleTimeoutSeconds: config.wsIdleTimeoutSeconds,
    sseHeartbeatSeconds: config.sseHeartbeatSeconds,
  });
  if (!adminElsewhere) {
    registerHealthRoutes(app, { ready: deps.ready, draining: () => lifecycle.draining || lifecycle.leaving });
    registerMetricsRoute(app, deps.metricsText, answers, config.metricsToken);
  }
  registerDashboardRoutes(app);
  registerTopicListRoute(app, { producer: deps.producer, access, answers, cors });
  registerContractRoutes(app);
  app.options('/*', (res, req) => cors.answerPreflight(res, req));
  contract.installFallback();
  contract.assertComplete();
  return { app, hub, lifecycle, close: async () => decodePool?.close() };
}

/** Listens; resolves with the listen socket, or false when the port cannot be bound. */
export function listen(app: TemplatedApp, host: string, port: number) {
  return new Promise<Parameters<Parameters<TemplatedApp['listen']>[2]>[0]>((resolve) => app.listen(host, port, resolve));
}

/** HTTPS settings come as a pair of readable files; checked on the main thread before any app is built. */
export function checkTlsSettings(uws: ReturnType<typeof loadUws>, config: Config): void {
  if (!config.tlsCertFile && !config.tlsKeyFile) return;
  if (!config.tlsCertFile || !config.tlsKeyFile) {
    throw new StartupError('SLUICE_TLS_CERT_FILE and SLUICE_TLS_KEY_FILE go together: set both for HTTPS, or neither');
  }
  for (const [name, file] of [
    ['SLUICE_TLS_CERT_FILE', config.tlsCertFile],
    ['SLUICE_TLS_KEY_FILE', config.tlsKeyFile],
  ]) {
    try {
      accessSync(file, constants.R_OK);
    } catch (err) {
      throw new StartupError(`${name}: cannot read ${file}: ${(err as Error).message}`);
    }
  }
  try {
    uws.SSLApp({ cert_file_name: config.tlsCertFile, key_file_name: config.tlsKeyFile, passphrase: config.tlsKeyPassphrase || undefined });
  } catch (err) {
    throw new StartupError(
      `SLUICE_TLS_CERT_FILE / SLUICE_TLS_KEY_FILE: uWS could not load them (${(err as Error).message}); check that the key matches the certificate and the passphrase`,
    );
  }
}
