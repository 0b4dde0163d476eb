import { describe, expect, it } from 'vitest';
import { readControlMessage, readSubscribeOptions } from './subscribe-options.js';
import { encodeResumeToken } from './resume-token.js';

const q = (params: Record<string, string>) => (name: string) => params[name];

describe('subscribe options', () => {
  it('default to latest with no filter and no group', () => {
    expect(readSubscribeOptions('t', q({}))).toEqual({
      topic: 't',
      from: { kind: 'latest' },
      key: null,
      where: null,
      group: null,
      style: 'record',
    });
  });

  it('read frames=record (the default) and frames=batch, with every other option', () => {
    expect(readSubscribeOptions('t', q({ frames: 'record' })).style).toBe('record');
    expect(readSubscribeOptions('t', q({ frames: 'batch', group: 'g', from: 'earliest' }))).toMatchObject({ style: 'batch', group: 'g' });
    expect(readControlMessage('{"op":"subscribe","topic":"a","frames":"batch"}')).toMatchObject({ options: { style: 'batch' } });
    // With the live views' options: style comes back beside snapshotMs / view.
    expect(readSubscribeOptions('t', q({ frames: 'batch', snapshot: '1h' }))).toMatchObject({ style: 'batch', snapshotMs: 3_600_000 });
    expect(readSubscribeOptions('t', q({ frames: 'batch', window: '10s', agg: 'count()' }))).toMatchObject({
      style: 'batch',
      view: { window: '10s', agg: 'count()' },
    });
    expect(readSubscribeOptions('t', q({ window: '10s' })).style).toBe('record');
  });

  it('read earliest, timestamps and resume tokens', () => {
    expect(readSubscribeOptions('t', q({ from: 'earliest' })).from).toEqual({ kind: 'earliest' });
    expect(readSubscribeOptions('t', q({ from: '1732540000000' })).from).toEqual({ kind: 'time', timestampMs: 1732540000000 });
    const token = encodeResumeToken([3, 0, 7]);
    expect(readSubscribeOptions('t', q({ from: token })).from).toEqual({ kind: 'token', offsets: [3, 0, 7] });
  });

  it('take Last-Event-ID (SSE) when from is absent, and from when both are given', () => {
    const token = encodeResumeToken([1, 2]);
    expect(readSubscribeOptions('t', q({}), token).from).toEqual({ kind: 'token', offsets: [1, 2] });
    expect(readSubscribeOptions('t', q({ from: 'earliest' }), token).from).toEqual({ kind: 'earliest' });
  });

  it('refuse bad values with INVALID_PARAMETER naming the option', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ from: 'yesterday' }, /from must be/],
      [{ where: 'temp' }, /where/],
      [{ group: 'no spaces' }, /group/],
      [{ group: 'g', from: '1732540000000' }, /committed offsets/],
      [{ group: 'g', where: 'a=1' }, /not available with group/],
      [{ key: 'k'.repeat(2000) }, /key is longer/],
      [{ frames: 'batches' }, /frames must be record .* or batch/],
    ];
    for (const [params, message] of cases) {
      expect(() => readSubscribeOptions('t', q(params))).toThrow(
        expect.objectContaining({ code: 'INVALID_PARAMETER', message: expect.stringMatching(message) }),
      );
    }
    expect(() => readSubscribeOptions('bad*topic', q({}))).toThrow(expect.objectContaining({ code: 'INVALID_TOPIC' }));
  });
});

describe('control messages', () => {
  it('read subscribe and unsubscribe', () => {
    expect(readControlMessage('{"op":"subscribe","topic":"a","from":"earliest","where":"x>1"}')).toEqual({
      op: 'subscribe',
      options: { topic: 'a', from: { kind: 'earliest' }, key: null, where: 'x>1', group: null, style: 'record' },
    });
    expect(readControlMessage('{"op":"subscribe","topic":"a","from":1732540000000}')).toMatchObject({
      options: { from: { kind: 'time', timestampMs: 1732540000000 } },
    });
    expect(readControlMessage('{"op":"unsubscribe","topic":"a"}')).toEqual({ op: 'unsubscribe', topic: 'a' });
  });

  it('refuse malformed ones with a code', () => {
    expect(() => readControlMessage('{"op":')).toThrow(expect.objectContaining({ code: 'INVALID_JSON' }));
    for (const bad of [
      '[]',
      '"x"',
      '{"op":"subscribe"}',
      '{"op":"dance","topic":"a"}',
      '{"op":"subscribe","topic":"a","key":5}',
      '{"op":"subscribe","topic":"a","from":"never"}',
      '{"op":"subscribe","topic":"a","frames":1}',
    ]) {
      expect(() => readControlMessage(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_PARAMETER' }));
    }
    expect(() => readControlMessage('{"op":"subscribe","topic":"a b"}')).toThrow(expect.objectContaining({ code: 'INVALID_TOPIC' }));
  });
});
