// Renders the OpenAPI and AsyncAPI documents of this gateway as plain HTML (textContent only: no markup from the documents is interpreted).
'use strict';

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}

const pretty = (v) => el('pre', null, typeof v === 'string' ? v : JSON.stringify(v, null, 2));

function resolve(doc, node) {
  let n = node;
  while (n?.$ref)
    n = n.$ref
      .slice(2)
      .split('/')
      .reduce((o, k) => o[k], doc);
  return n;
}

function table(head, rows) {
  if (rows.length === 0) return null;
  return el(
    'table',
    null,
    el('tr', null, ...head.map((h) => el('th', null, h))),
    ...rows.map((r) => el('tr', null, ...r.map((c) => el('td', null, c)))),
  );
}

function schemaText(s) {
  if (!s) return '';
  const parts = [s.type ? [].concat(s.type).join('|') : ''];
  if (s.enum) parts.push(`one of ${s.enum.join(', ')}`);
  if (s.pattern) parts.push(`pattern ${s.pattern}`);
  if (s.maxLength !== undefined) parts.push(`≤ ${s.maxLength} chars`);
  if (s.default !== undefined) parts.push(`default ${s.default}`);
  return parts.filter(Boolean).join('; ');
}

function renderOperation(doc, path, method, op) {
  const body = el('div');
  body.append(el('p', null, op.description || ''));
  body.append(
    table(
      ['Parameter', 'In', 'Type', 'Description'],
      (op.parameters || []).map((p) => [
        el('code', null, p.name + (p.required ? ' *' : '')),
        p.in,
        schemaText(p.schema),
        p.description || '',
      ]),
    ) || '',
  );
  if (op.security) {
    const inQuery = op.security.some((s) => 'ApiKeyQuery' in s);
    body.append(
      el(
        'p',
        null,
        `API key (when configured): X-API-Key header${inQuery ? ', Authorization: Bearer, or api_key query parameter' : ' or Authorization: Bearer (not in the URL)'}.`,
      ),
    );
  }
  if (op.requestBody) {
    body.append(el('h4', null, 'Request body'), el('p', null, op.requestBody.description || ''));
    for (const [type, c] of Object.entries(op.requestBody.content)) body.append(el('p', null, el('code', null, type)), pretty(c.example));
  }
  body.append(el('h4', null, 'Answers'));
  for (const [status, r0] of Object.entries(op.responses)) {
    const r = resolve(doc, r0);
    const d = el('details', null, el('summary', null, el('b', null, status), ' ', (r.description || '').split('\n')[0].slice(0, 160)));
    const inner = el('div', null, el('p', null, r.description || ''));
    if (r.headers) inner.append(el('p', null, 'Headers: ', Object.keys(r.headers).join(', ')));
    for (const [type, c] of Object.entries(r.content || {})) {
      inner.append(el('p', null, el('code', null, type)));
      if (c.example !== undefined) inner.append(pretty(c.example));
      for (const ex of Object.values(c.examples || {})) inner.append(pretty(ex.value));
    }
    d.append(inner);
    body.append(d);
  }
  return el(
    'details',
    { id: op.operationId },
    el('summary', null, el('span', { class: `m ${method}` }, method), ' ', el('code', null, path), ' — ', op.summary || ''),
    body,
  );
}

function renderOpenApi(doc) {
  const section = document.getElementById('http');
  section.append(el('p', null, doc.info.description));
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) if (method !== 'options') section.append(renderOperation(doc, path, method, op));
  }
  section.append(el('p', { class: 'muted' }, 'Every path also answers OPTIONS (CORS preflight).'));
}

function renderAsyncApi(doc) {
  const section = document.getElementById('live');
  section.append(el('p', null, doc.info.description));
  for (const [id, ch] of Object.entries(doc.channels)) {
    const body = el('div', null, el('p', null, ch.description || ''));
    const query = ch.bindings?.ws?.query;
    if (query)
      body.append(
        table(
          ['Query parameter', 'Type', 'Description'],
          Object.entries(query.properties).map(([n, s]) => [el('code', null, n), schemaText(s), s.description || '']),
        ) || '',
      );
    for (const [opId, op] of Object.entries(doc.operations)) {
      if (op.channel.$ref !== `#/channels/${id}`) continue;
      body.append(el('h4', null, el('span', { class: `m ${op.action}` }, op.action), ' ', op.summary || opId));
      for (const ref of op.messages) {
        const m = resolve(doc, resolve(doc, ref));
        const payload = resolve(doc, m.payload);
        const d = el('details', null, el('summary', null, el('b', null, m.name), ' — ', m.summary || ''));
        d.append(
          el(
            'div',
            null,
            el('p', null, payload.description || ''),
            ...(m.examples || []).map((e) => pretty(e.payload)),
            el('p', { class: 'muted' }, 'Schema'),
            pretty(payload),
          ),
        );
        body.append(d);
      }
    }
    section.append(
      el(
        'details',
        { id },
        el(
          'summary',
          null,
          el('span', { class: `m ${ch.bindings?.ws ? 'get' : 'get'}` }, ch.bindings?.ws ? 'ws' : 'sse'),
          ' ',
          el('code', null, ch.address),
          ' — ',
          ch.title || '',
        ),
        body,
      ),
    );
  }
}

async function main() {
  const get = async (path) => (await fetch(path)).json();
  const [openapi, asyncapi] = await Promise.all([get('openapi.json'), get('asyncapi.json')]);
  renderOpenApi(openapi);
  renderAsyncApi(asyncapi);
}

main().catch((err) => document.body.append(el('p', null, `Could not load the documents: ${err.message}`)));
