/**
 * One real Kafka broker (embedded KRaft node from the Maven jars) for the whole test run, on a port of
 * its own so a developer's `npm start` on 9092 can keep running. Tests get its address through `inject`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { EmbeddedBroker } from '../../src/embedded-broker/broker.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBootstrap: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-test-kafka-'));
  // Below Linux's ephemeral port range (32768+): a client retrying a dead port there can connect to itself.
  const port = Number(process.env.SLUICE_TEST_KAFKA_PORT ?? 19092);
  const broker = new EmbeddedBroker({ port, dataDir, log: (m) => console.error(`[test-kafka] ${m}`) });
  await broker.start();
  project.provide('kafkaBootstrap', broker.bootstrapServers);
  return async () => {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
