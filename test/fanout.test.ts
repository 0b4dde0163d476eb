/** Live fan-out: records POSTed after a socket subscribed reach it as envelope frames, in partition order. */
import { describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { connect } from './helpers/websocket-client.js';

const kafka = inject('kafkaBootstrap');
const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }));

interface Frame { topic: string; partition: number; offset: number; timestamp: number; key: string | null; value: unknown }

describe('WebSocket /ws/topics/{topic}', () => {
  it('delivers every record posted after subscribing, once, in partition order, to every socket', async () => {
    const topic = randomTopic();
    // Create the topic first so both sockets share a consumer from the start.
    expect((await postJson(`${gateway().url}/topics/${topic}`, '{"before":"subscribe"}')).status).toBe(200);
    const a = await connect(`${gateway().wsUrl}/ws/topics/${topic}`);
    const b = await connect(`${gateway().wsUrl}/ws/topics/${topic}`);
    for (const s of [a, b]) expect(JSON.parse((await s.waitForFrames(1))[0])).toMatchObject({ event: 'subscribed', topic, token: expect.any(String) });

    const devices = ['dev-a', 'dev-b', 'dev-c', 'dev-d'];
    const perDevice = 25;
    for (let round = 0; round < perDevice; round += 5) {
      const lines = [];
      for (let i = round; i < round + 5; i++) for (const d of devices) lines.push(`{"device":"${d}","seq":${i},"big":12345678901234567890}`);
      // One request per device keeps the key; several requests interleave across partitions.
      await Promise.all(devices.map((d) => postJson(`${gateway().url}/topics/${topic}?key=${d}`,
        lines.filter((l) => l.includes(`"${d}"`)).join('\n'), 'application/x-ndjson')));
    }
    const total = devices.length * perDevice;
    for (const s of [a, b]) {
      const frames = (await s.waitForFrames(1 + total)).slice(1).map((f) => JSON.parse(f) as Frame);
      await new Promise((r) => setTimeout(r, 300));
      expect(s.frames).toHaveLength(1 + total); // nothing extra, nothing from before subscribing
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
    }
    // The raw text of the value is embedded as-is: the big integer keeps its digits.
    expect(a.frames[1]).toContain('"big":12345678901234567890');
    a.ws.close();
    b.ws.close();
  });

  it('subscribing to a topic that does not exist yet creates it (auto-create) and works live', async () => {
    const topic = randomTopic('sub-first');
    const s = await connect(`${gateway().wsUrl}/ws/topics/${topic}`);
    await s.waitForFrames(1);
    expect((await postJson(`${gateway().url}/topics/${topic}`, '{"hello":"live"}')).status).toBe(200);
    const frame = JSON.parse((await s.waitForFrames(2))[1]) as Frame;
    expect(frame.value).toEqual({ hello: 'live' });
    s.ws.close();
  });

  it('refuses an illegal topic name with 422 before upgrading', async () => {
    await expect(connect(`${gateway().wsUrl}/ws/topics/bad*name`)).rejects.toMatchObject({ status: 422 });
  });
});

describe('seed-compatible routes', () => {
  it('WebSocket /consumer/{topic}: {"Message":"connected"} first, then each record value', async () => {
    const topic = randomTopic('geostream');
    const s = await connect(`${gateway().wsUrl}/consumer/${topic}`);
    expect(JSON.parse((await s.waitForFrames(1))[0])).toEqual({ Message: 'connected' });
    const res = await postJson(`${gateway().url}/producer/${topic}`, JSON.stringify({ name: 'bus-12', message_id: 'm-1', lat: 52.52, lon: 13.405 }));
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ name: 'bus-12', message_id: 'm-1', topic });
    const frames = await s.waitForFrames(2);
    expect(frames[1]).toBe('{"name":"bus-12","message_id":"m-1","lat":52.52,"lon":13.405}');
    s.ws.close();
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
