/**
 * The performance page is what `npm run bench` wrote, in the order an operator reads it: the CPU-per-request
 * table first (with the environment line and the goals), then the sizing rule, then the full results; and
 * README's Performance section stays a short summary that links to it. Checks the text only, no speed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from './helpers/sluice-process.js';

const block = (text: string, name: string) => {
  const a = text.indexOf(`<!-- ${name}:start -->`);
  const b = text.indexOf(`<!-- ${name}:end -->`);
  expect(a, `<!-- ${name}:start -->`).toBeGreaterThanOrEqual(0);
  expect(b, `<!-- ${name}:end -->`).toBeGreaterThan(a);
  return { at: a, text: text.slice(a, b) };
};

it('docs/performance.md leads with the CPU-per-request table, the goals and the model, then the sizing rule, then all results', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'performance.md'), 'utf8');
  const cpu = block(doc, 'bench-cpu');
  const sizing = block(doc, 'bench-sizing');
  const all = block(doc, 'bench');
  expect(cpu.at).toBeLessThan(sizing.at);
  expect(sizing.at).toBeLessThan(all.at);
  expect(doc.indexOf('| ')).toBeGreaterThan(cpu.at); // no table before the CPU table
  expect(cpu.text).toMatch(/Environment: .*cores.*Node.*librdkafka.*(pinned with taskset|not pinned)/);
  expect(cpu.text).toContain('| scenario | ack | records/request | req/s | CPU µs/request | CPU µs/record |');
  expect(cpu.text).toMatch(/Goals \(issue #11\): .*durable CPU\/request ≤ 1\.5×/);
  expect(cpu.text).toContain('| CPU ratio | value (range over rounds) |');
  expect(cpu.text).toMatch(/\| single records, fire \| 4 \|[^\n]*\n[^\n]*\| 8 \|[^\n]*\n[^\n]*\| 16 \|[^\n]*\n[^\n]*\| 32 \|/);
  expect(sizing.text).toContain('records/s per gateway core');
  expect(sizing.text).toMatch(/\*\*Sizing rule:\*\*/);
  for (const h of ['## Live views: cost per record', '## Tuning and sizing']) expect(doc).toContain(h);
});

it("README's Performance section is short: the summary table, the sizing rule and the link", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Performance\n');
  expect(start).toBeGreaterThanOrEqual(0);
  const rest = readme.slice(start + 1);
  const section = rest.slice(0, rest.search(/\n## /));
  const summary = block(section, 'bench-summary');
  expect(summary.text).toContain('| scenario | what | CPU µs/request | CPU µs/record | records/s per gateway core |');
  expect(summary.text).toMatch(/\*\*Sizing rule:\*\*/);
  expect(section).toContain('(docs/performance.md)');
  expect(section.split('\n').length).toBeLessThan(40);
  expect(section).not.toContain('###');
});
