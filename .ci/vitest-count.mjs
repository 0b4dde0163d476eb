// Prints vitest's own count of the run as the plain line the landing check reads:
// "N passed, N failed[, N skipped]". Reads the JSON reporter's file (vitest.config.ts writes it).
// Exits 1 when there is no result to read, so a run that never reached vitest cannot look green.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
let result;
try {
  result = JSON.parse(readFileSync(file, 'utf8'));
} catch (error) {
  console.error(`[ci] no vitest result in ${file}: ${error.message}`);
  process.exit(1);
}
const skipped = (result.numPendingTests ?? 0) + (result.numTodoTests ?? 0);
const line = `${result.numPassedTests} passed, ${result.numFailedTests} failed`;
console.log(skipped > 0 ? `${line}, ${skipped} skipped` : line);
// A suite that failed to load counts no failed test but fails the run: vitest's own verdict decides.
process.exit(result.success && result.numFailedTests === 0 && result.numFailedTestSuites === 0 ? 0 : 1);
