/**
 * The dashboard page (GET /) in a real headless Chromium: a user picks a topic, records POSTed through
 * Sluice appear in the table exactly as posted, the records/s sparkline rises, entities with lat/lon are
 * drawn in their legend colours, nothing is fetched from any other host, and the console stays clean.
 * Then, with API keys and ingress worker threads: the page asks for a key, and follows the topic again
 * on its own after the gateway restarts.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postJson, randomTopic, ROOT, sluiceForFile, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { partitionCount } from './helpers/kafka-read.js';

const kafka = inject('kafkaBootstrap');
const DASHBOARD_DIR = join(ROOT, 'src', 'dashboard');
const ARTIFACTS = join(ROOT, 'test', 'artifacts');

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
afterAll(async () => {
  await browser?.close();
});

/** Everything a page does that the test checks afterwards. */
interface PageLog {
  urls: string[];
  consoleErrors: string[];
  pageErrors: string[];
}

async function openPage(url: string, beforeLoad?: (page: Page) => Promise<void>): Promise<{ page: Page; log: PageLog }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 960 } });
  await beforeLoad?.(page);
  const log: PageLog = { urls: [], consoleErrors: [], pageErrors: [] };
  page.on('request', (r) => log.urls.push(r.url()));
  page.on('websocket', (ws) => log.urls.push(ws.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') log.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => log.pageErrors.push(e.message));
  await page.goto(url);
  return { page, log };
}

async function watch(page: Page, topic: string, apiKey = ''): Promise<void> {
  await page.fill('#topic', topic);
  await page.fill('#api-key', apiKey);
  await page.click('#watch');
}

async function waitForStatus(page: Page, kind: string, timeout = 30_000): Promise<string> {
  // Class and text read in one evaluation: read one after the other, a retry timer firing in between (a loaded
  // machine) would return the next status's text ("reconnecting to …") for this one.
  const status = await page.waitForFunction(
    (k) =>
      document.querySelector('#status')?.classList.contains(k) ? { text: document.querySelector('#status-text')?.textContent ?? '' } : null,
    kind,
    { timeout },
  );
  return ((await status.jsonValue()) as { text: string }).text;
}

/** The table as {column → cell text} per row, newest first. */
function tableRows(page: Page): Promise<Record<string, string>[]> {
  return page.evaluate(() => {
    const head = [...document.querySelectorAll('#records thead th')].map((th) => th.textContent ?? '');
    return [...document.querySelectorAll('#records tbody tr')].map((tr) =>
      Object.fromEntries([...tr.children].map((td, i) => [head[i], td.textContent ?? ''])),
    );
  });
}

/** Pixels of a canvas within `tolerance` of an rgb colour; with `aboveFraction`, only rows above that fraction of the height. */
function countPixels(page: Page, selector: string, match: { rgb?: [number, number, number]; tolerance?: number; aboveFraction?: number }) {
  return page.evaluate(
    ([sel, m]) => {
      const canvas = document.querySelector(sel) as HTMLCanvasElement;
      const rows = Math.floor(canvas.height * (m.aboveFraction ?? 1));
      if (rows === 0) return 0;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, rows).data;
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] === 0) continue;
        if (!m.rgb) {
          n++;
          continue;
        }
        const d = Math.abs(data[i] - m.rgb[0]) + Math.abs(data[i + 1] - m.rgb[1]) + Math.abs(data[i + 2] - m.rgb[2]);
        if (data[i + 3] === 255 && d <= (m.tolerance ?? 12)) n++;
      }
      return n;
    },
    [selector, match] as const,
  );
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
    last = await probe();
  }
  return last;
}

function expectOnlySluice(urls: string[], port: number): void {
  expect(urls.length).toBeGreaterThan(0);
  for (const u of urls) {
    const url = new URL(u);
    if (url.protocol === 'data:') continue;
    expect(['http:', 'ws:'], u).toContain(url.protocol);
    expect(url.host, u).toBe(`127.0.0.1:${port}`);
  }
}

describe('dashboard page', () => {
  const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka }));

  it('GET / and its two files: content types, no-cache, ETag revalidation, CSP; nothing from other hosts, no innerHTML', async () => {
    const files = [
      ['/', 'index.html', 'text/html; charset=utf-8'],
      ['/dashboard/dashboard.js', 'dashboard.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/dashboard.css', 'dashboard.css', 'text/css; charset=utf-8'],
    ] as const;
    for (const [path, file, type] of files) {
      const res = await fetch(gateway().url + path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const body = await res.text();
      expect(body).toBe(readFileSync(join(DASHBOARD_DIR, file), 'utf8'));
      // Offline: no absolute URL to anywhere (CDN, fonts, tiles) in any of the page's files.
      expect(body).not.toMatch(/(https?:|wss?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
      const etag = res.headers.get('etag');
      expect(etag).toMatch(/^".+"$/);
      const again = await fetch(gateway().url + path, { headers: { 'if-none-match': etag! } });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe('');
    }
    const page = await fetch(gateway().url + '/');
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const js = readFileSync(join(DASHBOARD_DIR, 'dashboard.js'), 'utf8');
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('follows a topic live: table as posted, sparkline, trajectories; only Sluice contacted; clean console', async () => {
    const g = gateway();
    const topic = randomTopic('dash');
    const { page, log } = await openPage(`${g.url}/`);
    await watch(page, topic);
    expect(await waitForStatus(page, 'live')).toContain(topic);
    expect(new URL(page.url()).hash).toBe(`#topic=${topic}`);
    // No records yet: the sparkline is a flat line at the bottom, the plot is empty.
    expect(await countPixels(page, '#sparkline', { aboveFraction: 0.5 })).toBe(0);
    expect(await countPixels(page, '#plot', {})).toBe(0);

    const hostile = '<img src=x onerror="window.__pwned=1">&amp;';
    const telemetry = `{"device_id":"pump-7","temp":21.50,"big":12345678901234567890,"note":${JSON.stringify(hostile)},"tags":["a",{"b":1.0}]}`;
    const first = await postJson(`${g.url}/topics/${topic}?key=pump-7`, telemetry);
    expect(first.status).toBe(200);

    // Two moving entities, keyed by name so each one's points stay in order; numbers with trailing zeros.
    const tracks: Record<string, { lat: string; lon: string }[]> = { 'bus-12': [], 'tram-3': [] };
    for (let i = 0; i < 12; i++) {
      tracks['bus-12'].push({ lat: (52.52 + i * 0.001).toFixed(4), lon: (13.405 + i * 0.0015).toFixed(4) });
      tracks['tram-3'].push({ lat: (52.53 - i * 0.0008).toFixed(4), lon: (13.39 + i * 0.001).toFixed(4) });
    }
    for (const [name, points] of Object.entries(tracks)) {
      const lines = points.map((p, i) => `{"name":"${name}","lat":${p.lat},"lon":${p.lon},"speed":${i}}`);
      const res = await postJson(`${g.url}/topics/${topic}?key=${name}`, lines.join('\n'), 'application/x-ndjson');
      expect(res.status).toBe(200);
    }
    // A third entity through the seed route of geo-stream-kafka.
    const seed = await postJson(
      `${g.url}/producer/${topic}`,
      JSON.stringify({ name: 'ferry-1', message_id: 'm-1', lat: 52.515, lon: 13.42 }),
    );
    expect(seed.status).toBe(200);
    const total = 1 + 12 + 12 + 1;

    let rows = await until(
      'every record in the table',
      () => tableRows(page),
      (r) => r.length >= total,
    );
    await page.waitForTimeout(500);
    rows = await tableRows(page);
    expect(rows).toHaveLength(total); // each record once
    expect(await page.textContent('#total')).toBe(String(total));
    // Partitions panel: every record counted once, latest offset per partition as in the table.
    const parts = await page.$$eval('#partitions tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent ?? '')));
    expect(parts.reduce((n, [, count]) => n + Number(count), 0)).toBe(total);
    for (const [partition, , latest] of parts) {
      expect(latest).toBe(String(Math.max(...rows.filter((r) => r.partition === partition).map((r) => Number(r.offset)))));
    }
    const header = Object.keys(rows[0]);
    expect(header.slice(0, 4)).toEqual(['time', 'partition', 'offset', 'key']);
    expect(header).toEqual(
      expect.arrayContaining(['device_id', 'temp', 'big', 'note', 'tags', 'name', 'lat', 'lon', 'speed', 'message_id']),
    );

    const pump = rows.find((r) => r.key === 'pump-7')!;
    expect(pump.partition).toBe(String(first.json.partitions[0].partition));
    expect(pump.offset).toBe(String(first.json.partitions[0].offsets[0]));
    expect(pump.device_id).toBe('pump-7');
    expect(pump.temp).toBe('21.50');
    expect(pump.big).toBe('12345678901234567890');
    expect(pump.tags).toBe('["a",{"b":1.0}]');
    expect(pump.note).toBe(hostile); // shown as text, not markup
    expect(pump.time).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3}$/);
    expect(await page.locator('#records img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();

    for (const [name, points] of Object.entries(tracks)) {
      // Newest first in the table; each entity's points in the order posted.
      const mine = rows.filter((r) => r.name === name).reverse();
      expect(mine.map((r) => [r.lat, r.lon])).toEqual(points.map((p) => [p.lat, p.lon]));
      expect(mine.every((r) => r.key === name)).toBe(true);
    }
    expect(rows.find((r) => r.name === 'ferry-1')).toMatchObject({ lat: '52.515', lon: '13.42', message_id: 'm-1', key: '—' });

    // Sparkline: the burst lifts the line into the upper half once its second is complete.
    await until(
      'the sparkline to rise',
      () => countPixels(page, '#sparkline', { aboveFraction: 0.5 }),
      (n) => n > 0,
      10_000,
    );

    // Plot: one legend entry and colour per entity, and that colour drawn on the canvas.
    const legend = await page.evaluate(() =>
      [...document.querySelectorAll('#legend li')].map((li) => ({
        name: li.querySelector('.name')!.textContent,
        color: getComputedStyle(li.querySelector('.swatch')!).backgroundColor,
      })),
    );
    expect(legend.map((l) => l.name).sort()).toEqual(['bus-12', 'ferry-1', 'tram-3']);
    expect(new Set(legend.map((l) => l.color)).size).toBe(3);
    expect(await page.isHidden('#plot-empty')).toBe(true);
    for (const { name, color } of legend) {
      const rgb = color.match(/\d+/g)!.slice(0, 3).map(Number) as [number, number, number];
      const drawn = await countPixels(page, '#plot', { rgb });
      expect(drawn, `${name} in ${color}`).toBeGreaterThan(20);
    }

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });

    expectOnlySluice(log.urls, g.port);
    expect(log.urls.some((u) => u.endsWith('/dashboard/dashboard.js'))).toBe(true);
    // Batch frames (one message per batch of records); the first connect asks for the snapshot (the latest record per key of the last hour).
    expect(log.urls.some((u) => u === `${g.wsUrl}/ws/topics/${topic}?frames=batch&snapshot=1h`)).toBe(true);
    expect(log.consoleErrors).toEqual([]);
    expect(log.pageErrors).toEqual([]);
    await page.close();
  });

  it("opens with the snapshot (every vehicle's last position at once), and the aggregate panel shows avg per key of closed windows", async () => {
    const g = gateway();
    const topic = randomTopic('dash-snap');
    for (const [name, points] of Object.entries({
      'bus-12': [
        [52.52, 13.405],
        [52.521, 13.406],
        [52.522, 13.407],
      ],
      'tram-3': [
        [52.53, 13.39],
        [52.529, 13.391],
      ],
    })) {
      const lines = points.map(([lat, lon], i) => JSON.stringify({ name, lat, lon, seq: i }));
      expect((await postJson(`${g.url}/topics/${topic}?key=${name}`, lines.join('\n'), 'application/x-ndjson')).status).toBe(200);
    }
    const { page, log } = await openPage(`${g.url}/#topic=${topic}`);
    expect(await waitForStatus(page, 'live')).toContain(topic);
    const rows = await until(
      'the snapshot',
      () => tableRows(page),
      (r) => r.length >= 2,
    );
    await page.waitForTimeout(300);
    expect((await tableRows(page)).map((r) => [r.name, r.seq]).sort()).toEqual([
      ['bus-12', '2'],
      ['tram-3', '1'],
    ]);
    expect(rows.find((r) => r.name === 'bus-12')).toMatchObject({ lat: '52.522', lon: '13.407' });
    const legend = await page.$$eval('#legend li .name', (els) => els.map((e) => e.textContent));
    expect(legend.sort()).toEqual(['bus-12', 'tram-3']);

    await page.selectOption('#agg-fn', 'avg');
    await page.fill('#agg-field', 'speed');
    await page.selectOption('#agg-window', '10s');
    await page.click('#agg-show');
    await page.waitForFunction(() => document.querySelector('#agg-empty')?.textContent?.includes('waiting'));
    await page.waitForTimeout(500); // the view's subscription is in place
    // Recent event time (the start of an hour, 6 h ago): the test broker's 7-day retention deletes older records
    // at its periodic check, possibly before the live feed reads them.
    const base = Math.floor(Date.now() / 3_600_000 - 6) * 3_600_000;
    const at = (key: string, offsetMs: number, speed: number) =>
      postJson(`${g.url}/topics/${topic}?key=${key}`, JSON.stringify({ name: key, speed }), 'application/json', {
        'x-kafka-timestamp': String(base + offsetMs),
      });
    for (const [key, ms, speed] of [
      ['bus-12', 1000, 10],
      ['bus-12', 2000, 20],
      ['tram-3', 3000, 5],
    ] as const)
      expect((await at(key, ms, speed)).status).toBe(200);
    // Once the table has them, the live feed has fed them to the view: the closing record cannot overtake them.
    await until(
      'the three records',
      () => tableRows(page),
      (r) => r.length >= 5,
    );
    expect((await at('bus-12', 60_000, 0)).status).toBe(200);
    const aggs = await until(
      'two aggregate rows',
      () => page.$$eval('#aggregates tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent ?? ''))),
      (r) => r.length >= 2,
    );
    expect(await page.textContent('#agg-head')).toBe('avg(speed)');
    expect(aggs.map(([key, value]) => [key, value])).toEqual([
      ['bus-12', '15'],
      ['tram-3', '5'],
    ]);
    expect(log.urls.some((u) => u.startsWith(`${g.wsUrl}/ws/topics/${topic}?window=10s&agg=avg%28speed%29&by=key`))).toBe(true);
    expect(log.consoleErrors).toEqual([]);
    expect(log.pageErrors).toEqual([]);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-live-views.png'), fullPage: true });
    await page.close();
  });

  it('opens the topic named in the URL hash', async () => {
    const g = gateway();
    const topic = randomTopic('dash-hash');
    const { page, log } = await openPage(`${g.url}/#topic=${topic}`);
    expect(await waitForStatus(page, 'live')).toContain(topic);
    expect(await page.inputValue('#topic')).toBe(topic);
    expect((await postJson(`${g.url}/topics/${topic}`, '[1,"two",{"three":3}]')).status).toBe(200);
    const rows = await until(
      'three records',
      () => tableRows(page),
      (r) => r.length >= 3,
    );
    // Values that are not objects share one "value" column.
    expect(rows.map((r) => r.value).sort()).toEqual(['', '1', 'two']);
    expect(rows.find((r) => r.three === '3')).toBeDefined();
    expect(log.consoleErrors).toEqual([]);
    expect(log.pageErrors).toEqual([]);
    await page.close();
  });

  it('offers the topics GET /topics lists in the topic picker, with their partition counts, and watches the one picked', async () => {
    const g = gateway();
    const topic = randomTopic('dash-pick');
    expect((await postJson(`${g.url}/topics/${topic}`, '{"picked":1}')).status).toBe(200);
    const { page, log } = await openPage(`${g.url}/`);
    // The list is loaded at start and again on focus once a few seconds old; the new topic may take a look or two.
    const options = await until(
      'the new topic in the picker',
      async () => {
        await page.click('#rows');
        await page.focus('#topic');
        return page.$$eval('#topic-list option', (os) =>
          os.map((o) => ({ value: (o as HTMLOptionElement).value, label: (o as HTMLOptionElement).label })),
        );
      },
      (os) => os.some((o) => o.value === topic),
    );
    const partitions = partitionCount(kafka, topic);
    expect(options.find((o) => o.value === topic)?.label).toBe(`${partitions} partition${partitions === 1 ? '' : 's'}`);
    expect(await page.getAttribute('#topic', 'list')).toBe('topic-list');
    await page.fill('#topic', topic);
    await page.click('#watch');
    expect(await waitForStatus(page, 'live')).toContain(topic);
    expect(log.urls).toContain(`${g.url}/topics`);
    expect(log.consoleErrors).toEqual([]);
    expect(log.pageErrors).toEqual([]);
    await page.close();
  });

  it("after a close (4008 too slow, 1001 restart) reconnects by itself with from=<last resume token> (a record's, or its subscription's start) and keeps the rows", async () => {
    // Batch frames with resume tokens, from a scripted socket standing in for the gateway's WebSocket.
    const topic = randomTopic('dash-resume');
    const socketUrls: string[] = [];
    const record = (offset: number, token: string) =>
      JSON.stringify({
        event: 'batch',
        topic,
        records: [{ partition: 0, offset, timestamp: Date.now(), key: 'k', value: { seq: offset } }],
        token,
      });
    const { page, log } = await openPage(`${gateway().url}/#topic=${topic}`, (p) =>
      p.routeWebSocket(/\/ws\/topics\//, (ws) => {
        socketUrls.push(ws.url());
        ws.send(JSON.stringify({ event: 'subscribed', topic }));
        if (socketUrls.length === 1) {
          ws.send(record(0, 'tok-0'));
          ws.send(record(1, 'tok-1'));
          setTimeout(() => ws.close({ code: 4008, reason: 'too slow: 1048576 bytes buffered' }), 300);
        } else if (socketUrls.length === 2) {
          ws.send(record(2, 'tok-2'));
          // Dropped again (a gateway restart) before any record of its own: it resumes from its last token.
          setTimeout(() => ws.close({ code: 1001, reason: 'restarting' }), 300);
        } else {
          // The subscription's start token (no record after it yet) is where the next reconnect resumes.
          ws.send(JSON.stringify({ event: 'subscribed', topic, token: 'tok-start-3' }));
          if (socketUrls.length === 3) setTimeout(() => ws.close({ code: 1001, reason: 'restarting' }), 300);
          else ws.send(JSON.stringify({ event: 'error', error: { code: 'INVALID_PARAMETER', message: '<b>bad</b> subscribe' } }));
        }
      }),
    );
    const rows = await until(
      'the record after the reconnect',
      () => tableRows(page),
      (r) => r.some((x) => x.seq === '2'),
    );
    expect(rows.map((r) => r.offset)).toEqual(['2', '1', '0']);
    // An error frame is shown as status text; the socket stays in use.
    expect(await waitForStatus(page, 'error')).toBe('gateway error INVALID_PARAMETER: <b>bad</b> subscribe');
    expect(socketUrls).toEqual([
      `${gateway().wsUrl}/ws/topics/${topic}?frames=batch&snapshot=1h`,
      `${gateway().wsUrl}/ws/topics/${topic}?frames=batch&from=tok-1`,
      `${gateway().wsUrl}/ws/topics/${topic}?frames=batch&from=tok-2`,
      `${gateway().wsUrl}/ws/topics/${topic}?frames=batch&from=tok-start-3`,
    ]);
    expect(log.consoleErrors).toEqual([]);
    expect(log.pageErrors).toEqual([]);
    await page.close();
  });
});

describe('dashboard page with API keys and ingress worker threads', () => {
  let sluice: SluiceProcess | undefined;
  afterAll(async () => {
    await sluice?.stop();
  });

  function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
    });
  }

  it('asks for a key, passes it as ?api_key=, and resumes following the topic after the gateway restarts', async () => {
    const key = 'dashboard-key-1';
    const dir = mkdtempSync(join(tmpdir(), 'sluice-dash-keys-'));
    const keysFile = join(dir, 'keys.json');
    writeFileSync(
      keysFile,
      JSON.stringify({
        keys: [{ id: 'dash', sha256: createHash('sha256').update(key).digest('hex'), produce: ['dash-*'], subscribe: ['dash-*'] }],
      }),
    );
    const port = await freePort();
    const env = { KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_API_KEYS_FILE: keysFile, SLUICE_INGRESS_THREADS: '2', SLUICE_PORT: String(port) };
    sluice = await startSluice(env);
    const topic = randomTopic('dash-keyed');
    const post = (body: string) => postJson(`${sluice!.url}/topics/${topic}`, body, 'application/json', { 'x-api-key': key });

    const { page, log } = await openPage(`${sluice.url}/`);
    await watch(page, topic);
    expect(await waitForStatus(page, 'retrying')).toMatch(/refused.*API key/);

    await watch(page, topic, key);
    await waitForStatus(page, 'live');
    expect(log.urls).toContain(`${sluice.wsUrl}/ws/topics/${topic}?frames=batch&api_key=${key}&snapshot=1h`);
    expect((await post('{"seq":1}')).status).toBe(200);
    await until(
      'the first record',
      () => tableRows(page),
      (r) => r.some((x) => x.seq === '1'),
    );

    // The gateway goes away (sockets closed with 1001) and comes back on the same port.
    await sluice.stop();
    await waitForStatus(page, 'retrying');
    sluice = await startSluice(env);
    await waitForStatus(page, 'live', 60_000);
    expect((await post('{"seq":2}')).status).toBe(200);
    const rows = await until(
      'the record posted after the restart',
      () => tableRows(page),
      (r) => r.some((x) => x.seq === '2'),
    );
    expect(rows.map((r) => r.seq)).toEqual(['2', '1']);

    expectOnlySluice(log.urls, port);
    // The browser itself reports refused upgrades, the restart's refused connections and the topic list's 401
    // (asked before a key was given); nothing else may.
    const expected =
      /WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws\/topics\/[^']+' failed|Failed to load resource: net::ERR_CONNECTION_REFUSED|Failed to load resource: the server responded with a status of 401/;
    expect(log.consoleErrors.filter((m) => !expected.test(m))).toEqual([]);
    expect(log.pageErrors).toEqual([]);
    await page.close();
  }, 180_000);
});
