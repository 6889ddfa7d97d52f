// IronClaw dashboard page. Plain browser JavaScript, no framework and nothing loaded from
// elsewhere. Every piece of data goes into the page as text (textContent), never as markup:
// what sandboxes write (file names, commands, audit details) is hostile.
/* global document, location, history, sessionStorage, fetch, URLSearchParams, TextDecoderStream,
   setTimeout, clearTimeout, setInterval -- the browser's, for ESLint */
'use strict';

const TOKEN_KEY = 'ironclaw-dashboard-token';
/** Audit records the page keeps; older ones are `ironclaw audit`'s to show. */
const MAX_RECORDS = 2000;
/** Rows drawn at once: the filters pick from all that are kept. */
const MAX_ROWS = 400;

const state = {
  token: '',
  sandboxes: [],
  approvals: [],
  approvalsAvailable: false,
  records: [],
  seen: new Set(),
  auditError: '',
  paused: false,
  held: [],
  expanded: new Set(),
  files: { sandbox: '', path: '/workspace' },
  skew: 0,
};

const $ = (id) => document.getElementById(id);

/** An element with a class and text, or children. */
function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (typeof content === 'string') node.textContent = content;
  else if (Array.isArray(content)) for (const child of content) if (child) node.append(child);
  return node;
}

// ---------- token ----------

function takeToken() {
  const match = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, match[1]);
    // The key leaves the address bar (and the history) once it is kept for this tab.
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

function lock(reason) {
  $('main').hidden = true;
  $('locked').hidden = false;
  if (reason) $('locked-reason').textContent = reason;
  setLive('down', 'Locked');
}

async function api(path, init = {}) {
  const response = await fetch(path, {
    ...init,
    headers: { ...init.headers, authorization: `Bearer ${state.token}` },
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    lock(body.error?.message);
    throw new Error('locked');
  }
  if (!response.ok)
    throw new Error(body.error?.message ?? `${response.status} ${response.statusText}`);
  return body;
}

function toast(message, bad = false) {
  const node = $('toast');
  node.textContent = message;
  node.className = bad ? 'toast bad' : 'toast';
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (node.hidden = true), bad ? 7000 : 3500);
}

// ---------- formatting ----------

function bytes(value) {
  if (value === null || value === undefined) return 'no limit';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let unit = 0;
  let amount = value;
  while (amount >= 1024 && unit < units.length - 1) {
    amount /= 1024;
    unit++;
  }
  return `${amount >= 10 || unit === 0 ? Math.round(amount) : amount.toFixed(1)} ${units[unit]}`;
}

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function now() {
  return Date.now() + state.skew;
}

function clock(iso) {
  const date = new Date(iso);
  const sameDay = new Date().toDateString() === date.toDateString();
  const time = date.toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
  return sameDay ? time : `${date.toLocaleDateString()} ${time}`;
}

/** One line of an audit record's data: its most telling fields first. */
function summary(data) {
  const parts = [];
  for (const [key, value] of Object.entries(data ?? {})) {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    parts.push(`${key}=${text}`);
  }
  const line = parts.join('  ');
  return line.length > 220 ? `${line.slice(0, 219)}…` : line;
}

// ---------- live status ----------

function setLive(kind, text) {
  $('live').dataset.state = kind;
  $('live-text').textContent = text;
}

function setCount(id, value, hot = false) {
  const node = $(id);
  node.textContent = String(value);
  node.classList.toggle('hot', hot && value > 0);
}

// ---------- sandboxes ----------

function renderSandboxes() {
  const list = $('sandbox-list');
  list.replaceChildren();
  setCount('sandboxes-count', state.sandboxes.length);
  if (state.sandboxes.length === 0) {
    list.append(
      el(
        'div',
        'empty',
        'No live sandboxes. Start one with `ironclaw sandbox create` (or from an MCP client) and it shows up here.',
      ),
    );
  }
  for (const box of state.sandboxes) list.append(sandboxCard(box));
  renderFilterOptions();
}

function sandboxCard(box) {
  const card = el('article', 'card sandbox');
  card.dataset.sandbox = box.id;
  const dot = el('span', box.alive ? 'status-dot' : 'status-dot dead');
  dot.title = box.alive ? 'running' : 'stopped';
  card.append(
    el('div', 'card-head', [dot, el('div', 'card-title', box.id), el('span', 'pill', box.driver)]),
  );

  const facts = el('dl', 'facts');
  const fact = (label, value) => facts.append(el('dt', '', label), value);
  const uptime = el('dd', 'uptime', duration(now() - Date.parse(box.createdAt)));
  uptime.dataset.since = box.createdAt;
  fact('Uptime', uptime);
  fact(
    'Limits',
    el(
      'dd',
      '',
      `memory ${bytes(box.memoryBytes)} · ${box.pids} processes · /tmp ${bytes(box.tmpBytes)} · /workspace ${bytes(box.workspaceBytes)}`,
    ),
  );
  const net = el('dd', 'network');
  if (box.allowNet.length === 0) net.append(el('span', 'muted', 'No network (loopback only)'));
  else {
    net.append(el('span', '', 'Only through the egress proxy to: '));
    for (const rule of box.allowNet) net.append(el('span', 'chip', rule));
  }
  fact('Network', net);
  fact(
    'Workspace',
    box.workspaceDir
      ? el('dd', 'workspace', `/workspace ← ${box.workspaceDir}`)
      : el('dd', 'muted', 'none copied in'),
  );
  card.append(facts);

  const layers = el('details', 'layers');
  const on = box.layers.filter((layer) => layer.on).length;
  layers.append(el('summary', '', `Isolation: ${on} of ${box.layers.length} layers on`));
  const items = el('ul');
  for (const layer of box.layers)
    items.append(
      el('li', '', [
        el('span', '', layer.name),
        el('span', `pill ${layer.on ? 'on' : 'off'}`, layer.on ? 'on' : 'off'),
        el('span', '', layer.detail),
      ]),
    );
  layers.append(items);

  const browse = el('button', 'ghost', 'Browse files');
  browse.type = 'button';
  browse.addEventListener('click', () => openFiles(box.id, '/workspace'));
  const activity = el('button', 'ghost', 'Activity');
  activity.type = 'button';
  activity.addEventListener('click', () => {
    $('filter-sandbox').value = box.id;
    renderRecords();
    $('activity').scrollIntoView({ behavior: 'smooth' });
  });
  card.append(el('div', 'card-actions', [browse, activity]), layers);
  return card;
}

function tickUptimes() {
  for (const node of document.querySelectorAll('.uptime'))
    node.textContent = duration(now() - Date.parse(node.dataset.since));
  for (const node of document.querySelectorAll('.expires')) {
    const left = Date.parse(node.dataset.until) - now();
    node.textContent = left > 0 ? `Denied automatically in ${duration(left)}` : 'Expired: denied';
  }
}

// ---------- audit ----------

function addRecords(records, live) {
  const fresh = records.filter((record) => !state.seen.has(record.seq));
  for (const record of fresh) {
    state.seen.add(record.seq);
    if (live) record.fresh = true;
  }
  if (fresh.length === 0) return;
  if (state.paused && live) {
    state.held.push(...fresh);
    $('pause').textContent = `Resume (${state.held.length} new)`;
    return;
  }
  state.records.push(...fresh);
  state.records.sort((a, b) => a.seq - b.seq);
  if (state.records.length > MAX_RECORDS) {
    for (const old of state.records.splice(0, state.records.length - MAX_RECORDS))
      state.seen.delete(old.seq);
  }
  renderFilterOptions();
  renderRecords();
}

function statusOf(record) {
  return record.incomplete ? 'incomplete' : record.status;
}

function renderFilterOptions() {
  const fill = (select, values) => {
    const chosen = select.value;
    const known = new Set([...select.options].map((option) => option.value));
    for (const value of values) {
      if (known.has(value)) continue;
      const option = el('option', '', value);
      option.value = value;
      select.append(option);
    }
    select.value = chosen;
  };
  const sandboxes = new Set(state.sandboxes.map((box) => box.id));
  for (const record of state.records) if (record.sandbox) sandboxes.add(record.sandbox);
  fill($('filter-sandbox'), [...sandboxes].sort());
  fill($('filter-kind'), [...new Set(state.records.map((record) => record.kind))].sort());
}

function renderRecords() {
  const sandbox = $('filter-sandbox').value;
  const kind = $('filter-kind').value;
  const status = $('filter-status').value;
  const text = $('filter-text').value.trim().toLowerCase();
  const shown = [];
  for (let i = state.records.length - 1; i >= 0 && shown.length < MAX_ROWS; i--) {
    const record = state.records[i];
    if (sandbox && record.sandbox !== sandbox) continue;
    if (kind && record.kind !== kind) continue;
    if (status && statusOf(record) !== status) continue;
    if (text && !JSON.stringify(record).toLowerCase().includes(text)) continue;
    shown.push(record);
  }
  const rows = $('audit-rows');
  rows.replaceChildren();
  for (const record of shown) {
    const row = el('tr', record.fresh ? 'record fresh' : 'record', [
      el('td', 'time', clock(record.time)),
      el('td', 'kind', record.kind),
      el('td', '', [el('span', `pill ${statusOf(record)}`, statusOf(record))]),
      el('td', 'sandbox', record.sandbox ?? '—'),
      el('td', 'details', summary(record.data)),
    ]);
    row.dataset.seq = String(record.seq);
    row.addEventListener('click', () => {
      if (state.expanded.has(record.seq)) state.expanded.delete(record.seq);
      else state.expanded.add(record.seq);
      renderRecords();
    });
    rows.append(row);
    if (state.expanded.has(record.seq)) {
      const cell = el('td', '', [
        el(
          'pre',
          '',
          JSON.stringify(record, (key, value) => (key === 'fresh' ? undefined : value), 2),
        ),
      ]);
      cell.colSpan = 5;
      rows.append(el('tr', 'expanded', [cell]));
    }
  }
  for (const record of shown) delete record.fresh;
  $('audit-empty').hidden = shown.length > 0;
  $('audit-empty').textContent = state.auditError
    ? `The audit store cannot be read: ${state.auditError}`
    : state.records.length === 0
      ? 'No activity recorded yet.'
      : 'No records match these filters.';
  setCount('activity-count', state.records.length);
}

// ---------- approvals ----------

function renderApprovals() {
  const list = $('approvals-list');
  list.replaceChildren();
  setCount('approvals-count', state.approvals.length, true);
  if (!state.approvalsAvailable) {
    list.append(
      el(
        'div',
        'empty',
        'Approvals are not decided here: this server has no approval channel for the dashboard.',
      ),
    );
    return;
  }
  if (state.approvals.length === 0) {
    list.append(
      el(
        'div',
        'empty',
        'Nothing is waiting for you. Red actions (applying a workspace, egress to a new host, destructive tools) appear here.',
      ),
    );
    return;
  }
  for (const card of state.approvals) list.append(approvalCard(card));
  tickUptimes();
}

function approvalCard(card) {
  const node = el('article', 'card approval');
  node.dataset.approval = card.id;
  node.append(el('h3', '', card.title), el('p', 'words', card.words));
  const meta = el('div', 'meta');
  const item = (label, value) =>
    meta.append(el('span', '', [document.createTextNode(`${label} `), el('b', '', value)]));
  item('Sandbox', card.sandbox ?? '—');
  item('Asked by', card.agent);
  item('Asked at', clock(card.requestedAt));
  node.append(meta);

  const diff = el('pre', 'diff');
  for (const line of card.diff.split('\n')) {
    const kind =
      line.startsWith('+') && !line.startsWith('+++')
        ? 'add'
        : line.startsWith('-') && !line.startsWith('---')
          ? 'del'
          : line.startsWith('@@')
            ? 'hunk'
            : '';
    diff.append(el('span', kind, line || ' '));
  }
  node.append(diff);

  const scopes = el('div', 'scopes');
  scopes.setAttribute('role', 'radiogroup');
  const labels = {
    once: 'Just this once',
    sandbox: 'For this sandbox',
    session: 'For this session',
    always: 'Always (saved as a rule)',
  };
  card.scopes.forEach((scope, index) => {
    const input = el('input');
    input.type = 'radio';
    input.name = `scope-${card.id}`;
    input.value = scope;
    input.checked = index === 0;
    scopes.append(el('label', '', [input, document.createTextNode(labels[scope] ?? scope)]));
  });
  const approve = el('button', 'primary', 'Approve');
  const deny = el('button', 'danger', 'Deny');
  for (const button of [approve, deny]) button.type = 'button';
  const decide = async (decision) => {
    approve.disabled = deny.disabled = true;
    const scope = scopes.querySelector('input:checked')?.value ?? 'once';
    try {
      await api(`api/approvals/${encodeURIComponent(card.id)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ decision, scope }),
      });
      toast(decision === 'approve' ? `Approved: ${card.title}` : `Denied: ${card.title}`);
      state.approvals = state.approvals.filter((other) => other.id !== card.id);
      renderApprovals();
    } catch (error) {
      if (error.message !== 'locked') toast(`Could not ${decision}: ${error.message}`, true);
      approve.disabled = deny.disabled = false;
    }
  };
  approve.addEventListener('click', () => void decide('approve'));
  deny.addEventListener('click', () => void decide('deny'));
  const expires = el('span', 'expires');
  expires.dataset.until = card.expiresAt;
  node.append(el('div', 'decide', [scopes, el('span', 'spacer'), expires, deny, approve]));
  return node;
}

// ---------- files ----------

function fileQuery(sandbox, path) {
  const params = new URLSearchParams({ sandbox });
  if (typeof path === 'string') params.set('path', path);
  else params.set('pathBytes', path.bytes);
  return params.toString();
}

async function openFiles(sandbox, path) {
  state.files = { sandbox, path };
  $('files').hidden = false;
  $('files-sandbox').textContent = sandbox;
  renderCrumbs(typeof path === 'string' ? path : path.text);
  const body = $('files-body');
  body.replaceChildren(el('div', 'note', 'Loading…'));
  try {
    const listing = await api(`api/files?${fileQuery(sandbox, path)}`);
    body.replaceChildren();
    if (listing.entries.length === 0) body.append(el('div', 'empty', 'This folder is empty.'));
    for (const entry of listing.entries) body.append(fileRow(sandbox, entry));
    if (listing.omitted > 0)
      body.append(el('div', 'note', `${listing.omitted} more entries are not listed.`));
  } catch (error) {
    if (error.message !== 'locked') body.replaceChildren(el('div', 'note', error.message));
  }
}

function fileRow(sandbox, entry) {
  const icon = entry.type === 'directory' ? '📁' : entry.type === 'symlink' ? '↪' : '📄';
  const row = el('div', 'file-row', [
    el('span', '', icon),
    el('span', 'name', entry.type === 'directory' ? `${entry.name}/` : entry.name),
    el('span', 'size', entry.type === 'directory' ? '' : bytes(entry.size)),
    el('span', 'mtime', clock(new Date(entry.mtimeMs).toISOString())),
  ]);
  const path = entry.pathBytes ? { bytes: entry.pathBytes, text: entry.path } : entry.path;
  row.addEventListener(
    'click',
    () =>
      void (entry.type === 'directory' ? openFiles(sandbox, path) : viewFile(sandbox, path, entry)),
  );
  return row;
}

async function viewFile(sandbox, path, entry) {
  renderCrumbs(typeof path === 'string' ? path : path.text);
  const body = $('files-body');
  body.replaceChildren(el('div', 'note', 'Loading…'));
  try {
    const view = await api(`api/file?${fileQuery(sandbox, path)}`);
    body.replaceChildren();
    if (view.kind === 'binary') {
      body.append(
        el(
          'div',
          'note',
          `${entry.name} is a binary file (${bytes(view.size)}); it is not shown here.`,
        ),
      );
      return;
    }
    if (view.truncated)
      body.append(
        el('div', 'note', `Showing the first ${bytes(view.text.length)} of ${bytes(view.size)}.`),
      );
    body.append(el('pre', 'viewer', view.text || '(empty file)'));
  } catch (error) {
    if (error.message !== 'locked') body.replaceChildren(el('div', 'note', error.message));
  }
}

function renderCrumbs(path) {
  const crumbs = $('files-crumbs');
  crumbs.replaceChildren();
  const parts = path.split('/').filter(Boolean);
  const link = (label, target) => {
    const a = el('a', '', label);
    a.addEventListener('click', () => void openFiles(state.files.sandbox, target));
    return a;
  };
  crumbs.append(link('/', '/'));
  parts.forEach((part, index) => {
    if (index > 0) crumbs.append(el('span', 'sep', '/'));
    crumbs.append(link(part, `/${parts.slice(0, index + 1).join('/')}`));
  });
}

// ---------- live stream ----------

async function stream() {
  let backoff = 500;
  for (;;) {
    try {
      const response = await fetch('api/stream', {
        headers: { authorization: `Bearer ${state.token}` },
      });
      if (response.status === 401) {
        const body = await response.json().catch(() => ({}));
        sessionStorage.removeItem(TOKEN_KEY);
        lock(body.error?.message);
        return;
      }
      if (!response.ok || !response.body) throw new Error(`${response.status}`);
      setLive('live', 'Live');
      backoff = 500;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          handleEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch {
      // Reconnects below.
    }
    setLive('down', 'Reconnecting…');
    await new Promise((resolve) => setTimeout(resolve, backoff));
    backoff = Math.min(backoff * 2, 8000);
  }
}

function handleEvent(block) {
  let event = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data += line.slice(6);
  }
  if (!data) return;
  const value = JSON.parse(data);
  if (event === 'sandboxes') {
    state.sandboxes = value;
    renderSandboxes();
  } else if (event === 'audit') {
    addRecords(value, state.records.length > 0);
  } else if (event === 'audit-error') {
    state.auditError = value.message;
    renderRecords();
  } else if (event === 'approvals') {
    state.approvalsAvailable = value.available;
    state.approvals = value.pending;
    renderApprovals();
  }
}

// ---------- start ----------

async function start() {
  state.token = takeToken();
  if (!state.token) {
    lock();
    return;
  }
  let first;
  try {
    first = await api('api/state');
  } catch (error) {
    if (error.message !== 'locked') lock(`The dashboard did not answer: ${error.message}`);
    return;
  }
  state.skew = Date.parse(first.now) - Date.now();
  $('source-title').textContent = first.title;
  document.title = `IronClaw · ${first.title}`;
  state.sandboxes = first.sandboxes;
  state.approvalsAvailable = first.approvals.available;
  state.approvals = first.approvals.pending;
  $('main').hidden = false;
  renderSandboxes();
  renderApprovals();
  renderRecords();
  for (const id of ['filter-sandbox', 'filter-kind', 'filter-status'])
    $(id).addEventListener('change', renderRecords);
  $('filter-text').addEventListener('input', renderRecords);
  $('pause').addEventListener('click', () => {
    state.paused = !state.paused;
    $('pause').textContent = state.paused ? 'Resume' : 'Pause';
    if (!state.paused) {
      const held = state.held.splice(0);
      for (const record of held) state.seen.delete(record.seq);
      addRecords(held, true);
    }
  });
  $('files-close').addEventListener('click', () => ($('files').hidden = true));
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') $('files').hidden = true;
  });
  setInterval(tickUptimes, 1000);
  void stream();
}

void start();
