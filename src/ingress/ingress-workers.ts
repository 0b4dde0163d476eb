/**
 * Main-thread side of the worker-thread ingress: starts the workers, feeds their produce batches to the
 * Kafka producer and answers in batches, and connects each worker's subscriber hub to the subscription
 * registry (uWS pub/sub is per thread: the registry publishes a batch to every hub with subscribers of it).
 */
import { createServer, type AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { StartupError, toPlainError } from '../errors.js';
import type { ProducePort } from '../producer/produce-port.js';
import type { FanoutGate, HubPort } from '../subscription/protocol.js';
import type { GatewayMetrics } from '../ops/metrics.js';
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
  private outcomes: ProduceOutcome[] = [];
  private scheduled = false;
  private readonly waiters = new Map<ToMain['type'], ((m: ToMain) => void)[]>();

  constructor(readonly worker: Worker) {}

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

  next<T extends ToMain['type']>(type: T): Promise<Extract<ToMain, { type: T }>> {
    return new Promise((resolve) => {
      const list = this.waiters.get(type) ?? [];
      list.push(resolve as (m: ToMain) => void);
      this.waiters.set(type, list);
    });
  }

  notify(msg: ToMain): boolean {
    const list = this.waiters.get(msg.type);
    const w = list?.shift();
    if (w) w(msg);
    return w !== undefined;
  }
}

export class IngressWorkers {
  private readonly handles: WorkerHandle[] = [];
  private readyTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: Config,
    private readonly producer: ProducePort,
    private readonly connectFanout: (hub: HubPort) => FanoutGate,
    private readonly isReady: () => boolean,
    private readonly metrics: GatewayMetrics,
    private readonly metricsText: () => Promise<string>,
    private readonly log: Logger,
  ) {}

  /** Starts `count` workers on one port; resolves with the port (the first worker picks it when SLUICE_PORT=0). */
  async start(count: number): Promise<number> {
    const init: WorkerInit = { config: this.config, ready: this.isReady() };
    // uWS's port 0 would give each thread its own port: pick one free port for all of them.
    let port = this.config.port === 0 ? await freePort(this.config.host) : this.config.port;
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL('./ingress-worker.js', import.meta.url), { workerData: init, name: `sluice-ingress-${i + 1}` });
      const handle = new WorkerHandle(worker);
      handle.gate = this.connectFanout(hubPortOver((msg) => handle.send(msg)));
      this.handles.push(handle);
      worker.on('message', (msg: ToMain) => this.onMessage(handle, msg));
      worker.on('error', (err) => this.log.fatal({ err: err.stack, worker: i + 1 }, 'ingress worker crashed'));
      handle.send({ type: 'listen', port });
      const reply = await Promise.race([handle.next('listening'), handle.next('listen-failed')]);
      if (reply.type === 'listen-failed') {
        // Threads that already listen must end before the process may exit (see waitForExit).
        this.closeSockets();
        await this.waitForExit(5000);
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
          const records = { body, count: r.count, starts: starts.subarray(r.first, r.first + r.count), ends: ends.subarray(r.first, r.first + r.count), keys: r.keys, parsed: [] };
          this.producer.submit({ topic: r.topic, records, key: r.key, headers: r.headers, durable: r.durable },
            (err, result) => h.answer(err ? { id: r.id, error: toPlainError(err) } : { id: r.id, result: result! }));
        }
        break;
      }
      case 'gate':
        applyGateCall(h.gate!, msg);
        break;
      case 'slow-drops':
        this.metrics.addSlowDrops(msg.drops);
        break;
      case 'request-counts':
        this.metrics.addRequests(msg.counts);
        break;
      case 'metrics-request':
        this.metricsText().then((text) => h.send({ type: 'metrics-text', id: msg.id, text }), () => h.send({ type: 'metrics-text', id: msg.id, text: '' }));
        break;
      default:
        h.notify(msg);
    }
  }

  /** Stops accepting in every worker and waits until each has answered its requests in progress. */
  async drain(timeoutMs: number): Promise<void> {
    await Promise.all(this.handles.map((h) => {
      const drained = h.next('drained');
      h.send({ type: 'drain', timeoutMs });
      return drained;
    }));
  }

  /**
   * Closes every WebSocket (1001) and the listen sockets; the threads then end by themselves. A worker is never
   * terminated while uWS still holds a socket: Node aborts the whole process when a thread's loop closes
   * with open handles (uWS.js 20.30 has no App.close()). Idle keep-alive HTTP connections end within uWS's
   * 10 s idle timeout; answers given while draining close their connection.
   */
  closeSockets(): void {
    clearInterval(this.readyTimer);
    for (const h of this.handles) h.send({ type: 'close' });
  }

  /** Resolves once every thread has ended, or after the timeout (then logged: exiting may abort). */
  async waitForExit(timeoutMs = 15_000): Promise<void> {
    const results = await Promise.all(this.handles.map((h) => Promise.race([
      new Promise<boolean>((resolve) => (h.worker.threadId < 0 ? resolve(true) : h.worker.once('exit', () => resolve(true)))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref()),
    ])));
    if (!results.every(Boolean)) this.log.error('an ingress worker still had open connections after the shutdown timeout');
  }
}
