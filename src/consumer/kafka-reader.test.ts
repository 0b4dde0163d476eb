import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { KafkaReader } from './kafka-reader.js';
import { SluiceError } from '../errors.js';

describe('KafkaReader.connect', () => {
  it('answers a cluster it cannot reach with 503 BROKER_UNAVAILABLE, not the raw client error (which would be a 500)', async () => {
    const reader = new KafkaReader({
      role: 'replay',
      topic: 't',
      clientId: 'sluice-test',
      groupId: 'sluice-test',
      // Port 1 on loopback: nothing listens there, so the connect times out.
      bootstrapServers: '127.0.0.1:1',
      properties: {},
      log: pino({ level: 'silent' }),
    });
    const err = await reader.connect(300).then(
      () => null,
      (e: unknown) => e,
    );
    await reader.stop();
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe('BROKER_UNAVAILABLE');
  });
});
