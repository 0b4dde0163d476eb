/**
 * `npm run kafka:start` / `npm run kafka:stop` (and `fetch-jars`, used by set-up): the embedded broker as a background service for manual
 * use (kcat, the Java perf tools). Sluice's own start manages the broker itself; `stop` also stops a broker that one left running.
 */
import { resolve } from 'node:path';
import { EmbeddedBroker, stopProcess } from './broker.js';
import { ensureKafkaJars } from './kafka-jars.js';
import { isRunning, pidFilePath, removeBrokerRecord, runningBroker } from './pid-file.js';
import { PROJECT_ROOT } from '../project-root.js';
import { loadConfigOrExit } from '../config/load-or-exit.js';

const log = (msg: string) => console.error(`[kafka] ${msg}`);

async function main(command: string | undefined): Promise<void> {
  // fetch-jars runs in every set-up, before the settings are checked: it needs none of them, so a bad setting is
  // reported once, cleanly, by the command that uses it (a top-level loadConfig() here used to end set-up in a stack trace).
  if (command === 'fetch-jars') {
    ensureKafkaJars(log);
    return;
  }
  // Bad settings exit 2, as the gateway's start does; a refusal to start or stop a broker exits 1.
  const config = loadConfigOrExit();
  const dataDir = resolve(PROJECT_ROOT, config.embeddedKafkaDir);
  if (command === 'start') {
    // Detached: the broker is a service that outlives this command; start() refuses if one already runs on the data folder.
    const broker = new EmbeddedBroker({ port: config.embeddedKafkaPort, dataDir, log });
    await broker.start(true);
    console.log(`Kafka ready: bootstrap.servers=${broker.bootstrapServers} (pid ${broker.pid}); stop with "npm run kafka:stop"`);
  } else if (command === 'stop') {
    // Whichever start recorded it: this command's, or a gateway's (one running, or one that died and left it).
    const broker = runningBroker(dataDir);
    if (!broker) {
      console.log(`no Kafka broker recorded in ${pidFilePath(dataDir)} is running`);
      return;
    }
    await stopProcess(broker.pid, 30_000);
    if (isRunning(broker.pid, broker.startTime)) throw new Error(`Kafka broker (pid ${broker.pid}) survived SIGKILL; stop it by hand`);
    removeBrokerRecord(dataDir, broker.pid);
    const by = broker.owner ? `the embedded broker of process ${broker.owner.pid}` : 'started by "npm run kafka:start"';
    console.log(`Kafka broker (pid ${broker.pid}, ${by}) stopped`);
  } else {
    throw new Error('usage: cli.js start|stop|fetch-jars');
  }
}

main(process.argv[2]).then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`sluice: ${err.message}`);
    process.exit(1);
  },
);
