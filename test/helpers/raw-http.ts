/**
 * HTTP/1.1 over a bare TCP socket, for what fetch cannot do: send a request in pieces with pauses, a byte
 * at a time, with 50 headers, or stop half-way and reset. Sees what the gateway does on the wire: an
 * answer, a close without one, or nothing.
 */
import { connect, type Socket } from 'node:net';

export interface RawResult {
  /** Status of the first answer, null when none arrived. */
  status: number | null;
  /** Head and body of the first answer as text. */
  head: string;
  body: string;
  /** The server closed (FIN or reset) before the client gave up. */
  closedByServer: boolean;
  /** Milliseconds from connect to the answer, or to the close when there was no answer. */
  ms: number;
}

export interface RawOptions {
  /** Pause between the parts. */
  gapMs?: number;
  /** Give up (and destroy the socket) after this long without the awaited event. */
  timeoutMs?: number;
  /** Resolve only when the server closes the connection (or on timeout), not at the first complete answer. */
  waitForClose?: boolean;
}

/** Sends `parts` one after another and reports the first answer and/or the close. */
export function rawExchange(port: number, parts: (string | Buffer)[], opts: RawOptions = {}): Promise<RawResult> {
  const { gapMs = 0, timeoutMs = 10_000, waitForClose = false } = opts;
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const started = Date.now();
    let received = Buffer.alloc(0);
    let answer: { status: number; head: string; body: string; ms: number } | null = null;
    let settled = false;
    const settle = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({
        status: answer?.status ?? null,
        head: answer?.head ?? '',
        body: answer?.body ?? '',
        closedByServer,
        ms: answer?.ms ?? Date.now() - started,
      });
    };
    const timer = setTimeout(() => settle(false), timeoutMs);
    socket.on('data', (d) => {
      received = Buffer.concat([received, d]);
      if (answer) return;
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = received.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (received.length < end + 4 + length) return;
      answer = {
        status: Number(head.split(' ')[1]),
        head,
        body: received.subarray(end + 4, end + 4 + length).toString('utf8'),
        ms: Date.now() - started,
      };
      if (!waitForClose) settle(false);
    });
    socket.on('error', () => settle(true));
    socket.on('close', () => settle(true));
    socket.on('connect', async () => {
      for (let i = 0; i < parts.length && !settled; i++) {
        if (i > 0 && gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (!settled) socket.write(parts[i]);
      }
    });
  });
}

/** A request head (request line, headers, blank line) for a POST with the given headers. */
export function postHead(path: string, headers: Record<string, string | number>): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

export interface Trickler {
  socket: Socket;
  /** Resolves when the socket closes: `byServer` false when stop() closed it. */
  closed: Promise<{ byServer: boolean; afterMs: number; gotBytes: number }>;
  stop(): void;
}

/** Sends `data` one byte every `intervalMs` until it is all sent or the connection ends; never closes by itself. */
export function trickle(port: number, data: string | Buffer, intervalMs: number): Trickler {
  const bytes = Buffer.from(data);
  const socket = connect(port, '127.0.0.1');
  const started = Date.now();
  let stopped = false;
  let gotBytes = 0;
  let i = 0;
  let timer: NodeJS.Timeout | undefined;
  socket.on('connect', () => {
    timer = setInterval(() => {
      if (i < bytes.length) socket.write(bytes.subarray(i, ++i));
    }, intervalMs);
  });
  socket.on('data', (d) => {
    gotBytes += d.length;
  });
  socket.on('error', () => {});
  const closed = new Promise<{ byServer: boolean; afterMs: number; gotBytes: number }>((resolve) => {
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ byServer: !stopped, afterMs: Date.now() - started, gotBytes });
    });
  });
  return {
    socket,
    closed,
    stop: () => {
      stopped = true;
      socket.destroy();
    },
  };
}

/** Resident set size of a process in bytes (VmRSS from /proc/<pid>/status). */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}
