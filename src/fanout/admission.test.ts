import { pino } from 'pino';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../errors.js';
import { AccessControl } from '../http/credentials/api-keys.js';
import { CorsPolicy } from '../http/cors.js';
import { SubscribeAuth, type Grant } from '../http/credentials/subscription-tokens.js';
import type { FanoutGate, SubscribeRequest } from '../subscription/protocol.js';
import { readSubscribeOptions, type SubscribeOptions } from '../subscription/subscribe-options.js';
import { Admission, type Admitted } from './admission.js';

const GRANT: Grant = { expiresAtMs: Date.now() + 3_600_000, entries: [{ topic: 't', keys: null, where: null, conflateMs: null }] };

/** One admission with a token whose verification waits until the test lets it go (the JWKS-fetch await). */
function setup(proceedResult: 'started' | 'died' = 'started') {
  let verified!: () => void;
  const verification = new Promise<Grant>((resolve) => (verified = () => resolve(GRANT)));
  const auth = new SubscribeAuth(AccessControl.open(), { verify: () => verification, clock: Date.now });
  const admission = new Admission(auth, new CorsPolicy(''), pino({ level: 'silent' }));
  const calls: string[] = [];
  const gate: FanoutGate = {
    open: (r: SubscribeRequest) => calls.push(`open ${r.sub} ${r.topic} ${r.style} ${r.beforeUpgrade}`),
    start: (sub) => calls.push(`start ${sub}`),
    close: (sub) => calls.push(`close ${sub}`),
    ack: () => calls.push('ack'),
  };
  admission.gate = gate;
  let abort = () => {};
  const res = {
    onAborted: (f: () => void) => (abort = f),
    cork: (f: () => void) => f(),
    getRemoteAddressAsText: () => new TextEncoder().encode('127.0.0.1').buffer,
  } as unknown as HttpResponse;
  const req = {
    getHeader: (h: string) => (h === 'authorization' ? 'Bearer aaa.bbb.ccc' : ''),
    getQuery: () => undefined,
  } as unknown as HttpRequest;
  const run = () =>
    admission.run<SubscribeOptions>(res, {
      transport: 'sse',
      facts: admission.facts(res, req),
      valueFrames: false,
      readOptions: () => readSubscribeOptions('t', () => undefined),
      refuse: (err) => calls.push(`refuse ${err instanceof SluiceError ? err.code : String(err)}`),
      proceed: (a: Admitted<SubscribeOptions>) => {
        calls.push(`proceed ${a.sub} ${a.identity.client}`);
        return proceedResult === 'died' ? null : () => calls.push('connection left');
      },
    });
  const settle = () => new Promise((r) => setImmediate(r));
  return { admission, calls, run, verified, settle, leave: () => abort() };
}

describe('admission: a client leaving at each await gives back what was acquired, once', () => {
  it('leaving during the credentials: nothing was opened, nothing is answered', async () => {
    const t = setup();
    t.run();
    t.leave();
    t.verified();
    await t.settle();
    expect(t.calls).toEqual([]);
  });

  it('leaving after open, before ready: the subscription is closed once, and a late ready does nothing', async () => {
    const t = setup();
    t.run();
    t.verified();
    await t.settle();
    expect(t.calls).toEqual(['open 1 t record true']);
    t.leave();
    t.admission.ready(1);
    t.leave();
    expect(t.calls).toEqual(['open 1 t record true', 'close 1']);
  });

  it('ready: the transport proceeds, and from then on a leave is the connection’s to handle', async () => {
    const t = setup();
    t.run();
    t.verified();
    await t.settle();
    t.admission.ready(1);
    t.leave();
    expect(t.calls).toEqual(['open 1 t record true', 'proceed 1 addr:127.0.0.1', 'connection left']);
  });

  it('ready, but the connection never came into being (the socket died in the upgrade): the subscription is closed', async () => {
    const t = setup('died');
    t.run();
    t.verified();
    await t.settle();
    t.admission.ready(1);
    expect(t.calls).toEqual(['open 1 t record true', 'proceed 1 addr:127.0.0.1', 'close 1']);
  });

  it('a refusal from the registry is an HTTP answer; a leave after it gives nothing back twice', async () => {
    const t = setup();
    t.run();
    t.verified();
    await t.settle();
    expect(t.admission.refused(1, { code: 'OVERLOADED', message: 'full' })).toBe(true);
    t.leave();
    expect(t.admission.refused(1, { code: 'OVERLOADED', message: 'full' })).toBe(false);
    expect(t.calls).toEqual(['open 1 t record true', 'refuse OVERLOADED']);
  });

  it('shutting down: during the credentials, refused without opening; while waiting for ready, closed and refused', async () => {
    const a = setup();
    a.run();
    a.admission.shutDown();
    a.verified();
    await a.settle();
    expect(a.calls).toEqual(['refuse SHUTTING_DOWN']);

    const b = setup();
    b.run();
    b.verified();
    await b.settle();
    b.admission.shutDown();
    b.admission.ready(1);
    b.leave();
    expect(b.calls).toEqual(['open 1 t record true', 'close 1', 'refuse SHUTTING_DOWN']);
    b.run(); // a new subscriber is refused by the precheck, before anything is awaited
    expect(b.calls.at(-1)).toBe('refuse SHUTTING_DOWN');
  });
});
