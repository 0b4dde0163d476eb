import { describe, expect, it } from 'vitest';
import { IdempotencyHost, RemoteIdempotency, type IdempotencyToWorker } from './thread-link.js';
import { IdempotencyStore, type KeptAnswer } from './store.js';

/** One host and `n` workers, their messages delivered a turn later as postMessage would. */
function instance(n: number) {
  const host = new IdempotencyHost(new IdempotencyStore({ windowSeconds: 60, maxKeys: 100, maxBytes: 1 << 20 }));
  const workers: RemoteIdempotency[] = [];
  for (let i = 0; i < n; i++) {
    const reply = (msg: IdempotencyToWorker) => setImmediate(() => workers[i].onVerdict(msg));
    workers.push(new RemoteIdempotency((msg) => setImmediate(() => host.onMessage(i, msg, reply))));
  }
  return { host, workers };
}

const answer = (body: string): KeptAnswer => ({ status: 200, body, records: 1 });
const deferred = () => {
  let resolve!: (a: KeptAnswer) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<KeptAnswer>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};

describe('one Idempotency-Key store for all ingress threads', () => {
  it('a retry on another thread gets the first answer and does not run', async () => {
    const {
      host,
      workers: [a, b],
    } = instance(2);
    let runs = 0;
    const process = async () => answer(`first-${++runs}`);
    expect(await a.run('k', 'fp', process)).toEqual(answer('first-1'));
    expect(await b.run('k', 'fp', process)).toEqual(answer('first-1'));
    expect(runs).toBe(1);
    expect(host.size).toEqual({ keys: 1, leases: 0 });
  });

  it('a retry while the first is in flight on another thread waits for it; a different request is refused', async () => {
    const {
      workers: [a, b],
    } = instance(2);
    const first = deferred();
    const p1 = a.run('k', 'fp', () => first.promise);
    await new Promise((r) => setTimeout(r, 10));
    let retried = false;
    const p2 = b.run('k', 'fp', async () => ((retried = true), answer('retry')));
    await expect(b.run('k', 'other', async () => answer('x'))).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    first.resolve(answer('first'));
    expect(await p1).toEqual(answer('first'));
    expect(await p2).toEqual(answer('first'));
    expect(retried).toBe(false);
  });

  it('a failed first is forgotten: the waiting retry on another thread runs instead', async () => {
    const {
      host,
      workers: [a, b],
    } = instance(2);
    const first = deferred();
    const p1 = a.run('k', 'fp', () => first.promise);
    await new Promise((r) => setTimeout(r, 10));
    const p2 = b.run('k', 'fp', async () => answer('retry'));
    first.reject(new Error('QUEUE_FULL'));
    await expect(p1).rejects.toThrow('QUEUE_FULL');
    expect(await p2).toEqual(answer('retry'));
    await new Promise((r) => setTimeout(r, 10)); // its settle message
    expect(host.size).toEqual({ keys: 1, leases: 0 });
  });

  it('a thread that ends holding a lease gives it up: the key is forgotten and a retry runs', async () => {
    const {
      host,
      workers: [a, b],
    } = instance(2);
    void a.run('k', 'fp', () => new Promise(() => {})); // never settles: its thread died
    await new Promise((r) => setTimeout(r, 10));
    expect(host.size.leases).toBe(1);
    host.workerEnded(0);
    await new Promise((r) => setTimeout(r, 10));
    expect(host.size).toEqual({ keys: 0, leases: 0 });
    expect(await b.run('k', 'fp', async () => answer('retry'))).toEqual(answer('retry'));
  });
});
