/**
 * Worker-thread side of the link to the main thread: a ProducePort and a FanoutGate that forward to
 * the Kafka clients there. Submissions made during one event-loop turn leave as one message, their
 * record bytes packed into one transferred ArrayBuffer. A question to the main thread (its metrics text, the
 * topic list) fails after `answerTimeoutMs` when no answer came: the route then answers 500 instead of
 * holding the client's request open forever.
 */
import type { MessagePort } from 'node:worker_threads';
import { fromPlainError, type PlainError } from '../errors.js';
import type { ProduceCallback, ProducePort, ProduceSubmission } from '../producer/produce-port.js';
import type { TopicInfo } from '../producer/topic-catalog.js';
import type { FanoutGate, SubscribeRequest } from '../subscription/protocol.js';
import type { ProduceDescriptor, ProduceOutcome, ToMain } from './thread-protocol.js';

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}

/** Long enough for the main thread's own bounded waits (a topic listing waits up to SLUICE_METADATA_TIMEOUT_MS). */
const ANSWER_TIMEOUT_MS = 30_000;

export interface MainThreadLinkOptions {
  /** How long a question to the main thread waits for its answer before failing. */
  answerTimeoutMs?: number;
}

export class MainThreadLink implements ProducePort, FanoutGate {
  private queue: { s: ProduceSubmission; done: ProduceCallback }[] = [];
  private scheduled = false;
  private nextId = 1;
  private readonly produceWaiters = new Map<number, ProduceCallback>();
  private readonly metricsWaiters = new Map<number, Waiter<string>>();
  private readonly topicWaiters = new Map<number, Waiter<TopicInfo[]>>();

  private readonly answerTimeoutMs: number;

  constructor(
    private readonly port: Pick<MessagePort, 'postMessage'>,
    options: MainThreadLinkOptions = {},
  ) {
    this.answerTimeoutMs = options.answerTimeoutMs ?? ANSWER_TIMEOUT_MS;
  }

  submit(s: ProduceSubmission, done: ProduceCallback): void {
    this.queue.push({ s, done });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    let bytes = 0;
    let records = 0;
    for (const { s } of queue) {
      records += s.records.count;
      for (let i = 0; i < s.records.count; i++) bytes += s.records.ends[i] - s.records.starts[i];
    }
    const body = Buffer.from(new ArrayBuffer(bytes));
    const starts = new Int32Array(records);
    const ends = new Int32Array(records);
    const requests: ProduceDescriptor[] = [];
    let offset = 0;
    let r = 0;
    for (const { s, done } of queue) {
      const id = this.nextId++;
      this.produceWaiters.set(id, done);
      const rec = s.records;
      requests.push({
        id,
        topic: s.topic,
        key: s.key,
        headers: s.headers,
        durable: s.durable,
        timestampMs: s.timestampMs,
        first: r,
        count: rec.count,
        keys: rec.keys,
      });
      for (let i = 0; i < rec.count; i++, r++) {
        starts[r] = offset;
        offset += rec.body.copy(body, offset, rec.starts[i], rec.ends[i]);
        ends[r] = offset;
      }
    }
    const msg: ToMain = { type: 'produce', requests, body: body.buffer as ArrayBuffer, starts: starts.buffer, ends: ends.buffer };
    this.port.postMessage(msg, [msg.body, msg.starts, msg.ends]);
  };

  onResults(outcomes: ProduceOutcome[]): void {
    for (const o of outcomes) {
      const done = this.produceWaiters.get(o.id);
      if (!done) continue;
      this.produceWaiters.delete(o.id);
      if ('result' in o) done(null, o.result);
      else done(fromPlainError(o.error), null);
    }
  }

  open(req: SubscribeRequest): void {
    this.post({ type: 'gate', method: 'open', args: [req] });
  }

  start(sub: number): void {
    this.post({ type: 'gate', method: 'start', args: [sub] });
  }

  close(sub: number): void {
    this.post({ type: 'gate', method: 'close', args: [sub] });
  }

  ack(sub: number, ackId: number, handed: boolean): void {
    this.post({ type: 'gate', method: 'ack', args: [sub, ackId, handed] });
  }

  /** Prometheus text from the main thread, where the metrics live. */
  metricsText(): Promise<string> {
    return this.ask(this.metricsWaiters, (id) => ({ type: 'metrics-request', id }), 'metrics text');
  }

  /** The topic list from the main thread, where the Kafka clients are; the main thread answers every request, an error too. */
  listTopics(): Promise<TopicInfo[]> {
    return this.ask(this.topicWaiters, (id) => ({ type: 'topics-request', id }), 'topic list');
  }

  /** Posts a question; its answer settles the Promise, or the timeout rejects it and a late answer is dropped. */
  private ask<T>(waiters: Map<number, Waiter<T>>, question: (id: number) => ToMain, what: string): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(id);
        reject(new Error(`the main thread did not answer the ${what} request within ${this.answerTimeoutMs} ms`));
      }, this.answerTimeoutMs);
      // A pending question must not keep a closing thread alive.
      timer.unref();
      waiters.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.post(question(id));
    });
  }

  onTopicList(id: number, topics: TopicInfo[] | null, error: PlainError | null): void {
    const waiter = this.topicWaiters.get(id);
    this.topicWaiters.delete(id);
    if (error !== null) waiter?.reject(fromPlainError(error));
    else waiter?.resolve(topics ?? []);
  }

  onMetricsText(id: number, text: string): void {
    this.metricsWaiters.get(id)?.resolve(text);
    this.metricsWaiters.delete(id);
  }

  post(msg: ToMain): void {
    this.port.postMessage(msg);
  }
}
