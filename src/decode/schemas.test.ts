import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TopicSchemas, validateRecords } from './schemas.js';
import { decodeRecords } from './json-records.js';
import { StartupError } from '../errors.js';

function folder(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-schemas-'));
  for (const [name, schema] of Object.entries(files))
    writeFileSync(join(dir, name), typeof schema === 'string' ? schema : JSON.stringify(schema));
  return dir;
}

const reading = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['device_id', 'temp'],
  properties: { device_id: { type: 'string' }, temp: { type: 'number', maximum: 100 } },
};

describe('TopicSchemas', () => {
  it('exact names win over patterns, then the longest pattern; other topics are not validated', () => {
    const s = TopicSchemas.load(
      folder({
        'orders.schema.json': { type: 'object', required: ['exact'] },
        'orders*.schema.json': { type: 'object', required: ['short'] },
        'orders.eu*.schema.json': { type: 'object', required: ['long'] },
        'README.md': 'not a schema',
      }),
    );
    expect(s.size).toBe(3);
    expect(s.validatorFor('orders')!({})).toBe(false);
    expect(s.validatorFor('orders')!({ exact: 1 })).toBe(true);
    expect(s.validatorFor('orders.eu-1')!({ long: 1 })).toBe(true);
    expect(s.validatorFor('orders.us')!({ short: 1 })).toBe(true);
    expect(s.validatorFor('billing')).toBeNull();
  });

  it('a file that is not a draft 2020-12 schema stops start-up naming the file', () => {
    expect(() => TopicSchemas.load(folder({ 'bad.schema.json': '{"type": "nope"}' }))).toThrow(StartupError);
    expect(() => TopicSchemas.load(folder({ 'bad.schema.json': '{' }))).toThrow(/bad\.schema\.json/);
    expect(() => TopicSchemas.load('/nonexistent/schemas')).toThrow(/SLUICE_SCHEMAS_DIR/);
  });

  it('a .json file not named *.schema.json stops start-up naming the file and the rule (it would leave its topic unvalidated)', () => {
    const dir = folder({ 'readings.json': reading, 'orders.schema.json': reading, 'notes.txt': 'fine' });
    expect(() => TopicSchemas.load(dir)).toThrow(StartupError);
    expect(() => TopicSchemas.load(dir)).toThrow(
      `SLUICE_SCHEMAS_DIR: ${join(dir, 'readings.json')} is not named <topic>.schema.json (or <pattern>.schema.json with *)`,
    );
    expect(() => TopicSchemas.load(dir)).toThrow('readings.json → readings.schema.json');
    expect(() => TopicSchemas.load(folder({ 'a.JSON': reading, 'b.Schema.json': reading }))).toThrow(
      /a\.JSON, .*b\.Schema\.json are not named/,
    );
    // Files that are not JSON are left alone.
    expect(TopicSchemas.load(folder({ 'orders.schema.json': reading, 'README.md': '#', 'schema.yaml': 'x: 1' })).size).toBe(1);
  });
});

describe('validateRecords', () => {
  const validate = TopicSchemas.load(folder({ 't.schema.json': reading })).validatorFor('t')!;

  it('names the array element, the JSON pointer and the rule', () => {
    const records = decodeRecords(
      Buffer.from('[{"device_id":"a","temp":1},{"device_id":"b","temp":1},{"device_id":"c","temp":101}]'),
      'json',
      '',
    );
    expect(() => validateRecords(validate, records, 'json')).toThrow(
      expect.objectContaining({
        code: 'SCHEMA_VALIDATION_FAILED',
        status: 422,
        details: { index: 2, pointer: '/temp', rule: 'maximum', schemaPath: '#/properties/temp/maximum' },
      }),
    );
  });

  it('names the NDJSON line, counting blank lines', () => {
    const records = decodeRecords(Buffer.from('{"device_id":"a","temp":1}\n\n{"temp":2}\n'), 'ndjson', '');
    expect(() => validateRecords(validate, records, 'ndjson')).toThrow(
      expect.objectContaining({
        details: expect.objectContaining({ line: 3, pointer: '', rule: 'required' }),
      }),
    );
  });

  it('passes valid records', () => {
    expect(() => validateRecords(validate, decodeRecords(Buffer.from('{"device_id":"a","temp":100}'), 'json', ''), 'json')).not.toThrow();
  });
});
