/**
 * Which JSON Schema a produce request is checked against: the SLUICE_SCHEMAS_DIR file for its topic,
 * else the Schema Registry's `<topic>-value` subject (SLUICE_SCHEMA_REGISTRY_URL), else none. Answers
 * both what the serving thread validates with and what a decode-pool task carries to validate there.
 */
import type { ValidateFunction } from 'ajv';
import type { DecodeTask } from './decode-task.js';
import type { SchemaRegistry } from './schema-registry.js';
import type { TopicSchemas } from './schemas.js';

export interface ResolvedSchema {
  validate: ValidateFunction;
  /** The same schema, as a decode-pool task names it. */
  task: NonNullable<DecodeTask['schema']>;
}

export class ProduceSchemas {
  constructor(
    private readonly dir: TopicSchemas | null,
    private readonly registry: SchemaRegistry | null,
  ) {}

  resolve(topic: string): ResolvedSchema | null | Promise<ResolvedSchema | null> {
    const fromDir = this.dir?.validatorFor(topic) ?? null;
    if (fromDir) return { validate: fromDir, task: { kind: 'dir', dir: this.dir!.dir, topic } };
    if (!this.registry) return null;
    const r = this.registry.lookup(topic);
    const wrap = (s: Awaited<typeof r>): ResolvedSchema | null =>
      s && { validate: s.validate, task: { kind: 'registry', id: s.id, text: s.text } };
    return r instanceof Promise ? r.then(wrap) : wrap(r);
  }
}
