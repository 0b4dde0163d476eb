import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyKafkaRefusal, explainKafkaRefusal, kafkaSecurityProperties } from './kafka-security.js';
import { loadConfig } from './load.js';
import { maskSecrets } from './properties.js';
import { makeSelfSigned } from '../../test/helpers/test-pki.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-kafka-security-'));
const f = (name: string) => join(dir, name);
const REMOTE = { KAFKA_BOOTSTRAP_SERVERS: 'kafka.example.com:9093' };
const props = (env: Record<string, string>) => kafkaSecurityProperties(loadConfig({ ...REMOTE, ...env }));

beforeAll(() => {
  const openssl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  };
  makeSelfSigned(dir, 'client', 'client');
  openssl('pkey', '-in', f('client.key'), '-out', f('client.enc.key'), '-aes256', '-passout', 'pass:key-pw');
  openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', f('other.key'));
  writeFileSync(f('password'), 's3cret-from-file\n');
  writeFileSync(f('key-password'), 'key-pw');
  writeFileSync(f('empty'), '');
  writeFileSync(
    f('security.properties'),
    '# from a profile\nsecurity.protocol=SASL_SSL\nsasl.mechanisms=PLAIN\nssl.endpoint.identification.algorithm=none\n',
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('settings → librdkafka properties', () => {
  it('nothing configured: nothing added (the properties files decide, PLAINTEXT by default)', () => {
    expect(props({})).toEqual({});
    expect(kafkaSecurityProperties(loadConfig({}))).toEqual({});
  });

  it('SASL_SSL with SCRAM, the password read from a file without its trailing newline', () => {
    expect(
      props({
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
        KAFKA_SASL_USERNAME: 'alice',
        KAFKA_SASL_PASSWORD_FILE: f('password'),
        KAFKA_SSL_CA_FILE: f('client.pem'),
      }),
    ).toEqual({
      'security.protocol': 'SASL_SSL',
      'sasl.mechanisms': 'SCRAM-SHA-512',
      'sasl.username': 'alice',
      'sasl.password': 's3cret-from-file',
      'ssl.ca.location': f('client.pem'),
    });
  });

  it('mTLS: client certificate with an encrypted key and its password from a file', () => {
    expect(
      props({
        KAFKA_SECURITY_PROTOCOL: 'SSL',
        KAFKA_SSL_CERT_FILE: f('client.pem'),
        KAFKA_SSL_KEY_FILE: f('client.enc.key'),
        KAFKA_SSL_KEY_PASSWORD_FILE: f('key-password'),
      }),
    ).toEqual({
      'security.protocol': 'SSL',
      'ssl.certificate.location': f('client.pem'),
      'ssl.key.location': f('client.enc.key'),
      'ssl.key.password': 'key-pw',
    });
  });

  it('a KAFKA_SECURITY_CONFIG profile is the base; the settings override its lines', () => {
    expect(
      props({
        KAFKA_SECURITY_CONFIG: f('security.properties'),
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
      }),
    ).toEqual({
      'security.protocol': 'SASL_SSL',
      'sasl.mechanisms': 'SCRAM-SHA-256',
      'ssl.endpoint.identification.algorithm': 'none',
      'sasl.username': 'u',
      'sasl.password': 'p',
    });
  });

  it('the example profile in native-config/ is usable as it stands, given the password', () => {
    const p = props({ KAFKA_SECURITY_CONFIG: 'native-config/security.sasl-ssl.properties', KAFKA_SASL_PASSWORD: 'pw' });
    expect(p).toMatchObject({
      'security.protocol': 'SASL_SSL',
      'sasl.mechanisms': 'SCRAM-SHA-512',
      'sasl.username': 'sluice',
      'sasl.password': 'pw',
    });
    expect(() => props({ KAFKA_SECURITY_CONFIG: 'native-config/security.sasl-ssl.properties' })).toThrow(
      /needs KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE/,
    );
  });

  it('every secret it produces is masked in the effective-configuration log line', () => {
    const p = props({
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'PLAIN',
      KAFKA_SASL_USERNAME: 'key',
      KAFKA_SASL_PASSWORD: 'api-secret',
      KAFKA_SSL_CERT_FILE: f('client.pem'),
      KAFKA_SSL_KEY_FILE: f('client.enc.key'),
      KAFKA_SSL_KEY_PASSWORD: 'key-pw',
    });
    const logged = JSON.stringify(maskSecrets(p));
    expect(logged).not.toContain('api-secret');
    expect(logged).not.toContain('key-pw');
    expect(logged).toContain('"sasl.username":"key"');
  });
});

describe('start-up validation names the setting', () => {
  it.each([
    [
      { KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_PASSWORD: 'x' },
      /KAFKA_SASL_MECHANISM=SCRAM-SHA-512 needs KAFKA_SASL_USERNAME/,
    ],
    [
      { KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u' },
      /needs KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE/,
    ],
    [
      { KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' },
      /KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_MECHANISM/,
    ],
    [
      { KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' },
      /KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set, but KAFKA_SECURITY_PROTOCOL is PLAINTEXT/,
    ],
    [{ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SASL_USERNAME: 'u' }, /KAFKA_SASL_USERNAME set, but KAFKA_SECURITY_PROTOCOL is SSL/],
    [
      {
        KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
        KAFKA_SASL_MECHANISM: 'PLAIN',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
        KAFKA_SSL_CA_FILE: 'x',
      },
      /KAFKA_SSL_CA_FILE: cannot read/,
    ],
    [
      { KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT', KAFKA_SSL_CA_FILE: '<pem>' },
      /KAFKA_SSL_CA_FILE set, but KAFKA_SECURITY_PROTOCOL is PLAINTEXT/,
    ],
    [
      {
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_MECHANISM: 'PLAIN',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD_FILE: '/nonexistent/pw',
      },
      /KAFKA_SASL_PASSWORD_FILE: cannot read \/nonexistent\/pw/,
    ],
    [
      { KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD_FILE: '<empty>' },
      /KAFKA_SASL_PASSWORD_FILE: .* is empty/,
    ],
    [{ KAFKA_SASL_PASSWORD: 'a', KAFKA_SASL_PASSWORD_FILE: '<password>' }, /KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set/],
    [{ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CA_FILE: '<password>' }, /KAFKA_SSL_CA_FILE: .* holds no PEM certificate/],
    [{ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERT_FILE: '<pem>' }, /KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together/],
    [{ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_KEY_FILE: '<key>' }, /KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together/],
    [
      { KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERT_FILE: '<pem>', KAFKA_SSL_KEY_FILE: '<enc-key>' },
      /KAFKA_SSL_KEY_FILE .* is encrypted: set KAFKA_SSL_KEY_PASSWORD/,
    ],
    [
      { KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERT_FILE: '<pem>', KAFKA_SSL_KEY_FILE: '<enc-key>', KAFKA_SSL_KEY_PASSWORD: 'wrong' },
      /KAFKA_SSL_KEY_PASSWORD does not decrypt KAFKA_SSL_KEY_FILE/,
    ],
    [
      { KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERT_FILE: '<pem>', KAFKA_SSL_KEY_FILE: '<other-key>' },
      /KAFKA_SSL_KEY_FILE .* is not the private key of KAFKA_SSL_CERT_FILE/,
    ],
    [{ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_KEY_PASSWORD: 'x' }, /KAFKA_SSL_KEY_PASSWORD\(_FILE\) is set without KAFKA_SSL_KEY_FILE/],
  ])('%j', (env, message) => {
    const files: Record<string, string> = {
      '<pem>': f('client.pem'),
      '<key>': f('client.key'),
      '<enc-key>': f('client.enc.key'),
      '<other-key>': f('other.key'),
      '<password>': f('password'),
      '<empty>': f('empty'),
    };
    const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, files[v] ?? v]));
    expect(() => props(resolved)).toThrow(message);
  });

  it('the embedded broker speaks PLAINTEXT only', () => {
    expect(() => kafkaSecurityProperties(loadConfig({ KAFKA_SECURITY_PROTOCOL: 'SSL' }))).toThrow(
      /KAFKA_SECURITY_PROTOCOL=SSL needs KAFKA_BOOTSTRAP_SERVERS/,
    );
  });

  it('an unknown protocol or mechanism, or a misspelt security variable, is refused by the configuration loader', () => {
    expect(() => loadConfig({ KAFKA_SECURITY_PROTOCOL: 'TLS' })).toThrow(
      /KAFKA_SECURITY_PROTOCOL="TLS": must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL/,
    );
    expect(() => loadConfig({ KAFKA_SASL_MECHANISM: 'SCRAM' })).toThrow(/KAFKA_SASL_MECHANISM="SCRAM": must be one of/);
    expect(() => loadConfig({ KAFKA_SASL_PASWORD: 'x' })).toThrow(/KAFKA_SASL_PASWORD is not a Sluice setting/);
    // Other KAFKA_* variables belong to other tools (KAFKA_HEAP_OPTS, …) and are left alone.
    expect(() => loadConfig({ KAFKA_HEAP_OPTS: '-Xmx1g' })).not.toThrow();
  });
});

// librdkafka 2.15.1's own log lines, captured against Kafka 4.1.1 listeners.
const LINES = {
  badPassword:
    '[thrd:sasl_ssl://127.0.0.1:21102/bootstrap]: sasl_ssl://127.0.0.1:21102/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 316ms in state AUTH_REQ)',
  badPlain:
    '[thrd:sasl_ssl://127.0.0.1:21102/bootstrap]: sasl_ssl://127.0.0.1:21102/bootstrap: SASL authentication error: Authentication failed: Invalid username or password (after 302ms in state AUTH_REQ)',
  untrusted:
    '[thrd:sasl_ssl://127.0.0.1:21102/bootstrap]: sasl_ssl://127.0.0.1:21102/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured or root CA certificates are installed (install ca-certificates package) (after 5ms in state SSL_HANDSHAKE)',
  plaintextToTls:
    '[thrd:127.0.0.1:21102/bootstrap]: 127.0.0.1:21102/bootstrap: Disconnected: connection closed by peer: receive 0 after POLLIN (after 1ms in state APIVERSION_QUERY)',
  tlsToPlaintext:
    '[thrd:ssl://127.0.0.1:21100/bootstrap]: ssl://127.0.0.1:21100/bootstrap: SSL handshake failed: Disconnected: SSL connection closed by peer: connecting to a PLAINTEXT broker listener? (after 2ms in state SSL_HANDSHAKE)',
  noClientCert:
    '[thrd:ssl://127.0.0.1:21103/bootstrap]: ssl://127.0.0.1:21103/bootstrap: Receive failed: error:0A000412:SSL routines::sslv3 alert bad certificate: SSL alert number 42 (after 0ms in state APIVERSION_QUERY)',
  mechanism:
    "[thrd:sasl_ssl://127.0.0.1:21104/bootstrap]: sasl_ssl://127.0.0.1:21104/bootstrap: SASL PLAIN mechanism handshake failed: Broker: Unsupported SASL mechanism: broker's supported mechanisms: SCRAM-SHA-512 (after 301ms in state AUTH_HANDSHAKE)",
  notSasl:
    "[thrd:sasl_ssl://127.0.0.1:21103/bootstrap]: sasl_ssl://127.0.0.1:21103/bootstrap: SASL PLAIN mechanism handshake failed: Broker: Request not valid in current SASL state: broker's supported mechanisms:  (after 2ms in state AUTH_HANDSHAKE)",
  saslRequired:
    '[thrd:ssl://127.0.0.1:21102/bootstrap]: ssl://127.0.0.1:21102/bootstrap: Disconnected: SSL connection closed by peer (after 0ms in state UP)',
  refused:
    '[thrd:127.0.0.1:21199/bootstrap]: 127.0.0.1:21199/bootstrap: Connect to ipv4#127.0.0.1:21199 failed: Connection refused (after 0ms in state CONNECT)',
};

describe('librdkafka connection failures', () => {
  it.each([
    ['badPassword', 'SASL_SSL', 'authentication', true],
    ['badPlain', 'SASL_SSL', 'authentication', true],
    ['untrusted', 'SASL_SSL', 'untrusted-broker', true],
    ['tlsToPlaintext', 'SSL', 'tls-to-plaintext', true],
    ['noClientCert', 'SSL', 'client-certificate', true],
    ['mechanism', 'SASL_SSL', 'sasl-mechanism', true],
    ['notSasl', 'SASL_SSL', 'not-sasl-listener', true],
    ['plaintextToTls', undefined, 'plaintext-to-tls', false],
    ['saslRequired', 'SSL', 'sasl-required', false],
  ] as const)('%s (%s) is a refusal: %s', (line, protocol, kind, decisive) => {
    expect(classifyKafkaRefusal(LINES[line], protocol)).toMatchObject({ kind, decisive });
  });

  it('failures a retry can fix are not refusals', () => {
    expect(classifyKafkaRefusal(LINES.refused, undefined)).toBeUndefined();
    // A TLS client's connection closed in ApiVersion is not the plaintext-vs-TLS signature.
    expect(classifyKafkaRefusal(LINES.plaintextToTls, 'SSL')).toBeUndefined();
    expect(classifyKafkaRefusal(LINES.saslRequired, 'SASL_SSL')).toBeUndefined();
  });

  it('explains an authentication failure with mechanism and user, never the password', () => {
    const p = { 'security.protocol': 'SASL_SSL', 'sasl.mechanisms': 'SCRAM-SHA-512', 'sasl.username': 'alice', 'sasl.password': 'hunter2' };
    const text = explainKafkaRefusal(classifyKafkaRefusal(LINES.badPassword, 'SASL_SSL')!, p, 'k:9093');
    expect(text).toMatch(
      /^Kafka authentication failed \(SASL SCRAM-SHA-512, user alice\): check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD/,
    );
    expect(text).not.toContain('hunter2');
  });

  it('names the setting to change for each kind', () => {
    const explain = (line: keyof typeof LINES, p: Record<string, string>) =>
      explainKafkaRefusal(classifyKafkaRefusal(LINES[line], p['security.protocol'])!, p, 'k:9093');
    expect(explain('untrusted', { 'security.protocol': 'SSL', 'ssl.ca.location': '/ca.pem' })).toMatch(
      /certificate is not trusted \(checked against CA file \/ca\.pem\): set KAFKA_SSL_CA_FILE/,
    );
    expect(explain('untrusted', { 'security.protocol': 'SSL' })).toMatch(/checked against the system CA store/);
    expect(explain('plaintextToTls', {})).toMatch(
      /plaintext client \(KAFKA_SECURITY_PROTOCOL=PLAINTEXT\): set KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL/,
    );
    expect(explain('tlsToPlaintext', { 'security.protocol': 'SSL' })).toMatch(/is a PLAINTEXT listener but KAFKA_SECURITY_PROTOCOL=SSL/);
    expect(explain('noClientCert', { 'security.protocol': 'SSL' })).toMatch(
      /requires a client certificate .*\(none is set\): set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE/,
    );
    expect(explain('mechanism', { 'security.protocol': 'SASL_SSL', 'sasl.mechanisms': 'PLAIN' })).toMatch(
      /does not offer SASL PLAIN on this listener \(it offers: SCRAM-SHA-512\): set KAFKA_SASL_MECHANISM/,
    );
    expect(explain('saslRequired', { 'security.protocol': 'SSL' })).toMatch(/expects SASL authentication, but KAFKA_SECURITY_PROTOCOL=SSL/);
  });
});
