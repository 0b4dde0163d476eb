/**
 * Keeps the benchmark harness working: a quick run (a few seconds per scenario) against the test broker
 * must produce every scenario with every field, and every record a scenario claims delivered must be
 * counted in Kafka; in the fan-out scenario every subscriber that keeps up gets every acknowledged record
 * exactly once and the stalled ones are closed by the server. It asserts nothing about speed (the machine
 * is shared and noisy).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { ROOT } from './helpers/sluice-process.js';

const SCENARIOS = [
  'http-ceiling',
  'kafka-ceiling-java',
  'kafka-ceiling-node',
  'sluice-single-durable',
  'sluice-single-fire',
  'sluice-ndjson-100',
  'sluice-ndjson-1000',
  'sluice-lz4-1000',
  'peer-fastify-kafkajs',
  'peer-fastify-ckjs',
  'overload',
];
const FANOUT_FIELDS = [
  'subscribers',
  'recordsPerSec',
  'durationS',
  'p50Ms',
  'p99Ms',
  'p999Ms',
  'framesPerSec',
  'lost',
  'duplicated',
  'slowDrops',
  'rssPerConnKB',
  'cpuPct',
];
const FIELDS = [
  'requestsPerSec',
  'recordsPerSec',
  'mbPerSec',
  'p50Ms',
  'p99Ms',
  'p999Ms',
  'errors',
  'non2xx',
  'cpuPct',
  'rssMB',
  'recordsCounted',
];

it('npm run bench -- --quick writes every scenario, and every claimed record is in Kafka', async () => {
  const out = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  // Asynchronous: a blocking spawnSync would starve vitest's worker heartbeat for the whole run.
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bench', 'run.mjs'), '--quick', '--bootstrap', inject('kafkaBootstrap'), '--out', out],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const status = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(status, stderr.slice(-3000)).toBe(0);
  const result = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
  expect(result.environment).toMatchObject({
    cores: expect.any(Number),
    node: process.version,
    librdkafka: expect.any(String),
    kafka: expect.any(String),
  });
  for (const name of SCENARIOS) {
    const s = result.scenarios[name];
    expect(s, name).toBeDefined();
    for (const f of FIELDS) expect(typeof s[f], `${name}.${f}`).toBe('number');
    expect(s.lost, `${name} lost records`).toBe(0);
    expect(s.recordsCounted, name).toBeGreaterThanOrEqual(s.recordsClaimed);
    if (name !== 'http-ceiling') expect(s.recordsCounted, name).toBeGreaterThan(0);
    if (name !== 'overload') expect(s.errors, name).toBe(0);
  }
  const f = result.scenarios['fanout-slow'];
  expect(f, 'fanout-slow').toBeDefined();
  for (const k of FANOUT_FIELDS) expect(typeof f[k], `fanout-slow.${k}`).toBe('number');
  expect(f.subscribed).toBe(f.subscribers);
  expect(f.recordsAcked).toBe(f.recordsPosted);
  expect(f.framesExpected).toBeGreaterThan(0);
  expect(f.framesDelivered).toBe(f.framesExpected);
  expect({ lost: f.lost, duplicated: f.duplicated, unexpected: f.unexpected, badFrames: f.badFrames }).toEqual({
    lost: 0,
    duplicated: 0,
    unexpected: 0,
    badFrames: 0,
  });
  expect(f.fastClosedByServer).toEqual({});
  // Records big enough that each stalled client passes the gateway's buffer limit within the run.
  expect(f.slowClients).toBeGreaterThan(0);
  expect(f.slowDrops).toBe(f.slowClients);
  expect(Object.keys(result.ratios).length).toBeGreaterThan(5);
  expect(readFileSync(join(out, 'latest.md'), 'utf8')).toMatch(/^Environment: .*cores.*Node.*librdkafka.*Kafka/);
}, 420_000);
