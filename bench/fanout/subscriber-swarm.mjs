// A swarm of lean WebSocket subscribers for the fan-out bench, run as a child process (child_process.fork)
// and driven over IPC by bench/fanout/fanout-scenario.mjs. Thousands of sockets and up to ~1M frames/s
// must fit on a machine shared with the gateway and the broker, so this is a bare RFC 6455 client on
// node:net: one handshake, server frames parsed incrementally in place, and the three numbers a frame
// is checked for ("partition":, "offset": and the payload's "sentAt":) found with Buffer#indexOf,
// never a JSON.parse per frame. Clients send nothing but pongs (masked, as RFC 6455 requires).
//
// Per fast client: every record's offset extends a per-partition run [first..last]; a jump starts a
// new run (a gap), an offset at or below the last one is a duplicate (or out of order). The parent sends
// the offsets the posters got acknowledged and each client's runs are compared with them.
//
// Three framings, one count of records and one of WebSocket messages: Sluice per-record frames (one
// record per message), Sluice batch frames (`{"event":"batch",…,"records":[…]}`: every `"partition":` in
// the message starts a record), and Centrifugo's JSON protocol (`protocol: 'centrifugo'`: connect and
// subscribe commands after the handshake; a message holds newline-separated replies, each push's
// `pub.data` is the record's value as posted; `{}` is a ping, answered with `{}`). Centrifugo pushes
// carry no Kafka offset, so its clients are checked by the record's `seq` against the acknowledged seqs.
// Slow clients stop reading right after their subscribed frame; later they read again to learn whether
// the server closed them, and with which close code.
//
// Seq mode (Centrifugo always; Sluice with `bySeq`): records are counted by their `seq`, and with
// `seqMod` D > 1 client i (its `residue`, usually firstIndex + i) is owed exactly the records whose seq ≡ i
// (mod D) — one key or one topic per client, each with its own `paths[i]` / `channels[i]`; a record of
// another residue is counted as misrouted. `keepToken` keeps each client's last resume token, so that
// `drop` (every socket closed at once) and `resume` (every client back at once with `from=<token>`) can play
// a reconnect storm: handshake statuses, subscribed and live times (a record with seq ≥ `liveFromSeq`).
import { connect } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';

const PARTITION = Buffer.from('"partition":');
const OFFSET = Buffer.from('"offset":');
const SENT_AT = Buffer.from('"sentAt":');
const TIMESTAMP = Buffer.from('"timestamp":');
const EVENT_SUBSCRIBED = Buffer.from('"event":"subscribed"');
const SEQ = Buffer.from('"seq":');
const CF_SUBSCRIBED = Buffer.from('{"id":2,"subscribe":');
const CF_ERROR = Buffer.from('"error":');
const CF_PING = Buffer.from('{}');
const TOKEN = Buffer.from('"token":"');
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
// Latency histogram: 0.1 ms buckets up to 30 s; anything later lands in the last bucket.
const BUCKETS_PER_MS = 10;
const HIST_SIZE = 30_000 * BUCKETS_PER_MS;
const hist = new Uint32Array(HIST_SIZE);
// The same from the record's Kafka timestamp (set when the gateway hands it to the producer; whole ms):
// splits POST-to-frame into POST-to-produce and produce-to-frame.
const kafkaHist = new Uint32Array(HIST_SIZE);
let maxLatencyMs = 0;
let negativeLatencies = 0;

const KEY = randomBytes(16).toString('base64');
const ACCEPT = createHash('sha1')
  .update(KEY + GUID)
  .digest('base64');

const now = () => performance.timeOrigin + performance.now();

const HANDSHAKE = 0;
const AWAIT_SUBSCRIBED = 1;
const SUBSCRIBED = 2;
const CLOSED = 3;

class Client {
  constructor(id, slow) {
    this.id = id;
    this.slow = slow;
    this.sock = null;
    this.state = HANDSHAKE;
    this.header = '';
    this.pending = null;
    this.frames = 0;
    this.dups = 0;
    this.last = []; // per partition: last offset seen
    this.runs = []; // per partition: flat [first0, last0, first1, last1, …]
    this.closeCode = 0; // 0: open; RFC 6455 code from the server's close frame; 1006: closed without one
    this.closedByUs = false;
    this.lastDataAt = 0;
    this.error = '';
    this.seen = null; // seq mode: a byte per owed seq received (Uint8Array, grown as needed)
    this.residue = 0; // seq mode: the seqs owed are ≡ residue (mod seqMod)
    this.path = ''; // this client's request path (per client in keyed and many-topic rows)
    this.channel = ''; // Centrifugo channel
    this.token = ''; // keepToken: the last frame's resume token
    this.status = 0; // HTTP status of the handshake answer
    this.liveAt = 0; // resume: when the first record with seq ≥ liveFromSeq arrived
    this.subscribedAt = 0;
    this.connectFailed = false; // its latest connect or resume was refused or failed
  }
}

let clients = [];
let cfg;
let firstFrameAt = 0;
let lastFrameAt = 0;
let fastFrames = 0;
let fastMessages = 0;
let fastBytes = 0;
let badFrames = 0;
let misrouted = 0;
let seqMode = false;
let seqMod = 1;
// Reconnect storm (resume): when it started, how many clients are live again, the last of those times.
let resumeStartedAt = 0;
let liveCount = 0;
let lastLiveAt = 0;
let lastSubscribedAt = 0;
const statuses = {}; // handshake answers other than 101, by status

/** Total length of the frame starting at `off`, or -1 when its header is not complete yet. */
function frameLength(buf, off) {
  const avail = buf.length - off;
  if (avail < 2) return -1;
  const b1 = buf[off + 1];
  const masked = b1 & 0x80 ? 4 : 0;
  const len7 = b1 & 0x7f;
  if (len7 < 126) return 2 + masked + len7;
  if (len7 === 126) return avail < 4 ? -1 : 4 + masked + buf.readUInt16BE(off + 2);
  return avail < 10 ? -1 : 10 + masked + Number(buf.readBigUInt64BE(off + 2));
}

function payloadStart(buf, off) {
  const len7 = buf[off + 1] & 0x7f;
  return off + (len7 < 126 ? 2 : len7 === 126 ? 4 : 10) + (buf[off + 1] & 0x80 ? 4 : 0);
}

/** Non-negative integer written in ASCII at `i`, up to the first non-digit. */
function readInt(buf, i) {
  let n = 0;
  for (let c = buf[i]; c >= 48 && c <= 57; c = buf[++i]) n = n * 10 + (c - 48);
  return n;
}

/** A decimal like 1732540000000.123 written at `i`. */
function readDecimal(buf, i) {
  let n = 0;
  let c = buf[i];
  for (; c >= 48 && c <= 57; c = buf[++i]) n = n * 10 + (c - 48);
  if (c !== 46) return n;
  let scale = 0.1;
  for (c = buf[++i]; c >= 48 && c <= 57; c = buf[++i]) {
    n += (c - 48) * scale;
    scale /= 10;
  }
  return n;
}

/** A client text frame (masked with a zero mask, as a pong is) carrying `text`. */
function clientText(text) {
  const payload = Buffer.from(text);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x81, 0x80 | n, 0, 0, 0, 0]) : Buffer.from([0x81, 0x80 | 126, n >> 8, n & 0xff, 0, 0, 0, 0]);
  return Buffer.concat([head, payload]);
}

function latency(at, buf, si, ti) {
  const ms = at - readDecimal(buf, si + SENT_AT.length);
  if (ms < 0) negativeLatencies++;
  const b = ms <= 0 ? 0 : Math.floor(ms * BUCKETS_PER_MS);
  hist[b < HIST_SIZE ? b : HIST_SIZE - 1]++;
  if (ms > maxLatencyMs) maxLatencyMs = ms;
  if (ti > 0 && ti < si) {
    const kms = at - readInt(buf, ti + TIMESTAMP.length);
    const kb = kms <= 0 ? 0 : Math.floor(kms * BUCKETS_PER_MS);
    kafkaHist[kb < HIST_SIZE ? kb : HIST_SIZE - 1]++;
  }
}

/** One Sluice record whose `"partition":` is at `pi`, up to `end` (the next record or the message end). */
function onRecord(c, buf, pi, end, at) {
  const partition = readInt(buf, pi + PARTITION.length);
  const oi = buf.indexOf(OFFSET, pi);
  const offset = readInt(buf, oi + OFFSET.length);
  const ti = buf.indexOf(TIMESTAMP, oi);
  const si = buf.indexOf(SENT_AT, ti > 0 ? ti : oi);
  c.frames++;
  const last = c.last[partition];
  if (last === undefined) {
    c.last[partition] = offset;
    c.runs[partition] = [offset, offset];
  } else if (offset === last + 1) {
    c.last[partition] = offset;
    const r = c.runs[partition];
    r[r.length - 1] = offset;
  } else if (offset > last + 1) {
    c.last[partition] = offset;
    c.runs[partition].push(offset, offset);
  } else {
    c.dups++;
  }
  if (c.slow) return;
  fastFrames++;
  if (si > 0 && si < end) latency(at, buf, si, ti < end ? ti : -1);
  else badFrames++;
}

/** One Centrifugo publication whose value's `"seq":` is at `qi` (seq ≥ 0; the smoke record's -1 is skipped). */
function onPublication(c, buf, qi, end, at, ti = -1) {
  if (buf[qi + SEQ.length] === 45) return; // '-'
  const seq = readInt(buf, qi + SEQ.length);
  if (seqMod > 1 && seq % seqMod !== c.residue) {
    misrouted++; // a frame for another key or topic
    return;
  }
  const idx = seqMod > 1 ? (seq - c.residue) / seqMod : seq;
  if (!c.seen || c.seen.length <= idx) {
    const grown = new Uint8Array(Math.max(seqMod > 1 ? 16 : 1024, (idx + 1) * 2));
    if (c.seen) grown.set(c.seen);
    c.seen = grown;
  }
  if (c.seen[idx]) c.dups++;
  else c.seen[idx] = 1;
  c.frames++;
  if (resumeStartedAt && !c.liveAt && seq >= cfg.liveFromSeq) {
    c.liveAt = at;
    liveCount++;
    if (at > lastLiveAt) lastLiveAt = at;
  }
  if (c.slow) return;
  fastFrames++;
  const si = buf.indexOf(SENT_AT, qi);
  if (si > 0 && si < end) latency(at, buf, si, ti);
  else badFrames++;
}

function onText(c, buf, p, end, at) {
  if (c.state === AWAIT_SUBSCRIBED) {
    if (cfg.protocol === 'centrifugo') {
      const e = buf.indexOf(CF_SUBSCRIBED, p);
      if (e < 0 || e >= end) {
        const err = buf.indexOf(CF_ERROR, p);
        if (err >= 0 && err < end) {
          c.error = buf.toString('utf8', p, Math.min(end, p + 300));
          badFrames++;
        }
        return; // the connect reply; the subscribe reply follows (often in the same message)
      }
    } else {
      const e = buf.indexOf(EVENT_SUBSCRIBED, p);
      if (e < 0 || e >= end) {
        badFrames++;
        return;
      }
    }
    c.state = SUBSCRIBED;
    c.subscribedAt = at;
    if (at > lastSubscribedAt) lastSubscribedAt = at;
    subscribedCount++;
    if (c.slow) c.sock.pause(); // stops reading: the kernel buffers fill, then the gateway's
    checkConnected();
    return;
  }
  if (!c.slow) {
    fastMessages++;
    fastBytes += end - p;
    if (firstFrameAt === 0) firstFrameAt = at;
    lastFrameAt = at;
  }
  if (cfg.keepToken) {
    const ti = buf.lastIndexOf(TOKEN, end - 1);
    if (ti >= p) {
      const q = buf.indexOf(34, ti + TOKEN.length);
      if (q > 0 && q < end) c.token = buf.toString('latin1', ti + TOKEN.length, q);
    }
  }
  if (seqMode && cfg.protocol !== 'centrifugo') {
    let found = false;
    // A per-record frame's Kafka timestamp comes before its value (batch frames: not measured here).
    const ti = buf.indexOf(TIMESTAMP, p);
    for (let qi = buf.indexOf(SEQ, p); qi >= 0 && qi < end; qi = buf.indexOf(SEQ, qi + SEQ.length)) {
      const next = buf.indexOf(SEQ, qi + SEQ.length);
      onPublication(c, buf, qi, next >= 0 && next < end ? next : end, at, found || ti >= qi ? -1 : ti);
      found = true;
    }
    if (!found) badFrames++;
    return;
  }
  if (cfg.protocol === 'centrifugo') {
    // Newline-separated replies; `{}` alone is the server's ping.
    let found = false;
    for (let qi = buf.indexOf(SEQ, p); qi >= 0 && qi < end; qi = buf.indexOf(SEQ, qi + SEQ.length)) {
      found = true;
      const next = buf.indexOf(SEQ, qi + SEQ.length);
      onPublication(c, buf, qi, next >= 0 && next < end ? next : end, at);
    }
    const ping = buf.indexOf(CF_PING, p);
    if (ping >= 0 && ping < end && (ping === p || buf[ping - 1] === 10) && (ping + 2 === end || buf[ping + 2] === 10))
      c.sock.write(clientText('{}'));
    else if (!found) badFrames++;
    return;
  }
  let pi = buf.indexOf(PARTITION, p);
  if (pi < 0 || pi >= end) {
    badFrames++;
    return;
  }
  while (pi >= 0 && pi < end) {
    const next = buf.indexOf(PARTITION, pi + PARTITION.length);
    const recordEnd = next >= 0 && next < end ? next : end;
    onRecord(c, buf, pi, recordEnd, at);
    pi = recordEnd < end ? next : -1;
  }
}

function onFrame(c, buf, off, end, at) {
  const opcode = buf[off] & 0x0f;
  const p = payloadStart(buf, off);
  if (opcode === 1) {
    onText(c, buf, p, end, at);
  } else if (opcode === 9) {
    // Ping: answer with a pong carrying the same payload (client frames must be masked; a zero mask is valid).
    const payload = buf.subarray(p, end);
    const out = Buffer.allocUnsafe(6 + payload.length);
    out[0] = 0x8a;
    out[1] = 0x80 | payload.length;
    out.writeUInt32BE(0, 2);
    payload.copy(out, 6);
    c.sock.write(out);
  } else if (opcode === 8) {
    c.closeCode = end - p >= 2 ? buf.readUInt16BE(p) : 1005;
    c.closeReason = buf.toString('utf8', p + 2, end);
    c.state = CLOSED;
    c.sock.destroy();
  } else if (opcode !== 10) {
    badFrames++; // continuation or binary: the gateway sends neither
  }
}

function onData(c, chunk) {
  const at = now();
  c.lastDataAt = at;
  const buf = chunk;
  let off = 0;
  if (c.state === HANDSHAKE) {
    c.header += chunk.toString('latin1');
    const end = c.header.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = c.header.slice(0, end);
    c.status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
    if (!head.startsWith('HTTP/1.1 101') || !head.toLowerCase().includes(`sec-websocket-accept: ${ACCEPT.toLowerCase()}`)) {
      statuses[c.status] = (statuses[c.status] ?? 0) + 1;
      c.error = head.split('\r\n')[0] + ' ' + c.header.slice(end + 4, end + 300);
      c.state = CLOSED;
      c.closedByUs = true;
      c.sock.destroy();
      failed++;
      c.connectFailed = true;
      connecting--;
      openNext();
      checkConnected();
      return;
    }
    c.state = AWAIT_SUBSCRIBED;
    off = end + 4 - (c.header.length - chunk.length); // latin1: one character per byte
    c.header = '';
    if (cfg.protocol === 'centrifugo')
      c.sock.write(clientText(`{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":${JSON.stringify(c.channel || cfg.channel)}}}`));
    connecting--;
    openNext();
  }
  if (c.pending) {
    // Complete the frame that straddles chunks with just the bytes it needs, not the whole chunk.
    let pend = c.pending;
    let need = frameLength(pend, 0);
    if (need < 0) {
      pend = Buffer.concat([pend, buf.subarray(off, off + 14)]);
      need = frameLength(pend, 0);
      if (need < 0) {
        c.pending = Buffer.concat([c.pending, buf.subarray(off)]);
        return;
      }
      pend = c.pending;
    }
    const missing = need - pend.length;
    if (buf.length - off < missing) {
      c.pending = Buffer.concat([pend, buf.subarray(off)]);
      return;
    }
    const whole = Buffer.concat([pend, buf.subarray(off, off + missing)]);
    c.pending = null;
    off += missing;
    onFrame(c, whole, 0, whole.length, at);
    if (c.state === CLOSED) return;
  }
  while (off < buf.length) {
    const n = frameLength(buf, off);
    if (n < 0 || off + n > buf.length) {
      c.pending = Buffer.from(buf.subarray(off)); // a copy, so the chunk itself is not retained
      return;
    }
    onFrame(c, buf, off, off + n, at);
    if (c.state === CLOSED) return;
    off += n;
  }
}

// ------------------------------------------------------------------ connecting
let nextToOpen = 0;
let connecting = 0;
let subscribedCount = 0;
let failed = 0;
let connectedReported = false;

function openNext() {
  while (connecting < cfg.concurrency && nextToOpen < clients.length) {
    const c = clients[nextToOpen++];
    connecting++;
    open(c);
  }
}

// Every socket reads into this one buffer (net's `onread`): no stream machinery and no allocation per
// read, which matters at hundreds of thousands of reads per second. Frames are handled before the next
// read; a partial frame left at the end is copied out.
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

function open(c) {
  const sock = connect({
    host: cfg.host,
    port: cfg.port,
    noDelay: true,
    onread: { buffer: READ_BUFFER, callback: (n, buf) => c.sock === sock && onData(c, buf.subarray(0, n)) },
  });
  c.sock = sock;
  sock.on('connect', () => {
    sock.write(
      `GET ${c.path || cfg.path} HTTP/1.1\r\nHost: ${cfg.host}:${cfg.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  });
  sock.on('error', (err) => {
    if (c.sock === sock && !c.error) c.error = err.code ?? err.message;
  });
  sock.on('close', () => {
    if (c.sock !== sock) return; // a socket dropped before a resume replaced it
    const wasHandshaking = c.state === HANDSHAKE;
    const wasWaiting = c.state === AWAIT_SUBSCRIBED;
    if (c.state !== CLOSED) {
      c.state = CLOSED;
      if (!c.closedByUs && c.closeCode === 0) c.closeCode = 1006;
    }
    if (wasHandshaking) {
      connecting--;
      openNext();
    }
    if (wasHandshaking || wasWaiting) {
      if (!c.error) c.error = `closed before the subscribed frame (${c.closeCode})`;
      failed++;
      c.connectFailed = true;
      checkConnected();
    }
  });
}

function checkConnected() {
  if (connectedReported || subscribedCount + failed < clients.length) return;
  connectedReported = true;
  const errors = clients
    .filter((c) => c.error)
    .slice(0, 5)
    .map((c) => c.error);
  process.send({
    type: 'connected',
    subscribed: subscribedCount,
    failed,
    errors,
    statuses,
    lastSubscribedAt,
    resumeStartedAt,
    noToken: clients.filter((c) => resumeStartedAt && !c.token).length,
  });
}

// ------------------------------------------------------------------ after the run
/** Offsets in `acked` (per partition, sorted disjoint [lo, hi] runs) that the client's runs miss, and offsets it got that were never acknowledged. */
function compare(c, acked) {
  let lost = 0;
  let unexpected = 0;
  const parts = new Set([...Object.keys(acked).map(Number), ...c.runs.keys()].filter((p) => acked[p] || c.runs[p]));
  for (const p of parts) {
    const want = acked[p] ?? [];
    const got = c.runs[p] ?? [];
    let wantCount = 0;
    for (const [lo, hi] of want) wantCount += hi - lo + 1;
    let gotCount = 0;
    let both = 0;
    for (let i = 0; i < got.length; i += 2) {
      gotCount += got[i + 1] - got[i] + 1;
      for (const [lo, hi] of want) {
        const a = Math.max(lo, got[i]);
        const b = Math.min(hi, got[i + 1]);
        if (b >= a) both += b - a + 1;
      }
    }
    lost += wantCount - both;
    unexpected += gotCount - both;
  }
  return { lost, unexpected };
}

/** Seq mode: the client's owed seqs in `ackedSeqs` (sorted disjoint [lo, hi] runs) it never got, and seqs it got that were never acknowledged. */
function compareSeq(c, ackedSeqs) {
  let lost = 0;
  let both = 0;
  let got = 0;
  const seen = c.seen ?? new Uint8Array(0);
  for (let i = 0; i < seen.length; i++) got += seen[i];
  const r = c.residue;
  for (const [lo, hi] of ackedSeqs)
    for (let s = lo + ((((r - lo) % seqMod) + seqMod) % seqMod); s <= hi; s += seqMod) {
      const i = (s - r) / seqMod;
      if (i < seen.length && seen[i]) both++;
      else lost++;
    }
  return { lost, unexpected: got - both };
}

/** Seq mode: how many of seqs 0 … total − 1 are owed to a client (all of them with seqMod 1). */
const owed = (c, total) => (total > c.residue ? Math.floor((total - 1 - c.residue) / seqMod) + 1 : 0);

function report(acked, ackedSeqs) {
  const out = {
    type: 'report',
    clients: clients.length,
    fastClients: 0,
    slowClients: 0,
    notSubscribed: 0,
    lost: 0,
    duplicated: 0,
    unexpected: 0,
    clientsWithLoss: 0,
    fastClosed: {},
    slowDropped: 0,
    slowCloseCodes: {},
    slowCloseReasons: [],
    slowFramesBeforeClose: 0,
    fastFrames,
    fastMessages,
    fastBytes,
    badFrames,
    misrouted,
    firstFrameAt,
    lastFrameAt,
    maxLatencyMs,
    negativeLatencies,
    hist: [],
    kafkaHist: [],
  };
  for (const c of clients) {
    if (c.slow) {
      out.slowClients++;
      if (c.closeCode !== 0 && !c.closedByUs) {
        out.slowDropped++;
        out.slowCloseCodes[c.closeCode] = (out.slowCloseCodes[c.closeCode] ?? 0) + 1;
        if (c.closeReason && out.slowCloseReasons.length < 3) out.slowCloseReasons.push(c.closeReason);
      }
      out.slowFramesBeforeClose += c.frames;
      continue;
    }
    if (c.connectFailed) {
      // Never subscribed (on its latest attempt): reported as failed or refused, not as records lost.
      out.notSubscribed++;
      continue;
    }
    out.fastClients++;
    const { lost, unexpected } = seqMode ? compareSeq(c, ackedSeqs ?? []) : compare(c, acked);
    out.lost += lost;
    out.unexpected += unexpected;
    out.duplicated += c.dups;
    if (lost > 0) out.clientsWithLoss++;
    if (c.closeCode !== 0 && !c.closedByUs) out.fastClosed[c.closeCode] = (out.fastClosed[c.closeCode] ?? 0) + 1;
  }
  for (let i = 0; i < HIST_SIZE; i++) {
    if (hist[i]) out.hist.push([i, hist[i]]);
    if (kafkaHist[i]) out.kafkaHist.push([i, kafkaHist[i]]);
  }
  process.send(out);
}

function resumeSlow(quietMs) {
  const slow = clients.filter((c) => c.slow);
  for (const c of slow) {
    c.lastDataAt = now();
    if (c.state !== CLOSED) c.sock.resume();
  }
  const timer = setInterval(() => {
    const t = now();
    if (slow.every((c) => c.state === CLOSED || t - c.lastDataAt > quietMs)) {
      clearInterval(timer);
      process.send({ type: 'slowDone' });
    }
  }, 100);
}

process.on('message', (msg) => {
  switch (msg.cmd) {
    case 'connect':
      cfg = msg;
      seqMode = msg.protocol === 'centrifugo' || Boolean(msg.bySeq);
      seqMod = msg.seqMod ?? 1;
      clients = Array.from({ length: msg.count }, (_, i) => {
        const c = new Client(i, i < msg.slowCount);
        c.residue = seqMod > 1 ? (msg.firstIndex ?? 0) + i : 0;
        c.path = msg.paths?.[i] ?? '';
        c.channel = msg.channels?.[i] ?? '';
        return c;
      });
      if (clients.length === 0) checkConnected();
      openNext();
      break;
    case 'status': {
      // How many fast clients have every record frame the parent expects, and how many can still get them.
      let complete = 0;
      let open = 0;
      for (const c of clients) {
        if (c.slow) continue;
        if (c.frames >= (seqMode ? owed(c, msg.expected) : msg.expected)) complete++;
        else if (c.state !== CLOSED) open++;
      }
      process.send({ type: 'status', complete, open, fastFrames, live: liveCount, lastLiveAt, lastSubscribedAt, misrouted });
      break;
    }
    case 'drop':
      // Every socket at once, as a network blip or a gateway restart behind a balancer would.
      for (const c of clients) {
        c.closedByUs = true;
        c.state = CLOSED;
        c.sock?.destroy();
      }
      process.send({ type: 'dropped', withToken: clients.filter((c) => c.token).length });
      break;
    case 'resume': {
      // Every client back at once, each with `from=<its last token>`: no stagger unless `concurrency` says so.
      cfg.liveFromSeq = msg.liveFromSeq;
      cfg.concurrency = msg.concurrency ?? clients.length;
      resumeStartedAt = now();
      liveCount = 0;
      lastLiveAt = 0;
      lastSubscribedAt = 0;
      for (const k of Object.keys(statuses)) delete statuses[k];
      nextToOpen = 0;
      connecting = 0;
      subscribedCount = 0;
      failed = 0;
      connectedReported = false;
      for (const c of clients) {
        const base = c.path || cfg.path;
        c.path = c.token ? `${base}${base.includes('?') ? '&' : '?'}from=${encodeURIComponent(c.token)}` : base;
        c.state = HANDSHAKE;
        c.closedByUs = false;
        c.closeCode = 0;
        c.error = '';
        c.header = '';
        c.pending = null;
        c.liveAt = 0;
        c.subscribedAt = 0;
        c.connectFailed = false;
      }
      process.send({ type: 'resuming', at: resumeStartedAt });
      openNext();
      break;
    }
    case 'resetStats':
      // After the warm-up: latency and throughput start again; per-client offsets (for loss) are kept.
      hist.fill(0);
      kafkaHist.fill(0);
      maxLatencyMs = 0;
      negativeLatencies = 0;
      fastFrames = 0;
      fastMessages = 0;
      fastBytes = 0;
      firstFrameAt = 0;
      lastFrameAt = 0;
      process.send({ type: 'reset' });
      break;
    case 'resumeSlow':
      resumeSlow(msg.quietMs);
      break;
    case 'report':
      report(msg.acked, msg.ackedSeqs);
      break;
    case 'exit':
      for (const c of clients) {
        c.closedByUs = true;
        c.sock?.destroy();
      }
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
