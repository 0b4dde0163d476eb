/** A WebSocket test client that records every frame and the close code. */
import WebSocket from 'ws';

export interface RecordingSocket {
  ws: WebSocket;
  frames: string[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `n` frames have arrived. */
  waitForFrames(n: number, timeoutMs?: number): Promise<string[]>;
}

export async function connect(url: string): Promise<RecordingSocket> {
  const ws = new WebSocket(url);
  const frames: string[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    frames.push(data.toString());
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
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
    waitForFrames(n, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${frames.length} of ${n} frames: ${frames.slice(-3).join(' | ')}`)), timeoutMs);
        const check = () => {
          if (frames.length >= n) {
            clearTimeout(timer);
            resolve(frames.slice(0, n));
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}
