/**
 * `npm run docs:config`: writes docs/configuration.md (from the config schema) and the error table in
 * docs/api.md (from the error registry), so neither can drift from the code.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigurationDoc } from './settings-table.js';
import { PROJECT_ROOT } from '../project-root.js';
import { ERROR_TABLE_END, ERROR_TABLE_START, renderErrorTable } from '../errors.js';

const DOCS = join(PROJECT_ROOT, 'docs');

writeFileSync(join(DOCS, 'configuration.md'), renderConfigurationDoc());

const api = join(DOCS, 'api.md');
const text = readFileSync(api, 'utf8');
const start = text.indexOf(ERROR_TABLE_START);
const end = text.indexOf(ERROR_TABLE_END);
if (start < 0 || end < start) {
  console.error(`docs/api.md has no error table markers (${ERROR_TABLE_START} … ${ERROR_TABLE_END})`);
  process.exit(1);
}
writeFileSync(api, text.slice(0, start) + renderErrorTable() + text.slice(end + ERROR_TABLE_END.length));
console.log('docs/configuration.md and the error table in docs/api.md updated');
