import { expect, it } from 'vitest';
import { assertLegalTopicName, assertProducibleTopicName } from './topic-name.js';

it('accepts legal Kafka topic names and refuses the rest with INVALID_TOPIC', () => {
  for (const ok of ['a', 'orders.v1', 'A_b-C.9', 'x'.repeat(249)]) expect(() => assertLegalTopicName(ok)).not.toThrow();
  for (const bad of ['', '.', '..', 'x'.repeat(250), 'a b', 'a/b', 'ü', 'a*']) {
    expect(() => assertLegalTopicName(bad)).toThrow(expect.objectContaining({ code: 'INVALID_TOPIC', status: 422 }));
  }
});

it('refuses producing to Kafka internal topics, which brokers refuse, but not to look-alikes', () => {
  for (const internal of ['__consumer_offsets', '__transaction_state', '__share_group_state']) {
    expect(() => assertLegalTopicName(internal)).not.toThrow();
    expect(() => assertProducibleTopicName(internal)).toThrow(expect.objectContaining({ code: 'INVALID_TOPIC', status: 422 }));
  }
  for (const ok of ['_consumer_offsets', '__consumer_offsets2', '__remote_log_metadata'])
    expect(() => assertProducibleTopicName(ok)).not.toThrow();
  expect(() => assertProducibleTopicName('..')).toThrow(expect.objectContaining({ code: 'INVALID_TOPIC' }));
});
