/** The one way a command-line entry point loads settings: a refusal is one clean line on stderr and exit code 2, never a stack trace. */
import { loadConfig } from './load.js';

export function loadConfigOrExit(): ReturnType<typeof loadConfig> {
  try {
    return loadConfig();
  } catch (err) {
    console.error(`sluice: ${(err as Error).message}`);
    process.exit(2);
  }
}
