/**
 * Loads uWebSockets.js' native binary for the running Node ABI and platform, and refuses to start without
 * it. The binaries come from `@btc-vision/uwebsockets.js` (uWS v20.57 for Node 20, 22, 24 and 25; see
 * docs/operations.md). Its Linux binaries import three C23 functions from glibc 2.38: where glibc is older
 * (Debian 12), set-up (.ci/uws-compat/build.sh) writes into `.uws-compat/` a copy of each binary whose
 * GLIBC_2.38 need is weak, plus a small library providing those three functions, and this loader uses them.
 * Binaries load with RTLD_NOW so that a missing symbol fails here, at start-up, not at uWS' first call.
 * There is no pure-JS fallback: a binary that does not load stops start-up with the reason, rather than
 * serving silently from a slow Node `http` server.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { StartupError } from '../errors.js';
import { PROJECT_ROOT } from '../project-root.js';
import type * as Uws from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/** glibc 2.38 added the __isoc23_* functions the Linux binaries import. */
const GLIBC_WITH_C23 = [2, 38];
export const UWS_COMPAT_DIR = join(PROJECT_ROOT, '.uws-compat');
export const UWS_COMPAT_SHIM = 'libuws-glibc-c23.so';

export function isNativeUws(mod: Record<string, unknown>): boolean {
  return typeof mod.SSLApp === 'function' && typeof mod.getParts === 'function';
}

/** The running glibc's version, or undefined off glibc (macOS, Windows, musl). */
export function runningGlibc(): [number, number] | undefined {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const m = /^(\d+)\.(\d+)/.exec(header?.glibcVersionRuntime ?? '');
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export function needsGlibcCompat(glibc: [number, number] | undefined): boolean {
  if (glibc === undefined) return false;
  return glibc[0] < GLIBC_WITH_C23[0] || (glibc[0] === GLIBC_WITH_C23[0] && glibc[1] < GLIBC_WITH_C23[1]);
}

export function uwsBinaryName(): string {
  return `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
}

/** The installed package's directory (its `exports` hide package.json, so resolve its main file). */
function uwsPackageDir(): string {
  return dirname(require.resolve('uWebSockets.js'));
}

function installedUwsVersion(): string {
  return (JSON.parse(readFileSync(join(uwsPackageDir(), 'package.json'), 'utf8')) as { version: string }).version;
}

function dlopen(path: string, flags: number): Record<string, unknown> {
  const module = { exports: {} as Record<string, unknown> };
  process.dlopen(module, path, flags);
  return module.exports;
}

export function loadUws(): typeof Uws {
  const glibc = runningGlibc();
  const where = `Node ${process.version} (ABI ${process.versions.modules}), ${process.platform}-${process.arch}${glibc ? `, glibc ${glibc.join('.')}` : ''}`;
  let binary = join(uwsPackageDir(), uwsBinaryName());
  if (needsGlibcCompat(glibc)) {
    const stamp = join(UWS_COMPAT_DIR, 'uws-version');
    const compatBinary = join(UWS_COMPAT_DIR, uwsBinaryName());
    const shim = join(UWS_COMPAT_DIR, UWS_COMPAT_SHIM);
    // A stale copy (made from another uWS version before an npm ci) would run old code under the new API.
    const stampVersion = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : undefined;
    if (!existsSync(compatBinary) || !existsSync(shim) || stampVersion !== installedUwsVersion()) {
      throw new StartupError(
        `uWebSockets.js ${installedUwsVersion()} needs glibc 2.38 and this machine has an older one (${where}); ` +
          `its compatible copy in ${UWS_COMPAT_DIR} is missing or stale: run npm run setup (or bash .ci/uws-compat/build.sh)`,
      );
    }
    try {
      // RTLD_GLOBAL: the binary's __isoc23_* references resolve against the global scope.
      dlopen(shim, constants.dlopen.RTLD_NOW | constants.dlopen.RTLD_GLOBAL);
    } catch (err) {
      throw new StartupError(`the glibc compatibility library ${shim} did not load (${where}): ${(err as Error).message}`);
    }
    binary = compatBinary;
  }
  let mod: Record<string, unknown>;
  try {
    mod = dlopen(binary, constants.dlopen.RTLD_NOW);
  } catch (err) {
    throw new StartupError(
      `uWebSockets.js' native binary ${binary} did not load (${where}): ${(err as Error).message}. Sluice runs on ` +
        'Node.js 20, 22 or 24 on glibc Linux (x64, arm64), macOS or Windows; reinstall dependencies (npm ci) after changing Node',
    );
  }
  if (!isNativeUws(mod)) {
    throw new StartupError(`${binary} is not uWebSockets.js' native module (no SSLApp/getParts) (${where})`);
  }
  return mod as unknown as typeof Uws;
}
