/**
 * The README keeps its promises: the two quick-start commands (and CI runs the test one), and every link
 * in the README and docs/*.md resolves — relative files exist and `#anchors` name a heading of their file.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from './helpers/sluice-process.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const DOCS = join(ROOT, 'docs');
const documents = [
  join(ROOT, 'README.md'),
  ...readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(DOCS, f)),
];

/** Markdown without fenced code blocks and inline code, where a `](…)` is not a link. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's heading anchors: lower case, punctuation dropped (but `-` and `_`), each space a `-`; repeats get `-1`, `-2`. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of text.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = m[1]
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

it('the quick start is exactly two commands: start, then test, and CI runs the test one', () => {
  const section = readme.slice(readme.indexOf('## Quick start'));
  const block = /```\w*\n([\s\S]*?)```/.exec(section)![1];
  const lines = block.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toEqual(['npm start', 'npm test']);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  expect(pkg.scripts.prestart).toBe('bash .ci/setup run');
  expect(pkg.scripts.pretest).toBe('bash .ci/setup test');
  expect(readFileSync(join(ROOT, '.ci', 'run'), 'utf8')).toMatch(/^npm test$/m);
});

it('npm start sets up what running needs, nothing more: the test tools are in the test part only', () => {
  const steps = (part: string) =>
    readdirSync(join(ROOT, '.ci', 'setup.d', part))
      .map((f) => readFileSync(join(ROOT, '.ci', 'setup.d', part, f), 'utf8'))
      .join('\n');
  const run = steps('run');
  const test = steps('test');
  for (const testTool of ['kcat', 'docker-compose', 'chromium', 'bench/', 'schemathesis', 'node@']) {
    expect(run).not.toContain(testTool);
    expect(test).toContain(testTool);
  }
  // Java and Kafka's jars only for the embedded broker.
  expect(run).toMatch(/-n "\$\{KAFKA_BOOTSTRAP_SERVERS:-\}"[\s\S]*else[\s\S]*openjdk[\s\S]*fetch-jars/);
});

it('links to every document in docs/', () => {
  for (const doc of documents.slice(1)) expect(readme).toContain(`](docs/${relative(DOCS, doc)})`);
});

it('every relative link and #anchor in the README and docs/ resolves', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const doc of documents) {
    for (const m of prose(readFileSync(doc, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1];
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
      checked++;
      const [file, anchor] = target.split('#');
      const path = file === '' ? doc : resolve(dirname(doc), file);
      const where = `${relative(ROOT, doc)}: ${target}`;
      if (!existsSync(path)) broken.push(`${where} (no such file)`);
      else if (anchor !== undefined && path.endsWith('.md') && !anchors(readFileSync(path, 'utf8')).has(anchor))
        broken.push(`${where} (no such heading)`);
    }
  }
  expect(broken).toEqual([]);
  expect(checked).toBeGreaterThan(20);
});
