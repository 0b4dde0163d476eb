/**
 * Each client's share of the gateway's subscription resources, so that no one connection or client takes
 * every live partition (SLUICE_MAX_LIVE_PARTITIONS), SLUICE_MAX_REPLAYS or SLUICE_MAX_GROUPS and leaves the others with
 * 503 OVERLOADED. Counted on the main thread (where every hub's subscriptions meet), per
 *   connection — one WebSocket (of any hub) or one SSE stream: subscriptions, replays in progress, group
 *     memberships (429 CONNECTION_LIMIT);
 *   client — the API key, the token's `sub`, or (open access, or a token without `sub`) the client address:
 *     distinct topics subscribed to (what a live feed costs: subscribers of one topic share it) and replays
 *     in progress (429 CLIENT_LIMIT).
 * A share is taken in one synchronous step by the subscription that needs it and given back by that
 * subscription (subscription.ts: its close() and the end of its replay); nothing else changes the counts.
 */
import { SluiceError } from '../errors.js';

export type ShareKind = 'subscriptions' | 'replays' | 'groups';

export interface ShareLimits {
  maxSubscriptionsPerConnection: number;
  maxReplaysPerConnection: number;
  maxGroupsPerConnection: number;
  maxTopicsPerClient: number;
  maxReplaysPerClient: number;
}

/** Who holds a share: the connection (unique over hubs) and the client. */
export interface ShareHolder {
  connection: string;
  client: string;
  topic: string;
}

interface ClientCount {
  /** Subscriptions per topic. */
  topics: Map<string, number>;
  replays: number;
}

const CONNECTION_SETTING: Record<ShareKind, keyof ShareLimits> = {
  subscriptions: 'maxSubscriptionsPerConnection',
  replays: 'maxReplaysPerConnection',
  groups: 'maxGroupsPerConnection',
};
const ENV: Record<keyof ShareLimits, string> = {
  maxSubscriptionsPerConnection: 'SLUICE_MAX_SUBSCRIPTIONS_PER_CONNECTION',
  maxReplaysPerConnection: 'SLUICE_MAX_REPLAYS_PER_CONNECTION',
  maxGroupsPerConnection: 'SLUICE_MAX_GROUPS_PER_CONNECTION',
  maxTopicsPerClient: 'SLUICE_MAX_TOPICS_PER_CLIENT',
  maxReplaysPerClient: 'SLUICE_MAX_REPLAYS_PER_CLIENT',
};
const NOUN: Record<ShareKind, string> = { subscriptions: 'subscriptions', replays: 'replays in progress', groups: 'group memberships' };

export class ClientShares {
  private readonly connections = new Map<string, Record<ShareKind, number>>();
  private readonly clients = new Map<string, ClientCount>();

  constructor(private readonly limits: ShareLimits) {}

  /** Takes one share of `kind`, or throws CONNECTION_LIMIT / CLIENT_LIMIT (nothing taken then). */
  take(kind: ShareKind, h: ShareHolder): void {
    const conn = this.connections.get(h.connection);
    const setting = CONNECTION_SETTING[kind];
    const held = conn?.[kind] ?? 0;
    if (held >= this.limits[setting]) {
      throw new SluiceError(
        'CONNECTION_LIMIT',
        `this connection holds ${held} ${NOUN[kind]} (${ENV[setting]}=${this.limits[setting]}); ${kind === 'replays' ? 'wait for one to catch up' : 'unsubscribe from one'}, or use another connection for more`,
        { limit: ENV[setting] },
      );
    }
    const client = this.clients.get(h.client);
    if (kind === 'subscriptions' && !client?.topics.has(h.topic) && (client?.topics.size ?? 0) >= this.limits.maxTopicsPerClient) {
      throw new SluiceError(
        'CLIENT_LIMIT',
        `this client (${h.client}) subscribes to ${client!.topics.size} topics (SLUICE_MAX_TOPICS_PER_CLIENT=${this.limits.maxTopicsPerClient}); unsubscribe from one, or retry later`,
        { limit: 'SLUICE_MAX_TOPICS_PER_CLIENT' },
      );
    }
    if (kind === 'replays' && (client?.replays ?? 0) >= this.limits.maxReplaysPerClient) {
      throw new SluiceError(
        'CLIENT_LIMIT',
        `this client (${h.client}) has ${client!.replays} replays in progress (SLUICE_MAX_REPLAYS_PER_CLIENT=${this.limits.maxReplaysPerClient}); retry once one has caught up`,
        { limit: 'SLUICE_MAX_REPLAYS_PER_CLIENT' },
      );
    }
    // Checks done: now count, in this one step.
    const c = conn ?? { subscriptions: 0, replays: 0, groups: 0 };
    c[kind]++;
    this.connections.set(h.connection, c);
    if (kind === 'groups') return;
    const cl = client ?? { topics: new Map(), replays: 0 };
    if (kind === 'subscriptions') cl.topics.set(h.topic, (cl.topics.get(h.topic) ?? 0) + 1);
    else cl.replays++;
    this.clients.set(h.client, cl);
  }

  /** Gives back a share taken by `take` (called once per take, by its taker). */
  give(kind: ShareKind, h: ShareHolder): void {
    const conn = this.connections.get(h.connection);
    if (conn) {
      conn[kind]--;
      if (conn.subscriptions + conn.replays + conn.groups === 0) this.connections.delete(h.connection);
    }
    if (kind === 'groups') return;
    const cl = this.clients.get(h.client);
    if (!cl) return;
    if (kind === 'subscriptions') {
      const n = (cl.topics.get(h.topic) ?? 1) - 1;
      if (n > 0) cl.topics.set(h.topic, n);
      else cl.topics.delete(h.topic);
    } else cl.replays--;
    if (cl.topics.size === 0 && cl.replays === 0) this.clients.delete(h.client);
  }

  /**
   * The largest share any one connection or client holds of each limit (gauges: all 0 with no client
   * connected; one near its limit shows who is about to be refused).
   */
  largest(): Record<string, number> {
    const out: Record<string, number> = Object.fromEntries(Object.values(ENV).map((e) => [e, 0]));
    for (const c of this.connections.values()) {
      for (const kind of ['subscriptions', 'replays', 'groups'] as const) {
        const env = ENV[CONNECTION_SETTING[kind]];
        out[env] = Math.max(out[env], c[kind]);
      }
    }
    for (const c of this.clients.values()) {
      out.SLUICE_MAX_TOPICS_PER_CLIENT = Math.max(out.SLUICE_MAX_TOPICS_PER_CLIENT, c.topics.size);
      out.SLUICE_MAX_REPLAYS_PER_CLIENT = Math.max(out.SLUICE_MAX_REPLAYS_PER_CLIENT, c.replays);
    }
    return out;
  }

  /** Connections and clients holding any share (0 with no client connected: nothing leaked). */
  get holders(): number {
    return this.connections.size + this.clients.size;
  }
}
