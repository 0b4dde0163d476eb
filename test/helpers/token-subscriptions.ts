/** What the signed-subscription tests share: token expiry times, the record frames a client got, a bounded poll and a POST per record. */
import { createHmac } from 'node:crypto';
import { expect } from 'vitest';
import { postJson } from './sluice-process.js';

/** A JWT signed with HMAC-SHA256 by hand, so that any `alg` header (none, RS256 …) can be put on it. */
export function hmacJwt(claims: object, secret: string, alg = 'HS256'): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg, typ: 'JWT' })}.${enc(claims)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

export const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;

export interface Frame {
  event?: string;
  key: string | null;
  value: Record<string, unknown>;
  error?: { code: string };
}
/** The record frames among a WebSocket's frames (not `subscribed`, `error`, …). */
export const records = (frames: string[]) => frames.map((f) => JSON.parse(f) as Frame).filter((f) => f.event === undefined);

export async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Writes `{"order": key, n}` with that key through the gateway at `url`. */
export async function produceKeyed(url: string, topic: string, key: string, n: number): Promise<void> {
  const res = await postJson(`${url}/topics/${topic}?key=${key}`, JSON.stringify({ order: key, n }));
  expect(res.status).toBe(200);
}
