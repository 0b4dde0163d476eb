/**
 * Request and error-answer counts gathered in one thread between flushes (a worker posts them to the main
 * thread once a second; the main thread drains its own at scrape time): plain Maps and arrays, so counting
 * a request allocates nothing and never goes through prom-client's label lookups.
 */
import { HTTP_DURATION_BUCKETS } from './histograms.js';

/** Per route and status: requests, records, request-duration bucket counts (HTTP_DURATION_BUCKETS, then +Inf) and their sum. */
export type RequestCounts = [route: string, status: number, requests: number, records: number, buckets: number[], seconds: number][];
export type ErrorCounts = [code: string, route: string, answers: number][];

/** Request counts gathered in one thread between flushes (a worker posts them to the main thread). */
export class RequestTally {
  // route → status → entry; nested, and each entry's bucket array allocated once, so counting allocates nothing.
  private readonly counts = new Map<string, Map<number, RequestCounts[number]>>();

  add(route: string, status: number, records: number, seconds: number): void {
    let byStatus = this.counts.get(route);
    if (!byStatus) this.counts.set(route, (byStatus = new Map()));
    let entry = byStatus.get(status);
    if (!entry) byStatus.set(status, (entry = [route, status, 0, 0, new Array<number>(HTTP_DURATION_BUCKETS.length + 1).fill(0), 0]));
    entry[2]++;
    entry[3] += records;
    const b = HTTP_DURATION_BUCKETS;
    let i = 0;
    while (i < b.length && seconds > b[i]) i++;
    entry[4][i]++;
    entry[5] += seconds;
  }

  drain(): RequestCounts {
    const out: RequestCounts = [];
    for (const byStatus of this.counts.values()) for (const e of byStatus.values()) out.push(e);
    this.counts.clear();
    return out;
  }
}

/** Error answers gathered in one thread between flushes, like RequestTally: code → route → count. */
export class ErrorTally {
  private readonly counts = new Map<string, Map<string, [string, string, number]>>();

  add(code: string, route: string): void {
    let byRoute = this.counts.get(code);
    if (!byRoute) this.counts.set(code, (byRoute = new Map()));
    const entry = byRoute.get(route);
    if (entry) entry[2]++;
    else byRoute.set(route, [code, route, 1]);
  }

  drain(): ErrorCounts {
    const out: ErrorCounts = [];
    for (const byRoute of this.counts.values()) for (const e of byRoute.values()) out.push(e);
    this.counts.clear();
    return out;
  }
}
