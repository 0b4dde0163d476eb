/**
 * The real IngressWorkers against stand-in worker threads (test/fixtures/fake-ingress-worker.mjs) that end
 * the ways a broken thread does. Shutdown's waits (drain, the threads' end) finish instead of hanging; the
 * loss is logged once and reported once (the gateway then stops and exits 1); start-up fails instead of
 * hanging when a thread ends before it listens. A real ingress thread cannot be made to die from outside
 * (threads take no signals), and one that dies holding uWS sockets aborts the whole process anyway.
 */
import { BroadcastChannel, setEnvironmentData } from 'node:worker_threads';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { IngressWorkers } from '../src/threads/main-side.js';
import { GatewayMetrics } from '../src/ops/metrics.js';
import { StartupError } from '../src/errors.js';
import type { FanoutGate } from '../src/fanout/fanout-protocol.js';
import type { ProducePort } from '../src/producer/produce-port.js';

const FAKE_WORKER = new URL('./fixtures/fake-ingress-worker.mjs', import.meta.url);
/** Far longer than the test's own timeout: a wait that ends did so because the thread ended, not by timing out. */
const NEVER_MS = 10 * 60_000;

interface LogLine {
  level: number;
  msg: string;
  worker?: number;
  workers?: number[];
  err?: string;
  exitCode?: number;
}

const channels: BroadcastChannel[] = [];
afterEach(() => {
  for (const c of channels.splice(0)) c.close();
  setEnvironmentData('fake-ingress-exit-before-listening', undefined);
});

/** Polls until the condition holds; bounded by attempts, not by a duration the test asserts. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(condition(), what).toBe(true);
}

function stage() {
  const lines: LogLine[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
        done();
      },
    }),
  );
  const losses: string[] = [];
  const started: number[] = [];
  const acknowledged: number[] = [];
  const control = new BroadcastChannel('fake-ingress-control');
  channels.push(control);
  control.onmessage = (event) => {
    const { started: id, acknowledged: by } = (event as MessageEvent<{ started?: number; acknowledged?: number }>).data;
    if (id !== undefined) started.push(id);
    if (by !== undefined) acknowledged.push(by);
  };
  const unused = (): never => {
    throw new Error('the stand-in worker neither produces nor subscribes');
  };
  const producer: ProducePort = { submit: unused };
  const gate: FanoutGate = { prepare: unused, unprepare: unused, subscribe: unused, unsubscribe: unused, ack: unused };
  const workers = new IngressWorkers({
    config: loadConfig({ SLUICE_PORT: '0', SLUICE_HOST: '127.0.0.1' }),
    producer,
    connectFanout: () => gate,
    isReady: () => true,
    metrics: new GatewayMetrics(),
    metricsText: async () => '',
    log,
    workerScript: FAKE_WORKER,
    onLost: (reason) => losses.push(reason),
  });
  /** Tells one stand-in thread (by its place in start order, 0-based) to end or misbehave. */
  const tell = (index: number, action: 'exit' | 'throw' | 'ignore-drain', code = 0) =>
    control.postMessage({ target: started[index], action, code });
  const lossLines = () => lines.filter((l) => l.msg === 'ingress worker thread lost');
  return { workers, lines, losses, started, acknowledged, tell, lossLines };
}

it('a worker that exited (process.exit) does not hang shutdown: drain and the wait for the threads end; the loss is logged and reported once', async () => {
  const { workers, losses, started, tell, lossLines } = stage();
  await workers.start(2);
  await until(() => started.length === 2, 'both stand-in threads announced themselves');
  tell(1, 'exit', 3);
  await until(() => losses.length > 0, 'the loss was reported');

  await workers.drain(NEVER_MS);
  workers.closeSockets();
  await workers.waitForExit(NEVER_MS);

  expect(losses).toEqual(['ingress worker 2 exited with code 3']);
  expect(lossLines()).toEqual([expect.objectContaining({ level: 60, worker: 2, exitCode: 3 })]);
});

it('a worker that crashed (uncaught exception) is logged once with its error, and shutdown still ends', async () => {
  const { workers, losses, started, tell, lossLines } = stage();
  await workers.start(2);
  await until(() => started.length === 2, 'both stand-in threads announced themselves');
  tell(0, 'throw');
  await until(() => losses.length > 0, 'the loss was reported');

  // drain() ends for this worker only once its 'exit' (which follows the 'error') was handled: still one line, one report.
  await workers.drain(NEVER_MS);
  workers.closeSockets();
  await workers.waitForExit(NEVER_MS);

  expect(losses).toEqual(['ingress worker 1 crashed']);
  const logged = lossLines();
  expect(logged).toHaveLength(1);
  expect(logged[0]).toMatchObject({ level: 60, worker: 1 });
  expect(logged[0].err).toMatch(/uncaught exception/);
});

it('a worker that is alive but never reports drained holds shutdown only for the timeout drain is given', async () => {
  const { workers, losses, started, tell, lines, acknowledged } = stage();
  await workers.start(2);
  await until(() => started.length === 2, 'both stand-in threads announced themselves');
  tell(1, 'ignore-drain');
  await until(() => acknowledged.includes(started[1]), 'the stand-in thread will not answer drain');

  await workers.drain(300);
  expect(lines.filter((l) => /did not report drained/.test(l.msg))).toEqual([expect.objectContaining({ workers: [2] })]);
  workers.closeSockets();
  await workers.waitForExit(NEVER_MS);
  // Ending after being told to close is not a loss.
  expect(losses).toEqual([]);
});

it('a worker that ends before it listens fails start-up with a StartupError instead of hanging it', async () => {
  setEnvironmentData('fake-ingress-exit-before-listening', true);
  const { workers } = stage();
  const err = await workers.start(2).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StartupError);
  expect((err as Error).message).toMatch(/ingress worker 1 ended during start-up \(exit code 2\)/);
});
