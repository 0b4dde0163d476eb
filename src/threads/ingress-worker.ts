/**
 * Entry point of an ingress worker thread: one uWS app on the shared port (Linux spreads connections
 * across the threads' listen sockets with SO_REUSEPORT). It reads, decodes and validates requests and
 * serves WebSocket subscribers; Kafka work happens on the main thread, reached through MainThreadLink.
 */
import { readlinkSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData, threadId } from 'node:worker_threads';
import type { us_listen_socket } from 'uWebSockets.js';
import { createLogger } from '../ops/logger.js';
import { loadUws } from '../ingress/uws-native.js';
import { buildHttpApp, listen } from '../ingress/http-app.js';
import { MainThreadLink } from './main-thread-link.js';
import { applyHubCall, type ToWorker, type WorkerInit } from './thread-protocol.js';
import { ErrorTally, RequestTally } from '../ops/request-tally.js';
import { RemoteIdempotency } from './idempotency-link.js';

const { config, ready: initiallyReady } = workerData as WorkerInit;
const port = parentPort!;
const log = createLogger(config.logLevel).child({ thread: threadId });
const uws = loadUws();
const link = new MainThreadLink(port);
// One Idempotency-Key store per instance, on the main thread: a retry may reach another ingress thread.
const idempotency = config.idempotencyWindowSeconds > 0 ? new RemoteIdempotency((msg) => link.post(msg)) : undefined;
let ready = initiallyReady;
// Request counts travel to the main thread's metrics once a second, not per request.
const tally = new RequestTally();
const errorTally = new ErrorTally();
// This thread's event-loop delay, reported with the counts (the main thread's own is measured there).
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const flushCounts = () => {
  link.post({ type: 'loop-delay', p99Seconds: loopDelay.percentile(99) / 1e9 });
  loopDelay.reset();
  const counts = tally.drain();
  if (counts.length > 0) link.post({ type: 'request-counts', counts });
  const errors = errorTally.drain();
  if (errors.length > 0) link.post({ type: 'error-counts', counts: errors });
  const drops = hub.takeSlowDrops();
  if (drops) link.post({ type: 'slow-drops', drops });
  const frames = hub.takeFramesOut();
  if (frames) link.post({ type: 'frames-out', frames });
};
const countsTimer = setInterval(flushCounts, 1000);
countsTimer.unref();
const { app, hub, lifecycle, close } = buildHttpApp(uws, {
  config,
  producer: link,
  connectFanout: () => link,
  ready: () => ready,
  log,
  countRequest: (route, status, records, seconds) => tally.add(route, status, records, seconds),
  countError: (code, route) => errorTally.add(code, route),
  metricsText: () => link.metricsText(),
  idempotency,
});
let listenSocket: us_listen_socket | false = false;

/** This thread's OS thread id (Linux): Node gives worker threads no OS name, so `top -H` and the bench tell them apart by tid. */
function osThreadId(): number | undefined {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return undefined;
  }
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'results':
      link.onResults(msg.outcomes);
      break;
    case 'hub':
      applyHubCall(hub, msg);
      break;
    case 'ready':
      ready = msg.ready;
      break;
    case 'metrics-text':
      link.onMetricsText(msg.id, msg.text);
      break;
    case 'topic-list':
      link.onTopicList(msg.id, msg.topics, msg.error);
      break;
    case 'idempotency-verdict':
      idempotency?.onVerdict(msg);
      break;
    case 'listen':
      void listen(app, config.host, msg.port).then((socket) => {
        listenSocket = socket;
        if (socket) log.info({ tid: osThreadId(), port: msg.port }, 'ingress worker listening');
        link.post(socket ? { type: 'listening', port: uws.us_socket_local_port(socket) } : { type: 'listen-failed', port: msg.port });
      });
      break;
    case 'drain':
      lifecycle.draining = true;
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = false;
      void lifecycle.idle(msg.timeoutMs).then(() => link.post({ type: 'drained' }));
      break;
    case 'leaving':
      lifecycle.leaving = true;
      break;
    case 'close':
      // Let the thread end by itself once uWS's last connection is gone (see IngressWorkers.close); the
      // subscribers are closed over the window, the timers keeping the thread alive until the last one.
      void hub.closeAll(msg.windowMs);
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = false;
      void close();
      clearInterval(countsTimer);
      flushCounts();
      loopDelay.disable();
      port.unref();
      break;
  }
});
