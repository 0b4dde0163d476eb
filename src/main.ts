/**
 * `npm start`: loads and validates configuration, starts the embedded Kafka broker when no cluster is
 * configured, then the gateway; SIGTERM/SIGINT shut down gracefully (no accepted record is dropped).
 */
import { loadConfigOrExit } from './config/load-or-exit.js';
import { StartupError } from './errors.js';
import { createLogger } from './ops/logger.js';
import { startGateway } from './gateway.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createLogger(config.logLevel);
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
  log.info({ port: gateway.port, kafka: gateway.bootstrapServers, embeddedKafka: config.kafkaBootstrapServers === '' }, 'sluice listening');
  console.error(
    [
      `Sluice is up (Kafka: ${gateway.bootstrapServers}${config.kafkaBootstrapServers ? '' : ', embedded'})`,
      `  ingest:    POST ${http}://${host}:${gateway.port}/topics/{topic}`,
      `  live:      ${ws}://${host}:${gateway.port}/ws/topics/{topic}`,
      `  dashboard: ${http}://${host}:${gateway.port}/`,
      `  health:    ${http}://${host}:${gateway.port}/healthz  ${http}://${host}:${gateway.port}/readyz  ${http}://${host}:${gateway.port}/metrics`,
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
}

void main();
