/**
 * `Idempotency-Key` on the ingest routes: a device that retries a request (its answer was lost, it timed
 * out) gets the first answer again instead of writing the records twice.
 *
 * Contract, per key (kept for SLUICE_IDEMPOTENCY_WINDOW_S from the first request):
 * - first request: processed; a success answer (200/202 with its offsets) is kept; a failure forgets the
 *   key, so a retry after a failure (retriable or not) is processed anew;
 * - same key, same fingerprint (route, topic, query string, body bytes) while the first is in flight: waits
 *   for it, then gets its answer (or, if it failed, is processed as a first request);
 * - same key, same fingerprint after it succeeded: the kept answer, nothing written;
 * - same key, another fingerprint: 422 IDEMPOTENCY_KEY_REUSED (while in flight, too).
 *
 * Memory is bounded by SLUICE_IDEMPOTENCY_MAX_KEYS and SLUICE_IDEMPOTENCY_MAX_BYTES: past either, the
 * oldest keys are evicted first (a Map keeps insertion order, and a key is inserted once). An evicted or
 * expired key is unknown: its retry is processed anew. There is one store per instance: on the thread
 * that serves HTTP, or with SLUICE_INGRESS_THREADS > 0 on the main thread, which the ingress threads ask
 * (thread-link.ts beside it). It catches retries that reach the same instance; the `idempotency-key`
 * Kafka header on every record lets consumers dedup the rest.
 */
import { createHash } from 'node:crypto';
import { SluiceError } from '../../errors.js';

/** What the client was answered. */
export interface KeptAnswer {
  status: number;
  body: string;
  records: number;
}

interface Entry {
  fingerprint: string;
  expiresAt: number;
  /** Set once the first request succeeded. */
  answer: KeptAnswer | null;
  /** Resolves when the first request settles (success or failure). */
  settled: Promise<void>;
  bytes: number;
}

/** Runs a request with an Idempotency-Key at most once per key: the store itself, or a thread's way to it. */
export interface Idempotency {
  run(key: string, fp: string, process: () => Promise<KeptAnswer>): Promise<KeptAnswer>;
}

export interface IdempotencyLimits {
  windowSeconds: number;
  maxKeys: number;
  maxBytes: number;
}

/** Keys are 1–255 visible ASCII characters (what Stripe and the IETF draft use: a UUID fits). */
const KEY = /^[\x21-\x7e]{1,255}$/;
/** Map entry, promise and strings: a rough per-key cost beyond the key and answer text. */
const ENTRY_OVERHEAD_BYTES = 200;

export function assertIdempotencyKey(key: string): void {
  if (!KEY.test(key)) throw new SluiceError('INVALID_PARAMETER', 'Idempotency-Key must be 1-255 visible ASCII characters (e.g. a UUID)');
}

/** The request as far as "the same request" goes. */
export function fingerprint(route: string, topic: string, query: string, body: Buffer): string {
  return createHash('sha256').update(route).update('\0').update(topic).update('\0').update(query).update('\0').update(body).digest('hex');
}

export class IdempotencyStore implements Idempotency {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly limits: IdempotencyLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get usedBytes(): number {
    return this.bytes;
  }

  /**
   * Runs `process` at most once per (key, fingerprint) at a time and replays its success answer within the
   * window. `process` rejects to fail the request (the key is then forgotten).
   */
  async run(key: string, fp: string, process: () => Promise<KeptAnswer>): Promise<KeptAnswer> {
    for (;;) {
      this.expire();
      const entry = this.entries.get(key);
      if (entry && entry.fingerprint !== fp) {
        throw new SluiceError(
          'IDEMPOTENCY_KEY_REUSED',
          'this Idempotency-Key was used for a different request (route, topic, parameters or body); use a new key for a new request',
        );
      }
      if (entry?.answer) return entry.answer;
      if (entry) {
        await entry.settled;
        continue; // succeeded: replay; failed: forgotten, so this request becomes the first
      }
      return this.first(key, fp, process);
    }
  }

  private async first(key: string, fp: string, process: () => Promise<KeptAnswer>): Promise<KeptAnswer> {
    let settle!: () => void;
    const entry: Entry = {
      fingerprint: fp,
      expiresAt: this.now() + this.limits.windowSeconds * 1000,
      answer: null,
      settled: new Promise<void>((r) => (settle = r)),
      bytes: ENTRY_OVERHEAD_BYTES + key.length * 2 + fp.length,
    };
    this.insert(key, entry);
    try {
      const answer = await process();
      if (this.entries.get(key) === entry) {
        entry.answer = answer;
        this.bytes += answer.body.length * 2;
        entry.bytes += answer.body.length * 2;
        this.evict();
      }
      return answer;
    } catch (err) {
      this.remove(key, entry);
      throw err;
    } finally {
      settle();
    }
  }

  private insert(key: string, entry: Entry): void {
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
    this.evict();
  }

  private remove(key: string, entry: Entry): void {
    if (this.entries.get(key) !== entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  /** Oldest first, until both bounds hold. An evicted in-flight request still answers its own waiters. */
  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.limits.maxKeys && this.bytes <= this.limits.maxBytes) return;
      this.remove(key, entry);
    }
  }

  /** Keys expire in insertion order (each gets the same window at insertion), so only the front is checked. */
  private expire(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) return;
      this.remove(key, entry);
    }
  }
}
