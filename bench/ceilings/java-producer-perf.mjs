// Ceiling: Apache Kafka's own Java producer benchmark (org.apache.kafka.tools.ProducerPerformance),
// run from the jars the embedded broker uses (.kafka/<kafka.version>/libs), with settings matching
// native-config/producer.properties: acks=all, idempotence, lz4, linger 10 ms, 1 MB batches.
//
//   node bench/ceilings/java-producer-perf.mjs --topic T [--records 500000] [--record-size 200]
//       [--bootstrap 127.0.0.1:9092]
//
// Prints one JSON line: {"records","recordsPerSec","mbPerSec","avgLatencyMs","p50Ms","p99Ms","p999Ms","seconds"}
// with MB = 1e6 bytes (the tool itself prints MiB). The tool's payloads are random uppercase letters,
// regenerated per record, so lz4 barely shrinks them (the Node ceiling's JSON compresses well).
// The tool's own output goes to stderr.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Kafka from '@confluentinc/kafka-javascript';
import { deviceRecord } from '../records.mjs';
import { parseCeilingArgs } from './ceiling-args.mjs';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const args = parseCeilingArgs('java-producer-perf.mjs');
const { records, recordSize } = args;

const pom = readFileSync(join(REPO_ROOT, 'src', 'embedded-broker', 'pom.xml'), 'utf8');
const kafkaVersion = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1];
if (!kafkaVersion) throw new Error('src/embedded-broker/pom.xml names no <kafka.version>');
const libs = join(REPO_ROOT, '.kafka', kafkaVersion, 'libs');
if (!existsSync(join(libs, `kafka-tools-${kafkaVersion}.jar`))) {
  console.error(`no Kafka ${kafkaVersion} jars in ${libs}: run \`npm run setup\` (or start the embedded broker) first`);
  process.exit(1);
}

// ProducerPerformance's clock starts before its first send, so a topic auto-created by that send
// would put creation time into the result; create it (and wait for leaders) beforehand, as the
// Node ceiling does.
await ensureTopic(args.bootstrap, args.topic);

// Same bytes as the Node ceiling and the HTTP scenarios: device JSON records padded to --record-size
// (the tool's default payload is random letters, which lz4 can hardly compress).
const payloadFile = join(mkdtempSync(join(tmpdir(), 'sluice-java-perf-')), 'payload.ndjson');
writeFileSync(payloadFile, Array.from({ length: 1024 }, (_, i) => deviceRecord(i, recordSize)).join('\n'));

const javaArgs = [
  '-Xmx1g',
  '-cp',
  join(libs, '*'),
  'org.apache.kafka.tools.ProducerPerformance',
  '--topic',
  args.topic,
  '--num-records',
  String(records),
  '--payload-file',
  payloadFile,
  '--throughput',
  '-1',
  '--producer-props',
  `bootstrap.servers=${args.bootstrap}`,
  'acks=all',
  'compression.type=lz4',
  'linger.ms=10',
  'batch.size=1000000',
  'enable.idempotence=true',
];

const child = spawn('java', javaArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
let stdout = '';
let stderr = '';
child.stdout.on('data', (chunk) => {
  stdout += chunk;
  process.stderr.write(chunk);
});
child.stderr.on('data', (chunk) => (stderr += chunk));
const code = await new Promise((resolve) => {
  child.on('error', (err) => {
    stderr += `cannot run java: ${err.message}\n`;
    resolve(-1);
  });
  child.on('close', (status) => resolve(status));
});
if (code !== 0) {
  process.stderr.write(stderr);
  console.error(`java exited with ${code}`);
  process.exit(1);
}

// Final summary, e.g. "500000 records sent, 345781.466113 records/sec (65.95 MB/sec), 120.52 ms avg latency,
// 411.00 ms max latency, 110 ms 50th, 250 ms 95th, 290 ms 99th, 380 ms 99.9th."
const num = String.raw`(\d+(?:\.\d+)?)`;
const summary = new RegExp(
  String.raw`(\d+) records sent, ${num} records/sec \(${num} MB/sec\), ${num} ms avg latency, ${num} ms max latency, ` +
    String.raw`${num} ms 50th, ${num} ms 95th, ${num} ms 99th, ${num} ms 99\.9th\.`,
);
const m = stdout
  .split('\n')
  .reverse()
  .map((line) => summary.exec(line))
  .find(Boolean);
if (!m) {
  process.stderr.write(stderr);
  console.error('no summary line in ProducerPerformance output');
  process.exit(1);
}
const [sent, recPerSec, mibPerSec, avg, , p50, , p99, p999] = m.slice(1).map(Number);
console.log(
  JSON.stringify({
    records: sent,
    recordsPerSec: Math.round(recPerSec),
    mbPerSec: round((mibPerSec * 1024 * 1024) / 1e6, 2), // the tool's MB is 1024*1024 bytes
    avgLatencyMs: avg,
    p50Ms: p50,
    p99Ms: p99,
    p999Ms: p999,
    seconds: round(sent / recPerSec, 3), // the tool's elapsed time: first send to last acknowledgement
  }),
);

function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Metadata requests for the topic (which auto-creates it) until every partition has a leader. */
async function ensureTopic(bootstrap, topic, timeoutMs = 30_000) {
  const client = new Kafka.Producer({ 'bootstrap.servers': bootstrap });
  await new Promise((resolve, reject) => client.connect({ timeout: timeoutMs }, (err) => (err ? reject(err) : resolve())));
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const meta = await new Promise((resolve) => {
        client.getMetadata({ topic, timeout: 5_000 }, (err, md) => resolve(err ? undefined : md));
      });
      const t = meta?.topics.find((x) => x.name === topic);
      if (t && t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)) return;
      if (Date.now() > deadline) throw new Error(`topic ${topic} has no leader for every partition after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await new Promise((resolve) => client.disconnect(5_000, resolve));
  }
}
