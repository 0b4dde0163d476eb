/**
 * Every refusal is a clear JSON error with the documented status, and a refused request leaves nothing in
 * Kafka: a batch is accepted whole or not at all.
 */
import { connect as connectSocket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { readTopic, readTopicOnce } from './helpers/kafka-read.js';
import { ERRORS, type ErrorCode } from '../src/errors.js';

const kafka = inject('kafkaBootstrap');
let sluice: SluiceProcess;
let small: SluiceProcess;

beforeAll(async () => {
  [sluice, small] = await Promise.all([
    startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_MAX_BODY_BYTES: '4096' }),
    startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_MAX_INFLIGHT_RECORDS: '3' }),
  ]);
});
afterAll(async () => {
  await Promise.all([sluice?.stop(), small?.stop()]);
});

/** The documented status and code, a message, `retriable` and `Retry-After` as the error registry says. */
function expectError(res: { status: number; json: any; headers?: Headers }, status: number, code: ErrorCode) {
  expect(res.status).toBe(status);
  expect(res.json?.error?.code).toBe(code);
  expect(typeof res.json.error.message).toBe('string');
  expect(res.json.error.message.length).toBeGreaterThan(5);
  expect(res.json.error.retriable).toBe(ERRORS[code].retriable);
  if (res.headers) expect(res.headers.has('retry-after'), 'Retry-After').toBe(ERRORS[code].retryAfter);
}

/** Posts one valid record first so the topic exists, then checks a bad request added nothing. */
async function expectNothingWritten(topic: string, send: () => Promise<unknown>) {
  expect((await postJson(`${sluice.url}/topics/${topic}`, '{"marker":true}')).status).toBe(200);
  await send();
  // A durable answer means the marker is readable; anything from the bad request would be too.
  await new Promise((r) => setTimeout(r, 300));
  expect(readTopicOnce(kafka, topic).map((r) => r.value)).toEqual(['{"marker":true}']);
}

describe('400 invalid JSON', () => {
  it('names the failing array element and writes none of the valid ones', async () => {
    const topic = randomTopic();
    await expectNothingWritten(topic, async () => {
      const res = await postJson(`${sluice.url}/topics/${topic}`, '[{"ok":1},{"ok":2},{"bad":},{"ok":4}]');
      expectError(res, 400, 'INVALID_JSON');
      expect(res.json.error.index).toBe(2);
      expect(res.json.error.message).toMatch(/element 2/);
    });
  });

  it('names the failing NDJSON line and writes none of the valid ones', async () => {
    const topic = randomTopic();
    await expectNothingWritten(topic, async () => {
      const res = await postJson(`${sluice.url}/topics/${topic}`, '{"ok":1}\n{"ok":2}\n\n{"ok":3\n{"ok":5}\n', 'application/x-ndjson');
      expectError(res, 400, 'INVALID_JSON');
      expect(res.json.error.line).toBe(4);
    });
  });

  it('refuses truncated arrays, trailing commas, bare scalars, empty bodies and invalid UTF-8', async () => {
    const url = `${sluice.url}/topics/${randomTopic()}`;
    expectError(await postJson(url, '[{"a":1},{"a":2}'), 400, 'INVALID_JSON');
    expectError(await postJson(url, '[{"a":1},]'), 400, 'INVALID_JSON');
    expectError(await postJson(url, '{"a":1} {"b":2}'), 400, 'INVALID_JSON');
    expectError(await postJson(url, '42'), 400, 'NOT_A_JSON_CONTAINER');
    expectError(await postJson(url, '[]'), 400, 'EMPTY_BATCH');
    expectError(await postJson(url, '  '), 400, 'EMPTY_BATCH');
    expectError(await postJson(url, '\n\n', 'application/x-ndjson'), 400, 'EMPTY_BATCH');
    expectError(await postJson(url, Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 400, 'INVALID_UTF8');
  });

  it('refuses an unknown ack mode', async () => {
    expectError(await postJson(`${sluice.url}/topics/${randomTopic()}?ack=maybe`, '{}'), 400, 'INVALID_PARAMETER');
  });
});

describe('413 body over the limit', () => {
  it('refuses a declared Content-Length over the limit before reading the body', async () => {
    const topic = randomTopic();
    await expectNothingWritten(topic, async () => {
      const big = `[${Array.from({ length: 400 }, (_, i) => `{"i":${i},"pad":"xxxxxxxx"}`).join(',')}]`;
      expect(big.length).toBeGreaterThan(4096);
      const res = await postJson(`${sluice.url}/topics/${topic}`, big);
      expectError(res, 413, 'BODY_TOO_LARGE');
      expect(res.json.error.limitBytes).toBe(4096);
    });
  });

  it('refuses a streamed body without Content-Length as soon as it passes the limit', async () => {
    // Chunked upload that would go on for 100 MB; the answer must come after ~4 KB, not at the end.
    // A raw socket, because the server answers and closes mid-upload (Node's http client reports EPIPE instead).
    const { status, body, sentBytes } = await new Promise<{ status: number; body: string; sentBytes: number }>((resolve, reject) => {
      const socket = connectSocket(sluice.port, '127.0.0.1');
      let sentBytes = 0;
      let answer = '';
      let answered = false;
      const chunk = Buffer.concat([Buffer.from('400\r\n'), Buffer.alloc(1024, 0x20), Buffer.from('\r\n')]);
      const settle = () => {
        const split = answer.indexOf('\r\n\r\n');
        const length = /content-length: (\d+)/i.exec(answer.slice(0, split));
        const rest = answer.slice(split + 4);
        if (split > 0 && length && Buffer.byteLength(rest) >= Number(length[1])) {
          socket.destroy();
          resolve({ status: Number(answer.slice(9, 12)), body: rest, sentBytes });
          return true;
        }
        return false;
      };
      socket.on('data', (d) => {
        answered = true;
        answer += d.toString();
        settle();
      });
      socket.on('error', () => {}); // EPIPE/ECONNRESET if the server closes: judged by what was answered
      socket.on('close', () => {
        if (!settle()) reject(new Error(`no complete HTTP answer after ${sentBytes} bytes: ${answer}`));
      });
      socket.write(
        `POST /topics/${randomTopic()} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n[\r\n`,
      );
      // Paced upload (16 KiB per tick) so the answer's arrival is what stops it, not socket buffering.
      const pump = () => {
        if (answered || socket.destroyed || sentBytes >= 100 * 1024 * 1024) return;
        for (let i = 0; i < 16; i++) socket.write(chunk);
        sentBytes += 16 * 1024;
        setTimeout(pump, 2);
      };
      pump();
    });
    expect(status).toBe(413);
    expect(JSON.parse(body).error.code).toBe('BODY_TOO_LARGE');
    expect(sentBytes).toBeLessThan(8 * 1024 * 1024);
  });
});

describe('413 TOO_MANY_RECORDS', () => {
  it('refuses a body with more records than allowed per request, writing none of them', async () => {
    const limited = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_MAX_RECORDS_PER_REQUEST: '5' });
    try {
      const topic = randomTopic();
      expect((await postJson(`${limited.url}/topics/${topic}`, '[1,2,3,4,5]')).status).toBe(200);
      const res = await postJson(`${limited.url}/topics/${topic}`, '1\n2\n3\n4\n5\n6\n', 'application/x-ndjson');
      expectError(res, 413, 'TOO_MANY_RECORDS');
      expect(res.json.error.limit).toBe(5);
      await new Promise((r) => setTimeout(r, 300));
      expect(readTopicOnce(kafka, topic)).toHaveLength(5);
    } finally {
      await limited.stop();
    }
  });
});

describe('413 RECORD_TOO_LARGE', () => {
  it("a record over the producer's message.max.bytes (1,000,000) inside the 1 MiB body limit: not a retriable 503, nothing written", async () => {
    const topic = randomTopic();
    await expectNothingWritten(topic, async () => {
      const res = await postJson(`${small.url}/topics/${topic}`, JSON.stringify({ pad: 'x'.repeat(1_010_000) }));
      expectError(res, 413, 'RECORD_TOO_LARGE');
      expect(res.json.error.queued).toBe(0);
    });
  });
});

describe('413 / 400 for compressed bodies', () => {
  it('a decompression bomb gets 413 (the limit applies to the decoded size) and the gateway stays up', async () => {
    const bomb = gzipSync(Buffer.alloc(3 * 1024 * 1024, 0x20)); // ~3 KB on the wire (under the 4 KB limit), 3 MB decoded
    expect(bomb.length).toBeLessThan(4096);
    const res = await postJson(`${sluice.url}/topics/${randomTopic()}`, bomb, 'application/json', { 'content-encoding': 'gzip' });
    expectError(res, 413, 'BODY_TOO_LARGE');
    expect(res.json.error.message).toMatch(/decoded/);
    expect((await fetch(`${sluice.url}/healthz`)).status).toBe(200);
  });

  it('a body that does not decode gets 400 INVALID_ENCODING', async () => {
    expectError(
      await postJson(`${sluice.url}/topics/${randomTopic()}`, 'plain', 'application/json', { 'content-encoding': 'lz4' }),
      400,
      'INVALID_ENCODING',
    );
  });
});

describe('415, 422, 404 route', () => {
  it('415 for content types other than JSON and NDJSON, and for unsupported encodings', async () => {
    const url = `${sluice.url}/topics/${randomTopic()}`;
    expectError(await postJson(url, 'a=1', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await postJson(url, '{}', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await postJson(url, '{}', 'application/json', { 'content-encoding': 'br' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('422 for illegal topic names', async () => {
    // (`..` is covered by the unit test: HTTP clients normalise it away before sending.)
    for (const bad of ['has%20space', 'sl%2Fash', 'x'.repeat(250), 'bad*char', 'caf%C3%A9']) {
      expectError(await postJson(`${sluice.url}/topics/${bad}`, '{}'), 422, 'INVALID_TOPIC');
    }
  });

  it('404 for unknown routes', async () => {
    const res = await fetch(`${sluice.url}/nope`);
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe('ROUTE_NOT_FOUND');
  });
});

describe('503 + Retry-After', () => {
  it('when a request would pass the in-flight budget: refused whole, nothing queued', async () => {
    const topic = randomTopic();
    expect((await postJson(`${small.url}/topics/${topic}`, '[1,2]')).status).toBe(200);
    const res = await postJson(`${small.url}/topics/${topic}`, '[1,2,3,4,5]');
    expectError(res, 503, 'QUEUE_FULL');
    expect(res.headers.get('retry-after')).toBe('1');
    const records = await readTopic(kafka, topic, 2);
    await new Promise((r) => setTimeout(r, 300));
    expect(readTopicOnce(kafka, topic)).toHaveLength(records.length);
    expect(records.map((r) => r.value).sort()).toEqual(['1', '2']);
  });

  it('when no broker is reachable: fast 503 on POST, /readyz 503, /healthz 200', async () => {
    const lonely = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:1', SLUICE_METADATA_TIMEOUT_MS: '500' });
    try {
      const started = Date.now();
      const res = await postJson(`${lonely.url}/topics/${randomTopic()}`, '{"a":1}');
      expectError(res, 503, 'BROKER_UNAVAILABLE');
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await fetch(`${lonely.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${lonely.url}/healthz`)).status).toBe(200);
    } finally {
      await lonely.stop();
    }
  });
});

describe('503 OVERLOADED', () => {
  it('refuses a body that would pass the budget for bodies being read at once, and still serves small ones', async () => {
    const tight = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_MAX_READING_BYTES: '2048' });
    try {
      const topic = randomTopic();
      const big = `[${Array.from({ length: 100 }, (_, i) => `{"i":${i},"pad":"xxxxxxxxxxxxxxxx"}`).join(',')}]`;
      expect(big.length).toBeGreaterThan(2048);
      const res = await postJson(`${tight.url}/topics/${topic}`, big);
      expectError(res, 503, 'OVERLOADED');
      expect(res.headers.get('retry-after')).toBe('1');
      expect(res.json.error.limit).toBe('SLUICE_MAX_READING_BYTES');
      expect((await postJson(`${tight.url}/topics/${topic}`, '{"small":true}')).status).toBe(200);
      expect((await readTopic(kafka, topic, 1)).map((r) => r.value)).toEqual(['{"small":true}']);
    } finally {
      await tight.stop();
    }
  });
});
