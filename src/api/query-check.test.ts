import { describe, expect, it } from 'vitest';
import { type SluiceError, closest } from '../errors.js';
import { queryChecker } from './query-check.js';
import { ROUTES } from './routes.js';

const routeById = (id: string) => ROUTES.find((r) => r.id === id)!;

function refusal(check: (q: string) => void, query: string): SluiceError {
  try {
    check(query);
  } catch (err) {
    return err as SluiceError;
  }
  throw new Error(`${query} was accepted`);
}

describe('query parameters against the route table', () => {
  const topics = queryChecker(routeById('topics'))!;
  const ws = queryChecker(routeById('ws_topics'))!;

  it('accepts the documented parameters, once each, in any order', () => {
    expect(() => topics('ack=none&key=pump-7')).not.toThrow();
    expect(() => topics('ack=all&&')).not.toThrow();
    expect(() => ws('from=earliest&where=a%3E1&key=k&group=g&api_key=x')).not.toThrow();
  });

  it('refuses an unknown parameter by name, with the close one it may have meant', () => {
    const e = refusal(topics, 'acks=all');
    expect(e.code).toBe('INVALID_PARAMETER');
    expect(e.message).toBe('unknown query parameter "acks" for POST /topics/{topic}; did you mean "ack"?');
    expect(e.details).toEqual({ parameter: 'acks', didYouMean: 'ack' });
    const f = refusal(ws, 'form=earliest');
    expect(f.message).toContain('did you mean "from"?');
    expect(f.details).toMatchObject({ parameter: 'form', didYouMean: 'from' });
  });

  it('lists what is accepted when nothing is close, and says when a route takes none', () => {
    expect(refusal(topics, 'partition=3').message).toBe('unknown query parameter "partition" for POST /topics/{topic}; accepted: ack, key');
    expect(refusal(queryChecker(routeById('healthz'))!, 'verbose').message).toBe(
      'unknown query parameter "verbose" for GET /healthz; it takes none',
    );
  });

  it('takes api_key only on WebSocket and SSE routes: POST routes refuse it plainly, without echoing the key', () => {
    expect(() => ws('api_key=k')).not.toThrow();
    expect(() => queryChecker(routeById('sse_topics'))!('api_key=k')).not.toThrow();
    for (const id of ['topics', 'producer', 'send']) {
      const e = refusal(queryChecker(routeById(id))!, 'api_key=secret-key');
      expect(e.code).toBe('INVALID_PARAMETER');
      expect(e.details).toEqual({ parameter: 'api_key' });
      expect(e.message).toMatch(
        /^api_key in the URL is not accepted for POST \/.*proxy and access logs.*X-API-Key or Authorization: Bearer/,
      );
      expect(e.message).not.toContain('secret-key');
    }
    expect(refusal(topics, 'ack=all&api%5Fkey=k').details).toEqual({ parameter: 'api_key' });
  });

  it('refuses a repeated parameter instead of reading the first', () => {
    const e = refusal(topics, 'ack=none&ack=all');
    expect(e.message).toBe('query parameter "ack" is given more than once; give it once');
    expect(e.details).toEqual({ parameter: 'ack' });
  });

  it('decodes names, and treats an empty name as unknown', () => {
    expect(() => topics('%61ck=none')).not.toThrow();
    expect(refusal(topics, '=x').details).toMatchObject({ parameter: '' });
    expect(refusal(topics, '%zz=1').details).toMatchObject({ parameter: '%zz' });
  });

  it('does not check the CORS preflight (it repeats the query of the request it asks about)', () => {
    expect(queryChecker(routeById('preflight'))).toBeNull();
  });
});

describe('did you mean', () => {
  it('suggests within a small edit distance, case-insensitively, counting a swap once', () => {
    expect(closest('form', ['from', 'key'])).toBe('from');
    expect(closest('acks', ['ack'])).toBe('ack');
    expect(closest('Key', ['key'])).toBe('key');
    expect(closest('grup', ['group'])).toBe('group');
    expect(closest('x', ['key'])).toBeNull();
    expect(closest('topic', ['ack', 'key'])).toBeNull();
  });
});
