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
import { assertProducibleTopicName } from '../decode/topic-name.js';
import type { DeliveryResult } from '../producer/delivery-result.js';
import type { ProduceCallback, ProducePort } from '../producer/produce-port.js';
import { readBody, type BodyRead } from './body-reader.js';
import { presentedKey, type AccessControl } from '../http/access-control.js';
import { allowedOrigin } from '../http/cors.js';
import { answerUncaught, pathParameter, sendError, sendJson } from '../http/respond.js';
import type { Lifecycle } from './lifecycle.js';

export interface IngestDeps {
  config: Config;
  producer: ProducePort;
  lifecycle: Lifecycle;
  /** Present when SLUICE_DECODE_OFFLOAD_BYTES > 0. */
  decodePool?: DecodePool;
  access: AccessControl;
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
}

const HEADER_PREFIX = 'x-kafka-header-';
const MAX_KAFKA_HEADERS = 32;
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
  for (const p of r.partitions) parts += `${parts ? ',' : ''}{"partition":${p.partition},"count":${p.count},"offsets":[${p.offsets[0]},${p.offsets[1]}]}`;
  return `{"topic":"${r.topic}","count":${r.count},"partitions":[${parts}]}`;
}

const topicsRoute: RouteSpec = {
  name: 'topics',
  answer: (r, durable) => durable
    ? { status: 200, body: durableAnswer(r) }
    : { status: 202, body: `{"topic":"${r.topic}","count":${r.count}}` },
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
  // A synchronous throw becomes a 500 answer instead of an exception inside uWS.
  app.post('/topics/:topic', (res, req) => {
    try {
      handle(res, req, deps, topicsRoute, pathParameter(req, 0), true);
    } catch (err) {
      answerUncaught(res, err);
    }
  });
  app.post('/producer/:topic', (res, req) => {
    try {
      handle(res, req, deps, seedProducerRoute, pathParameter(req, 0), false);
    } catch (err) {
      answerUncaught(res, err);
    }
  });
  app.post('/send', (res, req) => {
    try {
      handle(res, req, deps, seedSendRoute, deps.config.defaultTopic, false);
    } catch (err) {
      answerUncaught(res, err);
    }
  });
}

function handle(res: HttpResponse, req: HttpRequest, deps: IngestDeps, route: RouteSpec, topic: string, ndjsonAllowed: boolean): void {
  const { lifecycle, config } = deps;
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
  const cors = scan.origin === '' ? null : allowedOrigin(scan.origin);
  if (lifecycle.draining) {
    sendError(res, new SluiceError('SHUTTING_DOWN', 'gateway is shutting down'), true, cors);
    return;
  }
  let meta: RequestMeta;
  try {
    meta = readMeta(req, scan, topic, config, ndjsonAllowed);
    assertProducibleTopicName(meta.topic);
    if (deps.access.enabled) deps.access.check(presentedKey((h) => req.getHeader(h), (q) => req.getQuery(q)), 'produce', meta.topic);
  } catch (err) {
    sendError(res, err, true, cors);
    return;
  }
  lifecycle.begin();
  settled = false;
  const finish = (status: number, body: string, records: number) => {
    if (answered) return;
    answered = true;
    settle();
    deps.countRequest(route.name, status, records);
    // While draining, answers close their connection so keep-alive clients move on and threads can end.
    if (!aborted) res.cork(() => sendJson(res, status, body, lifecycle.draining, cors));
  };
  const fail = (err: unknown, closeConnection = false) => {
    if (answered) return;
    answered = true;
    settle();
    const e = toErrorResponse(err);
    deps.countRequest(route.name, e.status, 0);
    if (e.status >= 500) deps.log.warn({ topic: meta.topic, err: (err as Error).message }, 'ingest request failed');
    if (!aborted) res.cork(() => sendError(res, err, closeConnection || lifecycle.draining, cors));
  };
  let records: DecodedRecords;
  const produced: ProduceCallback = (err, result) => {
    if (err) {
      fail(err);
      return;
    }
    const { status, body: answer } = route.answer(result!, meta.durable, records);
    finish(status, answer, records.count);
  };
  const submit = (decoded: DecodedRecords) => {
    if (decoded.count > config.maxRecordsPerRequest) {
      fail(new SluiceError('TOO_MANY_RECORDS', `the body holds ${decoded.count} records; at most ${config.maxRecordsPerRequest} per request`, { limit: config.maxRecordsPerRequest }));
      return;
    }
    records = decoded;
    try {
      deps.producer.submit({ topic: meta.topic, records, key: meta.key, headers: meta.headers, durable: meta.durable }, produced);
    } catch (err) {
      fail(err);
    }
  };

  bodyRead = readBody(res, config.maxBodyBytes, meta.declaredLength, (body) => {
    // Large bodies of the plain ingest route decode on the pool; seed routes' bodies are one small object.
    if (deps.decodePool && !route.accept && estimateDecodedBytes(body, meta.encoding) >= config.decodeOffloadBytes) {
      deps.decodePool.decode(body, meta.encoding, meta.format, config.keyField, config.maxBodyBytes).then(submit, fail);
      return;
    }
    let decoded: DecodedRecords;
    try {
      decoded = decodeRecords(decodeBody(body, meta.encoding, config.maxBodyBytes), meta.format, config.keyField, route.accept !== undefined);
      if (route.accept) decoded = route.accept(decoded);
    } catch (err) {
      fail(err);
      return;
    }
    submit(decoded);
  }, fail);
}

/** What one pass over the request's headers finds (uWS gives header names lower-cased). */
interface HeaderScan {
  /** The fewest bytes the header lines can have taken ("name:value" + CRLF each). */
  bytes: number;
  contentType: string;
  contentEncoding: string;
  contentLength: string;
  origin: string;
  kafkaHeaders: [string, string][] | null;
}

// forEach's callback is one module-level function writing into the scan under way (it runs synchronously,
// before forEach returns), so reading the headers allocates no closure per request.
let scanning: HeaderScan;
function scanHeader(name: string, value: string): void {
  const s = scanning;
  s.bytes += name.length + value.length + 3;
  switch (name) {
    case 'content-type': if (s.contentType === '') s.contentType = value; return; // the first one, as getHeader() would
    case 'content-length': if (s.contentLength === '') s.contentLength = value; return; // the first one, as getHeader() would
    case 'content-encoding': if (s.contentEncoding === '') s.contentEncoding = value; return; // the first one, as getHeader() would
    case 'origin': if (s.origin === '') s.origin = value; return; // the first one, as getHeader() would
  }
  // Kafka header names are the request header names after the prefix, lower-cased (HTTP header names are case-insensitive).
  if (name.length > HEADER_PREFIX.length && name.startsWith(HEADER_PREFIX)) (s.kafkaHeaders ??= []).push([name.slice(HEADER_PREFIX.length), value]);
}

function scanHeaders(req: HttpRequest): HeaderScan {
  const scan: HeaderScan = { bytes: 0, contentType: '', contentEncoding: '', contentLength: '', origin: '', kafkaHeaders: null };
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
    throw new SluiceError('HEADERS_TOO_LARGE', `the request's headers take more than ${MAX_HEADER_BLOCK_BYTES} bytes`, { limitBytes: MAX_HEADER_BLOCK_BYTES });
  }
  const headers = scan.kafkaHeaders;
  if (headers !== null && headers.length > MAX_KAFKA_HEADERS) {
    throw new SluiceError('INVALID_PARAMETER', `at most ${MAX_KAFKA_HEADERS} X-Kafka-Header-* headers per request`);
  }

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
  const ack = query ? req.getQuery('ack') ?? '' : '';
  let durable: boolean;
  if (ack === '') durable = config.ackMode === 'durable';
  else if (ack === 'all') durable = true;
  else if (ack === 'none') durable = false;
  else throw new SluiceError('INVALID_PARAMETER', `ack must be "all" (wait for Kafka) or "none" (fire and forget), not "${ack}"`);

  const keyParam = query ? req.getQuery('key') : undefined;
  const key = keyParam === undefined || keyParam === '' ? null : keyParam;

  return { topic, format, encoding, declaredLength, key, durable, headers };
}
