/**
 * JSON Schemas from a Schema Registry with the Confluent REST API (SLUICE_SCHEMA_REGISTRY_URL), for
 * topics SLUICE_SCHEMAS_DIR has no file for. Subject `<topic>-value`, latest version, `schemaType`
 * `JSON` (draft 2020-12). Contract:
 * - a fetched schema (or "no such subject": the topic is not validated) is used for
 *   SLUICE_SCHEMA_REGISTRY_REFRESH_S, then fetched again on the next request for the topic;
 * - the registry unreachable, a 5xx or a timeout: a schema fetched before keeps being used (the check
 *   still runs) and is fetched again on a later request; a topic never fetched gets
 *   503 SCHEMA_REGISTRY_UNAVAILABLE (retriable) — never a silent pass;
 * - a subject that is not a JSON Schema (AVRO, PROTOBUF), or one that does not compile, is refused the
 *   same way, so the mistake is seen rather than skipped.
 * Schemas are compiled once per registry id; pool threads get the schema text and id and compile it once.
 */
import type { ValidateFunction } from 'ajv';
import { SluiceError } from '../errors.js';
import { newAjv } from './schemas.js';

export interface RegistrySchema {
  id: number;
  text: string;
  validate: ValidateFunction;
}

interface CacheEntry {
  schema: RegistrySchema | null;
  fetchedAt: number;
}

const FETCH_TIMEOUT_MS = 5000;
const MAX_TOPICS = 10_000;

export class SchemaRegistry {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly fetching = new Map<string, Promise<RegistrySchema | null>>();
  private readonly byId = new Map<number, ValidateFunction>();

  constructor(
    private readonly baseUrl: string,
    private readonly refreshMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The topic's schema (null: the registry has no subject for it); a Promise only when it must be fetched. */
  lookup(topic: string): RegistrySchema | null | Promise<RegistrySchema | null> {
    const hit = this.cache.get(topic);
    if (hit && this.now() - hit.fetchedAt < this.refreshMs) return hit.schema;
    let f = this.fetching.get(topic);
    if (!f) {
      f = this.fetchSchema(topic)
        .then(
          (schema) => {
            if (this.cache.size >= MAX_TOPICS) this.cache.clear();
            this.cache.set(topic, { schema, fetchedAt: this.now() });
            return schema;
          },
          (err: unknown) => {
            if (hit) return hit.schema; // outage: keep checking with the schema fetched before
            throw err;
          },
        )
        .finally(() => this.fetching.delete(topic));
      this.fetching.set(topic, f);
    }
    return f;
  }

  private async fetchSchema(topic: string): Promise<RegistrySchema | null> {
    const subject = `${topic}-value`;
    const url = `${this.baseUrl.replace(/\/$/, '')}/subjects/${encodeURIComponent(subject)}/versions/latest`;
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { accept: 'application/vnd.schemaregistry.v1+json, application/json' },
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
    } catch (err) {
      throw unavailable(`the Schema Registry did not answer for subject ${subject}: ${(err as Error).message}`);
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw unavailable(`the Schema Registry answered ${res.status} for subject ${subject}`);
    }
    let body: { id?: unknown; schema?: unknown; schemaType?: unknown };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw unavailable(`the Schema Registry's answer for subject ${subject} is not JSON`);
    }
    if (body.schemaType !== 'JSON')
      throw unavailable(`subject ${subject} holds a ${String(body.schemaType ?? 'AVRO')} schema; Sluice validates JSON Schema only`);
    if (typeof body.id !== 'number' || typeof body.schema !== 'string')
      throw unavailable(`the Schema Registry's answer for subject ${subject} has no id or schema`);
    let validate = this.byId.get(body.id);
    if (!validate) {
      try {
        validate = newAjv().compile(JSON.parse(body.schema) as object); // one Ajv per schema: versions may share an $id
      } catch (err) {
        throw unavailable(`subject ${subject} (id ${body.id}) is not a valid JSON Schema (draft 2020-12): ${(err as Error).message}`);
      }
      this.byId.set(body.id, validate);
    }
    return { id: body.id, text: body.schema, validate };
  }
}

function unavailable(message: string): SluiceError {
  return new SluiceError('SCHEMA_REGISTRY_UNAVAILABLE', `${message}; nothing was written`);
}

/** Pool threads: registry schemas compiled once per id. */
const compiledById = new Map<number, ValidateFunction>();

export function compiledRegistrySchema(id: number, text: string): ValidateFunction {
  let v = compiledById.get(id);
  if (!v) {
    v = newAjv().compile(JSON.parse(text) as object);
    compiledById.set(id, v);
  }
  return v;
}
