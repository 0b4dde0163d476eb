// Sluice live dashboard: follows one topic over /ws/topics/{topic}. Plain browser JavaScript, no build
// step, no requests to other hosts. Record content only ever reaches the page through textContent,
// attribute setters and canvas fillText, never parsed as HTML, so a record cannot inject markup.
'use strict';

(() => {
  const TOPIC_RE = /^[a-zA-Z0-9._-]{1,249}$/;
  const validTopic = (t) => TOPIC_RE.test(t) && t !== '.' && t !== '..';
  const KEY_STORAGE = 'sluice.dashboard.apiKey';
  const MAX_VALUE_COLUMNS = 16;
  const MAX_SERIES = 100;
  const MAX_POINTS_PER_SERIES = 1000;
  const SPARK_SECONDS = 60;
  const RENDER_EVERY_MS = 100;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const META_COLUMNS = ['time', 'partition', 'offset', 'key'];
  // A page opens with the latest record of every key of the last hour (`snapshot=`): the map shows every
  // vehicle's last position at once, then moves them live. Reconnects resume from the last token instead.
  const SNAPSHOT = '1h';
  const MAX_AGG_ROWS = 200;
  const AGG_FIELD_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
  const PALETTE = [
    '#2563eb',
    '#dc2626',
    '#16a34a',
    '#d97706',
    '#9333ea',
    '#0891b2',
    '#db2777',
    '#65a30d',
    '#4f46e5',
    '#ea580c',
    '#0d9488',
    '#a16207',
  ];

  const $ = (id) => document.getElementById(id);
  const el = {
    form: $('connect-form'),
    topic: $('topic'),
    topicList: $('topic-list'),
    apiKey: $('api-key'),
    rows: $('rows'),
    pause: $('pause'),
    clear: $('clear'),
    status: $('status'),
    statusText: $('status-text'),
    rateNow: $('rate-now'),
    total: $('total'),
    spark: $('sparkline'),
    plot: $('plot'),
    plotEmpty: $('plot-empty'),
    legend: $('legend'),
    table: $('records'),
    tableEmpty: $('table-empty'),
    partitions: $('partitions'),
    aggForm: $('agg-form'),
    aggFn: $('agg-fn'),
    aggField: $('agg-field'),
    aggWindow: $('agg-window'),
    aggTable: $('aggregates'),
    aggHead: $('agg-head'),
    aggEmpty: $('agg-empty'),
  };

  // ---- numbers exactly as posted -------------------------------------------------------------------
  // JSON.parse turns 12345678901234567890 into 12345678901234567000 and 21.50 into 21.5. Where the
  // browser exposes the source text to revivers, numbers whose text would change keep it for display.
  class RawNumber {
    constructor(raw, value) {
      this.raw = raw;
      this.value = value;
    }
  }
  function reviver(_key, value, context) {
    if (typeof value === 'number' && context && typeof context.source === 'string' && String(value) !== context.source) {
      return new RawNumber(context.source, value);
    }
    return value;
  }
  const numeric = (v) => (v instanceof RawNumber ? v.value : v);

  /** Compact JSON-like text of a value for a table cell, keeping raw number text; capped in length. */
  function display(v, budget = 2000) {
    if (v instanceof RawNumber) return v.raw;
    if (v === null) return 'null';
    if (typeof v === 'string') return v;
    if (typeof v !== 'object') return String(v);
    let out = '';
    const walk = (x) => {
      if (out.length > budget) return;
      if (x instanceof RawNumber) out += x.raw;
      else if (x === null || typeof x !== 'object') out += JSON.stringify(x);
      else if (Array.isArray(x)) {
        out += '[';
        x.forEach((item, i) => {
          if (i) out += ',';
          walk(item);
        });
        out += ']';
      } else {
        out += '{';
        Object.keys(x).forEach((k, i) => {
          if (i) out += ',';
          out += JSON.stringify(k) + ':';
          walk(x[k]);
        });
        out += '}';
      }
    };
    walk(v);
    return out.length > budget ? out.slice(0, budget) + '…' : out;
  }

  const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RawNumber);

  // ---- state --------------------------------------------------------------------------------------
  const state = {
    topic: '',
    apiKey: sessionStorage.getItem(KEY_STORAGE) || '',
    maxRows: 50,
    socket: null,
    generation: 0,
    token: null, // last resume token seen for this topic (frames carry one once the gateway supports it)
    attempt: 0,
    opened: false,
    refusedWithToken: 0,
    retryTimer: 0,
    paused: false,
    total: 0,
    buckets: new Map(), // epoch second → records received in it
    partitions: new Map(), // partition → {count, offset}
    partitionsDirty: true,
    tableRows: [], // newest first: frames shown
    tablePending: [], // newest last: frames not yet in the table
    columns: [],
    series: new Map(), // name → {color, points:[[lat,lon]], updated}
    colorIndex: 0,
    plotDirty: true,
    snapshot: true, // ask for a snapshot on the first connect (off once the gateway refused it twice)
    refusedSnapshot: 0,
    agg: null, // {socket, name, generation}
    aggGeneration: 0,
    aggRows: new Map(), // key → {value, start, end}
    aggDirty: false,
  };

  // ---- URL hash: #topic=…&rows=… -----------------------------------------------------------------
  function readHash() {
    const raw = location.hash.replace(/^#/, '');
    if (raw === '') return {};
    if (!raw.includes('=')) {
      try {
        return { topic: decodeURIComponent(raw) };
      } catch {
        return {};
      }
    }
    const params = new URLSearchParams(raw);
    return { topic: params.get('topic') || '', rows: params.get('rows') };
  }
  function writeHash() {
    const params = new URLSearchParams();
    params.set('topic', state.topic);
    if (state.maxRows !== 50) params.set('rows', String(state.maxRows));
    const hash = '#' + params.toString();
    if (location.hash !== hash) history.pushState(null, '', hash);
  }

  // ---- status line --------------------------------------------------------------------------------
  function setStatus(kind, text) {
    el.status.className = 'status ' + kind;
    el.statusText.textContent = text;
  }

  // ---- connection ---------------------------------------------------------------------------------
  function start(topic) {
    stop();
    state.topic = topic;
    state.token = null;
    state.attempt = 0;
    state.refusedWithToken = 0;
    state.snapshot = true;
    state.refusedSnapshot = 0;
    resetData();
    if (state.agg) startAggregate(); // the same aggregate, on the new topic
    el.topic.value = topic;
    document.title = 'Sluice — ' + topic;
    connect();
  }

  function stop() {
    state.generation++;
    clearTimeout(state.retryTimer);
    if (state.socket) {
      try {
        state.socket.close(1000, 'topic changed');
      } catch {
        /* already closing */
      }
      state.socket = null;
    }
  }

  function socketUrl() {
    const url = new URL('ws/topics/' + encodeURIComponent(state.topic), location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.hash = '';
    url.search = '';
    // One message per batch of records rather than one per record: far fewer message events at high rates.
    url.searchParams.set('frames', 'batch');
    // Browsers cannot set headers on a WebSocket: the gateway accepts the key as ?api_key=.
    if (state.apiKey) url.searchParams.set('api_key', state.apiKey);
    // Resume exactly after the last record shown (no gap, no duplicate) once the gateway sends tokens.
    if (state.token) url.searchParams.set('from', state.token);
    else if (state.snapshot) url.searchParams.set('snapshot', SNAPSHOT);
    return url.toString();
  }

  function connect() {
    const gen = ++state.generation;
    const current = () => gen === state.generation;
    state.opened = false;
    setStatus('connecting', (state.attempt ? 'reconnecting to ' : 'connecting to ') + state.topic + '…');
    let ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (err) {
      setStatus('error', 'cannot open a WebSocket: ' + err.message);
      return;
    }
    state.socket = ws;
    ws.onopen = () => {
      if (!current()) return;
      state.opened = true;
      setStatus('connecting', 'connected, subscribing to ' + state.topic + '…');
    };
    ws.onmessage = (e) => {
      if (current()) onFrame(e.data);
    };
    ws.onclose = (e) => {
      if (!current()) return;
      state.socket = null;
      void scheduleReconnect(e);
    };
  }

  async function scheduleReconnect(closeEvent) {
    const gen = state.generation;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempt) * (0.5 + Math.random() / 2);
    state.attempt++;
    let why;
    if (state.opened) {
      why =
        closeEvent.code === 4008
          ? 'the gateway dropped this page as too slow'
          : closeEvent.code === 1001
            ? 'the gateway is restarting'
            : 'connection closed (' + closeEvent.code + (closeEvent.reason ? ': ' + closeEvent.reason : '') + ')';
    } else {
      // A refused upgrade looks the same as an unreachable server to a WebSocket: ask /healthz which it is.
      const up = await fetch('healthz', { cache: 'no-store' }).then(
        (r) => r.ok,
        () => false,
      );
      if (gen !== state.generation) return;
      if (up) {
        why =
          'the gateway refused the subscription (check the topic name' +
          (state.apiKey ? ' and the API key' : '; an API key may be required') +
          ')';
        // A resume token the gateway no longer accepts would refuse every retry: continue live instead.
        if (state.token && ++state.refusedWithToken >= 2) {
          state.token = null;
          state.refusedWithToken = 0;
          why += '; resuming failed, continuing live';
        } else if (!state.token && state.snapshot && ++state.refusedSnapshot >= 2) {
          // e.g. every replay slot taken (SLUICE_MAX_REPLAYS): follow live without the snapshot.
          state.snapshot = false;
          why += '; continuing without the snapshot';
        }
      } else {
        why = 'Sluice is unreachable';
      }
    }
    setStatus('retrying', why + ' — retrying in ' + (delay / 1000).toFixed(1) + ' s');
    state.retryTimer = setTimeout(() => {
      if (gen === state.generation) connect();
    }, delay);
  }

  function onFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text, reviver);
    } catch {
      setStatus('error', 'a frame that is not JSON arrived');
      return;
    }
    if (!isPlainObject(frame)) return;
    if (frame.event === 'batch') {
      // {"event":"batch","topic","records":[…],"token"}: the records in order, the token after the last.
      if (Array.isArray(frame.records)) for (const r of frame.records) if (isPlainObject(r)) onRecord(r);
      if (typeof frame.token === 'string') state.token = frame.token;
      return;
    }
    if (typeof frame.event === 'string') {
      onEvent(frame);
      return;
    }
    // A frame per record (what the gateway sends without frames=batch).
    onRecord(frame);
    if (typeof frame.token === 'string') state.token = frame.token;
  }

  function onRecord(frame) {
    state.total++;
    const second = Math.floor(Date.now() / 1000);
    state.buckets.set(second, (state.buckets.get(second) || 0) + 1);
    addToPlot(frame);
    if (typeof frame.partition === 'number') {
      const p = state.partitions.get(frame.partition) || { count: 0, offset: null };
      p.count++;
      p.offset = frame.offset;
      state.partitions.set(frame.partition, p);
      state.partitionsDirty = true;
    }
    state.tablePending.push(frame);
    // Only the newest rows can ever be shown: older pending frames are dropped before any DOM work.
    if (state.tablePending.length > state.maxRows) state.tablePending.splice(0, state.tablePending.length - state.maxRows);
  }

  function onEvent(frame) {
    if (frame.event === 'subscribed') {
      state.attempt = 0;
      state.refusedWithToken = 0;
      // Its token is where this subscription starts: a page dropped before any record arrives resumes from
      // there (inside the gateway's resume window: served from memory) instead of skipping what came meanwhile.
      // Not while a snapshot is coming: its token is the position after the snapshot, not yet drawn.
      if (typeof frame.token === 'string' && (state.token || !state.snapshot)) state.token = frame.token;
      setStatus('live', 'live: ' + (typeof frame.topic === 'string' ? frame.topic : state.topic));
    } else if (frame.event === 'snapshot-end') {
      // The snapshot's records arrived as ordinary frames (drawn and listed); resume after it from now on.
      if (typeof frame.token === 'string') state.token = frame.token;
      setStatus('live', 'live: ' + (typeof frame.topic === 'string' ? frame.topic : state.topic));
    } else if (frame.event === 'error') {
      const err = isPlainObject(frame.error) ? frame.error : {};
      setStatus('error', 'gateway error ' + display(err.code ?? '') + ': ' + display(err.message ?? ''));
    } else {
      el.statusText.textContent = 'event: ' + frame.event;
    }
  }

  // ---- table --------------------------------------------------------------------------------------
  function valueColumns(frames) {
    const cols = [];
    const seen = new Set();
    let bare = false;
    for (const f of frames) {
      if (isPlainObject(f.value)) {
        for (const k of Object.keys(f.value)) {
          if (!seen.has(k) && cols.length < MAX_VALUE_COLUMNS) {
            seen.add(k);
            cols.push(k);
          }
        }
      } else {
        bare = true;
      }
    }
    // A value that is not an object (array, number, text, base64) gets one "value" column.
    if (bare) cols.push('\u0000value');
    return cols;
  }

  const columnLabel = (c) => (c === '\u0000value' ? 'value' : c);

  function cellFor(frame, column) {
    const td = document.createElement('td');
    let text;
    let cls = '';
    switch (column) {
      case 'time': {
        const d = new Date(typeof frame.timestamp === 'number' ? frame.timestamp : NaN);
        if (Number.isNaN(d.getTime())) {
          text = '';
        } else {
          text = d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
          td.title = d.toISOString();
        }
        cls = 'meta-col';
        break;
      }
      case 'partition':
      case 'offset':
        text = display(frame[column] ?? '');
        cls = 'meta-col num';
        break;
      case 'key':
        if (frame.key === null || frame.key === undefined) {
          text = '—';
          cls = 'missing';
        } else {
          text = display(frame.key);
        }
        break;
      case '\u0000value':
        if (isPlainObject(frame.value)) {
          text = '';
        } else {
          text = display(frame.value);
          if (typeof frame.valueEncoding === 'string') td.title = frame.valueEncoding;
          if (typeof frame.value === 'object' && frame.value !== null && !(frame.value instanceof RawNumber)) cls = 'nested';
        }
        break;
      default: {
        const v = isPlainObject(frame.value) ? frame.value[column] : undefined;
        if (v === undefined) {
          text = '';
          cls = 'missing';
        } else {
          text = display(v);
          if (typeof numeric(v) === 'number') cls = 'num';
          else if (v !== null && typeof v === 'object') cls = 'nested';
          if (text.length > 40) td.title = text;
        }
      }
    }
    td.textContent = text;
    if (cls) td.className = cls;
    if (column !== 'time') td.dataset.col = columnLabel(column);
    return td;
  }

  function rowFor(frame, columns) {
    const tr = document.createElement('tr');
    for (const c of columns) tr.appendChild(cellFor(frame, c));
    return tr;
  }

  function renderTable() {
    if (state.paused) return;
    const fresh = state.tablePending.splice(0);
    if (fresh.length === 0 && state.tableRows.length <= state.maxRows) return;
    fresh.reverse();
    state.tableRows = fresh.concat(state.tableRows).slice(0, state.maxRows);
    const columns = META_COLUMNS.concat(valueColumns(state.tableRows.slice().reverse()));
    const tbody = el.table.tBodies[0];
    const same = columns.length === state.columns.length && columns.every((c, i) => c === state.columns[i]);
    if (!same) {
      state.columns = columns;
      const head = el.table.tHead.rows[0];
      head.replaceChildren(
        ...columns.map((c) => {
          const th = document.createElement('th');
          th.textContent = columnLabel(c);
          return th;
        }),
      );
      tbody.replaceChildren(...state.tableRows.map((f) => rowFor(f, columns)));
    } else {
      const rows = fresh.map((f) => {
        const tr = rowFor(f, columns);
        tr.className = 'fresh';
        return tr;
      });
      tbody.prepend(...rows);
      while (tbody.rows.length > state.maxRows) tbody.deleteRow(-1);
    }
    el.tableEmpty.hidden = state.tableRows.length > 0;
  }

  // ---- records/s sparkline ------------------------------------------------------------------------
  /** Sizes a canvas's backing store to its CSS box × devicePixelRatio; returns a context in CSS pixels. */
  function fitCanvas(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
    return { ctx, w: canvas.clientWidth, h: canvas.clientHeight };
  }

  function renderSparkline() {
    const now = Math.floor(Date.now() / 1000);
    for (const s of state.buckets.keys()) if (s < now - SPARK_SECONDS) state.buckets.delete(s);
    // The current second is still filling: the line and the headline number use complete seconds.
    const counts = [];
    for (let s = now - SPARK_SECONDS; s < now; s++) counts.push(state.buckets.get(s) || 0);
    el.rateNow.textContent = String(counts[counts.length - 1]);
    const { ctx, w, h } = fitCanvas(el.spark);
    const max = Math.max(1, ...counts);
    const pad = 3;
    const x = (i) => (i / (counts.length - 1)) * (w - 2 * pad) + pad;
    const y = (c) => h - pad - (c / max) * (h - 2 * pad);
    ctx.beginPath();
    ctx.moveTo(x(0), y(counts[0]));
    for (let i = 1; i < counts.length; i++) ctx.lineTo(x(i), y(counts[i]));
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.strokeStyle = '#2563eb';
    ctx.stroke();
    ctx.lineTo(x(counts.length - 1), h - pad);
    ctx.lineTo(x(0), h - pad);
    ctx.closePath();
    ctx.fillStyle = 'rgba(37, 99, 235, 0.12)';
    ctx.fill();
  }

  function renderPartitions() {
    if (!state.partitionsDirty) return;
    state.partitionsDirty = false;
    const sorted = [...state.partitions].sort((a, b) => a[0] - b[0]);
    el.partitions.tBodies[0].replaceChildren(
      ...sorted.map(([partition, p]) => {
        const tr = document.createElement('tr');
        for (const v of [partition, p.count, p.offset]) {
          const td = document.createElement('td');
          td.textContent = display(v ?? '');
          tr.appendChild(td);
        }
        return tr;
      }),
    );
  }

  // ---- trajectory plot ----------------------------------------------------------------------------
  function coordinate(v, limit) {
    let n = numeric(v);
    if (typeof n === 'string' && n.trim() !== '') n = Number(n);
    return typeof n === 'number' && Number.isFinite(n) && Math.abs(n) <= limit ? n : null;
  }

  function colorFor(i) {
    return i < PALETTE.length ? PALETTE[i] : 'hsl(' + Math.round((i * 137.508) % 360) + ', 65%, 42%)';
  }

  function addToPlot(frame) {
    const v = frame.value;
    if (!isPlainObject(v)) return;
    const lat = coordinate(v.lat, 90);
    const lon = coordinate(v.lon ?? v.lng, 180);
    if (lat === null || lon === null) return;
    const nameValue = numeric(v.name);
    const name =
      typeof nameValue === 'string' || typeof nameValue === 'number'
        ? String(nameValue)
        : frame.key !== null && frame.key !== undefined
          ? display(frame.key)
          : '(no key)';
    let s = state.series.get(name);
    if (!s) {
      if (state.series.size >= MAX_SERIES) {
        // Keep memory bounded: forget the entity that has been silent longest.
        let oldest = null;
        for (const [n, other] of state.series) if (!oldest || other.updated < oldest[1].updated) oldest = [n, other];
        state.series.delete(oldest[0]);
      }
      s = { color: colorFor(state.colorIndex++), points: [], updated: 0 };
      state.series.set(name, s);
    }
    s.points.push([lat, lon]);
    if (s.points.length > MAX_POINTS_PER_SERIES) s.points.shift();
    s.updated = performance.now();
    state.plotDirty = true;
  }

  function niceStep(span) {
    const raw = span / 5;
    const pow = 10 ** Math.floor(Math.log10(raw));
    const m = raw / pow;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * pow;
  }

  function renderPlot() {
    if (!state.plotDirty) return;
    state.plotDirty = false;
    const { ctx, w, h } = fitCanvas(el.plot);
    el.plotEmpty.hidden = state.series.size > 0;
    renderLegend();
    if (state.series.size === 0) return;
    let minLat = Infinity,
      maxLat = -Infinity,
      minLon = Infinity,
      maxLon = -Infinity;
    for (const s of state.series.values()) {
      for (const [lat, lon] of s.points) {
        if (lat < minLat) minLat = lat;
        if (lat > maxLat) maxLat = lat;
        if (lon < minLon) minLon = lon;
        if (lon > maxLon) maxLon = lon;
      }
    }
    // Equirectangular with the longitude scaled by cos(latitude): shapes keep their proportions.
    const k = Math.max(0.05, Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180));
    const minSpan = 0.002;
    let spanX = Math.max((maxLon - minLon) * k, minSpan);
    let spanY = Math.max(maxLat - minLat, minSpan);
    const margin = 24;
    const scale = Math.min((w - 2 * margin) / spanX, (h - 2 * margin) / spanY);
    spanX = (w - 2 * margin) / scale;
    spanY = (h - 2 * margin) / scale;
    const cx = ((minLon + maxLon) / 2) * k;
    const cy = (minLat + maxLat) / 2;
    const px = (lon) => w / 2 + (lon * k - cx) * scale;
    const py = (lat) => h / 2 - (lat - cy) * scale;

    // Graticule with degree labels.
    ctx.strokeStyle = '#e6e9ee';
    ctx.fillStyle = '#8a919c';
    ctx.lineWidth = 1;
    ctx.font = '10px system-ui, sans-serif';
    const lonLo = (cx - spanX / 2) / k,
      lonHi = (cx + spanX / 2) / k;
    const latLo = cy - spanY / 2,
      latHi = cy + spanY / 2;
    const digits = (step) => Math.max(0, Math.min(6, -Math.floor(Math.log10(step))));
    const lonStep = niceStep(lonHi - lonLo);
    for (let lon = Math.ceil(lonLo / lonStep) * lonStep; lon <= lonHi; lon += lonStep) {
      const x = Math.round(px(lon)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, 0);
      ctx.lineTo(x, h);
      ctx.stroke();
      ctx.fillText(lon.toFixed(digits(lonStep)) + '°', x + 2, h - 4);
    }
    const latStep = niceStep(latHi - latLo);
    for (let lat = Math.ceil(latLo / latStep) * latStep; lat <= latHi; lat += latStep) {
      const y = Math.round(py(lat)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(0, y);
      ctx.lineTo(w, y);
      ctx.stroke();
      ctx.fillText(lat.toFixed(digits(latStep)) + '°', 2, y - 2);
    }

    // Trajectories, then each entity's latest position with its name.
    ctx.lineJoin = 'round';
    ctx.lineCap = 'round';
    for (const s of state.series.values()) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      s.points.forEach(([lat, lon], i) => {
        if (i) ctx.lineTo(px(lon), py(lat));
        else ctx.moveTo(px(lon), py(lat));
      });
      ctx.stroke();
    }
    ctx.font = '11px system-ui, sans-serif';
    for (const [name, s] of state.series) {
      const [lat, lon] = s.points[s.points.length - 1];
      ctx.beginPath();
      ctx.arc(px(lon), py(lat), 5, 0, 2 * Math.PI);
      ctx.fillStyle = s.color;
      ctx.fill();
      ctx.fillStyle = '#1d2430';
      ctx.fillText(name.length > 24 ? name.slice(0, 23) + '…' : name, px(lon) + 8, py(lat) - 6);
    }
  }

  function renderLegend() {
    el.legend.replaceChildren(
      ...[...state.series].map(([name, s]) => {
        const li = document.createElement('li');
        const sw = document.createElement('span');
        sw.className = 'swatch';
        sw.style.background = s.color;
        const label = document.createElement('span');
        label.className = 'name';
        label.textContent = name;
        li.title = name + ' · ' + s.points.length + ' positions';
        li.append(sw, label);
        return li;
      }),
    );
  }

  // ---- aggregate per key (a second WebSocket with window=…&agg=…&by=key) -------------------------
  function stopAggregate() {
    state.aggGeneration++;
    if (state.agg) {
      try {
        state.agg.socket.close(1000, 'aggregate changed');
      } catch {
        /* already closing */
      }
      state.agg = null;
    }
    state.aggRows.clear();
    state.aggDirty = true;
  }

  function startAggregate() {
    stopAggregate();
    const fn = el.aggFn.value;
    const field = el.aggField.value.trim();
    if (!state.topic) return;
    if (fn !== 'count' && !AGG_FIELD_RE.test(field)) {
      el.aggEmpty.textContent = 'a field name: letters, digits, _ or -, dot-separated';
      el.aggEmpty.hidden = false;
      return;
    }
    const name = fn === 'count' ? 'count' : fn + '(' + field + ')';
    const url = new URL('ws/topics/' + encodeURIComponent(state.topic), location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.hash = '';
    url.search = '';
    if (state.apiKey) url.searchParams.set('api_key', state.apiKey);
    url.searchParams.set('window', el.aggWindow.value);
    url.searchParams.set('agg', fn === 'count' ? 'count()' : name);
    url.searchParams.set('by', 'key');
    const gen = state.aggGeneration;
    let socket;
    try {
      socket = new WebSocket(url.toString());
    } catch (err) {
      el.aggEmpty.textContent = 'cannot open a WebSocket: ' + err.message;
      return;
    }
    state.agg = { socket, name };
    el.aggHead.textContent = name;
    el.aggEmpty.textContent = 'waiting for a window to close (' + el.aggWindow.value + ' windows of Kafka record time)…';
    el.aggEmpty.hidden = false;
    socket.onmessage = (e) => {
      if (gen !== state.aggGeneration) return;
      let f;
      try {
        f = JSON.parse(e.data, reviver);
      } catch {
        return;
      }
      if (!isPlainObject(f)) return;
      if (f.event === 'error') {
        const err = isPlainObject(f.error) ? f.error : {};
        el.aggEmpty.textContent = 'gateway error ' + display(err.code ?? '') + ': ' + display(err.message ?? '');
        el.aggEmpty.hidden = false;
        return;
      }
      if (f.event !== 'window' || !isPlainObject(f.by)) return;
      const key = f.by.key === null || f.by.key === undefined ? '(no key)' : display(f.by.key, 200);
      if (!state.aggRows.has(key) && state.aggRows.size >= MAX_AGG_ROWS) return;
      state.aggRows.set(key, { value: f[name], start: numeric(f.start), end: numeric(f.end) });
      state.aggDirty = true;
    };
    socket.onclose = (e) => {
      if (gen !== state.aggGeneration) return;
      state.agg = null;
      if (e.code !== 1000) {
        el.aggEmpty.textContent = 'the aggregate closed (' + e.code + (e.reason ? ': ' + e.reason : '') + '); press Show to open it again';
        el.aggEmpty.hidden = false;
      }
    };
  }

  function renderAggregates() {
    if (!state.aggDirty || state.paused) return;
    state.aggDirty = false;
    const time = (ms) => (typeof ms === 'number' ? new Date(ms).toISOString().slice(11, 19) : '');
    const rows = [...state.aggRows]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, r]) => {
        const tr = document.createElement('tr');
        for (const text of [key, display(r.value ?? null, 200), time(r.start) + '–' + time(r.end)]) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.appendChild(td);
        }
        return tr;
      });
    el.aggTable.tBodies[0].replaceChildren(...rows);
    if (rows.length > 0) el.aggEmpty.hidden = true;
  }

  el.aggForm.addEventListener('submit', (e) => {
    e.preventDefault();
    startAggregate();
  });

  // ---- loop and controls --------------------------------------------------------------------------
  function resetData() {
    state.total = 0;
    state.buckets.clear();
    state.partitions.clear();
    state.partitionsDirty = true;
    clearView();
  }

  function clearView() {
    state.tableRows = [];
    state.tablePending = [];
    state.columns = [];
    el.table.tHead.rows[0].replaceChildren();
    el.table.tBodies[0].replaceChildren();
    el.tableEmpty.hidden = false;
    state.series.clear();
    state.colorIndex = 0;
    state.plotDirty = true;
  }

  let lastSpark = 0;
  function render() {
    // The total follows every render; the sparkline (complete seconds only) is redrawn once a second.
    el.total.textContent = String(state.total);
    renderTable();
    renderPlot();
    renderPartitions();
    renderAggregates();
    if (performance.now() - lastSpark >= 1000) {
      lastSpark = performance.now();
      renderSparkline();
    }
  }

  // The topic picker: GET /topics lists what this key may follow, with partition counts. Loaded at start and
  // again when the topic field gets focus once the list is a few seconds old (new topics appear) or the key
  // changed; not at the key's change itself, which comes with the Watch click that opens the WebSocket.
  const TOPIC_LIST_MAX_AGE_MS = 5000;
  let topicListAt = 0;
  async function loadTopicList() {
    topicListAt = performance.now();
    const key = el.apiKey.value;
    let listing;
    try {
      const res = await fetch('topics', { headers: key ? { 'x-api-key': key } : {} });
      if (!res.ok) return; // no key yet, or a key that may list nothing: the field stays free text
      listing = await res.json();
    } catch {
      return;
    }
    const options = listing.topics.map((t) => {
      const option = document.createElement('option');
      option.value = t.name;
      option.label = `${t.partitions} partition${t.partitions === 1 ? '' : 's'}`;
      return option;
    });
    el.topicList.replaceChildren(...options);
  }
  el.topic.addEventListener('focus', () => {
    if (performance.now() - topicListAt > TOPIC_LIST_MAX_AGE_MS) loadTopicList();
  });
  el.apiKey.addEventListener('change', () => {
    topicListAt = 0;
  });

  el.form.addEventListener('submit', (e) => {
    e.preventDefault();
    const topic = el.topic.value.trim();
    if (!validTopic(topic)) {
      setStatus('error', 'not a Kafka topic name: 1–249 of a-z A-Z 0-9 . _ -');
      return;
    }
    state.apiKey = el.apiKey.value;
    if (state.apiKey) sessionStorage.setItem(KEY_STORAGE, state.apiKey);
    else sessionStorage.removeItem(KEY_STORAGE);
    state.topic = topic;
    writeHash();
    start(topic);
  });

  el.rows.addEventListener('change', () => {
    state.maxRows = Number(el.rows.value);
    if (state.topic) writeHash();
    render();
  });

  el.pause.addEventListener('click', () => {
    state.paused = !state.paused;
    el.pause.setAttribute('aria-pressed', String(state.paused));
    el.pause.textContent = state.paused ? 'Resume' : 'Pause';
    render();
  });

  el.clear.addEventListener('click', () => {
    clearView();
    render();
  });

  function applyHash() {
    const { topic, rows } = readHash();
    const n = Number(rows);
    if ([...el.rows.options].some((o) => Number(o.value) === n)) {
      state.maxRows = n;
      el.rows.value = String(n);
    }
    if (topic && topic !== state.topic && validTopic(topic)) start(topic);
  }
  window.addEventListener('hashchange', applyHash);
  window.addEventListener('resize', () => {
    state.plotDirty = true;
    lastSpark = 0;
  });

  el.apiKey.value = state.apiKey;
  loadTopicList();
  // A timer rather than requestAnimationFrame: it keeps draining frames (at a lower rate) in a hidden tab.
  setInterval(render, RENDER_EVERY_MS);
  applyHash();
  render();
  if (!state.topic) el.topic.focus();
})();
