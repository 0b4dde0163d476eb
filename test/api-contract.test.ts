/**
 * schemathesis (PyPI, pinned in .ci/setup) against a live gateway and the real broker, from the gateway's
 * own `/openapi.json`: stateless phases (the spec's examples, coverage, fuzzing), positive and negative
 * data, with every check but positive_data_acceptance (no 5xx; documented statuses, content types, bodies
 * and headers; negative data refused; preflights, methods not served, …). Bounded (examples per operation,
 * a request timeout; ~1 min here) and reproducible (fixed seed, no example database). Settings and hooks:
 * test/schemathesis/.
 *
 * `GET /sse/topics/{topic}` is read up to its first event (`max-stream-events` in schemathesis.toml), which
 * is checked against the event schema of /openapi.json; record events are checked in test/sse-values.test.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { postJson, ROOT, sluiceForFile } from './helpers/sluice-process.js';

const kafka = inject('kafkaBootstrap');
const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }));
const ST = join(ROOT, '.venv-schemathesis', 'bin', 'st');
const DIR = join(ROOT, 'test', 'schemathesis');

export const SCHEMATHESIS_ARGS = [
  '--checks',
  'all',
  // Positive data the spec allows can still be refused for reasons a schema cannot say (a topic not created
  // yet: 503 TOPIC_NOT_READY; a `from` token of another topic): every such refusal is a documented answer.
  '--exclude-checks',
  'positive_data_acceptance',
  '--phases',
  'examples,coverage,fuzzing',
  '--mode',
  'all',
  '--max-examples',
  '50',
  '--seed',
  '20261201',
  '--generation-database',
  'none',
  '--request-timeout',
  '10',
  '--no-color',
];

it('schemathesis finds nothing: no 5xx, only documented statuses, content types and bodies', async () => {
  if (!existsSync(ST)) throw new Error(`${ST} is missing: run \`npm run setup\` (it installs the pinned schemathesis)`);
  const url = gateway().url;
  // The examples' topic exists, so the examples phase produces for real.
  expect((await postJson(`${url}/topics/telemetry`, '{"warm":1}')).status).toBe(200);
  const args = ['--config-file', join(DIR, 'schemathesis.toml'), 'run', `${url}/openapi.json`, ...SCHEMATHESIS_ARGS];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const proc = spawn(ST, args, {
      cwd: DIR,
      env: { ...process.env, SCHEMATHESIS_HOOKS: 'sluice_hooks', PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
    proc.on('exit', (c) => resolve({ code: c, output: out }));
  });
  // The summary (phases, cases generated and passed, seed) goes to the test log either way.
  console.log(output.slice(Math.max(0, output.indexOf('SUMMARY') - 40)));
  expect(output).toMatch(/Test cases:\s+\d+ generated, \d+ passed/);
  expect(output).not.toMatch(/errored|failed/);
  expect(code, output.slice(-4000)).toBe(0);
  // The gateway survived it.
  expect((await fetch(`${url}/healthz`)).status).toBe(200);
}, 360_000);
