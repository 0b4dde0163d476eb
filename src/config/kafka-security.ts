/**
 * Security of Sluice's own Kafka connections (TLS, SASL, mTLS): the KAFKA_SECURITY_* / KAFKA_SASL_* /
 * KAFKA_SSL_* settings (and an optional KAFKA_SECURITY_CONFIG properties file) become librdkafka properties
 * that the gateway merges over both the producer's and the fan-out consumers' properties.
 *
 * Everything a user can get wrong locally is checked at start-up with a message naming the setting
 * (a mechanism without a user, a certificate without its key, an unreadable file, a wrong key password).
 * What only the broker can judge (credentials, trust, protocol) is recognised from librdkafka's connection
 * failures by `classifyKafkaRefusal` and explained by `explainKafkaRefusal`, so start-up stops with the
 * cause instead of retrying forever. Secrets only ever go to librdkafka, never into a message.
 */
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { Config } from './schema.js';
import { readPropertiesFile } from './properties.js';
import { StartupError } from '../errors.js';

export type SecurityConfig = Pick<
  Config,
  | 'kafkaBootstrapServers'
  | 'kafkaSecurityProtocol'
  | 'kafkaSaslMechanism'
  | 'kafkaSaslUsername'
  | 'kafkaSaslPassword'
  | 'kafkaSaslPasswordFile'
  | 'kafkaSslCaFile'
  | 'kafkaSslCertFile'
  | 'kafkaSslKeyFile'
  | 'kafkaSslKeyPassword'
  | 'kafkaSslKeyPasswordFile'
  | 'kafkaSecurityConfig'
>;

/** librdkafka properties to merge over the producer and consumer properties (empty when nothing is configured). */
export function kafkaSecurityProperties(config: SecurityConfig): Record<string, string> {
  const props: Record<string, string> = config.kafkaSecurityConfig
    ? readPropertiesFile(config.kafkaSecurityConfig, 'KAFKA_SECURITY_CONFIG')
    : {};
  const set = (key: string, value: string) => {
    if (value !== '') props[key] = value;
  };

  set('security.protocol', config.kafkaSecurityProtocol);
  set('sasl.mechanisms', config.kafkaSaslMechanism);
  set('sasl.username', config.kafkaSaslUsername);
  set('sasl.password', secret(config.kafkaSaslPassword, config.kafkaSaslPasswordFile, 'KAFKA_SASL_PASSWORD'));
  if (config.kafkaSslCaFile) set('ssl.ca.location', certificateFile(config.kafkaSslCaFile, 'KAFKA_SSL_CA_FILE').path);
  const keyPassword = secret(config.kafkaSslKeyPassword, config.kafkaSslKeyPasswordFile, 'KAFKA_SSL_KEY_PASSWORD');
  if (config.kafkaSslCertFile || config.kafkaSslKeyFile) {
    if (!config.kafkaSslCertFile || !config.kafkaSslKeyFile) {
      throw new StartupError(
        'KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together (the client certificate and its private key): set both or neither',
      );
    }
    const cert = certificateFile(config.kafkaSslCertFile, 'KAFKA_SSL_CERT_FILE');
    const key = privateKeyFile(config.kafkaSslKeyFile, keyPassword);
    if (!cert.x509.checkPrivateKey(key.key)) {
      throw new StartupError(`KAFKA_SSL_KEY_FILE (${key.path}) is not the private key of KAFKA_SSL_CERT_FILE (${cert.path})`);
    }
    set('ssl.certificate.location', cert.path);
    set('ssl.key.location', key.path);
    set('ssl.key.password', keyPassword);
  } else if (keyPassword) {
    throw new StartupError(
      'KAFKA_SSL_KEY_PASSWORD(_FILE) is set without KAFKA_SSL_KEY_FILE: set the client key (and KAFKA_SSL_CERT_FILE) or drop the password',
    );
  }

  checkCoherent(props, config);
  return props;
}

/** Rules on the merged security properties (file + settings), each naming the settings to change. */
function checkCoherent(props: Record<string, string>, config: SecurityConfig): void {
  const protocol = (props['security.protocol'] ?? 'plaintext').toLowerCase();
  const sasl = protocol.startsWith('sasl_');
  const tls = protocol === 'ssl' || protocol === 'sasl_ssl';
  const mechanism = (props['sasl.mechanisms'] ?? props['sasl.mechanism'] ?? '').toUpperCase();
  if (!['plaintext', 'ssl', 'sasl_plaintext', 'sasl_ssl'].includes(protocol)) {
    throw new StartupError(
      `security.protocol=${props['security.protocol']} in KAFKA_SECURITY_CONFIG is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL`,
    );
  }
  if (props['security.protocol'] !== undefined && protocol !== 'plaintext' && config.kafkaBootstrapServers === '') {
    throw new StartupError(
      `KAFKA_SECURITY_PROTOCOL=${protocol.toUpperCase()} needs KAFKA_BOOTSTRAP_SERVERS: the embedded broker only speaks PLAINTEXT`,
    );
  }
  const saslSettings = ['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD', 'KAFKA_SASL_PASSWORD_FILE'].filter(
    (_, i) => [config.kafkaSaslMechanism, config.kafkaSaslUsername, config.kafkaSaslPassword, config.kafkaSaslPasswordFile][i] !== '',
  );
  if (!sasl && saslSettings.length > 0) {
    throw new StartupError(
      `${saslSettings.join(', ')} set, but KAFKA_SECURITY_PROTOCOL is ${protocol.toUpperCase()}: set KAFKA_SECURITY_PROTOCOL=SASL_SSL`,
    );
  }
  const sslSettings = ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE'].filter(
    (_, i) => [config.kafkaSslCaFile, config.kafkaSslCertFile][i] !== '',
  );
  if (!tls && sslSettings.length > 0) {
    throw new StartupError(
      `${sslSettings.join(', ')} set, but KAFKA_SECURITY_PROTOCOL is ${protocol.toUpperCase()}: set KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL`,
    );
  }
  if (!sasl) return;
  // librdkafka's default mechanism is GSSAPI (Kerberos): almost never what a user who left it out meant.
  if (mechanism === '') {
    throw new StartupError(
      `KAFKA_SECURITY_PROTOCOL=${protocol.toUpperCase()} needs KAFKA_SASL_MECHANISM (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)`,
    );
  }
  if (mechanism === 'PLAIN' || mechanism.startsWith('SCRAM-')) {
    if (!props['sasl.username']) throw new StartupError(`KAFKA_SASL_MECHANISM=${mechanism} needs KAFKA_SASL_USERNAME`);
    if (!props['sasl.password'])
      throw new StartupError(`KAFKA_SASL_MECHANISM=${mechanism} needs KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE`);
  }
}

function readSetting(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new StartupError(`${setting}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** A secret from its setting or from `<setting>_FILE`, never both. */
function secret(value: string, file: string, setting: string): string {
  if (value && file) throw new StartupError(`${setting} and ${setting}_FILE are both set: keep one`);
  if (!file) return value;
  // `echo secret > file` leaves a newline that is not part of the secret.
  const text = readSetting(file, `${setting}_FILE`).replace(/\r?\n$/, '');
  if (text === '') throw new StartupError(`${setting}_FILE: ${file} is empty`);
  return text;
}

function certificateFile(path: string, setting: string): { path: string; x509: X509Certificate } {
  const text = readSetting(path, setting);
  try {
    return { path, x509: new X509Certificate(text) };
  } catch (err) {
    throw new StartupError(`${setting}: ${path} holds no PEM certificate (${(err as Error).message})`);
  }
}

function privateKeyFile(path: string, password: string): { path: string; key: KeyObject } {
  const text = readSetting(path, 'KAFKA_SSL_KEY_FILE');
  const encrypted = /ENCRYPTED/.test(text);
  if (encrypted && !password)
    throw new StartupError(`KAFKA_SSL_KEY_FILE (${path}) is encrypted: set KAFKA_SSL_KEY_PASSWORD or KAFKA_SSL_KEY_PASSWORD_FILE`);
  try {
    return { path, key: createPrivateKey({ key: text, format: 'pem', passphrase: password || undefined }) };
  } catch (err) {
    throw new StartupError(
      encrypted
        ? `KAFKA_SSL_KEY_PASSWORD does not decrypt KAFKA_SSL_KEY_FILE (${path})`
        : `KAFKA_SSL_KEY_FILE: ${path} holds no PEM private key (${(err as Error).message})`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Refusals: connection failures that retrying cannot fix.

export type RefusalKind =
  | 'authentication' // wrong user or password, or the user has no credential for the mechanism
  | 'sasl-mechanism' // the listener does not offer the configured mechanism
  | 'not-sasl-listener' // SASL client, listener without SASL
  | 'untrusted-broker' // the broker's certificate does not verify against the CA (or its name does not match)
  | 'client-certificate' // the broker requires a client certificate, or rejected ours
  | 'tls-to-plaintext' // TLS client, PLAINTEXT listener
  | 'plaintext-to-tls' // plaintext client, TLS listener (ambiguous alone: only decisive once the connection attempt failed)
  | 'sasl-required' // no SASL, listener expects it (ambiguous alone, as above)
  | 'tls'; // any other TLS failure

export interface KafkaRefusal {
  kind: RefusalKind;
  /** librdkafka's own words, without its thread prefix (it never contains a secret). */
  detail: string;
  /** False when one such failure alone could be a broker restarting; decisive only if the connection attempt failed too. */
  decisive: boolean;
}

// librdkafka error codes (rdkafka.h) that arrive with refusals: ERR__SSL, ERR__AUTHENTICATION.
const ERR_SSL = -181;
const ERR_AUTHENTICATION = -169;

/** Recognises a refusal in a librdkafka log line or error event; undefined for failures a retry may fix. */
export function classifyKafkaRefusal(text: string, securityProtocol: string | undefined, code?: number): KafkaRefusal | undefined {
  const detail = text.replace(/^\[thrd:[^\]]*\]:\s*/, '');
  const protocol = (securityProtocol ?? 'plaintext').toLowerCase();
  const is = (kind: RefusalKind, decisive = true): KafkaRefusal => ({ kind, detail, decisive });
  if (/Unsupported SASL mechanism/i.test(detail)) return is('sasl-mechanism');
  if (/Request not valid in current SASL state|Illegal SASL state/i.test(detail)) return is('not-sasl-listener');
  if (code === ERR_AUTHENTICATION || /SASL authentication error|Authentication failed|Invalid username or password/i.test(detail))
    return is('authentication');
  if (/connecting to a PLAINTEXT broker listener/i.test(detail)) return is('tls-to-plaintext');
  if (/certificate verify failed|certificate could not be verified|hostname mismatch/i.test(detail)) return is('untrusted-broker');
  if (
    /alert (bad certificate|certificate required|unknown ca|certificate unknown|unsupported certificate|certificate revoked|certificate expired)/i.test(
      detail,
    )
  ) {
    return is('client-certificate');
  }
  if (code === ERR_SSL || /SSL handshake failed/i.test(detail)) return is('tls');
  // A TLS listener answers plaintext bytes by closing the connection before the first response.
  if ((protocol === 'plaintext' || protocol === 'sasl_plaintext') && /closed by peer.*in state APIVERSION_QUERY/i.test(detail))
    return is('plaintext-to-tls', false);
  // A SASL listener closes a connection that sends requests without authenticating first.
  if ((protocol === 'plaintext' || protocol === 'ssl') && /closed by peer.*in state UP/i.test(detail)) return is('sasl-required', false);
  return undefined;
}

/** The start-up message for a refusal: what failed, with which identity, and which settings to check. */
export function explainKafkaRefusal(refusal: KafkaRefusal, props: Record<string, string>, bootstrapServers: string): string {
  const protocol = (props['security.protocol'] ?? 'PLAINTEXT').toUpperCase();
  const mechanism = (props['sasl.mechanisms'] ?? props['sasl.mechanism'] ?? 'GSSAPI').toUpperCase();
  const user = props['sasl.username'] ?? '(none)';
  const ca = props['ssl.ca.location'] ? `CA file ${props['ssl.ca.location']}` : 'the system CA store';
  const broker = `Kafka at ${bootstrapServers}`;
  const why = `librdkafka: ${refusal.detail}`;
  switch (refusal.kind) {
    case 'authentication':
      return (
        `Kafka authentication failed (SASL ${mechanism}, user ${user}): check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD / KAFKA_SASL_PASSWORD_FILE, ` +
        `and that the user has ${mechanism} credentials on the cluster (${why})`
      );
    case 'sasl-mechanism': {
      const offered = /supported mechanisms:\s*([^(]*)/i.exec(refusal.detail)?.[1]?.trim() || 'none';
      return `${broker} does not offer SASL ${mechanism} on this listener (it offers: ${offered}): set KAFKA_SASL_MECHANISM accordingly (${why})`;
    }
    case 'not-sasl-listener':
      return `${broker} has no SASL on this listener but KAFKA_SECURITY_PROTOCOL=${protocol}: use SSL (or PLAINTEXT), or the cluster's SASL port (${why})`;
    case 'untrusted-broker':
      return (
        `Kafka TLS failed: the broker's certificate is not trusted (checked against ${ca}): set KAFKA_SSL_CA_FILE to the CA that signed the brokers' certificates, ` +
        `and check that they name the hosts in KAFKA_BOOTSTRAP_SERVERS (${why})`
      );
    case 'client-certificate':
      return (
        `Kafka TLS failed: the broker requires a client certificate or rejected Sluice's${props['ssl.certificate.location'] ? ` (${props['ssl.certificate.location']})` : ' (none is set)'}: ` +
        `set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE to a certificate signed by a CA the broker trusts (${why})`
      );
    case 'tls-to-plaintext':
      return `${broker} is a PLAINTEXT listener but KAFKA_SECURITY_PROTOCOL=${protocol} (TLS): set KAFKA_SECURITY_PROTOCOL=PLAINTEXT or SASL_PLAINTEXT, or use the cluster's TLS port (${why})`;
    case 'plaintext-to-tls':
      return (
        `${broker} closed every connection before answering, as a TLS listener does with a plaintext client (KAFKA_SECURITY_PROTOCOL=${protocol}): ` +
        `set KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL (${why})`
      );
    case 'sasl-required':
      return (
        `${broker} closed every connection right after it was set up: the listener expects SASL authentication, but KAFKA_SECURITY_PROTOCOL=${protocol}: ` +
        `set KAFKA_SECURITY_PROTOCOL=SASL_SSL and KAFKA_SASL_MECHANISM / KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD (${why})`
      );
    case 'tls':
      return `Kafka TLS failed (KAFKA_SECURITY_PROTOCOL=${protocol}): check KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE (${why})`;
  }
}
