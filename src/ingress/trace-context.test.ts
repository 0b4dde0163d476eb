import { describe, expect, it } from 'vitest';
import { isValidTraceparent, withTraceContext } from './trace-context.js';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('isValidTraceparent', () => {
  it('accepts the spec example and a future version with extra fields', () => {
    expect(isValidTraceparent(VALID)).toBe(true);
    expect(isValidTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future')).toBe(true);
  });
  it.each([
    ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['version 00 with a fifth field', `${VALID}-x`],
    ['an all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['an all-zero parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
    ['upper-case hex', VALID.toUpperCase()],
    ['a short trace id', '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01'],
    ['empty', ''],
  ])('refuses %s', (_what, value) => {
    expect(isValidTraceparent(value)).toBe(false);
  });
});

describe('withTraceContext', () => {
  it('adds traceparent and tracestate after the explicit Kafka headers', () => {
    expect(withTraceContext([['site', 'a']], VALID, 'vendor=1')).toEqual([
      ['site', 'a'],
      ['traceparent', VALID],
      ['tracestate', 'vendor=1'],
    ]);
    expect(withTraceContext(null, VALID, '')).toEqual([['traceparent', VALID]]);
  });
  it('ignores an invalid traceparent and its tracestate', () => {
    const explicit: [string, string][] = [['site', 'a']];
    expect(withTraceContext(explicit, 'garbage', 'vendor=1')).toBe(explicit);
    expect(withTraceContext(null, 'garbage', 'vendor=1')).toBeNull();
  });
  it('leaves an explicit X-Kafka-Header-traceparent alone (no header twice)', () => {
    expect(withTraceContext([['traceparent', 'mine']], VALID, 'vendor=1')).toEqual([
      ['traceparent', 'mine'],
      ['tracestate', 'vendor=1'],
    ]);
  });
});
