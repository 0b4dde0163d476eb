/**
 * Churn soak (issue #9): hundreds of clients leave at every moment of a subscription's life — with the
 * upgrade sent but not answered, while it is prepared, while it replays history, while its group member
 * joins, while it is live — over per-topic WebSocket URLs, `/ws` control messages, SSE and the seed route.
 * Afterwards, with no client connected, every lifecycle gauge on /metrics reads 0, the gateway's threads
 * and open files are back near their baseline, and replays, new topics and groups are still served.
 *
 * The schedule (which client, which URL, when it leaves) is drawn from a seeded generator and the seed is
 * printed: SLUICE_CHURN_SEED=<seed> replays the same schedule (the interleaving with the gateway still
 * varies with timing). The soak is bounded: every client leaves by itself within CLIENT_CAP_MS, every wait
 * is a bounded poll, and nothing here asserts a duration.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { randomTopic, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { connect, type RecordingSocket } from './helpers/websocket-client.js';

const kafka = inject('kafkaBootstrap');
const MODES = ['0', '2'] as const;
const SEED = Number(process.env.SLUICE_CHURN_SEED ?? randomBytes(4).readUInt32BE(0) >>> 1);

/** Records of the topic replays read (posted once, shared by both gateways). */
const HISTORY_RECORDS = 30_000;
const HISTORY_BATCH = 3_000;
/** Clients start over this window, at most MAX_CONCURRENT at a time. */
const CHURN_WINDOW_MS = 10_000;
const MAX_CONCURRENT = 48;
/** Whatever its plan, a client leaves after this long. */
const CLIENT_CAP_MS = 3_000;
/**
 * Margins over the baseline once every client has left. Measured here: each Kafka consumer costs the
 * gateway 4 threads and 8 open files (librdkafka's main and broker threads, sockets and wake-up fds), and
 * the churn came back to the baseline exactly, or with 1 file more (a client socket not yet reaped). So a
 * single consumer leaked fails both bounds.
 */
const THREAD_MARGIN = 2;
const FD_MARGIN = 4;

/** mulberry32: small, fast, and the same sequence for the same seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- HTTP without connection reuse: a pooled keep-alive socket would count as an open file of the gateway ----

function http(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer from ${url} within 15 s`)));
    req.end(init.body);
  });
}

async function postNdjson(gw: SluiceProcess, topic: string, lines: string[]): Promise<void> {
  const res = await http(`${gw.url}/topics/${topic}`, {
    method: 'POST',
    body: lines.join('\n'),
    headers: { 'content-type': 'application/x-ndjson' },
  });
  if (res.status !== 200) throw new Error(`POST /topics/${topic}: ${res.status} ${res.text}`);
}

/**
 * The first POST to a topic: the gateway waits ~2 s for an auto-created topic to appear and then answers
 * 503 TOPIC_NOT_READY; on a loaded machine the broker can take longer, so set-up retries that, bounded.
 */
async function createByPost(gw: SluiceProcess, topic: string, lines: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await http(`${gw.url}/topics/${topic}`, {
      method: 'POST',
      body: lines.join('\n'),
      headers: { 'content-type': 'application/x-ndjson' },
    });
    if (res.status === 200) return;
    if (res.status !== 503 || !res.text.includes('TOPIC_NOT_READY') || Date.now() > deadline)
      throw new Error(`POST /topics/${topic}: ${res.status} ${res.text}`);
    await sleep(1000);
  }
}

// ---- what the gateway holds ----

const GAUGE_NAMES = [
  'sluice_kafka_consumers',
  'sluice_subscriptions',
  'sluice_replays_in_progress',
  'sluice_group_members',
  'sluice_subscribers',
  'sluice_client_share_largest',
];
/** Series every scrape must show (the gateway sets each at scrape time). */
const EXPECTED_SERIES = 3 + 9 + 1 + 1 + 3 + 5;

async function lifecycleGauges(gw: SluiceProcess): Promise<Map<string, number>> {
  const { status, text } = await http(`${gw.url}/metrics`);
  if (status !== 200) throw new Error(`/metrics: ${status}`);
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(sluice_[a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && GAUGE_NAMES.includes(m[1])) out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

const nonZero = (g: Map<string, number>) => [...g].filter(([, v]) => v !== 0);

/** Polls until every lifecycle gauge reads 0 (or the deadline), returning the last scrape. */
async function gaugesAtZero(gw: SluiceProcess, timeoutMs: number): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const g = await lifecycleGauges(gw);
    if ((g.size === EXPECTED_SERIES && nonZero(g).length === 0) || Date.now() > deadline) return g;
    await sleep(250);
  }
}

function gaugeSummary(g: Map<string, number>): string {
  const get = (k: string) => g.get(k) ?? 'missing';
  const subs = [...g].filter(([k]) => k.startsWith('sluice_subscriptions{')).reduce((n, [, v]) => n + v, 0);
  return (
    `{consumers live/replay/group=${get('sluice_kafka_consumers{role="live"}')}/${get('sluice_kafka_consumers{role="replay"}')}/${get('sluice_kafka_consumers{role="group"}')}` +
    ` subscriptions=${subs} replays=${get('sluice_replays_in_progress')} group_members=${get('sluice_group_members')}` +
    ` subscribers ws/sse/seed=${get('sluice_subscribers{transport="websocket"}')}/${get('sluice_subscribers{transport="sse"}')}/${get('sluice_subscribers{transport="seed-websocket"}')}}`
  );
}

/** The highest value each series reached while `sampling` was running (shows which states the churn reached). */
function samplePeaks(gw: SluiceProcess): { stop(): Promise<Map<string, number>> } {
  const peaks = new Map<string, number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        for (const [k, v] of await lifecycleGauges(gw)) peaks.set(k, Math.max(peaks.get(k) ?? 0, v));
      } catch {
        // a scrape that fails under load is only a missed sample
      }
      await sleep(200);
    }
  })();
  return { stop: async () => ((running = false), await loop, peaks) };
}

function peakSummary(p: Map<string, number>): string {
  const sum = (prefix: string, filter: string) =>
    [...p].filter(([k]) => k.startsWith(prefix) && k.includes(filter)).reduce((n, [, v]) => n + v, 0);
  return (
    `preparing=${sum('sluice_subscriptions{', 'state="preparing"')} replaying=${sum('sluice_subscriptions{', 'state="replaying"')} live=${sum('sluice_subscriptions{', 'state="live"')}` +
    ` consumers live/replay/group=${p.get('sluice_kafka_consumers{role="live"}') ?? 0}/${p.get('sluice_kafka_consumers{role="replay"}') ?? 0}/${p.get('sluice_kafka_consumers{role="group"}') ?? 0}` +
    ` replays=${p.get('sluice_replays_in_progress') ?? 0} group_members=${p.get('sluice_group_members') ?? 0}`
  );
}

function processCounts(pid: number): { threads: number; fds: number } {
  return { threads: readdirSync(`/proc/${pid}/task`).length, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** Polls until the counts are within the margins (or the deadline): librdkafka joins its threads as each consumer is destroyed. */
async function countsWithin(pid: number, base: { threads: number; fds: number }, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = processCounts(pid);
    if ((c.threads <= base.threads + THREAD_MARGIN && c.fds <= base.fds + FD_MARGIN) || Date.now() > deadline) return c;
    await sleep(250);
  }
}

// ---- clients that leave at chosen moments ----

/** Everything the soak opens, so that a failing test still closes it all. */
class OpenSet {
  private readonly items = new Set<() => void>();
  add(close: () => void): () => void {
    this.items.add(close);
    return () => void this.items.delete(close);
  }
  get size(): number {
    return this.items.size;
  }
  closeAll(): void {
    for (const close of [...this.items]) {
      try {
        close();
      } catch {
        // already gone
      }
    }
    this.items.clear();
  }
}

type Leave =
  | { at: 'soon'; delayMs: number; terminate: boolean } // from construction: before, during or just after the handshake
  | { at: 'open'; delayMs: number; terminate: boolean }
  | { at: 'frames'; n: number; terminate: boolean };

interface Context {
  gw: SluiceProcess;
  open: OpenSet;
  tally: Map<string, number>;
  /** Resume tokens seen in frames of the history topic, for from=<token> clients. */
  tokens: string[];
}

function count(ctx: Context, kind: string, outcome: string): void {
  const k = `${kind}:${outcome}`;
  ctx.tally.set(k, (ctx.tally.get(k) ?? 0) + 1);
}

function keepToken(ctx: Context, frame: string, topic: string): void {
  if (ctx.tokens.length >= 64 || !frame.includes(`"topic":${JSON.stringify(topic)}`)) return;
  const m = /"token":"([^"]+)"/.exec(frame);
  if (m && !frame.startsWith('{"event"')) ctx.tokens.push(m[1]);
}

/** A WebSocket that leaves according to `leave` (or at CLIENT_CAP_MS); `onOpen` may send control messages. */
function wsClient(
  ctx: Context,
  kind: string,
  url: string,
  leave: Leave,
  hooks: { onOpen?: (ws: WebSocket) => void; onFrame?: (ws: WebSocket, text: string, n: number) => void; tokenTopic?: string } = {},
): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const forget = ctx.open.add(() => ws.terminate());
    let frames = 0;
    let outcome = 'left';
    let left = false;
    const timers: NodeJS.Timeout[] = [];
    const go = (why: string, terminate: boolean) => {
      if (left) return;
      left = true;
      outcome = why;
      if (terminate || ws.readyState !== WebSocket.OPEN) ws.terminate();
      else {
        ws.close(1000);
        timers.push(setTimeout(() => ws.terminate(), 1000)); // a close handshake that does not finish
      }
    };
    timers.push(setTimeout(() => go('cap', false), CLIENT_CAP_MS));
    if (leave.at === 'soon')
      timers.push(setTimeout(() => go(`soon-${leave.terminate ? 'terminate' : 'close'}`, leave.terminate), leave.delayMs));
    ws.on('error', () => {});
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        const code = /"code":"([A-Z_]+)"/.exec(body)?.[1] ?? '';
        if (!left) go(`http-${res.statusCode}${code ? `-${code}` : ''}`, true);
      });
      res.on('error', () => {});
    });
    ws.on('open', () => {
      hooks.onOpen?.(ws);
      if (leave.at === 'open')
        timers.push(setTimeout(() => go(`open-${leave.terminate ? 'terminate' : 'close'}`, leave.terminate), leave.delayMs));
    });
    ws.on('message', (data) => {
      const text = data.toString();
      frames++;
      if (hooks.tokenTopic) keepToken(ctx, text, hooks.tokenTopic);
      hooks.onFrame?.(ws, text, frames);
      if (leave.at === 'frames' && frames >= leave.n) go(`frames-${leave.terminate ? 'terminate' : 'close'}`, leave.terminate);
    });
    ws.on('close', (code) => {
      for (const t of timers) clearTimeout(t);
      forget();
      count(ctx, kind, left ? outcome : `server-closed-${code}`);
      resolve();
    });
  });
}

/** An upgrade request on a bare TCP socket, dropped (FIN or RST) `delayMs` after it was sent. */
function rawUpgrade(ctx: Context, kind: string, path: string, delayMs: number, reset: boolean): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = tcpConnect(ctx.gw.port, '127.0.0.1');
    const forget = ctx.open.add(() => socket.destroy());
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    socket.on('error', () => {});
    socket.on('data', () => (answered = true));
    socket.on('connect', () => {
      const head = path.startsWith('/sse/')
        ? `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`
        : `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
      socket.write(head);
      const drop = () => {
        if (reset) socket.resetAndDestroy();
        else socket.destroy();
      };
      if (delayMs === 0) drop();
      else timer = setTimeout(drop, delayMs);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      forget();
      count(ctx, kind, `${answered ? 'after-answer' : 'unanswered'}-${reset ? 'rst' : 'fin'}`);
      resolve();
    });
  });
}

type SseLeave = { at: 'soon'; delayMs: number } | { at: 'answer'; delayMs: number } | { at: 'events'; n: number };

/** An SSE request aborted at the chosen moment (before its answer, after it, after n events) or at CLIENT_CAP_MS. */
function sseClient(ctx: Context, kind: string, path: string, headers: Record<string, string>, leave: SseLeave): Promise<void> {
  return new Promise((resolve) => {
    const abort = new AbortController();
    const forget = ctx.open.add(() => abort.abort());
    let outcome = 'cap';
    let left = false;
    const timers: NodeJS.Timeout[] = [];
    const go = (why: string) => {
      if (left) return;
      left = true;
      outcome = why;
      abort.abort();
    };
    timers.push(setTimeout(() => go('cap'), CLIENT_CAP_MS));
    if (leave.at === 'soon') timers.push(setTimeout(() => go('soon'), leave.delayMs));
    const req = httpRequest(
      `${ctx.gw.url}${path}`,
      { headers: { accept: 'text/event-stream', ...headers }, agent: false, signal: abort.signal },
      (res) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => go(`http-${res.statusCode}-${/"code":"([A-Z_]+)"/.exec(body)?.[1] ?? ''}`));
          res.on('error', () => {});
          return;
        }
        if (leave.at === 'answer') timers.push(setTimeout(() => go('answer'), leave.delayMs));
        let events = 0;
        res.on('data', (c: Buffer) => {
          events += c.toString().split('\n\n').length - 1;
          if (leave.at === 'events' && events >= leave.n) go('events');
        });
        res.on('end', () => go('server-ended'));
        res.on('error', () => {});
      },
    );
    req.on('error', () => {});
    req.on('close', () => {
      for (const t of timers) clearTimeout(t);
      forget();
      count(ctx, kind, outcome);
      resolve();
    });
    req.end();
  });
}

// ---- the schedule ----

interface Topics {
  history: string;
  /** Records posted to it during the churn: its replay afterwards must get exactly these. */
  live: string;
  group: string;
  /** A moment between the history's batches, for from=<epoch ms>. */
  historyMidMs: number;
  historyToken: string;
}

interface Planned {
  startMs: number;
  clients: number;
  run: (ctx: Context) => Promise<void>;
}

function plan(rng: () => number, t: Topics, mode: string): { planned: Planned[]; byKind: Map<string, number> } {
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const at = () => Math.floor(rng() * CHURN_WINDOW_MS);
  const planned: Planned[] = [];
  const byKind = new Map<string, number>();
  const add = (kind: string, clients: number, startMs: number, run: (ctx: Context) => Promise<void>) => {
    byKind.set(kind, (byKind.get(kind) ?? 0) + clients);
    planned.push({ startMs, clients, run });
  };
  const group = `churn-${mode}-${randomBytes(3).toString('hex')}`;
  const urlTargets = (ctx: Context): string[] => [
    `/ws/topics/${t.history}?from=earliest`,
    `/ws/topics/${t.history}?from=earliest&where=${encodeURIComponent('seq>29000')}`,
    `/ws/topics/${t.history}?from=${t.historyMidMs}`,
    `/ws/topics/${t.history}?from=${encodeURIComponent(ctx.tokens.length > 0 ? ctx.tokens[ctx.tokens.length - 1] : t.historyToken)}`,
    `/ws/topics/${t.live}?from=latest`,
    `/ws/topics/${t.live}?from=earliest`, // a replay that catches up and joins while records arrive
    `/ws/topics/${t.live}?key=k1`,
    `/ws/topics/${t.group}?group=${group}`,
    `/ws/topics/${t.group}?group=${group}-b&from=earliest`,
    `/ws/topics/${randomTopic('churn-new')}?from=earliest`, // a replay slot and a live feed on a topic being created
    `/ws/topics/${t.group}?group=${group}-${randomBytes(3).toString('hex')}`, // a group consumer that is still joining
  ];
  const leaveWs = (): Leave => {
    const terminate = rng() < 0.5;
    const r = rng();
    if (r < 0.3) return { at: 'soon', delayMs: int(0, 40), terminate };
    if (r < 0.65) return { at: 'open', delayMs: int(0, 1200), terminate };
    return { at: 'frames', n: int(1, 300), terminate };
  };

  // The user's report: 24 dashboards replay a big topic and close after ~50 frames.
  const dashStart = int(0, 2000);
  for (let i = 0; i < 24; i++) {
    const terminate = rng() < 0.5;
    add('dashboard', 1, dashStart + i * 20, (ctx) =>
      wsClient(
        ctx,
        'dashboard',
        `${ctx.gw.wsUrl}/ws/topics/${t.history}?from=earliest`,
        { at: 'frames', n: 51, terminate },
        { tokenTopic: t.history },
      ),
    );
  }

  // 40 members of one group, all leaving in the same instant once they are in (or at the cap).
  const crowdTerminate = rng() < 0.5;
  add('group-crowd', 40, int(2000, 6000), async (ctx) => {
    const members = Array.from({ length: 40 }, () => {
      const ws = new WebSocket(`${ctx.gw.wsUrl}/ws/topics/${t.group}?group=${group}-crowd`);
      const forget = ctx.open.add(() => ws.terminate());
      ws.on('error', () => {});
      const subscribed = new Promise<boolean>((resolve) => {
        ws.on('message', (d) => {
          if (d.toString().startsWith('{"event":"subscribed"')) resolve(true);
        });
        ws.on('close', () => resolve(false));
        ws.on('unexpected-response', () => resolve(false));
      });
      const closed = new Promise<void>((resolve) =>
        ws.on('close', () => {
          forget();
          resolve();
        }),
      );
      return { ws, subscribed, closed };
    });
    const joined = await Promise.race([Promise.all(members.map((m) => m.subscribed)), sleep(CLIENT_CAP_MS).then(() => null)]);
    for (const m of members) {
      if (crowdTerminate || m.ws.readyState !== WebSocket.OPEN) m.ws.terminate();
      else m.ws.close(1000);
    }
    await Promise.race([Promise.all(members.map((m) => m.closed)), sleep(1000)]);
    for (const m of members) m.ws.terminate();
    count(ctx, 'group-crowd', joined ? `all-joined-${crowdTerminate ? 'terminate' : 'close'}` : 'not-all-joined');
  });

  // `/ws` subscribing to a brand-new topic and closing ~0–10 ms later (sometimes unsubscribing first).
  for (let i = 0; i < 150; i++) {
    const delayMs = int(0, 10);
    const unsubscribeFirst = rng() < 0.2;
    const terminate = rng() < 0.5;
    const from = rng() < 0.5 ? 'latest' : 'earliest';
    add('ws-new-topic', 1, at(), (ctx) => {
      const topic = randomTopic('churn-new');
      return wsClient(
        ctx,
        'ws-new-topic',
        `${ctx.gw.wsUrl}/ws`,
        { at: 'open', delayMs, terminate },
        {
          onOpen: (ws) => {
            ws.send(JSON.stringify({ op: 'subscribe', topic, from }));
            if (unsubscribeFirst)
              setTimeout(
                () => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ op: 'unsubscribe', topic })),
                Math.max(0, delayMs - 1),
              );
          },
        },
      );
    });
  }

  // The same, leaving while the new topic's live feed starts or just after.
  for (let i = 0; i < 30; i++) {
    const delayMs = int(10, 1500);
    const terminate = rng() < 0.5;
    add('ws-new-topic-slow', 1, at(), (ctx) => {
      const topic = randomTopic('churn-new');
      return wsClient(
        ctx,
        'ws-new-topic-slow',
        `${ctx.gw.wsUrl}/ws`,
        { at: 'open', delayMs, terminate },
        {
          onOpen: (ws) => ws.send(JSON.stringify({ op: 'subscribe', topic })),
        },
      );
    });
  }

  // `/ws` subscribing to topics with history, live records or a group, then unsubscribing mid-way and leaving.
  for (let i = 0; i < 50; i++) {
    const target = int(0, 5);
    const unsubscribeAfterMs = int(0, 600);
    const resubscribe = rng() < 0.4;
    const leave: Leave = { at: 'open', delayMs: unsubscribeAfterMs + int(0, 400), terminate: rng() < 0.5 };
    add('ws-control', 1, at(), (ctx) => {
      const subs = [
        { topic: t.history, from: 'earliest' },
        { topic: t.history, from: String(t.historyMidMs) },
        { topic: t.history, from: ctx.tokens.length > 0 ? ctx.tokens[0] : t.historyToken },
        { topic: t.live },
        { topic: t.live, from: 'earliest' },
        { topic: t.group, group },
      ];
      const sub = subs[target];
      return wsClient(ctx, 'ws-control', `${ctx.gw.wsUrl}/ws`, leave, {
        tokenTopic: t.history,
        onOpen: (ws) => {
          ws.send(JSON.stringify({ op: 'subscribe', ...sub }));
          setTimeout(() => {
            if (ws.readyState !== WebSocket.OPEN) return;
            ws.send(JSON.stringify({ op: 'unsubscribe', topic: sub.topic }));
            if (resubscribe) ws.send(JSON.stringify({ op: 'subscribe', topic: t.history, from: 'earliest' }));
          }, unsubscribeAfterMs);
        },
      });
    });
  }

  // Per-topic URLs: replays (earliest, filtered, by time, by token), live, groups; leaving at any moment.
  for (let i = 0; i < 140; i++) {
    const target = int(0, 10);
    const leave = leaveWs();
    add('ws-url', 1, at(), (ctx) => wsClient(ctx, 'ws-url', `${ctx.gw.wsUrl}${urlTargets(ctx)[target]}`, leave, { tokenTopic: t.history }));
  }

  // Upgrade (or SSE) requests on bare sockets, dropped right after sending or during prepare.
  for (let i = 0; i < 60; i++) {
    const target = int(0, 11);
    const delayMs = rng() < 0.3 ? 0 : int(1, 60);
    const reset = rng() < 0.5;
    add('raw-abort', 1, at(), (ctx) =>
      rawUpgrade(ctx, 'raw-abort', target === 11 ? `/sse/topics/${t.history}?from=earliest` : urlTargets(ctx)[target], delayMs, reset),
    );
  }

  // SSE streams aborted before their answer, after it, or after some events.
  for (let i = 0; i < 50; i++) {
    const target = int(0, 4);
    const r = rng();
    const leave: SseLeave =
      r < 0.3 ? { at: 'soon', delayMs: int(0, 30) } : r < 0.65 ? { at: 'answer', delayMs: int(0, 800) } : { at: 'events', n: int(1, 200) };
    add('sse', 1, at(), (ctx) => {
      const token = ctx.tokens.length > 0 ? ctx.tokens[ctx.tokens.length - 1] : t.historyToken;
      const [path, headers]: [string, Record<string, string>] = [
        [`/sse/topics/${t.history}?from=earliest`, {}],
        [`/sse/topics/${t.history}`, { 'last-event-id': token }],
        [`/sse/topics/${t.history}?from=${t.historyMidMs}`, {}],
        [`/sse/topics/${t.live}`, {}],
        [`/sse/topics/${t.live}?from=earliest`, {}],
      ][target] as [string, Record<string, string>];
      return sseClient(ctx, 'sse', path, headers, leave);
    });
  }

  // The seed route.
  for (let i = 0; i < 10; i++) {
    const leave = leaveWs();
    add('seed', 1, at(), (ctx) => wsClient(ctx, 'seed', `${ctx.gw.wsUrl}/consumer/${t.live}`, leave));
  }

  planned.sort((a, b) => a.startMs - b.startMs);
  return { planned, byKind };
}

/** Runs the schedule: each entry at its start time, at most MAX_CONCURRENT at once; resolves when every client has left. */
async function churn(ctx: Context, planned: Planned[]): Promise<void> {
  const t0 = Date.now();
  let running = 0;
  const slotFreed: (() => void)[] = [];
  const all: Promise<void>[] = [];
  for (const p of planned) {
    const wait = t0 + p.startMs - Date.now();
    if (wait > 0) await sleep(wait);
    while (running >= MAX_CONCURRENT) await new Promise<void>((r) => slotFreed.push(r));
    running++;
    all.push(
      p.run(ctx).finally(() => {
        running--;
        slotFreed.shift()?.();
      }),
    );
  }
  await Promise.all(all);
}

// ---- set-up shared by both modes ----

const gateways = new Map<string, SluiceProcess>();
/** The history topic is shared; each mode has its own live and group topics (their records are counted). */
const topicsByMode = new Map<string, Topics>();

async function warmUp(gw: SluiceProcess, t: Topics): Promise<void> {
  await createByPost(gw, t.live, ['{"warm":"up"}']);
  const opened: RecordingSocket[] = [];
  try {
    for (const path of [
      `/ws/topics/${t.live}`,
      `/ws/topics/${t.history}?from=earliest`,
      `/ws/topics/${t.group}?group=warm-up`,
      `/consumer/${t.live}`,
    ]) {
      const s = await connect(`${gw.wsUrl}${path}`);
      opened.push(s);
      await s.waitForFrames(path.includes('from=earliest') ? 120 : 1);
    }
    const control = await connect(`${gw.wsUrl}/ws`);
    opened.push(control);
    control.ws.send(JSON.stringify({ op: 'subscribe', topic: t.live }));
    await control.waitForFrames(1);
    await new Promise<void>((resolve, reject) => {
      const abort = new AbortController();
      const req = httpRequest(`${gw.url}/sse/topics/${t.live}`, { agent: false, signal: abort.signal }, (res) => {
        res.on('data', () => {
          abort.abort();
          resolve();
        });
        res.on('error', () => {});
      });
      req.on('error', (err) => (abort.signal.aborted ? resolve() : reject(err)));
      req.end();
    });
  } finally {
    for (const s of opened) s.ws.close();
    await Promise.race([Promise.all(opened.map((s) => s.closed)), sleep(5000)]);
  }
}

beforeAll(async () => {
  console.log(`[churn] seed=${SEED} (SLUICE_CHURN_SEED=${SEED} replays this schedule)`);
  for (const threads of MODES)
    gateways.set(threads, await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_INGRESS_THREADS: threads }));
  const gw = gateways.get(MODES[0])!;
  const history = randomTopic('churn-history');
  let historyMidMs = 0;
  for (let first = 0; first < HISTORY_RECORDS; first += HISTORY_BATCH) {
    if (first === HISTORY_RECORDS / 2) {
      await sleep(20);
      historyMidMs = Date.now();
      await sleep(20);
    }
    await (first === 0 ? createByPost : postNdjson)(
      gw,
      history,
      Array.from({ length: HISTORY_BATCH }, (_, i) => `{"seq":${first + i},"pad":"abcdefghijklmnop"}`),
    );
  }
  // A resume token from the middle of the history, for from=<token> before any churn client has one.
  const probe = await connect(`${gw.wsUrl}/ws/topics/${history}?from=earliest`);
  let historyToken: string;
  try {
    historyToken = (JSON.parse((await probe.waitForFrames(101))[100]) as { token: string }).token;
  } finally {
    probe.ws.close();
  }
  for (const threads of MODES) {
    const t: Topics = { history, live: randomTopic('churn-live'), group: randomTopic('churn-group'), historyMidMs, historyToken };
    topicsByMode.set(threads, t);
    await createByPost(gw, t.group, ['{"warm":"up"}']);
  }
  // Lazily created threads (librdkafka's per consumer, libuv's pool) and connections exist after one of each kind.
  await Promise.all(MODES.map((threads) => warmUp(gateways.get(threads)!, topicsByMode.get(threads)!)));
}, 120_000);

afterAll(async () => {
  // A gateway whose shutdown waits on a leaked replay would hang: bounded, then killed.
  await Promise.all(
    [...gateways.values()].map(async (g) => {
      if ((await Promise.race([g.stop(), sleep(20_000).then(() => 'hung' as const)])) === 'hung') await g.stop('SIGKILL');
    }),
  );
}, 60_000);

for (const [index, threads] of MODES.entries())
  describe(`SLUICE_INGRESS_THREADS=${threads}`, () => {
    it('after hundreds of clients left at every stage, every gauge reads 0, threads and files are back, and subscriptions are served', async () => {
      const gw = gateways.get(threads)!;
      const t = topicsByMode.get(threads)!;
      const open = new OpenSet();
      const served: RecordingSocket[] = [];
      let stopPosting = false;
      let posting: Promise<number> = Promise.resolve(0);
      try {
        // Baseline: idle (live feeds past their grace), after the warm-up.
        const idle = await gaugesAtZero(gw, 30_000);
        expect(nonZero(idle), 'gauges before the churn').toEqual([]);
        await sleep(500); // the last consumer's threads are joined as it is destroyed, just after its gauge drops
        const baseline = processCounts(gw.proc.pid!);

        const rng = seeded(SEED + index);
        const { planned, byKind } = plan(rng, t, threads);
        const clients = [...byKind.values()].reduce((a, b) => a + b, 0);
        const ctx: Context = { gw, open, tally: new Map(), tokens: [] };

        // Live records during the churn, for live subscribers, groups, and the exact replay afterwards.
        posting = (async () => {
          let posted = 0;
          for (let n = 0; !stopPosting; n++) {
            const lines = Array.from({ length: 10 }, (_, i) => `{"n":${n * 10 + i}}`);
            await Promise.all([postNdjson(gw, t.live, lines), postNdjson(gw, t.group, lines)]);
            posted += lines.length;
            await sleep(100);
          }
          return posted;
        })();
        const sampling = samplePeaks(gw);
        await churn(ctx, planned);
        stopPosting = true;
        const peaks = await sampling.stop();
        const livePosted = 1 + (await posting); // + the warm-up's record
        expect(open.size, 'sockets still open after every client left').toBe(0);

        // Everything given back: live feeds linger LIVE_FEED_IDLE_GRACE_MS (10 s) after their last subscriber.
        const after = await gaugesAtZero(gw, 30_000);
        const counts = await countsWithin(gw.proc.pid!, baseline, 10_000);
        const outcomes = [...ctx.tally]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
        console.log(
          `[churn] threads=${threads}: clients=${clients} (${[...byKind].map(([k, v]) => `${k} ${v}`).join(', ')}) baseline threads/fds=${baseline.threads}/${baseline.fds} after=${counts.threads}/${counts.fds} gauges=${gaugeSummary(after)}`,
        );
        console.log(
          `[churn] threads=${threads}: peaks during the churn (sum of per-transport peaks) ${peakSummary(peaks)}; outcomes ${outcomes}`,
        );
        expect(after.size, 'lifecycle series on /metrics').toBe(EXPECTED_SERIES);
        // Leaving is never an internal error: no exception escaped a subscription, a batch sink or a thread.
        const internal = gw
          .output()
          .split('\n')
          .filter((l) => /"level":60|"code":"INTERNAL"|batch sink failed|worker crashed|Uncaught|TypeError|RangeError/.test(l));
        expect(internal, 'internal errors logged by the gateway').toEqual([]);
        expect(nonZero(after), 'gauges not back at 0').toEqual([]);
        expect(counts.threads, `threads (baseline ${baseline.threads})`).toBeLessThanOrEqual(baseline.threads + THREAD_MARGIN);
        expect(counts.fds, `open files (baseline ${baseline.fds})`).toBeLessThanOrEqual(baseline.fds + FD_MARGIN);

        // Still served: a replay gets the whole history of the live topic…
        const replay = await connect(`${gw.wsUrl}/ws/topics/${t.live}?from=earliest`);
        served.push(replay);
        const replayed = (await replay.waitForFrames(1 + livePosted, 30_000))
          .slice(1)
          .map((f) => JSON.parse(f) as { event?: string; value: { n?: number } });
        expect(replayed.filter((f) => f.event !== undefined)).toEqual([]);
        expect(new Set(replayed.map((f) => f.value.n ?? -1)).size).toBe(livePosted);
        await sleep(300); // anything extra would show up now
        expect(replay.frames).toHaveLength(1 + livePosted);
        // …every replay slot came back (SLUICE_MAX_REPLAYS = 16 at once are accepted)…
        const slots = await Promise.all(Array.from({ length: 16 }, () => connect(`${gw.wsUrl}/ws/topics/${t.history}?from=earliest`)));
        served.push(...slots);
        for (const s of slots) expect(JSON.parse((await s.waitForFrames(1))[0])).toMatchObject({ event: 'subscribed' });
        for (const s of slots) s.ws.terminate();
        // …a brand-new topic gets a record posted after `subscribed` (TOPIC_NOT_READY — the broker slower to
        // auto-create than the gateway's 2 s wait, on a loaded machine — is tried again with another new topic;
        // OVERLOADED or any other refusal is not)…
        const control = await connect(`${gw.wsUrl}/ws`);
        served.push(control);
        let fresh = '';
        for (let attempt = 1; ; attempt++) {
          fresh = randomTopic('churn-after');
          control.ws.send(JSON.stringify({ op: 'subscribe', topic: fresh }));
          const answer = JSON.parse((await control.waitForFrames(attempt))[attempt - 1]) as { event: string; error?: { code: string } };
          if (answer.event === 'subscribed' || answer.error?.code !== 'TOPIC_NOT_READY' || attempt === 5) {
            expect(answer, `answer to subscribe #${attempt}: ${JSON.stringify(answer)}`).toMatchObject({
              event: 'subscribed',
              topic: fresh,
            });
            break;
          }
        }
        const before = control.frames.length;
        await postNdjson(gw, fresh, ['{"after":"churn"}']);
        expect(JSON.parse((await control.waitForFrames(before + 1))[before])).toMatchObject({ topic: fresh, value: { after: 'churn' } });
        // …and a new group gets records.
        const member = await connect(`${gw.wsUrl}/ws/topics/${t.group}?group=after-${randomBytes(3).toString('hex')}&from=earliest`);
        served.push(member);
        expect(JSON.parse((await member.waitForFrames(2, 30_000))[1])).toMatchObject({ topic: t.group });
      } finally {
        stopPosting = true;
        await posting.catch(() => 0);
        open.closeAll();
        for (const s of served) s.ws.terminate();
      }
    }, 150_000);
  });
