import { expect, it } from 'vitest';
import { ERRORS, type ErrorCode } from '../errors.js';
import { ROUTES } from './routes.js';

/** Answered by the fallback for what matches no route, or sent only on an open subscription. */
const NOT_PER_ROUTE: readonly ErrorCode[] = ['ROUTE_NOT_FOUND', 'METHOD_NOT_ALLOWED', 'TOO_SLOW', 'SNAPSHOT_TOO_LARGE', 'VIEW_TOO_LARGE'];

it('every code of the error registry is given by some route of the table (a new code is added to the routes that give it)', () => {
  const given = new Set(ROUTES.flatMap((r) => r.errors));
  const missing = (Object.keys(ERRORS) as ErrorCode[]).filter((c) => !given.has(c) && !NOT_PER_ROUTE.includes(c));
  expect(missing).toEqual([]);
});

it('route ids are unique (they are operationIds and metric labels)', () => {
  const ids = ROUTES.map((r) => r.id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) expect(id).toMatch(/^[a-z_]+$/);
});
