/**
 * Provisions Apache Kafka's jars from Maven Central (no Docker, no tarball): `mvn dependency:copy-dependencies`
 * on the pom beside this file, into the git-ignored `.kafka/<version>/libs`. A marker holding the pom's
 * hash makes the second run free.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../project-root.js';
const POM = join(PROJECT_ROOT, 'src', 'embedded-broker', 'pom.xml');
export const LOG4J_CONFIG = join(PROJECT_ROOT, 'src', 'embedded-broker', 'log4j2.properties');

export function kafkaVersion(): string {
  const m = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(POM, 'utf8'));
  if (!m) throw new Error(`${POM} names no <kafka.version>`);
  return m[1];
}

/** Returns the folder of jars, downloading them first if needed. */
export function ensureKafkaJars(log: (msg: string) => void = () => {}): string {
  const pom = readFileSync(POM);
  const hash = createHash('sha256').update(pom).digest('hex').slice(0, 16);
  const home = join(PROJECT_ROOT, '.kafka', kafkaVersion());
  const libs = join(home, 'libs');
  const marker = join(home, 'complete');
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === hash) return libs;

  log(`resolving Apache Kafka ${kafkaVersion()} jars from Maven Central into ${libs}`);
  rmSync(libs, { recursive: true, force: true });
  mkdirSync(libs, { recursive: true });
  const mvn = spawnSync(
    'mvn',
    ['-q', '-B', '-Dstyle.color=never', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${libs}`],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  if (mvn.error) throw new Error(`cannot run Maven (mvn): ${mvn.error.message}; install it (apt-get install maven)`);
  if (mvn.status !== 0) throw new Error(`Maven could not resolve the Kafka jars (exit ${mvn.status}); see its output above`);
  writeFileSync(marker, hash + '\n');
  return libs;
}
