/** Start-up refuses bad configuration with a message that names the setting, and refuses the slow uWS fallback. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { ROOT, runSluiceExpectingExit, sluiceEnv, startSluice } from './helpers/sluice-process.js';

const kafka = inject('kafkaBootstrap');

describe('configuration errors stop start-up and name the setting', () => {
  it.each([
    [{ SLUICE_PORT: 'eighty' }, /SLUICE_PORT="eighty": must be a whole number/],
    [{ SLUICE_MAX_BODY_BYTES: '0' }, /SLUICE_MAX_BODY_BYTES="0": must be between 1 and/],
    [{ SLUICE_ACK_MODE: 'sometimes' }, /SLUICE_ACK_MODE="sometimes": must be one of durable, fire/],
    [{ SLUICE_CREATE_TOPICS: 'perhaps' }, /SLUICE_CREATE_TOPICS="perhaps": must be true or false/],
    [{ SLUICE_PROT: '8080' }, /SLUICE_PROT is not a Sluice setting/],
    [{ SLUICE_BODY_LIMIT: '10' }, /SLUICE_BODY_LIMIT was renamed: use SLUICE_MAX_BODY_BYTES instead/],
    [{ KAFKA_BOOTSTRAP_SERVERS: 'no port here' }, /KAFKA_BOOTSTRAP_SERVERS="no port here": must be a comma-separated list of host:port/],
    [
      { SLUICE_JWT_JWKS_URL: 'idp.example/jwks.json' },
      /SLUICE_JWT_JWKS_URL="idp.example\/jwks.json": must be an http:\/\/ or https:\/\/ URL/,
    ],
  ])('%j', async (env, message) => {
    const { code, output } = await runSluiceExpectingExit(env as Record<string, string>);
    expect(code).toBe(2);
    expect(output).toMatch(message);
    expect(output).not.toMatch(/^\s+at /m); // one clean message, no stack trace
  });

  it('two JWT settings at once stop start-up on the main thread, naming both, also with ingress threads', async () => {
    const { code, output } = await runSluiceExpectingExit({
      SLUICE_JWT_PUBLIC_KEY_FILE: '/nonexistent.pem',
      SLUICE_JWT_JWKS_URL: 'https://idp.example/jwks.json',
      SLUICE_INGRESS_THREADS: '2',
    });
    expect(code).not.toBe(0);
    expect(output).toMatch(/SLUICE_JWT_PUBLIC_KEY_FILE and SLUICE_JWT_JWKS_URL: set one, not several/);
    expect(output).not.toMatch(/ingress worker/);
  });

  it('the set-up step of npm start (fetch-jars) ignores the settings, and the broker commands refuse bad ones cleanly', () => {
    const run = (command: string) =>
      spawnSync(process.execPath, [join(ROOT, 'dist', 'embedded-broker', 'cli.js'), command], {
        cwd: ROOT,
        env: sluiceEnv({ SLUICE_PROT: '8080' }),
        encoding: 'utf8',
      });
    const fetch = run('fetch-jars');
    expect(fetch.status, fetch.stderr).toBe(0);
    expect(fetch.stderr).not.toMatch(/StartupError|^\s+at /m);
    for (const command of ['start', 'stop']) {
      const r = run(command);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^sluice: invalid configuration:\n {2}- SLUICE_PROT is not a Sluice setting/);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
  });

  it('a librdkafka property librdkafka rejects names the properties file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-conf-'));
    const file = join(dir, 'producer.properties');
    writeFileSync(file, 'batch.num.messages=many\n');
    const { code, output } = await runSluiceExpectingExit({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_PRODUCER_CONFIG: file });
    expect(code).toBe(1);
    expect(output).toContain(file);
    expect(output).toMatch(/batch\.num\.messages/);
  });

  it('a consumer property librdkafka rejects is caught at start-up, not at the first subscription', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-conf-'));
    const file = join(dir, 'consumer.properties');
    writeFileSync(file, 'fetch.wait.max.ms=later\n');
    const { code, output } = await runSluiceExpectingExit({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_CONSUMER_CONFIG: file });
    expect(code).toBe(1);
    expect(output).toContain(`${file} (SLUICE_CONSUMER_CONFIG): librdkafka refused it`);
    expect(output).toMatch(/fetch\.wait\.max\.ms/);
  });

  it("an in-flight budget larger than librdkafka's queue is refused (a batch could otherwise fail half-way)", async () => {
    const { code, output } = await runSluiceExpectingExit({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_MAX_INFLIGHT_RECORDS: '500000' });
    expect(code).toBe(1);
    expect(output).toMatch(/SLUICE_MAX_INFLIGHT_RECORDS=500000 exceeds queue\.buffering\.max\.messages/);
  });

  it('a missing properties file is named with its setting', async () => {
    const { code, output } = await runSluiceExpectingExit({
      KAFKA_BOOTSTRAP_SERVERS: kafka,
      SLUICE_CONSUMER_CONFIG: '/nonexistent/consumer.properties',
    });
    expect(code).toBe(1);
    expect(output).toMatch(/SLUICE_CONSUMER_CONFIG: cannot read \/nonexistent\/consumer\.properties/);
  });
});

describe('producer profiles', () => {
  it.each([
    ['default', '1'],
    ['throughput', '20'],
    ['low-latency', '0'],
  ])('%s starts and logs its effective producer configuration (linger.ms=%s)', async (profile, linger) => {
    const sluice = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_PRODUCER_PROFILE: profile });
    try {
      expect(sluice.output()).toContain(`"linger.ms":"${linger}"`);
      expect(sluice.output()).toMatch(
        new RegExp(`"producerConfigFile":"[^"]*native-config/producer\\.${profile === 'default' ? '' : `${profile}\\.`}properties"`),
      );
      expect((await fetch(`${sluice.url}/readyz`)).status).toBe(200);
    } finally {
      await sluice.stop();
    }
  });
});

describe('uWebSockets.js native binary', () => {
  it('stops start-up with the reason when the binary for this Node does not load (there is no slow fallback)', async () => {
    const failingLoad = join(ROOT, 'test', 'helpers', 'uws-binary-fails.mjs');
    const { code, output } = await runSluiceExpectingExit({ KAFKA_BOOTSTRAP_SERVERS: kafka, NODE_OPTIONS: `--import=${failingLoad}` });
    expect(code).toBe(1);
    expect(output).toMatch(/uWebSockets\.js' native binary \S*uws_\w+_\w+_\d+\.node did not load/);
    expect(output).toMatch(/simulated/);
    expect(output).toMatch(/Node\.js 20, 22 or 24/);
  });
});
