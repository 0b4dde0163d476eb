/** Starts the built gateway (`dist/main.js`) as a real child process, the way `npm start` runs it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface SluiceProcess {
  url: string;
  wsUrl: string;
  port: number;
  proc: ChildProcess;
  /** Everything written to stdout (pino JSON lines) and stderr so far. */
  output(): string;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

// A failed test must not leave gateways running (they would load the machine and the next run's broker).
const spawned = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

export function randomTopic(prefix = 't'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export function sluiceEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // The gateway rejects unknown SLUICE_* variables: pass only what the test sets.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SLUICE_') && !k.startsWith('KAFKA_')) env[k] = v;
  // SLUICE_TEST_INGRESS_THREADS runs every test's gateways with that many ingress worker threads.
  const threads = process.env.SLUICE_TEST_INGRESS_THREADS ? { SLUICE_INGRESS_THREADS: process.env.SLUICE_TEST_INGRESS_THREADS } : {};
  // Every test client connects from 127.0.0.1: with open access they are all one client for the per-client
  // shares, so a test's clients (and those a previous test left lingering) would be refused as one greedy
  // client. Raised here; test/subscription-access.test.ts sets its own to test them.
  const perClient = { SLUICE_MAX_REPLAYS_PER_CLIENT: '10000', SLUICE_MAX_TOPICS_PER_CLIENT: '100000' };
  return { ...env, SLUICE_PORT: '0', SLUICE_HOST: '127.0.0.1', SLUICE_LOG_LEVEL: 'info', ...perClient, ...threads, ...extra };
}

/**
 * Runs dist/main.js and waits for its "sluice listening" log line. `node`: the Node binary and its options
 * (test/node24.test.ts runs Node 24 from .node24/); by default the Node running the tests.
 */
export async function startSluice(
  extra: Record<string, string>,
  timeoutMs = 60_000,
  node: readonly string[] = [process.execPath],
): Promise<SluiceProcess> {
  const proc = spawn(node[0], [...node.slice(1), join(ROOT, 'dist', 'main.js')], {
    cwd: ROOT,
    env: sluiceEnv(extra),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.add(proc);
  proc.once('exit', () => spawned.delete(proc));
  let out = '';
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"port":(\d+)[^\n]*"msg":"sluice listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (code ${code}) before listening:\n${out}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    proc,
    output: () => out,
    exited,
    stop: (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs dist/main.js expecting it to fail start-up; resolves with exit code and output. */
export function runSluiceExpectingExit(
  extra: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ code: number | null; output: string }> {
  const proc = spawn(process.execPath, [join(ROOT, 'dist', 'main.js')], {
    cwd: ROOT,
    env: sluiceEnv(extra),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`gateway did not exit within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output: out });
    });
  });
}

/**
 * A POST retried the way the error contract tells a device to: a first post to a brand-new topic may meet
 * `503 TOPIC_NOT_READY` while a loaded broker is still creating it (nothing was queued; the same request
 * then succeeds), so it is sent again after `Retry-After`, for at most 30 s. Every other answer is returned
 * as it is. Tests of that 503 itself use `postJsonOnce`.
 */
export async function postJson(url: string, body: string | Buffer, contentType = 'application/json', headers: Record<string, string> = {}) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await postJsonOnce(url, body, contentType, headers);
    if (res.status !== 503 || res.json?.error?.code !== 'TOPIC_NOT_READY' || Date.now() > deadline) return res;
    await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
  }
}

export async function postJsonOnce(
  url: string,
  body: string | Buffer,
  contentType = 'application/json',
  headers: Record<string, string> = {},
) {
  return fetchAnswer(url, { method: 'POST', headers: { 'content-type': contentType, ...headers }, body });
}

/** Any request; the answer's status, headers, text and (when the body is JSON) the parsed body. */
export async function fetchAnswer(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * Like postJson, over a connection of its own that is closed afterwards: with SLUICE_INGRESS_THREADS > 0 the
 * kernel spreads connections over the threads, so such requests reach different threads (a pooled
 * keep-alive connection stays on one).
 */
export function postOnNewConnection(url: string, body: string, headers: Record<string, string> = {}, contentType = 'application/json') {
  return new Promise<{ status: number; text: string; json: any }>((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body), connection: 'close', ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A gateway for the whole test file: started before its tests, stopped after them (`expectCleanExit`: and it must exit 0). */
export function sluiceForFile(env: () => Record<string, string>, { expectCleanExit = false } = {}): () => SluiceProcess {
  let sluice: SluiceProcess | undefined;
  beforeAll(async () => {
    sluice = await startSluice(env());
  });
  afterAll(async () => {
    const code = await sluice?.stop();
    if (expectCleanExit) expect(code).toBe(0);
  });
  return () => sluice!;
}
