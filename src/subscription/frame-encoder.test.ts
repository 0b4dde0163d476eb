import { describe, expect, it } from 'vitest';
import { batchFrame, encodeEnvelope, encodeFields, frameRecords, headersField } from './frame-encoder.js';

const base = { topic: 't"x', partition: 2, offset: 41, timestamp: 1700000000000 };

describe('encodeEnvelope', () => {
  it('embeds JSON values verbatim (no number or key-order changes)', () => {
    const frame = encodeEnvelope({ ...base, key: Buffer.from('k1'), value: Buffer.from('{"z":1,"a":12345678901234567890}') });
    expect(frame).toBe(
      '{"topic":"t\\"x","partition":2,"offset":41,"timestamp":1700000000000,"key":"k1","value":{"z":1,"a":12345678901234567890}}',
    );
  });
  it('sends non-JSON text and binary values as strings with their encoding', () => {
    expect(JSON.parse(encodeEnvelope({ ...base, value: Buffer.from('plain text') }))).toMatchObject({
      value: 'plain text',
      valueEncoding: 'text',
      key: null,
    });
    expect(JSON.parse(encodeEnvelope({ ...base, value: Buffer.from([0xff, 0x00]) }))).toMatchObject({
      value: '/wA=',
      valueEncoding: 'base64',
    });
    expect(JSON.parse(encodeEnvelope({ ...base, value: null })).value).toBeNull();
  });
});

describe('encodeEnvelope with a token', () => {
  it('appends the resume token and hands back the parsed value', async () => {
    const { readValue } = await import('./frame-encoder.js');
    const value = readValue(Buffer.from('{"temp":51}'));
    expect(value.parsed).toEqual({ temp: 51 });
    const frame = encodeEnvelope({ ...base, key: null, value: Buffer.from('{"temp":51}') }, '"t"', 'djE6NQ', value);
    expect(JSON.parse(frame)).toEqual({
      topic: 't',
      partition: 2,
      offset: 41,
      timestamp: 1700000000000,
      key: null,
      value: { temp: 51 },
      token: 'djE6NQ',
    });
  });
});

describe('frame styles', () => {
  const records = [0, 1, 2].map((i) => ({ ...base, topic: 't', offset: 41 + i, key: null, value: Buffer.from(`{"n":${i}}`) }));
  const fields = records.map((m) => encodeFields(m));
  const tokens = ['tok-a', 'tok-b', 'tok-c'];

  it('per record: the same frames encodeEnvelope makes, one per record with its token', () => {
    const out = frameRecords('record', '"t"', fields, tokens);
    expect(out.frames).toEqual(records.map((m, i) => encodeEnvelope(m, '"t"', tokens[i])));
    expect(out.tokens).toEqual(tokens);
  });

  it('batch: one frame with the records in order and the token after the last', () => {
    const out = frameRecords('batch', '"t"', fields, tokens);
    expect(out.frames).toHaveLength(1);
    expect(out.tokens).toEqual(['tok-c']);
    expect(JSON.parse(out.frames[0])).toEqual({
      event: 'batch',
      topic: 't',
      token: 'tok-c',
      records: records.map((m, i) => ({ partition: 2, offset: m.offset, timestamp: 1700000000000, key: null, value: { n: i } })),
    });
  });

  it('batch without tokens (groups) and with no records', () => {
    expect(JSON.parse(batchFrame('"t"', fields.slice(0, 1), null))).toEqual({
      event: 'batch',
      topic: 't',
      records: [{ partition: 2, offset: 41, timestamp: 1700000000000, key: null, value: { n: 0 } }],
    });
    expect(frameRecords('batch', '"t"', fields, null).tokens).toBeNull();
    expect(frameRecords('batch', '"t"', [], [])).toEqual({ frames: [], tokens: [] });
  });
});

describe('record headers', () => {
  it('come after the value, in order with repeats kept; a value that is not UTF-8 as base64', () => {
    const headers = [{ traceparent: Buffer.from('00-ab-cd-01') }, { site: 'north' }, { site: Buffer.from([0xff, 0xfe]) }];
    const m = { ...base, key: 'k', value: Buffer.from('{"a":1}'), headers };
    const expected = [
      { name: 'traceparent', value: '00-ab-cd-01' },
      { name: 'site', value: 'north' },
      { name: 'site', value: '//4=', valueEncoding: 'base64' },
    ];
    expect(JSON.parse(encodeEnvelope(m, undefined, 'tok')).headers).toEqual(expected);
    expect(JSON.parse(`{${encodeFields(m)}}`).headers).toEqual(expected);
    expect(encodeEnvelope(m, undefined, 'tok').endsWith(',"token":"tok"}')).toBe(true);
  });
  it('add nothing to a record without headers', () => {
    expect(headersField(undefined)).toBe('');
    expect(headersField([])).toBe('');
    expect(encodeFields({ ...base, key: null, value: Buffer.from('1') })).not.toContain('headers');
  });
});
