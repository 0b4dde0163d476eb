/**
 * Messages between the main thread (Kafka clients) and the ingress worker threads (uWS apps).
 * Records cross in batches: all submissions of one event-loop turn travel as one message whose record
 * bytes sit in one transferred ArrayBuffer (never a message per record). Errors cross as plain
 * `{code, message, details}`: structuredClone drops an Error's class and fields.
 */
import type { Config } from '../config/schema.js';
import type { DeliveryResult, ProduceSubmission } from '../producer/produce-port.js';
import type { TopicInfo } from '../producer/topic-catalog.js';
import type { PlainError } from '../errors.js';
import type { FanoutGate, HubPort, SubscriberTransport } from '../subscription/protocol.js';
import type { ErrorCounts, RequestCounts } from '../ops/request-tally.js';
import type { IdempotencyToMain, IdempotencyToWorker } from '../http/idempotency/thread-link.js';

export interface WorkerInit {
  config: Config;
  ready: boolean;
}

/** A submission as it crosses to the main thread: its records' bytes travel in the batch's shared buffers. */
export interface ProduceDescriptor extends Omit<ProduceSubmission, 'records'> {
  id: number;
  /** Index of the request's first record in the batch's starts/ends arrays. */
  first: number;
  count: number;
  keys: ProduceSubmission['records']['keys'];
}

export type ProduceOutcome = { id: number; result: DeliveryResult } | { id: number; error: PlainError };

export type ToMain =
  | { type: 'listening'; port: number }
  | { type: 'listen-failed'; port: number }
  | { type: 'produce'; requests: ProduceDescriptor[]; body: ArrayBuffer; starts: ArrayBuffer; ends: ArrayBuffer }
  | GateCall
  | { type: 'slow-drops'; drops: Record<SubscriberTransport, number> }
  | { type: 'frames-out'; frames: Record<string, number> }
  | { type: 'drained' }
  | { type: 'request-counts'; counts: RequestCounts }
  /** p99 of this thread's event-loop delay over the last second. */
  | { type: 'loop-delay'; p99Seconds: number }
  | { type: 'error-counts'; counts: ErrorCounts }
  | { type: 'metrics-request'; id: number }
  | { type: 'topics-request'; id: number }
  | IdempotencyToMain;

export type ToWorker =
  | { type: 'listen'; port: number }
  | { type: 'results'; outcomes: ProduceOutcome[] }
  | HubCall
  | { type: 'ready'; ready: boolean }
  | { type: 'drain'; timeoutMs: number }
  | { type: 'metrics-text'; id: number; text: string }
  | { type: 'topic-list'; id: number; topics: TopicInfo[] | null; error: PlainError | null }
  | { type: 'leaving' }
  | { type: 'close'; windowMs: number }
  | IdempotencyToWorker;

/** A HubPort call from the registry to a worker's hub, in order. */
export type HubCall = { [K in keyof HubPort]: { type: 'hub'; method: K; args: Parameters<HubPort[K]> } }[keyof HubPort];
/** A FanoutGate call from a worker's hub to the registry, in order. */
export type GateCall = { [K in keyof FanoutGate]: { type: 'gate'; method: K; args: Parameters<FanoutGate[K]> } }[keyof FanoutGate];

/** A HubPort whose calls travel as messages (main thread → worker). */
export function hubPortOver(send: (msg: HubCall) => void): HubPort {
  const call =
    <K extends keyof HubPort>(method: K) =>
    (...args: Parameters<HubPort[K]>) =>
      send({ type: 'hub', method, args } as HubCall);
  return {
    ready: call('ready'),
    subscribed: call('subscribed'),
    failed: call('failed'),
    deliver: call('deliver'),
    join: call('join'),
    publish: call('publish'),
    publishValues: call('publishValues'),
  };
}

/** Runs a HubPort call received from the main thread. */
export function applyHubCall(hub: HubPort, msg: HubCall): void {
  (hub[msg.method] as (...args: unknown[]) => void).apply(hub, msg.args);
}

/** Runs a FanoutGate call received from a worker. */
export function applyGateCall(gate: FanoutGate, msg: GateCall): void {
  (gate[msg.method] as (...args: unknown[]) => void).apply(gate, msg.args);
}
