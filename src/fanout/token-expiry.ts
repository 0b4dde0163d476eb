/**
 * A connection admitted with a subscription token is closed when the token expires: a WebSocket with 4001,
 * an SSE stream with an `error` event `TOKEN_EXPIRED`. The client reconnects with a new token and resumes
 * from its last resume token. The timer belongs to the connection: the hub's close bookkeeping clears it
 * (`stopExpiry`), from whatever state, so a connection that left never fires it.
 */
import type { PlainError } from '../errors.js';
import { CLOSE_TOKEN_EXPIRED } from '../http/credentials/subscription-tokens.js';
import type { Connection, EndConnection } from './connection.js';

const EXPIRED: PlainError = {
  code: 'TOKEN_EXPIRED',
  message: 'TOKEN_EXPIRED: the subscription token has expired; reconnect with a new token and from=<last token>',
};

/** Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer wait would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function watchExpiry(conn: Connection, end: EndConnection): void {
  const at = conn.creds.grant?.expiresAtMs;
  if (at === undefined) return;
  conn.expiry = setTimeout(
    () => {
      if (!conn.closed) end(conn, CLOSE_TOKEN_EXPIRED, EXPIRED);
    },
    Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS),
  );
  conn.expiry.unref();
}

export function stopExpiry(conn: Connection): void {
  clearTimeout(conn.expiry);
}
