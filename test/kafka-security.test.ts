/**
 * Sluice against a real Kafka broker with secured listeners: SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN),
 * SSL with required client certificates (mTLS), and SASL_SSL with required client certificates. The
 * certificates are made at test time (openssl + keytool), the SCRAM users at storage-format time, the PLAIN
 * user in the listener's JAAS configuration; every password is random per run.
 *
 * What is checked is what a user checks: records POSTed through Sluice are in Kafka (read back by kcat over
 * a secured listener), live records reach a WebSocket through the fan-out consumer, refusals stop start-up
 * with a non-zero exit and a message naming the cause, and no password appears in Sluice's output.
 *
 * kcat reads back with PLAIN: its librdkafka (Debian's 2.0.2) cannot do SCRAM against Kafka 4.x brokers
 * (librdkafka < 2.6.1 sends a nonce Kafka 4 rejects; confluentinc/librdkafka#4895). Sluice's 2.15.1 can.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../src/embedded-broker/broker.js';
import { postJson, randomTopic, runSluiceExpectingExit, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { readTopic, type KcatProperties } from './helpers/kafka-read.js';
import { connect } from './helpers/websocket-client.js';
import { makeTestPki, type TestPki } from './helpers/test-pki.js';

// Ports beside this run's shared test broker: 19100–19104 for the default 19092.
const BASE = Number(process.env.SLUICE_TEST_KAFKA_PORT ?? 19092) + 8;
// BASE itself is the PLAINTEXT listener: inter-broker and start-up probe only.
const SASL_SSL = `127.0.0.1:${BASE + 2}`;
const MTLS = `127.0.0.1:${BASE + 3}`;
const SASL_MTLS = `127.0.0.1:${BASE + 4}`;

const secret = () => randomBytes(12).toString('hex');
const users = { alice: secret(), carol: secret(), bob: secret() }; // SCRAM-SHA-512, SCRAM-SHA-256, PLAIN

const dir = mkdtempSync(join(tmpdir(), 'sluice-kafka-security-'));
let pki: TestPki;
let broker: EmbeddedBroker;
let kcatPlain: KcatProperties;

beforeAll(async () => {
  pki = makeTestPki(dir);
  const scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  broker = new EmbeddedBroker({
    port: BASE,
    dataDir: join(dir, 'kafka'),
    heapMb: 512,
    extraListeners: [
      { name: 'SECURE', port: BASE + 2, protocol: 'SASL_SSL' },
      { name: 'MTLS', port: BASE + 3, protocol: 'SSL' },
      { name: 'SASLMTLS', port: BASE + 4, protocol: 'SASL_SSL' },
    ],
    serverProperties: {
      'ssl.keystore.type': 'PKCS12',
      'ssl.keystore.location': pki.brokerKeystore,
      'ssl.keystore.password': pki.storePassword,
      'ssl.truststore.type': 'PKCS12',
      'ssl.truststore.location': pki.brokerTruststore,
      'ssl.truststore.password': pki.storePassword,
      'sasl.enabled.mechanisms': 'SCRAM-SHA-512,SCRAM-SHA-256,PLAIN',
      'listener.name.secure.scram-sha-512.sasl.jaas.config': scram,
      'listener.name.secure.scram-sha-256.sasl.jaas.config': scram,
      'listener.name.secure.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required user_bob="${users.bob}";`,
      'listener.name.mtls.ssl.client.auth': 'required',
      'listener.name.saslmtls.ssl.client.auth': 'required',
      'listener.name.saslmtls.sasl.enabled.mechanisms': 'SCRAM-SHA-512',
      'listener.name.saslmtls.scram-sha-512.sasl.jaas.config': scram,
    },
    formatArgs: [
      '--add-scram',
      `SCRAM-SHA-512=[name=alice,password=${users.alice}]`,
      '--add-scram',
      `SCRAM-SHA-256=[name=carol,password=${users.carol}]`,
    ],
    log: (m) => console.error(`[secure-kafka] ${m}`),
  });
  await broker.start();
  kcatPlain = {
    'security.protocol': 'SASL_SSL',
    'sasl.mechanisms': 'PLAIN',
    'sasl.username': 'bob',
    'sasl.password': users.bob,
    'ssl.ca.location': pki.caPem,
  };
});

afterAll(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** POSTs two records through Sluice and reads them back from Kafka with kcat over SASL_SSL. */
async function roundTrip(sluice: SluiceProcess): Promise<void> {
  const topic = randomTopic('sec');
  const res = await postJson(`${sluice.url}/topics/${topic}?key=dev-1`, '[{"n":1},{"n":2}]');
  expect(res.status, res.text).toBe(200);
  expect(res.json.count).toBe(2);
  const records = await readTopic(SASL_SSL, topic, 2, 20_000, kcatPlain);
  expect(records.map((r) => [r.key, r.value])).toEqual([
    ['dev-1', '{"n":1}'],
    ['dev-1', '{"n":2}'],
  ]);
}

async function expectNoSecretIn(output: string, ...secrets: string[]): Promise<void> {
  for (const s of secrets) expect(output).not.toContain(s);
}

describe('secured clusters Sluice connects to', () => {
  it('SASL_SSL with SCRAM-SHA-512 (password from a file): ingest lands in Kafka and live records reach a WebSocket', async () => {
    const passwordFile = join(dir, 'alice.password');
    writeFileSync(passwordFile, `${users.alice}\n`);
    const sluice = await startSluice({
      KAFKA_BOOTSTRAP_SERVERS: SASL_SSL,
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'alice',
      KAFKA_SASL_PASSWORD_FILE: passwordFile,
      KAFKA_SSL_CA_FILE: pki.caPem,
    });
    try {
      expect((await fetch(`${sluice.url}/readyz`)).status).toBe(200);
      await roundTrip(sluice);
      // The fan-out consumer connects with the same security settings.
      const topic = randomTopic('sec-live');
      const socket = await connect(`${sluice.wsUrl}/ws/topics/${topic}`);
      await socket.waitForFrames(1);
      expect((await postJson(`${sluice.url}/topics/${topic}`, '{"live":true}')).status).toBe(200);
      const frame = JSON.parse((await socket.waitForFrames(2))[1]);
      expect(frame).toMatchObject({ topic, value: { live: true } });
      socket.ws.close();
      expect(sluice.output()).toContain('"sasl.username":"alice","sasl.password":"***"');
    } finally {
      expect(await sluice.stop()).toBe(0);
    }
    await expectNoSecretIn(sluice.output(), users.alice);
  });

  it('SASL_SSL with SCRAM-SHA-256 (password from the environment)', async () => {
    const sluice = await startSluice({
      KAFKA_BOOTSTRAP_SERVERS: SASL_SSL,
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
      KAFKA_SASL_USERNAME: 'carol',
      KAFKA_SASL_PASSWORD: users.carol,
      KAFKA_SSL_CA_FILE: pki.caPem,
    });
    try {
      await roundTrip(sluice);
    } finally {
      await sluice.stop();
    }
    await expectNoSecretIn(sluice.output(), users.carol);
  });

  it('SASL_SSL with PLAIN, the way Confluent Cloud-style clusters are reached', async () => {
    const sluice = await startSluice({
      KAFKA_BOOTSTRAP_SERVERS: SASL_SSL,
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'PLAIN',
      KAFKA_SASL_USERNAME: 'bob',
      KAFKA_SASL_PASSWORD: users.bob,
      KAFKA_SSL_CA_FILE: pki.caPem,
    });
    try {
      await roundTrip(sluice);
    } finally {
      await sluice.stop();
    }
    await expectNoSecretIn(sluice.output(), users.bob);
  });

  it('mTLS: SSL with a client certificate whose key is encrypted (key password from a file)', async () => {
    const keyPasswordFile = join(dir, 'client-key.password');
    writeFileSync(keyPasswordFile, pki.clientKeyPassword);
    const sluice = await startSluice({
      KAFKA_BOOTSTRAP_SERVERS: MTLS,
      KAFKA_SECURITY_PROTOCOL: 'SSL',
      KAFKA_SSL_CA_FILE: pki.caPem,
      KAFKA_SSL_CERT_FILE: pki.clientCertPem,
      KAFKA_SSL_KEY_FILE: pki.clientKeyPem,
      KAFKA_SSL_KEY_PASSWORD_FILE: keyPasswordFile,
    });
    try {
      await roundTrip(sluice);
    } finally {
      await sluice.stop();
    }
    await expectNoSecretIn(sluice.output(), pki.clientKeyPassword);
  });

  it('SASL_SSL with SCRAM-SHA-512 and a client certificate, on a listener that requires both', async () => {
    const sluice = await startSluice({
      KAFKA_BOOTSTRAP_SERVERS: SASL_MTLS,
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'alice',
      KAFKA_SASL_PASSWORD: users.alice,
      KAFKA_SSL_CA_FILE: pki.caPem,
      KAFKA_SSL_CERT_FILE: pki.clientCertPem,
      KAFKA_SSL_KEY_FILE: pki.clientKeyPem,
      KAFKA_SSL_KEY_PASSWORD: pki.clientKeyPassword,
    });
    try {
      await roundTrip(sluice);
    } finally {
      await sluice.stop();
    }
    await expectNoSecretIn(sluice.output(), users.alice, pki.clientKeyPassword);
  });
});

describe('refusals stop start-up with the cause, not a silent retry loop', () => {
  const scramAlice = {
    KAFKA_BOOTSTRAP_SERVERS: SASL_SSL,
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: 'alice',
  };

  function expectStopped(run: { code: number | null; output: string }, message: RegExp): void {
    expect(run.code, run.output).toBe(1);
    expect(run.output).toMatch(new RegExp(`sluice: start-up failed: ${message.source}`));
    expect(run.output).not.toContain('sluice listening');
    expect(run.output).not.toContain('retrying in the background');
  }

  it('a wrong password', async () => {
    const wrong = secret();
    const run = await runSluiceExpectingExit({ ...scramAlice, KAFKA_SASL_PASSWORD: wrong, KAFKA_SSL_CA_FILE: pki.caPem });
    expectStopped(run, /Kafka authentication failed \(SASL SCRAM-SHA-512, user alice\): check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD/);
    await expectNoSecretIn(run.output, wrong, users.alice);
  });

  it('a broker certificate signed by a CA Sluice does not trust', async () => {
    const run = await runSluiceExpectingExit({ ...scramAlice, KAFKA_SASL_PASSWORD: users.alice, KAFKA_SSL_CA_FILE: pki.otherCaPem });
    expectStopped(
      run,
      /Kafka TLS failed: the broker's certificate is not trusted \(checked against CA file [^)]*other-ca\.pem\): set KAFKA_SSL_CA_FILE/,
    );
    await expectNoSecretIn(run.output, users.alice);
  });

  it('a plaintext client against the TLS listener', async () => {
    const run = await runSluiceExpectingExit({ KAFKA_BOOTSTRAP_SERVERS: SASL_SSL });
    expectStopped(
      run,
      /Kafka at [\d.:]+ closed every connection before answering, as a TLS listener does with a plaintext client \(KAFKA_SECURITY_PROTOCOL=PLAINTEXT\): set KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL/,
    );
  });

  it('no client certificate for a listener that requires one', async () => {
    const run = await runSluiceExpectingExit({
      KAFKA_BOOTSTRAP_SERVERS: MTLS,
      KAFKA_SECURITY_PROTOCOL: 'SSL',
      KAFKA_SSL_CA_FILE: pki.caPem,
    });
    expectStopped(
      run,
      /Kafka TLS failed: the broker requires a client certificate or rejected Sluice's \(none is set\): set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE/,
    );
  });

  it('local mistakes are caught before connecting, naming the setting', async () => {
    const unreadable = await runSluiceExpectingExit({
      ...scramAlice,
      KAFKA_SASL_PASSWORD_FILE: join(dir, 'no-such-file'),
      KAFKA_SSL_CA_FILE: pki.caPem,
    });
    expectStopped(unreadable, /KAFKA_SASL_PASSWORD_FILE: cannot read \S*no-such-file/);
    const noKey = await runSluiceExpectingExit({
      KAFKA_BOOTSTRAP_SERVERS: MTLS,
      KAFKA_SECURITY_PROTOCOL: 'SSL',
      KAFKA_SSL_CERT_FILE: pki.clientCertPem,
    });
    expectStopped(noKey, /KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together/);
  });
});
