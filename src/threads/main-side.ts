/**
 * Main-thread side of the worker-thread ingress: starts the workers, feeds their produce batches to the
 * Kafka producer and answers in batches, and connects each worker's subscriber hub to the subscription
 * registry (uWS pub/sub is per thread: the registry publishes a batch to every hub with subscribers of it).
 *
 * Every wait on a worker (listening at start-up, drained at shutdown, the thread's end) also ends when the
 * thread has ended: a thread that crashed or exited never answers, and waiting for it alone would hang shutdown.
 */
import { createServer, type AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { StartupError, toPlainError } from '../errors.js';
import type { ProducePort } from '../producer/produce-port.js';
import type { FanoutGate, HubPort } from '../subscription/protocol.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import { IdempotencyHost } from '../http/idempotency/thread-link.js';
import type { IdempotencyStore } from '../http/idempotency/store.js';
import { applyGateCall, hubPortOver, type ProduceOutcome, type ToMain, type ToWorker, type WorkerInit } from './thread-protocol.js';

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

class WorkerHandle {
  /** This worker's hub as the subscription registry sees it. */
  gate: FanoutGate | undefined;
  /** Resolves with the exit code once the thread has ended, for whatever reason; never rejects. */
  readonly ended: Promise<number>;
  exitCode: number | undefined;
  /** The main thread asked it to end (close, or a failed start-up): its exit is expected, not a loss. */
  closing = false;
  /** Its loss was logged and reported (once per worker, however many of error, exit it shows). */
  lossReported = false;
  private outcomes: ProduceOutcome[] = [];
  private scheduled = false;
  private readonly waiters = new Map<ToMain['type'], ((m: ToMain) => void)[]>();

  constructor(
    readonly worker: Worker,
    readonly index: number,
  ) {
    this.ended = new Promise((resolve) =>
      worker.once('exit', (code) => {
        this.exitCode = code;
        this.waiters.clear();
        resolve(code);
      }),
    );
  }

  send(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }

  /** Produce outcomes of one event-loop turn go back as one message. */
  answer(outcome: ProduceOutcome): void {
    this.outcomes.push(outcome);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        const outcomes = this.outcomes;
        this.outcomes = [];
        this.send({ type: 'results', outcomes });
      });
    }
  }

  /** The next message of this type, or `null` once the thread has ended without sending it. */
  next<T extends ToMain['type']>(type: T): Promise<Extract<ToMain, { type: T }> | null> {
    if (this.exitCode !== undefined) return Promise.resolve(null);
    const message = new Promise<Extract<ToMain, { type: T }>>((resolve) => {
      const list = this.waiters.get(type) ?? [];
      list.push(resolve as (m: ToMain) => void);
      this.waiters.set(type, list);
    });
    return Promise.race([message, this.ended.then(() => null)]);
  }

  notify(msg: ToMain): boolean {
    const list = this.waiters.get(msg.type);
    const w = list?.shift();
    if (w) w(msg);
    return w !== undefined;
  }
}

export interface IngressWorkersOptions {
  config: Config;
  /** Where the workers' produce batches go (the Kafka producer). */
  producer: ProducePort;
  /** Connects one worker's subscriber hub to the subscription registry. */
  connectFanout: (hub: HubPort) => FanoutGate;
  /** True while the producer reaches a broker (each worker's `/readyz`). */
  isReady: () => boolean;
  metrics: GatewayMetrics;
  /** Prometheus text for a worker's GET /metrics. */
  metricsText: () => Promise<string>;
  /** The instance's one Idempotency-Key store, which every worker asks (absent: keys are not remembered). */
  idempotency?: IdempotencyStore;
  log: Logger;
  /**
   * Called once when a worker thread ends (crash or exit) without having been asked to. The caller is
   * expected to shut the gateway down and exit non-zero (see `reportLoss` for why).
   */
  onLost?: (reason: string) => void;
  /** The worker's entry module; the real one unless a test runs the class against a stand-in. */
  workerScript?: URL;
}

export class IngressWorkers {
  private readonly handles: WorkerHandle[] = [];
  private readyTimer: NodeJS.Timeout | undefined;
  private readonly workerScript: URL;
  /** Serves the instance's one Idempotency-Key store to every worker (none when keys are not remembered). */
  private readonly idempotency: IdempotencyHost | null;
  private readonly config: Config;
  private readonly producer: ProducePort;
  private readonly metrics: GatewayMetrics;
  private readonly log: Logger;

  constructor(private readonly options: IngressWorkersOptions) {
    ({ config: this.config, producer: this.producer, metrics: this.metrics, log: this.log } = options);
    this.workerScript = options.workerScript ?? new URL('./worker-side.js', import.meta.url);
    this.idempotency = options.idempotency ? new IdempotencyHost(options.idempotency) : null;
  }

  private isReady(): boolean {
    return this.options.isReady();
  }

  /** Starts `count` workers on one port; resolves with the port (the first worker picks it when SLUICE_PORT=0). */
  async start(count: number): Promise<number> {
    const init: WorkerInit = { config: this.config, ready: this.isReady() };
    // uWS's port 0 would give each thread its own port: pick one free port for all of them.
    let port = this.config.port === 0 ? await freePort(this.config.host) : this.config.port;
    for (let i = 0; i < count; i++) {
      const worker = new Worker(this.workerScript, { workerData: init, name: `sluice-ingress-${i + 1}` });
      const handle = new WorkerHandle(worker, i + 1);
      handle.gate = this.options.connectFanout(hubPortOver((msg) => handle.send(msg)));
      this.handles.push(handle);
      worker.on('message', (msg: ToMain) => this.onMessage(handle, msg));
      // 'error' (an uncaught exception) comes before 'exit': the first one seen is the one logged. Chained on
      // `ended` before any wait is, so the loss is reported before start() or drain() see the thread as gone.
      worker.on('error', (err) => this.reportLoss(handle, { err: err.stack ?? String(err) }));
      void handle.ended.then((code) => {
        if (!handle.closing) this.reportLoss(handle, { exitCode: code });
        this.idempotency?.workerEnded(handle.index);
      });
      handle.send({ type: 'listen', port });
      const reply = await Promise.race([handle.next('listening'), handle.next('listen-failed')]);
      if (reply?.type !== 'listening') {
        // Threads that already listen must end before the process may exit (see waitForExit).
        this.closeSockets();
        await this.waitForExit(5000);
        if (reply === null)
          throw new StartupError(`ingress worker ${i + 1} ended during start-up (exit code ${handle.exitCode}); its error is logged above`);
        throw new StartupError(`SLUICE_PORT=${this.config.port}: cannot listen on ${this.config.host}:${reply.port} (in use?)`);
      }
      port = reply.port;
    }
    let last = this.isReady();
    this.readyTimer = setInterval(() => {
      const now = this.isReady();
      if (now !== last) this.broadcast({ type: 'ready', ready: now });
      last = now;
    }, 200);
    this.readyTimer.unref();
    return port;
  }

  /**
   * A worker thread ended without being asked to: logged once, and reported once to `onLost`.
   *
   * Chosen: the gateway then shuts down (the other workers drain, the producer flushes) and exits non-zero,
   * rather than serving on with fewer threads. The thread may have died holding requests it will never
   * answer; its share of the capacity would be gone with no signal to the orchestrator; and a thread that
   * dies while uWS holds sockets aborts the whole process anyway (Node: uv_loop_close with open handles,
   * checked here), so "serve on" could only ever hold for a thread that died without sockets. Exiting
   * non-zero gets the gateway restarted at full strength; meanwhile `/readyz` answers 503 (draining).
   */
  private reportLoss(h: WorkerHandle, detail: { err?: string; exitCode?: number }): void {
    if (h.lossReported || h.closing) return;
    h.lossReported = true;
    this.log.fatal({ worker: h.index, ...detail }, 'ingress worker thread lost');
    const why = detail.err ? 'crashed' : `exited with code ${detail.exitCode}`;
    this.options.onLost?.(`ingress worker ${h.index} ${why}`);
  }

  private broadcast(msg: ToWorker): void {
    for (const h of this.handles) h.send(msg);
  }

  private onMessage(h: WorkerHandle, msg: ToMain): void {
    switch (msg.type) {
      case 'produce': {
        const body = Buffer.from(msg.body);
        const starts = new Int32Array(msg.starts);
        const ends = new Int32Array(msg.ends);
        for (const r of msg.requests) {
          const records = {
            body,
            count: r.count,
            starts: starts.subarray(r.first, r.first + r.count),
            ends: ends.subarray(r.first, r.first + r.count),
            keys: r.keys,
            parsed: [],
          };
          this.producer.submit(
            { topic: r.topic, records, key: r.key, headers: r.headers, durable: r.durable, timestampMs: r.timestampMs },
            (err, result) => h.answer(err ? { id: r.id, error: toPlainError(err) } : { id: r.id, result: result! }),
          );
        }
        break;
      }
      case 'gate':
        applyGateCall(h.gate!, msg);
        break;
      case 'slow-drops':
        this.metrics.addSlowDrops(msg.drops);
        break;
      case 'frames-out':
        this.metrics.addFramesSent(msg.frames);
        break;
      case 'error-counts':
        this.metrics.addErrors(msg.counts);
        break;
      case 'request-counts':
        this.metrics.addRequests(msg.counts);
        break;
      case 'loop-delay':
        this.metrics.eventLoopDelay.labels(`ingress-${h.index}`).set(msg.p99Seconds);
        break;
      case 'idempotency-begin':
      case 'idempotency-settle':
        this.idempotency?.onMessage(h.index, msg, (reply) => h.send(reply));
        break;
      case 'topics-request':
        this.producer.listTopics().then(
          (topics) => h.send({ type: 'topic-list', id: msg.id, topics, error: null }),
          (err: unknown) => h.send({ type: 'topic-list', id: msg.id, topics: null, error: toPlainError(err) }),
        );
        break;
      case 'metrics-request':
        this.options.metricsText().then(
          (text) => h.send({ type: 'metrics-text', id: msg.id, text }),
          () => h.send({ type: 'metrics-text', id: msg.id, text: '' }),
        );
        break;
      default:
        h.notify(msg);
    }
  }

  /**
   * Stops accepting in every worker and waits until each has answered its requests in progress, has ended,
   * or `timeoutMs` passed (each worker bounds its own wait by the same timeout; this bound is for a thread
   * that is alive but no longer answers).
   */
  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), timeoutMs)));
    const results = await Promise.all(
      this.handles.map((h) => {
        const drained = h.next('drained');
        h.send({ type: 'drain', timeoutMs });
        return Promise.race([drained, timedOut]);
      }),
    );
    clearTimeout(timer);
    const silent = this.handles.filter((_h, i) => results[i] === 'timed out').map((h) => h.index);
    if (silent.length > 0)
      this.log.warn(
        { workers: silent, timeoutMs },
        'ingress workers did not report drained within the shutdown timeout; closing their connections anyway',
      );
  }

  /**
   * Closes every WebSocket (1001) and the listen sockets; the threads then end by themselves. A worker is never
   * terminated while uWS still holds a socket: Node aborts the whole process when a thread's loop closes
   * with open handles. Idle keep-alive HTTP connections end within uWS's idle timeout; answers given while
   * draining close their connection.
   */
  closeSockets(windowMs = 0): void {
    clearInterval(this.readyTimer);
    for (const h of this.handles) {
      h.closing = true;
      h.send({ type: 'close', windowMs });
    }
  }

  /** A shutdown has begun: every worker's `/readyz` answers 503 from now on, while it still serves. */
  leave(): void {
    this.broadcast({ type: 'leaving' });
  }

  /** Resolves once every thread has ended, or after the timeout (then logged: exiting may abort). */
  async waitForExit(timeoutMs = 15_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const results = await Promise.all(this.handles.map((h) => Promise.race([h.ended.then(() => true), timedOut])));
    clearTimeout(timer);
    if (!results.every(Boolean)) this.log.error('an ingress worker still had open connections after the shutdown timeout');
  }
}
