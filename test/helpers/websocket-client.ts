/** A WebSocket test client that records every frame and the close code. */
import WebSocket from 'ws';
import { Arrivals } from './arrivals.js';

export interface RecordingSocket {
  ws: WebSocket;
  frames: string[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `n` frames have arrived. */
  waitForFrames(n: number, timeoutMs?: number): Promise<string[]>;
}

export async function connect(url: string): Promise<RecordingSocket> {
  const ws = new WebSocket(url);
  const arrivals = new Arrivals<string>((f) => f, 'frames');
  const frames = arrivals.items;
  ws.on('message', (data) => arrivals.push(data.toString()));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body })));
    });
  });
  return {
    ws,
    frames,
    closed,
    waitForFrames: (n, timeoutMs) => arrivals.waitFor(n, timeoutMs),
  };
}

/** How an upgrade ended: 101 when it opened (the socket is closed again), else the refusal's status, error code and `limit`. */
export async function upgradeOutcome(url: string): Promise<{ status: number; code?: string; limit?: string }> {
  try {
    const s = await connect(url);
    s.ws.close();
    return { status: 101 };
  } catch (e) {
    const { status, body } = e as { status: number; body: string };
    const { error } = JSON.parse(body) as { error: { code: string; limit?: string } };
    return { status, code: error.code, ...(error.limit ? { limit: error.limit } : {}) };
  }
}
