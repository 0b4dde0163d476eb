/**
 * The one import of the native Kafka client (librdkafka through @confluentinc/kafka-javascript).
 * Main thread only: the addon is not context-aware and aborts the process inside a worker thread
 * (so this module refuses to load there). Worker threads receive batches from the main thread instead.
 */
import { isMainThread } from 'node:worker_threads';
import KafkaPkg from '@confluentinc/kafka-javascript';

if (!isMainThread) {
  throw new Error('the native Kafka client must not be loaded in a worker thread (it aborts the process); keep Kafka on the main thread');
}

export const { Producer, KafkaConsumer, AdminClient, OffsetSpec, CODES, librdkafkaVersion } = KafkaPkg;
export type {
  LibrdKafkaError,
  Message,
  DeliveryReport,
  MessageHeader,
  IAdminClient,
  ProducerGlobalConfig,
  ConsumerGlobalConfig,
} from '@confluentinc/kafka-javascript';
