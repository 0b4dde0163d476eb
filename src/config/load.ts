/**
 * The only module that reads environment variables. Validates every setting against the schema and
 * fails with a message naming the setting; unknown `SLUICE_*`, `KAFKA_SASL_*`, `KAFKA_SSL_*` and
 * `KAFKA_SECURITY_*` variables are rejected (typos must not silently fall back to defaults).
 *
 * It is also the one place file settings are resolved: a relative path that is set is relative to the
 * working directory Sluice was started in (`npm start` and `npm test` run in the Sluice folder); a
 * default (`native-config/consumer.properties`, `.kafka/data`) names a file shipped in the Sluice
 * folder and is resolved there. Every module after this one gets absolute paths.
 */
import { isAbsolute, resolve } from 'node:path';
import { SETTINGS, RENAMED, type Config, type SettingName } from './schema.js';
import { StartupError } from '../errors.js';
import { PROJECT_ROOT } from '../project-root.js';

/** Prefixes only Sluice uses: an unknown name there is a typo (a misspelt KAFKA_SASL_PASSWORD must not pass unnoticed). */
const OWN_PREFIXES = /^(SLUICE_|KAFKA_SASL_|KAFKA_SSL_|KAFKA_SECURITY_)/;

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Config {
  const problems: string[] = [];
  const known = new Set(Object.values(SETTINGS).map((s) => s.env));
  for (const name of Object.keys(env)) {
    if (RENAMED[name]) problems.push(`${name} was renamed: use ${RENAMED[name]} instead`);
    else if (OWN_PREFIXES.test(name) && !known.has(name)) problems.push(`${name} is not a Sluice setting (see docs/configuration.md)`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [SettingName, (typeof SETTINGS)[SettingName]][]) {
    const raw = env[setting.env];
    if (raw === undefined || raw === '') {
      out[key] = setting.kind.type === 'path' ? resolvePath(PROJECT_ROOT, setting.default as string) : setting.default;
      continue;
    }
    const parsed = setting.kind.type === 'path' ? resolvePath(cwd, raw.trim()) : parseValue(setting.kind, raw.trim());
    if (typeof parsed === 'object' && parsed !== null && 'problem' in parsed)
      problems.push(`${setting.env}=${JSON.stringify(raw)}: ${parsed.problem}`);
    else out[key] = parsed;
  }
  if (problems.length > 0) throw new StartupError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  const config = out as Config;
  if (config.wsIdleTimeoutSeconds !== 0 && config.wsIdleTimeoutSeconds < 8) {
    throw new StartupError(`invalid configuration:\n  - SLUICE_WS_IDLE_TIMEOUT_S=${config.wsIdleTimeoutSeconds}: must be 0 or 8–960`);
  }
  if (config.shutdownDelayMs + config.shutdownCloseWindowMs >= config.shutdownTimeoutMs) {
    throw new StartupError(
      `invalid configuration:\n  - SLUICE_SHUTDOWN_DELAY_MS=${config.shutdownDelayMs} + SLUICE_SHUTDOWN_CLOSE_WINDOW_MS=${config.shutdownCloseWindowMs} must be less than SLUICE_SHUTDOWN_TIMEOUT_MS=${config.shutdownTimeoutMs} (the whole shutdown budget), leaving time to answer requests and flush Kafka`,
    );
  }
  if (config.adminPort > 0 && config.adminPort === config.port) {
    throw new StartupError(`invalid configuration:\n  - SLUICE_ADMIN_PORT=${config.adminPort}: must differ from SLUICE_PORT`);
  }
  return Object.freeze(config);
}

/** '' stays '' (the setting is off); anything else becomes absolute against `base`. */
function resolvePath(base: string, path: string): string {
  return path === '' || isAbsolute(path) ? path : resolve(base, path);
}

type Problem = { problem: string };

function parseValue(kind: (typeof SETTINGS)[SettingName]['kind'], raw: string): string | number | boolean | Problem {
  switch (kind.type) {
    case 'int': {
      if (!/^-?\d+$/.test(raw)) return { problem: 'must be a whole number' };
      const n = Number(raw);
      if (n < kind.min || n > kind.max) return { problem: `must be between ${kind.min} and ${kind.max}` };
      return n;
    }
    case 'bool':
      if (/^(true|1|yes|on)$/i.test(raw)) return true;
      if (/^(false|0|no|off)$/i.test(raw)) return false;
      return { problem: 'must be true or false' };
    case 'enum':
      return kind.values.includes(raw) ? raw : { problem: `must be one of ${kind.values.join(', ')}` };
    case 'path':
      return raw;
    case 'string':
      if (kind.pattern && !kind.pattern.test(raw)) return { problem: `must be ${kind.patternHelp ?? `like ${kind.pattern}`}` };
      return raw;
  }
}
