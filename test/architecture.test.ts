/**
 * The folders of src/ follow the data path and import one way: no two folders import each other, and the
 * two halves of fan-out — the Kafka side (consumer/) and the socket side (fanout/) — meet only at the seam
 * in subscription/. Reads the import statements of every non-test source file.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from './helpers/sluice-process.js';

const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Top-level folder of a file under src/ (null for files directly in src/, such as errors.ts and gateway.ts). */
function folderOf(file: string): string | null {
  const parts = relative(SRC, file).split('/');
  return parts.length > 1 ? parts[0] : null;
}

function folderImports(): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  for (const file of sources(SRC)) {
    const from = folderOf(file);
    if (!from) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const to = folderOf(resolve(dirname(file), m[1]));
      if (!to || to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string[]>();
      edges.set(to, [...(edges.get(to) ?? []), relative(SRC, file)]);
      graph.set(from, edges);
    }
  }
  return graph;
}

it('no two folders of src/ import each other', () => {
  const graph = folderImports();
  const cycles: string[] = [];
  for (const [a, edges] of graph) {
    for (const [b, files] of edges) {
      const back = graph.get(b)?.get(a);
      if (back && a < b) cycles.push(`${a} ↔ ${b}: ${a}→${b} in ${files.join(', ')}; ${b}→${a} in ${back.join(', ')}`);
    }
  }
  expect(cycles).toEqual([]);
});

it('the Kafka side (consumer/) and the socket side (fanout/) meet only at subscription/', () => {
  const graph = folderImports();
  expect(graph.get('consumer')?.get('fanout') ?? []).toEqual([]);
  expect(graph.get('fanout')?.get('consumer') ?? []).toEqual([]);
  expect(graph.get('consumer')?.has('subscription')).toBe(true);
  expect(graph.get('fanout')?.has('subscription')).toBe(true);
  // The seam itself depends on neither half.
  expect([...(graph.get('subscription')?.keys() ?? [])].filter((f) => f === 'consumer' || f === 'fanout')).toEqual([]);
});

it('the edge services (error answers, CORS, API keys, token verifiers, schemas, the Idempotency-Key store) are built in one place', () => {
  // Built once per thread by ingress/edge-services.ts and passed in: a route or handler never builds its own.
  const builds =
    /new ErrorAnswers\(|AccessControl\.(?:fromFile|open)\(|new IdempotencyStore\(|chooseTokenVerifier\(|new ProduceSchemas\(|new CorsPolicy\(|new SubscribeAuth\(/;
  const builders = sources(SRC)
    .filter((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .some((line) => builds.test(line) && !/^\s*(?:export )?function /.test(line)),
    )
    .map((file) => relative(SRC, file));
  expect(builders).toEqual(['ingress/edge-services.ts']);
});

/** The declarative tables (the route table, the settings schema) are long by nature; code files are not. */
const LONG_BY_NATURE = new Set(['api/routes.ts', 'config/schema.ts']);
const MAX_LINES = 400;

it(`no non-test source file outside the declarative tables is over ${MAX_LINES} lines`, () => {
  const long = sources(SRC)
    .map((file) => ({ file: relative(SRC, file), lines: readFileSync(file, 'utf8').split('\n').length - 1 }))
    .filter((f) => f.lines > MAX_LINES && !LONG_BY_NATURE.has(f.file))
    .map((f) => `src/${f.file}: ${f.lines} lines`);
  expect(long).toEqual([]);
});

it('every path docs/architecture.md names exists', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  // Paths from the repository's root, in code spans or the diagram (`src/…`, `test/…`, `native-config/…`).
  const named = new Set(
    [...doc.matchAll(/(?<![\w/.-])((?:src|test|bench|docker|docs|native-config|\.ci)\/[\w./*-]*[\w/])/g)]
      .map((m) => m[1])
      .filter((p) => !p.includes('*')),
  );
  expect(named.size).toBeGreaterThan(50);
  const missing = [...named].filter((p) => !existsSync(join(ROOT, p)));
  expect(missing).toEqual([]);
});
