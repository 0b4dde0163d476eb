/**
 * Reads a request body from uWS with the size limit enforced while reading: a declared Content-Length over
 * the limit is refused before any byte is read, and an undeclared body is refused as soon as the running
 * count passes the limit. uWS detaches each chunk after the callback, so every chunk is copied, into one
 * buffer sized from Content-Length when it is known.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { SluiceError } from '../errors.js';
import { bodyTooLarge } from '../decode/body-limit.js';

/**
 * Must be called synchronously in the route handler. Calls exactly one of `done` or `fail`, unless the
 * client aborts first; `fail` says whether the answer should close the connection.
 */
export function readBody(
  res: HttpResponse,
  maxBytes: number,
  declaredLength: number,
  done: (body: Buffer) => void,
  fail: (err: SluiceError, closeConnection: boolean) => void,
): void {
  if (declaredLength > maxBytes) {
    // Nothing to gain from receiving a body already known to be too large: answer and close.
    fail(bodyTooLarge(maxBytes), true);
    return;
  }
  let whole = declaredLength >= 0 ? Buffer.allocUnsafe(declaredLength) : null;
  let chunks: Buffer[] | null = null;
  let received = 0;
  let finished = false;
  res.onData((chunk, isLast) => {
    if (finished) return;
    const n = chunk.byteLength;
    if (received + n > maxBytes) {
      // Answer at once but keep the connection: closing with unread upload data makes the kernel send a
      // reset, and the client would see "connection reset" instead of the 413. The rest of the body is
      // discarded by uWS as it arrives, never buffered.
      finished = true;
      fail(bodyTooLarge(maxBytes), false);
      return;
    }
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
      finished = true;
      done(whole ? whole.subarray(0, received) : Buffer.concat(chunks ?? [], received));
    }
  });
}
