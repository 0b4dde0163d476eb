/** Kafka's legal topic names, checked before anything talks to Kafka (pure: usable in any thread). */
import { SluiceError } from '../errors.js';

const LEGAL_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

export function assertLegalTopicName(topic: string): void {
  if (!LEGAL_TOPIC.test(topic) || topic === '.' || topic === '..') {
    throw new SluiceError(
      'INVALID_TOPIC',
      `"${topic.slice(0, 300)}" is not a legal Kafka topic name (1-249 characters of a-z A-Z 0-9 . _ -, not "." or "..")`,
    );
  }
}

/**
 * Kafka's internal topics: brokers refuse produce requests to them, which reached clients as a retriable
 * 503 DELIVERY_FAILED ("Broker: Invalid topic") that no retry can fix.
 */
const INTERNAL_TOPICS = new Set(['__consumer_offsets', '__transaction_state', '__share_group_state']);

export function assertProducibleTopicName(topic: string): void {
  assertLegalTopicName(topic);
  if (INTERNAL_TOPICS.has(topic)) {
    throw new SluiceError('INVALID_TOPIC', `"${topic}" is one of Kafka's internal topics; clients cannot produce to it`);
  }
}

/** A topic pattern of the settings (API keys' `produce`/`subscribe`, schema file names): `*` matches any run of characters. */
export function topicPattern(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}
