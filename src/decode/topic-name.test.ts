import { expect, it } from 'vitest';
import fc from 'fast-check';
import { assertLegalTopicName, assertProducibleTopicName, topicPattern } from './topic-name.js';

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

it('a topic pattern matches what its glob model matches: `*` any run of characters, everything else itself', () => {
  // Model: the glob read left to right, `*` trying every split of the rest.
  const glob = (p: string, s: string): boolean =>
    p === ''
      ? s === ''
      : p[0] === '*'
        ? [...Array(s.length + 1).keys()].some((i) => glob(p.slice(1), s.slice(i)))
        : s[0] === p[0] && glob(p.slice(1), s.slice(1));
  const chars = fc.constantFrom('a', 'b', '.', '-', '*', '+', '(', '$', '\\');
  fc.assert(
    fc.property(fc.string({ unit: chars, maxLength: 6 }), fc.string({ unit: chars, maxLength: 8 }), (pattern, topic) => {
      expect(topicPattern(pattern).test(topic)).toBe(glob(pattern, topic));
    }),
  );
});
