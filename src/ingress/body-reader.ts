/**
 * Reads a request body from uWS with the size limit enforced while reading: a declared Content-Length over
 * the limit is refused before any byte is read, and an undeclared body is refused as soon as the running
 * count passes the limit. uWS detaches each chunk after the callback, so every chunk is copied, into one
 * buffer sized from Content-Length when it is known.
 *
 * All bodies being read at once share one budget (`SLUICE_MAX_READING_BYTES`, split across ingress
 * threads): many slow or large uploads together get 503 instead of growing memory without bound. The
 * budget counts bytes actually received, not declared lengths: reserving a Content-Length up front let
 * a few hundred connections that declare 1 MiB and then send nothing (slowloris) hold the whole budget
 * and get every other upload refused until uWS's idle timeout closed them. A declared length still
 * gets 503 up front when it cannot fit beside the bytes in hand. One `ReadingBudget` is built per uWS app
 * (per thread) with that thread's share and handed to the ingest routes.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { SluiceError } from '../errors.js';
import { bodyTooLarge } from '../decode/body-limit.js';

function overloaded(): SluiceError {
  return new SluiceError('OVERLOADED', 'the gateway is reading too many request bodies at once; nothing was queued', {
    limit: 'SLUICE_MAX_READING_BYTES',
  });
}

export interface BodyRead {
  /** The client went away: give the budget back and ignore further data. */
  cancel(): void;
}

/** The bodies being read at once on this thread, against this thread's share of SLUICE_MAX_READING_BYTES. */
export class ReadingBudget {
  /** Bytes of bodies not yet fully read, held by the requests reading them. */
  private reading = 0;

  constructor(private readonly budgetBytes: number) {}

  /**
   * Must be called synchronously in the route handler. Calls exactly one of `done` or `fail`, unless the
   * client aborts first (then the caller calls `cancel`); `fail` says whether the answer should close the
   * connection.
   */
  readBody(
    res: HttpResponse,
    maxBytes: number,
    declaredLength: number,
    done: (body: Buffer) => void,
    fail: (err: SluiceError, closeConnection: boolean) => void,
  ): BodyRead {
    let finished = false;
    // Bytes of the budget this request holds: what arrived so far.
    let held = 0;
    const finish = () => {
      finished = true;
      this.reading -= held;
      held = 0;
    };
    if (declaredLength > maxBytes) {
      // Nothing to gain from receiving a body already known to be too large: answer and close.
      fail(bodyTooLarge(maxBytes), true);
      return { cancel: () => {} };
    }
    if (declaredLength > 0 && this.reading + declaredLength > this.budgetBytes) {
      fail(overloaded(), true);
      return { cancel: () => {} };
    }
    // Allocated at the first chunk, so a connection that never sends its body costs nothing.
    let whole: Buffer | null = null;
    let chunks: Buffer[] | null = null;
    let received = 0;
    res.onData((chunk, isLast) => {
      if (finished) return;
      const n = chunk.byteLength;
      if (received + n > maxBytes || this.reading + n > this.budgetBytes) {
        // Answer at once but keep the connection: closing with unread upload data makes the kernel send a
        // reset, and the client would see "connection reset" instead of the answer. The rest of the body
        // is discarded by uWS as it arrives, never buffered.
        finish();
        fail(received + n > maxBytes ? bodyTooLarge(maxBytes) : overloaded(), false);
        return;
      }
      held += n;
      this.reading += n;
      if (received === 0 && declaredLength > 0) whole = Buffer.allocUnsafe(declaredLength);
      if (whole && received + n <= whole.length) {
        whole.set(new Uint8Array(chunk), received);
      } else {
        if (whole) {
          chunks = [whole.subarray(0, received)];
          whole = null;
        }
        (chunks ??= []).push(Buffer.from(chunk.slice(0)));
      }
      received += n;
      if (isLast) {
        finish();
        done(whole ? whole.subarray(0, received) : Buffer.concat(chunks ?? [], received));
      }
    });
    return { cancel: () => finished || finish() };
  }
}
