import { afterEach, describe, expect, it } from 'vitest';
import type { HttpResponse } from 'uWebSockets.js';
import { SluiceError } from '../errors.js';
import { ErrorAnswers, tagRoute } from './respond.js';

function fakeResponse() {
  const out = { status: '', headers: [] as [string, string][], body: '' };
  const res = {
    writeStatus: (s: string) => ((out.status = s), res),
    writeHeader: (k: string, v: string) => (out.headers.push([k, v]), res),
    end: (b: string) => ((out.body = b), res),
  };
  return { res: res as unknown as HttpResponse, out };
}

describe('the one place errors become answers', () => {
  const seen: unknown[][] = [];
  const answers = new ErrorAnswers({ retryAfterSeconds: 1, observeError: (...args) => seen.push(args) });
  afterEach(() => {
    seen.length = 0;
  });

  it('an unexpected throw answers 500 INTERNAL with a correlation id, reported with the route and the original error', () => {
    const { res, out } = fakeResponse();
    tagRoute(res, 'topics');
    const boom = new TypeError('cannot read x of undefined');
    answers.send(res, boom);
    const body = JSON.parse(out.body);
    expect(out.status).toBe('500 Internal Server Error');
    expect(body.error).toMatchObject({ code: 'INTERNAL', message: 'internal error', retriable: true });
    expect(body.error.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen).toEqual([['INTERNAL', 'topics', boom, body.error.correlationId]]);
  });

  it('other errors carry no correlation id and are reported with their code', () => {
    const { res, out } = fakeResponse();
    tagRoute(res, 'unmatched');
    answers.send(res, new SluiceError('METHOD_NOT_ALLOWED', 'no', { allow: ['POST', 'OPTIONS'] }));
    expect(JSON.parse(out.body).error.correlationId).toBeUndefined();
    expect(out.status).toBe('405 Method Not Allowed');
    expect(out.headers).toContainEqual(['allow', 'POST, OPTIONS']);
    expect(seen).toEqual([['METHOD_NOT_ALLOWED', 'unmatched', expect.any(SluiceError), undefined]]);
  });

  it('426 says which upgrade it wants', () => {
    const { res, out } = fakeResponse();
    answers.send(res, new SluiceError('UPGRADE_REQUIRED', 'use a WebSocket'));
    expect(out.status).toBe('426 Upgrade Required');
    expect(out.headers).toContainEqual(['upgrade', 'websocket']);
    expect(seen[0][1]).toBe('unknown');
  });
});
