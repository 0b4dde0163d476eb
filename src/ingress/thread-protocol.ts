/**
 * Messages between the main thread (Kafka clients) and the ingress worker threads (uWS apps).
 * Records cross in batches: all submissions of one event-loop turn travel as one message whose record
 * bytes sit in one transferred ArrayBuffer (never a message per record). Errors cross as plain
 * `{code, message, details}`: structuredClone drops an Error's class and fields.
 */
import type { Config } from '../config/schema.js';
import type { DeliveryResult } from '../producer/delivery-result.js';
import type { ErrorCode } from '../errors.js';
import type { FrameStyle } from '../fanout/subscriber-hub.js';
import type { RequestCounts } from '../ops/metrics.js';

export interface WorkerInit {
  config: Config;
  ready: boolean;
}

export interface ProduceDescriptor {
  id: number;
  topic: string;
  key: string | null;
  headers: [string, string][] | null;
  durable: boolean;
  /** Index of the request's first record in the batch's starts/ends arrays. */
  first: number;
  count: number;
  keys: (string | null)[] | null;
}

export interface PlainError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export type ProduceOutcome = { id: number; result: DeliveryResult } | { id: number; error: PlainError };

export type ToMain =
  | { type: 'listening'; port: number }
  | { type: 'listen-failed'; port: number }
  | { type: 'produce'; requests: ProduceDescriptor[]; body: ArrayBuffer; starts: ArrayBuffer; ends: ArrayBuffer }
  | { type: 'acquire'; id: number; topic: string; style: FrameStyle }
  | { type: 'release'; topic: string; style: FrameStyle }
  | { type: 'drained' }
  | { type: 'request-counts'; counts: RequestCounts }
  | { type: 'metrics-request'; id: number };

export type ToWorker =
  | { type: 'listen'; port: number }
  | { type: 'results'; outcomes: ProduceOutcome[] }
  | { type: 'acquired'; id: number; error?: PlainError }
  | { type: 'ready'; ready: boolean }
  | { type: 'frames'; topic: string; envelopes: string[] | null; values: Uint8Array[] | null }
  | { type: 'drain'; timeoutMs: number }
  | { type: 'metrics-text'; id: number; text: string }
  | { type: 'close' };
