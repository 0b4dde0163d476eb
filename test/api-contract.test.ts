/**
 * schemathesis (PyPI, pinned in .ci/setup) against a live gateway and the real broker, from the gateway's
 * own `/openapi.json`: stateless phases (the spec's examples, coverage, fuzzing), positive and negative
 * data, with the checks not_a_server_error, status_code_conformance, content_type_conformance and
 * response_schema_conformance. Bounded (examples per operation, a request timeout; ~1 min here)
 * and reproducible (fixed seed, no example database). Settings and hooks: test/schemathesis/.
 *
 * `GET /sse/topics/{topic}` is left out: its 200 answer is an endless event stream, which a
 * request/response tester can only time out on. Its refusals are covered in test/api-routes.test.ts.
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
  'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance',
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
  '--exclude-path',
  '/sse/topics/{topic}',
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
