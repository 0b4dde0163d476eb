/**
 * `npm run kafka:start` / `npm run kafka:stop` (and `fetch-jars`, used by set-up): the embedded broker as a background service for manual
 * use (kcat, the Java perf tools). Sluice's own start manages the broker itself.
 */
import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedBroker, stopProcess } from './broker.js';
import { ensureKafkaJars } from './kafka-jars.js';
import { PROJECT_ROOT } from '../project-root.js';
import { loadConfig } from '../config/load.js';

const config = loadConfig();
const pidFile = join(PROJECT_ROOT, '.kafka', 'broker.pid');
const log = (msg: string) => console.error(`[kafka] ${msg}`);

async function main(command: string | undefined): Promise<void> {
  if (command === 'start') {
    if (existsSync(pidFile)) throw new Error(`a broker started by this command may be running (pid file ${pidFile}); run "npm run kafka:stop" first`);
    const broker = new EmbeddedBroker({ port: config.embeddedKafkaPort, dataDir: config.embeddedKafkaDir, log });
    await broker.start(true);
    writeFileSync(pidFile, String(broker.pid));
    console.log(`Kafka ready: bootstrap.servers=${broker.bootstrapServers} (pid ${broker.pid}); stop with "npm run kafka:stop"`);
  } else if (command === 'stop') {
    if (!existsSync(pidFile)) {
      console.log('no broker started by "npm run kafka:start" is recorded');
      return;
    }
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await stopProcess(pid, 30_000);
    rmSync(pidFile);
    console.log(`Kafka broker (pid ${pid}) stopped`);
  } else if (command === 'fetch-jars') {
    ensureKafkaJars(log);
  } else {
    throw new Error('usage: cli.js start|stop|fetch-jars');
  }
}

main(process.argv[2]).then(() => process.exit(0), (err: Error) => {
  console.error(err.message);
  process.exit(1);
});
