/**
 * The admin port and load-balancer-friendly shutdown (docs/operations.md, "Admin port" and "Shutdown
 * timing"): health and metrics on SLUICE_ADMIN_PORT only, /metrics behind SLUICE_METRICS_TOKEN; after
 * SIGTERM /readyz answers 503 while ingest still works for SLUICE_SHUTDOWN_DELAY_MS; subscribers are
 * closed over SLUICE_SHUTDOWN_CLOSE_WINDOW_MS, not all at once; SSE `retry:` is jittered.
 */
import { expect, inject, it } from 'vitest';
import { createServer, type AddressInfo } from 'node:net';
import { postJson, randomTopic, runSluiceExpectingExit, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { connect } from './helpers/websocket-client.js';

const kafka = inject('kafkaBootstrap');

function adminUrl(sluice: SluiceProcess): string {
  const m = /"adminPort":(\d+)[^\n]*"msg":"sluice listening"/.exec(sluice.output());
  expect(m, sluice.output()).not.toBeNull();
  return `http://127.0.0.1:${m![1]}`;
}

it('serves /healthz, /readyz and /metrics (with its token) on the admin port only', async () => {
  const sluice = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_ADMIN_PORT: '0', SLUICE_METRICS_TOKEN: 'scrape-me' });
  try {
    const admin = adminUrl(sluice);
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${admin}/readyz`)).json()).toEqual({ status: 'ready' });
    const refused = await fetch(`${admin}/metrics`);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    expect((await fetch(`${admin}/metrics`, { headers: { authorization: 'Bearer wrong-one' } })).status).toBe(401);
    const scraped = await fetch(`${admin}/metrics`, { headers: { authorization: 'Bearer scrape-me' } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/^sluice_build_info\{/m);
    expect((await fetch(`${admin}/topics/x`)).status).toBe(404);
    // Not on the public port: 404 like any absent route (not 405), while ingest works there.
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const res = await fetch(`${sluice.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ROUTE_NOT_FOUND');
    }
    expect((await postJson(`${sluice.url}/topics/${randomTopic('admin')}`, '{"a":1}')).status).toBe(200);
  } finally {
    expect(await sluice.stop()).toBe(0);
  }
});

it('after SIGTERM: /readyz is 503 while ingest still answers 200, then subscribers are closed spread over the window', async () => {
  const topic = randomTopic('leave');
  const sluice = await startSluice({
    KAFKA_BOOTSTRAP_SERVERS: kafka,
    SLUICE_ADMIN_PORT: '0',
    SLUICE_SHUTDOWN_DELAY_MS: '4000',
    SLUICE_SHUTDOWN_CLOSE_WINDOW_MS: '3000',
  });
  const admin = adminUrl(sluice);
  expect((await postJson(`${sluice.url}/topics/${topic}`, '{"warm":"up"}')).status).toBe(200);
  const retries: number[] = [];
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`${sluice.url}/sse/topics/${topic}`);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    retries.push(Number(/^retry: (\d+)$/m.exec(first)?.[1]));
    await reader.cancel();
  }
  // Jittered per stream within 1–3 s: six equal values would mean a fixed retry.
  for (const r of retries) {
    expect(r).toBeGreaterThanOrEqual(1000);
    expect(r).toBeLessThan(3000);
  }
  expect(new Set(retries).size).toBeGreaterThan(1);

  const sockets = await Promise.all(Array.from({ length: 8 }, () => connect(`${sluice.wsUrl}/ws/topics/${topic}`)));
  await Promise.all(sockets.map((s) => s.waitForFrames(1)));
  const closedAt: number[] = [];
  const closes = sockets.map((s) => s.closed.then((c) => (closedAt.push(performance.now()), c.code)));

  sluice.proc.kill('SIGTERM');
  // Bounded by count, not time: the first 503 comes at once (the delay is 4 s).
  let readiness = 200;
  for (let i = 0; i < 50 && readiness === 200; i++) {
    readiness = (await fetch(`${admin}/readyz`)).status;
    if (readiness === 200) await new Promise((r) => setTimeout(r, 20));
  }
  expect(readiness).toBe(503);
  // Still serving: load balancers have not let go yet.
  expect((await postJson(`${sluice.url}/topics/${topic}`, '{"after":"sigterm"}')).status).toBe(200);
  expect(await (await fetch(`${admin}/healthz`)).json()).toEqual({ status: 'ok' });

  expect(await Promise.all(closes)).toEqual(Array(8).fill(1001));
  expect(await sluice.exited).toBe(0);
  // Spread over the 3 s window: eight closes at uniform random moments all within 100 ms is a ~1e-8 event;
  // all at once (the closes of one loop) they arrive within milliseconds.
  expect(Math.max(...closedAt) - Math.min(...closedAt)).toBeGreaterThan(100);
});

it('an admin port in use stops start-up with a message naming SLUICE_ADMIN_PORT, exit code 1', async () => {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const busy = (holder.address() as AddressInfo).port;
  try {
    const { code, output } = await runSluiceExpectingExit({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_ADMIN_PORT: String(busy) });
    expect(code).toBe(1);
    expect(output).toContain(`sluice: start-up failed: SLUICE_ADMIN_PORT=${busy}: cannot listen on 127.0.0.1:${busy} (in use?)`);
  } finally {
    holder.close();
  }
});
