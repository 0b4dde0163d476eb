/**
 * docker/ without a Docker engine: the compose file must pass `docker-compose config` (Debian's
 * docker-compose validates without a daemon) and describe the tested layout; the image must build the
 * native client and run as a non-root user.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from './helpers/sluice-process.js';

it('compose.yaml validates and has three KRaft brokers, a 6-partition RF-3 min-ISR-2 topic and the gateway', () => {
  const r = spawnSync('docker-compose', ['-f', join(ROOT, 'docker', 'compose.yaml'), 'config'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const config = r.stdout;
  for (const broker of ['kafka-1', 'kafka-2', 'kafka-3']) expect(config).toContain(`${broker}:`);
  expect(config).toMatch(/KAFKA_PROCESS_ROLES: broker,controller/);
  expect(config).toMatch(/--partitions 6 --replication-factor 3 --config min\.insync\.replicas=2/);
  expect(config).toMatch(/KAFKA_BOOTSTRAP_SERVERS: kafka-1:9092,kafka-2:9092,kafka-3:9092/);
});

it('compose.yaml runs two gateways behind nginx (official image), which balances by Idempotency-Key and passes WebSockets', () => {
  const r = spawnSync('docker-compose', ['-f', join(ROOT, 'docker', 'compose.yaml'), 'config'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  for (const service of ['sluice-1:', 'sluice-2:', 'load-balancer:']) expect(r.stdout).toContain(service);
  expect(r.stdout).toMatch(/image: nginx:1\.27-alpine/);
  expect(r.stdout.match(/KAFKA_BOOTSTRAP_SERVERS: kafka-1:9092,kafka-2:9092,kafka-3:9092/g)).toHaveLength(2);
  const nginx = readFileSync(join(ROOT, 'docker', 'nginx.conf'), 'utf8');
  expect(nginx).toMatch(/server sluice-1:8080;\s+server sluice-2:8080;/);
  expect(nginx).toMatch(/hash \$sluice_balance_key consistent;/);
  expect(nginx).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
  expect(nginx).toMatch(/proxy_buffering off;/);
});

it('the Dockerfile builds the native client from source in a build stage and runs as a non-root user', () => {
  const dockerfile = readFileSync(join(ROOT, 'docker', 'Dockerfile'), 'utf8');
  expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
  // Node 24 in both stages (the binding is built for the build stage's ABI) on Debian 13, whose glibc (2.41)
  // loads uWebSockets.js' binaries without the compatibility copy the image does not have.
  expect(dockerfile.match(/^FROM node:24-trixie(-slim)?(@sha256:[0-9a-f]{64})?( AS build)?$/gm)).toHaveLength(2);
  expect(dockerfile).toMatch(/CKJS_LINKING=dynamic npm ci/);
  expect(dockerfile).toMatch(/^USER node$/m);
  expect(dockerfile).toMatch(/COPY native-config/);
  // GET / serves the dashboard from these files: the runtime image needs them beside dist/.
  expect(dockerfile).toMatch(/COPY src\/dashboard \.\/src\/dashboard/);
  expect(dockerfile).toMatch(/COPY src\/api\/docs-page \.\/src\/api\/docs-page/);
});

it('compose.yaml provisions Prometheus scraping both admin ports and Grafana with the Sluice dashboard', () => {
  const r = spawnSync('docker-compose', ['-f', join(ROOT, 'docker', 'compose.yaml'), 'config'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout.match(/SLUICE_ADMIN_PORT: "?9000"?/g)).toHaveLength(2);
  expect(r.stdout).toMatch(/image: grafana\/grafana:/);
  expect(r.stdout).toMatch(/helm\/sluice\/dashboards:\/var\/lib\/grafana\/dashboards:ro/);
  const prometheus = readFileSync(join(ROOT, 'docker', 'prometheus.yml'), 'utf8');
  expect(prometheus).toMatch(/targets: \["sluice-1:9000", "sluice-2:9000"\]/);
  const provider = readFileSync(join(ROOT, 'docker', 'grafana', 'provisioning', 'dashboards', 'sluice.yaml'), 'utf8');
  expect(provider).toMatch(/path: \/var\/lib\/grafana\/dashboards/);
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'docker', 'helm', 'sluice', 'dashboards', 'sluice.json'), 'utf8'));
  expect(dashboard.uid).toBe('sluice-gateway');
});
