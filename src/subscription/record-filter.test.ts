import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { joinKeyList, parseKeyList, parseRecordFilter, splitKeyList, valueIndexKey } from './record-filter.js';

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

describe('multi-key filters', () => {
  it('key=a,b,c selects any of the keys; order and repeats do not change the filter', () => {
    const f = parseRecordFilter('pump-2,pump-1,pump-2', null)!;
    expect(f.keys).toEqual(['pump-1', 'pump-2']);
    expect(f.canonical).toBe(parseRecordFilter('pump-1,pump-2', null)!.canonical);
    expect(f.matches('pump-1', null)).toBe(true);
    expect(f.matches('pump-2', null)).toBe(true);
    expect(f.matches('pump-3', null)).toBe(false);
    expect(f.matches(null, null)).toBe(false);
    // One key keeps the canonical text it always had.
    expect(parseRecordFilter('k', null)!.canonical).toBe('key="k"');
  });

  it('a comma in a key is written \\, and round-trips through joinKeyList', () => {
    expect(splitKeyList('a\\,b,c\\\\,d')).toEqual(['a,b', 'c\\', 'd']);
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 5 }), (keys) => {
        expect(splitKeyList(joinKeyList(keys))).toEqual(keys);
      }),
    );
  });

  it('refuses an empty entry and more keys than the bound', () => {
    expect(() => parseRecordFilter('a,,b', null)).toThrow(/empty entry/);
    expect(() => parseKeyList('a,b,c', 2)).toThrow(/3 keys; at most 2/);
  });

  it('indexes the first field=value predicate when there is no key', () => {
    expect(parseRecordFilter(null, 'n>1,site.zone=north')!.index).toMatchObject({ pathText: 'site.zone', valueKey: 'snorth' });
    expect(parseRecordFilter('k', 'site=x')!.index).toBeNull();
    expect(parseRecordFilter(null, 'n>1')!.index).toBeNull();
    expect(valueIndexKey(1)).toBe(valueIndexKey(1.0));
    expect(valueIndexKey('1')).not.toBe(valueIndexKey(1));
    expect(valueIndexKey({})).toBeUndefined();
  });
});
