/** GET /metrics: Prometheus text with Sluice's own series, counted per request/batch, from real traffic. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { postJson, randomTopic, ROOT, sluiceForFile } from './helpers/sluice-process.js';
import { connect } from './helpers/websocket-client.js';
import { openSse } from './helpers/sse-client.js';

const kafka = inject('kafkaBootstrap');
const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }));

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Polls until `check` passes: worker threads report counts once a second, librdkafka stats every few. */
async function scrapeUntil(check: (text: string) => boolean, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const res = await fetch(`${gateway().url}/metrics`);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    if (check(text) || Date.now() > deadline) return text;
    await new Promise((r) => setTimeout(r, 250));
  }
}

it('counts requests by route and status, records in and delivered, delivery latency, subscribers, broker state and consumer lag', async () => {
  const topic = randomTopic('metrics');
  const socket = await connect(`${gateway().wsUrl}/ws/topics/${topic}`);
  await socket.waitForFrames(1);
  const sse = await openSse(`${gateway().url}/sse/topics/${topic}`);
  await sse.waitForEvents(1);
  for (let i = 0; i < 3; i++) expect((await postJson(`${gateway().url}/topics/${topic}`, '[{"a":1},{"a":2}]')).status).toBe(200);
  expect((await postJson(`${gateway().url}/topics/${topic}`, '[{"a":')).status).toBe(400);
  expect((await postJson(`${gateway().url}/send`, '{"seed":true}')).status).toBe(200);
  await socket.waitForFrames(7);

  const text = await scrapeUntil(
    (t) =>
      value(t, 'sluice_http_requests_total{route="topics",status="200"}') === 3 &&
      (value(t, 'sluice_kafka_brokers_up') ?? 0) >= 1 &&
      (value(t, 'sluice_kafka_tx_messages_total') ?? 0) >= 7 &&
      value(t, 'sluice_frames_sent_total{transport="websocket"}') === 6 &&
      t.includes(`sluice_consumer_lag_records{topic="${topic}"`),
  );
  expect(value(text, 'sluice_http_requests_total{route="topics",status="200"}')).toBe(3);
  expect(value(text, 'sluice_http_requests_total{route="topics",status="400"}')).toBe(1);
  expect(value(text, 'sluice_http_requests_total{route="send",status="200"}')).toBe(1);
  expect(value(text, 'sluice_records_received_total{route="topics"}')).toBe(6);
  expect(value(text, 'sluice_records_delivered_total{result="ok"}')).toBe(7);
  expect(value(text, 'sluice_delivery_latency_seconds_count')).toBe(4);
  expect(value(text, 'sluice_subscribers{transport="websocket"}')).toBe(1);
  expect(value(text, 'sluice_subscribers{transport="sse"}')).toBe(1);
  expect(value(text, 'sluice_subscribers{transport="seed-websocket"}')).toBe(0);
  expect(value(text, 'sluice_producer_inflight_records')).toBe(0);
  expect(value(text, 'sluice_kafka_tx_messages_total')).toBeGreaterThanOrEqual(7);
  expect(text).toMatch(/^# TYPE sluice_kafka_tx_messages_total counter$/m);
  expect(text).toMatch(/^# TYPE sluice_kafka_tx_bytes_total counter$/m);
  expect(value(text, 'sluice_http_request_duration_seconds_count{route="topics",status_class="2xx"}')).toBe(3);
  expect(value(text, 'sluice_http_request_duration_seconds_count{route="topics",status_class="4xx"}')).toBe(1);
  expect(value(text, 'sluice_http_request_duration_seconds_bucket{route="topics",status_class="2xx",le="+Inf"}')).toBe(3);
  // The 6 records of the topic reached each subscriber (the seed route's record went to another topic).
  expect(value(text, 'sluice_frames_sent_total{transport="websocket"}')).toBe(6);
  expect(value(text, 'sluice_frames_sent_total{transport="sse"}')).toBe(6);
  expect(text).toMatch(/^sluice_build_info\{version="[^"]+",node="\d+\.\d+\.\d+",librdkafka="[^"]+",uws="[^"]+"\} 1$/m);
  expect(text).toMatch(/^sluice_event_loop_delay_p99_seconds\{thread="main"\} /m);
  if (process.env.SLUICE_TEST_INGRESS_THREADS) expect(text).toMatch(/^sluice_event_loop_delay_p99_seconds\{thread="ingress-1"\} /m);
  expect(text).toMatch(/^sluice_kafka_broker_rtt_seconds\{broker="1"\} /m);
  expect(text).toMatch(new RegExp(`^sluice_consumer_lag_records\\{topic="${topic}",partition="\\d+"\\} 0$`, 'm'));
  // Node's process and runtime metrics under their standard names (stock dashboards read them); nothing else unprefixed.
  expect(text).toMatch(/^process_resident_memory_bytes /m);
  expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  for (const line of text.split('\n')) if (line && !line.startsWith('#')) expect(line).toMatch(/^(sluice_|process_|nodejs_)/);
  expect(value(text, 'sluice_subscriptions{state="live",transport="websocket"}')).toBe(1);
  expect(value(text, 'sluice_subscriptions{state="live",transport="sse"}')).toBe(1);
  expect(value(text, 'sluice_subscriptions{state="preparing",transport="websocket"}')).toBe(0);
  // One live consumer however many topics are followed; the topic's partitions are assigned to it.
  expect(value(text, 'sluice_kafka_consumers{role="live"}')).toBe(1);
  expect(value(text, 'sluice_live_topics')).toBe(1);
  expect(value(text, 'sluice_live_partitions')).toBeGreaterThan(0);
  expect(value(text, 'sluice_kafka_consumers{role="replay"}')).toBe(0);
  expect(value(text, 'sluice_replays_in_progress')).toBe(0);
  expect(value(text, 'sluice_group_members')).toBe(0);
  socket.ws.close();
  sse.close();
  // With nobody connected the subscriptions are gone at once; the live consumer after its 10 s grace.
  const idle = await scrapeUntil((t) => value(t, 'sluice_kafka_consumers{role="live"}') === 0, 30_000);
  for (const transport of ['websocket', 'sse']) {
    for (const state of ['preparing', 'replaying', 'live'])
      expect(value(idle, `sluice_subscriptions{state="${state}",transport="${transport}"}`)).toBe(0);
  }
  expect(value(idle, 'sluice_kafka_consumers{role="live"}')).toBe(0);
  expect(value(idle, 'sluice_live_topics')).toBe(0);
  expect(value(idle, 'sluice_live_partitions')).toBe(0);
});

it('every metric the Grafana dashboard (docker/helm/sluice/dashboards/sluice.json) queries is on /metrics', async () => {
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'docker', 'helm', 'sluice', 'dashboards', 'sluice.json'), 'utf8')) as {
    panels: { targets?: { expr: string }[] }[];
  };
  const queried = new Set<string>();
  for (const panel of dashboard.panels)
    for (const t of panel.targets ?? []) for (const m of t.expr.matchAll(/\b((?:sluice|process|nodejs)_[a-z0-9_]+)/g)) queried.add(m[1]);
  expect(queried.size).toBeGreaterThan(20);
  const text = await (await fetch(`${gateway().url}/metrics`)).text();
  // Declared (# TYPE) is enough: a labelled counter has no sample until it first counts.
  const declared = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
  const missing = [...queried].filter((name) => !declared.has(name.replace(/_(bucket|sum|count)$/, '')));
  expect(missing).toEqual([]);
});
