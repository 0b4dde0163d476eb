import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../errors.js';
import { blankRequestHead, type RequestHead } from './request-head.js';
import {
  MAX_HEADER_BLOCK_BYTES,
  MAX_KAFKA_HEADERS,
  headerBlockBytes,
  readRequestMetadata,
  type RequestMetadata,
} from './request-metadata.js';

function head(over: Partial<RequestHead> = {}): RequestHead {
  return {
    ...blankRequestHead(),
    method: 'post',
    url: '/topics/orders',
    headerLineBytes: 40,
    contentType: 'application/json',
    contentLength: '12',
    ...over,
  };
}

/** The gateway's clock in these tests. */
const NOW = 1_780_000_000_000;
const TOPICS = { ndjsonAllowed: true, durableByDefault: false, maxTimestampAheadMs: 0 };
const SEED = { ndjsonAllowed: false, durableByDefault: false, maxTimestampAheadMs: 0 };

function read(h: RequestHead, rules = TOPICS, topic = 'orders'): RequestMetadata {
  const m = readRequestMetadata(h, topic, rules, NOW);
  if (m instanceof SluiceError) throw new Error(`refused: ${m.code} ${m.message}`);
  return m;
}

function refusal(h: RequestHead, rules = TOPICS, topic = 'orders'): SluiceError {
  const m = readRequestMetadata(h, topic, rules, NOW);
  if (!(m instanceof SluiceError)) throw new Error('accepted');
  return m;
}

describe('the request-metadata stage', () => {
  it('reads a plain request into the submission it asks for', () => {
    expect(read(head())).toEqual({
      topic: 'orders',
      format: 'json',
      encoding: 'identity',
      declaredLength: 12,
      key: null,
      durable: false,
      headers: null,
      timestampMs: null,
    });
    expect(read(head({ contentLength: '' })).declaredLength).toBe(-1);
    expect(read(head({ key: 'pump-7' })).key).toBe('pump-7');
    expect(read(head({ key: '' })).key).toBeNull();
    expect(read(head({ contentEncoding: 'GZIP' })).encoding).toBe('gzip');
  });

  it('ack= chooses the answer: all waits for Kafka, none does not, empty follows SLUICE_ACK_MODE; anything else is refused', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), fc.boolean(), (ack, durableByDefault) => {
        const m = readRequestMetadata(head({ ack }), 'orders', { ...TOPICS, durableByDefault }, NOW);
        if (ack === '') expect(m).toMatchObject({ durable: durableByDefault });
        else if (ack === 'all') expect(m).toMatchObject({ durable: true });
        else if (ack === 'none') expect(m).toMatchObject({ durable: false });
        else expect(m).toMatchObject({ code: 'INVALID_PARAMETER' });
      }),
    );
  });

  it('X-Kafka-Timestamp: 1 to 15 decimal digits (the route table pattern) are epoch ms, anything else is refused with INVALID_PARAMETER', () => {
    const digits = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 15 });
    fc.assert(
      fc.property(digits, (t) => {
        expect(read(head({ timestamp: t })).timestampMs).toBe(Number(t));
      }),
    );
    const notDigits = fc.string({ maxLength: 16 }).filter((t) => !/^[0-9]{1,15}$/.test(t));
    fc.assert(
      fc.property(notDigits, (t) => {
        expect(refusal(head({ timestamp: t })).code).toBe('INVALID_PARAMETER');
      }),
    );
    expect(refusal(head({ timestamp: '1234567890123456' })).message).toMatch(/epoch milliseconds/);
    expect(refusal(head({ timestamp: '-1' })).code).toBe('INVALID_PARAMETER');
  });

  it('refuses a header block certainly over 4 KiB with 431 and lets every smaller one through', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 6000 }), fc.string({ maxLength: 200 }), (lineBytes, query) => {
        const h = head({ headerLineBytes: lineBytes, query });
        const m = readRequestMetadata(h, 'orders', TOPICS, NOW);
        if (headerBlockBytes(h) > MAX_HEADER_BLOCK_BYTES) expect(m).toMatchObject({ code: 'HEADERS_TOO_LARGE', status: 431 });
        else expect(m).not.toBeInstanceOf(SluiceError);
      }),
    );
  });

  it('passes X-Kafka-Header-* through, at most 32, and adds a valid traceparent unless the client set its own', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i): [string, string] => [`h${i}`, `v${i}`]);
    expect(read(head({ kafkaHeaders: many(MAX_KAFKA_HEADERS) })).headers).toHaveLength(MAX_KAFKA_HEADERS);
    expect(refusal(head({ kafkaHeaders: many(MAX_KAFKA_HEADERS + 1) })).code).toBe('INVALID_PARAMETER');
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(read(head({ traceparent, tracestate: 'a=1' })).headers).toEqual([
      ['traceparent', traceparent],
      ['tracestate', 'a=1'],
    ]);
    expect(read(head({ traceparent: 'not-a-trace' })).headers).toBeNull();
    expect(read(head({ traceparent, kafkaHeaders: [['traceparent', 'mine']] })).headers).toEqual([['traceparent', 'mine']]);
  });

  it('Content-Type: JSON on every route, NDJSON only where allowed, parameters and case ignored; others 415', () => {
    for (const ct of ['application/json', 'Application/JSON; charset=utf-8', ' application/json ']) {
      expect(read(head({ contentType: ct })).format).toBe('json');
      expect(read(head({ contentType: ct }), SEED).format).toBe('json');
    }
    for (const ct of ['application/x-ndjson', 'application/jsonl', 'APPLICATION/X-NDJSON;charset=utf-8']) {
      expect(read(head({ contentType: ct })).format).toBe('ndjson');
      expect(refusal(head({ contentType: ct }), SEED)).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 });
    }
    // No Content-Type: the seed routes take JSON, as the seed app did; the NDJSON route asks for one.
    expect(read(head({ contentType: '' }), SEED).format).toBe('json');
    expect(refusal(head({ contentType: '' })).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(refusal(head({ contentType: 'text/plain' })).message).toMatch(/application\/json or application\/x-ndjson/);
  });

  it('refuses an unknown Content-Encoding with 415 and an illegal or internal topic with INVALID_TOPIC', () => {
    expect(refusal(head({ contentEncoding: 'br' }))).toMatchObject({ status: 415 });
    expect(refusal(head(), TOPICS, 'a b').code).toBe('INVALID_TOPIC');
    expect(refusal(head(), TOPICS, '__consumer_offsets').code).toBe('INVALID_TOPIC');
  });

  it('answers with a value or a registry error for any head, never by throwing', () => {
    const text = fc.string({ maxLength: 40 });
    const anyHead = fc.record({
      query: text,
      ack: text,
      key: fc.option(text, { nil: undefined }),
      headerLineBytes: fc.nat(5000),
      contentType: text,
      contentEncoding: text,
      contentLength: text,
      timestamp: fc.option(text, { nil: null }),
      traceparent: text,
      tracestate: text,
    });
    fc.assert(
      fc.property(anyHead, fc.string({ maxLength: 20 }), fc.boolean(), (h, topic, ndjsonAllowed) => {
        const m = readRequestMetadata(head(h), topic, { ndjsonAllowed, durableByDefault: true, maxTimestampAheadMs: 0 }, NOW);
        if (m instanceof SluiceError) expect(m.status).toBeGreaterThanOrEqual(400);
        else expect(m.topic).toBe(topic);
      }),
    );
  });
});

describe('X-Kafka-Timestamp ahead of the clock', () => {
  const HOUR = 3_600_000;
  const rules = { ...TOPICS, maxTimestampAheadMs: HOUR };
  it('more than SLUICE_MAX_TIMESTAMP_AHEAD_MS ahead is TIMESTAMP_REFUSED naming the setting; up to it, or any past time, is taken', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * HOUR }), fc.boolean(), (offset, ahead) => {
        const ts = ahead ? NOW + offset : NOW - offset;
        const m = readRequestMetadata(head({ timestamp: String(ts) }), 'orders', rules, NOW);
        if (ahead && offset > HOUR) {
          expect(m).toBeInstanceOf(SluiceError);
          expect(m).toMatchObject({ code: 'TIMESTAMP_REFUSED', details: { limit: 'SLUICE_MAX_TIMESTAMP_AHEAD_MS' } });
        } else expect(m).toMatchObject({ timestampMs: ts });
      }),
    );
  });
  it('0 turns the check off (Kafka still decides)', () => {
    expect(readRequestMetadata(head({ timestamp: String(NOW + 100 * HOUR) }), 'orders', TOPICS, NOW)).toMatchObject({
      timestampMs: NOW + 100 * HOUR,
    });
  });
});
