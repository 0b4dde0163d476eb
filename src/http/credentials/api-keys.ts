/**
 * API keys at the edge. Keys live hashed (SHA-256, hex) in a JSON file named by SLUICE_API_KEYS_FILE,
 * each with topic patterns it may produce to and subscribe to, and an optional rate limit:
 *   {"keys":[{"id":"fleet-a","sha256":"…","produce":["telemetry.*"],"subscribe":["telemetry.*"],"requestsPerSec":500}]}
 * A pattern is a topic name where `*` matches any run of characters. Without the file, access is open.
 * Clients send `X-API-Key: <key>` or `Authorization: Bearer <key>`; WebSocket and SSE routes also take
 * `?api_key=` (browsers cannot set headers there). POST routes never see one: the route table does not
 * list it for them, so the query check refuses it before any handler (keys in URLs end up in proxy logs).
 * Rate limits are token buckets per key and per thread.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SluiceError, StartupError } from '../../errors.js';
import { topicPattern } from '../../decode/topic-name.js';

export type Access = 'produce' | 'subscribe';

interface KeyEntry {
  id: string;
  produce: RegExp[];
  subscribe: RegExp[];
  requestsPerSec: number;
  tokens: number;
  refilledAt: number;
}

interface KeyFile {
  keys: { id: string; sha256: string; produce?: string[]; subscribe?: string[]; requestsPerSec?: number }[];
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export class AccessControl {
  private readonly byHash = new Map<string, KeyEntry>();

  private constructor(readonly enabled: boolean) {}

  static open(): AccessControl {
    return new AccessControl(false);
  }

  static fromFile(path: string): AccessControl {
    let parsed: KeyFile;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
    } catch (err) {
      throw new StartupError(`SLUICE_API_KEYS_FILE: cannot read ${path}: ${(err as Error).message}`);
    }
    const ac = new AccessControl(true);
    if (!Array.isArray(parsed.keys)) throw new StartupError(`SLUICE_API_KEYS_FILE: ${path} must hold {"keys":[…]}`);
    for (const [i, k] of parsed.keys.entries()) {
      if (typeof k.id !== 'string' || !/^[0-9a-f]{64}$/.test(k.sha256 ?? '')) {
        throw new StartupError(
          `SLUICE_API_KEYS_FILE: key ${i} in ${path} needs an "id" and a "sha256" (64 hex digits; printf %s KEY | sha256sum)`,
        );
      }
      const rate = k.requestsPerSec ?? 0;
      ac.byHash.set(k.sha256, {
        id: k.id,
        produce: (k.produce ?? []).map(topicPattern),
        subscribe: (k.subscribe ?? []).map(topicPattern),
        requestsPerSec: rate,
        tokens: rate,
        refilledAt: Date.now(),
      });
    }
    return ac;
  }

  /** The id of a valid key (null: not one, or access is open). No rate token is taken. */
  idOf(presented: string): string | null {
    if (!this.enabled || presented === '') return null;
    return this.byHash.get(hashApiKey(presented))?.id ?? null;
  }

  /** Whether `presented` may `access` the topic (open access: yes), without refusing and without taking a rate token. */
  allows(presented: string, access: Access, topic: string): boolean {
    if (!this.enabled) return true;
    const entry = presented === '' ? undefined : this.byHash.get(hashApiKey(presented));
    return entry?.[access].some((p) => p.test(topic)) ?? false;
  }

  /** Throws 401 / 403 / 429 as a SluiceError; returns the key id (or null when access is open). A null topic checks the key only (`/ws`, before any subscribe). */
  check(presented: string, access: Access, topic: string | null): string | null {
    if (!this.enabled) return null;
    if (presented === '') throw new SluiceError('UNAUTHORIZED', 'an API key is required: send X-API-Key or Authorization: Bearer');
    const entry = this.byHash.get(hashApiKey(presented));
    if (!entry) throw new SluiceError('UNAUTHORIZED', 'the API key is not valid');
    if (topic !== null && !entry[access].some((p) => p.test(topic))) {
      throw new SluiceError(
        'FORBIDDEN',
        `API key "${entry.id}" may not ${access} ${access === 'produce' ? 'to' : ''} topic "${topic}"`.replace('  ', ' '),
      );
    }
    if (entry.requestsPerSec > 0) {
      const now = Date.now();
      entry.tokens = Math.min(entry.requestsPerSec, entry.tokens + ((now - entry.refilledAt) / 1000) * entry.requestsPerSec);
      entry.refilledAt = now;
      if (entry.tokens < 1) {
        throw new SluiceError('RATE_LIMITED', `API key "${entry.id}" is over its limit of ${entry.requestsPerSec} requests/s`);
      }
      entry.tokens -= 1;
    }
    return entry.id;
  }

  /**
   * The topics the presented key may `access`, without taking a rate-limit token; all of them with open
   * access (for listings, after `check`). The key is hashed once, not once per topic.
   */
  permitted<T extends { name: string }>(presented: string, access: Access, topics: T[]): T[] {
    if (!this.enabled) return topics;
    const patterns = this.byHash.get(hashApiKey(presented))?.[access];
    return patterns === undefined ? [] : topics.filter((t) => patterns.some((p) => p.test(t.name)));
  }
}

/** The key a request presents, read synchronously from uWS's request object. */
export function presentedKey(header: (name: string) => string, query: (name: string) => string | undefined): string {
  const direct = header('x-api-key');
  if (direct) return direct;
  const auth = header('authorization');
  if (auth.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  return query('api_key') ?? '';
}
