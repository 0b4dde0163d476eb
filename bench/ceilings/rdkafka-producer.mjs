// Ceiling: the librdkafka producer alone, driven from Node (node-rdkafka-style API of
// @confluentinc/kafka-javascript) with no HTTP in front. Produces --records JSON records of exactly
// --record-size bytes as fast as the local queue takes them and counts delivery reports.
//
//   node bench/ceilings/rdkafka-producer.mjs --topic T [--records 500000] [--record-size 200]
//       [--bootstrap 127.0.0.1:9092] [--config native-config/producer.properties] [--rate R]
//
// --rate R paces the produce() calls at R records/s, a few per event-loop turn (every millisecond the
// records now due), the way a gateway's produce() calls arrive: one per request, as requests come in.
// Without it the loop fills librdkafka's queue as fast as it takes records, so batches are as large as
// they get, wake-ups of librdkafka's threads and delivery-report hand-offs fewest: the cheapest case.
//
// Prints one JSON line: {"records","delivered","failed","seconds","recordsPerSec","mbPerSec","cpuSeconds"}
// (MB = 1e6 bytes of record values; time from the first produce() to the last delivery report; cpuSeconds:
// this process's CPU time, all threads (librdkafka's too), over that same window).
// Exits 1 if any record failed. Progress and errors go to stderr.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Kafka from '@confluentinc/kafka-javascript';
import { deviceRecord } from '../records.mjs';
import { parseCeilingArgs } from './ceiling-args.mjs';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const QUEUE_FULL = Kafka.CODES.ERRORS.ERR__QUEUE_FULL; // -184

const args = parseCeilingArgs(
  'rdkafka-producer.mjs',
  { config: { type: 'string', default: `${REPO_ROOT}native-config/producer.properties` }, rate: { type: 'string' } },
  ' [--config FILE] [--rate R]',
);
const { topic, records, recordSize } = args;
const rate = args.rate === undefined ? 0 : Number(args.rate);
if (!(rate >= 0)) throw new Error(`--rate must be a number of records/s, not ${args.rate}`);

/** librdkafka `.properties` file: key=value lines; blank lines and #/! comments skipped. */
function readProperties(file) {
  const props = {};
  for (const raw of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`${file}: not a key=value line: ${line}`);
    props[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return props;
}

/** A small rotating pool of device JSON records (the bench's one record shape), pre-built so generation doesn't dominate. */
function recordPool(size, count = 1024) {
  return Array.from({ length: count }, (_, i) => Buffer.from(deviceRecord(i, size)));
}

const pool = recordPool(recordSize);
const producer = new Kafka.Producer({ ...readProperties(args.config), 'bootstrap.servers': args.bootstrap, dr_cb: true });

let delivered = 0;
let failed = 0;
let firstError;
let onDelivery; // resolves a produce loop waiting for room in the queue
let onAllDelivered;
const allDelivered = new Promise((resolve) => (onAllDelivered = resolve));
producer.on('delivery-report', (err) => {
  if (err) {
    failed++;
    firstError ??= err;
  } else {
    delivered++;
  }
  if (onDelivery) {
    onDelivery();
    onDelivery = undefined;
  }
  if (delivered + failed === records) onAllDelivered();
});
producer.on('event.error', (err) => console.error(JSON.stringify({ msg: 'producer error', error: err.message, code: err.code })));

await new Promise((resolve, reject) => producer.connect({ timeout: 30_000 }, (err) => (err ? reject(err) : resolve())));
producer.setPollInBackground(true);
await waitForTopic(producer, topic);

const started = process.hrtime.bigint();
const cpuAtStart = process.cpuUsage(); // getrusage(RUSAGE_SELF): every thread of the process
for (let i = 0; i < records; ) {
  if (rate > 0) {
    // The records due by now; then wait for the next millisecond.
    const due = Math.min(records, Math.floor((Number(process.hrtime.bigint() - started) / 1e9) * rate) + 1);
    if (i >= due) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      continue;
    }
  }
  try {
    producer.produce(topic, null, pool[i % pool.length], null, null);
    i++;
  } catch (err) {
    if (err.code !== QUEUE_FULL) throw err;
    // Local queue full: wait for the next batch of delivery reports to free room (setImmediate lets the
    // rest of that batch be counted first), then retry the same record. Never drop it.
    await new Promise((resolve) => {
      onDelivery = () => setImmediate(resolve);
      setTimeout(resolve, 5); // wake up anyway if no report comes
    });
  }
}
await allDelivered;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpuAtStart);

console.log(
  JSON.stringify({
    records,
    delivered,
    failed,
    seconds: round(seconds, 3),
    recordsPerSec: Math.round(delivered / seconds),
    mbPerSec: round((delivered * recordSize) / 1e6 / seconds, 2),
    cpuSeconds: round((cpu.user + cpu.system) / 1e6, 4),
  }),
);
if (firstError) console.error(JSON.stringify({ msg: 'first delivery error', error: firstError.message, code: firstError.code }));

await new Promise((resolve) => producer.disconnect(10_000, resolve));
process.exit(failed > 0 ? 1 : 0);

function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Fetches the topic's metadata until every partition has a leader, so topic auto-creation and the
 * first metadata round trip stay out of the measurement.
 */
async function waitForTopic(client, name, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const meta = await new Promise((resolve) => {
      client.getMetadata({ topic: name, timeout: 5_000 }, (err, md) => resolve(err ? undefined : md));
    });
    const t = meta?.topics.find((x) => x.name === name);
    if (t && t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)) return;
    if (Date.now() > deadline) throw new Error(`topic ${name} has no leader for every partition after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
