/**
 * Reads Java-style `.properties` files (the format librdkafka and Kafka tools document) so that the
 * files in `native-config/` can be handed to librdkafka verbatim. Supports `#`/`!` comments,
 * `key=value` and `key: value`, and trailing-backslash continuation lines.
 */
import { readFileSync } from 'node:fs';
import { StartupError } from '../errors.js';

export function parseProperties(text: string, source = 'properties'): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].trim();
    const lineNo = i + 1;
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i].trim();
    const m = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) throw new StartupError(`${source}:${lineNo}: expected "key=value", got ${JSON.stringify(line)}`);
    out[m[1]] = m[2];
  }
  return out;
}

export function readPropertiesFile(path: string, settingName: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new StartupError(`${settingName}: cannot read ${path}: ${(err as Error).message}`);
  }
  return parseProperties(text, path);
}

/**
 * For logs: values of secret-looking keys are masked (sasl.password, ssl.key.password, ssl.keystore.password,
 * sasl.oauthbearer.client.secret, ssl.key.pem, sasl.oauthbearer.config, which may carry a secret).
 */
export function maskSecrets(props: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) out[k] = /password|secret|key\.pem|token|oauthbearer\.config|^ssl_key$/i.test(k) ? '***' : v;
  return out;
}
