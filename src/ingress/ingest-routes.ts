/**
 * HTTP ingest: `POST /topics/{topic}` and the seed-compatible `POST /producer/{topic}` and `POST /send`.
 * Every route runs the same pipeline: read request metadata (synchronously: uWS invalidates `req` after
 * the handler returns) → read the body under the limit → decode and validate all records → resolve the
 * topic → produce → answer. Any failure before `produce()` means nothing of the request reached Kafka.
 *
 * The single-record path is the hot one (a device fleet posts one reading per request): it reads every
 * header in one pass over the request (no getHeader() round trips), skips the API-key and CORS work when
 * those are off, and runs from the body's last chunk to the answer without a Promise — in fire mode the
 * answer is written before uWS's data callback returns.
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
import { ProduceSchemas, type ResolvedSchema } from '../decode/produce-schemas.js';
import { SchemaRegistry } from '../decode/schema-registry.js';
import { assertProducibleTopicName } from '../decode/topic-name.js';
import type { DeliveryResult, ProduceCallback, ProducePort, ProduceSubmission } from '../producer/produce-port.js';
import type { BodyRead, ReadingBudget } from './body-reader.js';
import { presentedKey, type AccessControl } from '../http/credentials/api-keys.js';
import type { CorsPolicy } from '../http/cors.js';
import { pathParameter, sendJson, type ErrorAnswers } from '../http/respond.js';
import { assertIdempotencyKey, fingerprint, IdempotencyStore, type Idempotency, type KeptAnswer } from '../http/idempotency/store.js';
import type { Lifecycle } from './lifecycle.js';
import { withTraceContext } from './trace-context.js';

export interface IngestDeps {
  config: Config;
  producer: ProducePort;
  lifecycle: Lifecycle;
  /** Error answers (Retry-After, the error observer). */
  answers: ErrorAnswers;
  cors: CorsPolicy;
  /** This thread's budget for bodies being read at once. */
  reading: ReadingBudget;
  /** Present when SLUICE_DECODE_OFFLOAD_BYTES > 0. */
  decodePool?: DecodePool;
  access: AccessControl;
  /** Remembers answers to requests with an Idempotency-Key (absent when SLUICE_IDEMPOTENCY_WINDOW_S is 0). */
  idempotency?: Idempotency;
  /** JSON Schemas per topic (SLUICE_SCHEMAS_DIR, SLUICE_SCHEMA_REGISTRY_URL); absent when neither is configured. */
  schemas?: ProduceSchemas;
  /** Counts one answered request (route name, status, records accepted, seconds from accepted to answered). */
  countRequest: (route: string, status: number, records: number, seconds: number) => void;
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

/** What the request's line and headers say: the submission but for its records, and how to read the body. */
interface RequestMeta extends Omit<ProduceSubmission, 'records'> {
  format: BodyFormat;
  encoding: ContentEncoding;
  declaredLength: number;
}

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

/** `{"topic","count","partitions":[{"partition","count","offsets":[lo,hi]}]}`, written out (topic names are `[a-zA-Z0-9._-]`, checked before). */
function durableAnswer(r: DeliveryResult): string {
  let parts = '';
  for (const p of r.partitions)
    parts += `${parts ? ',' : ''}{"partition":${p.partition},"count":${p.count},"offsets":[${p.offsets[0]},${p.offsets[1]}]}`;
  return `{"topic":"${r.topic}","count":${r.count},"partitions":[${parts}]}`;
}

const topicsRoute: RouteSpec = {
  name: 'topics',
  answer: (r, durable) =>
    durable ? { status: 200, body: durableAnswer(r) } : { status: 202, body: `{"topic":"${r.topic}","count":${r.count}}` },
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
    deps.schemas ??= new ProduceSchemas(
      schemasDir === '' ? null : TopicSchemas.load(schemasDir),
      schemaRegistryUrl === '' ? null : new SchemaRegistry(schemaRegistryUrl, schemaRegistryRefreshSeconds * 1000),
    );
  }
  // A synchronous throw becomes a 500 answer instead of an exception inside uWS (inline: no closure per request).
  app.post('/topics/:topic', (res, req) => {
    try {
      handle(res, req, deps, topicsRoute, pathParameter(req, 0), true);
    } catch (err) {
      deps.answers.uncaught(res, err);
    }
  });
  app.post('/producer/:topic', (res, req) => {
    try {
      handle(res, req, deps, seedProducerRoute, pathParameter(req, 0), false);
    } catch (err) {
      deps.answers.uncaught(res, err);
    }
  });
  app.post('/send', (res, req) => {
    try {
      handle(res, req, deps, seedSendRoute, deps.config.defaultTopic, false);
    } catch (err) {
      deps.answers.uncaught(res, err);
    }
  });
}

function handle(res: HttpResponse, req: HttpRequest, deps: IngestDeps, route: RouteSpec, topic: string, ndjsonAllowed: boolean): void {
  const { lifecycle, config, answers } = deps;
  let aborted = false;
  let settled = true;
  let answered = false;
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
  const scan = scanHeaders(req);
  const cors = scan.origin === '' ? null : deps.cors.allowedOrigin(scan.origin);
  if (lifecycle.draining) {
    answers.send(res, new SluiceError('SHUTTING_DOWN', 'gateway is shutting down'), true, cors);
    return;
  }
  let meta: RequestMeta;
  try {
    meta = readMeta(req, scan, topic, config, ndjsonAllowed);
    assertProducibleTopicName(meta.topic);
    if (deps.access.enabled)
      deps.access.check(
        presentedKey(
          (h) => req.getHeader(h),
          (q) => req.getQuery(q),
        ),
        'produce',
        meta.topic,
      );
  } catch (err) {
    answers.send(res, err, true, cors);
    return;
  }
  lifecycle.begin();
  settled = false;
  const startedAt = performance.now();
  const finish = (status: number, body: string, records: number) => {
    if (answered) return;
    answered = true;
    settle();
    deps.countRequest(route.name, status, records, (performance.now() - startedAt) / 1000);
    // While draining, answers close their connection so keep-alive clients move on and threads can end.
    if (!aborted) res.cork(() => sendJson(res, status, body, lifecycle.draining, cors));
  };
  const fail = (err: unknown, closeConnection = false) => {
    if (answered) return;
    answered = true;
    settle();
    const e = toErrorResponse(err);
    deps.countRequest(route.name, e.status, 0, (performance.now() - startedAt) / 1000);
    if (e.status >= 500) deps.log.warn({ topic: meta.topic, err: (err as Error).message }, 'ingest request failed');
    if (!aborted) res.cork(() => answers.send(res, err, closeConnection || lifecycle.draining, cors));
  };

  // Found by the header scan: requests without a key take the path they took before keys existed.
  const idempotencyKey = scan.idempotencyKey;
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

  const ingested: Ingested = (err, a) => (err ? fail(err) : finish(a!.status, a!.body, a!.records));
  bodyRead = deps.reading.readBody(
    res,
    config.maxBodyBytes,
    meta.declaredLength,
    (body) => {
      if (idempotencyKey !== '' && deps.idempotency) {
        const ingest = () =>
          new Promise<KeptAnswer>((resolve, reject) => ingestBody(body, meta, route, deps, (err, a) => (err ? reject(err) : resolve(a!))));
        deps.idempotency
          .run(idempotencyKey, fingerprint(route.name, meta.topic, query, body), ingest)
          .then((a) => finish(a.status, a.body, a.records), fail);
        return;
      }
      ingestBody(body, meta, route, deps, ingested);
    },
    fail,
  );
}

/** How a request's pipeline ends: its failure, or the route's answer. Called once. */
type Ingested = (err: unknown, answer: KeptAnswer | null) => void;

/**
 * Resolve the topic's schema, decode and check, produce, and the route's answer. Callbacks, not a Promise:
 * without a schema to fetch or a body to offload, a fire request runs from the body's last chunk to its
 * answer within uWS's data callback, and a durable one from the delivery report to the answer.
 */
function ingestBody(body: Buffer, meta: RequestMeta, route: RouteSpec, deps: IngestDeps, done: Ingested): void {
  let found;
  try {
    found = deps.schemas?.resolve(meta.topic) ?? null;
  } catch (err) {
    done(err, null);
    return;
  }
  if (found instanceof Promise)
    found.then(
      (schema) => decodeBodyRecords(body, meta, route, deps, schema, done),
      (err: unknown) => done(err, null),
    );
  else decodeBodyRecords(body, meta, route, deps, found, done);
}

function decodeBodyRecords(
  body: Buffer,
  meta: RequestMeta,
  route: RouteSpec,
  deps: IngestDeps,
  schema: ResolvedSchema | null,
  done: Ingested,
): void {
  const { config } = deps;
  // Large bodies of the plain ingest route decode on the pool; seed routes' bodies are one small object.
  // Schemas are checked where the body is decoded: on the pool thread for offloaded bodies.
  if (deps.decodePool && !route.accept && estimateDecodedBytes(body, meta.encoding) >= config.decodeOffloadBytes) {
    deps.decodePool.decode(body, meta.encoding, meta.format, config.keyField, config.maxBodyBytes, schema?.task ?? null).then(
      (records) => produceRecords(records, meta, route, deps, done),
      (err: unknown) => done(err, null),
    );
    return;
  }
  let records: DecodedRecords;
  try {
    // Values are built only for what reads them: seed routes' checks and schemas.
    records = decodeRecords(
      decodeBody(body, meta.encoding, config.maxBodyBytes),
      meta.format,
      config.keyField,
      route.accept !== undefined || schema !== null,
    );
    if (route.accept) records = route.accept(records);
    if (schema) validateRecords(schema.validate, records, meta.format);
  } catch (err) {
    done(err, null);
    return;
  }
  produceRecords(records, meta, route, deps, done);
}

function produceRecords(records: DecodedRecords, meta: RequestMeta, route: RouteSpec, deps: IngestDeps, done: Ingested): void {
  const { maxRecordsPerRequest } = deps.config;
  if (records.count > maxRecordsPerRequest) {
    done(
      new SluiceError('TOO_MANY_RECORDS', `the body holds ${records.count} records; at most ${maxRecordsPerRequest} per request`, {
        limit: maxRecordsPerRequest,
      }),
      null,
    );
    return;
  }
  const produced: ProduceCallback = (err, result) => {
    if (err) {
      done(err, null);
      return;
    }
    let answer;
    try {
      answer = route.answer(result!, meta.durable, records);
    } catch (e) {
      done(e, null);
      return;
    }
    done(null, { status: answer.status, body: answer.body, records: records.count });
  };
  try {
    deps.producer.submit(
      { topic: meta.topic, records, key: meta.key, headers: meta.headers, durable: meta.durable, timestampMs: meta.timestampMs },
      produced,
    );
  } catch (err) {
    done(err, null);
  }
}

/** What one pass over the request's headers finds (uWS gives header names lower-cased). */
interface HeaderScan {
  /** The fewest bytes the header lines can have taken ("name:value" + CRLF each). */
  bytes: number;
  contentType: string;
  contentEncoding: string;
  contentLength: string;
  origin: string;
  idempotencyKey: string;
  /** `X-Kafka-Timestamp`, unparsed; null when absent. */
  timestamp: string | null;
  kafkaHeaders: [string, string][] | null;
  /** W3C Trace Context (`traceparent`, `tracestate`), unchecked; '' when absent. */
  traceparent: string;
  tracestate: string;
}

// forEach's callback is one module-level function writing into the scan under way (it runs synchronously,
// before forEach returns), so reading the headers allocates no closure per request.
let scanning: HeaderScan;
function scanHeader(name: string, value: string): void {
  const s = scanning;
  s.bytes += name.length + value.length + 3;
  switch (name) {
    // The first one of each, as getHeader() would answer.
    case 'content-type':
      if (s.contentType === '') s.contentType = value;
      return;
    case 'content-length':
      if (s.contentLength === '') s.contentLength = value;
      return;
    case 'content-encoding':
      if (s.contentEncoding === '') s.contentEncoding = value;
      return;
    case 'origin':
      if (s.origin === '') s.origin = value;
      return;
    case 'idempotency-key':
      if (s.idempotencyKey === '') s.idempotencyKey = value;
      return;
    case TIMESTAMP_HEADER:
      if (s.timestamp === null) s.timestamp = value;
      return;
    case 'traceparent':
      if (s.traceparent === '') s.traceparent = value;
      return;
    case 'tracestate':
      if (s.tracestate === '') s.tracestate = value;
      return;
  }
  // Kafka header names are the request header names after the prefix, lower-cased (HTTP header names are case-insensitive).
  if (name.length > HEADER_PREFIX.length && name.startsWith(HEADER_PREFIX))
    (s.kafkaHeaders ??= []).push([name.slice(HEADER_PREFIX.length), value]);
}

function scanHeaders(req: HttpRequest): HeaderScan {
  const scan: HeaderScan = {
    bytes: 0,
    contentType: '',
    contentEncoding: '',
    contentLength: '',
    origin: '',
    idempotencyKey: '',
    timestamp: null,
    kafkaHeaders: null,
    traceparent: '',
    tracestate: '',
  };
  scanning = scan;
  req.forEach(scanHeader);
  return scan;
}

function readMeta(req: HttpRequest, scan: HeaderScan, topic: string, config: Config, ndjsonAllowed: boolean): RequestMeta {
  // The fewest bytes the header block can have had ("METHOD url?query HTTP/1.1", "name:value" lines, CRLFs),
  // so only blocks certainly over the limit are refused.
  const query = req.getQuery();
  const headerBytes = scan.bytes + req.getMethod().length + req.getUrl().length + (query ? query.length + 1 : 0) + 14;
  if (headerBytes > MAX_HEADER_BLOCK_BYTES) {
    throw new SluiceError('HEADERS_TOO_LARGE', `the request's headers take more than ${MAX_HEADER_BLOCK_BYTES} bytes`, {
      limitBytes: MAX_HEADER_BLOCK_BYTES,
    });
  }
  if (scan.kafkaHeaders !== null && scan.kafkaHeaders.length > MAX_KAFKA_HEADERS) {
    throw new SluiceError('INVALID_PARAMETER', `at most ${MAX_KAFKA_HEADERS} X-Kafka-Header-* headers per request`);
  }
  const headers = scan.traceparent === '' ? scan.kafkaHeaders : withTraceContext(scan.kafkaHeaders, scan.traceparent, scan.tracestate);

  const contentType = scan.contentType;
  let format: BodyFormat;
  // What every client sends, compared as is; anything else (case, parameters) is parsed.
  if (contentType === 'application/json') format = 'json';
  else if (ndjsonAllowed && contentType === 'application/x-ndjson') format = 'ndjson';
  else {
    const mediaType = contentType.toLowerCase().split(';', 1)[0].trim();
    if (mediaType === 'application/json' || (mediaType === '' && !ndjsonAllowed)) format = 'json';
    else if (ndjsonAllowed && (mediaType === 'application/x-ndjson' || mediaType === 'application/jsonl')) format = 'ndjson';
    else {
      const accepted = ndjsonAllowed ? 'application/json or application/x-ndjson' : 'application/json';
      throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Type "${contentType.toLowerCase()}" is not supported; send ${accepted}`);
    }
  }
  const encoding = parseContentEncoding(scan.contentEncoding);
  const declaredLength = scan.contentLength === '' ? -1 : Number(scan.contentLength);

  // No query string, no parameters to look up.
  const ack = query ? (req.getQuery('ack') ?? '') : '';
  let durable: boolean;
  if (ack === '') durable = config.ackMode === 'durable';
  else if (ack === 'all') durable = true;
  else if (ack === 'none') durable = false;
  else throw new SluiceError('INVALID_PARAMETER', `ack must be "all" (wait for Kafka) or "none" (fire and forget), not "${ack}"`);

  const keyParam = query ? req.getQuery('key') : undefined;
  const key = keyParam === undefined || keyParam === '' ? null : keyParam;

  let timestampMs: number | null = null;
  const timestampText = scan.timestamp;
  if (timestampText !== null) {
    if (!TIMESTAMP_TEXT.test(timestampText))
      throw new SluiceError(
        'INVALID_PARAMETER',
        `X-Kafka-Timestamp must be epoch milliseconds (a non-negative integer), not "${timestampText.slice(0, 40)}"`,
      );
    timestampMs = Number(timestampText);
  }

  return { topic, format, encoding, declaredLength, key, durable, headers, timestampMs };
}
