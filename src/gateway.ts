/**
 * Composition root: wires the data path (HTTP in → decode → producer → Kafka → consumer → subscriber hub
 * → WebSocket out) and owns start-up and graceful shutdown order.
 */
import type { Logger } from 'pino';
import type { us_listen_socket } from 'uWebSockets.js';
import type { Config } from './config/schema.js';
import { maskSecrets, readPropertiesFile } from './config/properties.js';
import { StartupError, SluiceError } from './errors.js';
import { EmbeddedBroker } from './embedded-broker/broker.js';
import { GatewayProducer } from './producer/gateway-producer.js';
import { TopicRegistry } from './producer/topic-registry.js';
import { ConsumerPool } from './consumer/consumer-pool.js';
import { SubscriberHub } from './fanout/subscriber-hub.js';
import { loadUws } from './ingress/uws-native.js';
import { registerIngestRoutes } from './ingress/ingest-routes.js';
import { Lifecycle } from './ingress/lifecycle.js';
import { sendError, setRetryAfterSeconds } from './ingress/respond.js';
import { registerHealthRoutes } from './ops/health-routes.js';
import { KafkaConsumer, librdkafkaVersion } from './kafka-client.js';

export interface RunningGateway {
  port: number;
  bootstrapServers: string;
  /** Stops accepting, answers requests in progress, flushes Kafka, closes sockets with 1001, stops the broker. */
  stop(): Promise<void>;
}

export async function startGateway(config: Config, log: Logger): Promise<RunningGateway> {
  const uws = loadUws(config.allowUwsFallback);
  setRetryAfterSeconds(config.retryAfterSeconds);
  const producerProps = readPropertiesFile(config.producerConfigFile, 'SLUICE_PRODUCER_CONFIG');
  const consumerProps = readPropertiesFile(config.consumerConfigFile, 'SLUICE_CONSUMER_CONFIG');
  checkBudgetFitsQueue(config, producerProps);

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

  let producer: GatewayProducer;
  try {
    producer = new GatewayProducer(bootstrapServers, producerProps, config, log.child({ component: 'producer' }));
  } catch (err) {
    await broker?.stop();
    throw new StartupError(`${config.producerConfigFile} (SLUICE_PRODUCER_CONFIG): librdkafka refused it: ${(err as Error).message}`);
  }
  try {
    // Fan-out consumers start on first subscription; building one now (no connection) checks their properties at start-up.
    new KafkaConsumer({ 'group.id': 'sluice-config-check', ...consumerProps, 'bootstrap.servers': bootstrapServers }, {});
  } catch (err) {
    await broker?.stop();
    throw new StartupError(`${config.consumerConfigFile} (SLUICE_CONSUMER_CONFIG): librdkafka refused it: ${(err as Error).message}`);
  }
  log.info({ librdkafka: librdkafkaVersion, bootstrapServers, producerConfig: maskSecrets(producerProps) }, 'effective producer configuration');
  await producer.connect();

  const topics = new TopicRegistry(producer, config, log.child({ component: 'topics' }));
  const app = uws.App();
  const lifecycle = new Lifecycle();
  let hub: SubscriberHub | undefined;
  const pool = new ConsumerPool(bootstrapServers, consumerProps, (topic, records) => hub?.publishBatch(topic, records),
    config.metadataTimeoutMs, log.child({ component: 'consumer' }));
  hub = new SubscriberHub(app, {
    acquire: async (topic) => {
      const { partitions } = await topics.ensure(topic);
      await pool.acquire(topic, partitions);
    },
    release: (topic) => pool.release(topic),
  }, log.child({ component: 'fanout' }));

  registerIngestRoutes(app, { config, producer, topics, lifecycle, log: log.child({ component: 'ingest' }) });
  hub.register({ maxBackpressureBytes: config.wsMaxBackpressureBytes, idleTimeoutSeconds: config.wsIdleTimeoutSeconds });
  registerHealthRoutes(app, { ready: () => producer.ready, draining: () => lifecycle.draining });
  app.any('/*', (res, req) => {
    const what = `${req.getMethod().toUpperCase()} ${req.getUrl()}`;
    sendError(res, new SluiceError('ROUTE_NOT_FOUND', `no route for ${what}`));
  });

  const listenSocket = await new Promise<us_listen_socket | false>((resolve) => app.listen(config.host, config.port, resolve));
  if (!listenSocket) {
    await producer.disconnect();
    await broker?.stop();
    throw new StartupError(`SLUICE_PORT=${config.port}: cannot listen on ${config.host}:${config.port} (in use?)`);
  }
  const port = uws.us_socket_local_port(listenSocket);

  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    lifecycle.draining = true;
    uws.us_listen_socket_close(listenSocket);
    log.info({ requestsInProgress: lifecycle.requestsInProgress }, 'shutting down: refusing new requests');
    await lifecycle.idle(config.shutdownTimeoutMs);
    log.info('requests in progress answered');
    hub?.closeAll();
    await pool.closeAll();
    log.info('subscribers closed');
    await producer.flush(config.shutdownTimeoutMs);
    log.info({ undelivered: producer.inflight.records }, 'producer flushed');
    await producer.disconnect();
    if (broker) await broker.stop();
    log.info('shutdown complete');
  })());

  return { port, bootstrapServers, stop };
}

/** Sluice refuses whole requests against its budget; librdkafka's queue must be at least as large, or a batch could fail half-way. */
function checkBudgetFitsQueue(config: Config, props: Record<string, string>): void {
  const maxMessages = Number(props['queue.buffering.max.messages'] ?? 100_000);
  const maxKbytes = Number(props['queue.buffering.max.kbytes'] ?? 1_048_576);
  if (config.maxInflightRecords > maxMessages) {
    throw new StartupError(`SLUICE_MAX_INFLIGHT_RECORDS=${config.maxInflightRecords} exceeds queue.buffering.max.messages=${maxMessages} in ${config.producerConfigFile}; lower the first or raise the second`);
  }
  if (config.maxInflightBytes > maxKbytes * 1024) {
    throw new StartupError(`SLUICE_MAX_INFLIGHT_BYTES=${config.maxInflightBytes} exceeds queue.buffering.max.kbytes=${maxKbytes} (KiB) in ${config.producerConfigFile}; lower the first or raise the second`);
  }
}
