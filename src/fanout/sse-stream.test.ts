import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSse } from '../../test/helpers/sse-parse.js';
import { sseData, sseRecords } from './sse-stream.js';

/** What an EventSource gives back for a frame: SSE turns every CR and CRLF into LF. */
const asParsed = (frame: string) => frame.replace(/\r\n?/g, '\n');

/** Text rich in what ends SSE fields and events: CR, LF, CRLF, blank lines, leading spaces, colons, U+2028/2029. */
const awkwardText = fc
  .array(
    fc.constantFrom('\r', '\n', '\r\n', '\n\n', '\r\r', ' ', '  ', ':', 'data: x', '\u2028', '\u2029', '{', '"a":1', 'é', '\0', 'id: 9'),
    {
      maxLength: 24,
    },
  )
  .map((parts) => parts.join(''));

/** Splits a stream text into pieces at arbitrary points (a CRLF may be cut in two, as TCP may). */
const cut = (text: string, points: number[]) => {
  const at = [...new Set(points.map((p) => p % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let last = 0;
  for (const p of at) {
    pieces.push(text.slice(last, p));
    last = p;
  }
  pieces.push(text.slice(last));
  return pieces;
};

describe('SSE text of frames', () => {
  it('a frame without line breaks is one data line, unchanged (the fast path)', () => {
    expect(sseData('{"a":1}')).toBe('data: {"a":1}\n');
    expect(sseRecords(['{"a":1}', ' {"b":2}'], ['t1', 't2'])).toBe('id: t1\ndata: {"a":1}\n\nid: t2\ndata:  {"b":2}\n\n');
  });

  it('the pretty-printed record of the issue is one event whose JSON is the value', () => {
    const frame = '{"topic":"t","value":{\n  "a": 1,\n\n  "b": "x"\n},"token":"tk"}';
    const events = parseSse([sseRecords([frame], ['tk'])]);
    expect(events).toHaveLength(1);
    expect(events[0].id).toBe('tk');
    expect(JSON.parse(events[0].data)).toEqual({ topic: 't', value: { a: 1, b: 'x' }, token: 'tk' });
  });

  it('any frames: one event each, data equal to the frame up to CR/CRLF → LF, ids kept, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(awkwardText, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 8 }),
        (frames, withTokens, points) => {
          const tokens = withTokens ? frames.map((_, i) => `tok${i}`) : null;
          const events = parseSse(cut(sseRecords(frames, tokens), points));
          expect(events.map((e) => e.data)).toEqual(frames.map(asParsed));
          expect(events.map((e) => e.event)).toEqual(frames.map(() => 'message'));
          if (tokens) expect(events.map((e) => e.id)).toEqual(tokens);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('JSON values with line breaks of every kind between tokens parse to the same value', () => {
    const breaks = fc.constantFrom('\n', '\r\n', '\r', '\n\n', '\r\n\r\n', ' \n ', '\u2028');
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.array(breaks, { minLength: 1, maxLength: 8 }), (value, seps) => {
        // Pretty-print, then swap each LF between tokens for another line break (inside strings JSON escapes them).
        let i = 0;
        const pretty = JSON.stringify(value, null, 2).replace(/\n/g, () => seps[i++ % seps.length].replace('\u2028', '\n'));
        const frame = `{"topic":"t","value":${pretty},"text":"\u2028\u2029"}`;
        const events = parseSse([sseRecords([frame], null)]);
        expect(events).toHaveLength(1);
        expect(JSON.parse(events[0].data)).toEqual(JSON.parse(frame));
      }),
      { numRuns: 300 },
    );
  });
});
