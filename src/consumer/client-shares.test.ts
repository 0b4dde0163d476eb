import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientShares, type ShareHolder, type ShareKind, type ShareLimits } from './client-shares.js';

const LIMITS: ShareLimits = {
  maxSubscriptionsPerConnection: 3,
  maxReplaysPerConnection: 2,
  maxGroupsPerConnection: 1,
  maxTopicsPerClient: 2,
  maxReplaysPerClient: 3,
};
const KINDS: ShareKind[] = ['subscriptions', 'replays', 'groups'];

describe('ClientShares against a model', () => {
  it('takes exactly what the limits allow, refuses with the limit named, and is empty once all is given back', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            give: fc.boolean(),
            kind: fc.constantFrom(...KINDS),
            connection: fc.constantFrom('0:1', '0:2', '1:1'),
            client: fc.constantFrom('key:a', 'addr:b'),
            topic: fc.constantFrom('t', 'u', 'v'),
          }),
          { maxLength: 60 },
        ),
        (ops) => {
          const shares = new ClientShares(LIMITS);
          const held: { kind: ShareKind; h: ShareHolder }[] = [];
          for (const op of ops) {
            const h = { connection: op.connection, client: op.client, topic: op.topic };
            if (op.give) {
              const i = held.findIndex((x) => x.kind === op.kind);
              if (i >= 0) shares.give(held[i].kind, held.splice(i, 1)[0].h);
              continue;
            }
            const byConn = held.filter((x) => x.kind === op.kind && x.h.connection === h.connection).length;
            const byClient = held.filter((x) => x.kind === op.kind && x.h.client === h.client);
            const topics = new Set(byClient.map((x) => x.h.topic));
            const connLimit = {
              subscriptions: LIMITS.maxSubscriptionsPerConnection,
              replays: LIMITS.maxReplaysPerConnection,
              groups: LIMITS.maxGroupsPerConnection,
            }[op.kind];
            const expected =
              byConn >= connLimit
                ? 'CONNECTION_LIMIT'
                : op.kind === 'subscriptions' && !topics.has(h.topic) && topics.size >= LIMITS.maxTopicsPerClient
                  ? 'CLIENT_LIMIT'
                  : op.kind === 'replays' && byClient.length >= LIMITS.maxReplaysPerClient
                    ? 'CLIENT_LIMIT'
                    : null;
            let got: string | null = null;
            try {
              shares.take(op.kind, h);
              held.push({ kind: op.kind, h });
            } catch (err) {
              got = (err as { code: string }).code;
            }
            expect(got).toBe(expected);
          }
          const largest = shares.largest();
          expect(largest.SLUICE_MAX_SUBSCRIPTIONS_PER_CONNECTION).toBeLessThanOrEqual(LIMITS.maxSubscriptionsPerConnection);
          expect(largest.SLUICE_MAX_TOPICS_PER_CLIENT).toBeLessThanOrEqual(LIMITS.maxTopicsPerClient);
          expect(largest.SLUICE_MAX_REPLAYS_PER_CLIENT).toBeLessThanOrEqual(LIMITS.maxReplaysPerClient);
          for (const x of held.splice(0)) shares.give(x.kind, x.h);
          expect(shares.holders).toBe(0);
          expect(Object.values(shares.largest()).every((n) => n === 0)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
