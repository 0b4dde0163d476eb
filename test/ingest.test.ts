/** Ingest lands in Kafka exactly as sent: counts, keys, headers and value bytes, checked with kcat. */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { readTopic } from './helpers/kafka-read.js';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';

const lz4 = createRequire(import.meta.url)('lz4') as { encode(b: Buffer): Buffer };

const kafka = inject('kafkaBootstrap');
let sluice: SluiceProcess;
let keyed: SluiceProcess;

beforeAll(async () => {
  [sluice, keyed] = await Promise.all([
    startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka }),
    startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_KEY_FIELD: 'device_id' }),
  ]);
});
afterAll(async () => {
  await Promise.all([sluice?.stop(), keyed?.stop()]);
});

describe('POST /topics/{topic}', () => {
  it('writes one JSON object as one record, byte-exact (big integers and spacing survive), and reports its offset', async () => {
    const topic = randomTopic();
    const body = '{"device_id": "d-1", "reading": 12345678901234567890, "f": 1.50, "s": "üñí\\u00e9"}';
    const res = await postJson(`${sluice.url}/topics/${topic}`, `  ${body}\n`);
    expect(res.status).toBe(200);
    expect(res.json.topic).toBe(topic);
    expect(res.json.count).toBe(1);
    const records = await readTopic(kafka, topic, 1);
    expect(records).toHaveLength(1);
    expect(records[0].value).toBe(body);
    expect(res.json.partitions).toEqual([{ partition: records[0].partition, count: 1, offsets: [records[0].offset, records[0].offset] }]);
  });

  it('writes each array element as its own record with the key parameter and X-Kafka-Header-* headers', async () => {
    const topic = randomTopic();
    const elements = ['{"n":1}', '[1, 2, "]"]', '"a string"', '{"nested":{"deep":[{"x":"}"}]}}', '42', 'null'];
    const res = await postJson(
      `${sluice.url}/topics/${topic}?key=sensor-7`,
      `[ ${elements.join(' ,\n ')} ]`,
      'application/json; charset=utf-8',
      { 'X-Kafka-Header-Source': 'unit-test', 'X-Kafka-Header-Trace-Id': 'abc123' },
    );
    expect(res.status).toBe(200);
    expect(res.json.count).toBe(elements.length);
    const records = await readTopic(kafka, topic, elements.length);
    expect(records.map((r) => r.value)).toEqual(elements); // one key → one partition → order kept
    for (const r of records) {
      expect(r.key).toBe('sensor-7');
      expect(r.headers).toEqual({ source: 'unit-test', 'trace-id': 'abc123' });
    }
    expect(res.json.partitions).toEqual([{ partition: records[0].partition, count: 6, offsets: [0, 5] }]);
  });

  it('writes one record per NDJSON line, skipping blank lines and CRLF endings', async () => {
    const topic = randomTopic();
    const lines = Array.from({ length: 250 }, (_, i) => JSON.stringify({ device_id: `dev-${i % 7}`, seq: i, temp: 20 + (i % 10) / 10 }));
    const body = lines.slice(0, 100).join('\n') + '\n\n' + lines.slice(100).join('\r\n') + '\n';
    const res = await postJson(`${keyed.url}/topics/${topic}`, body, 'application/x-ndjson');
    expect(res.status).toBe(200);
    expect(res.json.count).toBe(250);
    const records = await readTopic(kafka, topic, 250);
    expect(records).toHaveLength(250);
    // Keys come from the configured field; records of one key keep their order within the partition.
    const byKey = new Map<string, number[]>();
    for (const r of records) {
      const v = JSON.parse(r.value!);
      expect(r.key).toBe(v.device_id);
      expect(r.value).toBe(lines[v.seq]);
      byKey.set(r.key!, [...(byKey.get(r.key!) ?? []), v.seq]);
    }
    for (const seqs of byKey.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const total = res.json.partitions.reduce((n: number, p: { count: number }) => n + p.count, 0);
    expect(total).toBe(250);
  });

  it('the same key lands on the same partition as the Java client would choose (murmur2)', async () => {
    const topic = randomTopic();
    const res = await postJson(`${sluice.url}/topics/${topic}?key=device-42`, '{"a":1}');
    expect(res.status).toBe(200);
    // Java's murmur2 partitioner: toPositive(murmur2("device-42")) % 3 — computed independently here.
    expect(res.json.partitions[0].partition).toBe(javaMurmur2Partition('device-42', 3));
  });

  it('fire-and-forget (?ack=none) answers 202 once queued, and the records arrive', async () => {
    const topic = randomTopic();
    const res = await postJson(`${sluice.url}/topics/${topic}?ack=none`, '[{"a":1},{"a":2},{"a":3}]');
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ topic, count: 3 });
    const records = await readTopic(kafka, topic, 3);
    expect(records.map((r) => r.value).sort()).toEqual(['{"a":1}', '{"a":2}', '{"a":3}']);
  });

  it('decodes gzip and lz4 (LZ4 frame) request bodies; records land byte-exact', async () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `{"device_id":"dev-${i % 13}","seq":${i},"reading":1.${i}0}`);
    const body = Buffer.from(lines.join('\n'));
    for (const [encoding, encoded] of [
      ['gzip', gzipSync(body)],
      ['lz4', lz4.encode(body)],
    ] as const) {
      const topic = randomTopic(encoding);
      const res = await postJson(`${sluice.url}/topics/${topic}`, encoded, 'application/x-ndjson', { 'content-encoding': encoding });
      expect(res.status).toBe(200);
      expect(res.json.count).toBe(1000);
      const records = await readTopic(kafka, topic, 1000);
      expect(records.map((r) => r.value).sort()).toEqual([...lines].sort());
    }
  });

  it('a first POST to a topic that does not exist yet creates it (broker auto-create)', async () => {
    const topic = randomTopic('fresh');
    const res = await postJson(`${sluice.url}/topics/${topic}`, '{"first":true}');
    expect(res.status).toBe(200);
    expect((await readTopic(kafka, topic, 1))[0].value).toBe('{"first":true}');
  });
});

/** Kafka's Utils.murmur2 + toPositive, as the Java producer's default partitioner uses for keyed records. */
function javaMurmur2Partition(key: string, partitions: number): number {
  const data = Buffer.from(key);
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ data.length) | 0;
  const len4 = data.length >> 2;
  for (let i = 0; i < len4; i++) {
    let k = data.readInt32LE(i * 4);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const rest = data.length & 3;
  const base = len4 * 4;
  if (rest === 3) h ^= (data[base + 2] & 0xff) << 16;
  if (rest >= 2) h ^= (data[base + 1] & 0xff) << 8;
  if (rest >= 1) {
    h ^= data[base] & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return (h & 0x7fffffff) % partitions;
}

describe('large bodies decoded on the piscina pool (SLUICE_DECODE_OFFLOAD_BYTES)', () => {
  let offload: SluiceProcess;
  beforeAll(async () => {
    offload = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_DECODE_OFFLOAD_BYTES: '1024', SLUICE_KEY_FIELD: 'device_id' });
  });
  afterAll(async () => {
    await offload?.stop();
  });

  it('lands the same records, keys and bytes as inline decoding, and reports errors the same way', async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `{"device_id":"d${i % 5}","seq":${i}}`);
    const topic = randomTopic('offload');
    const res = await postJson(`${offload.url}/topics/${topic}`, lz4.encode(Buffer.from(lines.join('\n'))), 'application/x-ndjson', {
      'content-encoding': 'lz4',
    });
    expect(res.status).toBe(200);
    expect(res.json.count).toBe(2000);
    const records = await readTopic(kafka, topic, 2000);
    expect(records.map((r) => r.value).sort()).toEqual([...lines].sort());
    for (const r of records) expect(r.key).toBe(JSON.parse(r.value!).device_id);

    const bad = await postJson(`${offload.url}/topics/${topic}`, `${lines.slice(0, 500).join('\n')}\n{"broken":\n`, 'application/x-ndjson');
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'INVALID_JSON', line: 501 });
  });
});
