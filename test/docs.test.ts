/**
 * docs/ cannot drift from the code: docs/configuration.md is exactly what the generator writes from the
 * config schema, docs/api.md holds the error table generated from the registry, and the delivery guarantee
 * table cites a fault test for every row. After changing the schema or the registry: `npm run build && npm run docs:config`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ERRORS, renderErrorTable } from '../src/errors.js';
import { renderConfigurationDoc } from '../src/config/settings-table.js';
import { ROOT } from './helpers/sluice-process.js';

const doc = (name: string) => readFileSync(join(ROOT, 'docs', name), 'utf8');

it('docs/api.md documents every error code, in the table generated from the registry', () => {
  const api = doc('api.md');
  expect(api).toContain(renderErrorTable());
  for (const [code, spec] of Object.entries(ERRORS)) expect(api).toContain(`| \`${code}\` | ${spec.status} |`);
});

it('docs/configuration.md is the file generated from the schema', () => {
  expect(doc('configuration.md')).toBe(renderConfigurationDoc());
});

it('the delivery guarantee table in docs/api.md cites a fault (or stress) test for every row, and each exists', () => {
  const api = doc('api.md');
  const section = api.slice(api.indexOf('## Delivery guarantees'), api.indexOf('## API contract'));
  // The brand-new-topics row is shown by its own stress test.
  const faults = ['faults.test.ts', 'new-topic-delivery.test.ts'].map((f) => readFileSync(join(ROOT, 'test', f), 'utf8')).join('\n');
  const rows = section.split('\n').filter((l) => l.startsWith('| **'));
  expect(rows.length).toBe(5);
  for (const row of rows) {
    const test = /\| `([a-z-]+)` \|$/.exec(row)?.[1];
    expect(test, row).toBeDefined();
    expect(faults).toContain(`it('${test}: `);
  }
});
