/**
 * Independent reads of a topic with kcat (librdkafka's CLI, a separate client from the gateway's):
 * what tests assert is what any Kafka consumer would see.
 */
import { execFile, spawnSync } from 'node:child_process';

export interface KafkaRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

/** librdkafka properties for kcat (`-X key=value`), e.g. security.protocol=SASL_SSL against a secured listener. */
export type KcatProperties = Record<string, string>;

const kcatArgs = (props: KcatProperties) => Object.entries(props).flatMap(([k, v]) => ['-X', `${k}=${v}`]);

const readArgs = (bootstrap: string, topic: string, props: KcatProperties) => [
  '-b',
  bootstrap,
  ...kcatArgs(props),
  '-C',
  '-t',
  topic,
  '-o',
  'beginning',
  '-e',
  '-q',
  '-J',
  '-m',
  '10',
];
const READ_OPTIONS = { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, timeout: 60_000 } as const;

export function readTopicOnce(bootstrap: string, topic: string, props: KcatProperties = {}): KafkaRecord[] {
  const r = spawnSync('kcat', readArgs(bootstrap, topic, props), READ_OPTIONS);
  if (r.error) throw r.error;
  return parseKcat(r.status, r.stdout, r.stderr);
}

/**
 * readTopic for many topics, several kcat processes at a time (each mostly waits on the broker): a topic
 * read short is read again by readTopic, which waits for the rest and prints the watermarks if they never come.
 */
export async function readTopics(
  bootstrap: string,
  wanted: ReadonlyMap<string, number>,
  { parallel = 4, props = {} as KcatProperties } = {},
): Promise<Map<string, KafkaRecord[]>> {
  const out = new Map<string, KafkaRecord[]>();
  const queue = [...wanted];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [topic, count] = next;
      const first = await new Promise<KafkaRecord[]>((resolve, reject) =>
        execFile('kcat', readArgs(bootstrap, topic, props), READ_OPTIONS, (err, stdout, stderr) => {
          const status = err ? (typeof err.code === 'number' ? err.code : null) : 0;
          if (err && status === null) reject(err);
          else {
            try {
              resolve(parseKcat(status, stdout, stderr));
            } catch (e) {
              reject(e);
            }
          }
        }),
      );
      out.set(topic, first.length >= count ? sortRecords(first) : await readTopic(bootstrap, topic, count, 20_000, props));
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return out;
}

function parseKcat(status: number | null, stdout: string, stderr: string): KafkaRecord[] {
  // A topic that does not exist reads as empty (that is what "nothing reached Kafka" looks like).
  if (status !== 0 && /Unknown topic|not available|UNKNOWN_TOPIC/i.test(stderr)) return [];
  if (status !== 0) throw new Error(`kcat failed (${status}): ${stderr}`);
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const m = JSON.parse(line) as { partition: number; offset: number; key: string | null; payload: string | null; headers?: string[] };
      const headers: Record<string, string> = {};
      for (let i = 0; m.headers && i < m.headers.length; i += 2) headers[m.headers[i]] = m.headers[i + 1];
      return { partition: m.partition, offset: m.offset, key: m.key, value: m.payload, headers };
    });
}

/** Reads until at least `count` records are there (fire-and-forget writes land a little later), or times out. */
export async function readTopic(
  bootstrap: string,
  topic: string,
  count: number,
  timeoutMs = 20_000,
  props: KcatProperties = {},
): Promise<KafkaRecord[]> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const records = readTopicOnce(bootstrap, topic, props);
    if (records.length >= count) return sortRecords(records);
    if (Date.now() > deadline) {
      reportShortfall(bootstrap, topic, records, count, props);
      return sortRecords(records);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function sortRecords(records: KafkaRecord[]): KafkaRecord[] {
  return records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** Partition count of a topic, from kcat's metadata listing (0 when the topic does not exist). */
export function partitionCount(bootstrap: string, topic: string): number {
  const r = spawnSync('kcat', ['-b', bootstrap, '-L', '-t', topic, '-J'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`kcat -L failed: ${r.stderr}`);
  const meta = JSON.parse(r.stdout) as { topics: { topic: string; partitions: unknown[]; error?: string }[] };
  const t = meta.topics.find((x) => x.topic === topic);
  return t && !t.error ? t.partitions.length : 0;
}

/**
 * A read that found fewer records than expected says what Kafka holds, so a failure tells "not in Kafka"
 * (watermarks agree with what was read) from "not read" (they do not): per partition, the earliest and
 * latest offsets the broker reports and the offsets kcat returned. Seen a few times on a loaded machine,
 * always on a brand-new topic with the first records of one partition missing; not reproduced since.
 */
function reportShortfall(bootstrap: string, topic: string, records: KafkaRecord[], count: number, props: KcatProperties): void {
  const lines = [`[kafka-read] ${topic}: read ${records.length} of ${count} records`];
  for (let p = 0; p < partitionCount(bootstrap, topic); p++) {
    const marks = [-2, -1].map((ts) =>
      spawnSync('kcat', ['-b', bootstrap, ...kcatArgs(props), '-Q', '-t', `${topic}:${p}:${ts}`], {
        encoding: 'utf8',
        timeout: 30_000,
      }).stdout.trim(),
    );
    const offsets = records
      .filter((r) => r.partition === p)
      .map((r) => r.offset)
      .sort((a, b) => a - b);
    lines.push(
      `  partition ${p}: earliest/latest ${marks.join(' / ')}; read ${offsets.length}, offsets ${offsets[0]}..${offsets[offsets.length - 1]}`,
    );
  }
  console.error(lines.join('\n'));
}
