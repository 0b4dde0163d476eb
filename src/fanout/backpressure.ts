/**
 * Flow control between the registry and this thread's sockets, and the one bound on a subscriber's memory:
 *   - Acks: a delivery with an ack id (replays, group members) is acknowledged at once while the socket's
 *     buffer is under a quarter of the limit, else held until it drains (`drained`), so a replay reads on only
 *     as fast as its subscriber takes it. A closing connection gives its held acks back as not handed.
 *   - Slow close: a subscriber whose buffer passes `SLUICE_WS_MAX_BACKPRESSURE_BYTES` is closed as too slow
 *     (WebSocket 4008, SSE `event: error` TOO_SLOW) and may resume from its last token. SSE streams and
 *     deliveries are checked at each write; WebSockets fed by uWS pub/sub give no per-socket result, so they
 *     are swept a few times a second after a publish.
 */
import type { Logger } from 'pino';
import { CLOSE_TOO_SLOW, type FanoutGate, type SubscriberTransport } from '../subscription/protocol.js';
import { bufferedBytes, truncateReason, type Connection, type EndConnection } from './connection.js';

const SWEEP_INTERVAL_MS = 100;

export class Backpressure {
  private slowDrops: Record<SubscriberTransport, number> = { websocket: 0, sse: 0, 'seed-websocket': 0 };
  private sweepScheduled = false;

  constructor(
    private readonly gate: FanoutGate,
    private readonly maxBufferedBytes: number,
    private readonly end: EndConnection,
    private readonly log: Logger,
  ) {}

  /** After frames were written to one subscriber: acknowledge, hold the ack, or close it as too slow. */
  delivered(c: Connection, sub: number, ackId: number): void {
    const buffered = bufferedBytes(c);
    if (buffered > this.maxBufferedBytes) {
      if (ackId) this.gate.ack(sub, ackId, true);
      return this.closeSlow(c, 'send buffer full');
    }
    if (!ackId) return;
    if (buffered <= this.maxBufferedBytes / 4) this.gate.ack(sub, ackId, true);
    else c.heldAcks.push([sub, ackId]);
  }

  /** After a channel's frames were written to an SSE stream. */
  written(c: Connection): void {
    if (bufferedBytes(c) > this.maxBufferedBytes) this.closeSlow(c, 'send buffer full');
  }

  /** The socket took what it held: release the held acks once it is down to a quarter of the limit. */
  drained(c: Connection): void {
    if (c.closed || c.heldAcks.length === 0 || bufferedBytes(c) > this.maxBufferedBytes / 4) return;
    for (const [sub, ackId] of c.heldAcks.splice(0)) this.gate.ack(sub, ackId, true);
  }

  /** The connection closed: its held deliveries were not handed to the socket. */
  release(c: Connection): void {
    for (const [sub, ackId] of c.heldAcks.splice(0)) this.gate.ack(sub, ackId, false);
  }

  closeSlow(c: Connection, why: string): void {
    if (c.closed) return;
    this.slowDrops[c.transport]++;
    const reason = truncateReason(`too slow: ${why}; reconnect with from=<last token>`);
    this.log.info({ transport: c.transport, topics: [...c.subs.keys()] }, 'closing a slow subscriber');
    this.end(c, CLOSE_TOO_SLOW, { code: 'TOO_SLOW', message: reason });
  }

  /** WebSockets fed by publish are checked against the limit a few times a second (uWS gives no per-socket result). */
  scheduleSweep(connections: ReadonlySet<Connection>): void {
    if (this.sweepScheduled) return;
    this.sweepScheduled = true;
    setTimeout(() => {
      this.sweepScheduled = false;
      for (const c of connections) {
        if (c.kind === 'ws' && !c.closed && c.socket.getBufferedAmount() > this.maxBufferedBytes) this.closeSlow(c, 'send buffer full');
      }
    }, SWEEP_INTERVAL_MS).unref();
  }

  /** Slow-subscriber closes since the last call (null if none), for metrics. */
  takeSlowDrops(): Record<SubscriberTransport, number> | null {
    const d = this.slowDrops;
    if (d.websocket + d.sse + d['seed-websocket'] === 0) return null;
    this.slowDrops = { websocket: 0, sse: 0, 'seed-websocket': 0 };
    return d;
  }
}
