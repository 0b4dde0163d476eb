/**
 * The services an HTTP edge uses — error answers, the CORS policy, API keys, the subscription-token verifier,
 * JSON Schemas, the Idempotency-Key store — built in one place, once per thread that serves HTTP, from the
 * settings, and passed into the uWS app (http-app.ts). The main thread builds its set first, whatever the
 * thread mode: a bad keys file, JWT setting or schema directory then stops start-up before any thread starts.
 * Each ingress worker thread builds its own set (rate-limit buckets and JWKS caches are per thread).
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { ProduceSchemas } from '../decode/produce-schemas.js';
import { SchemaRegistry } from '../decode/schema-registry.js';
import { TopicSchemas } from '../decode/schemas.js';
import { AccessControl } from '../http/credentials/api-keys.js';
import { SubscribeAuth } from '../http/credentials/subscription-tokens.js';
import { chooseTokenVerifier } from '../http/credentials/token-verifier.js';
import { CorsPolicy } from '../http/cors.js';
import { IdempotencyStore, type Idempotency } from '../http/idempotency/store.js';
import { ErrorAnswers } from '../http/respond.js';

export interface EdgeServices {
  answers: ErrorAnswers;
  cors: CorsPolicy;
  access: AccessControl;
  /** API keys and subscription tokens together, as WebSocket and SSE admission checks them. */
  subscribeAuth: SubscribeAuth;
  /** Absent when neither SLUICE_SCHEMAS_DIR nor SLUICE_SCHEMA_REGISTRY_URL is set. */
  schemas: ProduceSchemas | undefined;
  /** Absent when SLUICE_IDEMPOTENCY_WINDOW_S is 0. */
  idempotency: Idempotency | undefined;
}

export interface EdgeServicesOptions {
  config: Config;
  log: Logger;
  /** Counts one error answer (`sluice_errors_total{code,route}`; route: a route-table id). */
  countError: (code: string, route: string) => void;
  /**
   * The instance's one Idempotency-Key store as this thread reaches it: the store itself on the main thread
   * (instanceIdempotencyStore), its link on a worker thread. Absent: keys are not remembered.
   */
  idempotency: Idempotency | undefined;
}

export function buildEdgeServices({ config, log, countError, idempotency }: EdgeServicesOptions): EdgeServices {
  // The one place error answers are counted and INTERNAL errors logged (with the correlation id their body carries).
  const errorLog = log.child({ component: 'errors' });
  const answers = new ErrorAnswers({
    retryAfterSeconds: config.retryAfterSeconds,
    observeError: (code, route, err, correlationId) => {
      countError(code, route);
      if (correlationId) errorLog.error({ route, correlationId, err }, 'internal error');
    },
  });
  const access = config.apiKeysFile ? AccessControl.fromFile(config.apiKeysFile) : AccessControl.open();
  return {
    answers,
    cors: new CorsPolicy(config.corsOrigins),
    access,
    subscribeAuth: new SubscribeAuth(access, chooseTokenVerifier(config)),
    schemas: produceSchemas(config),
    idempotency,
  };
}

/** The instance's one Idempotency-Key store (held by the main thread); undefined when SLUICE_IDEMPOTENCY_WINDOW_S is 0. */
export function instanceIdempotencyStore(config: Config): IdempotencyStore | undefined {
  const { idempotencyWindowSeconds: windowSeconds, idempotencyMaxKeys: maxKeys, idempotencyMaxBytes: maxBytes } = config;
  return windowSeconds > 0 ? new IdempotencyStore({ windowSeconds, maxKeys, maxBytes }) : undefined;
}

function produceSchemas(config: Config): ProduceSchemas | undefined {
  const { schemasDir, schemaRegistryUrl, schemaRegistryRefreshSeconds } = config;
  if (schemasDir === '' && schemaRegistryUrl === '') return undefined;
  return new ProduceSchemas(
    schemasDir === '' ? null : TopicSchemas.load(schemasDir),
    schemaRegistryUrl === '' ? null : new SchemaRegistry(schemaRegistryUrl, schemaRegistryRefreshSeconds * 1000),
  );
}
