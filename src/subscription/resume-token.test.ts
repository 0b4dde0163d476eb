import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PositionVector, decodeResumeToken, encodeResumeToken } from './resume-token.js';

describe('resume tokens', () => {
  it('round-trip any offsets', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), { minLength: 1, maxLength: 200 }), (offsets) => {
        expect(decodeResumeToken(encodeResumeToken(offsets))).toEqual(offsets);
      }),
    );
  });

  it('are URL-safe and never all digits (so never mistaken for a timestamp)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: 1, maxLength: 50 }), (offsets) => {
        const t = encodeResumeToken(offsets);
        expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(t).not.toMatch(/^\d+$/);
      }),
    );
  });

  it('reject what the server did not write', () => {
    for (const bad of [
      '',
      'latest',
      '1732540000000',
      'djE6',
      Buffer.from('v1:1,x').toString('base64url'),
      Buffer.from('v2:1').toString('base64url'),
      'a b',
      '%%%',
    ]) {
      expect(decodeResumeToken(bad)).toBeUndefined();
    }
  });

  it('PositionVector gives each record the token of the position after it', () => {
    const v = new PositionVector([5, 0, 9]);
    expect(decodeResumeToken(v.token())).toEqual([5, 0, 9]);
    expect(decodeResumeToken(v.advance(1, 0))).toEqual([5, 1, 9]);
    expect(decodeResumeToken(v.advance(0, 5))).toEqual([6, 1, 9]);
    expect(v.copy()).toEqual([6, 1, 9]);
  });
});
