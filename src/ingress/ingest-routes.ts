/**
 * HTTP ingest: `POST /topics/{topic}` and the seed-compatible `POST /producer/{topic}` and `POST /send`.
 * Every route runs the same pipeline: read request metadata (synchronously: uWS invalidates `req` after
 * the handler returns) → read the body under the limit → decode and validate all records → resolve the
 * topic → produce → answer. Any failure before `produce()` means nothing of the request reached Kafka.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { SluiceError, toErrorResponse } from '../errors.js';
import { decodeRecords, type BodyFormat, type DecodedRecords } from '../decode/json-records.js';
import { validateGeoMessage } from '../decode/seed-schemas.js';
import { decodeBody, estimateDecodedBytes, parseContentEncoding, type ContentEncoding } from '../decode/content-encoding.js';
import type { DecodePool } from '../decode/decode-pool.js';
import { TopicSchemas, validateRecords } from '../decode/schemas.js';
import { ProduceSchemas } from '../decode/produce-schemas.js';
import { SchemaRegistry } from '../decode/schema-registry.js';
import { assertProducibleTopicName } from '../decode/topic-name.js';
import type { DeliveryResult } from '../producer/delivery-result.js';
import type { ProducePort } from '../producer/produce-port.js';
import { readBody, type BodyRead } from './body-reader.js';
import { presentedKey, type AccessControl } from '../http/access-control.js';
import { allowedOrigin } from '../http/cors.js';
import { guard, pathParameter, sendError, sendJson } from '../http/respond.js';
import { assertIdempotencyKey, fingerprint, IdempotencyStore, type Idempotency, type KeptAnswer } from '../http/idempotency.js';
import type { Lifecycle } from './lifecycle.js';

export interface IngestDeps {
  config: Config;
  producer: ProducePort;
  lifecycle: Lifecycle;
  /** Present when SLUICE_DECODE_OFFLOAD_BYTES > 0. */
  decodePool?: DecodePool;
  access: AccessControl;
  /** Remembers answers to requests with an Idempotency-Key (absent when SLUICE_IDEMPOTENCY_WINDOW_S is 0). */
  idempotency?: Idempotency;
  /** JSON Schemas per topic (SLUICE_SCHEMAS_DIR, SLUICE_SCHEMA_REGISTRY_URL); absent when neither is configured. */
  schemas?: ProduceSchemas;
  /** Counts one answered request (route name, status, records accepted). */
  countRequest: (route: string, status: number, records: number) => void;
  log: Logger;
}

/** Per-route behaviour on top of the shared pipeline. */
interface RouteSpec {
  /** Label for metrics. */
  name: string;
  /** Checks and possibly rewrites decoded records (seed routes); throws to refuse the request. */
  accept?(records: DecodedRecords): DecodedRecords;
  /** The success answer. */
  answer(result: DeliveryResult, durable: boolean, records: DecodedRecords): { status: number; body: string };
}

interface RequestMeta {
  topic: string;
  format: BodyFormat;
  encoding: ContentEncoding;
  declaredLength: number;
  key: string | null;
  durable: boolean;
  headers: [string, string][] | null;
  /** `X-Kafka-Timestamp` (epoch ms): the records' Kafka CreateTime; null: the producer's clock. */
  timestampMs: number | null;
}

const KAFKA_PREFIX = 'x-kafka-';
const HEADER_PREFIX = 'x-kafka-header-';
const MAX_KAFKA_HEADERS = 32;
const TIMESTAMP_HEADER = 'x-kafka-timestamp';
/** Epoch ms as a plain decimal integer; at most year 2286 (13 digits). */
const TIMESTAMP_TEXT = /^\d{1,13}$/;
/**
 * uWS parses a header block that arrives in one read whatever its size, but keeps at most 4 KiB of one
 * that spans reads and closes the connection without an answer beyond that: whether 5 KiB of headers
 * worked depended on TCP segmentation. Refusing every block over 4 KiB makes the limit the same for all
 * clients (431 here, or that close when uWS sees the block first).
 */
const MAX_HEADER_BLOCK_BYTES = 4096;

const topicsRoute: RouteSpec = {
  name: 'topics',
  answer: (r, durable) => durable
    ? { status: 200, body: JSON.stringify(r) }
    : { status: 202, body: JSON.stringify({ topic: r.topic, count: r.count }) },
};

const seedProducerRoute: RouteSpec = {
  name: 'producer',
  accept(records) {
    if (records.count !== 1) throw new SluiceError('VALIDATION_FAILED', 'body must be one JSON object {name, message_id, lat, lon}');
    const msg = validateGeoMessage(records.parsed[0]);
    if (msg.message_id !== undefined) return records;
    // The seed app's model filled in a message id; do the same and send the completed object.
    const completed = { ...msg, message_id: randomUUID() };
    const body = Buffer.from(JSON.stringify(completed));
    return { ...records, body, starts: Int32Array.of(0), ends: Int32Array.of(body.length), parsed: [completed] };
  },
  answer(r, _durable, records) {
    const msg = records.parsed[0] as { name: string; message_id: string | number };
    return { status: 200, body: JSON.stringify({ name: msg.name, message_id: msg.message_id, topic: r.topic }) };
  },
};

const seedSendRoute: RouteSpec = {
  name: 'send',
  accept(records) {
    const v = records.parsed[0];
    if (records.count !== 1 || v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new SluiceError('VALIDATION_FAILED', 'body must be one JSON object');
    }
    return records;
  },
  answer: () => ({ status: 200, body: '{"status":"sent"}' }),
};

export function registerIngestRoutes(app: TemplatedApp, deps: IngestDeps): void {
  const { idempotencyWindowSeconds: windowSeconds, idempotencyMaxKeys: maxKeys, idempotencyMaxBytes: maxBytes } = deps.config;
  if (windowSeconds > 0) deps.idempotency ??= new IdempotencyStore({ windowSeconds, maxKeys, maxBytes });
  const { schemasDir, schemaRegistryUrl, schemaRegistryRefreshSeconds } = deps.config;
  if (schemasDir !== '' || schemaRegistryUrl !== '') {
    deps.schemas ??= new ProduceSchemas(schemasDir === '' ? null : TopicSchemas.load(schemasDir),
      schemaRegistryUrl === '' ? null : new SchemaRegistry(schemaRegistryUrl, schemaRegistryRefreshSeconds * 1000));
  }
  app.post('/topics/:topic', (res, req) => guard(res, () => handle(res, req, deps, topicsRoute, pathParameter(req, 0), true)));
  app.post('/producer/:topic', (res, req) => guard(res, () => handle(res, req, deps, seedProducerRoute, pathParameter(req, 0), false)));
  app.post('/send', (res, req) => guard(res, () => handle(res, req, deps, seedSendRoute, deps.config.defaultTopic, false)));
}

function handle(res: HttpResponse, req: HttpRequest, deps: IngestDeps, route: RouteSpec, topic: string, ndjsonAllowed: boolean): void {
  const { lifecycle, config } = deps;
  let aborted = false;
  let settled = true;
  // Every accepted request ends exactly once: answered, failed, or aborted by the client mid-upload.
  const settle = () => {
    if (!settled) {
      settled = true;
      lifecycle.end();
    }
  };
  let bodyRead: BodyRead | undefined;
  res.onAborted(() => {
    aborted = true;
    bodyRead?.cancel();
    settle();
  });
  const cors = allowedOrigin(req.getHeader('origin'));
  if (lifecycle.draining) {
    sendError(res, new SluiceError('SHUTTING_DOWN', 'gateway is shutting down'), true, cors);
    return;
  }
  let meta: RequestMeta;
  try {
    meta = readMeta(req, topic, config, ndjsonAllowed);
    assertProducibleTopicName(meta.topic);
    deps.access.check(presentedKey((h) => req.getHeader(h), (q) => req.getQuery(q)), 'produce', meta.topic);
  } catch (err) {
    sendError(res, err, true, cors);
    return;
  }
  lifecycle.begin();
  settled = false;
  const finish = (status: number, body: string, records: number) => {
    settle();
    deps.countRequest(route.name, status, records);
    // While draining, answers close their connection so keep-alive clients move on and threads can end.
    if (!aborted) res.cork(() => sendJson(res, status, body, lifecycle.draining, cors));
  };
  const fail = (err: unknown, closeConnection = false) => {
    settle();
    const e = toErrorResponse(err);
    deps.countRequest(route.name, e.status, 0);
    if (e.status >= 500) deps.log.warn({ topic: meta.topic, err: (err as Error).message }, 'ingest request failed');
    if (!aborted) res.cork(() => sendError(res, err, closeConnection || lifecycle.draining, cors));
  };

  // One header read when absent: requests without a key take the same path as before.
  const idempotencyKey = req.getHeader('idempotency-key');
  let query = '';
  if (idempotencyKey !== '') {
    try {
      assertIdempotencyKey(idempotencyKey);
    } catch (err) {
      fail(err, true);
      return;
    }
    query = req.getQuery() ?? '';
    meta.headers = [...(meta.headers ?? []), ['idempotency-key', idempotencyKey]];
  }

  bodyRead = readBody(res, config.maxBodyBytes, meta.declaredLength, (body) => {
    const ingest = () => ingestBody(body, meta, route, deps);
    const answered = idempotencyKey !== '' && deps.idempotency
      ? deps.idempotency.run(idempotencyKey, fingerprint(route.name, meta.topic, query, body), ingest)
      : ingest();
    answered.then((a) => finish(a.status, a.body, a.records), fail);
  }, fail);
}

/** Decode, check, produce, and the route's answer; rejects with the request's failure. */
async function ingestBody(body: Buffer, meta: RequestMeta, route: RouteSpec, deps: IngestDeps): Promise<KeptAnswer> {
  const { config } = deps;
  // Large bodies of the plain ingest route decode on the pool; seed routes' bodies are one small object.
  // Schemas are checked where the body is decoded: on the pool thread for offloaded bodies.
  const found = deps.schemas?.resolve(meta.topic) ?? null;
  const schema = found instanceof Promise ? await found : found;
  const offload = deps.decodePool && !route.accept && estimateDecodedBytes(body, meta.encoding) >= config.decodeOffloadBytes;
  let records = offload
    ? await deps.decodePool!.decode(body, meta.encoding, meta.format, config.keyField, config.maxBodyBytes, schema?.task ?? null)
    : decodeRecords(decodeBody(body, meta.encoding, config.maxBodyBytes), meta.format, config.keyField);
  if (route.accept) records = route.accept(records);
  if (schema && !offload) validateRecords(schema.validate, records, meta.format);
  if (records.count > config.maxRecordsPerRequest) {
    throw new SluiceError('TOO_MANY_RECORDS', `the body holds ${records.count} records; at most ${config.maxRecordsPerRequest} per request`, { limit: config.maxRecordsPerRequest });
  }
  const result = await deps.producer.submit({ topic: meta.topic, records, key: meta.key, headers: meta.headers, durable: meta.durable, timestampMs: meta.timestampMs });
  const { status, body: answer } = route.answer(result, meta.durable, records);
  return { status, body: answer, records: records.count };
}

function readMeta(req: HttpRequest, topic: string, config: Config, ndjsonAllowed: boolean): RequestMeta {
  // Kafka header names are the request header names after the prefix, lower-cased (HTTP header names are case-insensitive).
  let headers: [string, string][] | null = null;
  // The fewest bytes the header block can have had ("METHOD url?query HTTP/1.1", "name:value" lines, CRLFs),
  // so only blocks certainly over the limit are refused.
  const query = req.getQuery();
  let headerBytes = req.getMethod().length + req.getUrl().length + (query ? query.length + 1 : 0) + 14;
  let timestampText = null as string | null;
  req.forEach((name, value) => {
    headerBytes += name.length + value.length + 3;
    // One prefix test per header, as before the timestamp header existed: requests without it pay nothing.
    if (!name.startsWith(KAFKA_PREFIX)) return;
    if (name === TIMESTAMP_HEADER) {
      timestampText = value;
      return;
    }
    if (!name.startsWith(HEADER_PREFIX) || name.length === HEADER_PREFIX.length) return;
    (headers ??= []).push([name.slice(HEADER_PREFIX.length), value]);
  });
  if (headerBytes > MAX_HEADER_BLOCK_BYTES) {
    throw new SluiceError('HEADERS_TOO_LARGE', `the request's headers take more than ${MAX_HEADER_BLOCK_BYTES} bytes`, { limitBytes: MAX_HEADER_BLOCK_BYTES });
  }
  if (headers !== null && (headers as [string, string][]).length > MAX_KAFKA_HEADERS) {
    throw new SluiceError('INVALID_PARAMETER', `at most ${MAX_KAFKA_HEADERS} X-Kafka-Header-* headers per request`);
  }

  const contentType = req.getHeader('content-type').toLowerCase();
  const mediaType = contentType.split(';', 1)[0].trim();
  let format: BodyFormat;
  if (mediaType === 'application/json' || (mediaType === '' && !ndjsonAllowed)) format = 'json';
  else if (ndjsonAllowed && (mediaType === 'application/x-ndjson' || mediaType === 'application/jsonl')) format = 'ndjson';
  else {
    const accepted = ndjsonAllowed ? 'application/json or application/x-ndjson' : 'application/json';
    throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Type "${contentType}" is not supported; send ${accepted}`);
  }
  const encoding = parseContentEncoding(req.getHeader('content-encoding'));
  const lengthHeader = req.getHeader('content-length');
  const declaredLength = lengthHeader === '' ? -1 : Number(lengthHeader);

  const ack = req.getQuery('ack') ?? '';
  let durable: boolean;
  if (ack === '') durable = config.ackMode === 'durable';
  else if (ack === 'all') durable = true;
  else if (ack === 'none') durable = false;
  else throw new SluiceError('INVALID_PARAMETER', `ack must be "all" (wait for Kafka) or "none" (fire and forget), not "${ack}"`);

  const keyParam = req.getQuery('key');
  const key = keyParam === undefined || keyParam === '' ? null : keyParam;

  let timestampMs: number | null = null;
  if (timestampText !== null) {
    if (!TIMESTAMP_TEXT.test(timestampText)) throw new SluiceError('INVALID_PARAMETER', `X-Kafka-Timestamp must be epoch milliseconds (a non-negative integer), not "${timestampText.slice(0, 40)}"`);
    timestampMs = Number(timestampText);
  }

  return { topic, format, encoding, declaredLength, key, durable, headers, timestampMs };
}
