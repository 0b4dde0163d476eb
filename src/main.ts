/**
 * `npm start`: loads and validates configuration, starts the embedded Kafka broker when no cluster is
 * configured, then the gateway; SIGTERM, SIGINT and SIGHUP shut down gracefully (no accepted record is
 * dropped). SIGHUP drains rather than reloading: a restarted instance reads keys, certificates and settings
 * afresh, and a reload that half-applied would be worse than a drain (docs/operations.md, "Shutdown").
 */
import { loadConfigOrExit } from './config/load-or-exit.js';
import { StartupError } from './errors.js';
import { createLogger } from './ops/logger.js';
import { startGateway } from './gateway.js';
import { sluiceVersion } from './ops/build-info.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createLogger(config.logLevel);
  // As one JSON line like every other log line, not a bare stack on stderr; then the process ends as Node would.
  process.on('uncaughtException', (err, origin) => {
    log.fatal({ err: err.stack ?? String(err), origin }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    log.fatal({ err: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) }, 'unhandled promise rejection');
    process.exit(1);
  });
  log.info({ version: sluiceVersion, node: process.versions.node, pid: process.pid }, 'sluice starting');
  log.debug(
    {
      ingressThreads: config.ingressThreads,
      adminPort: config.adminPort,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      shutdownDelayMs: config.shutdownDelayMs,
    },
    'debug logging on: logs the shutdown steps, the admin listener and the producer set-up in detail',
  );
  let gateway;
  try {
    gateway = await startGateway(config, log);
  } catch (err) {
    // One clean message on stderr in every start mode; the stack of an unexpected failure goes to the JSON log only.
    const message = err instanceof Error ? err.message : String(err);
    log.fatal({ err: err instanceof StartupError ? message : ((err as Error).stack ?? message) }, 'start-up failed');
    console.error(`sluice: start-up failed: ${message}`);
    process.exit(1);
  }
  const host = config.host === '0.0.0.0' ? 'localhost' : config.host;
  const [http, ws] = config.tlsCertFile ? ['https', 'wss'] : ['http', 'ws'];
  log.info(
    {
      version: sluiceVersion,
      port: gateway.port,
      adminPort: gateway.adminPort,
      kafka: gateway.bootstrapServers,
      embeddedKafka: config.kafkaBootstrapServers === '',
    },
    'sluice listening',
  );
  const admin = gateway.adminPort === undefined ? `${http}://${host}:${gateway.port}` : `http://${host}:${gateway.adminPort}`;
  console.error(
    [
      config.kafkaBootstrapServers
        ? `Sluice is up (Kafka: ${gateway.bootstrapServers})`
        : `Sluice is up (Kafka: ${gateway.bootstrapServers}, the embedded single-node broker: for development; set KAFKA_BOOTSTRAP_SERVERS for a cluster)`,
      `  ingest:    POST ${http}://${host}:${gateway.port}/topics/{topic}`,
      `  live:      ${ws}://${host}:${gateway.port}/ws/topics/{topic}`,
      `  dashboard: ${http}://${host}:${gateway.port}/`,
      `  health:    ${admin}/healthz  ${admin}/readyz  ${admin}/metrics`,
    ].join('\n'),
  );

  // Set once the gateway cannot serve as configured: its shutdown then ends with exit code 1, whoever began it.
  let failure: string | undefined;
  const exitWhenStopped = () =>
    gateway.stop().then(
      () => process.exit(failure === undefined ? 0 : 1),
      (err: Error) => {
        log.error({ err: err.message }, 'shutdown failed');
        process.exit(1);
      },
    );
  void gateway.failed.then((reason) => {
    failure = reason;
    log.error({ reason }, 'shutting down to be restarted: exit code 1 once drained');
    exitWhenStopped();
  });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(130);
    }
    log.info({ signal }, 'signal received');
    exitWhenStopped();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onSignal);
}

void main();
