// Posts single JSON records to Sluice at a steady rate, each stamped with its send time, and keeps the
// offset Kafka acknowledged for every one (durable POSTs answer with per-partition offsets), so the
// subscribers' frames can be checked against exactly what was acknowledged.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const now = () => performance.timeOrigin + performance.now();

/**
 * A small dashboard-style reading; `sentAt` is epoch ms with sub-ms digits, from the same clock the
 * subscribers read. `bytes` > 0 pads the record to about that size (the pad comes last).
 */
export function stampedRecord(seq, bytes = 0, device = `dev-${String(Math.abs(seq) % 1000).padStart(5, '0')}`) {
  const base = `{"seq":${seq},"sentAt":${now().toFixed(3)},"device":"${device}","temp":${(20 + (Math.abs(seq) % 100) / 10).toFixed(1)}`;
  const pad = bytes - base.length - 10;
  return pad > 0 ? `${base},"pad":"${'x'.repeat(pad)}"}` : `${base}}`;
}

/** POSTs one record and resolves with the status and parsed answer (never rejects). */
function postOne(agent, port, path, body, headers) {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => {
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            /* reported as a failure below */
          }
          resolve({ status: res.statusCode, json, text });
        });
      },
    );
    req.on('error', (err) => resolve({ status: 0, text: err.message }));
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

/**
 * Sends `rate` records/s for `durationS` seconds (the due count is recomputed every millisecond, so the
 * rate holds even when timers fire late), waits for every answer, and resolves with the acknowledged
 * offsets per partition as sorted disjoint [lo, hi] runs. Devices each have their own connection, so
 * there are enough connections (rate / 4, at least 8, at most 256) that a slow answer does not hold
 * later records back here (a record's send time is stamped before it waits for a connection). They are
 * used in turn (FIFO), so none sits idle long enough for the gateway's keep-alive timeout to close it
 * just as a request goes out (that race shows up as ECONNRESET).
 *
 * `route(seq)` spreads records over keys or topics: `{ topic?, key?, headers? }` for record `seq` (its
 * `device` field then carries the key or topic, so a subscriber can tell a misrouted frame). `progress.sent`
 * is kept current while posting (a scenario acting mid-run learns which seqs went out before it acted).
 */
export async function postSteadily({
  port,
  topic,
  rate,
  durationS,
  recordBytes = 0,
  headers = {},
  firstSeq = 0,
  route,
  progress = {},
  connections = Math.min(256, Math.max(8, Math.ceil(rate / 4))),
}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, scheduling: 'fifo' });
  const path = `/topics/${encodeURIComponent(topic)}`;
  const offsets = new Map(); // partition → acknowledged offsets
  const seqs = []; // acknowledged seqs (Centrifugo's pushes carry no offset: its clients are checked by seq)
  const failures = {};
  let sent = 0;
  let acked = 0;
  const inflight = new Set();
  const startedAt = now();
  const total = Math.round(rate * durationS);
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((now() - startedAt) / 1000) * rate) + 1);
      while (sent < due) {
        const seq = firstSeq + sent++;
        progress.sent = sent;
        const to = route?.(seq);
        const p = (
          to
            ? postOne(
                agent,
                port,
                `/topics/${encodeURIComponent(to.topic ?? topic)}${to.key ? `?key=${encodeURIComponent(to.key)}` : ''}`,
                stampedRecord(seq, recordBytes, to.key ?? to.topic),
                { ...headers, ...to.headers },
              )
            : postOne(agent, port, path, stampedRecord(seq, recordBytes), headers)
        ).then((r) => {
          inflight.delete(p);
          const part = r.status === 200 ? r.json?.partitions?.[0] : undefined;
          if (part && r.json.count === 1) {
            const list = offsets.get(part.partition) ?? [];
            list.push(part.offsets[0]);
            offsets.set(part.partition, list);
            seqs.push(seq);
            acked++;
          } else {
            const k = r.status === 0 ? r.text : String(r.status);
            failures[k] = (failures[k] ?? 0) + 1;
          }
        });
        inflight.add(p);
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const lastSentAt = now();
  await Promise.all(inflight);
  agent.destroy();
  const runs = {};
  for (const [partition, list] of offsets) {
    list.sort((a, b) => a - b);
    const r = [];
    for (const o of list) {
      if (r.length && o === r[r.length - 1][1] + 1) r[r.length - 1][1] = o;
      else r.push([o, o]);
    }
    runs[partition] = r;
  }
  seqs.sort((a, b) => a - b);
  const seqRuns = [];
  for (const q of seqs) {
    if (seqRuns.length && q === seqRuns[seqRuns.length - 1][1] + 1) seqRuns[seqRuns.length - 1][1] = q;
    else seqRuns.push([q, q]);
  }
  return { startedAt, lastSentAt, sent, acked, failures, acknowledged: runs, acknowledgedSeqs: seqRuns };
}
