import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';
import { PROJECT_ROOT } from '../project-root.js';
import { SETTINGS } from './schema.js';
import { parseProperties, maskSecrets } from './properties.js';

describe('loadConfig', () => {
  it('gives every setting its documented default', () => {
    const c = loadConfig({});
    for (const [k, s] of Object.entries(SETTINGS)) {
      // A file default names a file shipped in the Sluice folder; the loader hands it on absolute.
      const expected = s.kind.type === 'path' && s.default !== '' ? join(PROJECT_ROOT, s.default as string) : s.default;
      expect(c[k as keyof typeof c]).toBe(expected);
    }
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('resolves every file setting once, relative to the working directory; absolute paths and empty stay as they are', () => {
    const c = loadConfig(
      {
        SLUICE_TLS_CERT_FILE: 'certs/gw.pem',
        SLUICE_SCHEMAS_DIR: '../schemas',
        SLUICE_API_KEYS_FILE: '/etc/sluice/keys.json',
        KAFKA_SSL_CA_FILE: ' ca.pem ',
      },
      '/srv/sluice',
    );
    expect(c.tlsCertFile).toBe('/srv/sluice/certs/gw.pem');
    expect(c.schemasDir).toBe('/srv/schemas');
    expect(c.apiKeysFile).toBe('/etc/sluice/keys.json');
    expect(c.kafkaSslCaFile).toBe('/srv/sluice/ca.pem');
    expect(c.jwtSecretFile).toBe('');
    expect(c.consumerConfigFile).toBe(join(PROJECT_ROOT, 'native-config/consumer.properties'));
    expect(loadConfig({ SLUICE_CONSUMER_CONFIG: 'mine.properties' }, '/srv/sluice').consumerConfigFile).toBe('/srv/sluice/mine.properties');
  });

  it('parses typed values', () => {
    const c = loadConfig({ SLUICE_PORT: '9000', SLUICE_CREATE_TOPICS: 'yes', SLUICE_ACK_MODE: 'fire', KAFKA_BOOTSTRAP_SERVERS: 'a:1,b:2' });
    expect(c.port).toBe(9000);
    expect(c.createTopics).toBe(true);
    expect(c.ackMode).toBe('fire');
    expect(c.kafkaBootstrapServers).toBe('a:1,b:2');
  });

  it('lists every problem at once, each naming its variable', () => {
    const attempt = () => loadConfig({ SLUICE_PORT: '70000', SLUICE_LOG_LEVEL: 'loud', SLUICE_TYPO: '1' });
    expect(attempt).toThrow(/SLUICE_PORT="70000": must be between 0 and 65535/);
    expect(attempt).toThrow(/SLUICE_TYPO is not a Sluice setting/);
    expect(attempt).toThrow(/SLUICE_LOG_LEVEL="loud": must be one of/);
  });

  it('refuses a shutdown delay and close window that leave no room in the shutdown budget, and an admin port equal to the public one', () => {
    expect(() => loadConfig({ SLUICE_SHUTDOWN_DELAY_MS: '24000', SLUICE_SHUTDOWN_CLOSE_WINDOW_MS: '1000' })).toThrow(
      /SLUICE_SHUTDOWN_DELAY_MS=24000 \+ SLUICE_SHUTDOWN_CLOSE_WINDOW_MS=1000 must be less than SLUICE_SHUTDOWN_TIMEOUT_MS=25000/,
    );
    expect(loadConfig({ SLUICE_SHUTDOWN_DELAY_MS: '23000', SLUICE_SHUTDOWN_CLOSE_WINDOW_MS: '1000' }).shutdownDelayMs).toBe(23000);
    expect(() => loadConfig({ SLUICE_PORT: '8080', SLUICE_ADMIN_PORT: '8080' })).toThrow(
      /SLUICE_ADMIN_PORT=8080: must differ from SLUICE_PORT/,
    );
    expect(loadConfig({ SLUICE_ADMIN_PORT: '0' }).adminPort).toBe(0);
  });

  it('refuses an idle timeout uWS cannot use', () => {
    expect(() => loadConfig({ SLUICE_WS_IDLE_TIMEOUT_S: '5' })).toThrow(/SLUICE_WS_IDLE_TIMEOUT_S=5: must be 0 or 8–960/);
  });
});

describe('properties files', () => {
  it('reads comments, both separators and continuation lines', () => {
    expect(parseProperties('# c\n! c\na=1\nb : two words\nc=x\\\n  y\n\n')).toEqual({ a: '1', b: 'two words', c: 'xy' });
  });
  it('names the line it cannot read', () => {
    expect(() => parseProperties('a=1\nnonsense\n', 'p.properties')).toThrow(/p\.properties:2/);
  });
  it('masks secrets for logs', () => {
    expect(maskSecrets({ 'sasl.password': 'x', 'linger.ms': '5', 'sasl.oauthbearer.client.secret': 'y' })).toEqual({
      'sasl.password': '***',
      'linger.ms': '5',
      'sasl.oauthbearer.client.secret': '***',
    });
  });
});
