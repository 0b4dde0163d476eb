/**
 * The metadata stage of the ingest pipeline, pure: from a request's line and headers (a RequestHead) to what
 * the submission needs but for its records — topic, key, Kafka headers and timestamp, ack mode — and how
 * to read the body (format, encoding, declared length), or the registry error that refuses the request.
 * Nothing here touches uWS, so every rule is unit-tested (request-metadata.test.ts).
 */
import { SluiceError } from '../errors.js';
import { KAFKA_TIMESTAMP } from '../api/routes.js';
import type { BodyFormat } from '../decode/json-records.js';
import { parseContentEncoding, type ContentEncoding } from '../decode/content-encoding.js';
import { assertProducibleTopicName } from '../decode/topic-name.js';
import type { ProduceSubmission } from '../producer/produce-port.js';
import type { RequestHead } from './request-head.js';
import { withTraceContext } from './trace-context.js';

/** What the request's line and headers say: the submission but for its records, and how to read the body. */
export interface RequestMetadata extends Omit<ProduceSubmission, 'records'> {
  format: BodyFormat;
  encoding: ContentEncoding;
  /** Content-Length; -1 when absent. */
  declaredLength: number;
}

/** What differs between the ingest routes and settings. */
export interface MetadataRules {
  /** `POST /topics/{topic}` takes NDJSON; the seed routes take one JSON object. */
  ndjsonAllowed: boolean;
  /** SLUICE_ACK_MODE=durable: without `ack=`, wait for Kafka. */
  durableByDefault: boolean;
  /** SLUICE_MAX_TIMESTAMP_AHEAD_MS: how far ahead of `nowMs` an X-Kafka-Timestamp may be (0: any). */
  maxTimestampAheadMs: number;
}

export const MAX_KAFKA_HEADERS = 32;
/**
 * uWS parses a header block that arrives in one read whatever its size, but keeps at most 4 KiB of one
 * that spans reads and closes the connection without an answer beyond that: whether 5 KiB of headers
 * worked depended on TCP segmentation. Refusing every block over 4 KiB makes the limit the same for all
 * clients (431 here, or that close when uWS sees the block first).
 */
export const MAX_HEADER_BLOCK_BYTES = 4096;
/** Epoch ms as a plain decimal integer: the route table's pattern, so the docs and the check are one rule. */
const TIMESTAMP_TEXT = new RegExp(KAFKA_TIMESTAMP.pattern!);

/** The fewest bytes the header block can have had ("METHOD url?query HTTP/1.1", "name:value" lines, CRLFs). */
export function headerBlockBytes(head: RequestHead): number {
  return head.headerLineBytes + head.method.length + head.url.length + (head.query ? head.query.length + 1 : 0) + 14;
}

/** The request's metadata, or the SluiceError (from the error registry) that refuses it; never throws one. */
export function readRequestMetadata(head: RequestHead, topic: string, rules: MetadataRules, nowMs: number): RequestMetadata | SluiceError {
  try {
    return readOrThrow(head, topic, rules, nowMs);
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
}

function readOrThrow(head: RequestHead, topic: string, rules: MetadataRules, nowMs: number): RequestMetadata {
  // Only blocks certainly over the limit are refused.
  if (headerBlockBytes(head) > MAX_HEADER_BLOCK_BYTES) {
    throw new SluiceError('HEADERS_TOO_LARGE', `the request's headers take more than ${MAX_HEADER_BLOCK_BYTES} bytes`, {
      limitBytes: MAX_HEADER_BLOCK_BYTES,
    });
  }
  if (head.kafkaHeaders !== null && head.kafkaHeaders.length > MAX_KAFKA_HEADERS) {
    throw new SluiceError('INVALID_PARAMETER', `at most ${MAX_KAFKA_HEADERS} X-Kafka-Header-* headers per request`);
  }
  const headers = head.traceparent === '' ? head.kafkaHeaders : withTraceContext(head.kafkaHeaders, head.traceparent, head.tracestate);
  const format = bodyFormat(head.contentType, rules.ndjsonAllowed);
  const encoding = parseContentEncoding(head.contentEncoding);
  const declaredLength = head.contentLength === '' ? -1 : Number(head.contentLength);
  const durable = ackMode(head.ack, rules.durableByDefault);
  const key = head.key === undefined || head.key === '' ? null : head.key;
  const timestampMs = head.timestamp === null ? null : timestampOf(head.timestamp);
  // Refused here, not by Kafka: Kafka refuses the whole batch such a record travels in, other requests' too.
  if (timestampMs !== null && rules.maxTimestampAheadMs > 0 && timestampMs - nowMs > rules.maxTimestampAheadMs) {
    throw new SluiceError(
      'TIMESTAMP_REFUSED',
      `X-Kafka-Timestamp ${timestampMs} is ${Math.round((timestampMs - nowMs) / 60_000)} min ahead of the gateway's clock; at most SLUICE_MAX_TIMESTAMP_AHEAD_MS (${rules.maxTimestampAheadMs} ms) is accepted`,
      { limit: 'SLUICE_MAX_TIMESTAMP_AHEAD_MS' },
    );
  }
  assertProducibleTopicName(topic);
  return { topic, format, encoding, declaredLength, key, durable, headers, timestampMs };
}

export function bodyFormat(contentType: string, ndjsonAllowed: boolean): BodyFormat {
  // What every client sends, compared as is; anything else (case, parameters) is parsed.
  if (contentType === 'application/json') return 'json';
  if (ndjsonAllowed && contentType === 'application/x-ndjson') return 'ndjson';
  const mediaType = contentType.toLowerCase().split(';', 1)[0].trim();
  if (mediaType === 'application/json' || (mediaType === '' && !ndjsonAllowed)) return 'json';
  if (ndjsonAllowed && (mediaType === 'application/x-ndjson' || mediaType === 'application/jsonl')) return 'ndjson';
  const accepted = ndjsonAllowed ? 'application/json or application/x-ndjson' : 'application/json';
  throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Type "${contentType.toLowerCase()}" is not supported; send ${accepted}`);
}

/** `ack=`: true when the answer waits for Kafka. */
export function ackMode(ack: string, durableByDefault: boolean): boolean {
  if (ack === '') return durableByDefault;
  if (ack === 'all') return true;
  if (ack === 'none') return false;
  throw new SluiceError('INVALID_PARAMETER', `ack must be "all" (wait for Kafka) or "none" (fire and forget), not "${ack}"`);
}

export function timestampOf(text: string): number {
  if (!TIMESTAMP_TEXT.test(text))
    throw new SluiceError(
      'INVALID_PARAMETER',
      `X-Kafka-Timestamp must be epoch milliseconds (a non-negative integer), not "${text.slice(0, 40)}"`,
    );
  return Number(text);
}
