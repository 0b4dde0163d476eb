/** What runs, for `sluice_build_info` and the start-up log line: Sluice's version and its HTTP core's. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT } from '../project-root.js';

const require = createRequire(import.meta.url);

function versionIn(file: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

export const sluiceVersion: string = versionIn(join(PROJECT_ROOT, 'package.json')) ?? '0.0.0';

/** The installed uWebSockets.js package's version (its package.json, found from its entry module up). */
export function uwsVersion(): string {
  try {
    let dir = dirname(require.resolve('uWebSockets.js'));
    for (let i = 0; i < 4; i++, dir = dirname(dir)) {
      const v = versionIn(join(dir, 'package.json'));
      if (v) return v;
    }
  } catch {
    // not installed: the gateway does not start anyway (loadUws)
  }
  return 'unknown';
}
