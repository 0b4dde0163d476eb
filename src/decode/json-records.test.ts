import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeRecords, scanArrayElements } from './json-records.js';
import { SluiceError } from '../errors.js';

const values = (d: ReturnType<typeof decodeRecords>) =>
  Array.from({ length: d.count }, (_, i) => d.body.toString('utf8', d.starts[i], d.ends[i]));

function errorOf(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (err) {
    return err as SluiceError;
  }
  throw new Error('expected an error');
}

describe('decodeRecords', () => {
  it('splits any JSON array into its elements byte-exact, whatever the whitespace', () => {
    const ws = fc.constantFrom('', ' ', '\n', '\t', ' \r\n ');
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue(), { minLength: 1, maxLength: 20 }),
        fc.array(ws, { minLength: 50, maxLength: 50 }),
        (elements, spaces) => {
          const texts = elements.map((e) => JSON.stringify(e));
          const body = spaces[0] + '[' + texts.map((t, i) => spaces[(i % 40) + 1] + t + spaces[(i % 40) + 2]).join(',') + ']' + spaces[49];
          const d = decodeRecords(Buffer.from(body), 'json', '');
          expect(values(d)).toEqual(texts);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps strings holding brackets, commas, quotes and escapes inside one element', () => {
    const d = decodeRecords(Buffer.from('[{"a":"],[{\\"x\\\\"}, "\\\\", {"b":[1,{"c":"}"}]}]'), 'json', '');
    expect(values(d)).toEqual(['{"a":"],[{\\"x\\\\"}', '"\\\\"', '{"b":[1,{"c":"}"}]}']);
  });

  it('takes keys from the configured field (strings and numbers), null otherwise', () => {
    const d = decodeRecords(Buffer.from('[{"device_id":"a"},{"device_id":7},{"other":1},[1],"x"]'), 'json', 'device_id');
    expect(d.keys).toEqual(['a', '7', null, null, null]);
  });

  it('reads NDJSON lines, skipping blank ones, trimming CR, and names the failing line', () => {
    const d = decodeRecords(Buffer.from('{"a":1}\r\n\n  {"a":2}  \n{"a":3}'), 'ndjson', '');
    expect(values(d)).toEqual(['{"a":1}', '{"a":2}', '{"a":3}']);
    const e = errorOf(() => decodeRecords(Buffer.from('{"a":1}\n\n{"a":\n'), 'ndjson', ''));
    expect(e.code).toBe('INVALID_JSON');
    expect(e.details).toEqual({ line: 3 });
  });

  it('names the first invalid array element, or the place the structure breaks', () => {
    expect(errorOf(() => decodeRecords(Buffer.from('[1, 2, {"x": tru}, 4]'), 'json', '')).details).toEqual({ index: 2 });
    expect(errorOf(() => decodeRecords(Buffer.from('[1, 2, 3'), 'json', '')).code).toBe('INVALID_JSON');
    expect(errorOf(() => decodeRecords(Buffer.from('[1,,2]'), 'json', '')).code).toBe('INVALID_JSON');
  });

  it('never accepts what JSON.parse rejects, and never throws anything but a SluiceError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        const body = Buffer.from(text);
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        try {
          decodeRecords(body, 'json', 'k');
        } catch (err) {
          expect(err).toBeInstanceOf(SluiceError);
          return;
        }
        expect(valid).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses invalid UTF-8 and strips a byte-order mark', () => {
    expect(errorOf(() => decodeRecords(Buffer.from([0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d]), 'json', '')).code).toBe('INVALID_UTF8');
    expect(values(decodeRecords(Buffer.from('\ufeff{"a":1}'), 'json', ''))).toEqual(['{"a":1}']);
  });
});

describe('scanArrayElements', () => {
  it('reports broken structure as -1', () => {
    const s = new Int32Array(8);
    const e = new Int32Array(8);
    for (const bad of ['[1,]', '[,1]', '[1 2', '[{]', '[1]x', '[}'])
      expect(scanArrayElements(Buffer.from(bad), 0, bad.length, s, e)).toBe(-1);
    expect(scanArrayElements(Buffer.from('[]'), 0, 2, s, e)).toBe(0);
  });
});
