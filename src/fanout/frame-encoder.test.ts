import { describe, expect, it } from 'vitest';
import { encodeEnvelope } from './frame-encoder.js';

const base = { topic: 't"x', partition: 2, offset: 41, timestamp: 1700000000000 };

describe('encodeEnvelope', () => {
  it('embeds JSON values verbatim (no number or key-order changes)', () => {
    const frame = encodeEnvelope({ ...base, key: Buffer.from('k1'), value: Buffer.from('{"z":1,"a":12345678901234567890}') });
    expect(frame).toBe('{"topic":"t\\"x","partition":2,"offset":41,"timestamp":1700000000000,"key":"k1","value":{"z":1,"a":12345678901234567890}}');
  });
  it('sends non-JSON text and binary values as strings with their encoding', () => {
    expect(JSON.parse(encodeEnvelope({ ...base, value: Buffer.from('plain text') }))).toMatchObject({ value: 'plain text', valueEncoding: 'text', key: null });
    expect(JSON.parse(encodeEnvelope({ ...base, value: Buffer.from([0xff, 0x00]) }))).toMatchObject({ value: '/wA=', valueEncoding: 'base64' });
    expect(JSON.parse(encodeEnvelope({ ...base, value: null })).value).toBeNull();
  });
});
