import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseRecordFilter } from './record-filter.js';

const match = (where: string, value: unknown, key: string | null = null, keyFilter?: string) =>
  parseRecordFilter(keyFilter, where)!.matches(key, value);

describe('record filters', () => {
  it('no key and no where means no filter', () => {
    expect(parseRecordFilter(undefined, undefined)).toBeNull();
    expect(parseRecordFilter('', '  ')).toBeNull();
  });

  it('compares numbers numerically and strings exactly', () => {
    expect(match('temperature>50', { temperature: 51 })).toBe(true);
    expect(match('temperature>50', { temperature: 50 })).toBe(false);
    expect(match('temperature>=50', { temperature: 50 })).toBe(true);
    expect(match('temperature<-1.5', { temperature: -2 })).toBe(true);
    expect(match('temperature>50', { temperature: '51' })).toBe(false);
    expect(match('status=alarm', { status: 'alarm' })).toBe(true);
    expect(match('status==alarm', { status: 'alarmed' })).toBe(false);
    expect(match('status!=ok', { status: 'alarm' })).toBe(true);
    expect(match('name="a, b"', { name: 'a, b' })).toBe(true);
    expect(match('active=true', { active: true })).toBe(true);
    expect(match('gone=null', { gone: null })).toBe(true);
  });

  it('follows dotted paths; a missing field never matches', () => {
    expect(match('site.zone=north', { site: { zone: 'north' } })).toBe(true);
    expect(match('site.zone=north', { site: 'north' })).toBe(false);
    expect(match('temperature>50', { other: 1 })).toBe(false);
    expect(match('status!=ok', {})).toBe(false);
    expect(match('temperature>50', undefined)).toBe(false);
    expect(match('temperature>50', [{ temperature: 60 }])).toBe(false);
    expect(match('__proto__=x', {})).toBe(false);
  });

  it('all predicates must hold, separated by , or &&', () => {
    expect(match('temp>50,status=alarm', { temp: 60, status: 'alarm' })).toBe(true);
    expect(match('temp>50 && status=alarm', { temp: 60, status: 'ok' })).toBe(false);
  });

  it('key filters compare the record key', () => {
    const f = parseRecordFilter('pump-7', undefined)!;
    expect(f.needsValue).toBe(false);
    expect(f.matches('pump-7', undefined)).toBe(true);
    expect(f.matches('pump-8', undefined)).toBe(false);
    expect(f.matches(null, undefined)).toBe(false);
  });

  it('equal filters have equal canonical text', () => {
    expect(parseRecordFilter(null, 'a == 1 && b=x')!.canonical).toBe(parseRecordFilter(undefined, 'a=1,b="x"')!.canonical);
    expect(parseRecordFilter(null, 'a=1')!.canonical).not.toBe(parseRecordFilter(null, 'a="1"')!.canonical);
  });

  it('refuses what it cannot read with INVALID_PARAMETER', () => {
    for (const bad of ['temperature', '>5', 'a=', 'a=1,,b=2', 'a="open', 'a~1', 'x'.repeat(600) + '=1', Array(20).fill('a=1').join(',')]) {
      expect(() => parseRecordFilter(null, bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_PARAMETER' }));
    }
  });

  it('never throws while matching, whatever the value', () => {
    const f = parseRecordFilter('k', 'a.b>1,c=x')!;
    fc.assert(
      fc.property(fc.jsonValue(), fc.option(fc.string()), (value, key) => {
        expect(typeof f.matches(key, value)).toBe('boolean');
      }),
    );
  });
});
