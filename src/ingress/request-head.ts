/**
 * Reads what the ingest pipeline needs from a uWS request into a plain value, synchronously: uWS
 * invalidates `req` once the handler returns. One pass over the headers (no getHeader() round trips) and
 * the two query parameters; everything is checked later, by the pure metadata stage (request-metadata.ts).
 */
import type { HttpRequest } from 'uWebSockets.js';

/** A request's line and headers as plain data (uWS gives header names lower-cased). */
export interface RequestHead {
  method: string;
  url: string;
  /** The query string without `?`; '' when there is none. */
  query: string;
  /** The `ack` and `key` query parameters as uWS decoded them; '' / undefined when absent. */
  ack: string;
  key: string | undefined;
  /** The fewest bytes the header lines can have taken ("name:value" + CRLF each). */
  headerLineBytes: number;
  /** The first of each header, as getHeader() would answer; '' when absent. */
  contentType: string;
  contentEncoding: string;
  contentLength: string;
  origin: string;
  idempotencyKey: string;
  /** `X-Kafka-Timestamp`, unparsed; null when absent. */
  timestamp: string | null;
  /** `X-Kafka-Header-<name>` headers as [name, value], in order; null when there are none. */
  kafkaHeaders: [string, string][] | null;
  /** W3C Trace Context (`traceparent`, `tracestate`), unchecked; '' when absent. */
  traceparent: string;
  tracestate: string;
}

export const KAFKA_HEADER_PREFIX = 'x-kafka-header-';

// forEach's callback is one module-level function writing into the head under way (it runs synchronously,
// before forEach returns), so reading the headers allocates no closure per request.
let reading: RequestHead;
function readHeader(name: string, value: string): void {
  const h = reading;
  h.headerLineBytes += name.length + value.length + 3;
  switch (name) {
    case 'content-type':
      if (h.contentType === '') h.contentType = value;
      return;
    case 'content-length':
      if (h.contentLength === '') h.contentLength = value;
      return;
    case 'content-encoding':
      if (h.contentEncoding === '') h.contentEncoding = value;
      return;
    case 'origin':
      if (h.origin === '') h.origin = value;
      return;
    case 'idempotency-key':
      if (h.idempotencyKey === '') h.idempotencyKey = value;
      return;
    case 'x-kafka-timestamp':
      if (h.timestamp === null) h.timestamp = value;
      return;
    case 'traceparent':
      if (h.traceparent === '') h.traceparent = value;
      return;
    case 'tracestate':
      if (h.tracestate === '') h.tracestate = value;
      return;
  }
  // Kafka header names are the request header names after the prefix, lower-cased (HTTP header names are case-insensitive).
  if (name.length > KAFKA_HEADER_PREFIX.length && name.startsWith(KAFKA_HEADER_PREFIX))
    (h.kafkaHeaders ??= []).push([name.slice(KAFKA_HEADER_PREFIX.length), value]);
}

/** A head with no headers: what a request without any would read as. */
export function blankRequestHead(): RequestHead {
  return {
    method: '',
    url: '',
    query: '',
    ack: '',
    key: undefined,
    headerLineBytes: 0,
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
}

export function readRequestHead(req: HttpRequest): RequestHead {
  const head = blankRequestHead();
  head.method = req.getMethod();
  head.url = req.getUrl();
  const query = req.getQuery() ?? '';
  head.query = query;
  // No query string, no parameters to look up.
  if (query !== '') {
    head.ack = req.getQuery('ack') ?? '';
    head.key = req.getQuery('key');
  }
  reading = head;
  req.forEach(readHeader);
  return head;
}
