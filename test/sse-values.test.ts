/**
 * Any record reaches an SSE reader as one valid event: values holding raw line breaks between their JSON
 * tokens (pretty-printed JSON: LF, CRLF, a lone CR, blank lines) and raw U+2028/U+2029 inside strings, read
 * by the WHATWG event-stream parser an EventSource runs (test/helpers/sse-parse.ts), live and replayed, in
 * per-record and batch frames and in snapshots. The WebSocket frames of the same records keep the values'
 * bytes exactly. Every event read is also checked against what /openapi.json and /asyncapi.json say the
 * stream holds (the event schema, and the frame schema of its kind), so the spec and the server agree.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, inject, it } from 'vitest';
import { FRAME_SCHEMAS, sseEventSchema } from '../src/api/frames.js';
import { postJson, randomTopic, sluiceForFile, startSluice } from './helpers/sluice-process.js';
import { connect } from './helpers/websocket-client.js';
import { openSse, type SseEvent } from './helpers/sse-client.js';

const kafka = inject('kafkaBootstrap');
const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }));

/** Values as devices sent them: each a JSON object whose whitespace holds SSE line breaks. */
const VALUES = [
  '{\n  "a": 1,\n\n  "b": "x"\n}',
  '{\r\n  "crlf": true,\r\n\r\n  "escaped": "line\\nbreak\\r"\r\n}',
  '{"cr":\r1,\r\r"sep":"\u2028\u2029"}',
  '{"list":[1,\n\n\n2],\n"nested":{\r\n}}',
  '{"plain":"no line break"}',
];

/** The text an EventSource gives back for a frame: CR and CRLF read as LF. */
const asSseData = (frame: string) => frame.replace(/\r\n?/g, '\n');

async function postAll(topic: string, values: readonly string[]): Promise<void> {
  for (const [i, v] of values.entries()) expect((await postJson(`${gateway().url}/topics/${topic}?key=k${i}`, v)).status).toBe(200);
}

const messages = (events: SseEvent[]) => events.filter((e) => e.event === 'message');

const ajv = new Ajv2020({ strict: false });
const eventSchema = ajv.compile(sseEventSchema());
const frameSchemas = Object.fromEntries(Object.entries(FRAME_SCHEMAS).map(([name, schema]) => [name, ajv.compile(schema)]));

/** Each event is a documented SSE event whose data is the documented frame of its kind; returns the kinds. */
function expectDocumented(events: SseEvent[]): string[] {
  return events.map((e) => {
    const asRead = { event: e.event, data: e.data, ...(e.lastEventId ? { id: e.lastEventId } : {}) };
    expect(eventSchema(asRead), JSON.stringify(eventSchema.errors)).toBe(true);
    const frame = JSON.parse(e.data) as { event?: string };
    const kind = e.event === 'message' ? (frame.event ?? 'record') : e.event;
    const validate = frameSchemas[kind];
    expect(validate, kind).toBeDefined();
    expect(validate(frame), `${kind}: ${JSON.stringify(validate.errors)} in ${e.data}`).toBe(true);
    return kind;
  });
}

describe('SSE carries any record intact', () => {
  it('replayed and live records, per record and in batches, over SSE; WebSocket frames byte-exact', async () => {
    const topic = randomTopic('sse-values');
    await postAll(topic, VALUES);
    const ws = await connect(`${gateway().wsUrl}/ws/topics/${topic}?from=earliest`);
    const sse = await openSse(`${gateway().url}/sse/topics/${topic}?from=earliest`);
    const batch = await openSse(`${gateway().url}/sse/topics/${topic}?from=earliest&frames=batch`);
    const wsFrames = (await ws.waitForFrames(1 + VALUES.length)).slice(1);
    await sse.waitForEvents(1 + VALUES.length);
    // Then the same values again, live (the publish path, one chunk per channel).
    await postAll(topic, VALUES);
    const allWs = (await ws.waitForFrames(1 + 2 * VALUES.length)).slice(1);
    const records = messages(await sse.waitForEvents(1 + 2 * VALUES.length));
    expect(records).toHaveLength(2 * VALUES.length);
    expect(wsFrames).toEqual(allWs.slice(0, VALUES.length));

    // The WebSocket and the SSE stream are two replays: across partitions their order may differ, and with it
    // each frame's token (the position after it); a record is the same (partition, offset) in both.
    const sseAt = new Map(
      records.map((r) => {
        const p = JSON.parse(r.data) as { partition: number; offset: number };
        return [`${p.partition}:${p.offset}`, r];
      }),
    );
    expect(sseAt.size).toBe(records.length);
    const withoutToken = (frame: string) => frame.replace(/,"token":"[^"]*"\}$/, '}');
    for (const frame of allWs) {
      const parsed = JSON.parse(frame) as { partition: number; offset: number; key: string; value: unknown; token: string };
      const v = VALUES[Number(parsed.key.slice(1))];
      // WebSocket: the value's bytes as sent, raw line breaks and all.
      expect(frame).toContain(`"value":${v}`);
      expect(parsed.value).toEqual(JSON.parse(v));
      // SSE: one event per record, the frame with CR/CRLF as LF, parsing to the same JSON; id = its token.
      const event = sseAt.get(`${parsed.partition}:${parsed.offset}`);
      expect(event, `${parsed.partition}:${parsed.offset}`).toBeDefined();
      expect(withoutToken(event!.data)).toBe(asSseData(withoutToken(frame)));
      const fromSse = JSON.parse(event!.data) as { token: string };
      expect({ ...fromSse, token: parsed.token }).toEqual(parsed);
      expect(event!.id).toBe(fromSse.token);
    }

    // Batch frames: every record once, same values, in order per partition.
    let got: { key: string; value: unknown }[] = [];
    for (let n = 2; got.length < 2 * VALUES.length && n < 200; n++) {
      await batch.waitForEvents(n, 10_000).catch(() => undefined);
      got = messages(batch.events).flatMap((e) => (JSON.parse(e.data) as { records: { key: string; value: unknown }[] }).records);
    }
    expect(got).toHaveLength(2 * VALUES.length);
    for (const r of got) expect(r.value).toEqual(JSON.parse(VALUES[Number(r.key.slice(1))]));
    expect(new Set(expectDocumented(sse.events))).toEqual(new Set(['subscribed', 'record']));
    expect(new Set(expectDocumented(batch.events))).toEqual(new Set(['subscribed', 'batch']));
    for (const s of [sse, batch]) s.close();
    ws.ws.close();
  });

  it('snapshot frames and their end marker are valid events too', async () => {
    const topic = randomTopic('sse-snap');
    await postAll(topic, VALUES);
    const sse = await openSse(`${gateway().url}/sse/topics/${topic}?snapshot=1h`);
    // subscribed, one snapshot frame per key, snapshot-end.
    const events = await sse.waitForEvents(VALUES.length + 2);
    const frames = events.map((e) => JSON.parse(e.data) as { event?: string; snapshot?: boolean; key?: string; value?: unknown });
    const snap = frames.filter((f) => f.snapshot === true);
    expect(snap).toHaveLength(VALUES.length);
    for (const f of snap) expect(f.value).toEqual(JSON.parse(VALUES[Number(f.key!.slice(1))]));
    expect(frames.some((f) => f.event === 'snapshot-end')).toBe(true);
    expect(new Set(expectDocumented(events))).toEqual(new Set(['subscribed', 'record', 'snapshot-end']));
    sse.close();
  });

  it('window and alert frames are documented events', async () => {
    const topic = randomTopic('sse-window');
    const t0 = Date.UTC(2026, 0, 1);
    // Two windows of a minute for key k0 (the first over the threshold), then a record that closes both.
    for (const [ts, body] of [
      [t0, '{\n"t": 60\n}'],
      [t0 + 60_000, '{"t": 10}'],
      [t0 + 180_000, '{"t": 10}'],
    ] as const)
      expect(
        (await postJson(`${gateway().url}/topics/${topic}?key=k0`, body, 'application/json', { 'x-kafka-timestamp': String(ts) })).status,
      ).toBe(200);
    const sse = await openSse(
      `${gateway().url}/sse/topics/${topic}?from=earliest&window=1m&agg=count(),avg(t)&by=key&alert=${encodeURIComponent('avg(t)>50')}`,
    );
    // subscribed, window 1 + alert firing, window 2 + alert resolved.
    const kinds = expectDocumented(await sse.waitForEvents(5));
    expect(kinds).toEqual(['subscribed', 'window', 'alert', 'window', 'alert']);
    sse.close();
  });

  it('the error event that ends a stream (here: shutdown) is the documented error frame', async () => {
    const own = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka });
    const topic = randomTopic('sse-error');
    expect((await postJson(`${own.url}/topics/${topic}`, '{"a":1}')).status).toBe(200);
    const sse = await openSse(`${own.url}/sse/topics/${topic}`);
    await sse.waitForEvents(1);
    const stopped = own.stop();
    const [, error] = await sse.waitForEvents(2);
    await stopped;
    expect(expectDocumented([error])).toEqual(['error']);
    expect(JSON.parse(error.data)).toMatchObject({ event: 'error', topic, error: { code: 'SHUTTING_DOWN', retriable: true } });
  });
});
