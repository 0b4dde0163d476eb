/** The README keeps its promises: the two quick-start commands, every error code, the generated settings table. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ERRORS, renderErrorTable } from '../src/errors.js';
import { renderSettingsTable } from '../src/config/settings-table.js';
import { ROOT } from './helpers/sluice-process.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

it('the quick start is exactly two commands: start, then test, and CI runs the test one', () => {
  const section = readme.slice(readme.indexOf('## Quick start'));
  const block = /```\w*\n([\s\S]*?)```/.exec(section)![1];
  const lines = block.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toEqual(['npm start', 'npm test']);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  expect(pkg.scripts.prestart).toBe('bash .ci/setup');
  expect(pkg.scripts.pretest).toBe('bash .ci/setup');
  expect(readFileSync(join(ROOT, '.ci', 'run'), 'utf8')).toMatch(/^npm test$/m);
});

it('documents every error code, in the table generated from the registry (run `npm run docs:config` after changing it)', () => {
  expect(readme).toContain(renderErrorTable());
  for (const [code, spec] of Object.entries(ERRORS)) expect(readme).toContain(`| \`${code}\` | ${spec.status} |`);
});

it('has the settings table generated from the schema (run `npm run docs:config` after changing it)', () => {
  expect(readme).toContain(renderSettingsTable());
});

it('the delivery guarantee table cites a fault test for every row, and each exists', () => {
  const section = readme.slice(readme.indexOf('## Delivery guarantees'), readme.indexOf('## Watching records live'));
  const faults = readFileSync(join(ROOT, 'test', 'faults.test.ts'), 'utf8');
  const rows = section.split('\n').filter((l) => l.startsWith('| **'));
  expect(rows.length).toBe(4);
  for (const row of rows) {
    const test = /\| `([a-z-]+)` \|$/.exec(row)?.[1];
    expect(test, row).toBeDefined();
    expect(faults).toContain(`it('${test}: `);
  }
});
