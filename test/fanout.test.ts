/**
 * Live fan-out: records POSTed after a socket subscribed reach it as envelope frames, in partition order;
 * in both framings (one message per record, and `frames=batch`: one message per batch).
 */
import { describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { connect } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';
import { FRAMINGS, framed, recordsIn, waitForRecordCount } from './helpers/framing.js';

const kafka = inject('kafkaBootstrap');
const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }));

for (const framing of FRAMINGS)
  describe(`WebSocket /ws/topics/{topic} (${framing} frames)`, () => {
    it('delivers every record posted after subscribing, once, in partition order, to every socket', async () => {
      const topic = randomTopic();
      // Create the topic first so both sockets share a consumer from the start.
      expect((await postJson(`${gateway().url}/topics/${topic}`, '{"before":"subscribe"}')).status).toBe(200);
      const a = await connect(framed(`${gateway().wsUrl}/ws/topics/${topic}`, framing));
      const b = await connect(framed(`${gateway().wsUrl}/ws/topics/${topic}`, framing));
      for (const s of [a, b])
        expect(JSON.parse((await s.waitForFrames(1))[0])).toMatchObject({ event: 'subscribed', topic, token: expect.any(String) });

      const devices = ['dev-a', 'dev-b', 'dev-c', 'dev-d'];
      const perDevice = 25;
      for (let round = 0; round < perDevice; round += 5) {
        const lines = [];
        for (let i = round; i < round + 5; i++)
          for (const d of devices) lines.push(`{"device":"${d}","seq":${i},"big":12345678901234567890}`);
        // One request per device keeps the key; several requests interleave across partitions.
        await Promise.all(
          devices.map((d) =>
            postJson(
              `${gateway().url}/topics/${topic}?key=${d}`,
              lines.filter((l) => l.includes(`"${d}"`)).join('\n'),
              'application/x-ndjson',
            ),
          ),
        );
      }
      const total = devices.length * perDevice;
      for (const s of [a, b]) {
        const frames = await waitForRecordCount(() => recordsIn(s.frames.slice(1), framing), total);
        expect(frames).toHaveLength(total); // nothing extra, nothing from before subscribing
        expect(frames.some((f) => (f.value as { before?: string }).before)).toBe(false);
        for (const d of devices) {
          const mine = frames.filter((f) => f.key === d);
          expect(mine.map((f) => (f.value as { seq: number }).seq)).toEqual(Array.from({ length: perDevice }, (_, i) => i));
          expect(new Set(mine.map((f) => f.partition)).size).toBe(1);
        }
        const byPartition = new Map<number, number[]>();
        for (const f of frames) byPartition.set(f.partition, [...(byPartition.get(f.partition) ?? []), f.offset]);
        for (const offsets of byPartition.values()) {
          for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[i - 1] + 1);
        }
        expect(frames[0].topic).toBe(topic);
        expect(typeof frames[0].timestamp).toBe('number');
        // Per record every frame has its token; in batch framing the last record of each batch carries the batch's.
        expect(typeof frames[frames.length - 1].token).toBe('string');
        if (framing === 'record') expect(s.frames).toHaveLength(1 + total);
        else expect(s.frames.length).toBeLessThanOrEqual(1 + total);
      }
      // The raw text of the value is embedded as-is: the big integer keeps its digits.
      expect(a.frames[1]).toContain('"big":12345678901234567890');
      a.ws.close();
      b.ws.close();
    });

    it('subscribing to a topic that does not exist yet creates it (auto-create) and works live', async () => {
      const topic = randomTopic('sub-first');
      const s = await connect(framed(`${gateway().wsUrl}/ws/topics/${topic}`, framing));
      await s.waitForFrames(1);
      expect((await postJson(`${gateway().url}/topics/${topic}`, '{"hello":"live"}')).status).toBe(200);
      const [frame] = await waitForRecordCount(() => recordsIn(s.frames.slice(1), framing), 1);
      expect(frame.value).toEqual({ hello: 'live' });
      s.ws.close();
    });

    it('refuses an illegal topic name with 422 before upgrading', async () => {
      await expect(connect(framed(`${gateway().wsUrl}/ws/topics/bad*name`, framing))).rejects.toMatchObject({ status: 422 });
    });
  });

describe('batch frames', () => {
  it('one NDJSON request reaches a socket as one message, its token the one the last per-record frame carries; SSE gets it as one event', async () => {
    const topic = randomTopic('batch');
    // One partition, so a request's records are one Kafka batch for the live consumer.
    expect((await postJson(`${gateway().url}/topics/${topic}?key=k`, '{"warmup":true}')).status).toBe(200);
    const batch = await connect(`${gateway().wsUrl}/ws/topics/${topic}?frames=batch`);
    const perRecord = await connect(`${gateway().wsUrl}/ws/topics/${topic}`);
    const sse = await openSse(`${gateway().url}/sse/topics/${topic}?frames=batch`);
    await batch.waitForFrames(1);
    await perRecord.waitForFrames(1);
    await sse.waitForEvents(1);
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ seq: i }));
    expect((await postJson(`${gateway().url}/topics/${topic}?key=k`, lines.join('\n'), 'application/x-ndjson')).status).toBe(200);
    const records = await waitForRecordCount(() => recordsIn(batch.frames.slice(1), 'batch'), 50);
    const single = await waitForRecordCount(() => recordsIn(perRecord.frames.slice(1), 'record'), 50);
    expect(records.map((r) => r.value.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Batches are what the consumer read at once: far fewer messages than records, each with the last record's token.
    expect(batch.frames.length - 1).toBeLessThan(50);
    const batches = batch.frames
      .slice(1)
      .map((f) => JSON.parse(f) as { event: string; topic: string; token: string; records: { offset: number }[] });
    for (const b of batches) {
      expect(b).toMatchObject({ event: 'batch', topic });
      const last = b.records[b.records.length - 1];
      expect(b.token).toBe(single.find((r) => r.offset === last.offset)!.token);
    }
    const events = await sse.waitForEvents(1 + batches.length);
    expect(events.slice(1).map((e) => e.data)).toEqual(batch.frames.slice(1));
    expect(events.slice(1).map((e) => e.id)).toEqual(batches.map((b) => b.token));
    for (const s of [batch, perRecord]) s.ws.close();
    sse.close();
  });

  it('frames= other than record or batch gets 400 naming the option', async () => {
    await expect(connect(`${gateway().wsUrl}/ws/topics/${randomTopic()}?frames=lines`)).rejects.toMatchObject({
      status: 400,
      body: expect.stringContaining('frames must be'),
    });
  });
});

describe('seed-compatible routes', () => {
  it('WebSocket /consumer/{topic}: {"Message":"connected"} first, then each record value (frames= is not one of its parameters)', async () => {
    const topic = randomTopic('geostream');
    // The route table gives the seed route no subscribe options (only api_key): frames= is refused, naming it.
    await expect(connect(`${gateway().wsUrl}/consumer/${topic}?frames=batch`)).rejects.toMatchObject({
      status: 400,
      body: expect.stringContaining('"parameter":"frames"'),
    });
    const s = await connect(`${gateway().wsUrl}/consumer/${topic}`);
    const t = await connect(`${gateway().wsUrl}/consumer/${topic}`);
    for (const x of [s, t]) expect(JSON.parse((await x.waitForFrames(1))[0])).toEqual({ Message: 'connected' });
    const res = await postJson(
      `${gateway().url}/producer/${topic}`,
      JSON.stringify({ name: 'bus-12', message_id: 'm-1', lat: 52.52, lon: 13.405 }),
    );
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ name: 'bus-12', message_id: 'm-1', topic });
    for (const x of [s, t]) {
      const frames = await x.waitForFrames(2);
      expect(frames[1]).toBe('{"name":"bus-12","message_id":"m-1","lat":52.52,"lon":13.405}');
      x.ws.close();
    }
  });

  it('POST /producer/{topic} fills in message_id like the seed model, and answers 422 on a bad body', async () => {
    const topic = randomTopic('geostream');
    const res = await postJson(`${gateway().url}/producer/${topic}`, '{"name":"car","lat":1.5,"lon":2.5}');
    expect(res.status).toBe(200);
    expect(res.json.message_id).toMatch(/^[0-9a-f-]{36}$/);
    const bad = await postJson(`${gateway().url}/producer/${topic}`, '{"name":"car","lat":"north"}');
    expect(bad.status).toBe(422);
    expect(bad.json.error.code).toBe('VALIDATION_FAILED');
    expect(bad.json.error.message).toMatch(/lat|lon/);
  });
});
