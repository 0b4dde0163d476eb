/**
 * The ingest pipeline's stages after the body is read, in order: resolve the topic's schema → decode and
 * check the records (inline, or on the decode pool for large bodies) → submit them to the producer → the
 * route's answer. Callbacks, not a Promise: without a schema to fetch or a body to offload, a fire request
 * runs from the body's last chunk to its answer within uWS's data callback, and a durable one from the
 * delivery report to the answer. Any failure before `submit()` means nothing of the request reached Kafka.
 */
import type { Config } from '../config/schema.js';
import { SluiceError } from '../errors.js';
import { decodeRecords, type DecodedRecords } from '../decode/json-records.js';
import { decodeBody, estimateDecodedBytes } from '../decode/content-encoding.js';
import type { DecodePool } from '../decode/decode-pool.js';
import { validateRecords } from '../decode/schemas.js';
import type { ProduceSchemas, ResolvedSchema } from '../decode/produce-schemas.js';
import type { ProduceCallback, ProducePort } from '../producer/produce-port.js';
import type { KeptAnswer } from '../http/idempotency/store.js';
import type { IngestRoute } from './ingest-route.js';
import type { RequestMetadata } from './request-metadata.js';

/** What the stages after the body use; built once per thread (see edge-services.ts and http-app.ts). */
export interface BodyStages {
  config: Config;
  producer: ProducePort;
  /** JSON Schemas per topic; absent when neither SLUICE_SCHEMAS_DIR nor SLUICE_SCHEMA_REGISTRY_URL is set. */
  schemas: ProduceSchemas | undefined;
  /** Present when SLUICE_DECODE_OFFLOAD_BYTES > 0. */
  decodePool: DecodePool | undefined;
}

/** How a request's pipeline ends: its failure, or the route's answer. Called once. */
export type Ingested = (err: unknown, answer: KeptAnswer | null) => void;

/** Stage: the topic's schema (a Promise only when the registry must be asked), then decoding. */
export function ingestBody(body: Buffer, meta: RequestMetadata, route: IngestRoute, deps: BodyStages, done: Ingested): void {
  let found;
  try {
    found = deps.schemas?.resolve(meta.topic) ?? null;
  } catch (err) {
    done(err, null);
    return;
  }
  if (found instanceof Promise)
    found.then(
      (schema) => decodeStage(body, meta, route, deps, schema, done),
      (err: unknown) => done(err, null),
    );
  else decodeStage(body, meta, route, deps, found, done);
}

/** Stage: decode and check, inline or on the pool. Schemas are checked where the body is decoded. */
function decodeStage(
  body: Buffer,
  meta: RequestMetadata,
  route: IngestRoute,
  deps: BodyStages,
  schema: ResolvedSchema | null,
  done: Ingested,
): void {
  const { config } = deps;
  // Large bodies of the plain ingest route decode on the pool; seed routes' bodies are one small object.
  if (deps.decodePool && !route.accept && estimateDecodedBytes(body, meta.encoding) >= config.decodeOffloadBytes) {
    deps.decodePool.decode(body, meta.encoding, meta.format, config.keyField, config.maxBodyBytes, schema?.task ?? null).then(
      (records) => submitStage(records, meta, route, deps, done),
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
  submitStage(records, meta, route, deps, done);
}

/** Stage: submit to the producer; its delivery report (or, in fire mode, its queueing) becomes the route's answer. */
function submitStage(records: DecodedRecords, meta: RequestMetadata, route: IngestRoute, deps: BodyStages, done: Ingested): void {
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
