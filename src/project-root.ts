/** The repository root: every module sits below `src/` (or `dist/` once built), one level under it. */
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));
