/**
 * Limits at the edge that uWS and Sluice enforce before a body is read: the size and number of request
 * headers, and topic names. Sent over bare sockets (HTTP clients normalise paths and cap headers
 * themselves); each refusal leaves nothing in Kafka.
 */
import { expect, inject, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { readTopic, readTopicOnce } from './helpers/kafka-read.js';
import { postHead, rawExchange } from './helpers/raw-http.js';

const kafka = inject('kafkaBootstrap');
const sluice = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }), { expectCleanExit: true });

/** A POST of one record `{"id":…}` to `path` with `extra` headers; the whole request as [head, body]. */
function request(path: string, id: string, extra: Record<string, string> = {}): [string, string] {
  const body = JSON.stringify({ id });
  return [postHead(path, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...extra }), body];
}

function topicNames(): string[] {
  const r = spawnSync('kcat', ['-b', kafka, '-L', '-J'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`kcat -L failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { topics: { topic: string }[] }).topics.map((t) => t.topic);
}

it('header size: up to 4 KiB is served however it arrives; over 4 KiB is 431 and a close, however it arrives', async () => {
  const topic = randomTopic('hdrsize');
  const path = `/topics/${topic}`;
  const pad = (headBytes: number, id: string) => {
    const [head] = request(path, id, { 'x-pad': '' });
    return request(path, id, { 'x-pad': 'p'.repeat(headBytes - head.length) });
  };
  // 4096 bytes of request head, delivered in two TCP writes: uWS buffers up to 4 KiB of an incomplete head.
  const [fitHead, fitBody] = pad(4096, 'fits');
  expect(fitHead.length).toBe(4096);
  const fits = await rawExchange(sluice().port, [fitHead.slice(0, 100), fitHead.slice(100) + fitBody], { gapMs: 100 });
  expect(fits.status, fits.body).toBe(200);

  // Over 4 KiB, in one write or several, or as many small headers: uWS 20.57 (UWS_HTTP_MAX_HEADERS_SIZE,
  // 4 KiB by default) answers 431 itself and closes, before Sluice sees the request (20.30 parsed a
  // 5000-byte head sent at once, which Sluice refused with its JSON 431 HEADERS_TOO_LARGE, and dropped a
  // split one without an answer).
  const [bigHead, bigBody] = pad(5000, 'big-one-write');
  const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-h${i}`, 'v'.repeat(110)]));
  const refused = [
    await rawExchange(sluice().port, [bigHead + bigBody], { waitForClose: true }),
    await rawExchange(sluice().port, request(path, 'many-small', many), { waitForClose: true }),
    await rawExchange(sluice().port, [bigHead.slice(0, 100), bigHead.slice(100) + bigBody], { gapMs: 100, waitForClose: true }),
  ];
  for (const res of refused) {
    expect(res.head).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large/);
    expect(res.closedByServer).toBe(true);
  }

  const records = await readTopic(kafka, topic, 1);
  await new Promise((r) => setTimeout(r, 300));
  expect(readTopicOnce(kafka, topic).map((r) => r.value)).toEqual(['{"id":"fits"}']);
  expect(records).toHaveLength(1);
});

it.concurrent('header count: 64 header lines are served (uWS 20.30 stopped at 48); past 4 KiB of head it is 431 and a close', async () => {
  const topic = randomTopic('hdrcount');
  const path = `/topics/${topic}`;
  // postHead adds Host; request() adds content-type and content-length: 3 + fillers.
  const fillers = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-f${i}`, 'v']));
  const ok = await rawExchange(sluice().port, request(path, 'h64', fillers(61)));
  expect(ok.status, ok.body).toBe(200);

  // 200 header lines are more than 4 KiB of head: refused at once.
  const [head, body] = request(path, 'h200', fillers(197));
  const burst = await rawExchange(sluice().port, [head + body], { waitForClose: true, timeoutMs: 60_000 });
  expect(burst.status).toBe(431);
  expect(burst.closedByServer).toBe(true);

  // 32 X-Kafka-Header-* headers (the Kafka header limit) fit beside a client's usual dozen.
  const kafkaHeaders = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`x-kafka-header-k${i}`, `v${i}`]));
  const withKafkaHeaders = await rawExchange(sluice().port, request(path, 'kafka-headers', { ...kafkaHeaders, ...fillers(12) }));
  expect(withKafkaHeaders.status, withKafkaHeaders.body).toBe(200);

  const records = await readTopic(kafka, topic, 2);
  await new Promise((r) => setTimeout(r, 300));
  expect(
    readTopicOnce(kafka, topic)
      .map((r) => r.value)
      .sort(),
  ).toEqual(['{"id":"h64"}', '{"id":"kafka-headers"}']);
  expect(Object.keys(records.find((r) => r.value === '{"id":"kafka-headers"}')!.headers)).toHaveLength(32);
});

it.concurrent('malformed heads: a bad Content-Length or one beside Transfer-Encoding is 400 at once, a bare LF or binary head 505, a head without HTTP version waits for the idle timeout', async () => {
  const topic = randomTopic('badhead');
  const body = '{"id":"never"}';
  const json = { 'content-type': 'application/json' };
  // uWS 20.57 answers these itself (20.30 closed the connection without an answer).
  const badLength = await Promise.all(
    [
      postHead(`/topics/${topic}`, { ...json, 'content-length': '1.5' }),
      postHead(`/topics/${topic}`, { ...json, 'content-length': '-14' }),
      postHead(`/topics/${topic}`, { ...json, 'content-length': 14, 'transfer-encoding': 'chunked' }),
    ].map((head) => rawExchange(sluice().port, [head + body], { waitForClose: true })),
  );
  for (const res of badLength) {
    expect(res.status).toBe(400);
    expect(res.closedByServer).toBe(true);
  }
  const notHttp11 = await Promise.all(
    [`POST /topics/${topic} HTTP/1.1\nHost: a\nContent-Length: 14\n\n`, '\x00\x01\x02\r\n\r\n'].map((head) =>
      rawExchange(sluice().port, [head + body], { waitForClose: true }),
    ),
  );
  for (const res of notHttp11) {
    expect(res.status).toBe(505);
    expect(res.closedByServer).toBe(true);
  }
  const noVersion = await rawExchange(sluice().port, [`POST /topics/${topic}\r\n\r\n${body}`], { waitForClose: true, timeoutMs: 60_000 });
  expect(noVersion.status).toBeNull();
  expect(noVersion.closedByServer).toBe(true);
  expect(readTopicOnce(kafka, topic)).toEqual([]);
});

async function expectInvalidTopic(rawPath: string) {
  const res = await rawExchange(sluice().port, request(rawPath, 'never'));
  expect(res.status, `${rawPath}: ${res.body}`).toBe(422);
  expect(JSON.parse(res.body).error.code).toBe('INVALID_TOPIC');
}

it('topic name length: 249 characters are a topic, 250 are 422 INVALID_TOPIC and create nothing', async () => {
  const stem = `len-${randomBytes(5).toString('hex')}-`;
  const longest = stem + 'x'.repeat(249 - stem.length);
  const tooLong = longest + 'x';
  const ok = await rawExchange(sluice().port, request(`/topics/${longest}`, 'longest'));
  expect(ok.status, ok.body).toBe(200);
  expect((await readTopic(kafka, longest, 1)).map((r) => r.value)).toEqual(['{"id":"longest"}']);
  await expectInvalidTopic(`/topics/${tooLong}`);
  expect(topicNames()).not.toContain(tooLong);
});

it('topic name characters: anything outside a-z A-Z 0-9 . _ - is 422 INVALID_TOPIC and creates nothing', async () => {
  const stem = `chars-${randomBytes(5).toString('hex')}`;
  const bad = ['%20', '%2F', '*', ':', '+', '%C3%A9', '%00', '%25', '~', '!', '@', ',', '%5C', "'"].map((c) => `${stem}${c}x`);
  for (const path of bad) await expectInvalidTopic(`/topics/${path}`);
  // Raw UTF-8 bytes in the path, not percent-encoded.
  await expectInvalidTopic(`/topics/${stem}\u00e9x`);
  expect(topicNames().filter((t) => t.startsWith(stem))).toEqual([]);
});

it('topic names "." and "..", sent verbatim or percent-encoded, and Kafka internal topics are 422 INVALID_TOPIC', async () => {
  for (const path of ['/topics/.', '/topics/..', '/topics/%2E', '/topics/%2e%2E']) await expectInvalidTopic(path);
  // Brokers refuse produce requests to their internal topics; that used to surface as a retriable 503 DELIVERY_FAILED.
  for (const internal of ['__consumer_offsets', '__transaction_state', '__share_group_state'])
    await expectInvalidTopic(`/topics/${internal}`);
});
