/** `npm run docs:config`: rewrites the settings table in README.md from the schema. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSettingsTable, TABLE_START, TABLE_END } from './settings-table.js';
import { PROJECT_ROOT } from '../project-root.js';

const readme = join(PROJECT_ROOT, 'README.md');
const text = readFileSync(readme, 'utf8');
const start = text.indexOf(TABLE_START);
const end = text.indexOf(TABLE_END);
if (start < 0 || end < start) {
  console.error(`README.md has no settings table markers (${TABLE_START} … ${TABLE_END})`);
  process.exit(1);
}
writeFileSync(readme, text.slice(0, start) + renderSettingsTable() + text.slice(end + TABLE_END.length));
console.log('README.md settings table updated');
