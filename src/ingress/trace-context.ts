/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) at the ingest edge: a POST's `traceparent` and
 * `tracestate` headers become Kafka headers of the same names on every record of the request, and record
 * frames carry records' headers, so one device message can be followed from HTTP through Kafka to the
 * browser (and by any downstream consumer or OpenTelemetry backend that reads Kafka headers).
 */

/**
 * Carries a request's W3C Trace Context into every record as Kafka headers of the same names, so one device
 * message can be followed from HTTP through Kafka to a dashboard frame. An invalid `traceparent` is ignored,
 * as the W3C spec tells a receiver to (and `tracestate` with it); an explicit `X-Kafka-Header-traceparent`
 * (or `-tracestate`) is the client's own choice and wins, so no record gets the header twice.
 */
export function withTraceContext(
  kafkaHeaders: [string, string][] | null,
  traceparent: string,
  tracestate: string,
): [string, string][] | null {
  if (!isValidTraceparent(traceparent)) return kafkaHeaders;
  const explicit = (name: string) => kafkaHeaders?.some(([n]) => n === name) === true;
  const out: [string, string][] = kafkaHeaders === null ? [] : kafkaHeaders.slice();
  if (!explicit('traceparent')) out.push(['traceparent', traceparent]);
  if (tracestate !== '' && !explicit('tracestate')) out.push(['tracestate', tracestate]);
  return out;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?$/;
const ZEROS = /^0+$/;

/** W3C Trace Context level 1: version ff is invalid, version 00 has exactly four fields, ids not all zero. */
export function isValidTraceparent(value: string): boolean {
  const m = TRACEPARENT.exec(value);
  if (m === null || m[1] === 'ff' || (m[1] === '00' && m[4] !== undefined)) return false;
  return !ZEROS.test(m[2]) && !ZEROS.test(m[3]);
}
