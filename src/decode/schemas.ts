/**
 * JSON Schema per topic on produce (draft 2020-12, compiled once with Ajv). Schemas come from
 * SLUICE_SCHEMAS_DIR, one file per topic or topic pattern:
 *   <topic>.schema.json       the topic of that exact name (e.g. `orders.schema.json`)
 *   <pattern>.schema.json     a name with `*` (any run of characters), e.g. `telemetry.*.schema.json`
 * A topic uses its exact file if there is one, else the matching pattern with the most characters other
 * than `*` (ties: the alphabetically first file); a topic no file matches is not validated. Any other
 * `.json` file in the folder stops start-up (a misnamed schema must not turn validation off silently).
 *
 * Validation runs where decoding runs: inline (main thread or each ingress thread, each loads the folder
 * at start-up) or in the decode pool's threads (each loads it on its first task). A record that fails
 * refuses the whole request with 422 SCHEMA_VALIDATION_FAILED naming the element index (JSON array) or
 * line (NDJSON), the JSON pointer into the record and the schema rule; nothing is written.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction, type ErrorObject } from 'ajv/dist/2020.js';
import { SluiceError, StartupError } from '../errors.js';
import type { BodyFormat, DecodedRecords } from './json-records.js';
import { topicPattern } from './topic-name.js';

const SUFFIX = '.schema.json';
/** Topics whose schema lookup is remembered; past it the memo starts over (patterns make topics unbounded). */
const MAX_MEMO_TOPICS = 10_000;

interface PatternSchema {
  file: string;
  pattern: RegExp;
  specificity: number;
  validate: ValidateFunction;
}

export class TopicSchemas {
  private readonly exact = new Map<string, ValidateFunction>();
  private readonly patterns: PatternSchema[] = [];
  private readonly memo = new Map<string, ValidateFunction | null>();

  private constructor(readonly dir: string) {}

  /**
   * Reads and compiles every `*.schema.json` in `dir`; a file that does not read or compile stops start-up,
   * and so does any other `.json` file: a schema misnamed `readings.json` would otherwise be skipped and
   * leave its topic unvalidated without a word (a security control must not fail open). Other files
   * (README.md, …) are left alone.
   */
  static load(dir: string): TopicSchemas {
    const set = new TopicSchemas(dir);
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (err) {
      throw new StartupError(`SLUICE_SCHEMAS_DIR: cannot read ${dir}: ${(err as Error).message}`);
    }
    const misnamed = names.filter((f) => f.toLowerCase().endsWith('.json') && !f.endsWith(SUFFIX));
    if (misnamed.length > 0) {
      const example = misnamed[0].replace(/\.json$/i, '');
      throw new StartupError(
        `SLUICE_SCHEMAS_DIR: ${misnamed.map((f) => join(dir, f)).join(', ')} ${misnamed.length === 1 ? 'is' : 'are'} not named <topic>.schema.json ` +
          `(or <pattern>.schema.json with *): only such files are schemas, so ${misnamed.length === 1 ? 'it' : 'they'} would be ignored and the topic left unvalidated. ` +
          `Rename (e.g. ${example}.json → ${example}.schema.json) or move ${misnamed.length === 1 ? 'it' : 'them'} out of the folder`,
      );
    }
    const files = names.filter((f) => f.endsWith(SUFFIX));
    const ajv = newAjv();
    for (const file of files) {
      const name = file.slice(0, -SUFFIX.length);
      let validate: ValidateFunction;
      try {
        validate = ajv.compile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as object);
      } catch (err) {
        throw new StartupError(
          `SLUICE_SCHEMAS_DIR: ${join(dir, file)} is not a valid JSON Schema (draft 2020-12): ${(err as Error).message}`,
        );
      }
      if (!name.includes('*')) set.exact.set(name, validate);
      else set.patterns.push({ file, pattern: topicPattern(name), specificity: name.replace(/\*/g, '').length, validate });
    }
    // Most specific first; sort() is stable, so ties keep the files' alphabetical order.
    set.patterns.sort((a, b) => b.specificity - a.specificity);
    return set;
  }

  get size(): number {
    return this.exact.size + this.patterns.length;
  }

  validatorFor(topic: string): ValidateFunction | null {
    const known = this.memo.get(topic);
    if (known !== undefined) return known;
    const v = this.exact.get(topic) ?? this.patterns.find((p) => p.pattern.test(topic))?.validate ?? null;
    if (this.memo.size >= MAX_MEMO_TOPICS) this.memo.clear();
    this.memo.set(topic, v);
    return v;
  }
}

export function newAjv(): Ajv2020 {
  // Unknown keywords (typos) fail the compile; legal-but-loose schemas (`required` naming properties not
  // listed, union types) compile. Formats are annotations (draft 2020-12's default; ajv-formats is not shipped).
  return new Ajv2020({
    allErrors: false,
    strictSchema: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    validateFormats: false,
  });
}

/**
 * Throws SCHEMA_VALIDATION_FAILED for the first record that fails. Every record is checked: values the
 * decoder did not build (it builds them only when asked, see decodeRecords) are parsed here, so a caller
 * that forgot to ask cannot let records through unchecked.
 */
export function validateRecords(validate: ValidateFunction, records: DecodedRecords, format: BodyFormat): void {
  const { parsed, body, starts, ends, count } = records;
  const built = parsed.length === count;
  for (let i = 0; i < count; i++) {
    if (validate(built ? parsed[i] : JSON.parse(body.toString('utf8', starts[i], ends[i])))) continue;
    const e = (validate.errors ?? [])[0] as ErrorObject | undefined;
    const pointer = e?.instancePath ?? '';
    const rule = e?.keyword ?? 'unknown';
    const what = e ? `${pointer === '' ? 'the record' : pointer} ${e.message ?? 'is invalid'} (${rule})` : 'the record is invalid';
    const where = format === 'ndjson' ? { line: lineOf(records, i) } : { index: i };
    const label = format === 'ndjson' ? `line ${where.line}` : `element ${i}`;
    throw new SluiceError('SCHEMA_VALIDATION_FAILED', `${label}: ${what}; nothing was written`, {
      ...where,
      pointer,
      rule,
      schemaPath: e?.schemaPath ?? '',
    });
  }
}

/** The 1-based NDJSON line of record i (blank lines count): only on the failure path. */
function lineOf(records: DecodedRecords, i: number): number {
  const { body, starts } = records;
  let line = 1;
  for (let p = body.indexOf(0x0a, 0); p !== -1 && p < starts[i]; p = body.indexOf(0x0a, p + 1)) line++;
  return line;
}
