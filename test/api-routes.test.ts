/**
 * The route table is the app: `/openapi.json` and `/asyncapi.json` are served and well-formed, every row of
 * the table is answered by its route, and what is not in the table is refused clearly — unknown or
 * repeated query parameters and control-message fields (400 naming them, with "did you mean"), another
 * method on a known path (405 + Allow), a plain GET on a WebSocket route (426) — and counted in
 * `sluice_errors_total{code,route}`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ERRORS } from '../src/errors.js';
import { openApiPath, ROUTES } from '../src/api/routes.js';
import { SUBSCRIBE_PARAM_NAMES } from '../src/subscription/subscribe-params.js';
import { fetchAnswer, postJson, randomTopic, ROOT, sluiceForFile } from './helpers/sluice-process.js';
import { connect } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';
import { rawExchange } from './helpers/raw-http.js';

const kafka = inject('kafkaBootstrap');
const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }));
const VALIDATOR = join(ROOT, '.venv-schemathesis', 'bin', 'openapi-spec-validator');

function request(method: string, path: string, init: RequestInit = {}) {
  return fetchAnswer(`${gateway().url}${path}`, { method, ...init });
}

function expectRefusal(res: { status: number; json: any }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.json)).toBe(status);
  expect(res.json.error.code).toBe(code);
  expect(res.json.error.retriable).toBe(ERRORS[code as keyof typeof ERRORS].retriable);
}

describe('the documents', () => {
  it('/openapi.json is OpenAPI 3.1 with every HTTP route of the table, each error code from the registry, and passes openapi-spec-validator', async () => {
    const res = await request('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const doc = res.json;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('Sluice');
    for (const r of ROUTES.filter((x) => x.path !== '/*')) {
      const op = doc.paths[openApiPath(r.path)]?.[r.method];
      expect(op, `${r.method} ${r.path}`).toBeDefined();
      expect(op.operationId).toBe(r.id);
      const preflight = doc.paths[openApiPath(r.path)].options;
      expect(preflight, `preflight on ${r.path}`).toBeDefined();
      // A preflight answers every path (204): its path parameters are documented as taking any value.
      for (const p of preflight.parameters ?? [])
        if (p.in === 'path') expect(p.schema.pattern, `${r.path} preflight ${p.name}`).toBeUndefined();
      const documented = Object.values(op.responses).flatMap(
        (a: any) => a.content?.['application/json']?.schema?.properties?.error?.properties?.code?.enum ?? [],
      );
      for (const code of r.errors) expect(documented, `${r.id} documents ${code}`).toContain(code);
      for (const code of documented) expect(Object.keys(ERRORS)).toContain(code);
    }
    const topics = doc.paths['/topics/{topic}'].post;
    expect(topics.parameters.map((p: any) => `${p.in}:${p.name}`)).toEqual([
      'path:topic',
      'query:ack',
      'query:key',
      'header:Content-Encoding',
      'header:Origin',
      'header:Idempotency-Key',
      'header:X-Kafka-Timestamp',
    ]);
    expect(Object.keys(topics.requestBody.content)).toEqual(['application/json', 'application/x-ndjson']);
    expect(topics.responses['503'].headers['Retry-After']).toBeDefined();
    expect(topics.responses['400'].content['application/json'].examples.INVALID_PARAMETER.value.error.didYouMean).toBe('ack');
    expect(Object.keys(doc.components.securitySchemes)).toEqual(['ApiKeyHeader', 'BearerAuth', 'ApiKeyQuery']);
    if (!existsSync(VALIDATOR)) throw new Error(`${VALIDATOR} is missing: run \`npm run setup\``);
    const file = join(mkdtempSync(join(tmpdir(), 'sluice-openapi-')), 'openapi.json');
    writeFileSync(file, res.text);
    expect(execFileSync(VALIDATOR, [file], { encoding: 'utf8' })).toContain('OK');
  });

  it('/asyncapi.json is AsyncAPI 3 with the live channels, their control messages and frames, and every reference resolves', async () => {
    const res = await request('GET', '/asyncapi.json');
    expect(res.status).toBe(200);
    const doc = res.json;
    expect(doc.asyncapi).toBe('3.0.0');
    expect(Object.keys(doc.channels).sort()).toEqual(
      ROUTES.filter((r) => r.transport !== 'http')
        .map((r) => r.id)
        .sort(),
    );
    expect(doc.channels.ws_topics.address).toBe('/ws/topics/{topic}');
    expect(Object.keys(doc.channels.ws_topics.bindings.ws.query.properties)).toEqual([...SUBSCRIBE_PARAM_NAMES, 'api_key', 'token']);
    expect(Object.keys(doc.channels.ws.messages).sort()).toEqual([
      'alert',
      'batch',
      'error',
      'record',
      'snapshot-end',
      'subscribe',
      'subscribed',
      'unsubscribe',
      'unsubscribed',
      'window',
    ]);
    expect(Object.keys(doc.channels.sse_topics.messages).sort()).toEqual([
      'alert',
      'batch',
      'error',
      'record',
      'snapshot-end',
      'subscribed',
      'window',
    ]);
    expect(doc.components.schemas.subscribe.properties.op.const).toBe('subscribe');
    expect(doc.components.schemas.subscribe.additionalProperties).toBe(false);
    // Every $ref points at something.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(20);
    for (const r of refs) {
      const path = JSON.parse(`{${r}}`).$ref.slice(2).split('/');
      expect(
        path.reduce((o: any, k: string) => o?.[k], doc),
        r,
      ).toBeDefined();
    }
    for (const op of Object.values(doc.operations) as any[]) expect(['send', 'receive']).toContain(op.action);
  });

  it('/api-docs renders both offline: a page and its script, nothing from other hosts', async () => {
    const page = await request('GET', '/api-docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.text).toContain('<script src="api-docs/api-docs.js">');
    expect(page.text).not.toMatch(/https?:\/\//);
    const script = await request('GET', '/api-docs/api-docs.js');
    expect(script.status).toBe(200);
    expect(script.text).toContain('fetch(path)');
  });
});

describe('every route of the table is served', () => {
  it('each HTTP row answers with its own route (not ROUTE_NOT_FOUND), each WebSocket and SSE row opens', async () => {
    const topic = randomTopic('routes');
    expect((await postJson(`${gateway().url}/topics/${topic}`, '{"warm":1}')).status).toBe(200);
    for (const r of ROUTES) {
      const path = r.path.replace(':topic', topic).replace('/*', '/anything');
      if (r.transport === 'websocket') {
        const s = await connect(`${gateway().wsUrl}${path}`);
        s.ws.close();
      } else if (r.transport === 'sse') {
        const s = await openSse(`${gateway().url}${path}`);
        expect(s.status).toBe(200);
        s.close();
      } else {
        const body = r.method === 'post' ? '{"name":"n","lat":1,"lon":2}' : undefined;
        const res = await request(r.method.toUpperCase(), path, { body, headers: body ? { 'content-type': 'application/json' } : {} });
        expect(res.json?.error?.code, `${r.method} ${path}: ${res.text.slice(0, 200)}`).toBeUndefined();
        expect(Object.keys(r.answers).map(Number), `${r.method} ${path}`).toContain(res.status);
      }
    }
  });

  it('a path that is in no row of the table is 404 ROUTE_NOT_FOUND, pointing at /openapi.json', async () => {
    const res = await request('GET', '/topic');
    expectRefusal(res, 404, 'ROUTE_NOT_FOUND');
    expect(res.json.error.message).toContain('/openapi.json');
    expectRefusal(await request('POST', '/topics/'), 404, 'ROUTE_NOT_FOUND');
  });
});

describe('saying no clearly', () => {
  it('an unknown query parameter on ingest is 400 naming it, with "did you mean", and nothing is produced', async () => {
    const res = await postJson(`${gateway().url}/topics/${randomTopic()}?acks=all`, '{"a":1}');
    expectRefusal(res, 400, 'INVALID_PARAMETER');
    expect(res.json.error).toMatchObject({ parameter: 'acks', didYouMean: 'ack' });
    expect(res.json.error.message).toBe('unknown query parameter "acks" for POST /topics/{topic}; did you mean "ack"?');
  });

  it('a repeated query parameter is 400 instead of taking the first', async () => {
    const res = await postJson(`${gateway().url}/topics/${randomTopic()}?ack=none&ack=all`, '{"a":1}');
    expectRefusal(res, 400, 'INVALID_PARAMETER');
    expect(res.json.error).toMatchObject({ parameter: 'ack' });
    expect(res.json.error.message).toContain('more than once');
  });

  it('a request with no query string, or only known parameters, goes through', async () => {
    const topic = randomTopic();
    expect((await postJson(`${gateway().url}/topics/${topic}`, '{"a":1}')).status).toBe(200);
    expect((await postJson(`${gateway().url}/topics/${topic}?ack=none&key=k`, '{"a":1}')).status).toBe(202);
  });

  it('a typo in a WebSocket URL is refused before the upgrade, naming the parameter it meant', async () => {
    const err = await connect(`${gateway().wsUrl}/ws/topics/${randomTopic()}?form=earliest`).then(
      () => null,
      (e: { status: number; body: string }) => e,
    );
    expect(err?.status).toBe(400);
    const body = JSON.parse(err!.body);
    expect(body.error).toMatchObject({ code: 'INVALID_PARAMETER', parameter: 'form', didYouMean: 'from' });
    expect(body.error.message).toContain('WebSocket /ws/topics/{topic}');
  });

  it('a typo in an SSE URL is 400 too', async () => {
    const err = await openSse(`${gateway().url}/sse/topics/${randomTopic()}?form=earliest`).then(
      () => null,
      (e: { status: number; body: string }) => e,
    );
    expect(err?.status).toBe(400);
    expect(JSON.parse(err!.body).error).toMatchObject({ code: 'INVALID_PARAMETER', parameter: 'form', didYouMean: 'from' });
  });

  it('an unknown field of a subscribe message gets an error frame naming it; the socket stays usable', async () => {
    const s = await connect(`${gateway().wsUrl}/ws`);
    s.ws.send(JSON.stringify({ op: 'subscribe', topic: 't', form: 'earliest' }));
    const [frame] = await s.waitForFrames(1);
    expect(JSON.parse(frame)).toEqual({
      event: 'error',
      error: {
        code: 'INVALID_PARAMETER',
        message: 'unknown subscribe message field "form"; did you mean "from"?',
        retriable: false,
        parameter: 'form',
        didYouMean: 'from',
      },
    });
    const topic = randomTopic();
    expect((await postJson(`${gateway().url}/topics/${topic}`, '{"a":1}')).status).toBe(200);
    s.ws.send(JSON.stringify({ op: 'subscribe', topic, from: 'earliest' }));
    const frames = await s.waitForFrames(3);
    expect(JSON.parse(frames[1])).toMatchObject({ event: 'subscribed', topic });
    expect(JSON.parse(frames[2])).toMatchObject({ topic, value: { a: 1 } });
    s.ws.close();
  });

  it('another method on a known path is 405 with Allow', async () => {
    const get = await request('GET', '/topics/t');
    expectRefusal(get, 405, 'METHOD_NOT_ALLOWED');
    expect(get.headers.get('allow')).toBe('POST, OPTIONS');
    expect(get.json.error.allow).toEqual(['POST', 'OPTIONS']);
    const del = await request('DELETE', '/healthz');
    expectRefusal(del, 405, 'METHOD_NOT_ALLOWED');
    expect(del.headers.get('allow')).toBe('GET, OPTIONS');
    expect((await request('POST', '/ws')).headers.get('allow')).toBe('GET, OPTIONS');
    expect((await request('PUT', '/sse/topics/t')).headers.get('allow')).toBe('GET, OPTIONS');
  });

  it('a plain GET on a WebSocket route is 426 Upgrade Required with Upgrade: websocket', async () => {
    for (const path of ['/ws/topics/t?form=earliest', '/ws', '/consumer/t']) {
      const res = await request('GET', path);
      expectRefusal(res, 426, 'UPGRADE_REQUIRED');
      expect(res.headers.get('upgrade')).toBe('websocket');
    }
    expect((await request('GET', '/ws/topics/t')).json.error.message).toContain('GET /sse/topics/t');
  });

  it('error answers are counted by code and route in sluice_errors_total', async () => {
    await postJson(`${gateway().url}/topics/t?acks=all`, '{}');
    await request('GET', '/ws');
    // With ingress worker threads (SLUICE_TEST_INGRESS_THREADS), counts reach the main thread once a second.
    let text = '';
    const count = (code: string, route: string) =>
      Number(new RegExp(`^sluice_errors_total\\{code="${code}",route="${route}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    // Each thread reports its own counts: wait until every one below has arrived, not just the first.
    const arrived = () =>
      count('INVALID_PARAMETER', 'topics') >= 3 &&
      count('INVALID_PARAMETER', 'ws_topics') >= 1 &&
      count('INVALID_PARAMETER', 'sse_topics') >= 1 &&
      count('METHOD_NOT_ALLOWED', 'unmatched') >= 4 &&
      count('UPGRADE_REQUIRED', 'unmatched') >= 4 &&
      count('ROUTE_NOT_FOUND', 'unmatched') >= 2;
    for (let i = 0; i < 30; i++) {
      text = (await request('GET', '/metrics')).text;
      if (arrived()) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(count('INVALID_PARAMETER', 'topics')).toBeGreaterThanOrEqual(3);
    expect(count('INVALID_PARAMETER', 'ws_topics')).toBeGreaterThanOrEqual(1);
    expect(count('INVALID_PARAMETER', 'sse_topics')).toBeGreaterThanOrEqual(1);
    expect(count('METHOD_NOT_ALLOWED', 'unmatched')).toBeGreaterThanOrEqual(4);
    expect(count('UPGRADE_REQUIRED', 'unmatched')).toBeGreaterThanOrEqual(4);
    expect(count('ROUTE_NOT_FOUND', 'unmatched')).toBeGreaterThanOrEqual(2);
    // Labels stay bounded: codes from the registry, routes from the table.
    const routes = new Set([...ROUTES.map((r) => r.id), 'unmatched']);
    for (const m of text.matchAll(/^sluice_errors_total\{code="([A-Z_]+)",route="([a-z_]+)"\}/gm)) {
      expect(Object.keys(ERRORS)).toContain(m[1]);
      expect(routes).toContain(m[2]);
    }
  });
});

/** uWS 20.30's router drops methods it does not know before any handler; from 20.5x `any('/*')` gets every method. */
const UWS_VERSION = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'uWebSockets.js', 'package.json'), 'utf8')) as { version: string })
  .version;
const UWS_DROPS_UNKNOWN_METHODS = UWS_VERSION.startsWith('20.30.');

describe('every method gets an answer', () => {
  it.runIf(!UWS_DROPS_UNKNOWN_METHODS)(
    'QUERY, PROPFIND, get: 405 with Allow on a known path, 404 elsewhere (a raw socket, as curl -X QUERY)',
    async () => {
      const send = (line: string) => rawExchange(gateway().port, [`${line} HTTP/1.1\r\nHost: x\r\n\r\n`], { timeoutMs: 5000 });
      const query = await send('QUERY /topics/x');
      expect(query.status).toBe(405);
      expect(query.head).toMatch(/\r\nallow: POST, OPTIONS(\r\n|$)/i);
      expect(JSON.parse(query.body).error).toMatchObject({ code: 'METHOD_NOT_ALLOWED', allow: ['POST', 'OPTIONS'] });
      expect((await send('PROPFIND /healthz')).status).toBe(405);
      expect((await send('QUERY /nowhere')).status).toBe(404);
      const lower = await send('get /healthz');
      expect(lower.status).toBe(405);
      expect(JSON.parse(lower.body).error.message).toContain('case-sensitive');
    },
  );

  // Pinned so that the uWS upgrade (#20.1) shows up here; with it the test above runs instead.
  it.runIf(UWS_DROPS_UNKNOWN_METHODS)(
    'uWS 20.30: a method it does not know (QUERY) gets the connection closed without an answer',
    async () => {
      const r = await rawExchange(gateway().port, ['QUERY /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], { timeoutMs: 3000 });
      expect(r.status).toBeNull();
      expect(r.closedByServer).toBe(true);
    },
  );
});

describe('header names: what uWebSockets.js 20.30 refused before Sluice saw the request, 20.57 passes on', () => {
  it('a header name with `_` (legal in HTTP) is answered like any other', async () => {
    const r = await rawExchange(gateway().port, ['GET /healthz HTTP/1.1\r\nHost: x\r\nx_forwarded: y\r\n\r\n'], { timeoutMs: 3000 });
    expect(r.status).toBe(200);
  });

  it('a header name that is not an HTTP token (`x@y`) gets the plain 400 of uWS itself before Sluice sees it (schemathesis does not send these)', async () => {
    const r = await rawExchange(gateway().port, ['GET /healthz HTTP/1.1\r\nHost: x\r\nx@y: z\r\n\r\n'], { timeoutMs: 3000 });
    expect(r.status).toBe(400);
  });
});
