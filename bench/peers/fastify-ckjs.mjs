// Peer for the benchmark: Fastify + @confluentinc/kafka-javascript (librdkafka) through its KafkaJS-compatible
// API — what a team adopting Confluent's client would write: idempotent, acks=all, lz4, the library's
// default linger (librdkafka's 5 ms). PEER_LINGER_MS=1 gives it Sluice's default linger instead (the
// bench's `peer-fastify-ckjs-tuned`), to compare gateways rather than tuning.
//
//   PORT=0 KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 node bench/peers/fastify-ckjs.mjs
import { startFastifyPeer } from './fastify-peer.mjs';

const { Kafka, CompressionTypes, logLevel } = (await import('@confluentinc/kafka-javascript')).KafkaJS;
const brokers = (process.env.KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092').split(',');

// WARN and above go to stderr (console.warn/error); the default INFO level would log to stdout,
// which is reserved for the "listening" line.
const kafka = new Kafka({ kafkaJS: { clientId: 'bench-fastify-ckjs', brokers, logLevel: logLevel.WARN } });
const producer = kafka.producer({
  // librdkafka property: the KafkaJS-style block has no linger setting.
  ...(process.env.PEER_LINGER_MS ? { 'linger.ms': Number(process.env.PEER_LINGER_MS) } : {}),
  kafkaJS: { idempotent: true, acks: -1, compression: CompressionTypes.LZ4, logLevel: logLevel.WARN },
});
await producer.connect();

await startFastifyPeer({
  send: (topic, messages) => producer.send({ topic, messages }),
  disconnect: () => producer.disconnect(),
});
