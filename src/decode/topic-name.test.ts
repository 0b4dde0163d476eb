import { expect, it } from 'vitest';
import { assertLegalTopicName } from './topic-name.js';

it('accepts legal Kafka topic names and refuses the rest with INVALID_TOPIC', () => {
  for (const ok of ['a', 'orders.v1', 'A_b-C.9', 'x'.repeat(249)]) expect(() => assertLegalTopicName(ok)).not.toThrow();
  for (const bad of ['', '.', '..', 'x'.repeat(250), 'a b', 'a/b', 'ü', 'a*']) {
    expect(() => assertLegalTopicName(bad)).toThrow(expect.objectContaining({ code: 'INVALID_TOPIC', status: 422 }));
  }
});
