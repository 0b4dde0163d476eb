/**
 * Composition root: wires the data path (HTTP in → decode → producer → Kafka → consumer → subscriber hub
 * → WebSocket out) and owns start-up and graceful shutdown order.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { PROJECT_ROOT } from './project-root.js';
import type { Config } from './config/schema.js';
import { maskSecrets, readPropertiesFile } from './config/properties.js';
import { kafkaSecurityProperties } from './config/kafka-security.js';
import { StartupError } from './errors.js';
import { EmbeddedBroker } from './embedded-broker/broker.js';
import { GatewayProducer } from './producer/gateway-producer.js';
import { LocalProducePort } from './producer/local-produce-port.js';
import { TopicCatalog } from './producer/topic-catalog.js';
import type { ProducePort } from './producer/produce-port.js';
import { TopicRegistry } from './producer/topic-registry.js';
import { ProducerClusterTopics } from './producer/cluster-topics.js';
import { SubscriptionRegistry } from './consumer/subscription-registry.js';
import { kafkaReaderFactory, openReaderCounts } from './consumer/kafka-reader.js';
import type { FanoutGate, HubPort } from './subscription/protocol.js';
import { loadUws } from './ingress/uws-native.js';
import { buildHttpApp, checkTlsSettings, listen, type HttpAppDeps } from './ingress/http-app.js';
import { GatewayMetrics } from './ops/metrics.js';
import { ErrorTally, RequestTally } from './ops/request-tally.js';
import { AccessControl } from './http/access-control.js';
import { subscriptionTokens } from './http/jwks-tokens.js';
import { IngressWorkers } from './threads/ingress-workers.js';
import { startAdminListener, type AdminListener } from './ops/admin-app.js';
import { sluiceVersion, uwsVersion } from './ops/build-info.js';
import { KafkaConsumer, librdkafkaVersion } from './kafka-client.js';

const PRODUCER_PROFILES: Record<Config['producerProfile'], string> = {
  default: 'native-config/producer.properties',
  throughput: 'native-config/producer.throughput.properties',
  'low-latency': 'native-config/producer.low-latency.properties',
};

export interface RunningGateway {
  port: number;
  /** The admin listener's port (SLUICE_ADMIN_PORT), if there is one. */
  adminPort: number | undefined;
  bootstrapServers: string;
  /** Stops accepting, answers requests in progress, flushes Kafka, closes sockets with 1001, stops the broker. */
  stop(): Promise<void>;
  /**
   * Resolves with the reason if the gateway can no longer serve as configured (an ingress worker thread
   * ended): the caller stops it and exits non-zero so that it is restarted. Never rejects.
   */
  failed: Promise<string>;
}

export async function startGateway(config: Config, log: Logger): Promise<RunningGateway> {
  const uws = loadUws();
  // Each ingress thread loads the keys itself; checking the file here makes a bad one stop start-up.
  if (config.apiKeysFile) AccessControl.fromFile(config.apiKeysFile);
  subscriptionTokens(config); // likewise the JWT settings (at most one; a readable secret or key)
  checkTlsSettings(uws, config);
  // File settings arrive absolute from the config loader; the profiles are files shipped in the Sluice folder.
  const producerFile = config.producerConfigFile || resolve(PROJECT_ROOT, PRODUCER_PROFILES[config.producerProfile]);
  const security = kafkaSecurityProperties(config);
  const producerProps = {
    ...readPropertiesFile(producerFile, config.producerConfigFile ? 'SLUICE_PRODUCER_CONFIG' : 'SLUICE_PRODUCER_PROFILE'),
    ...security,
  };
  const consumerFile = config.consumerConfigFile;
  const consumerProps = { ...readPropertiesFile(consumerFile, 'SLUICE_CONSUMER_CONFIG'), ...security };
  checkBudgetFitsQueue(config, producerProps, producerFile);

  let broker: EmbeddedBroker | undefined;
  let bootstrapServers = config.kafkaBootstrapServers;
  if (bootstrapServers === '') {
    broker = new EmbeddedBroker({
      port: config.embeddedKafkaPort,
      dataDir: config.embeddedKafkaDir,
      log: (msg) => log.info({ component: 'embedded-kafka' }, msg),
    });
    await broker.start();
    bootstrapServers = broker.bootstrapServers;
  }

  const metrics = new GatewayMetrics({ version: sluiceVersion, librdkafka: librdkafkaVersion, uws: uwsVersion() });
  let producer: GatewayProducer;
  try {
    producer = new GatewayProducer(bootstrapServers, producerProps, config, log.child({ component: 'producer' }), metrics);
  } catch (err) {
    await broker?.stop();
    throw new StartupError(
      `${producerFile} (SLUICE_PRODUCER_CONFIG / SLUICE_PRODUCER_PROFILE): librdkafka refused it: ${(err as Error).message}`,
    );
  }
  try {
    // Fan-out consumers start on first subscription; building one now (no connection) checks their properties at start-up.
    new KafkaConsumer({ 'group.id': 'sluice-config-check', ...consumerProps, 'bootstrap.servers': bootstrapServers }, {});
  } catch (err) {
    await broker?.stop();
    throw new StartupError(`${consumerFile} (SLUICE_CONSUMER_CONFIG): librdkafka refused it: ${(err as Error).message}`);
  }
  log.info(
    { librdkafka: librdkafkaVersion, bootstrapServers, producerConfigFile: producerFile, producerConfig: maskSecrets(producerProps) },
    'effective producer configuration',
  );
  await producer.connect().catch(async (err: unknown) => {
    await broker?.stop();
    throw err;
  });

  const topics = new TopicRegistry(new ProducerClusterTopics(producer), config, log.child({ component: 'topics' }));
  const subscriptions = new SubscriptionRegistry({
    topics,
    config,
    log: log.child({ component: 'consumer' }),
    newReader: kafkaReaderFactory(bootstrapServers, consumerProps, log.child({ component: 'consumer' })),
    onConsumerStats: (stats) => metrics.onConsumerStats(stats),
    forgetTopic: (topic) => metrics.forgetTopic(topic),
    liveFeedIdleGraceMs: config.liveIdleGraceMs,
  });
  const connectFanout = (hub: HubPort) => subscriptions.connect(hub);
  const producePort = new LocalProducePort(producer, topics, new TopicCatalog(producer, config.metadataTimeoutMs));
  const metricsText = () => {
    // Gauges read at scrape time rather than updated on the hot path.
    metrics.addRequests(tally.drain());
    const delivered = producer.takeDeliveries();
    metrics.addDeliveries(delivered.ok, delivered.failed, delivered.unconfirmed);
    metrics.addErrors(errorTally.drain());
    const inflight = producer.inflight;
    metrics.inflightRecords.set(inflight.records);
    metrics.inflightBytes.set(inflight.bytes);
    for (const [transport, n] of Object.entries(subscriptions.counts())) metrics.subscribers.labels(transport).set(n);
    const life = subscriptions.lifecycle();
    metrics.setLifecycle(openReaderCounts(), life.subscriptions, life.replaysInProgress, life.groupMembers);
    for (const [limit, n] of Object.entries(life.largestShares)) metrics.largestShares.labels(limit).set(n);
    metrics.liveTopics.set(subscriptions.pool.size);
    metrics.livePartitions.set(subscriptions.pool.partitions);
    metrics.windowLateRecords.inc(subscriptions.takeLateRecords());
    metrics.liveViews.set(subscriptions.viewCount);
    metrics.sampleMainLoopDelay();
    for (const [source, n] of Object.entries(subscriptions.takeResumes())) metrics.resumes.labels(source).inc(n);
    const resumeWindow = subscriptions.windowTotals();
    metrics.resumeWindowRecords.set(resumeWindow.records);
    metrics.resumeWindowBytes.set(resumeWindow.bytes);
    const drops = ingress?.takeSlowDrops();
    if (drops) metrics.addSlowDrops(drops);
    const frames = ingress?.takeFramesOut();
    if (frames) metrics.addFramesSent(frames);
    return metrics.registry.metrics();
  };
  // Requests are tallied in a plain Map and handed to prom-client at scrape time: no label lookups per request.
  const tally = new RequestTally();
  const countRequest = (route: string, status: number, records: number, seconds: number) => tally.add(route, status, records, seconds);
  const errorTally = new ErrorTally();
  const countError = (code: string, route: string) => errorTally.add(code, route);

  let fail!: (reason: string) => void;
  const failed = new Promise<string>((resolve) => (fail = resolve));
  let ingress: Ingress;
  try {
    ingress =
      config.ingressThreads === 0
        ? await startMainThreadIngress(
            uws,
            config,
            producePort,
            connectFanout,
            () => producer.ready,
            countRequest,
            countError,
            metricsText,
            log,
          )
        : await startWorkerIngress(config, producePort, connectFanout, () => producer.ready, metrics, metricsText, log, fail);
  } catch (err) {
    await producer.disconnect();
    await broker?.stop();
    throw err;
  }

  // From the first shutdown signal: /readyz answers 503 while the gateway still serves (SLUICE_SHUTDOWN_DELAY_MS).
  let leaving = false;
  let admin: AdminListener | undefined;
  if (config.adminPort >= 0) {
    try {
      admin = await startAdminListener(uws, {
        host: config.host,
        port: config.adminPort,
        readiness: { ready: () => producer.ready, draining: () => leaving },
        metricsText,
        metricsToken: config.metricsToken,
        retryAfterSeconds: config.retryAfterSeconds,
        countError,
        log,
      });
    } catch (err) {
      await ingress.drain(0);
      await ingress.closeSockets(0);
      await ingress.finished();
      await producer.disconnect();
      await broker?.stop();
      throw err;
    }
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // One budget for the whole shutdown (SLUICE_SHUTDOWN_TIMEOUT_MS): each step gets what the earlier ones left.
      const deadline = performance.now() + config.shutdownTimeoutMs;
      const left = () => Math.max(0, Math.round(deadline - performance.now()));
      leaving = true;
      ingress.leave();
      if (config.shutdownDelayMs > 0) {
        log.info(
          { delayMs: config.shutdownDelayMs },
          'shutting down: /readyz answers 503, still serving until load balancers have noticed',
        );
        await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
      }
      log.info('shutting down: refusing new requests');
      log.debug({ budgetLeftMs: left() }, 'shutdown: waiting for the requests in progress');
      await ingress.drain(Math.max(0, left() - config.shutdownCloseWindowMs));
      log.info('requests in progress answered');
      log.debug({ windowMs: config.shutdownCloseWindowMs }, 'closing subscribers over the close window');
      await ingress.closeSockets(Math.min(config.shutdownCloseWindowMs, left()));
      await subscriptions.closeAll();
      log.debug({ budgetLeftMs: left(), queued: producer.inflight.records }, 'shutdown: flushing the producer');
      await producer.flush(left());
      log.info({ undelivered: producer.inflight.records }, 'producer flushed');
      await producer.disconnect();
      if (broker) await broker.stop();
      await ingress.finished();
      admin?.close();
      log.info('shutdown complete');
    })());

  return { port: ingress.port, adminPort: admin?.port, bootstrapServers, stop, failed };
}

/** The HTTP/WebSocket side, on the main thread or in worker threads. */
interface Ingress {
  port: number;
  /** Slow-subscriber closes not yet counted in metrics (main-thread ingress; workers post theirs). */
  takeSlowDrops(): Record<string, number> | null;
  /** Record frames written not yet counted in metrics (main-thread ingress; workers post theirs). */
  takeFramesOut(): Record<string, number> | null;
  /** Stop accepting; resolve once every request in progress is answered (or the timeout passed). */
  drain(timeoutMs: number): Promise<void>;
  /** A shutdown has begun: `/readyz` answers 503 while requests are still served. */
  leave(): void;
  /** Close every WebSocket (1001) and SSE stream, each at a random moment of `windowMs`; resolves once closed. */
  closeSockets(windowMs: number): Promise<void>;
  /** Resolves once the ingress holds no socket any more (worker threads have ended). */
  finished(): Promise<void>;
}

async function startMainThreadIngress(
  uws: ReturnType<typeof loadUws>,
  config: Config,
  producer: ProducePort,
  connectFanout: (hub: HubPort) => FanoutGate,
  ready: () => boolean,
  countRequest: HttpAppDeps['countRequest'],
  countError: HttpAppDeps['countError'],
  metricsText: () => Promise<string>,
  log: Logger,
): Promise<Ingress> {
  const { app, hub, lifecycle, close } = buildHttpApp(uws, {
    config,
    producer,
    connectFanout,
    ready,
    countRequest,
    countError,
    metricsText,
    log,
  });
  const socket = await listen(app, config.host, config.port);
  if (!socket) throw new StartupError(`SLUICE_PORT=${config.port}: cannot listen on ${config.host}:${config.port} (in use?)`);
  return {
    port: uws.us_socket_local_port(socket),
    takeSlowDrops: () => hub.takeSlowDrops(),
    takeFramesOut: () => hub.takeFramesOut(),
    drain: (timeoutMs) => {
      lifecycle.draining = true;
      uws.us_listen_socket_close(socket);
      return lifecycle.idle(timeoutMs);
    },
    leave: () => {
      lifecycle.leaving = true;
    },
    closeSockets: (windowMs) => hub.closeAll(windowMs),
    finished: close,
  };
}

async function startWorkerIngress(
  config: Config,
  producer: ProducePort,
  connectFanout: (hub: HubPort) => FanoutGate,
  ready: () => boolean,
  metrics: GatewayMetrics,
  metricsText: () => Promise<string>,
  log: Logger,
  onLost: (reason: string) => void,
): Promise<Ingress> {
  const workers = new IngressWorkers(
    config,
    producer,
    connectFanout,
    ready,
    metrics,
    metricsText,
    log.child({ component: 'ingress-workers' }),
    { onLost },
  );
  const port = await workers.start(config.ingressThreads);
  log.info({ threads: config.ingressThreads }, 'ingress worker threads listening');
  return {
    port,
    takeSlowDrops: () => null,
    takeFramesOut: () => null,
    drain: (t) => workers.drain(t),
    leave: () => workers.leave(),
    closeSockets: (windowMs) => {
      workers.closeSockets(windowMs);
      // Each worker closes its subscribers over the window by itself; waitForExit (finished) waits for them.
      return new Promise((r) => setTimeout(r, windowMs));
    },
    finished: () => workers.waitForExit(),
  };
}

/** Sluice refuses whole requests against its budget; librdkafka's queue must be at least as large, or a batch could fail half-way. */
function checkBudgetFitsQueue(config: Config, props: Record<string, string>, file: string): void {
  const maxMessages = Number(props['queue.buffering.max.messages'] ?? 100_000);
  const maxKbytes = Number(props['queue.buffering.max.kbytes'] ?? 1_048_576);
  if (config.maxInflightRecords > maxMessages) {
    throw new StartupError(
      `SLUICE_MAX_INFLIGHT_RECORDS=${config.maxInflightRecords} exceeds queue.buffering.max.messages=${maxMessages} in ${file}; lower the first or raise the second`,
    );
  }
  if (config.maxInflightBytes > maxKbytes * 1024) {
    throw new StartupError(
      `SLUICE_MAX_INFLIGHT_BYTES=${config.maxInflightBytes} exceeds queue.buffering.max.kbytes=${maxKbytes} (KiB) in ${file}; lower the first or raise the second`,
    );
  }
}
