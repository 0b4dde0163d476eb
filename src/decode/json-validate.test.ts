import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isUtf8 } from 'node:buffer';
import { isJsonText } from './json-validate.js';

/** What the ingest path relied on before: JSON.parse of the UTF-8 text. */
function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function agrees(bytes: Buffer): void {
  if (!isUtf8(bytes)) return; // the decoder refuses those before validating
  expect(isJsonText(bytes, 0, bytes.length), JSON.stringify(bytes.toString('utf8'))).toBe(parses(bytes.toString('utf8')));
}

// Characters that matter to the grammar, so random strings hit its edges often.
const grammarChar = fc.constantFrom(...'{}[]",:\\/0123456789-+.eEtrufalsn \t\r\nbx\u0001\u007f\u00e9\u2028'.split(''));
const grammarText = fc.array(grammarChar, { maxLength: 40 }).map((a) => a.join(''));

describe('isJsonText agrees with JSON.parse', () => {
  it('on every JSON value, with any whitespace around it', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom('', ' ', '\n', '\t\r\n '), (v, ws) =>
        agrees(Buffer.from(ws + JSON.stringify(v, null, ws.length % 3) + ws)),
      ),
      { numRuns: 2000 },
    );
  });

  it("on texts built from the grammar's characters", () => {
    fc.assert(
      fc.property(grammarText, (t) => agrees(Buffer.from(t))),
      { numRuns: 20000 },
    );
  });

  it('on JSON texts with one character changed, inserted, or cut off', () => {
    fc.assert(
      fc.property(
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.nat(),
        grammarChar,
        fc.constantFrom('replace', 'insert', 'truncate'),
        (t, at, ch, how) => {
          const k = t.length === 0 ? 0 : at % t.length;
          const m =
            how === 'replace' ? t.slice(0, k) + ch + t.slice(k + 1) : how === 'insert' ? t.slice(0, k) + ch + t.slice(k) : t.slice(0, k);
          agrees(Buffer.from(m));
        },
      ),
      { numRuns: 20000 },
    );
  });

  it('on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => agrees(Buffer.from(b))),
      { numRuns: 5000 },
    );
  });

  it('on the edges: numbers, escapes, literals, nesting, control characters', () => {
    const cases = [
      '0',
      '-0',
      '01',
      '-',
      '1.',
      '.5',
      '1e',
      '1e+',
      '1E-7',
      '-1.5e10',
      '2.',
      '1.0e+0',
      'true',
      'tru',
      'truex',
      'nul',
      'null ',
      ' null',
      '""',
      '"\\u00e9"',
      '"\\u00g9"',
      '"\\x"',
      '"\\/"',
      '"\\',
      '"a\tb"',
      '"a\u007fb"',
      '"\u2028"',
      '{}',
      '[]',
      '{"a":}',
      '{"a"}',
      '{,}',
      '[,]',
      '[1,]',
      '{"a":1,}',
      '{"a":1 "b":2}',
      '[1 2]',
      '{"a":[{"b":{}}]}',
      '[[[[]]]]',
      '[[[[]]]',
      '{"a":1}}',
      '{"a":1}x',
      '',
      ' ',
      '\u00a0{}',
      '{}\u00a0',
      '['.repeat(3000) + ']'.repeat(3000),
      '['.repeat(3000) + ']'.repeat(2999),
      `{"n":${'9'.repeat(400)}}`,
    ];
    for (const c of cases) agrees(Buffer.from(c));
  });

  it('within a range of a larger buffer', () => {
    const b = Buffer.from('xx{"a":[1,2]}yy');
    expect(isJsonText(b, 2, 13)).toBe(true);
    expect(isJsonText(b, 2, 12)).toBe(false);
    expect(isJsonText(b, 1, 13)).toBe(false);
  });
});
