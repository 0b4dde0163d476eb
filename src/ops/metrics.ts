/**
 * Prometheus metrics (`GET /metrics`), declared once here. Series are Sluice's own (`sluice_` prefix),
 * plus Node's process and runtime metrics under their standard names (`process_*`, `nodejs_*`, so stock
 * dashboards work), with bounded labels (route, status, result, broker, and topic/partition only for topics with
 * subscribers). Requests and deliveries are tallied in plain numbers and Maps (request-tally.ts, the
 * producer) and added to the registry in bulk (at scrape time on the main thread, once a second from
 * ingress worker threads); nothing on the ingest path goes through prom-client's label lookups (≈0.4 µs
 * per `labels().inc()`, 0.5 µs per `observe()`, measured here; the hot-path histograms are histograms.ts),
 * and nothing is counted per record. librdkafka's statistics are exported by librdkafka-stats.ts.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { HTTP_DURATION_BUCKETS, LabelledHistogram, TalliedHistogram } from './histograms.js';
import { LibrdkafkaStatsExport, type LibrdkafkaStats } from './librdkafka-stats.js';
import type { ErrorCounts, RequestCounts } from './request-tally.js';

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
    help: 'Records with a delivery report from Kafka, by result: ok, failed, or unconfirmed (reported delivered without an offset, an implicit ack: not counted as written; a durable request gets 503 DELIVERY_UNCONFIRMED).',
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
  // librdkafka's cumulative statistics, exported as counters (`_total`): rate() works on them.
  readonly txMessages = new Counter({
    name: 'sluice_kafka_tx_messages_total',
    help: 'librdkafka txmsgs: messages sent to brokers.',
    registers: [this.registry],
  });
  readonly produceRequests = new Counter({
    name: 'sluice_kafka_produce_requests_total',
    help: 'librdkafka Produce requests sent, summed over brokers (tx_messages / produce_requests = records per request).',
    registers: [this.registry],
  });
  readonly txBytes = new Counter({
    name: 'sluice_kafka_tx_bytes_total',
    help: 'librdkafka txbytes summed over brokers: bytes on the wire, after compression.',
    registers: [this.registry],
  });
  readonly txRetries = new Counter({
    name: 'sluice_kafka_tx_retries_total',
    help: 'librdkafka txretries summed over brokers.',
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
  readonly largestShares = new Gauge({
    name: 'sluice_client_share_largest',
    help: 'The largest share of a subscription resource held by any one connection or client, by the limit that bounds it (SLUICE_MAX_SUBSCRIPTIONS_PER_CONNECTION, SLUICE_MAX_REPLAYS_PER_CONNECTION, SLUICE_MAX_GROUPS_PER_CONNECTION, SLUICE_MAX_TOPICS_PER_CLIENT, SLUICE_MAX_REPLAYS_PER_CLIENT); 0 with no client connected.',
    labelNames: ['limit'],
    registers: [this.registry],
  });
  readonly resumes = new Counter({
    name: 'sluice_resumes_total',
    help: "Subscriptions resuming (`from=<token>` or `from=<time>`), by where their history came from: memory (the topic's resume window: no Kafka consumer, no replay slot) or kafka (a replay).",
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly resumeWindowRecords = new Gauge({
    name: 'sluice_resume_window_records',
    help: 'Records held in the resume windows of all topics followed live (each at most SLUICE_RESUME_WINDOW_RECORDS).',
    registers: [this.registry],
  });
  readonly resumeWindowBytes = new Gauge({
    name: 'sluice_resume_window_bytes',
    help: 'Bytes held in the resume windows of all topics followed live (each at most SLUICE_RESUME_WINDOW_BYTES).',
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

  readonly framesSent = new Counter({
    name: 'sluice_frames_sent_total',
    help: 'Record frames written to subscribers (one per record and subscriber; a windowed view counts its frames), by transport.',
    labelNames: ['transport'],
    registers: [this.registry],
  });
  readonly buildInfo = new Gauge({
    name: 'sluice_build_info',
    help: 'Always 1; the labels say what runs: Sluice, Node.js, librdkafka and uWebSockets.js versions.',
    labelNames: ['version', 'node', 'librdkafka', 'uws'],
    registers: [this.registry],
  });
  readonly httpDuration = new LabelledHistogram(
    'sluice_http_request_duration_seconds',
    'Ingest requests: from accepted (headers checked) to answered, by route and status class (2xx, 4xx, 5xx).',
    ['route', 'status_class'],
    HTTP_DURATION_BUCKETS,
  );
  readonly eventLoopDelay = new Gauge({
    name: 'sluice_event_loop_delay_p99_seconds',
    help: "99th percentile of the event loop's delay, per thread (`main`, `ingress-N`), over the last second (workers) or since the last scrape (main).",
    labelNames: ['thread'],
    registers: [this.registry],
  });

  private readonly librdkafka = new LibrdkafkaStatsExport(this);
  private readonly mainLoopDelay = monitorEventLoopDelay({ resolution: 10 });

  constructor(build?: { version: string; librdkafka: string; uws: string }) {
    this.registry.registerMetric(this.deliveryLatency as unknown as Metric);
    // Every result from the start, so that an alert on `unconfirmed` has a series to watch before the first one.
    for (const result of ['ok', 'failed', 'unconfirmed']) this.recordsDelivered.labels(result).inc(0);
    this.registry.registerMetric(this.httpDuration as unknown as Metric);
    // Standard names, no prefix: Grafana's stock Node.js dashboards read them as they are.
    collectDefaultMetrics({ register: this.registry });
    if (build) this.buildInfo.labels(build.version, process.versions.node, build.librdkafka, build.uws).set(1);
    this.mainLoopDelay.enable();
  }

  /** The main thread's event-loop delay since the last call (at scrape time). */
  sampleMainLoopDelay(): void {
    this.eventLoopDelay.labels('main').set(this.mainLoopDelay.percentile(99) / 1e9);
    this.mainLoopDelay.reset();
  }

  /** Delivery reports tallied by the producer since the last scrape. */
  addDeliveries(ok: number, failed: number, unconfirmed = 0): void {
    if (ok > 0) this.recordsDelivered.labels('ok').inc(ok);
    if (failed > 0) this.recordsDelivered.labels('failed').inc(failed);
    if (unconfirmed > 0) this.recordsDelivered.labels('unconfirmed').inc(unconfirmed);
  }

  /** Request counts from any thread, summed per route and status. */
  addRequests(counts: RequestCounts): void {
    for (const [route, status, requests, records, buckets, seconds] of counts) {
      this.requests.labels(route, String(status)).inc(requests);
      if (records > 0) this.recordsReceived.labels(route).inc(records);
      this.httpDuration.add([route, `${Math.floor(status / 100)}xx`], buckets, seconds, requests);
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

  addFramesSent(frames: Record<string, number>): void {
    for (const [transport, n] of Object.entries(frames)) if (n > 0) this.framesSent.labels(transport).inc(n);
  }

  addSlowDrops(drops: Record<string, number>): void {
    for (const [transport, n] of Object.entries(drops)) if (n > 0) this.slowDrops.labels(transport).inc(n);
  }

  /** librdkafka producer statistics (statistics.interval.ms). */
  onProducerStats(stats: LibrdkafkaStats): void {
    this.librdkafka.onProducerStats(stats);
  }

  /** librdkafka consumer statistics of one fan-out consumer. */
  onConsumerStats(stats: LibrdkafkaStats): void {
    this.librdkafka.onConsumerStats(stats);
  }

  /** A topic lost its last subscriber: drop its lag series so labels stay bounded. */
  forgetTopic(topic: string): void {
    this.librdkafka.forgetTopic(topic);
  }
}
