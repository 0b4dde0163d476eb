// Peer for the benchmark: the usual Node stack, Fastify + KafkaJS.
//
//   PORT=0 KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 node bench/peers/fastify-kafkajs.mjs
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { startFastifyPeer } from './fastify-peer.mjs';

const brokers = (process.env.KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092').split(',');

// KafkaJS's default logger writes to stdout; stdout is reserved for the "listening" line.
const toStderr =
  () =>
  ({ namespace, label, log }) => {
    const { message, ...extra } = log;
    console.error(JSON.stringify({ level: label, namespace, msg: message, ...extra }));
  };

const kafka = new Kafka({ clientId: 'bench-fastify-kafkajs', brokers, logLevel: logLevel.WARN, logCreator: toStderr });
// Idempotence needs acks=-1 and, in KafkaJS, at most one request in flight per broker.
// No compression: KafkaJS ships only gzip built in (lz4 needs a third-party codec plugin).
const producer = kafka.producer({
  idempotent: true,
  maxInFlightRequests: 1,
  createPartitioner: Partitioners.DefaultPartitioner,
});
await producer.connect();

await startFastifyPeer({
  send: (topic, messages) => producer.send({ topic, messages, acks: -1 }),
  disconnect: () => producer.disconnect(),
});
