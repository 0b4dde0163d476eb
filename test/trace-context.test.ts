/**
 * W3C Trace Context from device to dashboard: a POST's traceparent/tracestate become Kafka headers of every
 * record (read back with kcat), and the record's frames carry them — live over WebSocket and SSE, in batch
 * frames and in a replay — so one device message can be followed end to end. An invalid traceparent is ignored.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { postJson, randomTopic, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { readTopic } from './helpers/kafka-read.js';
import { connect } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';

const kafka = inject('kafkaBootstrap');
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
let sluice: SluiceProcess;

beforeAll(async () => {
  sluice = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka });
});
afterAll(async () => {
  await sluice?.stop();
});

interface Frame {
  value: unknown;
  headers?: { name: string; value: string }[];
  records?: Frame[];
}

/** Waits until `count` records have arrived (per-record or inside batch frames), past events such as `subscribed`. */
async function recordFrames(waitFor: (n: number) => Promise<string[]>, count: number): Promise<Frame[]> {
  for (let n = 1; ; n++) {
    const records = (await waitFor(n)).flatMap((text) => {
      const frame = JSON.parse(text) as Frame;
      return frame.records ?? ('value' in frame ? [frame] : []);
    });
    if (records.length >= count) return records;
  }
}

it('carries traceparent and tracestate into every record and onto its frames (live WebSocket, SSE, batch, replay)', async () => {
  const topic = randomTopic('trace');
  // The topic exists before anyone subscribes, so the live subscriptions below start at its end.
  expect((await postJson(`${sluice.url}/topics/${topic}`, '{"warm":true}')).status).toBe(200);
  const live = await connect(`${sluice.wsUrl}/ws/topics/${topic}`);
  const batch = await connect(`${sluice.wsUrl}/ws/topics/${topic}?frames=batch`);
  const sse = await openSse(`${sluice.url}/sse/topics/${topic}`);

  const traced = await postJson(`${sluice.url}/topics/${topic}`, '[{"n":1},{"n":2}]', 'application/json', {
    traceparent: TRACEPARENT,
    tracestate: 'vendor=abc',
    'X-Kafka-Header-Site': 'north',
  });
  expect(traced.status).toBe(200);
  const untraced = await postJson(`${sluice.url}/topics/${topic}`, '{"n":3}', 'application/json', { traceparent: 'not-a-traceparent' });
  expect(untraced.status).toBe(200);

  const records = await readTopic(kafka, topic, 4);
  const byN = new Map(records.map((r) => [r.value, r]));
  for (const n of [1, 2])
    expect(byN.get(`{"n":${n}}`)?.headers).toEqual({ site: 'north', traceparent: TRACEPARENT, tracestate: 'vendor=abc' });
  // The invalid traceparent was ignored: no header at all.
  expect(byN.get('{"n":3}')?.headers ?? {}).toEqual({});

  const expected = [
    { name: 'site', value: 'north' },
    { name: 'traceparent', value: TRACEPARENT },
    { name: 'tracestate', value: 'vendor=abc' },
  ];
  const check = (frames: Frame[]) => {
    const byValue = new Map(frames.map((f) => [JSON.stringify(f.value), f]));
    expect(byValue.get('{"n":1}')?.headers).toEqual(expected);
    expect(byValue.get('{"n":2}')?.headers).toEqual(expected);
    expect(byValue.get('{"n":3}')).toBeDefined();
    expect(byValue.get('{"n":3}')?.headers).toBeUndefined();
  };
  check(await recordFrames((n) => live.waitForFrames(n), 3));
  check(await recordFrames(async (n) => (await sse.waitForEvents(n)).map((e) => e.data), 3));
  check(await recordFrames((n) => batch.waitForFrames(n), 3));
  const replay = await connect(`${sluice.wsUrl}/ws/topics/${topic}?from=earliest`);
  check(await recordFrames((n) => replay.waitForFrames(n), 4));
  for (const s of [live, batch, replay]) s.ws.close();
  sse.close();
});
