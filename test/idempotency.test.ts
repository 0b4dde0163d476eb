/**
 * Idempotency-Key against the real broker: a device whose request timed out retries it, and Kafka holds
 * each record exactly once (read with kcat, a client independent of the gateway).
 */
import { request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { postOnNewConnection, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { readTopic, readTopicOnce } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');

/** Sends the whole request, then drops the connection before any answer: a client that timed out. */
function sendAndHangUp(url: string, body: string, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
    });
    req.on('error', () => resolve()); // the socket we destroy
    req.on('response', () => reject(new Error('the answer came before the client hung up')));
    req.end(body, () => {
      req.destroy();
      resolve();
    });
  });
}

// Keys are remembered per instance: with ingress threads, every request goes over a connection of its own
// (so they spread over the threads) and must still see the one store on the main thread.
for (const threads of ['0', '2'])
  describe(`Idempotency-Key (SLUICE_INGRESS_THREADS=${threads})`, () => {
    const sluice = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_INGRESS_THREADS: threads }));
    const postJson = (url: string, body: string, _contentType = 'application/json', headers: Record<string, string> = {}) =>
      postOnNewConnection(url, body, headers);

    it('N retries of one key over separate connections: one record in Kafka, the same answer each time', async () => {
      const topic = randomTopic('idem');
      const key = randomUUID();
      const body = '{"device":"d-9","seq":1}';
      const answers = [];
      for (let i = 0; i < 12; i++)
        answers.push(await postJson(`${sluice().url}/topics/${topic}`, body, 'application/json', { 'Idempotency-Key': key }));
      for (const a of answers) {
        expect(a.status).toBe(200);
        expect(a.text).toBe(answers[0].text);
      }
      await new Promise((r) => setTimeout(r, 500));
      const records = readTopicOnce(kafka, topic);
      expect(records).toHaveLength(1);
      expect(records[0].headers['idempotency-key']).toBe(key);
    });

    it('a client that timed out retries: Kafka holds each record once and the retry gets the first offsets', async () => {
      const topic = randomTopic('idem');
      const key = randomUUID();
      const body = JSON.stringify([{ n: 1 }, { n: 2 }, { n: 3 }]);
      await sendAndHangUp(`${sluice().url}/topics/${topic}`, body, { 'idempotency-key': key });
      // The first request reaches Kafka although nobody waits for its answer.
      const firstWrite = await readTopic(kafka, topic, 3);
      expect(firstWrite).toHaveLength(3);
      const retry = await postJson(`${sluice().url}/topics/${topic}`, body, 'application/json', { 'Idempotency-Key': key });
      expect(retry.status).toBe(200);
      const byPartition = new Map<number, number[]>();
      for (const r of firstWrite) byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r.offset]);
      const expected = [...byPartition]
        .sort(([a], [b]) => a - b)
        .map(([partition, offsets]) => ({ partition, count: offsets.length, offsets: [Math.min(...offsets), Math.max(...offsets)] }));
      expect(retry.json.partitions).toEqual(expected);
      const again = await postJson(`${sluice().url}/topics/${topic}`, body, 'application/json', { 'Idempotency-Key': key });
      expect(again.text).toBe(retry.text);
      await new Promise((r) => setTimeout(r, 500));
      const records = readTopicOnce(kafka, topic);
      expect(records.map((r) => r.value).sort()).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
      for (const r of records) expect(r.headers['idempotency-key']).toBe(key);
    });

    it('concurrent duplicates wait for the first and share its answer; nothing is written twice', async () => {
      const topic = randomTopic('idem');
      const key = randomUUID();
      const body = '{"device":"d-1","seq":7}';
      // The first request to a new topic waits for the topic to be created: the others arrive while it is in flight.
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => postJson(`${sluice().url}/topics/${topic}`, body, 'application/json', { 'Idempotency-Key': key })),
      );
      for (const a of answers) {
        expect(a.status).toBe(200);
        expect(a.text).toBe(answers[0].text);
      }
      await new Promise((r) => setTimeout(r, 500));
      expect(readTopicOnce(kafka, topic)).toHaveLength(1);
    });

    it('the same key with another body (or topic) gets 422 IDEMPOTENCY_KEY_REUSED and writes nothing', async () => {
      const topic = randomTopic('idem');
      const key = randomUUID();
      expect((await postJson(`${sluice().url}/topics/${topic}`, '{"a":1}', 'application/json', { 'Idempotency-Key': key })).status).toBe(
        200,
      );
      for (let i = 0; i < 6; i++) {
        // on connections of their own: with threads, some reach another thread than the first
        const reused = await postJson(`${sluice().url}/topics/${topic}`, '{"a":2}', 'application/json', { 'Idempotency-Key': key });
        expect(reused.status).toBe(422);
        expect(reused.json.error).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', retriable: false });
      }
      const otherTopic = await postJson(`${sluice().url}/topics/${topic}-b`, '{"a":1}', 'application/json', { 'Idempotency-Key': key });
      expect(otherTopic.status).toBe(422);
      await new Promise((r) => setTimeout(r, 500));
      expect(readTopicOnce(kafka, topic).map((r) => r.value)).toEqual(['{"a":1}']);
      expect(readTopicOnce(kafka, `${topic}-b`)).toEqual([]);
    });

    it('works on the seed routes and in fire-and-forget mode (the 202 is replayed); a bad key is 400', async () => {
      const topic = randomTopic('idem');
      const key = randomUUID();
      const geo = '{"name":"bus-1","lat":1.5,"lon":2.5}';
      const first = await postJson(`${sluice().url}/producer/${topic}`, geo, 'application/json', { 'Idempotency-Key': key });
      const second = await postJson(`${sluice().url}/producer/${topic}`, geo, 'application/json', { 'Idempotency-Key': key });
      expect(first.status).toBe(200);
      expect(second.text).toBe(first.text); // the same generated message_id
      const fireKey = randomUUID();
      const fire = await postJson(`${sluice().url}/topics/${topic}?ack=none`, '{"f":1}', 'application/json', {
        'Idempotency-Key': fireKey,
      });
      const fireAgain = await postJson(`${sluice().url}/topics/${topic}?ack=none`, '{"f":1}', 'application/json', {
        'Idempotency-Key': fireKey,
      });
      expect([fire.status, fireAgain.status]).toEqual([202, 202]);
      const records = await readTopic(kafka, topic, 2);
      await new Promise((r) => setTimeout(r, 500));
      expect(readTopicOnce(kafka, topic)).toHaveLength(2);
      expect(records.map((r) => r.headers['idempotency-key']).sort()).toEqual([key, fireKey].sort());
      const bad = await postJson(`${sluice().url}/topics/${topic}`, '{}', 'application/json', { 'Idempotency-Key': 'has space' });
      expect(bad.status).toBe(400);
      expect(bad.json.error.code).toBe('INVALID_PARAMETER');
    });

    it('requests without the header are written every time', async () => {
      const topic = randomTopic('idem');
      for (let i = 0; i < 2; i++) expect((await postJson(`${sluice().url}/topics/${topic}`, '{"same":true}')).status).toBe(200);
      expect(await readTopic(kafka, topic, 2)).toHaveLength(2);
    });
  });
