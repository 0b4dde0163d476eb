/**
 * Prometheus metrics (`GET /metrics`), declared once here. Series are Sluice's own (`sluice_` prefix)
 * with bounded labels (route, status, result, broker, and topic/partition only for topics with
 * subscribers). Requests and deliveries are tallied in plain numbers and Maps and added to the registry
 * in bulk (at scrape time on the main thread, once a second from ingress worker threads); nothing on the
 * ingest path goes through prom-client's label lookups (≈0.4 µs per `labels().inc()`, 0.5 µs per
 * `observe()`, measured here), and nothing is counted per record.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

/**
 * A histogram observed on the hot path: bucket counts in a typed array (a few nanoseconds per
 * observation), exported at scrape time in Prometheus' histogram format through the registry.
 */
export class TalliedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {
    this.counts = new Float64Array(buckets.length);
  }

  observe(value: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    if (i < b.length) this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  /** What prom-client's registry reads at scrape time (the shape its own Histogram returns). */
  get(): {
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { metricName: string; labels: Record<string, string | number>; value: number }[];
  } {
    const values = [];
    let cumulative = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cumulative += this.counts[i];
      values.push({ metricName: `${this.name}_bucket`, labels: { le: this.buckets[i] }, value: cumulative });
    }
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: this.count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.count });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

export type RequestCounts = [route: string, status: number, requests: number, records: number][];
export type ErrorCounts = [code: string, route: string, answers: number][];

export class GatewayMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'sluice_http_requests_total',
    help: 'Ingest requests answered, by route and status.',
    labelNames: ['route', 'status'],
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'sluice_errors_total',
    help: 'Error answers, by error code (src/errors.ts) and route (a route-table id, or `unmatched` for 404/405/426).',
    labelNames: ['code', 'route'],
    registers: [this.registry],
  });
  readonly recordsReceived = new Counter({
    name: 'sluice_records_received_total',
    help: 'Records in requests answered 2xx.',
    labelNames: ['route'],
    registers: [this.registry],
  });
  readonly recordsDelivered = new Counter({
    name: 'sluice_records_delivered_total',
    help: 'Records with a delivery report from Kafka, by result.',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly deliveryLatency = new TalliedHistogram(
    'sluice_delivery_latency_seconds',
    'Durable requests: from the first produce() of a request to the last delivery report of its records.',
    [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  readonly inflightRecords = new Gauge({
    name: 'sluice_producer_inflight_records',
    help: 'Records queued in the producer, not yet acknowledged.',
    registers: [this.registry],
  });
  readonly inflightBytes = new Gauge({
    name: 'sluice_producer_inflight_bytes',
    help: 'Value bytes queued in the producer, not yet acknowledged.',
    registers: [this.registry],
  });
  readonly queueMessages = new Gauge({
    name: 'sluice_kafka_producer_queue_messages',
    help: 'librdkafka msg_cnt: messages in the producer queues.',
    registers: [this.registry],
  });
  readonly queueFill = new Gauge({
    name: 'sluice_kafka_producer_queue_fill_ratio',
    help: 'librdkafka msg_cnt / msg_max.',
    registers: [this.registry],
  });
  readonly txMessages = new Gauge({
    name: 'sluice_kafka_tx_messages',
    help: 'librdkafka txmsgs: messages sent to brokers since start.',
    registers: [this.registry],
  });
  readonly produceRequests = new Gauge({
    name: 'sluice_kafka_produce_requests',
    help: 'librdkafka Produce requests sent, summed over brokers since start (tx_messages / produce_requests = records per request).',
    registers: [this.registry],
  });
  readonly txBytes = new Gauge({
    name: 'sluice_kafka_tx_bytes',
    help: 'librdkafka txbytes summed over brokers since start: bytes on the wire, after compression.',
    registers: [this.registry],
  });
  readonly txRetries = new Gauge({
    name: 'sluice_kafka_tx_retries',
    help: 'librdkafka txretries summed over brokers since start.',
    registers: [this.registry],
  });
  readonly brokerRtt = new Gauge({
    name: 'sluice_kafka_broker_rtt_seconds',
    help: 'librdkafka average broker round-trip time over the last statistics window.',
    labelNames: ['broker'],
    registers: [this.registry],
  });
  readonly brokersUp = new Gauge({ name: 'sluice_kafka_brokers_up', help: 'Broker connections in state UP.', registers: [this.registry] });
  readonly subscribers = new Gauge({
    name: 'sluice_subscribers',
    help: 'Open subscriptions, by transport.',
    labelNames: ['transport'],
    registers: [this.registry],
  });
  readonly consumerLag = new Gauge({
    name: 'sluice_consumer_lag_records',
    help: 'Fan-out consumer lag per partition: end offset minus the next offset handed to subscribers.',
    labelNames: ['topic', 'partition'],
    registers: [this.registry],
  });

  // The subscription lifecycle: with no client connected, every series below reads 0 (live consumers once their idle grace has passed).
  readonly kafkaConsumers = new Gauge({
    name: 'sluice_kafka_consumers',
    help: 'Kafka consumers open (created and not yet disconnected), by role: live (one shared by every followed topic: 0 or 1), replay (one per replay in progress), group (one per topic and group with members here).',
    labelNames: ['role'],
    registers: [this.registry],
  });
  readonly liveTopics = new Gauge({
    name: 'sluice_live_topics',
    help: 'Topics followed live (with subscribers, starting, or in their idle grace), all read by the one live consumer.',
    registers: [this.registry],
  });
  readonly livePartitions = new Gauge({
    name: 'sluice_live_partitions',
    help: 'Partitions of the topics followed live, counted against SLUICE_MAX_LIVE_PARTITIONS.',
    registers: [this.registry],
  });
  readonly subscriptions = new Gauge({
    name: 'sluice_subscriptions',
    help: 'Subscriptions by lifecycle state (preparing: topic lookup, consumer start, waiting for the upgrade; replaying: reading history; live) and transport.',
    labelNames: ['state', 'transport'],
    registers: [this.registry],
  });
  readonly replaysInProgress = new Gauge({
    name: 'sluice_replays_in_progress',
    help: 'Replay slots held (at most SLUICE_MAX_REPLAYS).',
    registers: [this.registry],
  });
  readonly windowLateRecords = new Counter({
    name: 'sluice_window_late_records_total',
    help: "Records of windowed views (`window=`) that arrived after a window they belong to had closed (end + grace passed): not in that window's frame.",
    registers: [this.registry],
  });
  readonly liveViews = new Gauge({
    name: 'sluice_window_views',
    help: 'Windowed views computed (one per distinct view and topic, plus one per view subscription reading history).',
    registers: [this.registry],
  });
  readonly groupMembers = new Gauge({
    name: 'sluice_group_members',
    help: 'Subscriptions that records of a consumer group are dealt to.',
    registers: [this.registry],
  });

  readonly slowDrops = new Counter({
    name: 'sluice_subscribers_dropped_slow_total',
    help: 'Subscribers closed for falling too far behind (WebSocket close 4008, SSE error TOO_SLOW), by transport.',
    labelNames: ['transport'],
    registers: [this.registry],
  });

  private readonly lagPartitions = new Map<string, Set<string>>();

  constructor() {
    this.registry.registerMetric(this.deliveryLatency as unknown as Metric);
    collectDefaultMetrics({ register: this.registry, prefix: 'sluice_' });
  }

  /** Delivery reports tallied by the producer since the last scrape. */
  addDeliveries(ok: number, failed: number): void {
    if (ok > 0) this.recordsDelivered.labels('ok').inc(ok);
    if (failed > 0) this.recordsDelivered.labels('failed').inc(failed);
  }

  /** Request counts from any thread, summed per route and status. */
  addRequests(counts: RequestCounts): void {
    for (const [route, status, requests, records] of counts) {
      this.requests.labels(route, String(status)).inc(requests);
      if (records > 0) this.recordsReceived.labels(route).inc(records);
    }
  }

  /** Error answer counts from any thread. */
  addErrors(counts: ErrorCounts): void {
    for (const [code, route, n] of counts) this.errors.labels(code, route).inc(n);
  }

  /** Lifecycle gauges, read at scrape time from the registry and the open consumers. */
  setLifecycle(
    consumers: Readonly<Record<string, number>>,
    subscriptions: Readonly<Record<string, Readonly<Record<string, number>>>>,
    replays: number,
    groupMembers: number,
  ): void {
    for (const [role, n] of Object.entries(consumers)) this.kafkaConsumers.labels(role).set(n);
    for (const [transport, byState] of Object.entries(subscriptions)) {
      for (const [state, n] of Object.entries(byState)) this.subscriptions.labels(state, transport).set(n);
    }
    this.replaysInProgress.set(replays);
    this.groupMembers.set(groupMembers);
  }

  addSlowDrops(drops: Record<string, number>): void {
    for (const [transport, n] of Object.entries(drops)) if (n > 0) this.slowDrops.labels(transport).inc(n);
  }

  /** librdkafka producer statistics (statistics.interval.ms). */
  onProducerStats(stats: LibrdkafkaStats): void {
    this.queueMessages.set(stats.msg_cnt ?? 0);
    this.queueFill.set(stats.msg_max ? (stats.msg_cnt ?? 0) / stats.msg_max : 0);
    this.txMessages.set(stats.txmsgs ?? 0);
    let retries = 0;
    let up = 0;
    let produceRequests = 0;
    let txBytes = 0;
    this.brokerRtt.reset();
    for (const b of Object.values(stats.brokers ?? {})) {
      retries += b.txretries ?? 0;
      produceRequests += b.req?.Produce ?? 0;
      txBytes += b.txbytes ?? 0;
      if (b.state === 'UP') up++;
      if (b.nodeid !== undefined && b.nodeid >= 0 && b.rtt) this.brokerRtt.labels(String(b.nodeid)).set((b.rtt.avg ?? 0) / 1e6);
    }
    this.txRetries.set(retries);
    this.produceRequests.set(produceRequests);
    this.txBytes.set(txBytes);
    this.brokersUp.set(up);
  }

  /** librdkafka consumer statistics of one fan-out consumer. */
  onConsumerStats(stats: LibrdkafkaStats): void {
    for (const [topic, t] of Object.entries(stats.topics ?? {})) {
      for (const [partition, p] of Object.entries(t.partitions ?? {})) {
        if (partition === '-1') continue;
        // Fan-out consumers never commit, so librdkafka's consumer_lag (against the committed offset)
        // stays -1: measure against the next offset handed to the application instead.
        const end = p.ls_offset !== undefined && p.ls_offset >= 0 ? p.ls_offset : p.hi_offset;
        const lag =
          p.consumer_lag !== undefined && p.consumer_lag >= 0
            ? p.consumer_lag
            : end !== undefined && end >= 0 && p.app_offset !== undefined && p.app_offset >= 0
              ? end - p.app_offset
              : undefined;
        if (lag === undefined) continue;
        this.consumerLag.labels(topic, partition).set(lag);
        const known = this.lagPartitions.get(topic) ?? new Set<string>();
        known.add(partition);
        this.lagPartitions.set(topic, known);
      }
    }
  }

  /** A topic lost its last subscriber: drop its lag series so labels stay bounded. */
  forgetTopic(topic: string): void {
    for (const partition of this.lagPartitions.get(topic) ?? []) this.consumerLag.remove({ topic, partition });
    this.lagPartitions.delete(topic);
  }
}

export interface LibrdkafkaStats {
  msg_cnt?: number;
  msg_max?: number;
  txmsgs?: number;
  brokers?: Record<
    string,
    { state?: string; nodeid?: number; txretries?: number; txbytes?: number; req?: Record<string, number>; rtt?: { avg?: number } }
  >;
  topics?: Record<
    string,
    { partitions?: Record<string, { consumer_lag?: number; app_offset?: number; ls_offset?: number; hi_offset?: number }> }
  >;
}

/** Request counts gathered in one thread between flushes (a worker posts them to the main thread). */
export class RequestTally {
  // route → status → [route, status, requests, records]; nested so counting allocates nothing.
  private readonly counts = new Map<string, Map<number, [string, number, number, number]>>();

  add(route: string, status: number, records: number): void {
    let byStatus = this.counts.get(route);
    if (!byStatus) this.counts.set(route, (byStatus = new Map()));
    const entry = byStatus.get(status);
    if (entry) {
      entry[2]++;
      entry[3] += records;
    } else byStatus.set(status, [route, status, 1, records]);
  }

  drain(): RequestCounts {
    const out: RequestCounts = [];
    for (const byStatus of this.counts.values()) for (const e of byStatus.values()) out.push(e);
    this.counts.clear();
    return out;
  }
}

/** Error answers gathered in one thread between flushes, like RequestTally: code → route → count. */
export class ErrorTally {
  private readonly counts = new Map<string, Map<string, [string, string, number]>>();

  add(code: string, route: string): void {
    let byRoute = this.counts.get(code);
    if (!byRoute) this.counts.set(code, (byRoute = new Map()));
    const entry = byRoute.get(route);
    if (entry) entry[2]++;
    else byRoute.set(route, [code, route, 1]);
  }

  drain(): ErrorCounts {
    const out: ErrorCounts = [];
    for (const byRoute of this.counts.values()) for (const e of byRoute.values()) out.push(e);
    this.counts.clear();
    return out;
  }
}
