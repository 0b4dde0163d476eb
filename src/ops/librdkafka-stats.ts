/**
 * librdkafka's statistics (`statistics.interval.ms`) as Prometheus series: the producer's queue, wire and
 * broker figures, and the fan-out consumers' lag per partition. librdkafka's cumulative statistics become
 * counters (`_total`, so rate() works on them); lag series exist only for topics with subscribers.
 */
import type { Counter, Gauge } from 'prom-client';

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

/** The series librdkafka's statistics are exported to (declared in metrics.ts). */
export interface LibrdkafkaSeries {
  queueMessages: Gauge;
  queueFill: Gauge;
  txMessages: Counter;
  produceRequests: Counter;
  txBytes: Counter;
  txRetries: Counter;
  brokerRtt: Gauge;
  brokersUp: Gauge;
  consumerLag: Gauge;
}

export class LibrdkafkaStatsExport {
  private readonly lagPartitions = new Map<string, Set<string>>();
  private readonly cumulative = new Map<Counter, number>();

  constructor(private readonly series: LibrdkafkaSeries) {}

  /** Sets a counter from one of librdkafka's cumulative statistics (only ever grows while the client lives). */
  private setCumulative(counter: Counter, total: number): void {
    const before = this.cumulative.get(counter) ?? 0;
    if (total > before) counter.inc(total - before);
    this.cumulative.set(counter, total);
  }

  /** librdkafka producer statistics (statistics.interval.ms). */
  onProducerStats(stats: LibrdkafkaStats): void {
    this.series.queueMessages.set(stats.msg_cnt ?? 0);
    this.series.queueFill.set(stats.msg_max ? (stats.msg_cnt ?? 0) / stats.msg_max : 0);
    this.setCumulative(this.series.txMessages, stats.txmsgs ?? 0);
    let retries = 0;
    let up = 0;
    let produceRequests = 0;
    let txBytes = 0;
    this.series.brokerRtt.reset();
    for (const b of Object.values(stats.brokers ?? {})) {
      retries += b.txretries ?? 0;
      produceRequests += b.req?.Produce ?? 0;
      txBytes += b.txbytes ?? 0;
      if (b.state === 'UP') up++;
      if (b.nodeid !== undefined && b.nodeid >= 0 && b.rtt) this.series.brokerRtt.labels(String(b.nodeid)).set((b.rtt.avg ?? 0) / 1e6);
    }
    this.setCumulative(this.series.txRetries, retries);
    this.setCumulative(this.series.produceRequests, produceRequests);
    this.setCumulative(this.series.txBytes, txBytes);
    this.series.brokersUp.set(up);
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
        this.series.consumerLag.labels(topic, partition).set(lag);
        const known = this.lagPartitions.get(topic) ?? new Set<string>();
        known.add(partition);
        this.lagPartitions.set(topic, known);
      }
    }
  }

  /** A topic lost its last subscriber: drop its lag series so labels stay bounded. */
  forgetTopic(topic: string): void {
    for (const partition of this.lagPartitions.get(topic) ?? []) this.series.consumerLag.remove({ topic, partition });
    this.lagPartitions.delete(topic);
  }
}
