/**
 * One Idempotency-Key store per instance when ingress runs in worker threads (SLUICE_INGRESS_THREADS > 0).
 * The kernel spreads connections over the threads, so a retry on a new connection may reach another thread
 * than the first request: the store (store.ts beside it) lives on the main thread, and each worker
 * asks it about a key before processing a request that carries one.
 *
 * The exchange, per request with the header (requests without it never reach this module and pay nothing):
 *   worker → main  `idempotency-begin {id, key, fp}`
 *   main → worker  `idempotency-verdict {id, verdict}`: `{lease}` (process it: you are the first, or the
 *                  first failed), `{answer}` (the first's answer: send it, write nothing) or `{error}`
 *                  (IDEMPOTENCY_KEY_REUSED). A retry while the first is in flight gets its verdict only once
 *                  the first settled, from whichever thread that runs on.
 *   worker → main  `idempotency-settle {lease, answer}` once the leased request succeeded (its answer is
 *                  kept) or failed (`answer: null`: the key is forgotten, a waiting retry becomes the first).
 * A worker that ends holding leases fails them, so their keys do not stay in flight forever.
 * What this costs a request with the header: one message each way to the main thread, plus one after it.
 */
import { fromPlainError, toPlainError, SluiceError, type PlainError } from '../../errors.js';
import type { Idempotency, IdempotencyStore, KeptAnswer } from './store.js';

export type IdempotencyVerdict = { lease: number } | { answer: KeptAnswer } | { error: PlainError };

export type IdempotencyToMain =
  | { type: 'idempotency-begin'; id: number; key: string; fp: string }
  | { type: 'idempotency-settle'; lease: number; answer: KeptAnswer | null };
export type IdempotencyToWorker = { type: 'idempotency-verdict'; id: number; verdict: IdempotencyVerdict };

/** Worker side: the store as ingest routes see it, answered by the main thread. */
export class RemoteIdempotency implements Idempotency {
  private nextId = 1;
  private readonly waiting = new Map<number, (v: IdempotencyVerdict) => void>();

  constructor(private readonly post: (msg: IdempotencyToMain) => void) {}

  async run(key: string, fp: string, process: () => Promise<KeptAnswer>): Promise<KeptAnswer> {
    const id = this.nextId++;
    const verdict = await new Promise<IdempotencyVerdict>((resolve) => {
      this.waiting.set(id, resolve);
      this.post({ type: 'idempotency-begin', id, key, fp });
    });
    if ('answer' in verdict) return verdict.answer;
    if ('error' in verdict) throw fromPlainError(verdict.error);
    let answer: KeptAnswer | null = null;
    try {
      answer = await process();
      return answer;
    } finally {
      this.post({ type: 'idempotency-settle', lease: verdict.lease, answer });
    }
  }

  onVerdict(msg: IdempotencyToWorker): void {
    const resolve = this.waiting.get(msg.id);
    this.waiting.delete(msg.id);
    resolve?.(msg.verdict);
  }
}

interface Lease {
  worker: number;
  settle: (answer: KeptAnswer | null) => void;
}

/** Main-thread side: the instance's one store, serving every worker. */
export class IdempotencyHost {
  private readonly leases = new Map<number, Lease>();
  private nextLease = 1;

  /** `store`: the instance's one store, built by the main thread's composition root. */
  constructor(private readonly store: IdempotencyStore) {}

  /** Keys in the store and leases held (for tests and metrics). */
  get size(): { keys: number; leases: number } {
    return { keys: this.store.size, leases: this.leases.size };
  }

  onMessage(worker: number, msg: IdempotencyToMain, reply: (msg: IdempotencyToWorker) => void): void {
    if (msg.type === 'idempotency-settle') {
      const lease = this.leases.get(msg.lease);
      this.leases.delete(msg.lease);
      lease?.settle(msg.answer);
      return;
    }
    const { id, key, fp } = msg;
    // The store runs "process" when this request is (or becomes) the first: that is the worker processing it.
    let leased = false;
    this.store
      .run(
        key,
        fp,
        () =>
          new Promise<KeptAnswer>((resolve, reject) => {
            leased = true;
            const lease = this.nextLease++;
            this.leases.set(lease, {
              worker,
              settle: (answer) => (answer ? resolve(answer) : reject(new SluiceError('INTERNAL', 'the first request failed'))),
            });
            reply({ type: 'idempotency-verdict', id, verdict: { lease } });
          }),
      )
      .then(
        (answer) => leased || reply({ type: 'idempotency-verdict', id, verdict: { answer } }),
        // A leased request's failure was its worker's to answer; anything else (IDEMPOTENCY_KEY_REUSED) is the verdict.
        (err: unknown) => leased || reply({ type: 'idempotency-verdict', id, verdict: { error: toPlainError(err) } }),
      );
  }

  /** The worker's thread ended: the requests it held failed (their keys are forgotten). */
  workerEnded(worker: number): void {
    for (const [id, lease] of [...this.leases]) {
      if (lease.worker !== worker) continue;
      this.leases.delete(id);
      lease.settle(null);
    }
  }
}
