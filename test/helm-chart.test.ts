/**
 * The Helm chart (docker/helm/sluice): `helm lint` passes and `helm template` renders what operators and the
 * kubelet rely on — probes on the admin port, a locked-down security context, a grace period that covers
 * Sluice's whole shutdown budget, a rollout on config change, secrets mounted as files. Helm comes from
 * .ci/setup-helm (built with Go into .tools/bin); without it the tests are skipped with a printed reason.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/sluice-process.js';

const HELM = join(ROOT, '.tools', 'bin', 'helm');
const CHART = join(ROOT, 'docker', 'helm', 'sluice');
// PyYAML reads the rendered manifests: the schemathesis venv has it (.ci/setup), else the system's python3.
const PYTHON = existsSync(join(ROOT, '.venv-schemathesis', 'bin', 'python'))
  ? join(ROOT, '.venv-schemathesis', 'bin', 'python')
  : 'python3';
const haveHelm = existsSync(HELM);
if (!haveHelm) console.log(`SKIPPED test/helm-chart.test.ts: no helm at ${HELM} (.ci/setup-helm builds it where Go is installed)`);

interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  /** Rendered Kubernetes objects, checked field by field in the tests. */
  spec?: any;
  data?: Record<string, string>;
}

function helm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(HELM, args, { encoding: 'utf8', env: { ...process.env, HELM_CACHE_HOME: join(ROOT, '.tools', 'helm-cache') } });
}

function render(set: string[] = []): Manifest[] {
  const r = helm(['template', 'edge', CHART, ...set.flatMap((s) => ['--set-string', s])]);
  expect(r.status, r.stderr).toBe(0);
  const parsed = spawnSync(PYTHON, ['-c', 'import sys, json, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))'], {
    input: r.stdout,
    encoding: 'utf8',
  });
  expect(parsed.status, parsed.stderr).toBe(0);
  return JSON.parse(parsed.stdout) as Manifest[];
}

const deploymentOf = (manifests: Manifest[]) => manifests.find((m) => m.kind === 'Deployment')!;

describe.skipIf(!haveHelm)('Helm chart', () => {
  it('passes helm lint, with the defaults and with every option on', () => {
    for (const set of [[], ['autoscaling.enabled=true', 'metrics.serviceMonitor.enabled=true', 'metrics.grafanaDashboard.enabled=true']]) {
      const r = helm(['lint', CHART, ...set.flatMap((s) => ['--set', s])]);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('probes /readyz and /healthz on the admin port, which the gateway is configured to serve', () => {
    const manifests = render();
    const container = deploymentOf(manifests).spec.template.spec.containers[0];
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    const admin = container.ports.find((p: { name: string }) => p.name === 'admin');
    const config = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'edge-sluice')!.data!;
    expect(config.SLUICE_ADMIN_PORT).toBe(String(admin.containerPort));
    expect(config.SLUICE_PORT).toBe(String(container.ports.find((p: { name: string }) => p.name === 'http').containerPort));
  });

  it('runs as non-root on a read-only root filesystem, without privilege escalation or capabilities', () => {
    const pod = deploymentOf(render()).spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const sc = pod.containers[0].securityContext;
    expect(sc).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(sc.capabilities.drop).toEqual(['ALL']);
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it("gives the pod a grace period covering Sluice's whole shutdown budget, and refuses a budget with no room to drain", () => {
    for (const [timeoutMs, expected] of [
      ['25000', 30],
      ['40500', 46],
    ] as const) {
      const manifests = render([`shutdown.timeoutMs=${timeoutMs}`]);
      expect(deploymentOf(manifests).spec.template.spec.terminationGracePeriodSeconds).toBe(expected);
      const config = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'edge-sluice')!.data!;
      expect(config.SLUICE_SHUTDOWN_TIMEOUT_MS).toBe(timeoutMs);
      expect(Number(config.SLUICE_SHUTDOWN_DELAY_MS)).toBeGreaterThan(0);
    }
    const r = helm(['template', 'edge', CHART, '--set', 'shutdown.delayMs=30000']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/shutdown\.delayMs \+ shutdown\.closeWindowMs must be less than shutdown\.timeoutMs/);
  });

  it('rolls the pods when the configuration changes, and keeps a PodDisruptionBudget and documented resources', () => {
    const checksum = (set: string[]) => deploymentOf(render(set)).spec.template.metadata.annotations['checksum/config'];
    expect(checksum([])).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(['config.SLUICE_LOG_LEVEL=debug'])).not.toBe(checksum([]));
    const manifests = render();
    expect(manifests.find((m) => m.kind === 'PodDisruptionBudget')!.spec.maxUnavailable).toBe(1);
    const resources = deploymentOf(manifests).spec.template.spec.containers[0].resources;
    expect(resources.requests).toEqual({ cpu: '1', memory: '768Mi' });
    expect(resources.limits).toEqual({ memory: '768Mi' });
    expect(manifests.some((m) => m.kind === 'ServiceMonitor' || m.kind === 'HorizontalPodAutoscaler')).toBe(false);
  });

  it('mounts the API keys, JWT secret and SASL password as files from Secrets, and TLS from a tls Secret', () => {
    const manifests = render([
      'apiKeys.existingSecret=sluice-keys',
      'jwt.secret=0123456789abcdef0123456789abcdef',
      'kafka.saslPassword.existingSecret=kafka-user',
      'metrics.token.value=scrape',
      'tls.secretName=sluice-tls',
      'metrics.serviceMonitor.enabled=true',
      'metrics.grafanaDashboard.enabled=true',
    ]);
    const pod = deploymentOf(manifests).spec.template.spec;
    const env = Object.fromEntries(
      (pod.containers[0].env as { name: string; value?: string; valueFrom?: unknown }[]).map((e) => [e.name, e.value ?? e.valueFrom]),
    );
    expect(env.SLUICE_API_KEYS_FILE).toBe('/etc/sluice/secrets/api-keys.json');
    expect(env.SLUICE_JWT_SECRET_FILE).toBe('/etc/sluice/secrets/jwt-secret');
    expect(env.KAFKA_SASL_PASSWORD_FILE).toBe('/etc/sluice/secrets/password');
    expect(env.SLUICE_TLS_CERT_FILE).toBe('/etc/sluice/tls/tls.crt');
    expect(env.SLUICE_METRICS_TOKEN).toEqual({ secretKeyRef: { name: 'edge-sluice', key: 'metrics-token' } });
    const sources = pod.volumes
      .find((v: { name: string }) => v.name === 'secrets')
      .projected.sources.map((s: { secret: { name: string } }) => s.secret.name);
    expect(sources).toEqual(['sluice-keys', 'edge-sluice', 'kafka-user']);
    const secret = manifests.find((m) => m.kind === 'Secret')!;
    // Only what was given inline is in the chart's Secret.
    expect(Object.keys(secret.data!).sort()).toEqual(['jwt-secret', 'metrics-token']);
    const monitor = manifests.find((m) => m.kind === 'ServiceMonitor')!;
    expect(monitor.spec.endpoints[0]).toMatchObject({ port: 'admin', path: '/metrics' });
    const dashboard = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'edge-sluice-dashboard')!;
    expect(dashboard.metadata.labels!.grafana_dashboard).toBe('1');
    expect(JSON.parse(dashboard.data!['sluice.json']).uid).toBe('sluice-gateway');
  });
});
