/** `npm run docs:config`: rewrites the settings table (from the schema) and the error table (from the error registry) in README.md. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSettingsTable, TABLE_START, TABLE_END } from './settings-table.js';
import { PROJECT_ROOT } from '../project-root.js';
import { ERROR_TABLE_END, ERROR_TABLE_START, renderErrorTable } from '../errors.js';

const readme = join(PROJECT_ROOT, 'README.md');
let text = readFileSync(readme, 'utf8');
for (const [name, startMark, endMark, render] of [
  ['settings', TABLE_START, TABLE_END, renderSettingsTable],
  ['error', ERROR_TABLE_START, ERROR_TABLE_END, renderErrorTable],
] as const) {
  const start = text.indexOf(startMark);
  const end = text.indexOf(endMark);
  if (start < 0 || end < start) {
    console.error(`README.md has no ${name} table markers (${startMark} … ${endMark})`);
    process.exit(1);
  }
  text = text.slice(0, start) + render() + text.slice(end + endMark.length);
}
writeFileSync(readme, text);
console.log('README.md settings and error tables updated');
