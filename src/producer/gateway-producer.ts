/**
 * The librdkafka producer behind every ingest route. One Producer for the process, on the main thread.
 *
 * Contract of `produceBatch`, which calls `done` exactly once (synchronously when it refuses the request,
 * and in fire mode):
 * - all-or-nothing admission: the request's records and bytes are reserved against Sluice's in-flight
 *   budget (kept below librdkafka's queue limits) before the first `produce()`; if they do not fit, or no
 *   broker is reachable, nothing is queued and the caller answers 503;
 * - durable mode answers once every record has a delivery report (acks=all, idempotent), with the
 *   partitions and offsets Kafka assigned; any failed record fails the request (DELIVERY_FAILED), and a
 *   record reported delivered without an offset (an implicit ack: see provesWrite) fails it with
 *   DELIVERY_UNCONFIRMED, so a 200 names only records whose report proves the write;
 * - fire mode answers as soon as the records are queued.
 * Every record, fire or durable, has a delivery report: that is what gives its records and bytes back to
 * the budget, so the budget counts exactly what librdkafka still holds. A durable request's records carry
 * its context as `opaque` (one DurableDelivery per request, not per record: durable-delivery.ts); fire
 * records carry none — their report needs only its size, and failures (and unconfirmed reports) are counted
 * and logged once a second per topic (fire-failure-log.ts) — which spares librdkafka's binding a persistent
 * handle per record and the per-request bookkeeping.
 */
import type { Logger } from 'pino';
import { Producer, CODES, type LibrdKafkaError, type DeliveryReport, type MessageHeader } from '../kafka-client.js';
import { SluiceError, StartupError } from '../errors.js';
import { classifyKafkaRefusal, explainKafkaRefusal, type KafkaRefusal } from '../config/kafka-security.js';
import type { ProduceCallback, ProduceSubmission } from './produce-port.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import type { LibrdkafkaStats } from '../ops/librdkafka-stats.js';
import { DurableDelivery, provesWrite } from './durable-delivery.js';
import { FireFailureLog } from './fire-failure-log.js';

/** A submission with its headers in librdkafka's form (undefined: none); a null `timestampMs` lets librdkafka stamp the produce time. */
export type ProduceRequest = Omit<ProduceSubmission, 'headers'> & { headers: MessageHeader[] | undefined };

export interface ProducerLimits {
  maxInflightRecords: number;
  maxInflightBytes: number;
  metadataTimeoutMs: number;
}

/**
 * Connect errors that mean the client itself cannot work, so retrying is pointless: librdkafka could not
 * create it (ERR__STATE from the binding, e.g. a key it cannot load), a bad argument, TLS or SASL set-up
 * failures, a fatal error. Everything else (transport, timeouts, all brokers down) is waited out.
 */
const UNUSABLE_CLIENT = new Set<number>([
  CODES.ERRORS.ERR__STATE,
  CODES.ERRORS.ERR__INVALID_ARG,
  CODES.ERRORS.ERR__SSL,
  CODES.ERRORS.ERR__AUTHENTICATION,
  CODES.ERRORS.ERR__FATAL,
]);

export class GatewayProducer {
  private readonly producer: InstanceType<typeof Producer>;
  private connected = false;
  private brokersUp = false;
  private inflightRecords = 0;
  private inflightBytes = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closing = false;
  /** Delivery reports since the last scrape (metrics read them in bulk). */
  private deliveredOk = 0;
  private deliveredFailed = 0;
  private deliveredUnconfirmed = 0;
  private readonly fireFailures: FireFailureLog;

  constructor(
    private readonly bootstrapServers: string,
    private readonly properties: Record<string, string>,
    private readonly limits: ProducerLimits,
    private readonly log: Logger,
    private readonly metrics?: GatewayMetrics,
  ) {
    this.producer = new Producer({
      'client.id': 'sluice',
      ...properties,
      'bootstrap.servers': bootstrapServers,
      dr_cb: true,
    });
    this.fireFailures = new FireFailureLog(log);
    this.producer.on('delivery-report', (err, report) => this.onDelivery(err, report));
    this.producer.on('event.stats', (stats) => this.onStats(stats.message));
    this.producer.on('event.error', (err) => {
      if (err.code === CODES.ERRORS.ERR__ALL_BROKERS_DOWN) this.brokersUp = false;
      this.log.warn({ code: err.code, err: err.message }, 'kafka producer error');
    });
  }

  /**
   * Start-up connect. A cluster that does not answer yet is retried in the background (the gateway answers
   * 503 meanwhile); a cluster that refuses Sluice (credentials, certificates, protocol) cannot be fixed by
   * retrying, so that throws a StartupError naming the cause instead.
   */
  async connect(): Promise<boolean> {
    const { ok, refusal, error } = await this.attempt();
    if (refusal) throw new StartupError(explainKafkaRefusal(refusal, this.properties, this.bootstrapServers));
    if (error && UNUSABLE_CLIENT.has(error.code)) throw new StartupError(`the Kafka producer cannot connect: ${error.message}`);
    if (!ok) this.retryLater();
    return ok;
  }

  private async reconnect(): Promise<void> {
    const { ok, refusal, error } = await this.attempt();
    if (refusal) this.log.error(explainKafkaRefusal(refusal, this.properties, this.bootstrapServers));
    else if (!ok) this.log.warn({ err: error?.message }, 'kafka not reachable yet; retrying in the background');
    if (!ok) this.retryLater();
  }

  private retryLater(): void {
    if (!this.closing) this.reconnectTimer = setTimeout(() => void this.reconnect(), 2000);
  }

  /**
   * One connection attempt. librdkafka reports why a broker connection failed only in its log while the
   * client is not yet connected (error events are served by polling, which starts after connecting), so the
   * log is watched for refusals during the attempt; a decisive one wins over an ambiguous one. The attempt
   * always runs to its end (up to SLUICE_METADATA_TIMEOUT_MS): exiting while librdkafka's connect still
   * runs on the thread pool crashes the process (SIGSEGV, seen here).
   */
  private async attempt(): Promise<{ ok: boolean; refusal?: KafkaRefusal; error?: LibrdKafkaError }> {
    const protocol = this.properties['security.protocol'];
    let refusal: KafkaRefusal | undefined;
    const onLog = (log: { severity: number; message: string }) => {
      const seen = log.severity <= 6 ? classifyKafkaRefusal(log.message, protocol) : undefined;
      if (seen && (!refusal || (seen.decisive && !refusal.decisive))) refusal = seen;
    };
    this.producer.on('event.log', onLog);
    const error = await new Promise<LibrdKafkaError | null>((resolve) =>
      this.producer.connect({ timeout: this.limits.metadataTimeoutMs }, (err) => resolve(err)),
    );
    // Log lines reach JS through their own async hand-off and may trail the connect callback.
    if (error) await new Promise((r) => setTimeout(r, 200));
    this.producer.off('event.log', onLog);
    if (error) return { ok: false, refusal, error };
    if (refusal?.decisive) {
      // Connected after all (another bootstrap server let us in), yet one refused: a broker Sluice cannot use.
      await new Promise((resolve) => this.producer.disconnect(() => resolve(undefined)));
      return { ok: false, refusal };
    }
    this.connected = true;
    this.brokersUp = true;
    // Delivery reports are served by librdkafka's background thread, not a JS poll timer.
    this.producer.setPollInBackground(true);
    return { ok: true };
  }

  /** True while the producer is connected and at least one broker connection is up. */
  get ready(): boolean {
    return this.connected && this.brokersUp;
  }

  get client(): InstanceType<typeof Producer> {
    return this.producer;
  }

  produceBatch(req: ProduceRequest, done: ProduceCallback): void {
    const { topic, records, key, headers, durable, timestampMs: timestamp } = req;
    if (!this.ready) {
      done(new SluiceError('BROKER_UNAVAILABLE', 'no Kafka broker is reachable; nothing was queued'), null);
      return;
    }
    const { count, body, starts, ends, keys } = records;
    let bytes = 0;
    for (let i = 0; i < count; i++) bytes += ends[i] - starts[i];
    if (this.inflightRecords + count > this.limits.maxInflightRecords || this.inflightBytes + bytes > this.limits.maxInflightBytes) {
      done(
        new SluiceError(
          'QUEUE_FULL',
          `producer queue is full (${this.inflightRecords} records / ${this.inflightBytes} bytes awaiting Kafka); nothing was queued`,
        ),
        null,
      );
      return;
    }
    this.inflightRecords += count;
    this.inflightBytes += bytes;

    // Fire records go without an opaque: librdkafka's binding would keep a persistent handle per record.
    const ctx = durable ? new DurableDelivery(topic, count, done, this.settleDurable, timestamp) : undefined;
    let i = 0;
    try {
      for (; i < count; i++) {
        const recordKey = key ?? (keys ? keys[i] : null);
        this.producer.produce(topic, null, body.subarray(starts[i], ends[i]), recordKey, timestamp, ctx, headers);
      }
    } catch (err) {
      // Only reachable for a record over message.max.bytes, if librdkafka's queue is smaller than Sluice's
      // budget (checked at start-up), or when the client is closing. Records 0..i-1 stay queued: say so
      // rather than pretend nothing was.
      const unsent = count - i;
      this.inflightRecords -= unsent;
      for (let j = i; j < count; j++) this.inflightBytes -= ends[j] - starts[j];
      if (ctx) {
        ctx.pending -= unsent;
        ctx.answered = true; // the reports of the queued records still arrive; they must not answer again
      }
      const errCode = (err as LibrdKafkaError).code;
      // A record over message.max.bytes is refused for itself: a retry fails the same way, so not a 503.
      const code =
        errCode === CODES.ERRORS.ERR__QUEUE_FULL
          ? 'QUEUE_FULL'
          : errCode === CODES.ERRORS.ERR_MSG_SIZE_TOO_LARGE
            ? 'RECORD_TOO_LARGE'
            : 'BROKER_UNAVAILABLE';
      this.log.error({ err: (err as Error).message, queued: i, of: count, topic }, 'produce failed part-way through a batch');
      done(
        new SluiceError(code, `${(err as Error).message}; ${i} of ${count} records were queued before the failure`, { queued: i }),
        null,
      );
      return;
    }
    if (!durable) done(null, { topic, count, partitions: [] });
  }

  /** The last report of a durable request: once per request, the answer and the latency, never per record. */
  private readonly settleDurable = (d: DurableDelivery): void => {
    this.metrics?.deliveryLatency.observe((performance.now() - d.startedAt) / 1000);
    const u = d.unconfirmedByPartition;
    // One line per partition and request (never per record): implicit acks come in runs of a batch.
    if (u !== null)
      for (let j = 0; j < u.length; j += 2)
        this.log.warn(
          { topic: d.topic, partition: u[j], unconfirmed: u[j + 1], of: d.count },
          'Kafka reported records delivered without an offset (implicit ack): not counted as delivered, the request gets 503 DELIVERY_UNCONFIRMED',
        );
    if (d.answered) return;
    const outcome = d.outcome();
    if (outcome instanceof SluiceError) d.done(outcome, null);
    else d.done(null, outcome);
  };

  private onDelivery(err: LibrdKafkaError | null, report: DeliveryReport): void {
    this.inflightRecords--;
    this.inflightBytes -= report.size;
    if (err) this.deliveredFailed++;
    else if (provesWrite(report.offset)) this.deliveredOk++;
    else this.deliveredUnconfirmed++;
    const ctx = report.opaque as DurableDelivery | undefined;
    if (ctx !== undefined) ctx.record(err, report.partition, report.offset);
    else if (err) this.fireFailures.countFailure(report.topic, err);
    else if (!provesWrite(report.offset)) this.fireFailures.countUnconfirmed(report.topic, report.partition);
  }

  /** Delivery reports (ok, failed, unconfirmed: success without an offset) since the last call; metrics add them at scrape time. */
  takeDeliveries(): { ok: number; failed: number; unconfirmed: number } {
    const out = { ok: this.deliveredOk, failed: this.deliveredFailed, unconfirmed: this.deliveredUnconfirmed };
    this.deliveredOk = 0;
    this.deliveredFailed = 0;
    this.deliveredUnconfirmed = 0;
    return out;
  }

  private onStats(json: string): void {
    const stats = JSON.parse(json) as LibrdkafkaStats;
    this.metrics?.onProducerStats(stats);
    let up = false;
    for (const b of Object.values(stats.brokers ?? {})) if (b.state === 'UP') up = true;
    if (up !== this.brokersUp) this.log.info({ brokersUp: up }, up ? 'kafka reachable' : 'no kafka broker reachable');
    this.brokersUp = up;
  }

  get inflight(): { records: number; bytes: number } {
    return { records: this.inflightRecords, bytes: this.inflightBytes };
  }

  /** Waits until every queued record has a delivery report, or the timeout passes. */
  flush(timeoutMs: number): Promise<void> {
    if (!this.connected) return Promise.resolve();
    return new Promise((resolve) => {
      this.producer.flush(timeoutMs, (err) => {
        if (err) this.log.error({ err: err.message, inflight: this.inflight }, 'flush did not complete; records may be lost');
        resolve();
      });
    });
  }

  async disconnect(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    this.fireFailures.close();
    if (!this.connected) return;
    this.connected = false;
    await new Promise((resolve) => this.producer.disconnect(() => resolve(undefined)));
  }
}
