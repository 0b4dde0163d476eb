import { describe, expect, it } from 'vitest';
import { IdempotencyStore, assertIdempotencyKey, fingerprint, type KeptAnswer } from './store.js';
import { SluiceError } from '../../errors.js';

const answer = (body = '{"count":1}'): KeptAnswer => ({ status: 200, body, records: 1 });
const limits = { windowSeconds: 60, maxKeys: 1000, maxBytes: 1024 * 1024 };

describe('IdempotencyStore', () => {
  it('runs the first request once and replays its answer to a retry with the same fingerprint', async () => {
    const store = new IdempotencyStore(limits);
    let runs = 0;
    const process = async () => (runs++, answer(`{"n":${runs}}`));
    expect(await store.run('k', 'fp', process)).toEqual(answer('{"n":1}'));
    expect(await store.run('k', 'fp', process)).toEqual(answer('{"n":1}'));
    expect(runs).toBe(1);
  });

  it('refuses the same key with another fingerprint, in flight and after', async () => {
    const store = new IdempotencyStore(limits);
    let release!: () => void;
    const first = store.run('k', 'a', () => new Promise<KeptAnswer>((r) => (release = () => r(answer()))));
    await expect(store.run('k', 'b', async () => answer())).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 422 });
    release();
    await first;
    await expect(store.run('k', 'b', async () => answer())).rejects.toBeInstanceOf(SluiceError);
  });

  it('a retry while the first is in flight waits for it and gets its answer', async () => {
    const store = new IdempotencyStore(limits);
    let release!: () => void;
    let runs = 0;
    const first = store.run('k', 'fp', () => (runs++, new Promise<KeptAnswer>((r) => (release = () => r(answer('{"first":true}'))))));
    const retry = store.run('k', 'fp', async () => (runs++, answer('{"second":true}')));
    await Promise.resolve();
    release();
    expect(await first).toEqual(answer('{"first":true}'));
    expect(await retry).toEqual(answer('{"first":true}'));
    expect(runs).toBe(1);
  });

  it('a failed first request is forgotten: a waiting retry and a later one are processed anew', async () => {
    const store = new IdempotencyStore(limits);
    let reject!: (e: Error) => void;
    const first = store.run('k', 'fp', () => new Promise<KeptAnswer>((_, r) => (reject = r)));
    let runs = 0;
    const retry = store.run('k', 'fp', async () => (runs++, answer('{"retry":1}')));
    reject(new SluiceError('QUEUE_FULL', 'full'));
    await expect(first).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    expect(await retry).toEqual(answer('{"retry":1}'));
    expect(runs).toBe(1);
    expect(store.size).toBe(1);
  });

  it('forgets keys after the window', async () => {
    let now = 0;
    const store = new IdempotencyStore({ ...limits, windowSeconds: 10 }, () => now);
    let runs = 0;
    await store.run('k', 'fp', async () => (runs++, answer()));
    now = 9_999;
    await store.run('k', 'fp', async () => (runs++, answer()));
    expect(runs).toBe(1);
    now = 10_000;
    await store.run('k', 'other', async () => (runs++, answer()));
    expect(runs).toBe(2);
  });

  it('evicts the oldest keys first past the count and byte bounds', async () => {
    const store = new IdempotencyStore({ ...limits, maxKeys: 3 });
    for (const k of ['a', 'b', 'c', 'd']) await store.run(k, 'fp', async () => answer());
    expect(store.size).toBe(3);
    let runs = 0;
    await store.run('a', 'fp', async () => (runs++, answer())); // evicted: processed anew (and evicts b)
    await store.run('d', 'fp', async () => (runs++, answer())); // kept
    expect(runs).toBe(1);

    const small = new IdempotencyStore({ ...limits, maxBytes: 2048 });
    for (let i = 0; i < 50; i++) await small.run(`key-${i}`, 'fp', async () => answer('x'.repeat(100)));
    expect(small.usedBytes).toBeLessThanOrEqual(2048);
    expect(small.size).toBeGreaterThan(0);
    expect(small.size).toBeLessThan(50);
  });
});

describe('keys and fingerprints', () => {
  it('accepts 1-255 visible ASCII characters', () => {
    expect(() => assertIdempotencyKey('5f0c1e6a-8d7b-4a7e-9d3c-2b1f0e9a8c7d')).not.toThrow();
    for (const bad of ['', 'a b', 'é', 'x'.repeat(256)]) expect(() => assertIdempotencyKey(bad)).toThrow(/Idempotency-Key/);
  });

  it('differ by route, topic, query and body', () => {
    const base = fingerprint('topics', 't', 'key=a', Buffer.from('{}'));
    expect(fingerprint('topics', 't', 'key=a', Buffer.from('{}'))).toBe(base);
    for (const other of [
      fingerprint('send', 't', 'key=a', Buffer.from('{}')),
      fingerprint('topics', 'u', 'key=a', Buffer.from('{}')),
      fingerprint('topics', 't', 'key=b', Buffer.from('{}')),
      fingerprint('topics', 't', 'key=a', Buffer.from('{ }')),
    ])
      expect(other).not.toBe(base);
  });
});
